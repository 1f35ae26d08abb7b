package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/cli"
	"github.com/ferry-sync/ferry/internal/duck"
	"github.com/ferry-sync/ferry/internal/state"
	"github.com/ferry-sync/ferry/internal/testenv"
)

// TestReport_NotBuilt: on a data dir whose models were never built, ferry
// report exits 1 saying to run ferry first, and writes no page.
func TestReport_NotBuilt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := state.Open(t.Context(), dir) // a warehouse with state, no models
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	r := ferry(t, testenv.Env(nil), "report", "--data-dir", dir)
	if r.code != cli.ExitFailure || !strings.Contains(r.stderr, "no account_health in the warehouse; run `ferry run` (or `ferry transform`) first") {
		t.Fatalf("exit %d, stderr %q; want 1 and to run ferry first", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "exports")); !os.IsNotExist(err) {
		t.Errorf("exports exists after a failed report (%v): want nothing written", err)
	}

	missing := filepath.Join(dir, "nothing-here")
	r = ferry(t, testenv.Env(nil), "report", "--data-dir", missing)
	if r.code != cli.ExitFailure || !strings.Contains(r.stderr, "no warehouse at "+filepath.Join(missing, "warehouse.duckdb")+": run `ferry run`") {
		t.Fatalf("no data dir: exit %d, stderr %q; want 1, no warehouse", r.code, r.stderr)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("the report created the missing data dir (%v)", err)
	}
	if r := ferry(t, testenv.Env(nil), "report", "--data-dir", dir, "--accounts", "-1"); r.code != cli.ExitUsage {
		t.Errorf("--accounts -1: exit %d, want %d", r.code, cli.ExitUsage)
	}
}

// TestReport_WritesPage: on a warehouse with account_health and its
// history, ferry report writes the page to --out, leaves the warehouse as
// it was, and refuses while another ferry process holds the data dir.
func TestReport_WritesPage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "warehouse.duckdb")
	db, err := duck.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		`CREATE SCHEMA config`,
		`CREATE TABLE config.settings AS SELECT * FROM (VALUES ('health_green', '70'), ('health_yellow', '40')) AS s(key, value)`,
		`CREATE TABLE config.health_components AS SELECT 'avg_csat' AS component, 1.0 AS weight, 2.0 AS bad, 5.0 AS good`,
		`CREATE TABLE main.account_health AS SELECT * FROM (VALUES
			('001A', 'Acme', TIMESTAMPTZ '2026-03-03 00:00:00+00', 4.5, 83.0, 'green'),
			('001B', 'Bolt', TIMESTAMPTZ '2026-03-03 00:00:00+00', 2.3, 10.0, 'red'))
			AS h(account_id, account_name, as_of, avg_csat, health_score, health_band)`,
		`CREATE TABLE main.account_health_history AS
			SELECT 'run-1' AS run_id, TIMESTAMPTZ '2026-03-02 00:00:00+00' AS recorded_at, account_id, account_name, as_of, avg_csat, health_score, 'yellow' AS health_band FROM main.account_health
			UNION ALL
			SELECT 'run-2', TIMESTAMPTZ '2026-03-03 00:00:00+00', * FROM main.account_health`,
		`CREATE SCHEMA ferry`,
		`CREATE TABLE ferry.run_order AS SELECT * FROM (VALUES ('run-1', 1), ('run-2', 2)) AS o(run_id, seq)`,
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	db.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "finance", "health.html")
	r := ferry(t, testenv.Env(nil), "report", "--data-dir", dir, "--out", out, "--accounts", "1")
	if r.code != cli.ExitOK || !strings.Contains(r.stdout, "wrote "+out+": 2 accounts (1 detailed, 1 left out), runs in the history: 2") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	page, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`id="chart-distribution"`, `id="chart-history"`, `id="chart-moves"`, "<b>2</b> accounts changed band", ">Bolt <span", "1 account left out"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(before, after) {
		t.Errorf("the warehouse file changed (%v): the report must leave it as it was", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "warehouse.duckdb" && e.Name() != "ferry.lock" {
			t.Errorf("the report left %s in the data dir", e.Name())
		}
	}

	lock, err := state.Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	r = ferry(t, testenv.Env(nil), "report", "--data-dir", dir, "--out", out)
	if r.code != cli.ExitFailure || !strings.Contains(r.stderr, "cannot read the warehouse while a run is in progress: data dir is in use by another ferry process") {
		t.Fatalf("with the data dir locked: exit %d, stderr %q", r.code, r.stderr)
	}
}

// The default --out is the exports directory, beside the Parquet exports.
func TestReport_DefaultOut(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if code := cli.Run(context.Background(), []string{"report", "--help"}, &out, &errb, testenv.Env(nil)); code != cli.ExitOK ||
		!strings.Contains(out.String(), "default <data-dir>/exports/report.html") {
		t.Fatalf("ferry report --help: exit %d\n%s%s", code, out.String(), errb.String())
	}
}
