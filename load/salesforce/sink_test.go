package salesforce_test

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/emulator/salesforce"
	"github.com/ferry-sync/ferry/internal/salesforceapi"
	"github.com/ferry-sync/ferry/internal/state"
	"github.com/ferry-sync/ferry/internal/testenv"
	"github.com/ferry-sync/ferry/load"
	sfload "github.com/ferry-sync/ferry/load/salesforce"
)

// fixture is an empty emulated org whose uploads are capped at maxUpload
// base64 bytes, and a sink writing to it from a fresh data dir.
func fixture(t *testing.T, maxUpload, bulkMaxBytes int) (*sfload.Sink, *salesforceapi.Client, *state.Store) {
	t.Helper()
	sink, c, st, _ := fixtureWith(t, salesforce.Options{MaxUpload: maxUpload}, bulkMaxBytes)
	return sink, c, st
}

// fixtureWith is fixture for an org with opt, and returns the org's URL.
func fixtureWith(t *testing.T, opt salesforce.Options, bulkMaxBytes int) (*sfload.Sink, *salesforceapi.Client, *state.Store, string) {
	t.Helper()
	return fixtureWrapped(t, opt, bulkMaxBytes, nil)
}

// fixtureWrapped is fixtureWith with the org's handler wrapped by wrap
// (nil for none), so that a test can pick the requests to disturb.
func fixtureWrapped(t *testing.T, opt salesforce.Options, bulkMaxBytes int, wrap func(http.Handler) http.Handler) (*sfload.Sink, *salesforceapi.Client, *state.Store, string) {
	t.Helper()
	return fixtureRules(t, opt, bulkMaxBytes, wrap, salesforceapi.Rules{})
}

// fixtureRules is fixtureWrapped with the client's rule settings.
func fixtureRules(t *testing.T, opt salesforce.Options, bulkMaxBytes int, wrap func(http.Handler) http.Handler, rules salesforceapi.Rules) (*sfload.Sink, *salesforceapi.Client, *state.Store, string) {
	t.Helper()
	srv, err := salesforce.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = srv
	if wrap != nil {
		h = wrap(srv)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	c, err := salesforceapi.New(salesforceapi.Options{LoginURL: ts.URL, Flow: salesforceapi.FlowClientCredentials,
		ClientID: salesforce.ClientID, ClientSecret: salesforce.ClientSecret, Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Authenticate(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := testenv.OpenStore(t, "")
	sink := &sfload.Sink{Client: c, CollectionsMax: 200, BulkMaxBytes: bulkMaxBytes, Poll: time.Millisecond, SpoolDir: t.TempDir(),
		Ledger: load.NewLedger(st, "run-1", time.Now), State: st, RunID: "run-1", Now: time.Now, Log: slog.New(slog.DiscardHandler)}
	return sink, c, st, ts.URL
}

func count(t *testing.T, c *salesforceapi.Client, soql string) int {
	t.Helper()
	n, err := c.Count(t.Context(), soql)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func scalar(t *testing.T, st *state.Store, q string) int {
	t.Helper()
	var n int
	if err := st.DB.QueryRowContext(t.Context(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBulkUpsert_SplitsJobsUnderUploadLimit upserts 1,000 Leads with a Bulk
// job limit of 6,000 bytes against an org that refuses any upload past
// 6,000 raw bytes (8,000 once base64-encoded): every Lead must land once,
// across several jobs, with every result row read back; one Lead whose row
// alone is past the limit is rejected without being sent.
func TestBulkUpsert_SplitsJobsUnderUploadLimit(t *testing.T) {
	t.Parallel()
	const limit = 6000
	sink, c, st := fixture(t, base64.StdEncoding.EncodedLen(limit), limit)
	var recs []load.Record
	for i := range 1000 {
		last, company := fmt.Sprintf("Doe %04d", i), fmt.Sprintf("Acme, \"%d\"", i%37)
		recs = append(recs, load.Record{Object: "Lead", Key: fmt.Sprintf("ic-%04d", i), Alt: "Intercom_Id__c", Fields: []load.Change{
			{Field: "Company", Value: &company, Type: "string"}, {Field: "LastName", Value: &last, Type: "string"}}})
	}
	huge, last, company := strings.Repeat("x", limit), "Big", "Big Co"
	recs = append(recs, load.Record{Object: "Lead", Key: "ic-huge", Alt: "Intercom_Id__c", Fields: []load.Change{
		{Field: "Company", Value: &company}, {Field: "LastName", Value: &last}, {Field: "Title", Value: &huge}}})
	out := load.NewOutcome()
	if err := sink.Upsert(t.Context(), "Lead", "Intercom_Id__c", recs, out); err != nil {
		t.Fatal(err)
	}
	if err := sink.Ledger.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := out.Written["salesforce Lead upsert"]; got != 1000 {
		t.Errorf("written %d, want 1000", got)
	}
	if len(out.Rejects) != 1 || out.Rejects[0].Key != "ic-huge" || !strings.Contains(out.Rejects[0].Error, "ROW_TOO_LARGE") {
		t.Errorf("rejects %+v, want only ic-huge, too large", out.Rejects)
	}
	if n := count(t, c, "SELECT COUNT() FROM Lead"); n != 1000 {
		t.Errorf("org holds %d Leads, want 1000", n)
	}
	if n := count(t, c, "SELECT COUNT() FROM Lead WHERE LastName = 'Doe 0999' AND Company = 'Acme, \"0\"'"); n != 1 {
		t.Errorf("last Lead written %d times with its values, want 1", n)
	}
	for _, r := range recs[:1000] {
		if out.ID("salesforce", "Lead", r.Key) == "" {
			t.Fatalf("no Id learnt for %s: a result row was not read", r.Key)
		}
	}
	// About 28 bytes a row: at least 1000*28/6000 jobs, all finished.
	jobs := scalar(t, st, "SELECT count(*) FROM ferry.bulk_jobs WHERE state = 'JobComplete'")
	if all := scalar(t, st, "SELECT count(*) FROM ferry.bulk_jobs"); jobs < 4 || jobs != all {
		t.Errorf("%d jobs complete of %d, want several, all complete", jobs, all)
	}
	if n := scalar(t, st, "SELECT count(*) FROM ferry.ledger WHERE status = 'done'"); n != 1000 {
		t.Errorf("ledger has %d done rows, want 1000", n)
	}
}

// TestUpsert_PlanReadInChunks loads 50 planned Leads read from DuckDB seven
// at a time, as the runner does: every Lead is written once.
func TestUpsert_PlanReadInChunks(t *testing.T) {
	t.Parallel()
	sink, c, st := fixture(t, 0, 0)
	for _, q := range []string{
		`CREATE TABLE main.sync__leads AS SELECT 'Lead' AS object, printf('ic-%02d', i) AS key, 'Intercom_Id__c' AS alt,
			f AS field, CASE f WHEN 'LastName' THEN 'Doe ' || i ELSE 'Acme' END AS value, 'string' AS type, NULL::BOOLEAN AS creates
			FROM range(50) AS r(i), (VALUES ('LastName'), ('Company')) AS fs(f)`,
		`CREATE TABLE main.identity_ambiguous (id VARCHAR)`,
	} {
		if _, err := st.DB.ExecContext(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	leads := load.SyncSource("leads", "salesforce", "upsert")
	plan, err := load.ReadPlan(t.Context(), st.DB, leads)
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Close()
	if s := plan.Summary(); len(s) != 1 || s[0].Records != 50 || s[0].Fields["LastName"] != 50 || plan.Writes() != 50 {
		t.Fatalf("summary %+v, writes %d", s, plan.Writes())
	}
	plan.ChunkSize = 7
	out := load.NewOutcome()
	chunks, seen := 0, map[string]bool{}
	for recs, err := range plan.Chunks(t.Context(), leads, "Lead") {
		if err != nil {
			t.Fatal(err)
		}
		chunks++
		if len(recs) > 7 {
			t.Fatalf("chunk of %d records, want at most 7", len(recs))
		}
		for _, r := range recs {
			if seen[r.Key] || len(r.Fields) != 2 {
				t.Fatalf("record %+v read twice or without its two fields", r)
			}
			seen[r.Key] = true
		}
		if err := sink.Upsert(t.Context(), "Lead", recs[0].Alt, recs, out); err != nil {
			t.Fatal(err)
		}
	}
	if chunks != 8 || len(seen) != 50 {
		t.Errorf("%d chunks, %d records, want 8 chunks of 50 records", chunks, len(seen))
	}
	if out.Written["salesforce Lead upsert"] != 50 || count(t, c, "SELECT COUNT() FROM Lead") != 50 {
		t.Errorf("written %v, want 50 Leads once each", out.Written)
	}
}
