package cli_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/runner"
	"github.com/ferry-sync/ferry/internal/testenv"
)

// A sync an analyst adds with one SQL file and one stanza of the pipeline
// file: Account tiers computed in SQL, translated by a value map, written
// to Account.Tier__c; follow-up Tasks upserted on an external id; a custom
// attribute of Intercom contacts.
const tiersModel = `-- materialized: table
-- description: A tier per Account, from the parity of its name's length (a test fixture).
SELECT sf_id AS account_id,
       CASE WHEN length(name) % 2 = 0 THEN 'gold' ELSE 'silver' END AS tier
FROM stg_salesforce__accounts
WHERE NOT is_deleted
`

const followUpsModel = `-- materialized: table
-- description: One follow-up Task per conversation of the first three (a test fixture).
SELECT 'follow-up-' || conversation_id AS follow_up_key, 'Follow up on ' || conversation_id AS subject
FROM stg_intercom__conversations
ORDER BY conversation_id
LIMIT 3
`

const plansModel = `-- materialized: table
-- description: The first five Intercom users get the plan 'pro' (a test fixture).
SELECT intercom_id, 'pro' AS plan
FROM stg_intercom__contacts
WHERE role = 'user' AND NOT coalesce(is_deleted, false)
ORDER BY intercom_id
LIMIT 5
`

// accountTiersSync declares the Account tiers sync (tiersModel).
const accountTiersSync = `  - name: account_tiers
    model: account_tiers.sql
    target: salesforce.Account
    operation: update
    key: { column: account_id, field: Id }
    fields:
      - { column: tier, field: Tier__c, values: { gold: Strategic, silver: Enterprise } }
`

// declaredSyncs is the part of syncsStanza that writes Salesforce: the
// crash, fault and chaos tests run with it.
const declaredSyncs = `
syncs:
` + accountTiersSync + `  - name: follow_ups
    model: follow_ups.sql
    target: salesforce.Task
    operation: upsert
    key: { column: follow_up_key, field: Intercom_Conversation_Id__c }
    fields:
      - { column: subject, field: Subject }
`

// syncsStanza adds a sync of an Intercom custom attribute.
const syncsStanza = declaredSyncs + `  - name: plans
    model: plans.sql
    target: intercom.contacts
    operation: update
    key: { column: intercom_id, field: id }
    fields:
      - { column: plan, field: custom_attributes.signup_plan }
`

// TestRun_DeclaredSync: syncs declared in SQL and YAML only write what
// their models say (updates by Id, creates by upsert), a rerun writes
// nothing, a record changed in Salesforce is written again; and each bad
// variant (a missing key column, an unknown target field, a wrong type, a
// value a restricted picklist lacks) fails before any write, naming the
// pipeline file's line and key path.
func TestRun_DeclaredSync(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(pipelinePath())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	testenv.WriteFile(t, dir, "account_tiers.sql", tiersModel)
	testenv.WriteFile(t, dir, "follow_ups.sql", followUpsModel)
	testenv.WriteFile(t, dir, "plans.sql", plansModel)
	good := testenv.WriteFile(t, dir, "pipeline.yaml", string(b)+syncsStanza)
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 200})
	data := t.TempDir()
	run := func(pipeline string, args ...string) result {
		t.Helper()
		return ferry(t, emu.Env(nil), append([]string{"run", "--pipeline", pipeline, "--data-dir", data, "--log-level", "warn"}, args...)...)
	}
	first := mustRun(t, func(...string) result { return run(good, "--output", "json") })
	var sum runner.Summary
	if err := json.Unmarshal([]byte(first.stdout), &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, first.stdout)
	}
	// The plan splits what it creates from what it updates, where ferry
	// knows: the follow-ups are new, the tiers held.
	for _, l := range sum.Planned {
		switch {
		case l.Sync == "follow_ups" && (l.Creates != 3 || l.Updates != 0),
			l.Sync == "account_tiers" && (l.Creates != 0 || l.Updates != l.Records),
			l.Target == "intercom" && l.Op == "create" && l.Creates != l.Records:
			t.Errorf("plan line %+v: creates and updates miscounted", l)
		}
	}
	// The sync log accounts for every planned record, with its outcome.
	planned := 0
	for _, l := range sum.Planned {
		planned += l.Records
	}
	logged := stateRows(t, data, "SELECT count(*), count(*) FILTER (WHERE source = 'sync account_tiers' AND outcome = 'done'), count(*) FILTER (WHERE outcome NOT IN ('done', 'rejected', 'gone', 'unknown', 'not_written')) FROM ferry.sync_log WHERE run_id = $1", sum.RunID)
	tiers := 0
	for _, l := range sum.Planned {
		if l.Sync == "account_tiers" {
			tiers += l.Records
		}
	}
	if logged[0][0] != strconv.Itoa(planned) || logged[0][1] != strconv.Itoa(tiers) || tiers == 0 || logged[0][2] != "0" {
		t.Errorf("sync log: %v (rows, account_tiers done, unknown outcomes); the plan had %d records, %d of account_tiers", logged[0], planned, tiers)
	}
	t.Logf("sync log of the first run: %v", stateRows(t, data, "SELECT source, outcome, count(*) FROM ferry.sync_log WHERE run_id = $1 GROUP BY ALL ORDER BY ALL", sum.RunID))
	if _, err := os.Stat(sum.Files["sync_log"]); err != nil {
		t.Errorf("the run's sync log file: %v", err)
	}
	accounts := emu.SOQL("SELECT Id, Name, Tier__c FROM Account WHERE IsDeleted = false")
	for _, a := range accounts {
		want := "Enterprise"
		if len(testenv.Str(a, "Name"))%2 == 0 {
			want = "Strategic"
		}
		if got := testenv.Str(a, "Tier__c"); got != want {
			t.Fatalf("Account %s (%q): Tier__c %q, want %q\n%s", testenv.Str(a, "Id"), testenv.Str(a, "Name"), got, want, first.stdout)
		}
	}
	if tasks := emu.SOQL("SELECT Id, Subject FROM Task WHERE Intercom_Conversation_Id__c LIKE 'follow-up-%'"); len(tasks) != 3 || !strings.HasPrefix(testenv.Str(tasks[0], "Subject"), "Follow up on ") {
		t.Fatalf("follow-up Tasks: %v", tasks)
	}
	var users []map[string]any
	for _, c := range emu.ICContacts() {
		if testenv.Str(c, "role") == "user" {
			users = append(users, c)
		}
	}
	sort.Slice(users, func(i, j int) bool { return testenv.Str(users[i], "id") < testenv.Str(users[j], "id") })
	for _, c := range users[:5] {
		if got := testenv.Str(c, "custom_attributes.signup_plan"); got != "pro" {
			t.Errorf("Intercom user %s: signup_plan %q, want the sync's pro", testenv.Str(c, "id"), got)
		}
	}
	if sum.Written["salesforce Account update"] < tiers {
		t.Errorf("the summary counts %d Account updates for %d planned by the sync", sum.Written["salesforce Account update"], tiers)
	}
	runWritesNothing(t, emu, func(...string) result { return run(good) })

	// The README's worked example is a model that builds.
	readme, err := os.ReadFile(filepath.Join(testenv.Root(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, example, _ := strings.Cut(string(readme), "## Adding a sync")
	_, example, _ = strings.Cut(example, "```sql\n")
	example, _, _ = strings.Cut(example, "```")
	if q := ferry(t, emu.Env(nil), "query", "--data-dir", data, "--format", "csv", "--", example); q.code != 0 || !strings.HasPrefix(q.stdout, "account_id,tier\n") || strings.Count(q.stdout, "\n") < 10 {
		t.Errorf("the README's example model does not give a tier per Account: exit %d\n%s%s", q.code, q.stdout, q.stderr)
	}

	// Changed in Salesforce: the sync writes it back, and only it.
	acct := testenv.Str(accounts[0], "Id")
	if code, b := emu.SFDo(http.MethodPatch, "/services/data/v62.0/sobjects/Account/"+acct, map[string]any{"Tier__c": "SMB"}); code != 204 {
		t.Fatalf("edit Tier__c: %d %s", code, b)
	}
	sf0 := emu.SFStats().WriteRequests
	again := mustRun(t, func(...string) result { return run(good) })
	if got := emu.SOQL("SELECT Tier__c FROM Account WHERE Id = '" + acct + "'"); testenv.Str(got[0], "Tier__c") == "SMB" {
		t.Errorf("the sync did not write the tier back:\n%s", again.stdout)
	}
	if n := emu.SFStats().WriteRequests - sf0; n != 1 {
		t.Errorf("%d Salesforce write requests to put one tier back, want 1\n%s", n, again.stdout)
	}

	stanzaLine := strings.Count(string(b), "\n") + 1 // the line syncs: is on, in each bad file
	bad := []struct {
		name, from, to, want string
	}{
		{"missing key column", "key: { column: account_id, field: Id }", "key: { column: acct, field: Id }", `syncs\[0\]\.key\.column: model account_tiers has no column acct`},
		{"unknown target field", "field: Tier__c,", "field: Tier_Nope__c,", `syncs\[0\]\.fields\[0\]\.field: salesforce\.Account has no field Tier_Nope__c`},
		{"wrong type", "- { column: subject, field: Subject }", "- { column: subject, field: Subject, type: boolean }", `syncs\[1\]\.fields\[0\]\.type: Task\.Subject is a string field`},
		{"unmapped picklist value", "target: salesforce.Task\n    operation: upsert\n    key: { column: follow_up_key, field: Intercom_Conversation_Id__c }\n    fields:\n      - { column: subject, field: Subject }",
			"target: salesforce.Task\n    operation: upsert\n    key: { column: follow_up_key, field: Intercom_Conversation_Id__c }\n    fields:\n      - { column: subject, field: Subject }\n      - { column: subject, field: Status }",
			`syncs\[1\]\.fields\[1\]\.values: value "Follow up on [0-9]+" is not in the picklist of Task\.Status`},
	}
	for _, c := range bad {
		text := strings.Replace(string(b)+syncsStanza, c.from, c.to, 1)
		if text == string(b)+syncsStanza {
			t.Fatalf("%s: the fixture did not change", c.name)
		}
		p := testenv.WriteFile(t, dir, "bad.yaml", text)
		ic0, sf0 := emu.ICStats().WriteRequests, emu.SFStats().WriteRequests
		res := run(p)
		where := regexp.MustCompile(regexp.QuoteMeta(p) + `:(\d+): ` + c.want)
		m := where.FindStringSubmatch(res.stderr)
		if res.code == 0 || m == nil {
			t.Errorf("%s: exit %d, want a refusal matching %s\nstderr: %s", c.name, res.code, where, res.stderr)
			continue
		}
		if line := m[1]; len(line) == 0 || atoi(line) <= stanzaLine {
			t.Errorf("%s: refused at line %s, before the syncs stanza (line %d)", c.name, line, stanzaLine)
		}
		if ic, sf := emu.ICStats().WriteRequests-ic0, emu.SFStats().WriteRequests-sf0; ic != 0 || sf != 0 {
			t.Errorf("%s: %d Intercom and %d Salesforce writes before the refusal", c.name, ic, sf)
		}
	}
}

// TestRun_DeleteSync: a sync may delete Salesforce records: each row of its
// model names a record by Id. Stale Tasks are deleted, a few through
// Collections and many through a Bulk job; the sync log has each done; the
// next run, whose extraction sees them deleted, writes nothing; a delete
// with fields is refused at its line.
func TestRun_DeleteSync(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(pipelinePath())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	testenv.WriteFile(t, dir, "stale_tasks.sql", `-- materialized: table
-- description: Tasks whose subject says they are stale (a test fixture).
SELECT id AS task_id FROM raw.salesforce__task WHERE starts_with("Subject", 'Stale') AND NOT coalesce(is_deleted, false)
`)
	stanza := `
syncs:
  - name: stale_tasks
    model: stale_tasks.sql
    target: salesforce.Task
    operation: delete
    key: { column: task_id, field: Id }
`
	p := testenv.WriteFile(t, dir, "pipeline.yaml", string(b)+stanza)
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 100})
	data := t.TempDir()
	run := func(args ...string) result {
		return ferry(t, emu.Env(nil), append([]string{"run", "--pipeline", p, "--data-dir", data, "--log-level", "warn"}, args...)...)
	}
	mustRun(t, run)
	for _, n := range []int{3, 260} { // Collections, then a Bulk job (load.salesforce.collections_max)
		var stale []string
		for i := range n {
			code, body := emu.SFDo(http.MethodPost, "/services/data/v62.0/sobjects/Task", map[string]any{"Subject": "Stale " + strconv.Itoa(i)})
			if code != 201 {
				t.Fatalf("create Task: %d %s", code, body)
			}
			var res struct{ ID string }
			json.Unmarshal(body, &res)
			stale = append(stale, res.ID)
		}
		out := mustRun(t, run, "--output", "json")
		var sum runner.Summary
		if err := json.Unmarshal([]byte(out.stdout), &sum); err != nil {
			t.Fatalf("summary: %v\n%s", err, out.stdout)
		}
		if got := emu.SOQL("SELECT Id FROM Task WHERE Subject LIKE 'Stale%'"); len(got) != 0 {
			t.Fatalf("%d stale Tasks after the run, want 0", len(got))
		}
		logged := stateRows(t, data, "SELECT count(*) FILTER (WHERE outcome = 'done' AND op = 'delete') FROM ferry.sync_log WHERE run_id = $1 AND source = 'sync stale_tasks'", sum.RunID)
		if logged[0][0] != strconv.Itoa(n) {
			t.Fatalf("sync log: %v deletes done, want %d", logged, n)
		}
		runWritesNothing(t, emu, run)
	}
	bad := testenv.WriteFile(t, t.TempDir(), "pipeline.yaml", string(b)+stanza+"    fields:\n      - { column: task_id, field: Subject }\n")
	r := ferry(t, emu.Env(nil), "run", "--pipeline", bad, "--data-dir", data, "--log-level", "warn")
	if r.code != 2 || !regexp.MustCompile(`pipeline\.yaml:\d+: syncs\[0\]\.fields: a delete writes no field`).MatchString(r.stderr) {
		t.Fatalf("a delete with fields: exit %d\n%s", r.code, r.stderr)
	}
}

// TestRun_OverlappingSyncs: two syncs that write one field of one record
// are refused when their models are built, before any write, if their
// values differ; writing the same value, they are not.
func TestRun_OverlappingSyncs(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(pipelinePath())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	testenv.WriteFile(t, dir, "account_tiers.sql", tiersModel)
	// The gold accounts' tier again, Strategic as account_tiers maps it;
	// strategic_all says Strategic of every account.
	testenv.WriteFile(t, dir, "gold_again.sql", "-- materialized: table\n-- description: The gold accounts (a test fixture).\nSELECT account_id FROM account_tiers WHERE tier = 'gold'\n")
	testenv.WriteFile(t, dir, "strategic_all.sql", "-- materialized: table\n-- description: Every account (a test fixture).\nSELECT account_id FROM account_tiers\n")
	stanza := func(second string) string {
		return "\nsyncs:\n" + accountTiersSync + `  - name: strategic
    model: ` + second + `
    target: salesforce.Account
    operation: update
    key: { column: account_id, field: Id }
    fields:
      - { field: Tier__c, value: Strategic }
`
	}
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 100})
	data := t.TempDir()
	bad := testenv.WriteFile(t, dir, "bad.yaml", string(b)+stanza("strategic_all.sql"))
	r := ferry(t, emu.Env(nil), "run", "--pipeline", bad, "--data-dir", data, "--log-level", "warn")
	if r.code != 2 || !regexp.MustCompile(`bad\.yaml:\d+: syncs\[1\]\.fields\[0\]: sync strategic and sync account_tiers .* both write salesforce\.Account\.Tier__c of the record whose Id is \w+, with different values`).MatchString(r.stderr) {
		t.Fatalf("two syncs writing one field apart: exit %d\n%s", r.code, r.stderr)
	}
	if n := emu.SFStats().WriteRequests + emu.ICStats().WriteRequests; n != 0 {
		t.Fatalf("the refused run made %d write requests", n)
	}
	good := testenv.WriteFile(t, dir, "good.yaml", string(b)+stanza("gold_again.sql"))
	if r := ferry(t, emu.Env(nil), "run", "--pipeline", good, "--data-dir", data, "--log-level", "warn"); r.code != 0 {
		t.Fatalf("two syncs writing one value: exit %d\n%s", r.code, r.stderr)
	}
}

// An analyst's own creates of Intercom contacts: the Salesforce-only
// Contacts of a quarter of the Accounts (by a hash of the Id, so that the
// set is the same each run), made Intercom users by a create sync that
// writes each new id back to its Contact, and joined to their Account's
// company by an attach sync naming the contacts the create makes in the
// same run.
const newPeopleModel = `-- materialized: table
-- description: Salesforce-only Contacts to make Intercom users (a test fixture).
SELECT contacts.sf_id AS contact_id, trim(contacts.email) AS email, contacts.name, contacts.account_id
FROM stg_salesforce__contacts AS contacts
WHERE NOT contacts.is_deleted
  AND contacts.email_norm IS NOT NULL
  AND contacts.account_id IS NOT NULL
  AND contacts.intercom_link IS NULL
  AND hash(contacts.account_id) % 4 = 0
  AND contacts.email_norm NOT IN (SELECT email_norm FROM stg_intercom__contacts WHERE email_norm IS NOT NULL)
`

const newPeopleCompaniesModel = `-- materialized: table
-- description: The company of each new contact's Account (a test fixture).
SELECT 'ref:intercom.contacts:' || people.contact_id AS contact, identity.intercom_id AS company
FROM new_people AS people
INNER JOIN int_company_identity AS identity
    ON identity.sf_id = people.account_id
`

const newPeopleSyncs = `
syncs:
  - name: new_people
    model: new_people.sql
    target: intercom.contacts
    operation: create
    key: { column: contact_id }
    fields:
      - { column: email, field: email }
      - { column: name, field: name }
      - { field: role, value: user }
    write_back: { target: salesforce.Contact, field: Intercom_Id__c }
  - name: new_people_companies
    model: new_people_companies.sql
    target: intercom.contact_companies
    operation: attach
    key: { column: contact, field: id }
    fields:
      - { column: company, field: company }
`

// TestRun_DeclaredCreateAndAttach: a create sync and an attach sync
// declared in SQL and YAML, with ferry's own contact creates off, make
// each contact once, write its id back to the Contact, attach it to its
// Account's company in the same run, and a second run writes nothing. A
// write_back to a field the Contact lacks fails before any write, naming
// the line, as does an attach declared before the create it names.
func TestRun_DeclaredCreateAndAttach(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(pipelinePath())
	if err != nil {
		t.Fatal(err)
	}
	base := strings.Replace(string(b), "create_intercom_contacts: true", "create_intercom_contacts: false", 1)
	if base == string(b) {
		t.Fatal("the example pipeline lacks create_intercom_contacts: true")
	}
	dir := t.TempDir()
	testenv.WriteFile(t, dir, "new_people.sql", newPeopleModel)
	testenv.WriteFile(t, dir, "new_people_companies.sql", newPeopleCompaniesModel)
	good := testenv.WriteFile(t, dir, "pipeline.yaml", base+newPeopleSyncs)
	bad := testenv.WriteFile(t, dir, "bad.yaml", base+strings.Replace(newPeopleSyncs, "field: Intercom_Id__c }", "field: Intercom_Ref__c }", 1))
	// The attach declared before the create whose contacts it names.
	create, attach, _ := strings.Cut(strings.TrimPrefix(newPeopleSyncs, "\nsyncs:\n"), "  - name: new_people_companies\n")
	early := testenv.WriteFile(t, dir, "early.yaml", base+"\nsyncs:\n  - name: new_people_companies\n"+attach+create)
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 300})
	data := t.TempDir()
	run := func(pipeline string, args ...string) result {
		t.Helper()
		return ferry(t, emu.Env(nil), append([]string{"run", "--pipeline", pipeline, "--data-dir", data, "--log-level", "warn"}, args...)...)
	}

	// The bad variant first: nothing is written.
	res := run(bad)
	if res.code == 0 || !regexp.MustCompile(`bad\.yaml:\d+: syncs\[0\]\.write_back\.field: Contact has no field Intercom_Ref__c`).MatchString(res.stderr) {
		t.Fatalf("write_back to a missing field: exit %d, want a failure naming bad.yaml's line:\n%s", res.code, res.stderr)
	}
	res = run(early)
	if res.code == 0 || !regexp.MustCompile(`early\.yaml:\d+: syncs\[0\]\.key\.column: model new_people_companies names the contact "ref:intercom\.contacts:[^"]+": a reference must be ref:intercom\.contacts:<key> of a contact a create of intercom\.contacts declared before this sync makes`).MatchString(res.stderr) {
		t.Fatalf("attach before its create: exit %d, want a failure naming early.yaml's line:\n%s", res.code, res.stderr)
	}
	if ic, sf := emu.ICStats().WriteRequests, emu.SFStats().WriteRequests; ic+sf != 0 {
		t.Fatalf("the refused runs wrote %d Intercom and %d Salesforce requests", ic, sf)
	}

	first := mustRun(t, func(...string) result { return run(good, "--output", "json") })
	var sum runner.Summary
	if err := json.Unmarshal([]byte(first.stdout), &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, first.stdout)
	}
	planned := 0
	for _, l := range sum.Planned {
		if l.Sync == "new_people" {
			if l.Op != "create" || l.Creates != l.Records {
				t.Errorf("plan line %+v: want a create, every record new", l)
			}
			planned += l.Records
		}
	}
	if planned < 3 {
		t.Fatalf("the create planned %d contacts; the fixture should give several", planned)
	}
	if got := sum.Written["intercom contacts create"]; got != planned {
		t.Errorf("written %d contacts, planned %d", got, planned)
	}

	// Each Contact the model chose holds the id of an Intercom user with its
	// email, attached to the company of its Account.
	companyOf := accountCompanies(emu)
	linked, attached := 0, 0
	for _, c := range emu.SOQL("SELECT Id, Email, AccountId, Intercom_Id__c FROM Contact WHERE LeadSource = 'Partner' AND Intercom_Id__c != null") {
		linked++
		id := testenv.Str(c, "Intercom_Id__c")
		code, b := emu.ICDo(http.MethodGet, "/contacts/"+id, nil)
		var got map[string]any
		json.Unmarshal(b, &got)
		if code != http.StatusOK || !strings.EqualFold(testenv.Str(got, "email"), strings.TrimSpace(testenv.Str(c, "Email"))) || testenv.Str(got, "role") != "user" {
			t.Errorf("Contact %s links to Intercom %s, which is not a user with its email: %d %s", testenv.Str(c, "Id"), id, code, b)
			continue
		}
		if want := companyOf[testenv.Str(c, "AccountId")]; want != "" {
			_, b := emu.ICDo(http.MethodGet, "/contacts/"+id+"/companies", nil)
			if !strings.Contains(string(b), want) {
				t.Errorf("intercom contact %s (from Contact %s) is not attached to company %s: %s", id, testenv.Str(c, "Id"), want, b)
			}
			attached++
		}
	}
	if linked != planned || attached == 0 {
		t.Fatalf("%d Contacts link to a created contact (want %d), %d checked attached (want some)", linked, planned, attached)
	}
	// Made once: the next run matches them to their Contacts and creates
	// nothing (the people mapping then fills in the fields this create left
	// out, which is its job); the run after that writes nothing.
	second := mustRun(t, func(...string) result { return run(good, "--output", "json") })
	var sum2 runner.Summary
	if err := json.Unmarshal([]byte(second.stdout), &sum2); err != nil {
		t.Fatalf("summary: %v\n%s", err, second.stdout)
	}
	for k, n := range sum2.Written {
		if strings.HasSuffix(k, " create") || strings.HasSuffix(k, " attach") || strings.HasPrefix(k, "salesforce ") {
			t.Errorf("second run wrote %d %s, want none", n, k)
		}
	}
	runWritesNothing(t, emu, func(args ...string) result { return run(good, args...) })
}
