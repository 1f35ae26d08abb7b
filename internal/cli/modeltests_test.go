package cli_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/cli"
	"github.com/ferry-sync/ferry/internal/runner"
	"github.com/ferry-sync/ferry/internal/testenv"
	"github.com/ferry-sync/ferry/models"
)

// TestRun_ModelTests: a test in a sync's model header that fails stops the
// run before any write, naming the file's line, the model, the sync and
// failing rows; `ferry test` says the same and exits 1. Fixed, the run
// writes, and its summary holds every test, the shipped ones included,
// passed. A failing test on a model no sync reads is reported and the run
// goes on.
func TestRun_ModelTests(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(pipelinePath())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	withTest := func(test string) string {
		return strings.Replace(tiersModel, "-- materialized: table\n", "-- materialized: table\n-- test: "+test+"\n", 1)
	}
	testenv.WriteFile(t, dir, "account_tiers.sql", withTest("accepted_values(tier, 'gold')"))
	p := testenv.WriteFile(t, dir, "pipeline.yaml", string(b)+"\nsyncs:\n"+accountTiersSync)
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 200})
	data := t.TempDir()
	run := func(args ...string) result {
		t.Helper()
		return ferry(t, emu.Env(nil), append([]string{args[0], "--pipeline", p, "--data-dir", data, "--log-level", "warn"}, args[1:]...)...)
	}

	res := run("run")
	failure := regexp.MustCompile(`account_tiers\.sql:2: model account_tiers \(read by sync account_tiers\), test accepted_values\(tier, 'gold'\): \d+ failing rows\n\s+value=silver, rows=\d+`)
	if res.code != cli.ExitFailure || !failure.MatchString(res.stderr) {
		t.Fatalf("run with a failing test: exit %d, want %d naming the test and a failing row:\n%s", res.code, cli.ExitFailure, res.stderr)
	}
	if ic, sf := emu.ICStats().WriteRequests, emu.SFStats().WriteRequests; ic+sf != 0 {
		t.Fatalf("a failing test still let %d Intercom and %d Salesforce writes through", ic, sf)
	}
	res = run("test")
	if res.code != cli.ExitFailure || !strings.Contains(res.stdout, "FAIL account_tiers accepted_values(tier, 'gold')") || !strings.Contains(res.stdout, "value=silver") {
		t.Fatalf("ferry test: exit %d, want %d listing the failure:\n%s\n%s", res.code, cli.ExitFailure, res.stdout, res.stderr)
	}

	// Fixed: the run writes, and every test passed.
	testenv.WriteFile(t, dir, "account_tiers.sql", withTest("accepted_values(tier, 'gold', 'silver')"))
	res = mustRun(t, func(...string) result { return run("run", "--output", "json") })
	var sum runner.Summary
	if err := json.Unmarshal([]byte(res.stdout), &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, res.stdout)
	}
	names := map[string]bool{}
	for _, r := range sum.Tests {
		names[r.Model+" "+r.Name] = true
		if r.Failures != 0 {
			t.Errorf("test %s %s failed: %v", r.Model, r.Name, r.Sample)
		}
	}
	for _, want := range []string{"account_tiers accepted_values(tier, 'gold', 'silver')", "account_health unique(account_id)", "account_health health_scores_in_range", "int_people_identity unique(intercom_id)"} {
		if !names[want] {
			t.Errorf("the summary's tests lack %s: %v", want, names)
		}
	}
	if emu.SFStats().WriteRequests == 0 {
		t.Error("the fixed run wrote nothing to Salesforce")
	}
	if res := run("test"); res.code != cli.ExitOK || !regexp.MustCompile(`model tests: \d+ passed, 0 failed`).MatchString(res.stdout) {
		t.Fatalf("ferry test after the fix: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}

	// A failing test of a model no sync reads (sync_summary, a report) is
	// reported; the run goes on.
	tree := t.TempDir()
	if err := os.CopyFS(tree, models.FS); err != nil {
		t.Fatal(err)
	}
	testenv.WriteFile(t, tree, "tests/no_metrics.sql", "-- model: sync_summary\nSELECT metric FROM sync_summary")
	res = run("run", "--models-dir", tree)
	if res.code != cli.ExitOK || !strings.Contains(res.stdout, "FAIL sync_summary no_metrics") {
		t.Fatalf("a failing test of a report stopped the run or went unreported: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
}

// TestModels_GraphSelectionAndChanges: `ferry models` prints the graph and
// a selection of it; `ferry transform --select` builds a model and what
// depends on it; `ferry plan` names the models whose SQL changed since the
// last build.
func TestModels_GraphSelectionAndChanges(t *testing.T) {
	t.Parallel()
	_, _, run := setup(t, 100)
	mustRun(t, run)

	graph := mustRun(t, run, "models").stdout
	for _, want := range []string{"account_health (table)\n  reads   ", "  read by health_outbound", "sf_task_upserts (", "  synced  conversation_tasks", "  tests   4 in its header"} {
		if !strings.Contains(graph, want) {
			t.Errorf("ferry models lacks %q:\n%s", want, graph)
		}
	}
	selected := func(spec string) map[string]bool {
		t.Helper()
		var nodes []struct{ Name string }
		out := mustRun(t, run, "models", "--select", spec, "--output", "json").stdout
		if err := json.Unmarshal([]byte(out), &nodes); err != nil {
			t.Fatalf("models --output json: %v\n%s", err, out)
		}
		got := map[string]bool{}
		for _, n := range nodes {
			got[n.Name] = true
		}
		return got
	}
	down, up := selected("account_health+"), selected("+account_health")
	if !down["account_health"] || !down["health_outbound"] || down["stg_salesforce__accounts"] {
		t.Errorf("--select account_health+ = %v: want it and what reads it, not what it reads", down)
	}
	if !up["account_health"] || !up["stg_salesforce__accounts"] || up["health_outbound"] {
		t.Errorf("--select +account_health = %v: want it and what it reads, not what reads it", up)
	}
	if r := run("models", "--select", "no_such_model"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, `no model matches "no_such_model"`) {
		t.Errorf("an unknown model: exit %d\n%s", r.code, r.stderr)
	}
	mustRun(t, run, "transform", "--select", "account_health+")
	// Some models only: no plan to load; the next run builds in full.
	if r := run("load"); r.code != cli.ExitFailure || !strings.Contains(r.stderr, "ferry transform --select") {
		t.Errorf("load after a selection: exit %d, want %d refusing it\n%s", r.code, cli.ExitFailure, r.stderr)
	}
	if r := run("transform", "--select", "no_such_model"); r.code != cli.ExitUsage {
		t.Errorf("transform --select of an unknown model: exit %d, want %d", r.code, cli.ExitUsage)
	}

	// The analyst edits account_health: plan names it.
	tree := t.TempDir()
	if err := os.CopyFS(tree, models.FS); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(tree + "/marts/account_health.sql")
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(b), "SELECT * FROM final", "SELECT * FROM final WHERE true", 1)
	if edited == string(b) {
		t.Fatal("account_health.sql has no final SELECT to edit")
	}
	testenv.WriteFile(t, tree, "marts/account_health.sql", edited)
	plan := mustRun(t, run, "plan", "--models-dir", tree).stdout
	if !strings.Contains(plan, "models whose SQL changed since the last build: account_health\n") {
		t.Errorf("plan does not name the edited model:\n%s", plan)
	}
}
