package cli_test

import (
	"strings"
	"testing"
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
	ic0, sf0 := emu.ICStats().WriteRequests, emu.SFStats().WriteRequests
	second := mustRun(t, run)
	if ic, sf := emu.ICStats().WriteRequests-ic0, emu.SFStats().WriteRequests-sf0; ic != 0 || sf != 0 {
		t.Fatalf("second run made %d Intercom and %d Salesforce write requests, want 0 and 0\n%s", ic, sf, second.stdout)
	}
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
