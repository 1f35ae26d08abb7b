package cli_test

import (
	"strings"
	"testing"
)

// TestRun_OutcomeCommitsWithState: a run killed right after its commit,
// before anything else, is recorded as succeeded, since its outcome is
// part of the commit; `plan` and `transform` write nothing to either
// system, and so append no health history: only runs that load do.
func TestRun_OutcomeCommitsWithState(t *testing.T) {
	t.Parallel()
	emu, dir, run := setup(t, 200)
	pipeline := pipelinePath()
	cmd := func(args ...string) { t.Helper(); mustRun(t, run, args...) }
	query := func(q string) string {
		t.Helper()
		r := ferry(t, emu.Env(nil), "query", "--data-dir", dir, "--format", "csv", q)
		if r.code != 0 {
			t.Fatalf("query %s: exit %d\n%s", q, r.code, r.stderr)
		}
		return strings.TrimSpace(r.stdout)
	}
	killAt(t, emu, pipeline, dir, "after-commit")
	if got := query("SELECT status || ' ' || exit_code FROM ferry.runs"); !strings.HasSuffix(got, "succeeded 0") {
		t.Fatalf("a run killed after its commit is recorded as %q, want succeeded", got)
	}
	history := func() string {
		return query("SELECT count(DISTINCT run_id) FROM account_health_history")
	}
	if got := history(); !strings.HasSuffix(got, "\n1") {
		t.Fatalf("history after one run: %q, want 1 run", got)
	}
	cmd("plan")
	cmd("transform", "--rebuild-models")
	if got := history(); !strings.HasSuffix(got, "\n1") {
		t.Fatalf("history after plan and transform: %q, want still 1 run", got)
	}
	cmd("run")
	if got := history(); !strings.HasSuffix(got, "\n2") {
		t.Fatalf("history after a second run: %q, want 2 runs", got)
	}
}
