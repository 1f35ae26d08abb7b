package cli_test

import (
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/state"
)

// TestRun_EverySkipsCompaniesE2E: the example pipeline re-reads Intercom
// companies (scrolled whole, no change filter) at most hourly. A run within
// the hour skips them, keeping their watermark, unless ferry wrote to them
// since they were last read or a run was interrupted since; --full-refresh
// and --object read them anyway.
func TestRun_EverySkipsCompaniesE2E(t *testing.T) {
	t.Parallel()
	emu, dir, run := setup(t, 150)
	scrolls := func() int { return emu.ICStats().Requests["GET /companies/scroll"] }
	first := mustRun(t, run)
	s1 := scrolls()
	if s1 == 0 {
		t.Fatal("the first run did not scroll companies")
	}
	second := mustRun(t, run)
	s2 := scrolls()
	// The first run writes to Intercom companies (names, owners): its
	// landed copy predates those writes, so the second run must re-read.
	if strings.Contains(first.stdout, "intercom companies upsert") && s2 == s1 {
		t.Errorf("the run after one that wrote companies skipped them:\n%s", second.stdout)
	}
	// Had it used the stale copy, the merge would take ferry's own writes
	// for Intercom edits and write the old values back to both systems.
	if !strings.Contains(second.stdout, "nothing: both systems agree") {
		t.Errorf("the second run wrote again:\n%s", second.stdout)
	}
	status := mustRun(t, run, "status").stdout
	third := mustRun(t, run)
	if got := scrolls(); got != s2 {
		t.Errorf("a run within `every: 1h` scrolled companies (%d requests)", got-s2)
	}
	if !strings.Contains(third.stdout, "skipped") || !strings.Contains(third.stdout, "intercom.companies") {
		t.Errorf("the summary does not report companies as skipped:\n%s", third.stdout)
	}
	if !strings.Contains(third.stdout, "intercom.contacts") || !strings.Contains(third.stdout, "nothing: both systems agree") {
		t.Errorf("the run that skipped companies should still extract contacts and write nothing:\n%s", third.stdout)
	}
	if a, b := line(status, "intercom   companies "), line(mustRun(t, run, "status").stdout, "intercom   companies "); a == "" || a != b {
		t.Errorf("skipping moved the companies watermark:\nbefore %s\nafter  %s", a, b)
	}
	// A run killed since may have written companies without recording it.
	st, err := state.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.DB.Exec(`INSERT INTO ferry.runs (run_id, command, pipeline, started_at, status) VALUES ('killed', 'run', 'p', now(), 'running')`)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, run)
	if got := scrolls(); got == s2 {
		t.Errorf("a run after an interrupted one skipped companies")
	}
	s2 = scrolls()
	mustRun(t, run, "run", "--full-refresh")
	s3 := scrolls()
	if s3 == s2 {
		t.Errorf("--full-refresh skipped companies")
	}
	mustRun(t, run, "extract", "--object", "intercom.companies")
	if scrolls() == s3 {
		t.Errorf("--object intercom.companies skipped companies")
	}
	t.Logf("first run:\n%s\nsecond run:\n%s\nthird run:\n%s", first.stdout, second.stdout, third.stdout)
}
