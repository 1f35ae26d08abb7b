package cli_test

import (
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/duck"
	"github.com/ferry-sync/ferry/internal/testenv"
)

// TestRun_HealthScores: each Account gets the score and band of
// account_health in Salesforce and on its Intercom company; history grows by
// one row per account per run; both tables are exported as Parquet, the
// history a file per run.
func TestRun_HealthScores(t *testing.T) {
	t.Parallel()
	emu, dir, run := setup(t, 300)
	mustRun(t, run)
	res := mustRun(t, run)
	db, err := duck.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	scores := map[string]string{}
	rows, err := db.Query(fmt.Sprintf("SELECT account_id, health_score, health_band, company_intercom_id FROM read_parquet('%s')", filepath.Join(dir, "exports", "account_health.parquet")))
	if err != nil {
		t.Fatal(err)
	}
	companies := map[string]string{}
	bands := map[string]int{}
	for rows.Next() {
		var id, band string
		var score float64
		var company sql.NullString
		rows.Scan(&id, &score, &band, &company)
		scores[id] = fmt.Sprintf("%g/%s", score, band)
		bands[band]++
		if company.Valid {
			companies[company.String] = fmt.Sprintf("%g/%s", score, band)
		}
	}
	rows.Close()
	if len(scores) < 50 || len(bands) < 2 {
		t.Fatalf("%d accounts scored, bands %v: want a spread", len(scores), bands)
	}
	for _, a := range emu.SOQL("SELECT Id, Health_Score__c, Health_Band__c FROM Account") {
		want, ok := scores[testenv.Str(a, "Id")]
		if !ok {
			continue
		}
		if got := testenv.Str(a, "Health_Score__c") + "/" + testenv.Str(a, "Health_Band__c"); got != want {
			t.Errorf("Account %s health %s, account_health says %s", testenv.Str(a, "Id"), got, want)
		}
	}
	checked := 0
	for id, want := range companies {
		if checked == 20 {
			break
		}
		_, b := emu.ICDo(http.MethodGet, "/companies/"+id, nil)
		score, band := strings.Split(want, "/")[0], strings.Split(want, "/")[1]
		if !strings.Contains(string(b), `"health_score":`+score) || !strings.Contains(string(b), `"health_band":"`+band+`"`) {
			t.Errorf("intercom company %s lacks health %s: %s", id, want, b)
		}
		checked++
	}
	// The history is a file per run, holding that run's rows.
	history := filepath.Join(dir, "exports", "account_health_history")
	checkHistory := func(wantRuns int) []string {
		t.Helper()
		files, err := filepath.Glob(filepath.Join(history, "*.parquet"))
		if err != nil || len(files) != wantRuns {
			t.Fatalf("history files %v (%v), want %d", files, err, wantRuns)
		}
		for _, f := range files {
			var runs, n int
			var id string
			q := fmt.Sprintf("SELECT count(DISTINCT run_id), count(*), any_value(run_id) FROM read_parquet('%s')", f)
			if err := db.QueryRow(q).Scan(&runs, &n, &id); err != nil || runs != 1 || n != len(scores) || id+".parquet" != filepath.Base(f) {
				t.Fatalf("%s: %d runs (%s) of %d rows (%v), want its run's %d", f, runs, id, n, err, len(scores))
			}
		}
		return files
	}
	files := checkHistory(2)
	// A run whose export failed after its commit (no file, not recorded as
	// exported) is written by the next run; one already written is not
	// written again; the single file of the whole history that ferry wrote
	// before goes.
	if err := os.Remove(files[0]); err != nil {
		t.Fatal(err)
	}
	wh, err := duck.Open(filepath.Join(dir, "warehouse.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wh.Exec("DELETE FROM ferry.history_exports WHERE run_id = $1", strings.TrimSuffix(filepath.Base(files[0]), ".parquet")); err != nil {
		t.Fatal(err)
	}
	wh.Close()
	before, err := os.Stat(files[1])
	if err != nil {
		t.Fatal(err)
	}
	legacy := history + ".parquet"
	if err := os.WriteFile(legacy, []byte("PAR1"), 0o644); err != nil {
		t.Fatal(err)
	}
	third := mustRun(t, run)
	if got := checkHistory(3); got[0] != files[0] {
		t.Fatalf("history files %v: %s not written again", got, files[0])
	}
	if after, err := os.Stat(files[1]); err != nil || !after.ModTime().Equal(before.ModTime()) {
		t.Fatalf("%s written again (%v)", files[1], err)
	}
	if _, err := os.Stat(legacy); !os.IsNotExist(err) {
		t.Fatalf("the single history file is still there: %v", err)
	}
	if !strings.Contains(third.stdout, "nothing: both systems agree") {
		t.Fatalf("third run wrote:\n%s", third.stdout)
	}
	if !strings.Contains(res.stdout, "nothing: both systems agree") {
		t.Fatalf("second run wrote health again:\n%s", res.stdout)
	}
}
