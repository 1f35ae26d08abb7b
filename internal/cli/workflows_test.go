package cli_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/emulator/seed"
	"github.com/ferry-sync/ferry/internal/cli"
	"github.com/ferry-sync/ferry/internal/testenv"
)

// shippedWorkflows are the workflows that are a shipped model plus a sync
// declaration (models/syncs), off in the example pipeline.
var shippedWorkflows = []string{"expansion_opportunities", "notifications", "several_leads", "accounts_from_companies", "companies_from_accounts", "lead_status_tags", "tags_to_salesforce", "case_notes"}

// enableShipped turns the shipped workflows of a copy of the example
// pipeline on.
func enableShipped(t testing.TB, pipeline string) string {
	t.Helper()
	return switchShipped(t, pipeline, "false", "true")
}

// settlesInOneRun turns off, in a pipeline enableShipped turned them on in,
// the workflows whose records settle over two runs: a new Account and
// company are matched, and written what their mapping and health give
// them, by the run after the one that creates them; a Lead lead capture
// creates is tagged with its status by the run after.
func settlesInOneRun(pipeline string) string {
	return strings.NewReplacer("  accounts_from_companies:\n    enabled: true\n", "  accounts_from_companies:\n    enabled: false\n",
		"  companies_from_accounts:\n    enabled: true\n", "  companies_from_accounts:\n    enabled: false\n",
		"  lead_status_tags:\n    enabled: true\n", "  lead_status_tags:\n    enabled: false\n").Replace(pipeline)
}

func switchShipped(t testing.TB, pipeline, from, to string) string {
	t.Helper()
	for _, w := range shippedWorkflows {
		old := "  " + w + ":\n    enabled: " + from + "\n"
		if strings.Contains(pipeline, "  "+w+":\n    enabled: "+to+"\n") {
			continue // switched already
		}
		if !strings.Contains(pipeline, old) {
			t.Fatalf("the pipeline lacks %q", old)
		}
		pipeline = strings.Replace(pipeline, old, "  "+w+":\n    enabled: "+to+"\n", 1)
	}
	return pipeline
}

// TestRun_ShippedWorkflows: expansion Opportunities, owner notifications,
// Tasks on several Leads of one email, and tags in Salesforce, each a
// shipped model and sync declaration, write what the brief says in one
// run, and a second run writes nothing; an expansion Opportunity someone
// deletes is not created again.
func TestRun_ShippedWorkflows(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(pipelinePath())
	if err != nil {
		t.Fatal(err)
	}
	// Accounts for companies and companies for Accounts settle over two
	// runs (TestRun_AccountsFromCompanies, TestRun_CompaniesFromAccounts).
	text := settlesInOneRun(enableShipped(t, string(b)))
	p := testenv.WriteFile(t, t.TempDir(), "pipeline.yaml", text)
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 200})
	data := t.TempDir()
	run := func(...string) result {
		return ferry(t, emu.Env(nil), "run", "--pipeline", p, "--data-dir", data, "--log-level", "warn")
	}
	first := mustRun(t, run)

	// Expansion: one Opportunity per Account with a conversation tagged
	// pricing (the example's tag), of the Account's owner, in one run.
	owners := map[string]string{}
	for _, a := range emu.SOQL("SELECT Id, OwnerId FROM Account") {
		owners[testenv.Str(a, "Id")] = testenv.Str(a, "OwnerId")
	}
	want := map[string]bool{}
	for _, r := range stateRows(t, data, `SELECT DISTINCT contacts.account_id
FROM stg_intercom__conversations AS conversations
JOIN int_people_identity AS people ON people.intercom_id = conversations.contact_id
JOIN stg_salesforce__contacts AS contacts ON contacts.sf_id = people.sf_id
WHERE list_contains(conversations.tag_names, 'pricing') AND contacts.account_id IS NOT NULL`) {
		want[r[0]] = true
	}
	opps := emu.SOQL("SELECT Id, AccountId, OwnerId, Type, StageName, Name, Ferry_Key__c FROM Opportunity WHERE Ferry_Key__c LIKE 'expansion:%'")
	if len(opps) == 0 || len(opps) != len(want) {
		t.Fatalf("%d expansion Opportunities, want one for each of the %d Accounts with a pricing conversation\n%s", len(opps), len(want), first.stdout)
	}
	for _, o := range opps {
		acct := testenv.Str(o, "AccountId")
		if !want[acct] || testenv.Str(o, "Ferry_Key__c") != "expansion:"+acct+":pricing" || testenv.Str(o, "OwnerId") != owners[acct] ||
			testenv.Str(o, "Type") != "Existing Business" || testenv.Str(o, "StageName") != "Prospecting" || !strings.HasPrefix(testenv.Str(o, "Name"), "Expansion: pricing") {
			t.Errorf("expansion Opportunity %v (Account owner %s)", o, owners[acct])
		}
	}

	// Notifications, in the same run: each expansion Opportunity and each
	// escalation Case gets a Task for its Account's owner.
	tasks := map[string]map[string]any{}
	for _, tk := range emu.SOQL("SELECT Id, WhatId, OwnerId, Subject, Status, Ferry_Key__c FROM Task WHERE Ferry_Key__c LIKE 'notify:%'") {
		tasks[testenv.Str(tk, "Ferry_Key__c")] = tk
	}
	for _, o := range opps {
		tk := tasks["notify:expansion:"+testenv.Str(o, "Ferry_Key__c")]
		if tk == nil || testenv.Str(tk, "WhatId") != testenv.Str(o, "Id") || testenv.Str(tk, "OwnerId") != owners[testenv.Str(o, "AccountId")] {
			t.Errorf("expansion %s: notification Task %v", testenv.Str(o, "Id"), tk)
		}
	}
	cases := emu.SOQL("SELECT Id, AccountId, Intercom_Conversation_Id__c FROM Case WHERE Intercom_Conversation_Id__c != null")
	if len(cases) == 0 {
		t.Fatal("no escalation Cases: the fixture should have some")
	}
	for _, c := range cases {
		tk := tasks["notify:case:"+testenv.Str(c, "Intercom_Conversation_Id__c")]
		if tk == nil || testenv.Str(tk, "WhatId") != testenv.Str(c, "Id") || testenv.Str(tk, "OwnerId") != owners[testenv.Str(c, "AccountId")] {
			t.Errorf("Case %s: notification Task %v", testenv.Str(c, "Id"), tk)
		}
	}
	// Case notes, in the same run: each escalation Case's conversation has
	// one note from ferry, linking to the Case by its new Id.
	for _, c := range cases {
		if notes := caseNotes(t, emu, testenv.Str(c, "Intercom_Conversation_Id__c")); len(notes) != 1 || !strings.Contains(notes[0], "/lightning/r/Case/"+testenv.Str(c, "Id")+"/view") {
			t.Errorf("Case %s: notes on its conversation %v, want one linking to it", testenv.Str(c, "Id"), notes)
		}
	}
	support := 0
	for key, tk := range tasks {
		if strings.HasPrefix(key, "notify:support:") {
			support++
			if !strings.HasPrefix(testenv.Str(tk, "WhatId"), "006") || testenv.Str(tk, "Status") != "Not Started" {
				t.Errorf("support-issue Task %v", tk)
			}
		}
	}
	if support == 0 {
		t.Error("no support-issue notification, while open Opportunities' accounts have open conversations")
	}

	// Tags: each linked Contact and Lead holds its Intercom contact's tags.
	names := map[string]string{}
	for _, tg := range seed.Tags {
		names[tg.ID] = tg.Name
	}
	tagsOf := map[string]string{}
	for _, c := range emu.ICContacts() {
		var ts []string
		if list, ok := c["tags"].(map[string]any); ok {
			data, _ := list["data"].([]any)
			for _, d := range data {
				ts = append(ts, names[testenv.Str(d.(map[string]any), "id")])
			}
		}
		sort.Strings(ts)
		tagsOf[testenv.Str(c, "id")] = strings.Join(ts, ";")
	}
	tagged := 0
	for _, obj := range []string{"Contact", "Lead"} {
		for _, r := range emu.SOQL("SELECT Id, Intercom_Id__c, Intercom_Tags__c FROM " + obj + " WHERE Intercom_Id__c != null") {
			wantTags := tagsOf[testenv.Str(r, "Intercom_Id__c")]
			if got := testenv.Str(r, "Intercom_Tags__c"); got != wantTags {
				t.Errorf("%s %s: Intercom_Tags__c %q, want %q", obj, testenv.Str(r, "Id"), got, wantTags)
			}
			if wantTags != "" {
				tagged++
			}
		}
	}
	if tagged == 0 {
		t.Error("no tagged person: the fixture should have some")
	}
	// The sync log holds each record the shipped syncs wrote, done, the
	// Leads this run created included.
	runID := strings.TrimPrefix(strings.SplitN(first.stdout, "\n", 2)[0], "run ")
	logged := stateRows(t, data, `SELECT source, outcome, count(*) FROM ferry.sync_log WHERE run_id = $1 AND source LIKE 'sync %' GROUP BY ALL ORDER BY ALL`, runID)
	sources := map[string]bool{}
	for _, l := range logged {
		sources[l[0]] = true
		if l[1] != "done" {
			t.Errorf("sync log of the first run: %v", logged)
		}
	}
	for _, s := range []string{"sync expansion_opportunities", "sync notifications", "sync contact_tags", "sync lead_tags", "sync case_notes"} {
		if !sources[s] {
			t.Errorf("the first run's sync log has no %s: %v", s, logged)
		}
	}
	if n := stateRows(t, data, `SELECT count(*) FROM ferry.sync_log WHERE run_id = $1 AND source = 'sync lead_tags' AND record_key LIKE 'lead:%' AND outcome = 'done'`, runID)[0][0]; n == "0" {
		t.Error("no Lead created by this run had its tags written in the same run")
	}
	runWritesNothing(t, emu, run)

	// Several Leads, one email: a person with a conversation gets two more
	// Leads; the next run logs the conversation on each.
	who := stateRows(t, data, `SELECT conversations.conversation_id, people.email_norm
FROM stg_intercom__conversations AS conversations
JOIN int_people_intercom AS people ON people.intercom_id = conversations.contact_id
WHERE conversations.customer_initiated AND people.email_norm IS NOT NULL
ORDER BY 1 LIMIT 1`)[0]
	var leads []string
	for _, last := range []string{"Twin", "Triplet"} {
		code, body := emu.SFDo(http.MethodPost, "/services/data/v62.0/sobjects/Lead", map[string]any{"LastName": last, "Company": "Acme", "Email": who[1]},
			"Sforce-Duplicate-Rule-Header", "allowSave=true")
		if code != 201 {
			t.Fatalf("create Lead: %d %s", code, body)
		}
		leads = append(leads, strings.Split(strings.Split(string(body), `"id":"`)[1], `"`)[0])
	}
	mustRun(t, run)
	for _, lead := range leads {
		got := emu.SOQL("SELECT Id, WhoId, Subject, Status FROM Task WHERE Ferry_Key__c = 'lead-task:" + who[0] + ":" + lead + "'")
		if len(got) != 1 || testenv.Str(got[0], "WhoId") != lead || !strings.HasPrefix(testenv.Str(got[0], "Subject"), "Intercom: ") {
			t.Errorf("Lead %s sharing %s: Tasks %v, want the conversation %s logged once", lead, who[1], got, who[0])
		}
	}
	runWritesNothing(t, emu, run)

	// Never twice for the same signal: a deleted expansion Opportunity
	// stays deleted.
	gone := testenv.Str(opps[0], "Id")
	if code, body := emu.SFDo(http.MethodDelete, "/services/data/v62.0/sobjects/Opportunity/"+gone, nil); code != 204 {
		t.Fatalf("delete Opportunity: %d %s", code, body)
	}
	runWritesNothing(t, emu, run)
	if got := emu.SOQL("SELECT Id FROM Opportunity WHERE Ferry_Key__c = '" + testenv.Str(opps[0], "Ferry_Key__c") + "'"); len(got) != 0 {
		t.Errorf("the deleted expansion Opportunity was created again: %v", got)
	}
}

// caseNotes lists the bodies of the notes ferry's Case notes left on a
// conversation.
func caseNotes(t *testing.T, emu *testenv.Emulators, conversation string) []string {
	t.Helper()
	code, body := emu.ICDo(http.MethodGet, "/conversations/"+conversation, nil)
	if code != 200 {
		t.Fatalf("conversation %s: %d %s", conversation, code, body)
	}
	var v struct {
		Parts struct {
			Parts []struct {
				PartType string `json:"part_type"`
				Body     string `json:"body"`
			} `json:"conversation_parts"`
		} `json:"conversation_parts"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range v.Parts.Parts {
		if p.PartType == "note" && strings.Contains(p.Body, "Salesforce Case opened") {
			out = append(out, p.Body)
		}
	}
	return out
}

// TestRun_AccountsFromCompanies: an Intercom company with a company_id that
// no Account matches and that meets the rule becomes one Account, keyed on
// the company's external id; the next run links the two (and writes what
// Salesforce's defaults, such as the owner, and the health score give the
// new Account), the one after writes nothing, and an Account someone
// deletes is not created again.
func TestRun_AccountsFromCompanies(t *testing.T) {
	t.Parallel()
	p := pipelineWith(t, "  accounts_from_companies:\n    enabled: false\n", "  accounts_from_companies:\n    enabled: true\n")
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 200})
	held := map[string]bool{}
	for _, a := range emu.SOQL("SELECT Intercom_Company_Id__c FROM Account WHERE Intercom_Company_Id__c != null") {
		held[testenv.Str(a, "Intercom_Company_Id__c")] = true
	}
	data := t.TempDir()
	run := func(...string) result {
		return ferry(t, emu.Env(nil), "run", "--pipeline", p, "--data-dir", data, "--log-level", "warn")
	}
	mustRun(t, run)
	companies := map[string]map[string]any{}
	_, body := emu.ICDo(http.MethodGet, "/companies?per_page=60", nil)
	var page struct {
		Data []map[string]any `json:"data"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	for _, c := range page.Data {
		companies[testenv.Str(c, "company_id")] = c
	}
	created := emu.SOQL("SELECT Id, Name, NumberOfEmployees, Intercom_Company_Id__c FROM Account WHERE Intercom_Company_Id__c != null")
	made := 0
	for _, a := range created {
		key := testenv.Str(a, "Intercom_Company_Id__c")
		if held[key] {
			continue
		}
		made++
		c := companies[key]
		if c == nil || testenv.Str(a, "Name") != testenv.Str(c, "name") || testenv.Str(a, "NumberOfEmployees") != testenv.Str(c, "size") {
			t.Errorf("Account %v for company %v", a, c)
			continue
		}
		if size, _ := c["size"].(float64); size < 50 {
			t.Errorf("company %s of size %v, below the rule's 50, became Account %s", key, size, testenv.Str(a, "Id"))
		}
	}
	if made == 0 {
		t.Fatal("no Account was created for a company: the fixture should have some")
	}
	mustRun(t, run) // the new Accounts' owner and health
	runWritesNothing(t, emu, run)
	var gone map[string]any
	for _, a := range created {
		if !held[testenv.Str(a, "Intercom_Company_Id__c")] {
			gone = a
			break
		}
	}
	if code, body := emu.SFDo(http.MethodDelete, "/services/data/v62.0/sobjects/Account/"+testenv.Str(gone, "Id"), nil); code != 204 {
		t.Fatalf("delete Account: %d %s", code, body)
	}
	mustRun(t, run)
	if got := emu.SOQL("SELECT Id FROM Account WHERE Intercom_Company_Id__c = '" + testenv.Str(gone, "Intercom_Company_Id__c") + "'"); len(got) != 0 {
		t.Errorf("the deleted Account was created again: %v", got)
	}
}

// TestRun_CompaniesFromAccounts: a Salesforce Account that no Intercom
// company matches and that meets the rule becomes a company whose
// company_id is the Account Id, and the Account is linked to it in the same
// run; the next run settles what the new pair's mapping and health give
// them, the one after writes nothing.
func TestRun_CompaniesFromAccounts(t *testing.T) {
	t.Parallel()
	p := pipelineWith(t, "  companies_from_accounts:\n    enabled: false\n    rule: annual_revenue >= 1000000\n", "  companies_from_accounts:\n    enabled: true\n    rule: \"true\"\n")
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 200})
	data := t.TempDir()
	run := func(...string) result {
		return ferry(t, emu.Env(nil), "run", "--pipeline", p, "--data-dir", data, "--log-level", "warn")
	}
	first := mustRun(t, run)
	linked := 0
	for _, a := range emu.SOQL("SELECT Id, Name, Intercom_Company_Id__c FROM Account") {
		id := testenv.Str(a, "Id")
		if testenv.Str(a, "Intercom_Company_Id__c") != id {
			continue
		}
		linked++
		code, body := emu.ICDo(http.MethodGet, "/companies?company_id="+id, nil)
		var list struct {
			Data []map[string]any `json:"data"`
		}
		if code != 200 || json.Unmarshal(body, &list) != nil || len(list.Data) != 1 || testenv.Str(list.Data[0], "name") != testenv.Str(a, "Name") {
			t.Errorf("Account %s (%q): its company answers %d %s", id, testenv.Str(a, "Name"), code, body)
		}
	}
	if linked == 0 {
		t.Fatalf("no Account got a company: the fixture should have one no company matches\n%s", first.stdout)
	}
	mustRun(t, run) // the new pair's mapping and health
	runWritesNothing(t, emu, run)
}

// TestRun_LeadStatusTags: each Intercom contact matched to a Lead carries
// the Lead's status as a tag; a status changed in Salesforce moves the tag
// (the old one removed), and a run
// after writes nothing. A Lead lead capture creates is tagged by the run
// after.
func TestRun_LeadStatusTags(t *testing.T) {
	t.Parallel()
	p := pipelineWith(t, "  lead_status_tags:\n    enabled: false\n", "  lead_status_tags:\n    enabled: true\n")
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 200})
	data := t.TempDir()
	run := func(...string) result {
		return ferry(t, emu.Env(nil), "run", "--pipeline", p, "--data-dir", data, "--log-level", "warn")
	}
	mustRun(t, run)
	mustRun(t, run) // the Leads the first run captured
	runWritesNothing(t, emu, run)
	tagNames := func() map[string]string {
		_, b := emu.ICDo(http.MethodGet, "/tags", nil)
		var list struct {
			Data []struct{ ID, Name string } `json:"data"`
		}
		if err := json.Unmarshal(b, &list); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, tg := range list.Data {
			out[tg.ID] = tg.Name
		}
		return out
	}
	statusTags := func(contact string) []string {
		names := tagNames()
		_, b := emu.ICDo(http.MethodGet, "/contacts/"+contact, nil)
		var c map[string]any
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		var out []string
		list, _ := c["tags"].(map[string]any)
		data, _ := list["data"].([]any)
		for _, d := range data {
			if n := names[testenv.Str(d.(map[string]any), "id")]; strings.HasPrefix(n, "Lead status: ") {
				out = append(out, n)
			}
		}
		return out
	}
	leads := emu.SOQL("SELECT Id, Status, Intercom_Id__c FROM Lead WHERE Intercom_Id__c != null AND IsConverted = false")
	if len(leads) == 0 {
		t.Fatal("no linked Lead")
	}
	for _, l := range leads[:min(len(leads), 25)] {
		if got := statusTags(testenv.Str(l, "Intercom_Id__c")); len(got) != 1 || got[0] != "Lead status: "+testenv.Str(l, "Status") {
			t.Errorf("contact %s of Lead %s (%s): status tags %v", testenv.Str(l, "Intercom_Id__c"), testenv.Str(l, "Id"), testenv.Str(l, "Status"), got)
		}
	}
	// A status changed in Salesforce moves the tag.
	lead := leads[0]
	to := "Working - Contacted"
	if testenv.Str(lead, "Status") == to {
		to = "Closed - Not Converted"
	}
	if code, b := emu.SFDo(http.MethodPatch, "/services/data/v62.0/sobjects/Lead/"+testenv.Str(lead, "Id"), map[string]any{"Status": to}); code != 204 {
		t.Fatalf("status: %d %s", code, b)
	}
	mustRun(t, run)
	if got := statusTags(testenv.Str(lead, "Intercom_Id__c")); len(got) != 1 || got[0] != "Lead status: "+to {
		t.Errorf("after the status moved to %q: status tags %v", to, got)
	}
	runWritesNothing(t, emu, run)
}

// edited is the example pipeline with each (old, new) pair of edits
// replaced once; an edit that finds nothing to replace fails the test.
func edited(t *testing.T, edits ...string) string {
	t.Helper()
	b, err := os.ReadFile(pipelinePath())
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(text, edits[i]) {
			t.Fatalf("the example pipeline lacks %q", edits[i])
		}
		text = strings.Replace(text, edits[i], edits[i+1], 1)
	}
	return text
}

// startPipeline writes text as a pipeline file and starts emulators of
// scale: the emulators, the file's path, the data dir, and a `ferry run`
// of the file on the data dir.
func startPipeline(t *testing.T, text string, scale int) (*testenv.Emulators, string, string, func(args ...string) result) {
	t.Helper()
	p := testenv.WriteFile(t, t.TempDir(), "pipeline.yaml", text)
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: scale})
	data := t.TempDir()
	return emu, p, data, func(args ...string) result {
		return ferry(t, emu.Env(nil), append([]string{"run", "--pipeline", p, "--data-dir", data, "--log-level", "warn"}, args...)...)
	}
}

// TestRun_OnboardingMilestones: an Account whose Opportunity closes won
// today is in onboarding. The run after the one that sees the win reads the
// Intercom events of its people, and only of people of Accounts in
// onboarding (a request each, as ferry plan says), and writes on the
// Account the day its people first had each configured event; a person's
// events of another Account are never read. The next run writes nothing;
// an earlier event moves the milestone. An event mapped to a field the
// Account lacks fails the run before any write, at the workflow's line.
func TestRun_OnboardingMilestones(t *testing.T) {
	t.Parallel()
	text := edited(t,
		"  onboarding_milestones:\n    enabled: false\n", "  onboarding_milestones:\n    enabled: true\n",
		"    # events: { every: 1h }", "    events: {}")
	emu, p, data, run := startPipeline(t, text, 200)
	// A first run matches the people; nobody is in onboarding yet, so no
	// event is read.
	mustRun(t, run)
	if n := emu.ICStats().Records["events"]["listed"]; n != 0 {
		t.Fatalf("%d event listings before any Account is in onboarding, want 0", n)
	}
	// Two Accounts with matched people: A wins today, B does not.
	accounts := stateRows(t, data, `SELECT contacts.account_id, list(DISTINCT people.intercom_id ORDER BY people.intercom_id)
FROM stg_salesforce__contacts AS contacts
JOIN int_people_identity AS people ON people.sf_id = contacts.sf_id
WHERE contacts.account_id IS NOT NULL AND NOT contacts.is_deleted
  AND contacts.account_id NOT IN (SELECT account_id FROM stg_salesforce__opportunities WHERE is_won AND close_date >= current_date - 90 AND account_id IS NOT NULL)
GROUP BY 1 HAVING count(DISTINCT people.intercom_id) >= 2 ORDER BY 1 LIMIT 2`)
	if len(accounts) != 2 {
		t.Fatalf("accounts with two matched people: %v", accounts)
	}
	acctA, acctB := accounts[0][0], accounts[1][0]
	peopleOf := func(l string) []string { return strings.Split(strings.Trim(l, "[]"), " ") }
	aPeople, bPeople := peopleOf(accounts[0][1]), peopleOf(accounts[1][1])
	code, body := emu.SFDo(http.MethodPost, "/services/data/v62.0/sobjects/Opportunity",
		map[string]any{"Name": "Onboarding win", "AccountId": acctA, "StageName": "Closed Won", "CloseDate": time.Now().UTC().Format(time.DateOnly)})
	if code != 201 {
		t.Fatalf("create Opportunity: %d %s", code, body)
	}
	day := func(d int) time.Time {
		return time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -d).Add(10 * time.Hour)
	}
	event := func(contact, name string, at time.Time) {
		t.Helper()
		if code, body := emu.ICDo(http.MethodPost, "/events", map[string]any{"id": contact, "event_name": name, "created_at": at.Unix()}); code != 202 {
			t.Fatalf("event: %d %s", code, body)
		}
	}
	event(aPeople[0], "created-project", day(3))
	event(aPeople[1], "created-project", day(5)) // the Account's first
	event(aPeople[1], "created-project", day(1))
	event(aPeople[0], "invited-teammate", day(2))
	event(aPeople[0], "logged-in", day(2)) // not a milestone
	event(bPeople[0], "created-project", day(4))

	// The run that sees the win reads no event yet; the next one reads
	// those of the people in onboarding, as ferry plan said it would.
	mustRun(t, run)
	plan := ferry(t, emu.Env(nil), "plan", "--pipeline", p, "--data-dir", data, "--log-level", "warn")
	if plan.code != 0 {
		t.Fatalf("plan: %d %s", plan.code, plan.stderr)
	}
	var inScope int
	for _, l := range strings.Split(plan.stdout, "\n") {
		if rest, ok := strings.CutPrefix(l, "intercom events (workflows.onboarding_milestones): read for the "); ok {
			fmt.Sscanf(rest, "%d", &inScope)
		}
	}
	if inScope < len(aPeople) {
		t.Fatalf("ferry plan says %d people in onboarding, want at least A's %d\n%s", inScope, len(aPeople), plan.stdout)
	}
	listed := emu.ICStats().Records["events"]["listed"]
	if listed != inScope {
		t.Fatalf("%d event listings by ferry plan, want one per person in onboarding (%d)", listed, inScope)
	}
	mustRun(t, run)
	if n := emu.ICStats().Records["events"]["listed"] - listed; n != inScope {
		t.Fatalf("the run read %d people's events, want the %d in onboarding", n, inScope)
	}
	if got := stateRows(t, data, `SELECT count(*) FROM raw.intercom__events WHERE contact_id = $1`, bPeople[0]); got[0][0] != "0" {
		t.Fatalf("events of a person of an Account not in onboarding were read: %v", got)
	}
	milestones := func(acct string) string {
		r := emu.SOQL("SELECT First_Project_Date__c, First_Invite_Date__c, First_Integration_Date__c FROM Account WHERE Id = '" + acct + "'")
		return testenv.Str(r[0], "First_Project_Date__c") + " " + testenv.Str(r[0], "First_Invite_Date__c") + " " + testenv.Str(r[0], "First_Integration_Date__c")
	}
	if got, want := milestones(acctA), day(5).Format(time.DateOnly)+" "+day(2).Format(time.DateOnly)+" "; got != want {
		t.Fatalf("Account A's milestones %q, want %q", got, want)
	}
	if got := milestones(acctB); got != "  " {
		t.Fatalf("Account B, not in onboarding, has milestones %q", got)
	}
	runWritesNothing(t, emu, run)

	// An earlier event moves the milestone.
	event(aPeople[0], "created-project", day(9))
	mustRun(t, run)
	if got := milestones(acctA); !strings.HasPrefix(got, day(9).Format(time.DateOnly)+" ") {
		t.Fatalf("after an earlier event, Account A's milestones %q", got)
	}

	// A milestone mapped to a field the Account lacks: refused at the
	// workflow's line, nothing written.
	bad := strings.Replace(text, "      connected-integration: First_Integration_Date__c\n", "      connected-integration: No_Such_Date__c\n", 1)
	badPath := testenv.WriteFile(t, t.TempDir(), "pipeline.yaml", bad)
	event(aPeople[1], "connected-integration", day(1))
	ic0, sf0 := emu.ICStats().WriteRequests, emu.SFStats().WriteRequests
	r := ferry(t, emu.Env(nil), "run", "--pipeline", badPath, "--data-dir", data, "--log-level", "warn")
	if r.code == 0 || !regexp.MustCompile(`pipeline\.yaml:\d+: workflows\.onboarding_milestones[^:]*: .*No_Such_Date__c`).MatchString(r.stderr) {
		t.Fatalf("a milestone field the Account lacks: exit %d\n%s", r.code, r.stderr)
	}
	if ic, sf := emu.ICStats().WriteRequests-ic0, emu.SFStats().WriteRequests-sf0; ic != 0 || sf != 0 {
		t.Fatalf("the refused run wrote %d Intercom and %d Salesforce requests", ic, sf)
	}
}

// TestRun_ValueMaps: a value map on a mapped field translates Salesforce's
// picklist into Intercom's vocabulary; a value the map lacks is written to
// neither side and listed with the run's rejects, naming the value and the
// field's line; once mapped, it is written and the next run writes
// nothing. A map naming a value the Salesforce picklist lacks fails the
// run before any write, at its line.
func TestRun_ValueMaps(t *testing.T) {
	t.Parallel()
	const line = "salesforce: Status,         owner: salesforce, direction: to_intercom }"
	withMap := func(values string) string {
		return edited(t, line, "salesforce: Status, owner: salesforce, direction: to_intercom, values: "+values+" }")
	}
	emu, p, data, run := startPipeline(t, withMap(`{ new: "Open - Not Contacted" }`), 200)
	dir := filepath.Dir(p)
	statuses := func() map[string]string {
		out := map[string]string{}
		for _, c := range emu.ICContacts() {
			out[testenv.Str(c, "id")] = testenv.Str(c, "custom_attributes.sf_lead_status")
		}
		return out
	}
	before := statuses()
	first := run()
	if first.code != cli.ExitRejects {
		t.Fatalf("first run: exit %d, want %d (the unmapped status)\n%s", first.code, cli.ExitRejects, first.stderr)
	}
	leads := stateRows(t, data, `SELECT people.intercom_id, leads.status FROM int_people_identity AS people
JOIN stg_salesforce__leads AS leads ON leads.sf_id = people.sf_id WHERE NOT leads.is_deleted ORDER BY 1`)
	after := statuses()
	mapped, unmapped := 0, 0
	for _, l := range leads {
		switch l[1] {
		case "Open - Not Contacted":
			mapped++
			if after[l[0]] != "new" {
				t.Errorf("contact %s of an Open - Not Contacted Lead: sf_lead_status %q, want new", l[0], after[l[0]])
			}
		case "Working - Contacted":
			unmapped++
			if after[l[0]] != before[l[0]] {
				t.Errorf("contact %s of a Working - Contacted Lead: sf_lead_status %q, was %q: an unmapped value must not be written", l[0], after[l[0]], before[l[0]])
			}
		}
	}
	if mapped == 0 || unmapped == 0 {
		t.Fatalf("Leads: %d mapped, %d unmapped: the fixture should have both", mapped, unmapped)
	}
	runID := strings.TrimPrefix(strings.SplitN(first.stdout, "\n", 2)[0], "run ")
	rej := stateRows(t, data, `SELECT count(*), min(error) FROM ferry.rejects WHERE run_id = $1 AND error LIKE 'UNMAPPED:%'`, runID)[0]
	if rej[0] != fmt.Sprint(unmapped) || !regexp.MustCompile(`pipeline\.yaml:\d+: sync\.people\.fields\[4\]\.values: Salesforce Lead\.Status value "Working - Contacted"`).MatchString(rej[1]) {
		t.Fatalf("rejects: %v, want %d naming the value and the field's line", rej, unmapped)
	}

	// Nothing that needs writing is refused: the next run, with only the
	// unmapped values left, lists them again and is not failed for them
	// (load.max_reject_ratio is of what was sent).
	if again := run(); again.code != cli.ExitRejects {
		t.Fatalf("the run after: exit %d, want %d\n%s", again.code, cli.ExitRejects, again.stderr)
	}
	// No contact, the Leads lead capture made and read back included,
	// holds Salesforce's vocabulary.
	for id, v := range statuses() {
		if v == "Open - Not Contacted" || v == "Working - Contacted" {
			t.Errorf("contact %s holds the untranslated status %q", id, v)
		}
	}

	// Mapped, the value is written; then nothing is.
	testenv.WriteFile(t, dir, "pipeline.yaml", withMap(`{ new: "Open - Not Contacted", working: "Working - Contacted" }`))
	mustRun(t, run)
	after = statuses()
	for _, l := range leads {
		if want := map[string]string{"Open - Not Contacted": "new", "Working - Contacted": "working"}[l[1]]; want != "" && after[l[0]] != want {
			t.Errorf("contact %s of a %s Lead: sf_lead_status %q, want %q", l[0], l[1], after[l[0]], want)
		}
	}
	runWritesNothing(t, emu, run)

	// A value the picklist lacks: refused before any write, at its line.
	testenv.WriteFile(t, dir, "pipeline.yaml", withMap(`{ new: "Open", working: "Working - Contacted" }`))
	ic0, sf0 := emu.ICStats().WriteRequests, emu.SFStats().WriteRequests
	r := run()
	if r.code == 0 || !regexp.MustCompile(`pipeline\.yaml:\d+: sync\.people\.fields\[4\]\.values: value "Open" is not in the picklist of Lead\.Status`).MatchString(r.stderr) {
		t.Fatalf("a value the picklist lacks: exit %d\n%s", r.code, r.stderr)
	}
	if ic, sf := emu.ICStats().WriteRequests-ic0, emu.SFStats().WriteRequests-sf0; ic != 0 || sf != 0 {
		t.Fatalf("the refused run wrote %d Intercom and %d Salesforce requests", ic, sf)
	}
}

// TestRun_ValueMapDefault: Intercom's values reach Salesforce through the
// map, and one the map lacks takes the default; the next run compares in
// Salesforce's vocabulary and writes nothing.
func TestRun_ValueMapDefault(t *testing.T) {
	t.Parallel()
	text := edited(t, "{ intercom: industry,                         salesforce: Industry,          owner: salesforce }",
		`{ intercom: industry, salesforce: Industry, owner: intercom, values: { Technology: Technology, Finance: Banking }, default: Other }`)
	emu, _, data, run := startPipeline(t, text, 200)
	mustRun(t, run)
	held := map[string]string{}
	for _, a := range emu.SOQL("SELECT Id, Industry FROM Account") {
		held[testenv.Str(a, "Id")] = testenv.Str(a, "Industry")
	}
	pairs := stateRows(t, data, `SELECT identity.sf_id, companies.industry FROM int_company_identity AS identity
JOIN raw.intercom__companies AS companies ON companies.id = identity.intercom_id WHERE companies.industry IS NOT NULL ORDER BY 1`)
	seen := map[string]int{}
	for _, pr := range pairs {
		want := map[string]string{"Technology": "Technology", "Finance": "Banking"}[pr[1]]
		if want == "" {
			want = "Other"
		}
		seen[want]++
		if held[pr[0]] != want {
			t.Errorf("Account %s of an Intercom company in %s: Industry %q, want %q", pr[0], pr[1], held[pr[0]], want)
		}
	}
	if seen["Banking"] == 0 || seen["Other"] == 0 || seen["Technology"] == 0 {
		t.Fatalf("translations seen %v: the fixture should need each", seen)
	}
	runWritesNothing(t, emu, run)
}

// TestRun_TagCampaigns: a Campaign per configured Intercom tag, created
// once, whose members are exactly the matched Leads and Contacts with the
// tag (a Lead lead capture creates joins on the run after, when it is
// matched); then a run writes nothing; an untagged person's member is
// deleted, and tagged again, the person is a member again.
func TestRun_TagCampaigns(t *testing.T) {
	t.Parallel()
	text := edited(t,
		"  tag_campaigns:\n    enabled: false\n    tags: [pricing]\n", "  tag_campaigns:\n    enabled: true\n    tags: [pricing, billing]\n",
		"    # Campaign:             {}", "    Campaign:             {}",
		"    # CampaignMember:       {}", "    CampaignMember:       {}")
	emu, _, data, run := startPipeline(t, text, 200)
	tagID := map[string]string{}
	for _, tg := range seed.Tags {
		tagID[tg.Name] = tg.ID
	}
	// want: "tag person" for each matched Lead or Contact whose Intercom
	// contact has a configured tag, from the emulators and the identity.
	want := func() map[string]bool {
		matched := map[string]string{}
		for _, r := range stateRows(t, data, `SELECT intercom_id, sf_id FROM int_people_identity`) {
			matched[r[0]] = r[1]
		}
		out := map[string]bool{}
		for _, c := range emu.ICContacts() {
			list, _ := c["tags"].(map[string]any)
			data, _ := list["data"].([]any)
			for _, d := range data {
				id := testenv.Str(d.(map[string]any), "id")
				for _, tag := range []string{"pricing", "billing"} {
					if id == tagID[tag] && matched[testenv.Str(c, "id")] != "" {
						out[tag+" "+matched[testenv.Str(c, "id")]] = true
					}
				}
			}
		}
		return out
	}
	members := func() map[string]bool {
		campaigns := map[string]string{}
		for _, c := range emu.SOQL("SELECT Id, Ferry_Key__c, Name FROM Campaign") {
			campaigns[testenv.Str(c, "Id")] = strings.TrimPrefix(testenv.Str(c, "Ferry_Key__c"), "tag:")
		}
		out := map[string]bool{}
		for _, m := range emu.SOQL("SELECT CampaignId, LeadId, ContactId FROM CampaignMember") {
			key := campaigns[testenv.Str(m, "CampaignId")] + " " + testenv.Str(m, "LeadId") + testenv.Str(m, "ContactId")
			if out[key] {
				t.Errorf("two members for %s", key)
			}
			out[key] = true
		}
		return out
	}
	same := func(what string) {
		t.Helper()
		w, got := want(), members()
		if len(w) == 0 {
			t.Fatal("no matched person has a configured tag: the fixture proves nothing")
		}
		for k := range w {
			if !got[k] {
				t.Errorf("%s: %s is not a member", what, k)
			}
		}
		for k := range got {
			if !w[k] {
				t.Errorf("%s: %s is a member, but the person lacks the tag", what, k)
			}
		}
	}
	mustRun(t, run)
	if got := emu.SOQL("SELECT Name FROM Campaign WHERE Ferry_Key__c LIKE 'tag:%'"); len(got) != 2 {
		t.Fatalf("Campaigns %v, want one per configured tag", got)
	}
	same("first run")
	// The Leads lead capture made in the first run are matched, and made
	// members, by the second.
	mustRun(t, run)
	same("second run")
	runWritesNothing(t, emu, run)

	// A member made by hand in place of ferry's counts: no second one.
	handPair := stateRows(t, data, `SELECT people.sf_object, people.sf_id FROM int_people_tags AS people
WHERE list_contains(people.tag_names, 'pricing') AND NOT starts_with(people.sf_id, 'lead:')
  AND people.intercom_id > (SELECT min(intercom_id) FROM int_people_tags WHERE list_contains(tag_names, 'pricing') AND NOT starts_with(sf_id, 'lead:')) -- not the one untagged below
ORDER BY 2 DESC LIMIT 1`)[0]
	var campaign string
	for _, c := range emu.SOQL("SELECT Id FROM Campaign WHERE Ferry_Key__c = 'tag:pricing'") {
		campaign = testenv.Str(c, "Id")
	}
	for _, m := range emu.SOQL("SELECT Id FROM CampaignMember WHERE CampaignId = '" + campaign + "' AND " + handPair[0] + "Id = '" + handPair[1] + "'") {
		if code, body := emu.SFDo(http.MethodDelete, "/services/data/v62.0/sobjects/CampaignMember/"+testenv.Str(m, "Id"), nil); code != 204 {
			t.Fatalf("delete member: %d %s", code, body)
		}
	}
	if code, body := emu.SFDo(http.MethodPost, "/services/data/v62.0/sobjects/CampaignMember", map[string]any{"CampaignId": campaign, handPair[0] + "Id": handPair[1]}); code != 201 {
		t.Fatalf("a member by hand: %d %s", code, body)
	}
	mustRun(t, run)
	same("with a member made by hand")
	runWritesNothing(t, emu, run)

	// Untag one member's Intercom contact: its member goes; tag it again:
	// it is a member again.
	pair := stateRows(t, data, `SELECT people.intercom_id, people.sf_id FROM int_people_tags AS people
WHERE list_contains(people.tag_names, 'pricing') AND NOT starts_with(people.sf_id, 'lead:') ORDER BY 1 LIMIT 1`)[0]
	if code, body := emu.ICDo(http.MethodDelete, "/contacts/"+pair[0]+"/tags/"+tagID["pricing"], nil); code != 200 {
		t.Fatalf("untag: %d %s", code, body)
	}
	mustRun(t, run)
	if members()["pricing "+pair[1]] {
		t.Fatalf("%s keeps its pricing membership after the tag was removed", pair[1])
	}
	same("after an untag")
	runWritesNothing(t, emu, run)
	if code, body := emu.ICDo(http.MethodPost, "/contacts/"+pair[0]+"/tags", map[string]any{"id": tagID["pricing"]}); code != 200 {
		t.Fatalf("tag: %d %s", code, body)
	}
	mustRun(t, run)
	same("after tagging again")
	if got := emu.SOQL("SELECT Id FROM CampaignMember WHERE Ferry_Key__c = 'tag:pricing:" + pair[1] + ":2'"); len(got) != 1 {
		t.Fatalf("the member made again: %v, want it keyed tag:pricing:%s:2", got, pair[1])
	}
	runWritesNothing(t, emu, run)
}
