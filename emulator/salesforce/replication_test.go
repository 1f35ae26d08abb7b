package salesforce

import (
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/emulator/seed"
	"github.com/ferry-sync/ferry/emulator/store"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type deletedAnswer struct {
	DeletedRecords []struct {
		ID          string `json:"id"`
		DeletedDate string `json:"deletedDate"`
	} `json:"deletedRecords"`
	EarliestDateAvailable string `json:"earliestDateAvailable"`
	LatestDateCovered     string `json:"latestDateCovered"`
}

func getDeleted(t *testing.T, b *bundle, object string, start, end time.Time) (int, deletedAnswer, string) {
	t.Helper()
	q := url.Values{"start": {start.UTC().Format(time.RFC3339)}, "end": {end.UTC().Format(time.RFC3339)}}
	code, out := b.json(t, "GET", v+"sobjects/"+object+"/deleted/?"+q.Encode(), nil)
	var a deletedAnswer
	json.Unmarshal(out, &a)
	return code, a, string(out)
}

// TestGetDeleted_LogAndPurges: a deleted record is listed by getDeleted
// with its deletion time while it is in the recycle bin; start and end
// must be more than a minute apart and start within 15 days. Emptying the
// recycle bin deletes it for good: queryAll no longer returns it, writes
// to it answer ENTITY_IS_DELETED, and earliestDateAvailable moves up to
// the purge, telling a client whose start is earlier that it may have
// missed deletes. All of it survives a restart from the journal.
func TestGetDeleted_LogAndPurges(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j, err := store.Open(dir, "salesforce.journal")
	if err != nil {
		t.Fatal(err)
	}
	ds := seed.New(seed.Params{Seed: 1, Scale: 200})
	clk := &clock{t: time.Date(2026, 11, 2, 10, 0, 30, 0, time.UTC)}
	b := setup(t, Options{Dataset: ds, Journal: j, Now: clk.Now})
	t0 := clk.Now()
	id := findID(t, b, "SELECT Id FROM Lead ORDER BY Id LIMIT 1")
	if code, out := b.json(t, "DELETE", v+"sobjects/Lead/"+id, nil); code != 204 {
		t.Fatalf("delete: %d %s", code, out)
	}
	clk.Add(5 * time.Minute)
	code, a, raw := getDeleted(t, b, "Lead", t0.Add(-10*time.Minute), clk.Now())
	if code != 200 || len(a.DeletedRecords) != 1 || a.DeletedRecords[0].ID != id || !strings.HasPrefix(a.DeletedRecords[0].DeletedDate, "2026-11-02T10:00:30") {
		t.Fatalf("getDeleted: %d %s", code, raw)
	}
	if a.LatestDateCovered != "2026-11-02T10:05:00.000+0000" {
		t.Errorf("latestDateCovered %s, want the end with its seconds dropped", a.LatestDateCovered)
	}
	if e, _ := time.Parse(sfTimeLayout, a.EarliestDateAvailable); e.After(t0.Add(-10 * time.Minute)) {
		t.Errorf("earliestDateAvailable %s is after the start before any purge", a.EarliestDateAvailable)
	}
	if code, _, raw := getDeleted(t, b, "Lead", clk.Now().Add(-30*time.Second), clk.Now()); code != 400 || !strings.Contains(raw, "INVALID_REPLICATION_DATE") {
		t.Errorf("span under a minute: %d %s", code, raw)
	}
	if code, _, raw := getDeleted(t, b, "Lead", clk.Now().AddDate(0, 0, -20), clk.Now()); code != 400 || !strings.Contains(raw, "INVALID_REPLICATION_DATE") {
		t.Errorf("start 20 days back: %d %s", code, raw)
	}

	clk.Add(time.Minute)
	purgedAt := clk.Now()
	if n := b.srv.EmptyRecycleBin("Lead"); n != 1 {
		t.Fatalf("emptied %d records, want 1", n)
	}
	clk.Add(time.Minute)
	check := func(t *testing.T, b *bundle) {
		t.Helper()
		q := url.QueryEscape("SELECT Id FROM Lead WHERE Id = '" + id + "'")
		if _, out := b.json(t, "GET", v+"queryAll?q="+q, nil); !strings.Contains(string(out), `"totalSize":0`) {
			t.Errorf("purged record still in queryAll: %s", out)
		}
		if code, out := b.json(t, "PATCH", v+"sobjects/Lead/"+id, map[string]any{"Company": "x"}); code != 404 || !strings.Contains(string(out), "ENTITY_IS_DELETED") {
			t.Errorf("PATCH of a purged record: %d %s", code, out)
		}
		code, out := b.json(t, "PATCH", v+"composite/sobjects", map[string]any{"allOrNone": false, "records": []map[string]any{{"attributes": map[string]any{"type": "Lead"}, "Id": id, "Company": "x"}}})
		if code != 200 || !strings.Contains(string(out), "ENTITY_IS_DELETED") {
			t.Errorf("collections update of a purged record: %d %s", code, out)
		}
		code, a, raw := getDeleted(t, b, "Lead", t0.Add(-10*time.Minute), clk.Now())
		e, _ := time.Parse(sfTimeLayout, a.EarliestDateAvailable)
		if code != 200 || e.Before(purgedAt.Truncate(time.Second)) || len(a.DeletedRecords) != 0 {
			t.Errorf("getDeleted after the purge: %d %s (earliestDateAvailable should be the purge, %s)", code, raw, purgedAt)
		}
	}
	check(t, b)
	j.Close()
	j2, err := store.Open(dir, "salesforce.journal")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j2.Close() })
	check(t, setup(t, Options{Dataset: ds, Journal: j2, Now: clk.Now}))
}
