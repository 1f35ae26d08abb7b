package salesforce_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/emulator/salesforce"
	"github.com/ferry-sync/ferry/internal/testenv"
	"github.com/ferry-sync/ferry/load"
	sfload "github.com/ferry-sync/ferry/load/salesforce"
)

// routeCounts reads how many requests the emulated org served per route,
// with its injected faults as "fault <kind>".
func routeCounts(t *testing.T, url string) map[string]int {
	t.Helper()
	s := testenv.ReadStats(t, url)
	for k, v := range s.Faults {
		s.Requests["fault "+k] = v
	}
	return s.Requests
}

// writeAll adds recs to w size at a time, as the runner adds plan chunks,
// and closes it.
func writeAll(t *testing.T, w *sfload.BulkWriter, recs []load.Record, size int) {
	t.Helper()
	for start := 0; start < len(recs); start += size {
		if err := w.Add(t.Context(), recs[start:min(start+size, len(recs))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// leads are n Leads keyed ic-NN whose Company holds a comma and quotes, so
// that reading a row back from the spool must undo CSV quoting; the Lead
// keyed noname has no LastName, which the org requires.
func leads(n int) []load.Record {
	var recs []load.Record
	for i := range n {
		last, company := fmt.Sprintf("Doe %02d", i), fmt.Sprintf("Acme, \"%d\"", i)
		recs = append(recs, load.Record{Object: "Lead", Key: fmt.Sprintf("ic-%02d", i), Alt: "Intercom_Id__c", Fields: []load.Change{
			{Field: "Company", Value: &company, Type: "string"}, {Field: "LastName", Value: &last, Type: "string"}}})
	}
	company := "Nameless, \"Inc\""
	return append(recs, load.Record{Object: "Lead", Key: "noname", Alt: "Intercom_Id__c", Fields: []load.Change{
		{Field: "Company", Value: &company, Type: "string"}, {Field: "LastName"}}})
}

// TestBulkWriter_OneJobAcrossChunks adds 51 Leads seven at a time, as the
// runner adds plan chunks: one job carries them all, its successful and
// failed results are read, the unprocessed file (nothing is missing) is
// not, and the Lead the org refuses is rejected with its payload read back
// from the spool.
func TestBulkWriter_OneJobAcrossChunks(t *testing.T) {
	t.Parallel()
	sink, c, st, url := fixtureWith(t, salesforce.Options{}, 0)
	recs := leads(50)
	out := load.NewOutcome()
	w := sink.Bulk("Lead", "upsert", "Intercom_Id__c", []string{"Company", "Intercom_Id__c", "LastName"}, out)
	writeAll(t, w, recs, 7)
	if err := sink.Ledger.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if jobs, n := w.Jobs(); jobs != 1 || n != 51 {
		t.Errorf("%d jobs of %d rows, want one of 51", jobs, n)
	}
	if n := scalar(t, st, "SELECT count(*) FROM ferry.bulk_jobs WHERE state = 'JobComplete'"); n != 1 {
		t.Errorf("%d complete jobs recorded, want 1", n)
	}
	if got := out.Written["salesforce Lead upsert"]; got != 50 || count(t, c, "SELECT COUNT() FROM Lead") != 50 {
		t.Errorf("written %d, want the 50 Leads with a name, once each", got)
	}
	if n := count(t, c, "SELECT COUNT() FROM Lead WHERE LastName = 'Doe 49' AND Company = 'Acme, \"49\"'"); n != 1 {
		t.Errorf("last Lead written %d times with its values, want 1", n)
	}
	if len(out.Rejects) != 1 || out.Rejects[0].Key != "noname" || !strings.HasPrefix(out.Rejects[0].Error, "REQUIRED_FIELD_MISSING") {
		t.Fatalf("rejects %+v, want noname, REQUIRED_FIELD_MISSING", out.Rejects)
	}
	if p := out.Rejects[0].Payload; p["Company"] != "Nameless, \"Inc\"" || p["LastName"] != nil || len(p) != 2 {
		t.Errorf("rejected payload %v, want the Company as sent and LastName null", p)
	}
	if n := scalar(t, st, "SELECT count(*) FROM ferry.ledger WHERE status = 'done'"); n != 50 {
		t.Errorf("ledger has %d done rows, want 50", n)
	}
	req := routeCounts(t, url)
	for route, want := range map[string]int{"successfulResults": 1, "failedResults": 1, "unprocessedrecords": 0, "batches": 1} {
		if got := req["PUT /services/data/v{version}/jobs/ingest/{id}/"+route] + req["GET /services/data/v{version}/jobs/ingest/{id}/"+route]; got != want {
			t.Errorf("%s requested %d times, want %d", route, got, want)
		}
	}
	if files, _ := os.ReadDir(sink.SpoolDir); len(files) != 0 {
		t.Errorf("spool left behind: %v", files)
	}

	// A job whose rows all succeed costs one result file.
	w = sink.Bulk("Lead", "upsert", "Intercom_Id__c", []string{"Company", "Intercom_Id__c", "LastName"}, out)
	if err := w.Add(t.Context(), recs[:50]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	after := routeCounts(t, url)
	for route, want := range map[string]int{"successfulResults": 1, "failedResults": 0, "unprocessedrecords": 0} {
		r := "GET /services/data/v{version}/jobs/ingest/{id}/" + route
		if got := after[r] - req[r]; got != want {
			t.Errorf("a job without failures: %s requested %d times, want %d", route, got, want)
		}
	}
}

// TestBulkWriter_RetriesFromSpool: rows that fail on a row lock are read
// back from the spool and written again with the values they had.
func TestBulkWriter_RetriesFromSpool(t *testing.T) {
	t.Parallel()
	sink, c, _, url := fixtureWith(t, salesforce.Options{FailRate: 0.05, FaultSeed: 3}, 0)
	recs := leads(300)[:300] // all with a name
	out := load.NewOutcome()
	w := sink.Bulk("Lead", "upsert", "Intercom_Id__c", []string{"Company", "Intercom_Id__c", "LastName"}, out)
	writeAll(t, w, recs, 50)
	req := routeCounts(t, url)
	if req["fault UNABLE_TO_LOCK_ROW"] == 0 {
		t.Fatal("no row failed on a lock: the test proves nothing")
	}
	written := out.Written["salesforce Lead upsert"]
	if written+len(out.Rejects) != 300 || written <= 300-req["fault UNABLE_TO_LOCK_ROW"] {
		t.Errorf("written %d, rejected %d, lock faults %d: want every Lead settled and the retried ones written", written, len(out.Rejects), req["fault UNABLE_TO_LOCK_ROW"])
	}
	for _, r := range out.Rejects {
		if !strings.HasPrefix(r.Error, "UNABLE_TO_LOCK_ROW") || r.Payload["Company"] == nil || !strings.HasPrefix(r.Payload["Company"].(string), "Acme, \"") {
			t.Errorf("reject %+v, want a lock failure with its payload", r)
		}
	}
	if n := count(t, c, "SELECT COUNT() FROM Lead"); n != written {
		t.Errorf("org holds %d Leads, %d written", n, written)
	}
	for _, r := range recs {
		if out.ID("salesforce", "Lead", r.Key) == "" {
			continue
		}
		soql := fmt.Sprintf("SELECT COUNT() FROM Lead WHERE Intercom_Id__c = '%s' AND LastName = '%s' AND Company = '%s'", r.Key, *r.Fields[1].Value, strings.ReplaceAll(*r.Fields[0].Value, `"`, `\"`))
		if count(t, c, soql) != 1 {
			t.Errorf("Lead %s does not hold the values sent", r.Key)
		}
	}
}

// TestBulkWriter_DiscardSendsNothing: a load that stops after spooling
// rows (an error, a cancelled run) discards them: no job, no spool left.
func TestBulkWriter_DiscardSendsNothing(t *testing.T) {
	t.Parallel()
	sink, c, _, url := fixtureWith(t, salesforce.Options{}, 0)
	w := sink.Bulk("Lead", "upsert", "Intercom_Id__c", []string{"Company", "Intercom_Id__c", "LastName"}, load.NewOutcome())
	if err := w.Add(t.Context(), leads(30)[:30]); err != nil {
		t.Fatal(err)
	}
	w.Discard()
	if n := routeCounts(t, url)["POST /services/data/v{version}/jobs/ingest"]; n != 0 || count(t, c, "SELECT COUNT() FROM Lead") != 0 {
		t.Errorf("%d jobs created after a discard, want none", n)
	}
	if files, _ := os.ReadDir(sink.SpoolDir); len(files) != 0 {
		t.Errorf("spool left behind: %v", files)
	}
	if err := w.Close(t.Context()); err != nil {
		t.Errorf("close after discard: %v", err)
	}
}

// TestBulkWriter_FirstPollWaits: a job just closed is polled after one
// interval, not at once, so a job the org finishes within it costs one
// status request.
func TestBulkWriter_FirstPollWaits(t *testing.T) {
	t.Parallel()
	sink, _, _, url := fixtureWith(t, salesforce.Options{BulkDelay: 20 * time.Millisecond}, 0)
	sink.Poll = 300 * time.Millisecond
	out := load.NewOutcome()
	w := sink.Bulk("Lead", "upsert", "Intercom_Id__c", []string{"Company", "Intercom_Id__c", "LastName"}, out)
	writeAll(t, w, leads(10)[:10], 10)
	if got := out.Written["salesforce Lead upsert"]; got != 10 {
		t.Fatalf("written %d, want 10", got)
	}
	if got := routeCounts(t, url)["GET /services/data/v{version}/jobs/ingest/{id}"]; got != 1 {
		t.Errorf("job status requested %d times, want 1", got)
	}
}
