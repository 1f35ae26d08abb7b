package cli_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/duck"
	"github.com/ferry-sync/ferry/internal/runner"
	"github.com/ferry-sync/ferry/internal/state"
	"github.com/ferry-sync/ferry/internal/testenv"
)

// warehouse runs one query against a data dir's warehouse (no run holds it).
func warehouse(t *testing.T, dir, q string, args ...any) []any {
	t.Helper()
	db := openWarehouse(t, dir)
	defer db.Close()
	var out []any
	for _, row := range queryRows(t, db, q, args...) {
		out = append(out, row...)
	}
	return out
}

// queryRows runs a query and returns its rows, each a slice of values.
func queryRows(t *testing.T, db *sql.DB, q string, args ...any) [][]any {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRun_SchemaEvolution: a Salesforce field and an Intercom custom
// attribute created between runs land as typed columns of raw.*, queryable
// without JSON functions; a field whose type then changes at the source is
// refused with its object, field and both types named, and nothing of that
// run is committed.
func TestRun_SchemaEvolution(t *testing.T) {
	t.Parallel()
	emu, dir, run := setup(t, 120)
	mustRun(t, run)

	if err := emu.Salesforce.DefineField("Account", "Region__c", "string"); err != nil {
		t.Fatal(err)
	}
	acct := testenv.Str(emu.SOQL("SELECT Id FROM Account ORDER BY Id LIMIT 1")[0], "Id")
	if code, b := emu.SFDo(http.MethodPatch, "/services/data/v62.0/sobjects/Account/"+acct, map[string]any{"Region__c": "EMEA"}); code != 204 {
		t.Fatalf("set Region__c: %d %s", code, b)
	}
	if code, b := emu.ICDo(http.MethodPost, "/data_attributes", map[string]any{"name": "seat_count", "model": "contact", "data_type": "integer"}); code != 200 {
		t.Fatalf("create data attribute: %d %s", code, b)
	}
	contact := testenv.Str(emu.ICContacts()[0], "id")
	if code, b := emu.ICDo(http.MethodPut, "/contacts/"+contact, map[string]any{"custom_attributes": map[string]any{"seat_count": 42}}); code != 200 {
		t.Fatalf("set seat_count: %d %s", code, b)
	}
	mustRun(t, run)

	if got := warehouse(t, dir, `SELECT "Region__c" FROM raw.salesforce__account WHERE id = $1`, acct); len(got) != 1 || got[0] != "EMEA" {
		t.Errorf("new Salesforce field: raw.salesforce__account.Region__c = %v, want EMEA", got)
	}
	if got := warehouse(t, dir, `SELECT "custom_attributes.seat_count" FROM raw.intercom__contacts WHERE id = $1`, contact); len(got) != 1 || got[0] != int64(42) {
		t.Errorf("new Intercom attribute: raw.intercom__contacts.custom_attributes.seat_count = %#v, want int64 42", got)
	}
	if got := warehouse(t, dir, `SELECT data_type FROM information_schema.columns WHERE table_schema = 'raw' AND table_name = 'intercom__contacts' AND column_name = 'custom_attributes.seat_count'`); len(got) != 1 || got[0] != "BIGINT" {
		t.Errorf("custom attribute column type = %v, want BIGINT", got)
	}
	added := warehouse(t, dir, `SELECT system || '.' || object || '.' || field FROM ferry.schema_changes WHERE change = 'added' ORDER BY 1`)
	if fmt.Sprint(added) != "[intercom.contacts.custom_attributes.seat_count salesforce.Account.Region__c]" {
		t.Errorf("schema changes recorded: %v", added)
	}
	// Typed columns all the way: the landing files need no JSON either.
	if got := warehouse(t, dir, `SELECT count(*) FROM landing.salesforce__account WHERE "Region__c" = 'EMEA'`); got[0] != int64(1) {
		t.Errorf("landing.salesforce__account holds Region__c = EMEA %v times, want 1", got[0])
	}

	before := warehouse(t, dir, `SELECT ts FROM ferry.watermarks WHERE object = 'Account'`)
	if err := emu.Salesforce.DefineField("Account", "Region__c", "double"); err != nil {
		t.Fatal(err)
	}
	r := run()
	if r.code != 1 || !strings.Contains(r.stderr, "salesforce.Account: field Region__c changed type at the source from VARCHAR to DOUBLE") {
		t.Fatalf("type change: exit %d, want 1 naming the field and both types\n%s", r.code, r.stderr)
	}
	if after := warehouse(t, dir, `SELECT ts FROM ferry.watermarks WHERE object = 'Account'`); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a refused type change moved the Account watermark: %v -> %v", before, after)
	}
	if got := warehouse(t, dir, `SELECT data_type FROM information_schema.columns WHERE table_schema = 'raw' AND table_name = 'salesforce__account' AND column_name = 'Region__c'`); got[0] != "VARCHAR" {
		t.Errorf("Region__c was coerced to %v", got[0])
	}
	if got := warehouse(t, dir, `SELECT old_type || ' -> ' || new_type FROM ferry.schema_changes WHERE change = 'type_changed' AND field = 'Region__c'`); len(got) == 0 || got[0] != "VARCHAR -> DOUBLE" {
		t.Errorf("type change not recorded in ferry.schema_changes: %v", got)
	}
}

// stateDigest fingerprints every current-state table, column by column in
// name order, so that tables built in different column orders compare.
// Columns that hold no value anywhere are left out.
func stateDigest(t *testing.T, dir string) map[string]string {
	t.Helper()
	db := openWarehouse(t, dir)
	defer db.Close()
	out := map[string]string{}
	for _, tb := range column(t, db, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw' ORDER BY 1`) {
		cols, err := state.TableColumns(t.Context(), db, "raw", tb)
		if err != nil {
			t.Fatal(err)
		}
		// Columns the transform adds empty for configured fields the source
		// lacks are not part of what was landed: compare the rest.
		var names []string
		for _, c := range cols {
			var vals int64
			if err := db.QueryRow(fmt.Sprintf(`SELECT count("%s") FROM raw."%s"`, c.Name, tb)).Scan(&vals); err != nil {
				t.Fatal(err)
			}
			if vals > 0 {
				names = append(names, `"`+c.Name+`"`)
			}
		}
		if len(names) == 0 {
			continue // nothing landed (an object never extracted: its documented columns, empty)
		}
		sort.Strings(names)
		if d := contentDigest(t, db, strings.Join(names, ", "), `raw."`+tb+`"`); !strings.HasPrefix(d, "0 rows") {
			out[tb] = d
		}
	}
	return out
}

// openWarehouse opens the data dir's warehouse; the caller closes it.
func openWarehouse(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := duck.Open(filepath.Join(dir, "warehouse.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// column runs q and returns its first column.
func column(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		rows.Scan(&v)
		out = append(out, v)
	}
	return out
}

// contentDigest is the row count and the sum of the row hashes of cols
// (a column list or *COLUMNS(*)) over relation.
func contentDigest(t *testing.T, db *sql.DB, cols, relation string) string {
	t.Helper()
	var n int64
	var h string
	q := fmt.Sprintf(`SELECT count(*), coalesce(CAST(sum(hash(%s)) AS VARCHAR), '0') FROM %s`, cols, relation)
	if err := db.QueryRow(q).Scan(&n, &h); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return fmt.Sprintf("%d rows, hash %s", n, h)
}

// TestState_RebuildAndCompactionAgree is a property test with a fixed seed:
// 20 incremental runs with random edits, creates and deletes on both sides
// build current state by merging each run's delta; rebuilding it from the
// landing files, compacting the landing files and rebuilding again, and
// rebuilding from scratch must all give exactly the merged state.
func TestState_RebuildAndCompactionAgree(t *testing.T) {
	t.Parallel()
	emu, dir, run := setup(t, 60)
	rnd := rand.New(rand.NewPCG(6, 20))
	mustRun(t, run)
	for i := range 20 {
		contacts := emu.SOQL("SELECT Id FROM Contact ORDER BY Id")
		ic := emu.ICContacts()
		for range 1 + rnd.IntN(3) {
			id := testenv.Str(contacts[rnd.IntN(len(contacts))], "Id")
			emu.SFDo(http.MethodPatch, "/services/data/v62.0/sobjects/Contact/"+id, map[string]any{"Phone": fmt.Sprintf("+1-556-%04d", rnd.IntN(10000))})
			cid := testenv.Str(ic[rnd.IntN(len(ic))], "id")
			emu.ICDo(http.MethodPut, "/contacts/"+cid, map[string]any{"custom_attributes": map[string]any{"job_title": fmt.Sprintf("Role %d", rnd.IntN(100))}})
		}
		switch rnd.IntN(4) {
		case 0:
			emu.SFDo(http.MethodPost, "/services/data/v62.0/sobjects/Contact", map[string]any{"LastName": fmt.Sprintf("New %d", i), "Email": fmt.Sprintf("new%d@prop.example", i)})
		case 1:
			emu.ICDo(http.MethodPost, "/contacts", map[string]any{"role": "user", "email": fmt.Sprintf("ic%d@prop.example", i)})
		case 2:
			id := testenv.Str(contacts[rnd.IntN(len(contacts))], "Id")
			emu.SFDo(http.MethodDelete, "/services/data/v62.0/sobjects/Contact/"+id, nil)
		}
		if r := run(); r.code != 0 && r.code != 3 {
			t.Fatalf("run %d: exit %d\n%s", i+1, r.code, r.stderr)
		}
	}
	merged := stateDigest(t, dir)
	if len(merged) < 10 {
		t.Fatalf("current state holds only %d tables: %v", len(merged), merged)
	}
	check := func(what string) {
		t.Helper()
		got := stateDigest(t, dir)
		for tb, want := range merged {
			if got[tb] != want {
				t.Errorf("%s: raw.%s = %s, merged state had %s", what, tb, got[tb], want)
			}
		}
	}
	mustRun(t, run, "rebuild")
	check("rebuild")
	files := func() int {
		n := 0
		for _, o := range [][2]string{{"salesforce", "Contact"}, {"intercom", "contacts"}} {
			f, _ := state.LandingFiles(filepath.Join(dir, "landing"), o[0], o[1])
			n += len(f)
		}
		return n
	}
	beforeFiles := files()
	r := mustRun(t, run, "compact", "--all")
	if !strings.Contains(r.stdout, "salesforce.Contact:") || files() != 2 {
		t.Fatalf("compact --all left %d Contact/contacts landing files (was %d):\n%s", files(), beforeFiles, r.stdout)
	}
	check("after compaction")
	mustRun(t, run, "rebuild")
	check("rebuild after compaction")
	// From scratch: no current state at all, only what landing holds.
	warehouse(t, dir, `SELECT 1`) // opens and closes
	db := openWarehouse(t, dir)
	if _, err := db.Exec(`DROP SCHEMA raw CASCADE; CREATE SCHEMA raw`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	mustRun(t, run, "rebuild")
	check("rebuild from scratch")
	// And the sync carries on from the rebuilt state: nothing to write.
	if r := mustRun(t, run); strings.Contains(r.stdout, "written") && !strings.Contains(r.stdout, "nothing") {
		t.Logf("run after rebuild:\n%s", r.stdout)
	}
}

// runSummary runs `ferry run --output json` with args and returns its
// summary.
func runSummary(t *testing.T, run func(args ...string) result, args ...string) runner.Summary {
	t.Helper()
	r := mustRun(t, run, append([]string{"run", "--output", "json"}, args...)...)
	var s runner.Summary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("summary: %v\n%s", err, r.stdout)
	}
	return s
}

// TestRun_LookbackRereadsAreNotLanded: each run's lookback re-reads what
// the runs before it landed (the first sync's own writes, here). Versions
// current state already holds are dropped before landing, conversations
// among them are not fetched again, and a record changed since is landed.
func TestRun_LookbackRereadsAreNotLanded(t *testing.T) {
	t.Parallel()
	emu, dir, run := setup(t, 150)
	summary := func(args ...string) runner.Summary { return runSummary(t, run, args...) }
	fetches := func() int {
		n := 0
		for route, c := range emu.ICStats().Requests {
			if strings.HasPrefix(route, "GET /conversations/") && route != "GET /conversations/search" {
				n += c
			}
		}
		return n
	}
	built := func() string {
		t.Helper()
		return fmt.Sprint(warehouse(t, dir, "SELECT run_id FROM ferry.model_builds")[0])
	}
	summary() // first sync
	summary() // echo run: reads back what the first wrote // echo run: reads back what the first wrote
	// The echo run recorded the pairs the first run created in the
	// synced snapshot, which the models read: the next run rebuilds, the
	// one after it has nothing new to read.
	settled := summary()
	before := fetches()
	s := summary()
	if got := built(); got != settled.RunID {
		t.Errorf("a run with nothing changed rebuilt the models (built by %s, previous run %s)", got, settled.RunID)
	}
	reread := int64(0)
	for obj, n := range s.Extracted {
		sys, object, _ := strings.Cut(obj, ".")
		if n != 0 && !runner.SnapshotObject(sys, object) {
			t.Errorf("a run with nothing changed landed %d rows of %s", n, obj)
		}
		reread += s.Unchanged[obj]
	}
	if s.Unchanged["intercom.contacts"] == 0 || reread == 0 {
		t.Errorf("the lookback re-read nothing ferry wrote within it: %v", s.Unchanged)
	}
	if got := fetches() - before; got != 0 {
		t.Errorf("a run with nothing changed fetched %d conversations again", got)
	}
	// A contact changed since is landed, and only it.
	contacts := emu.ICContacts()
	id := contacts[0]["id"].(string)
	if code, body := emu.ICDo("PUT", "/contacts/"+id, map[string]any{"custom_attributes": map[string]any{"job_title": "Chief Lookback Officer"}}); code != 200 {
		t.Fatalf("edit contact: %d %s", code, body)
	}
	s = summary()
	if got := s.Extracted["intercom.contacts"]; got != 1 {
		t.Errorf("after one contact changed, %d contacts landed, want 1 (unchanged %d)", got, s.Unchanged["intercom.contacts"])
	}
	if got := built(); got != s.RunID {
		t.Errorf("the run after a change did not rebuild the models (built by %s, run %s)", got, s.RunID)
	}
	if s.Written["salesforce Contact update"]+s.Written["salesforce Lead update"] != 1 {
		t.Errorf("the changed job title was not written to Salesforce once: %v", s.Written)
	}
	mustRun(t, run, "transform", "--rebuild-models")
	if got := built(); got == s.RunID {
		t.Errorf("--rebuild-models kept the previous build")
	}
}

// modelsDigest is the row count and content hash of every published model.
func modelsDigest(t *testing.T, dir string) map[string]string {
	t.Helper()
	db := openWarehouse(t, dir)
	defer db.Close()
	out := map[string]string{}
	for _, n := range column(t, db, `SELECT view_name FROM duckdb_views() WHERE schema_name = 'main' AND sql LIKE '%FROM build\_%' ESCAPE '\' ORDER BY 1`) {
		out[n] = contentDigest(t, db, "*COLUMNS(*)", `main."`+n+`"`)
	}
	return out
}

// TestModels_IncrementalBuildsEqualFullBuild is a property test with a
// fixed seed: after runs with random edits, creates, deletes and email
// changes that move identity matches on both sides, each building the
// incremental models from the records that changed, every model holds
// exactly what a full build from current state (--rebuild-models) gives.
func TestModels_IncrementalBuildsEqualFullBuild(t *testing.T) {
	t.Parallel()
	emu, dir, run := setup(t, 60)
	rnd := rand.New(rand.NewPCG(7, 21))
	mustRun(t, run)
	incremental := 0
	builtRe := regexp.MustCompile(`models built.* incremental=([0-9]+)`)
	check := func(after int) {
		t.Helper()
		got := modelsDigest(t, dir)
		mustRun(t, run, "transform", "--rebuild-models")
		want := modelsDigest(t, dir)
		if len(want) < 30 {
			t.Fatalf("only %d models published: %v", len(want), want)
		}
		for m, w := range want {
			if got[m] != w {
				t.Errorf("after run %d: model %s after incremental builds: %s; a full build gives %s", after, m, got[m], w)
			}
		}
		// The commit keeps one snapshot row per pair and field (the
		// table has no key to enforce it).
		db := openWarehouse(t, dir)
		dup := column(t, db, `SELECT count(*) - count(DISTINCT (entity, intercom_id, sf_id, field)) FROM ferry.snapshot`)
		db.Close()
		if len(dup) != 1 || dup[0] != "0" {
			t.Errorf("after run %d: %v duplicate snapshot rows", after, dup)
		}
	}
	for i := range 12 {
		contacts := emu.SOQL("SELECT Id, Email FROM Contact ORDER BY Id")
		leads := emu.SOQL("SELECT Id FROM Lead WHERE IsConverted = false ORDER BY Id")
		ic := emu.ICContacts()
		pick := func(rs []map[string]any, f string) string { return testenv.Str(rs[rnd.IntN(len(rs))], f) }
		for range 1 + rnd.IntN(3) {
			emu.SFDo(http.MethodPatch, "/services/data/v62.0/sobjects/Contact/"+pick(contacts, "Id"), map[string]any{"Phone": fmt.Sprintf("+1-557-%04d", rnd.IntN(10000))})
			emu.ICDo(http.MethodPut, "/contacts/"+pick(ic, "id"), map[string]any{"custom_attributes": map[string]any{"job_title": fmt.Sprintf("Role %d", rnd.IntN(100))}})
		}
		switch rnd.IntN(6) {
		case 0:
			emu.SFDo(http.MethodPost, "/services/data/v62.0/sobjects/Contact", map[string]any{"LastName": fmt.Sprintf("New %d", i), "Email": fmt.Sprintf("new%d@prop.example", i)})
		case 1:
			emu.ICDo(http.MethodPost, "/contacts", map[string]any{"role": "user", "email": fmt.Sprintf("ic%d@prop.example", i)})
		case 2:
			emu.SFDo(http.MethodDelete, "/services/data/v62.0/sobjects/Contact/"+pick(contacts, "Id"), nil)
		case 3: // a Salesforce Contact takes an Intercom contact's email
			if e := pick(ic, "email"); e != "" {
				emu.SFDo(http.MethodPatch, "/services/data/v62.0/sobjects/Contact/"+pick(contacts, "Id"), map[string]any{"Email": e})
			}
		case 4: // an Intercom contact moves to another address
			emu.ICDo(http.MethodPut, "/contacts/"+pick(ic, "id"), map[string]any{"email": fmt.Sprintf("moved%d@prop.example", i)})
		case 5:
			emu.SFDo(http.MethodPatch, "/services/data/v62.0/sobjects/Lead/"+pick(leads, "Id"), map[string]any{"Email": pick(contacts, "Email")})
		}
		// Changes lead capture follows through other records: a contact
		// tagged with the rule's tag, a new tag (tags are read whole), a
		// conversation with a new reply, a company grown past the rule's
		// size.
		switch rnd.IntN(4) {
		case 0:
			emu.ICDo(http.MethodPost, "/tags", map[string]any{"name": "pricing", "users": []any{map[string]any{"id": pick(ic, "id")}}})
		case 1:
			emu.ICDo(http.MethodPost, "/tags", map[string]any{"name": fmt.Sprintf("prop-%d", i), "users": []any{map[string]any{"id": pick(ic, "id")}}})
		case 2:
			convs := warehouse(t, dir, "SELECT conversation_id FROM main.stg_intercom__conversations WHERE customer_initiated ORDER BY conversation_id")
			admins := warehouse(t, dir, "SELECT id FROM raw.intercom__admins ORDER BY id")
			if len(convs) > 0 && len(admins) > 0 {
				emu.ICDo(http.MethodPost, fmt.Sprintf("/conversations/%v/parts", convs[rnd.IntN(len(convs))]),
					map[string]any{"message_type": "comment", "type": "admin", "admin_id": fmt.Sprint(admins[0]), "body": fmt.Sprintf("Reply %d", i)})
			}
		case 3:
			if cs := warehouse(t, dir, "SELECT DISTINCT first_company_id FROM main.stg_intercom__contacts WHERE first_company_id IS NOT NULL ORDER BY 1"); len(cs) > 0 {
				emu.ICDo(http.MethodPut, fmt.Sprintf("/companies/%v", cs[rnd.IntN(len(cs))]), map[string]any{"size": 2500 + i})
			}
		}
		if i%5 == 3 {
			// A Contact claims, by external id, an Intercom contact matched
			// to a Lead: the match moves away from a record that did not
			// change, which only identity's changed rows tell the models after.
			if m := warehouse(t, dir, "SELECT intercom_id FROM main.int_people_identity WHERE sf_object = 'Lead' ORDER BY intercom_id LIMIT 1"); len(m) == 1 {
				emu.SFDo(http.MethodPatch, "/services/data/v62.0/sobjects/Contact/"+pick(contacts, "Id"), map[string]any{"Intercom_Id__c": m[0]})
			} else {
				t.Fatalf("run %d: no Intercom contact is matched to a Lead", i+1)
			}
		}
		cmd := "run"
		if i%5 == 3 {
			// Checked before a load writes the new match back, which would
			// mark both records changed again and hide a stale row.
			cmd = "plan"
		}
		r := run(cmd, "--log-level", "info")
		if r.code != 0 && r.code != 3 {
			t.Fatalf("%s %d: exit %d\n%s", cmd, i+1, r.code, r.stderr)
		}
		if g := builtRe.FindStringSubmatch(r.stderr); g != nil && g[1] != "0" {
			incremental++
		}
		if cmd == "plan" {
			check(i + 1)
		}
	}
	if incremental < 6 {
		t.Fatalf("only %d of 12 runs built models incrementally", incremental)
	}
	// The last run's load changed the synced snapshot after its build; one
	// more incremental build follows that too.
	if r := mustRun(t, run, "transform", "--log-level", "info"); strings.Contains(r.stderr, "incremental=0") || strings.Contains(r.stderr, "in full") {
		t.Fatalf("the transform after the last load did not build incrementally:\n%s", r.stderr)
	}
	check(12)
}

// `ferry rebuild` is a recovery command: it works without a pipeline file
// (DuckDB then gets the default memory limit), but a pipeline file that
// exists and is broken is still refused, naming it.
func TestRebuild_PipelineFileOptional(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if r := ferry(t, testenv.Env(nil), "rebuild", "--pipeline", filepath.Join(dir, "absent.yaml"), "--data-dir", dir); r.code != 0 {
		t.Fatalf("rebuild without a pipeline file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\ntransform:\n  memory_limit: plenty\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := ferry(t, testenv.Env(nil), "rebuild", "--pipeline", bad, "--data-dir", dir); r.code == 0 || !strings.Contains(r.stderr, "bad.yaml") {
		t.Fatalf("rebuild with a broken pipeline file: exit %d\n%s", r.code, r.stderr)
	}
}

// TestRun_UnchangedSnapshotsAreNotLanded: admins and tags are read whole
// every run; a snapshot equal to current state is not landed, so its
// records do not count as changed for the next transform, and one that
// differs replaces current state.
func TestRun_UnchangedSnapshotsAreNotLanded(t *testing.T) {
	t.Parallel()
	emu, dir, run := setup(t, 30)
	summary := func() runner.Summary { return runSummary(t, run) }
	first := summary()
	if first.Files["intercom.tags"] == "" || first.Files["intercom.admins"] == "" {
		t.Fatalf("the first sync landed no tags or admins: %v", first.Files)
	}
	s := summary()
	for _, o := range []string{"intercom.tags", "intercom.admins"} {
		if s.Files[o] != "" {
			t.Errorf("%s: an unchanged snapshot was landed again (%s)", o, s.Files[o])
		}
		if s.Unchanged[o] == 0 || s.Unchanged[o] != s.Extracted[o] {
			t.Errorf("%s: unchanged %d of %d rows read, want all", o, s.Unchanged[o], s.Extracted[o])
		}
	}
	if got := warehouse(t, dir, "SELECT DISTINCT _run_id FROM raw.intercom__tags"); len(got) != 1 || fmt.Sprint(got[0]) != first.RunID {
		t.Errorf("tags' lineage = %v, want the first sync's run %s", got, first.RunID)
	}
	if code, b := emu.ICDo(http.MethodPost, "/tags", map[string]any{"name": "brand-new"}); code != 200 {
		t.Fatalf("create tag: %d %s", code, b)
	}
	s = summary()
	if s.Files["intercom.tags"] == "" {
		t.Fatalf("a changed tag list was not landed: %v", s.Files)
	}
	if got := warehouse(t, dir, "SELECT count(*) FROM raw.intercom__tags WHERE name = 'brand-new' AND _run_id = '"+s.RunID+"'"); fmt.Sprint(got[0]) != "1" {
		t.Errorf("the new tag in current state: %v rows, want 1", got)
	}
}

// TestModels_IncrementalFollowsRelatedRecords: changes that reach a model
// through another record than the one it is keyed on, made directly in
// current state as a run would land them: a conversation moved to another
// contact and tagged, a company grown, a contact that takes another's email
// (both are ranked again), the tags renamed (an object read whole), an
// opportunity role moved (the WhatId of its contacts' Tasks), a Task deleted
// in Salesforce (logged again), a Lead unlinked from its Intercom user (a
// Lead to create). After each, the incremental build equals a full build.
func TestModels_IncrementalFollowsRelatedRecords(t *testing.T) {
	t.Parallel()
	_, dir, run := setup(t, 60)
	mustRun(t, run)
	mustRun(t, run)
	exec := func(stmts ...string) {
		t.Helper()
		db := openWarehouse(t, dir)
		defer db.Close()
		for _, q := range stmts {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	one := func(q string) string {
		t.Helper()
		got := warehouse(t, dir, q)
		if len(got) != 1 {
			t.Fatalf("%s: %d rows, want 1", q, len(got))
		}
		return fmt.Sprint(got[0])
	}
	conv := one("SELECT conversation_id FROM main.stg_intercom__conversations WHERE customer_initiated AND contact_id IS NOT NULL ORDER BY conversation_id LIMIT 1")
	quiet := one(`SELECT intercom_id FROM main.lead_capture_input WHERE conversation_count = 0 AND email IS NOT NULL
		AND intercom_id NOT IN (SELECT intercom_id FROM main.int_people_identity) ORDER BY intercom_id LIMIT 1`)
	company := one("SELECT first_company_id FROM main.lead_capture_input WHERE first_company_id IS NOT NULL AND coalesce(company_size, 0) < 2000 ORDER BY intercom_id LIMIT 1")
	taken := one("SELECT email FROM main.int_people_intercom WHERE email_rank = 1 ORDER BY intercom_id LIMIT 1")
	taker := one(fmt.Sprintf("SELECT intercom_id FROM main.int_people_intercom WHERE email <> '%s' ORDER BY intercom_id DESC LIMIT 1", taken))
	// A matched Contact with no open opportunity whose conversation is
	// logged as a Task, and a role on an open opportunity to give it.
	roleTo := one(`SELECT p.sf_id FROM main.int_people_identity AS p
		JOIN main.stg_intercom__conversations AS c ON c.contact_id = p.intercom_id
		WHERE p.sf_object = 'Contact'
		  AND p.sf_id NOT IN (SELECT contact_id FROM main.int_contact_open_opportunities)
		  AND c.conversation_id IN (SELECT conversation_link FROM main.stg_salesforce__tasks WHERE NOT is_deleted)
		ORDER BY p.sf_id LIMIT 1`)
	role := one(`SELECT r.sf_id FROM main.stg_salesforce__opportunity_contact_roles AS r
		JOIN main.stg_salesforce__opportunities AS o ON o.sf_id = r.opportunity_id
		WHERE NOT r.is_deleted AND NOT o.is_deleted AND NOT o.is_closed
		ORDER BY r.sf_id LIMIT 1`)
	task := one("SELECT sf_id FROM main.stg_salesforce__tasks WHERE conversation_link IS NOT NULL AND NOT is_deleted ORDER BY sf_id LIMIT 1")
	// A Lead linked to an Intercom user who has no other Salesforce person.
	unlinked := one(`SELECT l.sf_id FROM main.stg_salesforce__leads AS l
		JOIN main.int_people_intercom AS p ON p.intercom_id = l.intercom_link AND p.role = 'user' AND p.email_rank = 1
		WHERE NOT l.is_deleted AND NOT l.is_converted
		  AND p.email_norm NOT IN (SELECT email_norm FROM main.stg_salesforce__contacts WHERE email_norm IS NOT NULL)
		  AND (SELECT count(*) FROM main.stg_salesforce__leads AS o WHERE o.email_norm = p.email_norm OR o.intercom_link = p.intercom_id) = 1
		ORDER BY l.sf_id LIMIT 1`)
	// Each change moves what probe counts.
	changes := []struct{ what, table, set, where, probe string }{
		{"an opportunity role moved to another contact", "salesforce__opportunity_contact_role", fmt.Sprintf(`"ContactId" = '%s'`, roleTo), fmt.Sprintf("id = '%s'", role),
			"SELECT count(*) FROM main.sf_task_upserts WHERE field = 'WhatId'"},
		{"a Task deleted in Salesforce", "salesforce__task", "is_deleted = true", fmt.Sprintf("id = '%s'", task),
			"SELECT count(*) FROM main.sf_task_upserts"},
		{"a Lead unlinked from its Intercom user and given another email", "salesforce__lead",
			`"Intercom_Id__c" = NULL, "Email" = 'elsewhere@related.example'`, fmt.Sprintf("id = '%s'", unlinked),
			"SELECT count(*) FROM main.sf_lead_creates"},
		{"a conversation moved to another contact and tagged", "intercom__conversations",
			fmt.Sprintf("contact_ids = ['%s'], tag_names = list_append(tag_names, 'pricing')", quiet), fmt.Sprintf("id = '%s'", conv),
			"SELECT count(*) FROM main.int_lead_capture_qualified"},
		{"a company grown past the rule's size", "intercom__companies", "size = 9000", fmt.Sprintf("id = '%s'", company),
			"SELECT count(*) FROM main.lead_capture_input WHERE company_size = 9000"},
		{"a contact takes another's email, as the older user", "intercom__contacts",
			fmt.Sprintf("email = '%s', role = 'user', created_at = TIMESTAMPTZ '2001-01-01 00:00:00+00'", taken), fmt.Sprintf("id = '%s'", taker),
			"SELECT count(*) FROM main.int_people_intercom WHERE email_rank > 1"},
		{"the tags renamed", "intercom__tags", "name = name || '-renamed'", "true",
			"SELECT count(*) FROM main.lead_capture_input WHERE len(list_filter(tag_names, x -> x LIKE '%-renamed')) > 0"},
	}
	for i, c := range changes {
		before := one(c.probe)
		id := fmt.Sprintf("related-%d", i)
		exec(fmt.Sprintf("INSERT INTO ferry.run_order VALUES ('%s', nextval('ferry.run_seq'))", id),
			fmt.Sprintf("UPDATE raw.%s SET %s, _run_id = '%s' WHERE %s", c.table, c.set, id, c.where))
		r := mustRun(t, run, "transform", "--log-level", "info")
		if strings.Contains(r.stderr, "in full") || strings.Contains(r.stderr, "incremental=0") {
			t.Fatalf("%s: the transform did not build incrementally:\n%s", c.what, r.stderr)
		}
		got := modelsDigest(t, dir)
		after := one(c.probe)
		mustRun(t, run, "transform", "--rebuild-models")
		for m, w := range modelsDigest(t, dir) {
			if got[m] != w {
				t.Errorf("%s: model %s after an incremental build: %s; a full build gives %s", c.what, m, got[m], w)
			}
		}
		if after == before {
			t.Errorf("%s: %s gives %s before and after; the change should have moved it", c.what, c.probe, after)
		}
	}
}

// TestRun_ConversationPartsStayInLanding: conversation parts are landed
// (landing.intercom__conversations) but kept out of current state, by a
// merge (which also drops the column from a table an older ferry made
// with it) and by a rebuild.
func TestRun_ConversationPartsStayInLanding(t *testing.T) {
	t.Parallel()
	emu, dir, run := setup(t, 30)
	mustRun(t, run)
	has := func(schema string) bool {
		t.Helper()
		got := warehouse(t, dir, "SELECT count(*) FROM duckdb_columns() WHERE schema_name = $1 AND table_name = 'intercom__conversations' AND column_name = 'conversation_parts'", schema)
		return fmt.Sprint(got[0]) == "1"
	}
	if has("raw") {
		t.Error("the first sync kept conversation_parts in current state")
	}
	if got := warehouse(t, dir, "SELECT count(*) FROM landing.intercom__conversations WHERE json_array_length(conversation_parts) > 0"); fmt.Sprint(got[0]) == "0" {
		t.Error("landing.intercom__conversations has no conversation parts")
	}
	// A warehouse an older ferry made: the column is there, and the next
	// merge of conversations drops it.
	db := openWarehouse(t, dir)
	if _, err := db.Exec("ALTER TABLE raw.intercom__conversations ADD COLUMN conversation_parts JSON"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	convs := warehouse(t, dir, "SELECT id FROM raw.intercom__conversations ORDER BY id LIMIT 1")
	admins := warehouse(t, dir, "SELECT id FROM raw.intercom__admins ORDER BY id LIMIT 1")
	if code, b := emu.ICDo(http.MethodPost, fmt.Sprintf("/conversations/%v/parts", convs[0]), map[string]any{"message_type": "comment", "type": "admin", "admin_id": fmt.Sprint(admins[0]), "body": "A reply"}); code != 200 {
		t.Fatalf("reply: %d %s", code, b)
	}
	mustRun(t, run)
	if has("raw") {
		t.Error("a merge of conversations left conversation_parts in current state")
	}
	mustRun(t, run, "rebuild")
	if has("raw") {
		t.Error("a rebuild put conversation_parts in current state")
	}
	if got := warehouse(t, dir, "SELECT count(*) FROM raw.intercom__conversations"); fmt.Sprint(got[0]) == "0" {
		t.Error("no conversations in current state after the rebuild")
	}
}
