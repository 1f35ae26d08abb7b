package transform_test

import (
	"database/sql"
	"errors"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ferry-sync/ferry/internal/config"
	"github.com/ferry-sync/ferry/internal/duck"
	"github.com/ferry-sync/ferry/internal/state"
	"github.com/ferry-sync/ferry/internal/testenv"
	"github.com/ferry-sync/ferry/models"
	"github.com/ferry-sync/ferry/transform"
)

// TestModels_BuildOverEmptyRaw builds every shipped model in dependency
// order over zero-row raw views, so syntax and binder errors fail fast.
func TestModels_BuildOverEmptyRaw(t *testing.T) {
	t.Parallel()
	st, _, _ := buildShippedOverEmptyRaw(t)
	for _, want := range []string{"sf_updates", "intercom_updates", "sf_lead_creates", "intercom_contact_creates", "identity_ambiguous"} {
		var n int
		if err := st.DB.QueryRow("SELECT count(*) FROM main." + want).Scan(&n); err != nil {
			t.Errorf("model %s not built: %v", want, err)
		}
	}
}

// buildShippedOverEmptyRaw builds every shipped model of the example
// pipeline over zero-row raw tables, and returns the store, the pipeline
// and the models.
func buildShippedOverEmptyRaw(t *testing.T) (*state.Store, *config.Pipeline, []transform.Model) {
	t.Helper()
	dir := t.TempDir()
	st := testenv.OpenStore(t, dir)
	p := testenv.Pipeline(t, testenv.Env(nil))
	if err := transform.Prepare(t.Context(), st.DB, dir+"/landing", p); err != nil {
		t.Fatal(err)
	}
	ms, err := transform.LoadVars(models.FS, "models", transform.PipelineVars(p), transform.RuleModels(p)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := transform.Build(t.Context(), st.DB, ms, transform.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	return st, p, ms
}

func TestLoad_OrdersByReference(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"a/c.sql": {Data: []byte("SELECT * FROM b")},
		"b.sql":   {Data: []byte("-- materialized: view\nSELECT * FROM a")},
		"a.sql":   {Data: []byte("SELECT 1 AS x -- not c")},
	}
	ms, err := transform.Load(fsys, "models")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	if got, want := strings.Join(names, ","), "a,b,c"; got != want {
		t.Fatalf("order = %s, want %s", got, want)
	}
	if ms[1].Materialized != "view" {
		t.Errorf("b materialized = %s, want view", ms[1].Materialized)
	}
}

func TestLoad_Errors(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		fs   fstest.MapFS
		want string
	}{
		"unknown header": {fstest.MapFS{"x.sql": {Data: []byte("-- owner: me\nSELECT 1")}}, `models/x.sql:1: unknown header key "owner"`},
		"cycle":          {fstest.MapFS{"x.sql": {Data: []byte("SELECT * FROM y")}, "y.sql": {Data: []byte("SELECT * FROM x")}}, "dependency cycle"},
		"two statements": {fstest.MapFS{"x.sql": {Data: []byte("SELECT 1; DROP TABLE y")}}, "single SELECT"},
		"bad name":       {fstest.MapFS{"X-1.sql": {Data: []byte("SELECT 1")}}, "model names must match"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := transform.Load(tc.fs, "models")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestBuild_BrokenModelNamesFileAndRollsBack(t *testing.T) {
	t.Parallel()
	db, err := duck.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, err := transform.Load(fstest.MapFS{
		"good.sql":      {Data: []byte("SELECT 1 AS x")},
		"marts/bad.sql": {Data: []byte("SELECT no_such_column FROM good")},
	}, "models")
	if err != nil {
		t.Fatal(err)
	}
	err = transform.Build(t.Context(), db, ms, transform.BuildOptions{})
	var me *transform.ModelError
	if !errors.As(err, &me) || me.Model.Path != "models/marts/bad.sql" || !strings.Contains(err.Error(), "no_such_column") {
		t.Fatalf("err = %v, want a ModelError for models/marts/bad.sql naming the column", err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM information_schema.tables WHERE table_name = 'good'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("good was left built (n=%d, err=%v); the failed build must roll back", n, err)
	}
}

// TestBuild_PublishesGenerations: models are published as views of one
// generation; a later build without a model removes its view, and a failed
// build leaves the published generation readable.
func TestBuild_PublishesGenerations(t *testing.T) {
	t.Parallel()
	db, err := duck.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	build := func(fs fstest.MapFS) error {
		ms, err := transform.Load(fs, "models")
		if err != nil {
			t.Fatal(err)
		}
		return transform.Build(t.Context(), db, ms, transform.BuildOptions{})
	}
	if err := build(fstest.MapFS{"a.sql": {Data: []byte("SELECT 1 AS x")}, "b.sql": {Data: []byte("SELECT x + 1 AS y FROM a")}}); err != nil {
		t.Fatal(err)
	}
	if err := build(fstest.MapFS{"a.sql": {Data: []byte("SELECT 2 AS x")}}); err != nil {
		t.Fatal(err)
	}
	var x int
	if err := db.QueryRow("SELECT x FROM main.a").Scan(&x); err != nil || x != 2 {
		t.Fatalf("main.a = %d, %v; want the new generation's 2", x, err)
	}
	if err := db.QueryRow("SELECT y FROM main.b").Scan(&x); err == nil {
		t.Fatal("main.b still exists after its model was removed")
	}
	if err := build(fstest.MapFS{"a.sql": {Data: []byte("SELECT nope")}}); err == nil {
		t.Fatal("broken model built")
	}
	if err := db.QueryRow("SELECT x FROM main.a").Scan(&x); err != nil || x != 2 {
		t.Fatalf("after a failed build main.a = %d, %v; want the published 2", x, err)
	}
	var schemas int
	db.QueryRow("SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'build%'").Scan(&schemas)
	if schemas != 1 {
		t.Fatalf("%d generation schemas left, want 1", schemas)
	}
}

// TestLoad_IncrementalModelsMustBeTrackable: an incremental model names its
// record ids and reads only what ferry tracks changes of.
func TestLoad_IncrementalModelsMustBeTrackable(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		fs   fstest.MapFS
		want string
	}{
		{"no record ids", fstest.MapFS{"m.sql": {Data: []byte("-- materialized: incremental\nSELECT id FROM raw.x")}}, "names its record_ids"},
		{"reads an untracked table", fstest.MapFS{
			"a.sql": {Data: []byte("SELECT id FROM raw.x")},
			"m.sql": {Data: []byte("-- materialized: incremental\n-- record_ids: id\nSELECT id FROM a")},
		}, "reads a (models/a.sql), whose changes ferry cannot track"},
		{"reads a view", fstest.MapFS{
			"a.sql": {Data: []byte("-- materialized: view\nSELECT id FROM raw.x")},
			"m.sql": {Data: []byte("-- materialized: incremental\n-- record_ids: id\nSELECT id FROM a")},
		}, "whose changes ferry cannot track"},
		{"reads the ledger", fstest.MapFS{"m.sql": {Data: []byte("-- materialized: incremental\n-- record_ids: id\nSELECT record_key AS id FROM ferry.ledger")}}, "reads ferry.ledger"},
		{"bad column name", fstest.MapFS{"m.sql": {Data: []byte("-- materialized: incremental\n-- record_ids: id, Bad-Name\nSELECT id FROM raw.x")}}, "models/m.sql:2: record_ids lists column names"},
	} {
		_, err := transform.Load(c.fs, "models")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, err, c.want)
		}
	}
	ok := fstest.MapFS{
		"a.sql": {Data: []byte("-- record_ids: id\nSELECT id FROM raw.x")},
		"b.sql": {Data: []byte("-- materialized: incremental\n-- record_ids: id\nSELECT id FROM raw.x LEFT JOIN ferry.snapshot ON false")},
		"m.sql": {Data: []byte("-- materialized: incremental\n-- record_ids: id\nSELECT id FROM a UNION ALL SELECT id FROM b")},
	}
	if _, err := transform.Load(ok, "models"); err != nil {
		t.Errorf("models that read tracked tables: %v", err)
	}
}

// TestLoadVars: {{ var('name') }} becomes the pipeline's field name as a
// quoted identifier; an unknown name or any other template is refused at
// its file and line.
func TestLoadVars(t *testing.T) {
	t.Parallel()
	vars := transform.Vars{"people_external_id": `Odd"Name__c`}
	ms, err := transform.LoadVars(fstest.MapFS{"m.sql": {Data: []byte("-- materialized: table\nSELECT {{ var('people_external_id') }} AS a, {{var(\"people_external_id\")}} AS b FROM raw.x")}}, "models", vars)
	if err != nil {
		t.Fatal(err)
	}
	if want := `SELECT "Odd""Name__c" AS a, "Odd""Name__c" AS b FROM raw.x`; ms[0].SQL != want {
		t.Fatalf("bound SQL %q, want %q", ms[0].SQL, want)
	}
	for src, want := range map[string]string{
		"SELECT 1 AS a\nFROM {{ var('nope') }}":    "models/m.sql:2: {{ var('nope') }}: no such variable (known: people_external_id)",
		"SELECT 1\n\nWHERE {{ ref('other') }} = 1": "models/m.sql:3: {{ ref('other') }}: the only template a model may hold is {{ var('name') }}",
	} {
		_, err := transform.LoadVars(fstest.MapFS{"m.sql": {Data: []byte(src)}}, "models", vars)
		if err == nil || err.Error() != want {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
}

// fixture opens a fresh warehouse, runs setup and loads models (file name
// → SQL) for a Build test.
func fixture(t *testing.T, setup string, models map[string]string) (*sql.DB, []transform.Model) {
	t.Helper()
	db, err := duck.Open(t.TempDir() + "/w.duckdb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(setup); err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	for name, text := range models {
		fsys[name] = &fstest.MapFile{Data: []byte(text)}
	}
	ms, err := transform.Load(fsys, "models")
	if err != nil {
		t.Fatal(err)
	}
	return db, ms
}

// TestBuild_IncrementalInPlaceRollsBack: an incremental build changes the
// published incremental table in place when it publishes; a model failing
// after it leaves the published rows as they were, and the next build
// applies the change.
func TestBuild_IncrementalInPlaceRollsBack(t *testing.T) {
	t.Parallel()
	db, ms := fixture(t, `CREATE SCHEMA raw; CREATE TABLE raw.x (id VARCHAR, v VARCHAR); INSERT INTO raw.x VALUES ('1', '10'), ('2', '20'), ('3', '30')`, map[string]string{
		"a.sql": "-- materialized: incremental\n-- record_ids: id\nSELECT id, v FROM raw.x WHERE NOT is_incremental() OR changed(id)",
		"b.sql": "SELECT id, CAST(v AS INTEGER) AS n FROM a",
	})
	published := func() string {
		t.Helper()
		var s string
		if err := db.QueryRow(`SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM main.a`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	var incremental []string
	opt := transform.BuildOptions{Took: func(m transform.Model, _ time.Duration, inc bool) {
		if inc {
			incremental = append(incremental, m.Name)
		}
	}}
	if err := transform.Build(t.Context(), db, ms, opt); err != nil {
		t.Fatal(err)
	}
	// Only id 1 is reported changed: id 3's new value must not be read.
	db.Exec(`UPDATE raw.x SET v = 'boom' WHERE id = '1'; UPDATE raw.x SET v = '31' WHERE id = '3'`)
	opt.Changed = "SELECT '1'"
	if err := transform.Build(t.Context(), db, ms, opt); err == nil || !strings.Contains(err.Error(), "models/b.sql") {
		t.Fatalf("err = %v, want model b to fail", err)
	}
	if got := published(); got != "1=10,2=20,3=30" {
		t.Fatalf("after a failed incremental build main.a = %s, want the old rows", got)
	}
	db.Exec(`UPDATE raw.x SET v = '11' WHERE id = '1'`)
	if err := transform.Build(t.Context(), db, ms, opt); err != nil {
		t.Fatal(err)
	}
	if got := published(); got != "1=11,2=20,3=30" {
		t.Fatalf("after an incremental build main.a = %s, want only id 1 replaced", got)
	}
	if strings.Join(incremental, ",") != "a,a" {
		t.Errorf("incremental builds of a: %v, want one in each incremental build", incremental)
	}
	var n int
	db.QueryRow(`SELECT sum(n) FROM main.b`).Scan(&n)
	if n != 61 {
		t.Errorf("main.b sums to %d, want 61 (built over the new a)", n)
	}
}

// TestBuild_IncrementalDeltaUsesItsOwnChanges: ids a table model reports
// changed after an incremental model was built are applied to the models
// after it, never to that one: its delta was computed without them, so
// deleting their rows from it would lose them.
func TestBuild_IncrementalDeltaUsesItsOwnChanges(t *testing.T) {
	t.Parallel()
	db, ms := fixture(t, `CREATE SCHEMA raw;
CREATE TABLE raw.x (id VARCHAR, v VARCHAR); INSERT INTO raw.x VALUES ('1', 'a'), ('2', 'b'), ('3', 'c');
CREATE TABLE raw.y (id VARCHAR, w VARCHAR); INSERT INTO raw.y VALUES ('1', 'p'), ('2', 'q'), ('3', 'r')`, map[string]string{
		"a.sql": "-- materialized: incremental\n-- record_ids: id\nSELECT id, v FROM raw.x WHERE NOT is_incremental() OR changed(id)",
		"t.sql": "-- materialized: table\n-- record_ids: id\n-- depends_on: a\nSELECT id, w FROM raw.y",
		"c.sql": "-- materialized: incremental\n-- record_ids: id\nSELECT a.id, a.v, t.w FROM a JOIN t USING (id) WHERE NOT is_incremental() OR changed(a.id)",
	})
	if err := transform.Build(t.Context(), db, ms, transform.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	// The change feed names id 1 (raw.x); t's diff adds id 2 (raw.y).
	db.Exec(`UPDATE raw.x SET v = 'A' WHERE id = '1'; UPDATE raw.y SET w = 'Q' WHERE id = '2'`)
	if err := transform.Build(t.Context(), db, ms, transform.BuildOptions{Changed: "SELECT '1'"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ query, want string }{
		{`SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM main.a`, "1=A,2=b,3=c"},
		{`SELECT string_agg(id || '=' || v || w, ',' ORDER BY id) FROM main.c`, "1=Ap,2=bQ,3=cr"},
	} {
		var got string
		if err := db.QueryRow(c.query).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s = %s, want %s", c.query, got, c.want)
		}
	}
}

// TestBuild_IncrementalReportsItsRecordIDs: the record ids of the rows an
// incremental model changes count as changed for the models after it, old
// values and new: a record moved from one group to another updates both
// groups' rows in a model keyed on the group.
func TestBuild_IncrementalReportsItsRecordIDs(t *testing.T) {
	t.Parallel()
	db, ms := fixture(t, `CREATE SCHEMA raw;
CREATE TABLE raw.x (id VARCHAR, grp VARCHAR); INSERT INTO raw.x VALUES ('1', 'g1'), ('2', 'g1'), ('3', 'g2'), ('4', 'g3')`, map[string]string{
		"a.sql": "-- materialized: incremental\n-- record_ids: id, grp\nSELECT id, grp FROM raw.x",
		"b.sql": "-- materialized: incremental\n-- record_ids: grp\nSELECT grp, count(*) AS n FROM a WHERE NOT is_incremental() OR changed(grp) GROUP BY grp",
	})
	if err := transform.Build(t.Context(), db, ms, transform.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	db.Exec(`UPDATE raw.x SET grp = 'g2' WHERE id = '1'`)
	if err := transform.Build(t.Context(), db, ms, transform.BuildOptions{Changed: "SELECT '1'"}); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := db.QueryRow(`SELECT string_agg(grp || '=' || n, ',' ORDER BY grp) FROM main.b`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if want := "g1=1,g2=2,g3=1"; got != want {
		t.Errorf("main.b = %s, want %s", got, want)
	}
}

// TestBuild_IncrementalNeverDeletesFromItsBase: incremental builds leave
// the rows a full build wrote untouched (their superseded ids and the
// replacing rows live beside them), read as the model's rows; past
// CompactAt the model's rows become one table again.
func TestBuild_IncrementalNeverDeletesFromItsBase(t *testing.T) {
	t.Parallel()
	db, ms := fixture(t, `CREATE SCHEMA raw;
CREATE TABLE raw.x (id VARCHAR, v VARCHAR); INSERT INTO raw.x SELECT CAST(i AS VARCHAR), 'v' || i FROM range(100) t(i)`, map[string]string{
		"a.sql": "-- materialized: incremental\n-- record_ids: id\nSELECT id, v FROM raw.x WHERE NOT is_incremental() OR changed(id)",
	})
	query := func(q string) string {
		t.Helper()
		var got string
		if err := db.QueryRow(q).Scan(&got); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return got
	}
	rows := `SELECT count(*) || ' ' || sum(hash(id, v)) FROM main.a`
	bases := `SELECT count(*) FROM duckdb_tables() WHERE table_name = 'a$base'`
	build := func(changed string, compactAt float64) {
		t.Helper()
		if err := transform.Build(t.Context(), db, ms, transform.BuildOptions{Changed: changed, CompactAt: compactAt}); err != nil {
			t.Fatal(err)
		}
	}
	build("", 0)
	// Three edits, a delete and a create, in two builds; the second edits
	// a record the first already replaced.
	db.Exec(`UPDATE raw.x SET v = 'w' WHERE id IN ('1', '2'); DELETE FROM raw.x WHERE id = '3'`)
	build("SELECT unnest(['1', '2', '3'])", 0.5)
	db.Exec(`UPDATE raw.x SET v = 'z' WHERE id = '1'; INSERT INTO raw.x VALUES ('100', 'new')`)
	build("SELECT unnest(['1', '100'])", 0.5)
	if query(bases) != "1" {
		t.Fatalf("no base table after incremental builds")
	}
	base := query(`SELECT schema_name || '."a$base"' FROM duckdb_tables() WHERE table_name = 'a$base'`)
	if got := query(`SELECT count(*) || ' ' || count(*) FILTER (WHERE v LIKE 'v%') FROM ` + base); got != "100 100" {
		t.Errorf("base rows: %s, want the full build's 100, unchanged", got)
	}
	if got := query(`SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM main.a WHERE id IN ('1', '2', '3', '4', '100')`); got != "1=z,100=new,2=w,4=v4" {
		t.Errorf("main.a = %s", got)
	}
	incremental := query(rows)
	// A full build gives the same rows.
	build("", 0)
	if full := query(rows); full != incremental {
		t.Errorf("incremental builds give %s, a full build %s", incremental, full)
	}
	// Past CompactAt the rows are written as one table, with nothing to
	// overlay.
	db.Exec(`UPDATE raw.x SET v = 'y' WHERE id = '5'`)
	build("SELECT '5'", 0.5) // the first delta makes the overlay
	db.Exec(`UPDATE raw.x SET v = 'x' WHERE id = '6'`)
	build("SELECT '6'", 0.001)
	if query(bases) != "0" {
		t.Errorf("the overlay was not compacted")
	}
	if got := query(`SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM main.a WHERE id IN ('5', '6')`); got != "5=y,6=x" {
		t.Errorf("after compaction main.a = %s", got)
	}
}

// TestBuild_KeepsModelsWhoseInputsDidNotChange: in an incremental build, a
// model none of whose inputs changed (tables known unchanged, models kept
// or reporting no changed record) is not built, and its published rows
// stay readable; a table model without record ids counts as changed.
func TestBuild_KeepsModelsWhoseInputsDidNotChange(t *testing.T) {
	t.Parallel()
	db, ms := fixture(t, `CREATE SCHEMA raw;
CREATE TABLE raw.x (id VARCHAR, v VARCHAR); INSERT INTO raw.x VALUES ('1', 'a'), ('2', 'b');
CREATE TABLE raw.y (id VARCHAR, w VARCHAR); INSERT INTO raw.y VALUES ('1', 'p'), ('2', 'q')`, map[string]string{
		"a.sql": "-- materialized: incremental\n-- record_ids: id\nSELECT id, v FROM raw.x WHERE NOT is_incremental() OR changed(id)",
		"b.sql": "-- materialized: table\n-- record_ids: id\nSELECT id, w FROM raw.y",
		"c.sql": "SELECT count(*) AS n FROM b",
		"d.sql": "-- materialized: table\n-- record_ids: id\nSELECT a.id, a.v, b.w FROM a JOIN b USING (id)",
		"e.sql": "SELECT string_agg(id || v || w, ',' ORDER BY id) AS s FROM d",
	})
	if err := transform.Build(t.Context(), db, ms, transform.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	build := func(changed string) []string {
		t.Helper()
		var kept []string
		opt := transform.BuildOptions{Changed: changed, Unchanged: []string{"raw.y"}, Kept: func(m transform.Model) { kept = append(kept, m.Name) }}
		if err := transform.Build(t.Context(), db, ms, opt); err != nil {
			t.Fatal(err)
		}
		sort.Strings(kept)
		return kept
	}
	e := func() string {
		t.Helper()
		var s string
		if err := db.QueryRow("SELECT s FROM main.e").Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	db.Exec(`UPDATE raw.x SET v = 'A' WHERE id = '1'`)
	if got := build("SELECT '1'"); strings.Join(got, ",") != "b,c" {
		t.Errorf("kept %v, want b and c (raw.y did not change)", got)
	}
	if got := e(); got != "1Ap,2bq" {
		t.Errorf("main.e = %s", got)
	}
	// A changed id whose rows did not change: a reports nothing, so d (and
	// e, a table without record ids over it) are kept too.
	if got := build("SELECT '2'"); strings.Join(got, ",") != "b,c,d,e" {
		t.Errorf("kept %v, want b, c, d and e (a reported no change)", got)
	}
	if got := e(); got != "1Ap,2bq" {
		t.Errorf("main.e after keeping it = %s", got)
	}
	var n int
	if err := db.QueryRow("SELECT n FROM main.c").Scan(&n); err != nil || n != 2 {
		t.Errorf("main.c = %d, %v; want the kept count 2", n, err)
	}
}

// TestBuild_BuildsAgainAfterOutOfMemory: a table DuckDB runs out of
// memory_limit building is built once more (and the build fails if that runs
// out too); a model that fails otherwise is not built again.
func TestBuild_BuildsAgainAfterOutOfMemory(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sql     string
		retried int
		oom     bool
	}{
		// A list of 20,000,000 numbers cannot spill: past 16MB it runs out.
		{"SELECT list(range) AS l FROM range(20000000)", 1, true},
		{"SELECT no_such_column FROM range(3)", 0, false},
	} {
		db, ms := fixture(t, "SET GLOBAL memory_limit = '16MB'", map[string]string{"big.sql": tc.sql})
		var retried []string
		err := transform.Build(t.Context(), db, ms, transform.BuildOptions{Retried: func(m transform.Model, err error) {
			retried = append(retried, m.Name)
			if !strings.Contains(err.Error(), "Out of Memory") {
				t.Errorf("retried after %v, want only an out-of-memory error", err)
			}
		}})
		if err == nil {
			t.Fatalf("%s: built under 16MB; the test needs a model that cannot", tc.sql)
		}
		if got := strings.Contains(err.Error(), "Out of Memory"); got != tc.oom {
			t.Errorf("%s: err = %v, out of memory %v, want %v", tc.sql, err, got, tc.oom)
		}
		if len(retried) != tc.retried || tc.retried > 0 && retried[0] != "big" {
			t.Errorf("%s: built again %v, want %d time(s)", tc.sql, retried, tc.retried)
		}
	}
}
