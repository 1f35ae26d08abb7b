package salesforce_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-sync/ferry/emulator/fault"
	"github.com/ferry-sync/ferry/emulator/salesforce"
	"github.com/ferry-sync/ferry/load"
)

// loseFirst wraps an org so that the first request match picks is
// committed and its answer lost as l says.
func loseFirst(match func(*http.Request) bool, l fault.Loss) func(http.Handler) http.Handler {
	var once sync.Once
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			lost := false
			if match(r) {
				once.Do(func() { lost = true })
			}
			if lost {
				fault.Lose(w, func(w http.ResponseWriter) { next.ServeHTTP(w, r) }, l)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func isJobRequest(method, suffix string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return r.Method == method && strings.Contains(r.URL.Path, "/jobs/ingest/") && strings.HasSuffix(r.URL.Path, suffix)
	}
}

// TestBulkWriter_LostAnswers: a job close or an upload that Salesforce
// committed but whose answer was lost is retried, and the retry's refusal
// (INVALIDJOBSTATE, "Found multiple contents for job") proves the first
// attempt arrived: the job runs once and every row is written once.
func TestBulkWriter_LostAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		match func(*http.Request) bool
		loss  fault.Loss
	}{
		{"close answered 502", func(r *http.Request) bool {
			return r.Method == http.MethodPatch && strings.Contains(r.URL.Path, "/jobs/ingest/")
		}, fault.BadGateway},
		{"close dropped", func(r *http.Request) bool {
			return r.Method == http.MethodPatch && strings.Contains(r.URL.Path, "/jobs/ingest/")
		}, fault.Dropped},
		{"upload answered 504", isJobRequest(http.MethodPut, "/batches"), fault.GatewayTimeout},
		{"upload dropped", isJobRequest(http.MethodPut, "/batches"), fault.Dropped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink, c, st, url := fixtureWrapped(t, salesforce.Options{}, 0, loseFirst(tc.match, tc.loss))
			out := load.NewOutcome()
			w := sink.Bulk("Lead", "upsert", "Intercom_Id__c", []string{"Company", "Intercom_Id__c", "LastName"}, out)
			if err := w.Add(t.Context(), leads(40)[:40]); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(t.Context()); err != nil {
				t.Fatalf("a lost answer failed the load: %v", err)
			}
			if got := out.Written["salesforce Lead upsert"]; got != 40 || count(t, c, "SELECT COUNT() FROM Lead") != 40 {
				t.Errorf("written %d, org holds %d Leads; want 40 once each", got, count(t, c, "SELECT COUNT() FROM Lead"))
			}
			if n := scalar(t, st, "SELECT count(*) FROM ferry.bulk_jobs WHERE state = 'JobComplete'"); n != 1 {
				t.Errorf("%d complete jobs recorded, want 1", n)
			}
			if n := routeCounts(t, url)["POST /services/data/v{version}/jobs/ingest"]; n != 1 {
				t.Errorf("%d jobs created, want 1", n)
			}
		})
	}
}

// TestResume_JobGone: a job an interrupted run recorded that Salesforce no
// longer has (removed a week after it ended, deleted by a user, lost by a
// restarted emulator) is recorded as gone instead of failing every later
// run; a job still open is aborted.
func TestResume_JobGone(t *testing.T) {
	t.Parallel()
	sink, c, st, _ := fixtureWith(t, salesforce.Options{}, 0)
	open, err := c.CreateIngestJob(t.Context(), "Lead", "upsert", "Intercom_Id__c")
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range []struct{ id, state string }{{"750000000000042AAA", "UploadComplete"}, {open.ID, "Open"}} {
		if _, err := st.DB.ExecContext(t.Context(), st.Stmt("InsertBulkJob"), j.id, "run-0", "Lead", "upsert", j.state, sink.Now()); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := sink.Resume(t.Context()); err != nil {
			t.Fatalf("resume: %v", err)
		}
	}
	if n := scalar(t, st, "SELECT count(*) FROM ferry.bulk_jobs WHERE job_id = '750000000000042AAA' AND state = 'NotFound' AND finished_at IS NOT NULL"); n != 1 {
		t.Error("the job Salesforce no longer has is not recorded as gone")
	}
	if n := scalar(t, st, "SELECT count(*) FROM ferry.bulk_jobs WHERE job_id = '"+open.ID+"' AND state = 'Aborted'"); n != 1 {
		t.Error("the open job was not aborted")
	}
	info, err := c.IngestJob(t.Context(), open.ID)
	if err != nil || info.State != "Aborted" {
		t.Errorf("org's job %s: %v %v, want Aborted", open.ID, info.State, err)
	}
}
