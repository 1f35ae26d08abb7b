package cli_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/testenv"
)

// TestRun_SalesforceSignals: the active-support-issue checkbox follows the
// account's open conversations, and an opportunity's stage reaches the
// contact's Intercom attribute, including after a change in Salesforce.
func TestRun_SalesforceSignals(t *testing.T) {
	t.Parallel()
	emu, _, run := setup(t, 400)
	mustRun(t, run)
	// Owner routing: the Intercom owner is the admin with the Salesforce owner's email.
	adminByEmail := adminsByEmail(t, emu)
	routed := 0
	for _, c := range emu.SOQL("SELECT Intercom_Id__c, Owner.Email FROM Contact WHERE Intercom_Id__c != null LIMIT 40") {
		_, cb := emu.ICDo(http.MethodGet, "/contacts/"+testenv.Str(c, "Intercom_Id__c"), nil)
		if want := adminByEmail[strings.ToLower(testenv.Str(c, "Owner.Email"))]; want != "" {
			routed++
			if !strings.Contains(string(cb), `"owner_id":`+want) {
				t.Errorf("contact %s not routed to admin %s: %s", testenv.Str(c, "Intercom_Id__c"), want, cb)
			}
		}
	}
	if routed == 0 {
		t.Fatal("no Salesforce owner is an Intercom admin; routing untested")
	}
	flagged := emu.SOQL("SELECT Id, AccountId FROM Opportunity WHERE IsClosed = false AND Active_Support_Issue__c = true")
	clear := emu.SOQL("SELECT Id FROM Opportunity WHERE IsClosed = false AND Active_Support_Issue__c = false")
	if len(flagged) == 0 || len(clear) == 0 {
		t.Fatalf("%d flagged and %d clear open opportunities: want both", len(flagged), len(clear))
	}
	// Close every open conversation of the first flagged account's people.
	account := testenv.Str(flagged[0], "AccountId")
	people := map[string]bool{}
	for _, c := range emu.SOQL("SELECT Intercom_Id__c FROM Contact WHERE AccountId = '" + account + "' AND Intercom_Id__c != null") {
		people[testenv.Str(c, "Intercom_Id__c")] = true
	}
	_, b := emu.ICDo(http.MethodPost, "/conversations/search", map[string]any{"query": map[string]any{"field": "open", "operator": "=", "value": true}, "pagination": map[string]any{"per_page": 150}})
	closed := 0
	for _, c := range decodeConversations(t, b) {
		if people[c.contact] {
			if code, b := emu.ICDo(http.MethodPost, "/conversations/"+c.id+"/parts", map[string]any{"message_type": "close", "type": "admin", "admin_id": "991200001"}); code != 200 {
				t.Fatalf("close %s: %d %s", c.id, code, b)
			}
			closed++
		}
	}
	if closed == 0 {
		t.Fatalf("no open conversation found for account %s", account)
	}
	// Move a stage in Salesforce.
	role := emu.SOQL("SELECT ContactId, OpportunityId FROM OpportunityContactRole WHERE Opportunity.IsClosed = false LIMIT 1")
	if len(role) == 0 {
		t.Fatal("no contact role on an open opportunity")
	}
	opp, contact := testenv.Str(role[0], "OpportunityId"), testenv.Str(role[0], "ContactId")
	if code, b := emu.SFDo(http.MethodPatch, "/services/data/v62.0/sobjects/Opportunity/"+opp, map[string]any{"StageName": "Negotiation/Review"}); code != 204 {
		t.Fatalf("stage: %d %s", code, b)
	}
	mustRun(t, run)
	if got := emu.SOQL("SELECT Active_Support_Issue__c FROM Opportunity WHERE Id = '" + testenv.Str(flagged[0], "Id") + "'"); testenv.Str(got[0], "Active_Support_Issue__c") != "false" {
		t.Errorf("opportunity %s still flagged after its account's conversations closed", testenv.Str(flagged[0], "Id"))
	}
	link := emu.SOQL("SELECT Intercom_Id__c FROM Contact WHERE Id = '" + contact + "'")
	_, b = emu.ICDo(http.MethodGet, "/contacts/"+testenv.Str(link[0], "Intercom_Id__c"), nil)
	others := emu.SOQL("SELECT OpportunityId FROM OpportunityContactRole WHERE ContactId = '" + contact + "'")
	if len(others) == 1 && !strings.Contains(string(b), `"sf_opportunity_stage":"Negotiation/Review"`) {
		t.Errorf("stage change did not reach the contact: %s", b)
	}
	if !strings.Contains(string(b), `"sf_opportunity_stage":"`) {
		t.Errorf("contact with an opportunity role has no stage attribute: %s", b)
	}
}

// TestRun_OwnerRoutingByAccount: with owner_routing.by: account, a
// contact's Intercom owner is the admin of its Account's owner, not of its
// Contact's; the run after writes nothing.
func TestRun_OwnerRoutingByAccount(t *testing.T) {
	t.Parallel()
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 200})
	p := pipelineWith(t, "    by: contact ", "    by: account ")
	data := t.TempDir()
	run := func(...string) result {
		return ferry(t, emu.Env(nil), "run", "--pipeline", p, "--data-dir", data, "--log-level", "warn")
	}
	adminByEmail := adminsByEmail(t, emu)
	var routedUsers []string // users who are Intercom admins
	userEmail := map[string]string{}
	for _, u := range emu.SOQL("SELECT Id, Email FROM User") {
		userEmail[testenv.Str(u, "Id")] = strings.ToLower(testenv.Str(u, "Email"))
		if adminByEmail[strings.ToLower(testenv.Str(u, "Email"))] != "" {
			routedUsers = append(routedUsers, testenv.Str(u, "Id"))
		}
	}
	if len(routedUsers) < 2 {
		t.Fatalf("%d Salesforce users are Intercom admins, want 2", len(routedUsers))
	}
	// Give a Contact an owner other than its Account's.
	var contact, account string
	for _, c := range emu.SOQL("SELECT Id, AccountId, Account.OwnerId FROM Contact WHERE AccountId != null AND Email != null") {
		if acctOwner := testenv.Str(c, "Account.OwnerId"); adminByEmail[userEmail[acctOwner]] != "" {
			contact, account = testenv.Str(c, "Id"), testenv.Str(c, "AccountId")
			other := routedUsers[0]
			if other == acctOwner {
				other = routedUsers[1]
			}
			if code, b := emu.SFDo(http.MethodPatch, "/services/data/v62.0/sobjects/Contact/"+contact, map[string]any{"OwnerId": other}); code != 204 {
				t.Fatalf("owner: %d %s", code, b)
			}
			break
		}
	}
	if contact == "" {
		t.Fatal("no Contact whose Account owner is an Intercom admin")
	}
	mustRun(t, run)
	checked := 0
	for _, c := range emu.SOQL("SELECT Id, Intercom_Id__c, OwnerId, Account.OwnerId FROM Contact WHERE Intercom_Id__c != null AND AccountId != null") {
		want := adminByEmail[userEmail[testenv.Str(c, "Account.OwnerId")]]
		if want == "" {
			continue
		}
		_, cb := emu.ICDo(http.MethodGet, "/contacts/"+testenv.Str(c, "Intercom_Id__c"), nil)
		if !strings.Contains(string(cb), `"owner_id":`+want) {
			t.Errorf("contact %s (Contact %s, Account owner %s, Contact owner %s) not routed to the Account owner's admin %s: %s",
				testenv.Str(c, "Intercom_Id__c"), testenv.Str(c, "Id"), testenv.Str(c, "Account.OwnerId"), testenv.Str(c, "OwnerId"), want, cb)
		}
		if testenv.Str(c, "Id") == contact {
			checked++
		}
	}
	if checked != 1 {
		t.Errorf("the Contact whose owner differs from its Account's (%s of %s) was not linked and checked", contact, account)
	}
	runWritesNothing(t, emu, run)
}

// adminsByEmail maps the workspace's admins' emails, lowercased, to their
// ids.
func adminsByEmail(t *testing.T, emu *testenv.Emulators) map[string]string {
	t.Helper()
	_, b := emu.ICDo(http.MethodGet, "/admins", nil)
	var admins struct {
		Admins []struct{ ID, Email string } `json:"admins"`
	}
	if err := json.Unmarshal(b, &admins); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, a := range admins.Admins {
		out[strings.ToLower(a.Email)] = a.ID
	}
	return out
}
