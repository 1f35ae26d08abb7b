package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/internal/cli"
	"github.com/ferry-sync/ferry/internal/state"
	"github.com/ferry-sync/ferry/internal/testenv"
)

type result struct {
	code           int
	stdout, stderr string
}

func ferry(t testing.TB, getenv func(string) string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), args, &out, &errb, getenv)
	return result{code, out.String(), errb.String()}
}

func pipelinePath() string {
	return filepath.Join(testenv.Root(), "pipelines", "intercom_salesforce.yaml")
}

// setup starts seeded emulators and returns them with a `ferry run` closure
// on a fresh data dir.
func setup(t *testing.T, scale int) (*testenv.Emulators, string, func(args ...string) result) {
	t.Helper()
	return setupWith(t, testenv.EmulatorOptions{Scale: scale})
}

// setupWith is setup with the emulators' options spelled out.
func setupWith(t *testing.T, o testenv.EmulatorOptions) (*testenv.Emulators, string, func(args ...string) result) {
	t.Helper()
	emu := testenv.StartEmulators(t, o)
	dir := t.TempDir()
	env := emu.Env(nil)
	return emu, dir, func(args ...string) result {
		t.Helper()
		base := []string{"--pipeline", pipelinePath(), "--data-dir", dir, "--log-level", "warn"}
		if len(args) == 0 {
			args = []string{"run"}
		}
		return ferry(t, env, append(args[:1:1], append(base, args[1:]...)...)...)
	}
}

func mustRun(t *testing.T, run func(args ...string) result, args ...string) result {
	t.Helper()
	r := run(args...)
	if r.code != 0 {
		t.Fatalf("ferry %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

func lower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// TestRun_IdentityAndOwnership checks the first run against the identity
// rules and the field owners, and that a second run writes nothing.
func TestRun_IdentityAndOwnership(t *testing.T) {
	t.Parallel()
	emu, _, run := setup(t, 600)
	before := map[string]bool{}
	for _, obj := range []string{"Lead", "Contact"} {
		for _, r := range emu.SOQL("SELECT Id, Email FROM " + obj) {
			before[lower(testenv.Str(r, "Email"))] = true
		}
	}
	res := mustRun(t, run)
	if !strings.Contains(res.stdout, "ambiguous matches:") {
		t.Errorf("run output does not report the seed's ambiguous matches:\n%s", res.stdout)
	}

	// Every Intercom user with an email maps to exactly one Contact or Lead.
	links := map[string][]string{}
	for _, obj := range []string{"Lead", "Contact"} {
		for _, r := range emu.SOQL("SELECT Id, Email, Intercom_Id__c, LeadSource FROM " + obj + " WHERE Intercom_Id__c != null") {
			links[testenv.Str(r, "Intercom_Id__c")] = append(links[testenv.Str(r, "Intercom_Id__c")], obj+":"+testenv.Str(r, "Id"))
		}
	}
	contacts := emu.ICContacts()
	users := 0
	for _, c := range contacts {
		if testenv.Str(c, "role") != "user" || testenv.Str(c, "email") == "" {
			continue
		}
		users++
		if got := links[testenv.Str(c, "id")]; len(got) != 1 {
			t.Errorf("intercom user %s (%s) is linked to %d Salesforce records %v, want exactly 1", testenv.Str(c, "id"), testenv.Str(c, "email"), len(got), got)
		}
	}
	if users < 300 {
		t.Fatalf("only %d intercom users with email; the seed should have more", users)
	}

	// No Lead was created for an email Salesforce already had.
	created := emu.SOQL("SELECT Id, Email FROM Lead WHERE LeadSource = 'Intercom'")
	if len(created) == 0 {
		t.Fatal("no Leads were created for unmatched Intercom users")
	}
	for _, r := range created {
		if before[lower(testenv.Str(r, "Email"))] {
			t.Errorf("Lead %s created for %s, which existed in Salesforce before the run", testenv.Str(r, "Id"), testenv.Str(r, "Email"))
		}
	}

	// Two Leads share an email in the seed: only one is linked, both remain.
	dupes := emu.SOQL("SELECT Id, Email, Intercom_Id__c FROM Lead WHERE Title = 'Duplicate entry'")
	if len(dupes) == 0 {
		t.Fatal("seed has no duplicate Leads")
	}
	for _, d := range dupes {
		if testenv.Str(d, "Intercom_Id__c") != "" {
			t.Errorf("duplicate Lead %s was linked (merged) instead of being reported", testenv.Str(d, "Id"))
		}
	}

	// Owned fields hold the owner's value: job_title (Intercom) -> Title,
	// Owner.Email (Salesforce) -> account_owner.
	byID := map[string]map[string]any{}
	for _, c := range contacts {
		byID[testenv.Str(c, "id")] = c
	}
	checked := 0
	for _, r := range emu.SOQL("SELECT Id, Title, Owner.Email, Intercom_Id__c FROM Contact WHERE Intercom_Id__c != null") {
		c := byID[testenv.Str(r, "Intercom_Id__c")]
		if c == nil {
			continue
		}
		checked++
		if got, want := testenv.Str(r, "Title"), testenv.Str(c, "custom_attributes.job_title"); got != want {
			t.Errorf("Contact %s Title = %q, want Intercom's job_title %q", testenv.Str(r, "Id"), got, want)
		}
		if got, want := testenv.Str(c, "custom_attributes.account_owner"), testenv.Str(r, "Owner.Email"); got != want {
			t.Errorf("intercom %s account_owner = %q, want Salesforce owner %q", testenv.Str(c, "id"), got, want)
		}
	}
	if checked < 100 {
		t.Fatalf("checked only %d linked Contacts", checked)
	}

	// Contacts created in Intercom from Salesforce Contacts are attached to
	// the company matching the Contact's Account.
	companyOf := accountCompanies(emu)
	attached := 0
	for _, r := range emu.SOQL("SELECT Id, AccountId, Intercom_Id__c FROM Contact WHERE LeadSource = 'Partner' AND AccountId != null AND Intercom_Id__c != null") {
		want := companyOf[testenv.Str(r, "AccountId")]
		if want == "" {
			continue
		}
		_, b := emu.ICDo(http.MethodGet, "/contacts/"+testenv.Str(r, "Intercom_Id__c")+"/companies", nil)
		if !strings.Contains(string(b), want) {
			t.Errorf("intercom contact %s (from Contact %s) is not attached to company %s: %s", testenv.Str(r, "Intercom_Id__c"), testenv.Str(r, "Id"), want, b)
		}
		attached++
	}
	if attached == 0 {
		t.Fatal("no Salesforce-only Contacts with a matched Account were created in Intercom")
	}

	// A second run with no source changes writes nothing to either system.
	runWritesNothing(t, emu, run)
}

// runWritesNothing runs ferry once more and fails the test if it sent any
// write request to either emulator.
// accountCompanies maps each Account linked to an Intercom company to the
// company's Intercom id.
func accountCompanies(emu *testenv.Emulators) map[string]string {
	out := map[string]string{}
	for _, a := range emu.SOQL("SELECT Id, Intercom_Company_Id__c FROM Account WHERE Intercom_Company_Id__c != null") {
		_, b := emu.ICDo(http.MethodGet, "/companies?company_id="+testenv.Str(a, "Intercom_Company_Id__c"), nil)
		var found struct {
			Data []map[string]any `json:"data"` // a list of one
		}
		json.Unmarshal(b, &found)
		if len(found.Data) == 1 {
			out[testenv.Str(a, "Id")] = testenv.Str(found.Data[0], "id")
		}
	}
	return out
}

func runWritesNothing(t *testing.T, emu *testenv.Emulators, run func(args ...string) result) {
	t.Helper()
	ic0, sf0 := emu.ICStats().WriteRequests, emu.SFStats().WriteRequests
	res := mustRun(t, run)
	if ic, sf := emu.ICStats().WriteRequests-ic0, emu.SFStats().WriteRequests-sf0; ic != 0 || sf != 0 {
		t.Fatalf("the next run made %d Intercom and %d Salesforce write requests, want 0 and 0\n%s", ic, sf, res.stdout)
	}
}

// TestRun_EditsFlowByOwner edits each side between runs.
func TestRun_EditsFlowByOwner(t *testing.T) {
	t.Parallel()
	emu, _, run := setup(t, 300)
	mustRun(t, run)
	pair := emu.SOQL("SELECT Id, Intercom_Id__c, Phone FROM Contact WHERE Intercom_Id__c != null ORDER BY Id LIMIT 2")
	acct := emu.SOQL("SELECT Id, Name, Intercom_Company_Id__c FROM Account WHERE Intercom_Company_Id__c != null ORDER BY Id LIMIT 1")
	if len(pair) < 2 || len(acct) < 1 {
		t.Fatal("no linked records after the first run")
	}
	c0, c1 := pair[0], pair[1]
	// Salesforce-owned: Account Name. Intercom-owned: job_title.
	if code, b := emu.SFDo(http.MethodPatch, "/services/data/v62.0/sobjects/Account/"+testenv.Str(acct[0], "Id"), map[string]any{"Name": "Renamed In Salesforce"}); code != 204 {
		t.Fatalf("edit account: %d %s", code, b)
	}
	if code, b := emu.ICDo(http.MethodPut, "/contacts/"+testenv.Str(c0, "Intercom_Id__c"), map[string]any{"custom_attributes": map[string]any{"job_title": "Chief Edits Officer"}}); code != 200 {
		t.Fatalf("edit contact: %d %s", code, b)
	}
	// Newest-wins conflict on phone: Intercom first, Salesforce later.
	if code, b := emu.ICDo(http.MethodPut, "/contacts/"+testenv.Str(c1, "Intercom_Id__c"), map[string]any{"phone": "+1-555-000-0001"}); code != 200 {
		t.Fatalf("edit phone in intercom: %d %s", code, b)
	}
	emu.Clock.Advance(2 * time.Second)
	if code, b := emu.SFDo(http.MethodPatch, "/services/data/v62.0/sobjects/Contact/"+testenv.Str(c1, "Id"), map[string]any{"Phone": "+1-555-000-0002"}); code != 204 {
		t.Fatalf("edit phone in salesforce: %d %s", code, b)
	}
	mustRun(t, run)

	_, b := emu.ICDo(http.MethodGet, "/companies?company_id="+testenv.Str(acct[0], "Intercom_Company_Id__c"), nil)
	if !strings.Contains(string(b), `"name":"Renamed In Salesforce"`) {
		t.Errorf("Salesforce-owned Account Name did not reach Intercom: %s", b)
	}
	got := emu.SOQL("SELECT Title FROM Contact WHERE Id = '" + testenv.Str(c0, "Id") + "'")
	if testenv.Str(got[0], "Title") != "Chief Edits Officer" {
		t.Errorf("Intercom-owned job_title did not reach Salesforce: Title = %q", testenv.Str(got[0], "Title"))
	}
	_, b = emu.ICDo(http.MethodGet, "/contacts/"+testenv.Str(c1, "Intercom_Id__c"), nil)
	if !strings.Contains(string(b), `"phone":"+1-555-000-0002"`) {
		t.Errorf("conflicting phone edits: the newer (Salesforce) value should win in Intercom: %s", b)
	}
	got = emu.SOQL("SELECT Phone FROM Contact WHERE Id = '" + testenv.Str(c1, "Id") + "'")
	if testenv.Str(got[0], "Phone") != "+1-555-000-0002" {
		t.Errorf("conflicting phone edits: Salesforce Phone = %q, want its own newer value", testenv.Str(got[0], "Phone"))
	}
}

// TestRun_WrongCredentials fails with the system and the cause, writing nothing.
func TestRun_WrongCredentials(t *testing.T) {
	t.Parallel()
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 50})
	cases := map[string]struct {
		env  map[string]string
		want []string
	}{
		"intercom token": {map[string]string{"INTERCOM_ACCESS_TOKEN": "wrong"}, []string{"intercom", "access token was refused", "unauthorized"}},
		"salesforce key": {map[string]string{"SALESFORCE_USERNAME": "nobody@example.com"}, []string{"salesforce", "authentication", "invalid_grant"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := ferry(t, emu.Env(tc.env), "run", "--pipeline", pipelinePath(), "--data-dir", t.TempDir())
			if r.code != cli.ExitFailure {
				t.Fatalf("exit %d, want %d\n%s", r.code, cli.ExitFailure, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
	if ic, sf := emu.ICStats().WriteRequests, emu.SFStats().WriteRequests; ic != 0 || sf != 0 {
		t.Fatalf("failed runs wrote: intercom %d, salesforce %d", ic, sf)
	}
}

func TestRun_InvalidPipeline(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, err := os.ReadFile(pipelinePath())
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(b), "owner: intercom }", "owner: marketing }", 1)
	bad = strings.Replace(bad, "  intercom:\n    max_concurrency: 4", "  intercom:\n    max_concurrency: 4\n    colour: blue", 1)
	p := testenv.WriteFile(t, dir, "bad.yaml", bad)
	r := ferry(t, testenv.Env(nil), "run", "--pipeline", p, "--data-dir", dir)
	if r.code != cli.ExitUsage {
		t.Fatalf("exit %d, want %d\n%s", r.code, cli.ExitUsage, r.stderr)
	}
	if !strings.Contains(r.stderr, p+":") || !strings.Contains(r.stderr, "colour") {
		t.Errorf("unknown key not reported with file:line:\n%s", r.stderr)
	}
	fixed := strings.Replace(bad, "\n    colour: blue", "", 1)
	p = testenv.WriteFile(t, dir, "bad2.yaml", fixed)
	r = ferry(t, testenv.Env(nil), "plan", "--pipeline", p, "--data-dir", dir)
	line := 0
	for i, l := range strings.Split(fixed, "\n") {
		if strings.Contains(l, "owner: marketing") {
			line = i + 1
		}
	}
	if want := fmt.Sprintf("%s:%d: sync.people.fields[1].owner", p, line); r.code != cli.ExitUsage || !strings.Contains(r.stderr, want) {
		t.Fatalf("exit %d, stderr lacks %q:\n%s", r.code, want, r.stderr)
	}
}

func TestRun_SecondRunOnSameDataDirRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lock, err := state.Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	r := ferry(t, testenv.Env(nil), "run", "--pipeline", pipelinePath(), "--data-dir", dir)
	if r.code != cli.ExitFailure || !strings.Contains(r.stderr, "refusing to start") || !strings.Contains(r.stderr, "ferry.lock") {
		t.Fatalf("exit %d, want a clear refusal naming the lock:\n%s", r.code, r.stderr)
	}
}

func TestRun_UsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"frobnicate"}, {"run", "--no-such-flag"}, {"run", "--log-format", "xml"}, {"extract", "--since", "yesterday"}} {
		r := ferry(t, testenv.Env(nil), args...)
		if r.code != cli.ExitUsage {
			t.Errorf("ferry %v: exit %d, want %d\n%s", args, r.code, cli.ExitUsage, r.stderr)
		}
	}
	r := ferry(t, testenv.Env(nil), "run", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "--data-dir") {
		t.Errorf("run --help: exit %d\n%s", r.code, r.stdout)
	}
}

// sortedLines is a helper for comparing end states.
func sortedLines(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + " => " + m[k] + "\n")
	}
	return b.String()
}

// TestRun_DeletedInSalesforceIsNotResurrected: a Contact sales deleted is
// not re-created as a Lead from its Intercom twin.
func TestRun_DeletedInSalesforceIsNotResurrected(t *testing.T) {
	t.Parallel()
	emu, _, run := setup(t, 150)
	mustRun(t, run)
	c := emu.SOQL("SELECT Id, Email FROM Contact WHERE Intercom_Id__c != null ORDER BY Id LIMIT 1")[0]
	if code, b := emu.SFDo(http.MethodDelete, "/services/data/v62.0/sobjects/Contact/"+testenv.Str(c, "Id"), nil); code != 204 {
		t.Fatalf("delete: %d %s", code, b)
	}
	mustRun(t, run)
	if got := emu.SOQL("SELECT Id FROM Lead WHERE Email = '" + testenv.Str(c, "Email") + "'"); len(got) != 0 {
		t.Fatalf("the deleted Contact %s came back as Lead(s) %v", testenv.Str(c, "Id"), got)
	}
}

// TestRun_BudgetRefusesWork: a run that would exceed the Salesforce call
// budget stops with a clear message before writing.
func TestRun_BudgetRefusesWork(t *testing.T) {
	t.Parallel()
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 100})
	b, err := os.ReadFile(pipelinePath())
	if err != nil {
		t.Fatal(err)
	}
	p := testenv.WriteFile(t, t.TempDir(), "p.yaml", strings.Replace(string(b), "max_calls_per_run: 20000", "max_calls_per_run: 9", 1))
	r := ferry(t, emu.Env(nil), "run", "--pipeline", p, "--data-dir", t.TempDir())
	if r.code != cli.ExitFailure || !strings.Contains(r.stderr, "API budget exhausted") {
		t.Fatalf("exit %d, want 1 naming the budget:\n%s", r.code, r.stderr)
	}
	if ic, sf := emu.ICStats().WriteRequests, emu.SFStats().WriteRequests; ic+sf != 0 {
		t.Fatalf("wrote despite the budget: intercom %d, salesforce %d", ic, sf)
	}
}
