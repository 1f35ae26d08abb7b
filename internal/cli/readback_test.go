package cli_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/internal/testenv"
)

// TestRun_LeadReadBackBySystemModstamp: when a run creates more Leads than
// two Id lists hold, it reads their Salesforce-assigned fields back by
// SystemModstamp, 2,000 to a page, instead of one query per 200 Ids, and
// still writes every one of them to Intercom in the same run: the next run
// has nothing to write.
func TestRun_LeadReadBackBySystemModstamp(t *testing.T) {
	t.Parallel()
	emu, _, run := setup(t, 1200)
	first := mustRun(t, run, "run", "--log-level", "debug")
	// Every Lead came back by SystemModstamp; none was left to look up by Id.
	if lines := grepLines(first.stderr, `msg="read back" `); !strings.Contains(lines, "object=Lead") || !strings.Contains(lines, " by_id=0") || strings.Contains(lines, " by_modstamp=0 ") {
		t.Fatalf("the first run did not read its Leads back by SystemModstamp:\n%s", grepLines(first.stderr, "read back"))
	}
	runWritesNothing(t, emu, run)
}

func grepLines(s, sub string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}

// TestRun_LeadReadBackClockSkew: with Salesforce's clock two minutes behind
// ferry's, more than the margin, the SystemModstamp window finds none of the
// Leads the run wrote; they are read back by Id instead, and the next run
// still has nothing to write.
func TestRun_LeadReadBackClockSkew(t *testing.T) {
	t.Parallel()
	// The emulators share one clock. Intercom's rate-limit window would
	// move back with it, and ferry paces by the reset time Intercom sends,
	// so its budget is raised out of the way.
	emu, _, run := setupWith(t, testenv.EmulatorOptions{Scale: 1200, RateLimit: 1_000_000})
	emu.Clock.Advance(-2 * time.Minute)
	first := mustRun(t, run, "run", "--log-level", "debug")
	if lines := grepLines(first.stderr, `msg="read back" `); !strings.Contains(lines, "object=Lead") || !strings.Contains(lines, " by_modstamp=0 ") || strings.Contains(lines, " by_id=0") {
		t.Fatalf("expected the window to miss every Lead and the Ids to find them:\n%s", grepLines(first.stderr, "read back"))
	}
	runWritesNothing(t, emu, run)
}
