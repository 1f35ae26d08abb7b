package cli_test

import (
	"net/http"
	"testing"

	"github.com/ferry-sync/ferry/internal/cli"
	"github.com/ferry-sync/ferry/internal/testenv"
)

// TestRun_IdleExitCode: with --idle-exit-code 99, a run that extracts no
// change and writes nothing exits 99 (what Airflow's BashOperator takes
// as skipped); a run with something to do exits 0; codes that mean
// something else are refused.
func TestRun_IdleExitCode(t *testing.T) {
	t.Parallel()
	emu, _, run := setup(t, 100)
	if r := run("run", "--idle-exit-code", "3"); r.code != cli.ExitUsage {
		t.Fatalf("--idle-exit-code 3: exit %d, want %d", r.code, cli.ExitUsage)
	}
	mustRun(t, run)
	mustRun(t, run) // reads back what the first run wrote
	if r := run("run", "--idle-exit-code", "99"); r.code != 99 {
		t.Fatalf("a run with nothing to do: exit %d, want 99\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	contact := testenv.Str(emu.ICContacts()[0], "id")
	if code, b := emu.ICDo(http.MethodPut, "/contacts/"+contact, map[string]any{"custom_attributes": map[string]any{"job_title": "Head of Idleness"}}); code != 200 {
		t.Fatalf("edit contact: %d %s", code, b)
	}
	if r := run("run", "--idle-exit-code", "99"); r.code != cli.ExitOK {
		t.Fatalf("a run after an edit: exit %d, want 0\n%s", r.code, r.stderr)
	}
}
