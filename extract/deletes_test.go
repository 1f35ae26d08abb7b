package extract_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/emulator/salesforce"
	"github.com/ferry-sync/ferry/emulator/seed"
	salesforceextract "github.com/ferry-sync/ferry/extract/salesforce"
)

// TestSalesforce_DeleteLogThenSweep: the delete log lists a record deleted
// into the recycle bin and is complete; once the bin is emptied it is no
// longer complete for a start before the purge, which is what sends ferry
// to a sweep. The sweep's Bulk query lists every live Id but the purged
// one, and Resolve reports the purged and the soft-deleted records gone
// and a live one not.
func TestSalesforce_DeleteLogThenSweep(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	srv, ts, c := salesforceOrg(t, salesforce.Options{Now: clk.Now, Dataset: seed.New(seed.Params{Seed: 2, Scale: 300})})
	src := &salesforceextract.Source{Client: c, Name: "Lead"}
	var all []string
	for ids, err := range src.LiveIDs(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ids...)
	}
	if len(all) < 50 {
		t.Fatalf("the sweep listed %d Leads", len(all))
	}
	start := clk.Now()
	clk.Set(start.Add(time.Minute))
	purged, alsoPurged, live := all[0], all[1], all[2]
	auth := "Bearer " + token(t, ts.URL)
	for _, id := range []string{purged, alsoPurged} {
		if code := do(t, "DELETE", ts.URL+"/services/data/v62.0/sobjects/Lead/"+id, auth); code != 204 {
			t.Fatalf("delete %s: %d", id, code)
		}
	}
	clk.Set(start.Add(5 * time.Minute))
	gone, covered, complete, err := src.DeleteLog(t.Context(), start, clk.Now())
	if err != nil || !complete || len(gone) != 2 || !covered.Equal(start.Add(5*time.Minute)) {
		t.Fatalf("delete log: %v complete=%v covered=%v err=%v", gone, complete, covered, err)
	}
	srv.EmptyRecycleBin("Lead")
	clk.Set(start.Add(6 * time.Minute))
	third := all[3]
	if code := do(t, "DELETE", ts.URL+"/services/data/v62.0/sobjects/Lead/"+third, auth); code != 204 {
		t.Fatalf("delete %s: %d", third, code)
	}
	clk.Set(start.Add(10 * time.Minute))
	if _, _, complete, err := src.DeleteLog(t.Context(), start, clk.Now()); err != nil || complete {
		t.Fatalf("delete log from before the purge: complete=%v err=%v, want incomplete", complete, err)
	}
	var after []string
	for ids, err := range src.LiveIDs(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		after = append(after, ids...)
	}
	if len(after) != len(all)-3 || slices.Contains(after, purged) || slices.Contains(after, third) || !slices.Contains(after, live) {
		t.Fatalf("sweep after the deletes listed %d of %d Leads", len(after), len(all))
	}
	res, err := src.Resolve(t.Context(), []string{purged, third, live})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].ID != third || !res[0].At.Equal(start.Add(6*time.Minute)) || res[1].ID != purged || !res[1].At.IsZero() {
		t.Fatalf("resolve: %+v, want the binned one (at its delete) then the purged one (time unknown)", res)
	}
}

func do(t *testing.T, method, url, auth string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
