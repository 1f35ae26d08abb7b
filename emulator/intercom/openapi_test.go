package intercom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/ferry-sync/ferry/emulator/seed"
)

// specPath is Intercom's official OpenAPI description, read from
// ../shared beside the repository (never copied into it).
func specPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "api", "intercom-openapi-2.16.yaml")
}

type spec struct{ root map[string]any }

func loadSpec(t *testing.T) *spec {
	t.Helper()
	b, err := os.ReadFile(specPath())
	if os.IsNotExist(err) {
		t.Skipf("Intercom OpenAPI description not found at %s (../shared is not beside the checkout); conformance not checked", specPath())
	}
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := yaml.Unmarshal(b, &root); err != nil {
		t.Fatalf("parse %s: %v", specPath(), err)
	}
	return &spec{root: root}
}

func (s *spec) get(path ...string) any {
	var cur any = s.root
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func (s *spec) resolve(schema any) map[string]any {
	m, _ := schema.(map[string]any)
	for m != nil {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
		m, _ = s.get(parts...).(map[string]any)
	}
	return m
}

// check validates v against schema, appending problems with JSON paths.
//
// One documented deviation is allowed: the description types every custom
// attribute value as a string, but Intercom returns them with their data
// attribute's type (numbers, booleans, dates as integers), as
// ../shared/api/intercom.md §5.2 records; ferry relies on the typed form.
func (s *spec) check(schema any, v any, at string, problems *[]string) {
	sc := s.resolve(schema)
	if sc == nil || strings.Contains(at, ".custom_attributes.") {
		return
	}
	if v == nil {
		if n, _ := sc["nullable"].(bool); n || sc["type"] == nil {
			return
		}
		*problems = append(*problems, fmt.Sprintf("%s: null, but the schema is not nullable", at))
		return
	}
	if all, ok := sc["allOf"].([]any); ok {
		// One object made of all the parts, and of the properties given
		// beside allOf: properties and required lists are merged before
		// unknown properties are looked for.
		merged := map[string]any{"type": "object", "properties": map[string]any{}}
		var req []any
		for _, sub := range append(slices.Clone(all), map[string]any{"properties": sc["properties"], "required": sc["required"]}) {
			part := s.resolve(sub)
			props, _ := part["properties"].(map[string]any)
			for k, p := range props {
				merged["properties"].(map[string]any)[k] = p
			}
			if r, ok := part["required"].([]any); ok {
				req = append(req, r...)
			}
			if part["nullable"] == true {
				merged["nullable"] = true
			}
		}
		merged["required"] = req
		s.check(merged, v, at, problems)
	}
	for _, key := range []string{"oneOf", "anyOf"} {
		if alts, ok := sc[key].([]any); ok {
			matched := false
			for _, sub := range alts {
				var p []string
				s.check(sub, v, at, &p)
				if len(p) == 0 {
					matched = true
					break
				}
			}
			if !matched {
				*problems = append(*problems, fmt.Sprintf("%s: matches none of %s", at, key))
			}
		}
	}
	if enum, ok := sc["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			if fmt.Sprint(e) == fmt.Sprint(v) {
				found = true
			}
		}
		if !found {
			*problems = append(*problems, fmt.Sprintf("%s: %v not in enum %v", at, v, enum))
		}
	}
	switch sc["type"] {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			*problems = append(*problems, fmt.Sprintf("%s: want object, got %T", at, v))
			return
		}
		props, _ := sc["properties"].(map[string]any)
		// Properties an alternative of oneOf or anyOf adds are known too
		// (their values were checked with the alternatives, above).
		known := map[string]bool{}
		for _, key := range []string{"oneOf", "anyOf"} {
			alts, _ := sc[key].([]any)
			for _, alt := range alts {
				extra, _ := s.resolve(alt)["properties"].(map[string]any)
				for k := range extra {
					known[k] = true
				}
			}
		}
		for _, r := range asStrings(sc["required"]) {
			if _, ok := m[r]; !ok {
				*problems = append(*problems, fmt.Sprintf("%s: required property %q missing", at, r))
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if p, ok := props[k]; ok {
				s.check(p, m[k], at+"."+k, problems)
			} else if known[k] {
				continue
			} else if props != nil && sc["additionalProperties"] == nil {
				*problems = append(*problems, fmt.Sprintf("%s: property %q is not in the schema", at, k))
			} else if ap, ok := sc["additionalProperties"].(map[string]any); ok {
				s.check(ap, m[k], at+"."+k, problems)
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			*problems = append(*problems, fmt.Sprintf("%s: want array, got %T", at, v))
			return
		}
		for i, it := range arr {
			s.check(sc["items"], it, fmt.Sprintf("%s[%d]", at, i), problems)
		}
	case "string":
		if _, ok := v.(string); !ok {
			*problems = append(*problems, fmt.Sprintf("%s: want string, got %T %v", at, v, v))
		}
	case "integer":
		if f, ok := v.(float64); !ok || f != float64(int64(f)) {
			*problems = append(*problems, fmt.Sprintf("%s: want integer, got %T %v", at, v, v))
		}
	case "number":
		if _, ok := v.(float64); !ok {
			*problems = append(*problems, fmt.Sprintf("%s: want number, got %T %v", at, v, v))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			*problems = append(*problems, fmt.Sprintf("%s: want boolean, got %T %v", at, v, v))
		}
	}
}

func asStrings(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// served lists every route the emulator serves, by the description's path
// templates: the routes ferry's client and Intercom's official SDK use
// (make conformance drives the SDK through them). TestOpenAPI_Conformance
// sends a request to each, under 2.14 and 2.16, and checks the request
// and the answer against the description: a route missing from the
// emulator fails its status, a route missing from the description fails.
var served = []string{
	"GET /me", "GET /admins",
	"GET /contacts", "POST /contacts", "GET /contacts/{contact_id}", "PUT /contacts/{contact_id}", "DELETE /contacts/{contact_id}",
	"POST /contacts/search", "POST /contacts/merge", "POST /contacts/{contact_id}/archive", "POST /contacts/{contact_id}/unarchive",
	"GET /contacts/{contact_id}/companies", "POST /contacts/{contact_id}/companies",
	"POST /contacts/{contact_id}/tags", "DELETE /contacts/{contact_id}/tags/{tag_id}",
	"GET /companies", "POST /companies", "GET /companies/{company_id}", "PUT /companies/{company_id}", "DELETE /companies/{company_id}",
	"GET /companies/scroll", "POST /companies/list",
	"GET /data_attributes", "POST /data_attributes",
	"GET /conversations", "GET /conversations/{conversation_id}", "POST /conversations/search", "POST /conversations/{conversation_id}/parts", "POST /conversations/{conversation_id}/reply",
	"GET /tags", "POST /tags", "POST /messages",
	"GET /events", "POST /events",
}

// deviates reports whether a problem found under an older version is one
// the API notes record as that version's (../shared/api/intercom.md §1.4):
// the description is 2.16's, and before 2.16 owner_id is an integer,
// unassigned assignee ids are null, and priorities take other values.
func deviates(version, problem string) bool {
	if version == "2.16" {
		return false
	}
	for _, f := range []string{".owner_id:", ".admin_assignee_id:", ".team_assignee_id:", ".priority:"} {
		if strings.Contains(problem, f) {
			return true
		}
	}
	return false
}

// TestOpenAPI_Conformance sends a request to every served route under 2.14
// and 2.16 and checks the request body against the description's request
// schema and the answer against its response schema for that status.
func TestOpenAPI_Conformance(t *testing.T) {
	t.Parallel()
	sp := loadSpec(t)
	for _, version := range []string{"2.14", "2.16"} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			conformance(t, sp, version)
		})
	}
}

func conformance(t *testing.T, sp *spec, version string) {
	srv, err := New(Options{Dataset: seed.New(seed.Params{Seed: 3, Scale: 60}), DefaultVersion: "2.14"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	call := func(method, path string, body any) (int, any) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, ts.URL+path, rd)
		req.Header.Set("Authorization", "Bearer "+Token)
		req.Header.Set("Intercom-Version", version)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v any
		json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v
	}
	id := func(v any, list string) string {
		return v.(map[string]any)[list].([]any)[0].(map[string]any)["id"].(string)
	}
	_, list := call("GET", "/contacts?per_page=2", nil)
	contactID := id(list, "data")
	_, companies := call("POST", "/companies/list?per_page=1", nil)
	companyID := id(companies, "data")
	cid := companies.(map[string]any)["data"].([]any)[0].(map[string]any)["company_id"].(string)
	_, convs := call("GET", "/conversations?per_page=1", nil)
	convID := id(convs, "conversations")
	_, tags := call("GET", "/tags", nil)
	tagID := id(tags, "data")
	// Contacts to delete, archive and merge, made here.
	mk := func(body map[string]any) string {
		_, v := call("POST", "/contacts", body)
		return v.(map[string]any)["id"].(string)
	}
	doomed := mk(map[string]any{"email": "doomed@example.com", "role": "user"})
	hidden := mk(map[string]any{"email": "hidden@example.com", "role": "user"})
	user := mk(map[string]any{"email": "pair@example.com", "role": "user"})
	lead := mk(map[string]any{"email": "pair@example.com", "role": "lead"})
	_, gone := call("POST", "/companies", map[string]any{"company_id": "gone-co", "name": "Gone Co"})
	goneCompany := gone.(map[string]any)["id"].(string)
	query := map[string]any{"query": map[string]any{"field": "updated_at", "operator": ">", "value": 0}, "pagination": map[string]any{"per_page": 5}}
	cases := []struct {
		method, path, template string
		body                   any
		status                 int
	}{
		{"GET", "/me", "/me", nil, 200},
		{"GET", "/admins", "/admins", nil, 200},
		{"GET", "/contacts?per_page=3", "/contacts", nil, 200},
		{"GET", "/contacts/" + contactID, "/contacts/{contact_id}", nil, 200},
		{"PUT", "/contacts/" + contactID, "/contacts/{contact_id}", map[string]any{"phone": "+1 555 0100"}, 200},
		{"POST", "/contacts", "/contacts", map[string]any{"email": "new.person@example.com", "role": "user"}, 200},
		{"POST", "/contacts/search", "/contacts/search", query, 200},
		{"GET", "/contacts/" + contactID + "/companies", "/contacts/{contact_id}/companies", nil, 200},
		{"POST", "/contacts/" + contactID + "/companies", "/contacts/{contact_id}/companies", map[string]any{"id": companyID}, 200},
		{"POST", "/contacts/" + contactID + "/tags", "/contacts/{contact_id}/tags", map[string]any{"id": tagID}, 200},
		{"DELETE", "/contacts/" + contactID + "/tags/" + tagID, "/contacts/{contact_id}/tags/{tag_id}", nil, 200},
		{"POST", "/contacts/" + hidden + "/archive", "/contacts/{contact_id}/archive", nil, 200},
		{"POST", "/contacts/" + hidden + "/unarchive", "/contacts/{contact_id}/unarchive", nil, 200},
		{"DELETE", "/contacts/" + doomed, "/contacts/{contact_id}", nil, 200},
		{"POST", "/contacts/merge", "/contacts/merge", map[string]any{"from": lead, "into": user}, 200},
		{"GET", "/companies?company_id=" + cid, "/companies", nil, 200},
		{"POST", "/companies", "/companies", map[string]any{"company_id": "cmp-new", "name": "New Co", "size": 12}, 200},
		{"GET", "/companies/" + companyID, "/companies/{company_id}", nil, 200},
		{"PUT", "/companies/" + companyID, "/companies/{company_id}", map[string]any{"name": "Renamed Co"}, 200},
		{"DELETE", "/companies/" + goneCompany, "/companies/{company_id}", nil, 200},
		{"POST", "/companies/list?per_page=2", "/companies/list", nil, 200},
		{"GET", "/data_attributes?model=contact", "/data_attributes", nil, 200},
		{"POST", "/data_attributes", "/data_attributes", map[string]any{"name": "conformance_flag", "model": "contact", "data_type": "boolean"}, 200},
		{"GET", "/conversations?per_page=2", "/conversations", nil, 200},
		{"POST", "/conversations/search", "/conversations/search", query, 200},
		{"GET", "/conversations/" + convID, "/conversations/{conversation_id}", nil, 200},
		{"POST", "/conversations/" + convID + "/parts", "/conversations/{conversation_id}/parts", map[string]any{"message_type": "close", "type": "admin", "admin_id": "991200000", "body": "Done"}, 200},
		{"POST", "/conversations/" + convID + "/reply", "/conversations/{conversation_id}/reply", map[string]any{"message_type": "note", "type": "admin", "admin_id": "991200000", "body": "<p>Case opened</p>"}, 200},
		{"POST", "/events", "/events", map[string]any{"event_name": "created-project", "created_at": time.Now().Add(-time.Hour).Unix(), "id": contactID, "metadata": map[string]any{"project": "alpha"}}, 202},
		// The description's schema for GET /events is the summary's
		// (data_event_summary_item); the listing without summary=true
		// answers events (event_name, created_at, id, ...; API notes §4.9),
		// checked in TestEvents.
		{"GET", "/events?type=user&summary=true&intercom_user_id=" + contactID, "/events", nil, 200},
		{"GET", "/tags", "/tags", nil, 200},
		{"POST", "/tags", "/tags", map[string]any{"name": "vip", "users": []any{map[string]any{"id": contactID}}}, 200},
		{"POST", "/messages", "/messages", map[string]any{"message_type": "in_app", "body": "Welcome aboard", "from": map[string]any{"type": "admin", "id": 991200000}, "to": map[string]any{"type": "user", "id": contactID}}, 200},
		{"GET", "/companies/scroll", "/companies/scroll", nil, 200},
		// Errors: the error.list schema.
		{"GET", "/contacts/ffffffffffffffffffffffff", "", nil, 404},
		{"POST", "/contacts", "", map[string]any{"email": "new.person@example.com", "role": "user"}, 409},
		{"GET", "/companies/" + goneCompany, "", nil, 404},
	}
	if version == "2.16" {
		cases = append(cases, struct {
			method, path, template string
			body                   any
			status                 int
		}{"GET", "/contacts/" + lead, "/contacts/{contact_id}", nil, 410})
	}
	covered := map[string]bool{}
	for _, c := range cases {
		status, v := call(c.method, c.path, c.body)
		if status != c.status {
			t.Errorf("%s %s: status %d, want %d: %v", c.method, c.path, status, c.status, v)
			continue
		}
		op := sp.get("paths", c.template, strings.ToLower(c.method))
		if c.template != "" {
			covered[c.method+" "+c.template] = true
			if op == nil {
				t.Errorf("%s %s: not in the description", c.method, c.template)
				continue
			}
		}
		var problems []string
		if c.body != nil && c.template != "" {
			if rs := sp.get("paths", c.template, strings.ToLower(c.method), "requestBody", "content", "application/json", "schema"); rs != nil {
				b, _ := json.Marshal(c.body)
				var body any
				json.Unmarshal(b, &body)
				sp.check(rs, body, "request", &problems)
			} else {
				t.Errorf("%s %s: the description takes no JSON body", c.method, c.template)
			}
		}
		schema := sp.get("components", "schemas", "error") // error answers share the error.list schema
		if c.template != "" {
			schema = sp.get("paths", c.template, strings.ToLower(c.method), "responses", fmt.Sprint(c.status), "content", "application/json", "schema")
		}
		if schema == nil && c.template != "" && sp.get("paths", c.template, strings.ToLower(c.method), "responses", fmt.Sprint(c.status)) != nil &&
			sp.get("paths", c.template, strings.ToLower(c.method), "responses", fmt.Sprint(c.status), "content") == nil {
			// An answer the description gives no content (POST /events: 202).
			if v != nil {
				t.Errorf("%s %s: answered %v, want an empty body", c.method, c.path, v)
			}
			continue
		}
		if schema == nil {
			t.Errorf("%s %s: the description has no %d schema", c.method, c.template, c.status)
			continue
		}
		sp.check(schema, v, "$", &problems)
		for _, p := range problems {
			if !deviates(version, p) {
				t.Errorf("%s %s: %s", c.method, c.path, p)
			}
		}
	}
	for _, r := range served {
		if !covered[r] {
			t.Errorf("served route %s has no conformance case", r)
		}
	}
}
