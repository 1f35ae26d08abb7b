package transform_test

import (
	"testing"

	"github.com/ferry-sync/ferry/internal/duck"
	"github.com/ferry-sync/ferry/transform"
)

// TestInputs_FingerprintsWhatModelsRead: the fingerprint changes with any
// value of a table models read and with a model's SQL; it ignores tables
// models do not name, lineage columns, and row order; and a model that reads
// the clock or landing files has none (every run builds).
func TestInputs_FingerprintsWhatModelsRead(t *testing.T) {
	t.Parallel()
	db, err := duck.Open(t.TempDir() + "/w.duckdb")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"CREATE SCHEMA raw", "CREATE SCHEMA config", "CREATE SCHEMA ferry",
		"CREATE TABLE raw.things (_run_id VARCHAR, _extracted_at TIMESTAMPTZ, id VARCHAR, name VARCHAR, size BIGINT)",
		"INSERT INTO raw.things VALUES ('r1', now(), 'a', 'Ada', 1), ('r1', now(), 'b', 'Bo', 2)",
		"CREATE TABLE config.settings (key VARCHAR, value VARCHAR)",
		"INSERT INTO config.settings VALUES ('k', 'v')",
		"CREATE TABLE ferry.snapshot (k VARCHAR)",
		"CREATE TABLE ferry.other (k VARCHAR)",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	models := []transform.Model{{Name: "m", Materialized: "table", SQL: "SELECT * FROM raw.things LEFT JOIN ferry.snapshot ON true"}}
	fp := func(ms []transform.Model) string {
		t.Helper()
		s, err := transform.Inputs(t.Context(), db, ms)
		if err != nil {
			t.Fatal(err)
		}
		return s.Inputs
	}
	exec := func(q string) {
		t.Helper()
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	base := fp(models)
	if base == "" || fp(models) != base {
		t.Fatalf("fingerprint empty or unstable: %q", base)
	}
	same := func(what string) {
		t.Helper()
		if got := fp(models); got != base {
			t.Errorf("%s changed the fingerprint", what)
		}
	}
	differs := func(what string, undo string) {
		t.Helper()
		if fp(models) == base {
			t.Errorf("%s did not change the fingerprint", what)
		}
		exec(undo)
		if fp(models) != base {
			t.Errorf("undoing %s did not restore the fingerprint", what)
		}
	}
	exec("UPDATE raw.things SET _run_id = 'r2', _extracted_at = now() + INTERVAL 1 HOUR")
	same("a re-read of the same content (new lineage)")
	exec("CREATE OR REPLACE TABLE raw.things AS SELECT * FROM raw.things ORDER BY id DESC")
	same("the same rows in another order")
	exec("INSERT INTO ferry.other VALUES ('x')")
	same("a ferry table no model names")
	// Values swapped between rows keep each column's multiset.
	exec("UPDATE raw.things SET size = CASE id WHEN 'a' THEN 2 ELSE 1 END")
	differs("values swapped between two records", "UPDATE raw.things SET size = CASE id WHEN 'a' THEN 1 ELSE 2 END")
	exec("UPDATE raw.things SET name = 'Adah' WHERE id = 'a'")
	differs("one changed value", "UPDATE raw.things SET name = 'Ada' WHERE id = 'a'")
	exec("INSERT INTO config.settings VALUES ('k', 'v')")
	differs("a duplicated settings row", "DELETE FROM config.settings; INSERT INTO config.settings VALUES ('k', 'v')")
	exec("INSERT INTO ferry.snapshot VALUES ('s')")
	differs("a row in a ferry table a model names", "DELETE FROM ferry.snapshot")
	if got := fp([]transform.Model{{Name: "m", Materialized: "table", SQL: models[0].SQL + " WHERE size > 1"}}); got == base {
		t.Error("a model's SQL change did not change the fingerprint")
	}
	for _, q := range []string{"SELECT now() AS t", "SELECT * FROM raw.things WHERE size < random()", "SELECT * FROM landing.things"} {
		if got := fp([]transform.Model{{Name: "m", Materialized: "table", SQL: q}}); got != "" {
			t.Errorf("%q: fingerprint %q, want none", q, got)
		}
	}
	if got := fp([]transform.Model{{Name: "m", Materialized: "table", SQL: "SELECT 'now() is a string' AS s"}}); got == "" {
		t.Error("a clock function inside a string literal disabled the fingerprint")
	}
}
