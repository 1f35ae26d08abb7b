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

// TestRun_LeadReadBackClockSkew puts Salesforce's clock two minutes
// behind ferry's, more than the margin ferry allows its own clock. Leads
// created by a Bulk job are still all found by the SystemModstamp window,
// which starts at the job's creation by Salesforce's clock. Leads created
// through Collections (no job to ask) are looked for from ferry's clock
// less the margin: the window finds none of them, they are read back by Id
// instead. Either way the next run has nothing to write.
func TestRun_LeadReadBackClockSkew(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		collectionsMax string
		want           func(lines string) bool
	}{
		"bulk": {"200", func(l string) bool { return strings.Contains(l, " by_id=0") && !strings.Contains(l, " by_modstamp=0 ") }},
		"collections": {"2000", func(l string) bool {
			return strings.Contains(l, " by_modstamp=0 ") && !strings.Contains(l, " by_id=0")
		}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// The emulators share one clock. Intercom's rate-limit window
			// would move back with it, and ferry paces by the reset time
			// Intercom sends, so its budget is raised out of the way.
			emu, _, run := setupWith(t, testenv.EmulatorOptions{Scale: 1200, RateLimit: 1_000_000})
			emu.Clock.Advance(-2 * time.Minute)
			pipeline := pipelineWith(t, "collections_max: 200", "collections_max: "+c.collectionsMax)
			first := mustRun(t, run, "run", "--pipeline", pipeline, "--log-level", "debug")
			if lines := grepLines(first.stderr, `msg="read back" `); !strings.Contains(lines, "object=Lead") || !c.want(lines) {
				t.Fatalf("Leads not read back as expected:\n%s", grepLines(first.stderr, "read back"))
			}
			runWritesNothing(t, emu, run)
		})
	}
}
