package cli_test

import (
	"os"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/cli"
	"github.com/ferry-sync/ferry/internal/testenv"
)

// TestRun_UnderFaults injects Intercom 429s and 5xx and Salesforce 5xx and
// UNABLE_TO_LOCK_ROW rows. The run must complete, or exit 3 listing the
// rejects; the next run, with the faults gone, finishes the job and reaches
// the same end state as a run that never saw a fault.
func TestRun_UnderFaults(t *testing.T) {
	t.Parallel()
	const scale = 120
	pipeline := smallBatchPipeline(t)
	clean := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: scale})
	if r := ferry(t, clean.Env(nil), "run", "--pipeline", pipeline, "--data-dir", t.TempDir(), "--log-level", "warn"); r.code != 0 {
		t.Fatalf("clean run: exit %d\n%s", r.code, r.stderr)
	}
	want := sortedLines(endState(t, clean))

	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: scale})
	emu.Intercom.SetFailRate(0.02)
	emu.Salesforce.SetFailRate(0.25)
	dir := t.TempDir()
	r := ferry(t, emu.Env(nil), "run", "--pipeline", pipeline, "--data-dir", dir, "--log-level", "warn")
	switch r.code {
	case cli.ExitOK:
	case cli.ExitRejects:
		if !strings.Contains(r.stderr, "rejects.parquet") {
			t.Errorf("exit 3 without naming the rejects file:\n%s", r.stderr)
		}
		path := r.stderr[strings.Index(r.stderr, "listed in ")+len("listed in "):]
		path = strings.Fields(path)[0]
		if st, err := os.Stat(path); err != nil || st.Size() == 0 {
			t.Errorf("rejects file %s: %v", path, err)
		}
	default:
		t.Fatalf("faulty run: exit %d, want 0 or 3\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	icf, sff := emu.ICStats().Faults, emu.SFStats().Faults
	if icf["429"] == 0 || icf["503"] == 0 || sff["503"] == 0 || sff["UNABLE_TO_LOCK_ROW"] == 0 {
		t.Fatalf("faults were not all injected (intercom %v, salesforce %v); the test proves nothing", icf, sff)
	}
	emu.Intercom.SetFailRate(0)
	emu.Salesforce.SetFailRate(0)
	if r := ferry(t, emu.Env(nil), "run", "--pipeline", pipeline, "--data-dir", dir, "--log-level", "warn"); r.code != 0 {
		t.Fatalf("run after faults: exit %d\n%s", r.code, r.stderr)
	}
	if got := sortedLines(endState(t, emu)); got != want {
		t.Fatalf("end state after faults differs from a clean run:\n%s", lineDiff(want, got))
	}
}
