package transform_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ferry-sync/ferry/internal/testenv"
	"github.com/ferry-sync/ferry/models"
	"github.com/ferry-sync/ferry/transform"
)

// TestModelTests: the four header tests and a custom one each pass on rows
// that keep their rule and fail on the rows that break it, naming them; a
// malformed test is an error at its file and line.
func TestModelTests(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"accounts.sql": {Data: []byte("-- materialized: table\n" +
			"SELECT * FROM (VALUES ('a1', 'green'), ('a2', 'red'), ('a3', 'red')) AS v(id, band)")},
		"people.sql": {Data: []byte("-- materialized: table\n" +
			"-- test: unique(id)\n" +
			"-- test: unique(id, account_id)\n" +
			"-- test: not_null(email)\n" +
			"-- test: accepted_values(role, 'user', 'lead, or visitor')\n" +
			"-- test: relationships(account_id, accounts.id)\n" +
			"SELECT * FROM (VALUES ('p1', 'a1', 'x@example.com', 'user'), ('p1', 'a9', NULL, 'admin'), ('p2', NULL, 'y@example.com', 'lead, or visitor')) AS v(id, account_id, email, role)")},
		"tests/red_accounts.sql": {Data: []byte("-- model: accounts\n-- description: no account is red\nSELECT id FROM accounts WHERE band = 'red'")},
	}
	ms, err := transform.Load(fsys, "models")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 {
		t.Fatalf("%d models, want 2 (tests/ holds tests, not models)", len(ms))
	}
	tests, err := transform.LoadTests(fsys, "models", nil, ms)
	if err != nil {
		t.Fatal(err)
	}
	st := testenv.OpenStore(t, t.TempDir())
	if err := transform.Build(t.Context(), st.DB, ms, transform.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	results, err := transform.RunTests(t.Context(), st.DB, tests)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		failures int64
		sample   string
	}{
		"unique(id)":             {1, "id=p1, rows=2"},
		"unique(id, account_id)": {0, ""},
		"not_null(email)":        {1, "id=p1, account_id=a9, email=NULL, role=admin"},
		"accepted_values(role, 'user', 'lead, or visitor')": {1, "value=admin, rows=1"},
		"relationships(account_id, accounts.id)":            {1, "account_id=a9"},
		"red_accounts":                                      {2, "id=a"},
	}
	if len(results) != len(want) {
		t.Fatalf("%d results, want %d: %+v", len(results), len(want), results)
	}
	for _, r := range results {
		w, ok := want[r.Name]
		if !ok {
			t.Errorf("unexpected test %q", r.Name)
			continue
		}
		if r.Failures != w.failures || (w.sample != "" && (len(r.Sample) == 0 || !strings.HasPrefix(r.Sample[0], w.sample))) {
			t.Errorf("%s: %d failures, sample %q; want %d, starting %q", r.Name, r.Failures, r.Sample, w.failures, w.sample)
		}
		if r.Name == "red_accounts" && (r.Model != "accounts" || r.At != "models/tests/red_accounts.sql") {
			t.Errorf("custom test %+v: want model accounts at its file", r)
		}
		if r.Name == "not_null(email)" && r.At != "models/people.sql:4" {
			t.Errorf("not_null at %s, want models/people.sql:4", r.At)
		}
	}

	for name, c := range map[string]struct{ header, want string }{
		"unknown test":         {"-- test: positive(id)", "models/bad.sql:2: unknown test positive"},
		"not a call":           {"-- test: unique id", "models/bad.sql:2: a test is unique(...)"},
		"unquoted value":       {"-- test: accepted_values(id, a)", "models/bad.sql:2: accepted_values: the values are quoted"},
		"bad column":           {"-- test: not_null(id; DROP)", `models/bad.sql:2: test not_null: "id; DROP" is not a column name`},
		"relationship no dot":  {"-- test: relationships(id, accounts)", `models/bad.sql:2: relationships: "accounts" is not model.column`},
		"relationship unknown": {"-- test: relationships(id, nowhere.id)", "models/bad.sql:2: test relationships(id, nowhere.id) refers to unknown model nowhere"},
	} {
		bad := fstest.MapFS{"bad.sql": {Data: []byte("-- materialized: table\n" + c.header + "\nSELECT 1 AS id")}}
		ms, err := transform.Load(bad, "models")
		if err == nil {
			_, err = transform.LoadTests(bad, "models", nil, ms)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
	orphan := fstest.MapFS{"a.sql": {Data: []byte("SELECT 1 AS id")}, "tests/t.sql": {Data: []byte("SELECT 1")}}
	ms, err = transform.Load(orphan, "models")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := transform.LoadTests(orphan, "models", nil, ms); err == nil || !strings.Contains(err.Error(), "models/tests/t.sql: a custom test names the model it tests") {
		t.Errorf("custom test without a model: err = %v", err)
	}
}

// TestModelTests_ShippedPass: the shipped models' tests load and run over
// empty raw tables (their SQL binds), and pass there.
func TestModelTests_ShippedPass(t *testing.T) {
	t.Parallel()
	st, p, ms := buildShippedOverEmptyRaw(t)
	tests, err := transform.LoadTests(models.FS, "models", transform.PipelineVars(p), ms)
	if err != nil {
		t.Fatal(err)
	}
	if len(tests) < 5 {
		t.Fatalf("%d shipped tests, want the account_health and identity ones at least", len(tests))
	}
	results, err := transform.RunTests(t.Context(), st.DB, tests)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Failures != 0 {
			t.Errorf("%s %s failed over empty data: %v", r.Model, r.Name, r.Sample)
		}
	}
}
