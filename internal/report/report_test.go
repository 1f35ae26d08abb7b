package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/internal/duck"
)

func TestGather_Figures(t *testing.T) {
	t.Parallel()
	r := gather(t, warehouse(t), Options{Accounts: 3})

	if want := (BandCounts{Green: 4, Yellow: 5, Red: 5}); r.Accounts != want {
		t.Errorf("accounts by band %+v, want %+v", r.Accounts, want)
	}
	if r.GreenFrom == nil || *r.GreenFrom != 75 || r.YellowFrom == nil || *r.YellowFrom != 40 {
		t.Errorf("thresholds %v %v, want 75 and 40", r.GreenFrom, r.YellowFrom)
	}
	if want := time.Date(2026, 3, 3, 5, 30, 0, 0, time.UTC); r.AsOf == nil || !r.AsOf.Equal(want) {
		t.Errorf("as of %v, want %v", r.AsOf, want)
	}
	wantBuckets := [10]BandCounts{
		{Red: 2}, {Red: 1}, {Red: 1}, {Red: 1}, {Yellow: 2},
		{Yellow: 1}, {Yellow: 1}, {Yellow: 1, Green: 1}, {Green: 1}, {Green: 2},
	}
	for i, b := range r.Buckets {
		if b.Low != 10*i || b.Bands != wantBuckets[i] {
			t.Errorf("bucket %d: from %d, %+v; want from %d, %+v", i, b.Low, b.Bands, 10*i, wantBuckets[i])
		}
	}

	wantRuns := []RunBands{
		{run1.ID, run1.At, BandCounts{Green: 6, Yellow: 7, Red: 1}},
		{run2.ID, run2.At, BandCounts{Green: 4, Yellow: 7, Red: 3}},
		{run3.ID, run3.At, BandCounts{Green: 4, Yellow: 5, Red: 5}},
	}
	if !r.HasHistory || r.TotalRuns != 3 || !reflect.DeepEqual(r.Runs, wantRuns) {
		t.Errorf("history %v, %d runs:\n got %+v\nwant %+v", r.HasHistory, r.TotalRuns, r.Runs, wantRuns)
	}

	if r.Moves == nil {
		t.Fatal("no band changes, want those from run 2 to run 3")
	}
	if r.Moves.Previous != run2 || r.Moves.Last != run3 || r.Moves.Total != 5 {
		t.Errorf("moves %s -> %s, %d accounts; want %s -> %s, 5", r.Moves.Previous.ID, r.Moves.Last.ID, r.Moves.Total, run2.ID, run3.ID)
	}
	// Capped at --accounts 3: the furthest fall, then the falls by new score.
	wantMoves := []Move{
		{"a03", hostile, Green, Red, 76, 15},
		{"a02", "Account a02", Yellow, Red, 41, 8},
		{"a05", "Account a05", Yellow, Red, 45, 39},
	}
	if !reflect.DeepEqual(r.Moves.Listed, wantMoves) {
		t.Errorf("moves listed:\n got %+v\nwant %+v", r.Moves.Listed, wantMoves)
	}
	wantPairs := []MovePair{{Green, Red, 1}, {Yellow, Red, 2}, {Green, Yellow, 1}, {Yellow, Green, 1}}
	if !reflect.DeepEqual(r.Moves.Pairs, wantPairs) {
		t.Errorf("move pairs:\n got %+v\nwant %+v", r.Moves.Pairs, wantPairs)
	}

	var ids []string
	for _, a := range r.Lowest {
		ids = append(ids, a.ID)
	}
	if want := []string{"a01", "a02", "a03"}; !reflect.DeepEqual(ids, want) || r.LeftOut() != 11 {
		t.Errorf("lowest %v, %d left out; want %v, 11", ids, r.LeftOut(), want)
	}
	checkA01(t, r.Lowest[0])
}

// checkA01 checks a01's components: 25 conversations, no CSAT, 5,000 of
// contract value; open_conversations is no configured component.
func checkA01(t *testing.T, a Account) {
	t.Helper()
	if a.Score != 3 || a.Band != Red || a.Name != "Account a01" {
		t.Errorf("a01: %+v", a)
	}
	got := map[string]Component{}
	var order []string
	for _, c := range a.Components {
		got[c.Name] = c
		order = append(order, c.Name)
	}
	if want := []string{"avg_csat", "contract_value", "conversations_90d"}; !reflect.DeepEqual(order, want) {
		t.Fatalf("a01 components %v, want %v (by weight, then name)", order, want)
	}
	if c := got["avg_csat"]; c.Value != nil || c.Share != nil || c.Fraction != nil || c.Weight != 30 {
		t.Errorf("a01 avg_csat %+v: want weight 30 and no value, share or score", c)
	}
	for _, w := range []struct {
		name                   string
		value, share, fraction float64
	}{{"conversations_90d", 25, 0.5, 1.0 / 6}, {"contract_value", 5000, 0.5, 0.05}} {
		c := got[w.name]
		if c.Value == nil || c.Share == nil || c.Fraction == nil {
			t.Errorf("a01 %s: %+v, want a value, a share and a score", w.name, c)
			continue
		}
		if *c.Value != w.value || !near(*c.Share, w.share) || !near(*c.Fraction, w.fraction) {
			t.Errorf("a01 %s: value %g share %g score %g; want %g, %g, %g", w.name, *c.Value, *c.Share, *c.Fraction, w.value, w.share, w.fraction)
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// render renders r, failing the test on an error.
func render(t *testing.T, r *Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestRender_Numbers reads the figures back from the page: the tooltips of
// the charts' bars, the moves table and the left-out counts.
func TestRender_Numbers(t *testing.T) {
	t.Parallel()
	page := render(t, gather(t, warehouse(t), Options{Accounts: 3}))
	for _, want := range []string{
		// distribution: one bar segment per bucket and band
		"<title>score 0–9: 2 red</title>", "<title>score 70–79: 1 yellow</title>", "<title>score 70–79: 1 green</title>",
		"<title>score 90–100: 2 green</title>",
		// bands over time
		"<title>run " + run1.ID + " at 2026-03-01 06:00:00 UTC: 6 green</title>",
		"<title>run " + run2.ID + " at 2026-03-02 06:00:00 UTC: 3 red</title>",
		"<title>run " + run3.ID + " at 2026-03-03 06:00:00 UTC: 5 yellow</title>",
		// moves
		"<b>5</b> accounts changed band", "<title>2 accounts from yellow to red</title>",
		"<title>1 accounts from yellow to green</title>", "2 more left out",
		// the lowest-scoring accounts
		"The 3 lowest-scoring of 14 accounts", "11 accounts left out",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if n := strings.Count(page, `<div class="card">`); n != 3 {
		t.Errorf("%d account cards, want 3", n)
	}
	if strings.Contains(page, "Account a04") {
		t.Error("the page details a04, the 4th lowest, with --accounts 3")
	}
	// The moves table: a03 (hostile name) green -> red, then a02, a05.
	rows := regexp.MustCompile(`(?s)<tr><td>(.*?) <span class="note">(a\d\d)</span></td><td><span class="band (\w+)">\w+</span> → <span class="band (\w+)">\w+</span></td><td class="n">([\d.]+) → ([\d.]+)</td></tr>`).FindAllStringSubmatch(page, -1)
	var got []string
	for _, m := range rows {
		got = append(got, strings.Join(m[2:], " "))
	}
	if want := []string{"a03 green red 76 15", "a02 yellow red 41 8", "a05 yellow red 45 39"}; !reflect.DeepEqual(got, want) {
		t.Errorf("moves table %q, want %q", got, want)
	}
}

func TestRender_EscapesNames(t *testing.T) {
	t.Parallel()
	page := render(t, gather(t, warehouse(t), Options{Accounts: 14}))
	if strings.Contains(page, "<script") || strings.Contains(page, "<img") {
		t.Error("the page has a <script> or <img> element: the hostile account name went out raw")
	}
	// In the moves table and on a03's card.
	if n := strings.Count(page, "&lt;script&gt;alert(&#34;pwn&#34;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;"); n != 2 {
		t.Errorf("the escaped hostile name is on the page %d times, want 2", n)
	}
}

// TestRender_SelfContained: nothing on the page is fetched from elsewhere.
func TestRender_SelfContained(t *testing.T) {
	t.Parallel()
	page := render(t, gather(t, warehouse(t), Options{Accounts: 14}))
	for _, bad := range []string{"http://", "https://", "<script", "<link", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("the page contains %q", bad)
		}
	}
	if m := regexp.MustCompile(`(?i)\b(src|href)\s*=\s*["']?//`).FindString(page); m != "" {
		t.Errorf("the page loads %q", m)
	}
	for _, id := range []string{"chart-distribution", "chart-history", "chart-moves"} {
		if !strings.Contains(page, `<svg class="chart" id="`+id+`"`) || !strings.Contains(page, `<title id="`+id+`-title">`) {
			t.Errorf("the page lacks chart %s with its title", id)
		}
	}
}

func TestGather_NotBuilt(t *testing.T) {
	t.Parallel()
	db, err := duck.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := Gather(context.Background(), db, Options{Accounts: 5}); !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("Gather on an empty warehouse: %v, want ErrNotBuilt", err)
	}
}

// TestGather_NoHistory: before any run has loaded, the page has the
// distribution and the accounts, and says why the rest is missing.
func TestGather_NoHistory(t *testing.T) {
	t.Parallel()
	db := warehouse(t)
	execAll(t, db, "DROP TABLE main.account_health_history")
	r := gather(t, db, Options{Accounts: 200})
	if r.HasHistory || r.Moves != nil || len(r.Runs) != 0 || len(r.Lowest) != 14 || r.LeftOut() != 0 {
		t.Fatalf("history %v, moves %v, %d runs, %d accounts (%d left out); want none, none, 0, 14 (0)", r.HasHistory, r.Moves, len(r.Runs), len(r.Lowest), r.LeftOut())
	}
	page := render(t, r)
	for _, want := range []string{"No run has written health yet", "Band changes need two runs", `id="chart-distribution"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, "left out") {
		t.Error("the page says accounts were left out; all 14 are shown")
	}
}

// TestGather_OneRun: one run has bands over time but no band changes.
func TestGather_OneRun(t *testing.T) {
	t.Parallel()
	db := warehouse(t)
	exec1(t, db, "DELETE FROM main.account_health_history WHERE run_id <> $1", run3.ID)
	r := gather(t, db, Options{Accounts: 1})
	if !r.HasHistory || r.TotalRuns != 1 || r.Moves != nil {
		t.Fatalf("history %v, %d runs, moves %v; want one run and no moves", r.HasHistory, r.TotalRuns, r.Moves)
	}
	if page := render(t, r); !strings.Contains(page, "Band changes need two runs in account_health_history; it holds one") {
		t.Error("the page does not say band changes need two runs")
	}
}

// TestReport_Bounded: at 20,000 accounts and 90 runs the page holds the
// last 60 runs and 200 accounts, says what it left out, and stays small.
func TestReport_Bounded(t *testing.T) {
	t.Parallel()
	db := warehouse(t)
	execAll(t, db,
		`DELETE FROM main.account_health`,
		`DELETE FROM main.account_health_history`,
		`INSERT INTO main.account_health (account_id, account_name, conversations_90d, avg_csat, contract_value, health_score, health_band)
		 SELECT printf('b%05d', i), 'Account ' || i, i % 30, 2 + i % 4, i * 7, i % 101,
		        CASE WHEN i % 101 >= 75 THEN 'green' WHEN i % 101 >= 40 THEN 'yellow' ELSE 'red' END
		 FROM range(20000) AS r(i)`,
		`INSERT INTO main.account_health_history (run_id, recorded_at, account_id, account_name, health_score, health_band)
		 SELECT printf('run-%03d', run), TIMESTAMPTZ '2026-01-01 00:00:00+00' + run * INTERVAL 1 HOUR, account_id, account_name,
		        (health_score + run) % 101,
		        CASE WHEN (health_score + run) % 101 >= 75 THEN 'green' WHEN (health_score + run) % 101 >= 40 THEN 'yellow' ELSE 'red' END
		 FROM main.account_health, range(90) AS r(run)`,
	)
	start := time.Now()
	r := gather(t, db, Options{Accounts: DefaultAccounts})
	page := render(t, r)
	took := time.Since(start)
	if len(r.Runs) != DefaultRuns || r.TotalRuns != 90 || r.Runs[len(r.Runs)-1].RunID != "run-089" || r.Runs[0].RunID != "run-030" {
		t.Errorf("%d runs shown (%s to %s) of %d; want the last 60 of 90", len(r.Runs), r.Runs[0].RunID, r.Runs[len(r.Runs)-1].RunID, r.TotalRuns)
	}
	if len(r.Lowest) != 200 || r.LeftOut() != 19800 || len(r.Moves.Listed) != 200 {
		t.Errorf("%d accounts detailed (%d left out), %d moves listed; want 200 (19800), 200", len(r.Lowest), r.LeftOut(), len(r.Moves.Listed))
	}
	for _, want := range []string{"19800 accounts left out", fmt.Sprintf("%d more left out", r.Moves.Total-200), "the last 60 of 90 runs"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if len(page) > 1<<20 {
		t.Errorf("the page is %d bytes, want at most 1 MiB", len(page))
	}
	t.Logf("20,000 accounts, 90 runs: page of %d KiB in %v", len(page)>>10, took)
}

func TestWriteFile_ReplacesWhole(t *testing.T) {
	t.Parallel()
	r := gather(t, warehouse(t), Options{Accounts: 3})
	dir := filepath.Join(t.TempDir(), "exports")
	path := filepath.Join(dir, "report.html")
	for range 2 { // creates the directory, then replaces the file
		if err := WriteFile(path, r); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := render(t, r); string(b) != want {
		t.Error("the file differs from the rendered page")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files in %s, want the report alone (no temporary file left)", len(entries), dir)
	}
	if err := WriteFile(filepath.Join(path, "below-a-file.html"), r); err == nil {
		t.Error("WriteFile into a path below a file succeeded")
	}
}

// Runs are ordered as they started (ferry.run_order), not by the clock of
// the machine that recorded them: run 3 recorded on a machine whose clock
// is a year behind is still the last run.
func TestGather_RunsInTheOrderTheyStarted(t *testing.T) {
	t.Parallel()
	db := warehouse(t)
	execAll(t, db, `UPDATE main.account_health_history SET recorded_at = recorded_at - INTERVAL 365 DAY WHERE run_id = '`+run3.ID+`'`)
	r := gather(t, db, Options{Accounts: 3})
	if r.Moves.Previous.ID != run2.ID || r.Moves.Last.ID != run3.ID {
		t.Errorf("moves %s -> %s, want %s -> %s", r.Moves.Previous.ID, r.Moves.Last.ID, run2.ID, run3.ID)
	}
}

// An account without a score or band (a model an analyst changed) is left
// out of the buckets and the lowest accounts instead of failing the page,
// and a band missing from the history reads "none".
func TestGather_NullScoresAndBands(t *testing.T) {
	t.Parallel()
	db := warehouse(t)
	before := gather(t, db, Options{Accounts: 50})
	execAll(t, db,
		`INSERT INTO main.account_health (account_id, account_name, health_score, health_band) VALUES ('a99', 'No score', NULL, NULL)`,
		`UPDATE main.account_health_history SET health_band = NULL WHERE run_id = '`+run2.ID+`' AND account_id = 'a01'`)
	r := gather(t, db, Options{Accounts: 50})
	if r.Buckets != before.Buckets {
		t.Errorf("buckets with an unscored account %v, want %v", r.Buckets, before.Buckets)
	}
	if len(r.Lowest) != len(before.Lowest) {
		t.Errorf("%d lowest accounts, want %d", len(r.Lowest), len(before.Lowest))
	}
}
