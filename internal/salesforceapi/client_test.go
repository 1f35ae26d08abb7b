package salesforceapi_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/emulator/salesforce"
	"github.com/ferry-sync/ferry/emulator/seed"
	"github.com/ferry-sync/ferry/internal/salesforceapi"
	"github.com/ferry-sync/ferry/internal/testenv"
)

func setup(t *testing.T, budget salesforceapi.Budget, daily int) (*salesforceapi.Client, *salesforce.Server) {
	t.Helper()
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 300})
	srv := emu.Salesforce
	url := emu.SF.URL
	if daily > 0 {
		var err error
		srv, err = salesforce.New(salesforce.Options{Dataset: seed.New(seed.Params{Seed: 1, Scale: 300}), DailyLimit: daily})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv)
		t.Cleanup(ts.Close)
		url = ts.URL
	}
	opt := salesforceapi.Options{LoginURL: url, Flow: salesforceapi.FlowJWT, ClientID: salesforce.ClientID, Username: salesforce.Username, PrivateKeyFile: emu.KeyFile, Budget: budget}
	if daily > 0 {
		opt = salesforceapi.Options{LoginURL: url, Flow: salesforceapi.FlowClientCredentials, ClientID: salesforce.ClientID, ClientSecret: salesforce.ClientSecret, Budget: budget}
	}
	c, err := salesforceapi.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Authenticate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return c, srv
}

func TestClient_ReauthenticatesOnceOn401(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, salesforceapi.Budget{}, 0)
	if _, err := c.Limits(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.ExpireTokens()
	if _, err := c.Limits(t.Context()); err != nil {
		t.Fatalf("after the session expired: %v (want a silent re-authentication)", err)
	}
}

func TestClient_Budget(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, salesforceapi.Budget{MaxCalls: 3}, 0)
	for i := 0; i < 3; i++ {
		if _, err := c.Limits(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Limits(t.Context()); !errors.Is(err, salesforceapi.ErrBudget) {
		t.Fatalf("4th call: err = %v, want ErrBudget", err)
	}
	q, _ := setup(t, salesforceapi.Budget{MinRemaining: 95}, 100)
	if err := q.Reserve(t.Context(), 10); !errors.Is(err, salesforceapi.ErrQuota) {
		t.Fatalf("Reserve past the org reserve: err = %v, want ErrQuota", err)
	}
}

func TestClient_BulkUpsertRoundTrip(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, salesforceapi.Budget{}, 0)
	ctx := t.Context()
	job, err := c.CreateIngestJob(ctx, "Lead", "upsert", "Intercom_Id__c")
	if err != nil {
		t.Fatal(err)
	}
	a, b, empty := "Doe", "Acme, \"Inc\"", ""
	k1, k2, k3 := "ic-1", "ic-2", "ic-3"
	csv := salesforceapi.EncodeCSV([]string{"Intercom_Id__c", "LastName", "Company", "Title"}, [][]*string{
		{&k1, &a, &b, nil},
		{&k2, &a, &empty, &empty}, // Company missing: rejected
		{&k3, &a, &b, &empty},
	})
	if !strings.Contains(string(csv), `"Acme, ""Inc"""`) || !strings.Contains(string(csv), "#N/A") {
		t.Fatalf("CSV quoting / null marker wrong:\n%s", csv)
	}
	if err := c.UploadJobData(ctx, job.ID, csv); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetJobState(ctx, job.ID, "UploadComplete"); err != nil {
		t.Fatal(err)
	}
	info, err := c.WaitIngestJob(ctx, job.ID, 5*time.Millisecond, nil)
	if err != nil || info.State != "JobComplete" || info.NumberRecordsFailed != 1 {
		t.Fatalf("job %+v, err %v", info, err)
	}
	var hdr []string
	var rows [][]string
	n, err := c.JobResults(ctx, job.ID, "failedResults", func(h, row []string) error {
		hdr, rows = h, append(rows, slices.Clone(row))
		return nil
	})
	if err != nil || n != 1 || len(rows) != 1 || hdr[1] != "sf__Error" || !strings.HasPrefix(rows[0][1], "REQUIRED_FIELD_MISSING") {
		t.Fatalf("failedResults %v %v %v", hdr, rows, err)
	}
	n = 0
	for page, err := range c.Query(ctx, "SELECT Id, Company FROM Lead WHERE Intercom_Id__c IN ('ic-1', 'ic-3')", false, 0, &n) {
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			if !strings.Contains(string(r.Raw), `Acme, \"Inc\"`) {
				t.Errorf("record %s", r.Raw)
			}
		}
	}
	if n != 2 {
		t.Fatalf("%d leads created, want 2", n)
	}
}

func TestQuote(t *testing.T) {
	t.Parallel()
	if got := salesforceapi.Quote(`O'Brien \ "x"`); got != `'O\'Brien \\ \"x\"'` {
		t.Errorf("Quote = %s", got)
	}
}

func TestClient_BulkQueryPagesByLocator(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, salesforceapi.Budget{}, 0)
	job, err := c.CreateQueryJob(t.Context(), "SELECT Id, Email FROM Contact", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitQueryJob(t.Context(), job.ID, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	pages, rows := 0, 0
	for page, err := range c.QueryResults(t.Context(), job.ID, 25) {
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 || page[0][0] != "Id" || page[0][1] != "Email" {
			t.Fatalf("page without the header: %v", page)
		}
		pages++
		rows += len(page) - 1
	}
	n, err := c.Count(t.Context(), "SELECT COUNT() FROM Contact")
	if err != nil {
		t.Fatal(err)
	}
	if rows != n || pages != (n+24)/25 {
		t.Fatalf("%d rows in %d pages, want %d rows in %d pages", rows, pages, n, (n+24)/25)
	}
}

// countingReaderAt counts the bytes read from it.
type countingReaderAt struct {
	r *strings.Reader
	n atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// TestClient_UploadStreamsFromFile: a Bulk upload is read from its file as
// it is sent, and a retry reads the file again, instead of the whole upload
// being copied into memory first (which the retrying transport does to any
// body it cannot rewind).
func TestClient_UploadStreamsFromFile(t *testing.T) {
	t.Parallel()
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 10})
	var puts atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && puts.Add(1) == 1 {
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusBadGateway) // the first upload fails; the client retries
			return
		}
		emu.Salesforce.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	c, err := salesforceapi.New(salesforceapi.Options{LoginURL: ts.URL, Flow: salesforceapi.FlowClientCredentials, ClientID: salesforce.ClientID, ClientSecret: salesforce.ClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Authenticate(t.Context()); err != nil {
		t.Fatal(err)
	}
	job, err := c.CreateIngestJob(t.Context(), "Lead", "insert", "")
	if err != nil {
		t.Fatal(err)
	}
	data := "LastName,Company\n" + strings.Repeat("Doe,Acme\n", 1000)
	f := &countingReaderAt{r: strings.NewReader(data)}
	if err := c.UploadJobFile(t.Context(), job.ID, f, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if puts.Load() != 2 {
		t.Fatalf("%d uploads, want a failed one and its retry", puts.Load())
	}
	if got := f.n.Load(); got != 2*int64(len(data)) {
		t.Errorf("read %d bytes of the %d-byte file, want it read once per attempt (%d)", got, len(data), 2*len(data))
	}
}
