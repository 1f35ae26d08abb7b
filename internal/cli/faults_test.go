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
	state, _ := cleanEndState(t, scale, pipeline)
	want := sortedLines(state)

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

// TestRun_UnderLostAnswers puts 10 % of the writes to both systems behind
// a network that loses their answers after the write is committed (the
// connection dropped, or a gateway's 502 or 504): Bulk uploads and job
// closes, Collections, contact creates, company attachments, onboarding
// messages. ferry keeps running until it converges; the end state,
// onboarding messages included, must equal a run that never lost an
// answer, and a last run must write nothing.
func TestRun_UnderLostAnswers(t *testing.T) {
	t.Parallel()
	const scale = 400
	pipeline := smallBatchPipeline(t)
	state, clean := cleanEndState(t, scale, pipeline)
	want := sortedLines(state)
	if clean.ICStats().MessagesTotal == 0 {
		t.Fatal("the clean run sent no onboarding message: the test proves nothing for them")
	}

	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: scale})
	emu.Intercom.SetLoseRate(0.1)
	emu.Salesforce.SetLoseRate(0.1)
	dir := t.TempDir()
	for i := 0; ; i++ {
		r := ferry(t, emu.Env(nil), "run", "--pipeline", pipeline, "--data-dir", dir, "--log-level", "warn")
		if r.code != cli.ExitOK && r.code != cli.ExitRejects {
			t.Fatalf("run %d under lost answers: exit %d, want 0 or 3\n%s", i+1, r.code, r.stderr)
		}
		if i == 2 {
			break
		}
	}
	icf, sff := emu.ICStats().Faults, emu.SFStats().Faults
	lost := func(f map[string]int) int { return f["lost-dropped"] + f["lost-502"] + f["lost-504"] }
	if lost(icf) == 0 || lost(sff) == 0 {
		t.Fatalf("no answer was lost (intercom %v, salesforce %v): the test proves nothing", icf, sff)
	}
	t.Logf("answers lost: intercom %v, salesforce %v", icf, sff)
	emu.Intercom.SetLoseRate(0)
	emu.Salesforce.SetLoseRate(0)
	if r := ferry(t, emu.Env(nil), "run", "--pipeline", pipeline, "--data-dir", dir, "--log-level", "warn"); r.code != 0 {
		t.Fatalf("run after lost answers: exit %d\n%s", r.code, r.stderr)
	}
	if got := sortedLines(endState(t, emu)); got != want {
		t.Fatalf("end state after lost answers differs from a clean run:\n%s", lineDiff(want, got))
	}
	ic0, sf0 := emu.ICStats().WriteRequests, emu.SFStats().WriteRequests
	if r := ferry(t, emu.Env(nil), "run", "--pipeline", pipeline, "--data-dir", dir, "--log-level", "warn"); r.code != 0 {
		t.Fatalf("last run: exit %d\n%s", r.code, r.stderr)
	}
	if ic, sf := emu.ICStats().WriteRequests-ic0, emu.SFStats().WriteRequests-sf0; ic != 0 || sf != 0 {
		t.Fatalf("the last run made %d Intercom and %d Salesforce write requests, want none", ic, sf)
	}
}
