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
	"sort"
	"strings"
	"testing"

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
		// One object made of all the parts: properties and required lists
		// are merged before unknown properties are looked for.
		merged := map[string]any{"type": "object", "properties": map[string]any{}}
		var req []any
		for _, sub := range all {
			part := s.resolve(sub)
			for k, p := range part["properties"].(map[string]any) {
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

// TestOpenAPI_Conformance sends the requests ferry relies on and checks each
// answer against the response schema the official description gives for
// that path, method and status.
func TestOpenAPI_Conformance(t *testing.T) {
	t.Parallel()
	sp := loadSpec(t)
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
		req.Header.Set("Intercom-Version", "2.16")
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
	_, list := call("GET", "/contacts?per_page=2", nil)
	contactID := list.(map[string]any)["data"].([]any)[0].(map[string]any)["id"].(string)
	_, companies := call("GET", "/companies/scroll", nil)
	companyID := companies.(map[string]any)["data"].([]any)[0].(map[string]any)["id"].(string)
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
		{"POST", "/contacts/search", "/contacts/search", map[string]any{"query": map[string]any{"field": "updated_at", "operator": ">", "value": 0}, "pagination": map[string]any{"per_page": 5}}, 200},
		{"GET", "/contacts/" + contactID + "/companies", "/contacts/{contact_id}/companies", nil, 200},
		{"POST", "/contacts/" + contactID + "/companies", "/contacts/{contact_id}/companies", map[string]any{"id": companyID}, 200},
		{"POST", "/companies", "/companies", map[string]any{"company_id": "cmp-new", "name": "New Co", "size": 12}, 200},
		{"GET", "/companies/" + companyID, "/companies/{company_id}", nil, 200},
		{"POST", "/companies/list?per_page=2", "/companies/list", nil, 200},
		{"GET", "/data_attributes?model=contact", "/data_attributes", nil, 200},
		{"POST", "/conversations/search", "/conversations/search", map[string]any{"query": map[string]any{"field": "updated_at", "operator": ">", "value": 0}, "pagination": map[string]any{"per_page": 3}}, 200},
		{"GET", "/conversations/100000", "/conversations/{conversation_id}", nil, 200},
		{"GET", "/tags", "/tags", nil, 200},
		{"POST", "/tags", "/tags", map[string]any{"name": "vip", "users": []any{map[string]any{"id": contactID}}}, 200},
		{"POST", "/messages", "/messages", map[string]any{"message_type": "in_app", "body": "Welcome aboard", "from": map[string]any{"type": "admin", "id": 991200000}, "to": map[string]any{"type": "user", "id": contactID}}, 200},
		{"GET", "/contacts/ffffffffffffffffffffffff", "", nil, 404},
		{"POST", "/contacts", "", map[string]any{"email": "new.person@example.com", "role": "user"}, 409},
	}
	for _, c := range cases {
		status, v := call(c.method, c.path, c.body)
		if status != c.status {
			t.Errorf("%s %s: status %d, want %d: %v", c.method, c.path, status, c.status, v)
			continue
		}
		schema := sp.get("components", "schemas", "error") // error answers share the error.list schema
		if c.template != "" {
			schema = sp.get("paths", c.template, strings.ToLower(c.method), "responses", fmt.Sprint(c.status), "content", "application/json", "schema")
		}
		if schema == nil {
			t.Errorf("%s %s: the description has no %d schema", c.method, c.template, c.status)
			continue
		}
		var problems []string
		sp.check(schema, v, "$", &problems)
		for _, p := range problems {
			t.Errorf("%s %s: %s", c.method, c.path, p)
		}
	}
}
