package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/testenv"
)

// TestRun_BulkJobsSpanPlanChunks reads the plan 40 records at a time with
// Bulk API used from 11 rows on: each object and operation written through
// Bulk is still one job (the Intercom ids of contacts the run created are
// written to their Contacts by one more), the Leads the run created are
// read back once for the whole run, and the next run has nothing to write.
func TestRun_BulkJobsSpanPlanChunks(t *testing.T) {
	t.Parallel()
	emu, _, run := setup(t, 1200)
	small := smallBatchPipeline(t)
	b, err := os.ReadFile(small)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "chunk_records: 50000", "chunk_records: 40", 1)
	if s == string(b) {
		t.Fatal("pipeline has no chunk_records: 50000 to lower")
	}
	// ferry's own plan only: a sync writes through its own jobs.
	s = switchShipped(t, strings.Replace(s, declaredSyncs, "", 1), "true", "false")
	pipeline := testenv.WriteFile(t, filepath.Dir(small), "chunked.yaml", s)
	before := emu.SFStats().Requests
	res := mustRun(t, run, "run", "--pipeline", pipeline, "--output", "json", "--log-level", "debug")
	var sum struct {
		Written map[string]int `json:"written"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, res.stdout)
	}
	bulk, chunked := 0, 0
	for k, n := range sum.Written {
		if strings.HasPrefix(k, "salesforce ") && n > 10 {
			bulk++
			if n > 40 {
				chunked++
			}
		}
	}
	if sum.Written["intercom contacts create"] > 10 {
		bulk++ // the links to the contacts created
	}
	if chunked < 2 {
		t.Fatalf("only %d Salesforce writes span several chunks (%v): the test proves nothing", chunked, sum.Written)
	}
	const create = "POST /services/data/v{version}/jobs/ingest"
	if jobs := emu.SFStats().Requests[create] - before[create]; jobs != bulk {
		t.Errorf("%d Bulk jobs for %d objects and operations written through Bulk (%v), want one each\n%s", jobs, bulk, sum.Written, grepLines(res.stderr, "bulk job finished"))
	}
	if n := strings.Count(res.stderr, `msg="read back" `); n != 1 {
		t.Errorf("the created Leads were read back %d times, want once:\n%s", n, grepLines(res.stderr, "read back"))
	}
	ic0, sf0 := emu.ICStats().WriteRequests, emu.SFStats().WriteRequests
	next := mustRun(t, run, "run", "--pipeline", pipeline)
	if ic, sf := emu.ICStats().WriteRequests-ic0, emu.SFStats().WriteRequests-sf0; ic != 0 || sf != 0 {
		t.Fatalf("the next run made %d Intercom and %d Salesforce write requests, want 0 and 0\n%s", ic, sf, next.stdout)
	}
}
