package report

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/internal/duck"
)

// hostile is an account name that would run a script if printed raw.
const hostile = `<script>alert("pwn")</script> & <img src=x onerror=alert(1)>`

// The history's runs, oldest first.
var (
	run1 = Run{"0195a000-0000-7000-8000-000000000001", time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)}
	run2 = Run{"0195a000-0000-7000-8000-000000000002", time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)}
	run3 = Run{"0195a000-0000-7000-8000-000000000003", time.Date(2026, 3, 3, 6, 0, 0, 0, time.UTC)}
)

// scored is an account's score and band in account_health or in one run of
// the history.
type scored struct {
	id    string
	score float64
	band  string
}

// current is account_health (band thresholds: green from 75, yellow from
// 40). By bucket: 0-9 two red, 10-19 one red, 20-29 one red, 30-39 one
// red, 40-49 two yellow, 50-59 one yellow, 60-69 one yellow, 70-79 one
// yellow and one green, 80-89 one green, 90-100 two green.
var current = []scored{
	{"a01", 3, Red}, {"a02", 8, Red}, {"a03", 15, Red}, {"a04", 22, Red}, {"a05", 39, Red},
	{"a06", 40, Yellow}, {"a07", 47, Yellow}, {"a08", 52, Yellow}, {"a09", 66, Yellow}, {"a10", 70, Yellow},
	{"a11", 78, Green}, {"a12", 88, Green}, {"a13", 95, Green}, {"a14", 100, Green},
}

// history is account_health_history by run. Run 3 is current. From run 2
// to run 3: a03 green -> red, a02 and a05 yellow -> red, a10 green ->
// yellow, a11 yellow -> green; a15 was deleted and a14 is new (neither is
// a move).
var history = map[Run][]scored{
	// 1 red, 7 yellow, 6 green.
	run1: {
		{"a01", 10, Red}, {"a02", 45, Yellow}, {"a03", 80, Green}, {"a04", 50, Yellow}, {"a05", 45, Yellow},
		{"a06", 45, Yellow}, {"a07", 50, Yellow}, {"a08", 55, Yellow}, {"a09", 60, Yellow}, {"a10", 80, Green},
		{"a11", 85, Green}, {"a12", 90, Green}, {"a13", 90, Green}, {"a14", 95, Green},
	},
	// 3 red, 7 yellow, 4 green.
	run2: {
		{"a01", 5, Red}, {"a02", 41, Yellow}, {"a03", 76, Green}, {"a04", 30, Red}, {"a05", 45, Yellow},
		{"a06", 42, Yellow}, {"a07", 48, Yellow}, {"a08", 50, Yellow}, {"a09", 64, Yellow}, {"a10", 80, Green},
		{"a11", 60, Yellow}, {"a12", 85, Green}, {"a13", 96, Green}, {"a15", 12, Red},
	},
	run3: current,
}

// names are the account names; the rest are "Account <id>".
var names = map[string]string{"a03": hostile}

func name(id string) string {
	if n, ok := names[id]; ok {
		return n
	}
	return "Account " + id
}

// warehouse is an in-memory DuckDB with the tables ferry report reads:
// config.settings, config.health_components (three components),
// main.account_health (current, with one column that is no component) and
// main.account_health_history (history), as the models and runs make them.
func warehouse(t testing.TB) *sql.DB {
	t.Helper()
	db, err := duck.Open("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	execAll(t, db,
		`CREATE SCHEMA config`,
		`CREATE TABLE config.settings (key VARCHAR PRIMARY KEY, value VARCHAR)`,
		`INSERT INTO config.settings VALUES ('health_green', '75'), ('health_yellow', '40'), ('other', 'x')`,
		`CREATE TABLE config.health_components (component VARCHAR PRIMARY KEY, weight DOUBLE, bad DOUBLE, good DOUBLE)`,
		`INSERT INTO config.health_components VALUES ('conversations_90d', 10, 30, 0), ('avg_csat', 30, 2, 5), ('contract_value', 10, 0, 100000)`,
		`CREATE TABLE main.account_health (account_id VARCHAR, account_name VARCHAR, company_intercom_id VARCHAR, as_of TIMESTAMPTZ,
			conversations_90d DOUBLE, open_conversations DOUBLE, avg_csat DOUBLE, contract_value DOUBLE, health_score DOUBLE, health_band VARCHAR)`,
	)
	asOf := time.Date(2026, 3, 3, 5, 30, 0, 0, time.UTC)
	for i, a := range current {
		// a01: 25 conversations (1/6 of the way to good), no CSAT, 5,000 of
		// contract (1/20); the others have all three.
		conv, csat, contract := any(float64(i)), any(3.5), any(float64(20000*i))
		if a.id == "a01" {
			conv, csat, contract = 25.0, nil, 5000.0
		}
		exec1(t, db, `INSERT INTO main.account_health VALUES ($1, $2, 'ic-'||$1, $3, $4, 1, $5, $6, $7, $8)`,
			a.id, name(a.id), asOf, conv, csat, contract, a.score, a.band)
	}
	// As CreateHealthHistory and AppendHealthHistory (sql/state/queries.sql) make it.
	execAll(t, db, `CREATE TABLE main.account_health_history AS
		SELECT CAST(NULL AS VARCHAR) AS run_id, CAST(NULL AS TIMESTAMPTZ) AS recorded_at, * FROM main.account_health WHERE false`)
	for run, rows := range history {
		for _, a := range rows {
			exec1(t, db, `INSERT INTO main.account_health_history (run_id, recorded_at, account_id, account_name, health_score, health_band)
				VALUES ($1, $2, $3, $4, $5, $6)`, run.ID, run.At, a.id, name(a.id), a.score, a.band)
		}
	}
	// Runs are numbered in the order they start (sql/state/004).
	execAll(t, db, `CREATE SCHEMA IF NOT EXISTS ferry`,
		`CREATE TABLE ferry.run_order AS SELECT run_id, row_number() OVER (ORDER BY min(recorded_at), run_id) AS seq FROM main.account_health_history GROUP BY run_id`)
	return db
}

func execAll(t testing.TB, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		exec1(t, db, s)
	}
}

func exec1(t testing.TB, db *sql.DB, stmt string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), stmt, args...); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// gather runs Gather on db with opt, failing the test on an error.
func gather(t testing.TB, db *sql.DB, opt Options) *Report {
	t.Helper()
	if opt.Now.IsZero() {
		opt.Now = time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)
	}
	r, err := Gather(context.Background(), db, opt)
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	return r
}
