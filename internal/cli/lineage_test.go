package cli_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ferry-sync/ferry/internal/cli"
	"github.com/ferry-sync/ferry/internal/lineage"
	"github.com/ferry-sync/ferry/internal/testenv"
)

// TestRun_OpenLineage: with the file transport and a parent run id, `ferry
// run` emits START and COMPLETE for its run, valid against the OpenLineage
// schemas, parented, naming the source objects it read and the landing
// files, warehouse tables and target objects it wrote; a run a failing
// model test stops ends in FAIL. With an HTTP endpoint that fails, the run
// still succeeds.
func TestRun_OpenLineage(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(testenv.Root(), "testdata", "openlineage")
	schemas, err := testenv.LoadSchemas(filepath.Join(dir, "OpenLineage.json"), filepath.Join(dir, "ParentRunFacet.json"))
	if err != nil {
		t.Fatal(err)
	}
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 100})
	data := t.TempDir()
	events := filepath.Join(t.TempDir(), "events.jsonl")
	const parent = "01a2051f-5eac-7ba6-97db-7a2c1a5ea0df"
	env := emu.Env(map[string]string{
		"OPENLINEAGE__TRANSPORT__TYPE": "file", "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH": events,
		"OPENLINEAGE_PARENT_ID": "airflow/ferry_sync.run/" + parent,
	})
	read := func() []map[string]any {
		t.Helper()
		b, err := os.ReadFile(events)
		if err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var ev map[string]any
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatal(err)
			}
			if err := schemas.Validate(lineage.SchemaURL, ev); err != nil {
				t.Fatalf("event breaks the RunEvent schema: %v\n%s", err, line)
			}
			if err := schemas.Validate(lineage.ParentSchemaURL, ev["run"].(map[string]any)["facets"].(map[string]any)["parent"]); err != nil {
				t.Fatalf("parent facet breaks its schema: %v\n%s", err, line)
			}
			out = append(out, ev)
		}
		return out
	}
	names := func(ev map[string]any, field string) map[string]bool {
		out := map[string]bool{}
		for _, d := range ev[field].([]any) {
			m := d.(map[string]any)
			ns := m["namespace"].(string)
			if i := strings.Index(ns, ":"); i > 0 {
				ns = ns[:i]
			}
			out[ns+" "+m["name"].(string)] = true
		}
		return out
	}

	r := ferry(t, env, "run", "--pipeline", pipelinePath(), "--data-dir", data, "--log-level", "warn")
	if r.code != cli.ExitOK {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	runID := strings.TrimPrefix(strings.SplitN(r.stdout, "\n", 2)[0], "run ")
	evs := read()
	if len(evs) != 2 || evs[0]["eventType"] != "START" || evs[1]["eventType"] != "COMPLETE" {
		t.Fatalf("events %v", evs)
	}
	for _, ev := range evs {
		if id := ev["run"].(map[string]any)["runId"]; id != runID {
			t.Fatalf("event of run %v, want %s", id, runID)
		}
		if p := ev["run"].(map[string]any)["facets"].(map[string]any)["parent"].(map[string]any); p["run"].(map[string]any)["runId"] != parent {
			t.Fatalf("parent %v", p)
		}
	}
	in, out := names(evs[1], "inputs"), names(evs[1], "outputs")
	for _, want := range []string{"intercom contacts", "salesforce Lead"} {
		if !in[want] {
			t.Errorf("inputs lack %s: %v", want, in)
		}
	}
	landing := "file " + filepath.Join(data, "landing")
	sawLanding := false
	for o := range out {
		sawLanding = sawLanding || strings.HasPrefix(o, landing)
	}
	if !sawLanding || !out["duckdb main.account_health"] || !out["salesforce Contact"] || !out["intercom contacts"] {
		t.Errorf("outputs lack landing, main.account_health, or a target object: %v", out)
	}

	// A run stopped by a failing model test ends in FAIL.
	b, err := os.ReadFile(pipelinePath())
	if err != nil {
		t.Fatal(err)
	}
	fdir := t.TempDir()
	testenv.WriteFile(t, fdir, "account_tiers.sql", strings.Replace(tiersModel, "-- materialized: table\n", "-- materialized: table\n-- test: accepted_values(tier, 'gold')\n", 1))
	failing := testenv.WriteFile(t, fdir, "pipeline.yaml", string(b)+"\nsyncs:\n"+accountTiersSync)
	if r := ferry(t, env, "run", "--pipeline", failing, "--data-dir", data, "--log-level", "warn"); r.code != cli.ExitFailure {
		t.Fatalf("failing run: exit %d", r.code)
	}
	if evs := read(); len(evs) != 4 || evs[2]["eventType"] != "START" || evs[3]["eventType"] != "FAIL" {
		t.Fatalf("events after the failing run: %d, last %v", len(evs), evs[len(evs)-1]["eventType"])
	}

	// An endpoint that fails never fails the run.
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		posts.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	if r := ferry(t, emu.Env(map[string]string{"OPENLINEAGE_URL": srv.URL}), "run", "--pipeline", pipelinePath(), "--data-dir", data, "--log-level", "warn"); r.code != cli.ExitOK || posts.Load() != 4 {
		t.Fatalf("run with a failing lineage endpoint: exit %d, %d POSTs (want 0 and 2 attempts for each of 2 events)\n%s", r.code, posts.Load(), r.stderr)
	}
}
