package cli_test

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/extract"
	"github.com/ferry-sync/ferry/internal/state"
	"github.com/ferry-sync/ferry/internal/testenv"
)

// stateRows runs a query on the state of data dir dir, closing it after:
// each row's columns rendered as text.
func stateRows(t *testing.T, dir, q string, args ...any) [][]string {
	t.Helper()
	st, err := state.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out [][]string
	for _, vals := range queryRows(t, st.DB, q, args...) {
		row := make([]string, len(vals))
		for i, v := range vals {
			if v != nil {
				row[i] = fmt.Sprint(v)
			}
		}
		out = append(out, row)
	}
	return out
}

// heldAs reports how current state holds a record: "deleted", "alive" or
// "" (not held), and what it was merged into.
func heldAs(t *testing.T, dir, system, object, id string) (string, string) {
	t.Helper()
	merged := "NULL"
	if object == "contacts" {
		merged = "merged_into"
	}
	rows := stateRows(t, dir, fmt.Sprintf("SELECT CASE WHEN is_deleted THEN 'deleted' ELSE 'alive' END, %s FROM raw.%s WHERE id = $1", merged, state.QuoteIdent(extract.TableName(system, object))), id)
	if len(rows) == 0 {
		return "", ""
	}
	return rows[0][0], rows[0][1]
}

// linkedCompany returns the Intercom id of a company linked to an Account.
func linkedCompany(t *testing.T, emu *testenv.Emulators) string {
	t.Helper()
	acct := emu.SOQL("SELECT Id, Intercom_Company_Id__c FROM Account WHERE Intercom_Company_Id__c != null ORDER BY Id LIMIT 1")
	if len(acct) == 0 {
		t.Fatal("no Account is linked to an Intercom company")
	}
	code, b := emu.ICDo(http.MethodGet, "/companies?company_id="+testenv.Str(acct[0], "Intercom_Company_Id__c"), nil)
	if code != 200 {
		t.Fatalf("find company: %d %s", code, b)
	}
	return between(string(b), `"id":"`, `"`)
}

// linkedPairs returns Salesforce Contacts linked to an Intercom contact,
// with their Intercom ids.
func linkedPairs(t *testing.T, emu *testenv.Emulators, n int) []map[string]any {
	t.Helper()
	pairs := emu.SOQL(fmt.Sprintf("SELECT Id, Email, Intercom_Id__c FROM Contact WHERE Intercom_Id__c != null AND Email != null ORDER BY Id LIMIT %d", n))
	if len(pairs) < n {
		t.Fatalf("%d linked Contacts, want %d", len(pairs), n)
	}
	return pairs
}

// TestRun_DeletesFoundBySweep: deletes no change feed shows reach the
// models. Between two runs an Intercom contact is deleted, another
// archived, a lead merged into a new user; a Salesforce Task and a Contact
// are deleted and the recycle bin emptied. The second run's sweeps find
// them all (Intercom's list and 404/410 look-ups; a Bulk query of Ids and
// queryAll look-ups): current state holds each as deleted, the merged
// lead with its survivor; the Task (read back by the run before) is not
// created again, no Intercom
// contact is created for an email that was deleted or archived, the
// Salesforce record linked to the merged lead is linked to the survivor,
// and the run after writes nothing.
func TestRun_DeletesFoundBySweep(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(pipelinePath())
	if err != nil {
		t.Fatal(err)
	}
	edit := strings.NewReplacer(
		`api_version: "2.14"`, `api_version: "2.16"`, // merged contacts answer 410 from 2.16 on
		"contacts:      { lookback: 5m }", "contacts:      { lookback: 5m, sweep_every: 1ms }",
		"companies:     { lookback: 1h, every: 1h }", "companies:     { lookback: 1h, every: 1h, sweep_every: 1ms }",
		"Contact:                { lookback: 2m }", "Contact:                { lookback: 2m, sweep_every: 1ms }",
		"Task:                   { lookback: 2m }", "Task:                   { lookback: 2m, sweep_every: 1ms }",
	)
	text := edit.Replace(string(b))
	if strings.Count(text, "sweep_every: 1ms") != 4 || !strings.Contains(text, `"2.16"`) {
		t.Fatal("the example pipeline's extract section changed: the test's edits did not all apply")
	}
	pipeline := testenv.WriteFile(t, t.TempDir(), "pipeline.yaml", text)
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 400})
	dir := t.TempDir()
	run := func(args ...string) result {
		t.Helper()
		if len(args) == 0 {
			args = []string{"run"}
		}
		return ferry(t, emu.Env(nil), append(args, "--pipeline", pipeline, "--data-dir", dir, "--log-level", "warn")...)
	}
	mustRun(t, run)
	mustRun(t, run) // reads back what the first wrote (the Tasks it created)

	pairs := linkedPairs(t, emu, 3)
	deleted, archived, purged := pairs[0], pairs[1], pairs[2]
	if code, b := emu.ICDo(http.MethodDelete, "/contacts/"+testenv.Str(deleted, "Intercom_Id__c"), nil); code != 200 {
		t.Fatalf("delete contact: %d %s", code, b)
	}
	if code, b := emu.ICDo(http.MethodPost, "/contacts/"+testenv.Str(archived, "Intercom_Id__c")+"/archive", nil); code != 200 {
		t.Fatalf("archive contact: %d %s", code, b)
	}
	company := linkedCompany(t, emu)
	if code, b := emu.ICDo(http.MethodDelete, "/companies/"+company, nil); code != 200 {
		t.Fatalf("delete company: %d %s", code, b)
	}
	// A lead linked to a Salesforce record, merged into a new user.
	var lead, linked string
	for _, c := range emu.ICContacts() {
		if testenv.Str(c, "role") != "lead" {
			continue
		}
		for _, obj := range []string{"Lead", "Contact"} {
			if got := emu.SOQL("SELECT Id FROM " + obj + " WHERE Intercom_Id__c = '" + testenv.Str(c, "id") + "'"); len(got) == 1 {
				lead, linked = testenv.Str(c, "id"), testenv.Str(got[0], "Id")
			}
		}
		if lead != "" {
			break
		}
	}
	if lead == "" {
		t.Fatal("no Intercom lead is linked to a Salesforce record")
	}
	code, body := emu.ICDo(http.MethodPost, "/contacts", map[string]any{"role": "user", "email": "survivor@merge.example.com", "name": "Sur Vivor"})
	if code != 200 {
		t.Fatalf("create user: %d %s", code, body)
	}
	survivor := between(string(body), `"id":"`, `"`)
	if code, b := emu.ICDo(http.MethodPost, "/contacts/merge", map[string]any{"from": lead, "into": survivor, "skip_duplicate_validation": true}); code != 200 {
		t.Fatalf("merge: %d %s", code, b)
	}
	// Salesforce: a Task ferry created, and a linked Contact, deleted and
	// purged before ferry could see them in the recycle bin.
	task := emu.SOQL("SELECT Id, Intercom_Conversation_Id__c FROM Task WHERE Intercom_Conversation_Id__c != null ORDER BY Id LIMIT 1")
	if len(task) == 0 {
		t.Fatal("no Task logs a conversation")
	}
	const v = "/services/data/v62.0/sobjects/"
	for _, d := range []struct{ object, id string }{{"Task", testenv.Str(task[0], "Id")}, {"Contact", testenv.Str(purged, "Id")}} {
		if code, b := emu.SFDo(http.MethodDelete, v+d.object+"/"+d.id, nil); code != 204 {
			t.Fatalf("delete %s: %d %s", d.object, code, b)
		}
	}
	if n := emu.Salesforce.EmptyRecycleBin(); n != 2 {
		t.Fatalf("emptied %d records from the recycle bin, want 2", n)
	}
	created0, companies0 := emu.ICStats().Records["contacts"]["created"], emu.ICStats().Records["companies"]["created"]

	second := mustRun(t, run)
	heldDeleted := func(when string) {
		t.Helper()
		for _, c := range []struct{ system, object, id, into string }{
			{"intercom", "contacts", testenv.Str(deleted, "Intercom_Id__c"), ""},
			{"intercom", "contacts", testenv.Str(archived, "Intercom_Id__c"), ""},
			{"intercom", "contacts", lead, survivor},
			{"intercom", "companies", company, ""},
			{"salesforce", "Task", testenv.Str(task[0], "Id"), ""},
			{"salesforce", "Contact", testenv.Str(purged, "Id"), ""},
		} {
			if held, into := heldAs(t, dir, c.system, c.object, c.id); held != "deleted" || into != c.into {
				t.Errorf("%s: %s.%s %s is held %q (merged into %q), want deleted (merged into %q)", when, c.system, c.object, c.id, held, into, c.into)
			}
		}
	}
	heldDeleted("after the run")
	if rows := stateRows(t, dir, "SELECT count(*) FROM ferry.deletions WHERE how = 'sweep' AND landed_by IS NOT NULL"); rows[0][0] != "6" {
		t.Errorf("ferry.deletions holds %s landed sweep finds, want 6", rows[0][0])
	}
	if n := emu.ICStats().Records["companies"]["created"] - companies0; n != 0 {
		t.Errorf("the run created %d Intercom companies (the deleted one again?)", n)
	}
	if got := emu.SOQL("SELECT Id FROM Task WHERE Intercom_Conversation_Id__c = '" + testenv.Str(task[0], "Intercom_Conversation_Id__c") + "'"); len(got) != 0 {
		t.Errorf("the deleted Task was created again: %v", got)
	}
	if n := emu.ICStats().Records["contacts"]["created"] - created0; n != 0 {
		t.Errorf("the run created %d Intercom contacts (for deleted or archived ones?)", n)
	}
	for _, obj := range []string{"Lead", "Contact"} {
		if got := emu.SOQL("SELECT Id FROM " + obj + " WHERE Email = '" + testenv.Str(purged, "Email") + "'"); len(got) != 0 {
			t.Errorf("a %s was created for the purged Contact's email: %v", obj, got)
		}
	}
	links := emu.SOQL("SELECT Id FROM Lead WHERE Intercom_Id__c = '" + survivor + "'")
	links = append(links, emu.SOQL("SELECT Id FROM Contact WHERE Intercom_Id__c = '"+survivor+"'")...)
	if len(links) != 1 || testenv.Str(links[0], "Id") != linked {
		t.Errorf("records linked to the surviving contact: %v, want only %s (linked to the merged lead)", links, linked)
	}
	if !strings.Contains(second.stdout, "deleted") {
		t.Errorf("the summary does not report the deletes:\n%s", second.stdout)
	}
	runWritesNothing(t, emu, run)
	// The tombstones are landing files like any extraction's: current
	// state rebuilt from the landing holds the same deletes.
	mustRun(t, run, "rebuild")
	heldDeleted("after a rebuild")
}

// TestRun_WritesToDeletedRecordsAreDeletes: a write to a record deleted
// since the last extraction (an Intercom contact, an Intercom company, a
// Salesforce Contact deleted for good) is answered 404 /
// ENTITY_IS_DELETED. It is not a reject: the run succeeds with none,
// records each as a delete, and the next run lands them and writes
// nothing to them. (The sweeps are not due: the example pipeline sweeps
// daily and weekly.)
func TestRun_WritesToDeletedRecordsAreDeletes(t *testing.T) {
	t.Parallel()
	emu, dir, run := setup(t, 300)
	mustRun(t, run)
	pairs := linkedPairs(t, emu, 2)
	icGone, sfGone := pairs[0], pairs[1]
	// Phone is owned by whichever side changed: the Salesforce edit is
	// written to the deleted Intercom contact. job_title is Intercom's:
	// its edit is written to the purged Contact.
	const v = "/services/data/v62.0/sobjects/"
	if code, b := emu.SFDo(http.MethodPatch, v+"Contact/"+testenv.Str(icGone, "Id"), map[string]any{"Phone": "+1-555-010-0001"}); code != 204 {
		t.Fatalf("edit phone: %d %s", code, b)
	}
	if code, b := emu.ICDo(http.MethodDelete, "/contacts/"+testenv.Str(icGone, "Intercom_Id__c"), nil); code != 200 {
		t.Fatalf("delete contact: %d %s", code, b)
	}
	if code, b := emu.ICDo(http.MethodPut, "/contacts/"+testenv.Str(sfGone, "Intercom_Id__c"), map[string]any{"custom_attributes": map[string]any{"job_title": "Gone Before Written"}}); code != 200 {
		t.Fatalf("edit job_title: %d %s", code, b)
	}
	if code, b := emu.SFDo(http.MethodDelete, v+"Contact/"+testenv.Str(sfGone, "Id"), nil); code != 204 {
		t.Fatalf("delete Contact: %d %s", code, b)
	}
	emu.Salesforce.EmptyRecycleBin()
	// Account Name is Salesforce's: the rename is written to the deleted
	// company.
	company := linkedCompany(t, emu)
	acct := emu.SOQL("SELECT Id FROM Account WHERE Intercom_Company_Id__c != null ORDER BY Id LIMIT 1")
	if code, b := emu.SFDo(http.MethodPatch, v+"Account/"+testenv.Str(acct[0], "Id"), map[string]any{"Name": "Renamed After Delete"}); code != 204 {
		t.Fatalf("rename account: %d %s", code, b)
	}
	if code, b := emu.ICDo(http.MethodDelete, "/companies/"+company, nil); code != 200 {
		t.Fatalf("delete company: %d %s", code, b)
	}

	second := mustRun(t, run)
	if strings.Contains(second.stdout, "rejected") || !strings.Contains(second.stdout, "gone: 3") {
		t.Errorf("the run should report 3 records gone and no rejects:\n%s", second.stdout)
	}
	// The company's update and its contacts' attachments to it are all
	// gone writes; none is a reject.
	if rows := stateRows(t, dir, "SELECT status, count(DISTINCT record_key) FROM ferry.ledger WHERE status IN ('gone', 'rejected') GROUP BY ALL ORDER BY 1"); len(rows) != 1 || rows[0][0] != "gone" {
		t.Errorf("ledger rows gone or rejected: %v, want only gone ones\n%s", rows, second.stdout)
	}
	rows := stateRows(t, dir, "SELECT system, object, id FROM ferry.deletions WHERE how = 'write' AND landed_by IS NULL ORDER BY system, object")
	want := [][]string{{"intercom", "companies", company}, {"intercom", "contacts", testenv.Str(icGone, "Intercom_Id__c")}, {"salesforce", "Contact", testenv.Str(sfGone, "Id")}}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("pending deletions %v, want %v", rows, want)
	}
	third := mustRun(t, run)
	runID := strings.TrimSpace(between(third.stdout, "run ", "\n"))
	keys := []any{runID, company, testenv.Str(icGone, "Intercom_Id__c"), testenv.Str(sfGone, "Id")}
	if rows := stateRows(t, dir, "SELECT op, record_key FROM ferry.ledger WHERE run_id = $1 AND record_key IN ($2, $3, $4)", keys...); len(rows) != 0 {
		t.Errorf("the run after wrote to the deleted records: %v", rows)
	}
	// (With its company gone, the Account may match another company by
	// web domain, and the run after that one writes nothing.)
	runWritesNothing(t, emu, run)
	if held, _ := heldAs(t, dir, "intercom", "companies", company); held != "deleted" {
		t.Errorf("the deleted company is held %q after the next extraction", held)
	}
	if held, _ := heldAs(t, dir, "intercom", "contacts", testenv.Str(icGone, "Intercom_Id__c")); held != "deleted" {
		t.Errorf("the deleted Intercom contact is held %q after the next extraction", held)
	}
	if held, _ := heldAs(t, dir, "salesforce", "Contact", testenv.Str(sfGone, "Id")); held != "deleted" {
		t.Errorf("the purged Contact is held %q after the next extraction", held)
	}
	// A delete nothing writes to waits for the daily sweep, or for one
	// asked for now.
	quiet := linkedPairs(t, emu, 3)[2]
	if code, b := emu.ICDo(http.MethodDelete, "/contacts/"+testenv.Str(quiet, "Intercom_Id__c"), nil); code != 200 {
		t.Fatalf("delete contact: %d %s", code, b)
	}
	mustRun(t, run)
	if held, _ := heldAs(t, dir, "intercom", "contacts", testenv.Str(quiet, "Intercom_Id__c")); held != "alive" {
		t.Errorf("a contact deleted with no write to it is held %q before any sweep is due", held)
	}
	mustRun(t, run, "run", "--sweep")
	if held, _ := heldAs(t, dir, "intercom", "contacts", testenv.Str(quiet, "Intercom_Id__c")); held != "deleted" {
		t.Errorf("ferry run --sweep did not find the deleted contact: held %q", held)
	}
}
