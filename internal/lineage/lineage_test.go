package lineage_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/internal/lineage"
	"github.com/ferry-sync/ferry/internal/testenv"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func schemas(t *testing.T) *testenv.Schemas {
	t.Helper()
	dir := filepath.Join(testenv.Root(), "testdata", "openlineage")
	s, err := testenv.LoadSchemas(filepath.Join(dir, "OpenLineage.json"), filepath.Join(dir, "ParentRunFacet.json"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ValidateEvent checks an event against the RunEvent schema, and its
// parent facet, if any, against ParentRunFacet's.
func validateEvent(t *testing.T, s *testenv.Schemas, line []byte) map[string]any {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(line, &ev); err != nil {
		t.Fatalf("event is not JSON: %v\n%s", err, line)
	}
	if err := s.Validate(lineage.SchemaURL, ev); err != nil {
		t.Fatalf("event breaks the RunEvent schema: %v\n%s", err, line)
	}
	if f, ok := ev["run"].(map[string]any)["facets"].(map[string]any); ok {
		if err := s.Validate(lineage.ParentSchemaURL, f["parent"]); err != nil {
			t.Fatalf("parent facet breaks its schema: %v\n%s", err, line)
		}
	}
	return ev
}

// Without a transport there is no emitter, and a nil one sends nothing.
func TestFromEnv_Unconfigured(t *testing.T) {
	e, err := lineage.FromEnv(env(nil), slog.New(slog.DiscardHandler))
	if e != nil || err != nil {
		t.Fatalf("FromEnv() = %v, %v", e, err)
	}
	e.Start(t.Context(), "x", "y", time.Now()).End(t.Context(), time.Now(), nil, nil, nil)
	if _, err := lineage.FromEnv(env(map[string]string{"OPENLINEAGE__TRANSPORT__TYPE": "file"}), slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("a file transport without a path must be refused")
	}
}

// The file transport: START then FAIL, one line each, valid against the
// specification's schemas, with the parent from OPENLINEAGE_PARENT_ID.
func TestFileTransport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	e, err := lineage.FromEnv(env(map[string]string{
		"OPENLINEAGE__TRANSPORT__TYPE": "file", "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH": path,
		"OPENLINEAGE_NAMESPACE": "analytics", "OPENLINEAGE_PARENT_ID": "airflow/sync_dag.ferry_run/01a2051f-5eac-7ba6-97db-7a2c1a5ea0df",
	}), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	id := "01a2051c-be47-75e4-98ce-0757b926e5b0"
	run := e.Start(t.Context(), id, "intercom_salesforce.run", time.Now())
	run.End(t.Context(), time.Now(), errors.New("boom"), []lineage.Dataset{{Namespace: "salesforce://example.my.salesforce.com", Name: "Lead"}}, []lineage.Dataset{{Namespace: "file", Name: "/data/landing/salesforce/Lead"}})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d events, want 2", len(lines))
	}
	s := schemas(t)
	start, end := validateEvent(t, s, []byte(lines[0])), validateEvent(t, s, []byte(lines[1]))
	if start["eventType"] != "START" || end["eventType"] != "FAIL" {
		t.Fatalf("events %v then %v", start["eventType"], end["eventType"])
	}
	for _, ev := range []map[string]any{start, end} {
		run := ev["run"].(map[string]any)
		job := ev["job"].(map[string]any)
		parent := run["facets"].(map[string]any)["parent"].(map[string]any)
		if run["runId"] != id || job["namespace"] != "analytics" || job["name"] != "intercom_salesforce.run" ||
			parent["job"].(map[string]any)["name"] != "sync_dag.ferry_run" {
			t.Fatalf("event %v", ev)
		}
	}
	if in := end["inputs"].([]any); len(in) != 1 || in[0].(map[string]any)["name"] != "Lead" {
		t.Fatalf("inputs %v", end["inputs"])
	}
}

// The HTTP transport POSTs each event to <url>/api/v1/lineage with the
// API key; a server that keeps failing costs two attempts per event and
// never an error the run sees.
func TestHTTPTransport(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]byte
	fail := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != "/api/v1/lineage" || r.Header.Get("Authorization") != "Bearer k" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("request %s %s %v", r.Method, r.URL.Path, r.Header)
		}
		bodies = append(bodies, b)
		if fail {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	e, err := lineage.FromEnv(env(map[string]string{"OPENLINEAGE_URL": srv.URL + "/", "OPENLINEAGE_API_KEY": "k", "OPENLINEAGE_PARENT_ID": "not-a-parent"}), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	e.Start(t.Context(), "01a2051c-be47-75e4-98ce-0757b926e5b0", "p.run", time.Now()).End(t.Context(), time.Now(), nil, nil, nil)
	s := schemas(t)
	if len(bodies) != 2 {
		t.Fatalf("%d POSTs, want 2", len(bodies))
	}
	if ev := validateEvent(t, s, bodies[1]); ev["eventType"] != "COMPLETE" || ev["run"].(map[string]any)["facets"] != nil {
		t.Fatalf("second event %v (a malformed parent id is left out)", ev)
	}
	mu.Lock()
	fail, bodies = true, nil
	mu.Unlock()
	e.Start(t.Context(), "01a2051c-be47-75e4-98ce-0757b926e5b1", "p.run", time.Now())
	if len(bodies) != 2 {
		t.Fatalf("a failing server got %d attempts, want 2", len(bodies))
	}
}

// The schema check is not vacuous: events that break the specification
// are refused.
func TestSchemaRefusesBrokenEvents(t *testing.T) {
	s := schemas(t)
	good := func() map[string]any {
		return map[string]any{"eventType": "START", "eventTime": "2026-11-22T10:00:00Z", "producer": lineage.Producer, "schemaURL": lineage.SchemaURL,
			"run": map[string]any{"runId": "01a2051c-be47-75e4-98ce-0757b926e5b0"}, "job": map[string]any{"namespace": "n", "name": "j"},
			"inputs": []any{map[string]any{"namespace": "n", "name": "d"}}, "outputs": []any{}}
	}
	if err := s.Validate(lineage.SchemaURL, good()); err != nil {
		t.Fatalf("a valid event refused: %v", err)
	}
	for name, edit := range map[string]func(map[string]any){
		"no producer":     func(e map[string]any) { delete(e, "producer") },
		"bad event type":  func(e map[string]any) { e["eventType"] = "DONE" },
		"bad time":        func(e map[string]any) { e["eventTime"] = "yesterday" },
		"run id not uuid": func(e map[string]any) { e["run"] = map[string]any{"runId": "42"} },
		"job without name": func(e map[string]any) {
			e["job"] = map[string]any{"namespace": "n"}
		},
		"dataset without namespace": func(e map[string]any) { e["inputs"] = []any{map[string]any{"name": "d"}} },
		"facet without producer": func(e map[string]any) {
			e["run"] = map[string]any{"runId": "01a2051c-be47-75e4-98ce-0757b926e5b0", "facets": map[string]any{"parent": map[string]any{"_schemaURL": lineage.ParentSchemaURL}}}
		},
	} {
		ev := good()
		edit(ev)
		if err := s.Validate(lineage.SchemaURL, ev); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
