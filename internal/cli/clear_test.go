package cli_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/testenv"
)

// TestRun_EmptiedValuesAreCleared: when the owning side empties a field,
// the other side's copy is cleared, not left stale: an Intercom-owned
// job_title emptied in Intercom clears the Contact's Title; a
// Salesforce-owned Industry emptied in Salesforce clears the Intercom
// company's industry; a Task whose contact gets a second open opportunity
// loses its WhatId (the Task is related to the contact's single open
// opportunity only). A further run writes nothing.
func TestRun_EmptiedValuesAreCleared(t *testing.T) {
	t.Parallel()
	emu, _, run := setup(t, 400)
	mustRun(t, run)
	const v = "/services/data/v62.0/sobjects/"
	pair := emu.SOQL("SELECT Id, Intercom_Id__c, Title FROM Contact WHERE Intercom_Id__c != null AND Title != null ORDER BY Id LIMIT 1")
	acct := emu.SOQL("SELECT Id, Industry, Intercom_Company_Id__c FROM Account WHERE Intercom_Company_Id__c != null AND Industry != null ORDER BY Id LIMIT 1")
	task := emu.SOQL("SELECT Id, WhoId, WhatId, Intercom_Conversation_Id__c FROM Task WHERE WhatId != null AND Intercom_Conversation_Id__c != null ORDER BY Id LIMIT 1")
	if len(pair) == 0 || len(acct) == 0 || len(task) == 0 {
		t.Fatalf("fixtures missing: %d contacts with a Title, %d linked accounts with an Industry, %d Tasks with a WhatId", len(pair), len(acct), len(task))
	}
	if code, b := emu.ICDo(http.MethodPut, "/contacts/"+testenv.Str(pair[0], "Intercom_Id__c"), map[string]any{"custom_attributes": map[string]any{"job_title": nil}}); code != 200 {
		t.Fatalf("empty job_title: %d %s", code, b)
	}
	if code, b := emu.SFDo(http.MethodPatch, v+"Account/"+testenv.Str(acct[0], "Id"), map[string]any{"Industry": nil}); code != 204 {
		t.Fatalf("empty Industry: %d %s", code, b)
	}
	opp := testenv.Str(task[0], "WhatId")
	owner := emu.SOQL("SELECT AccountId FROM Opportunity WHERE Id = '" + opp + "'")
	code, b := emu.SFDo(http.MethodPost, v+"Opportunity", map[string]any{"Name": "Second open deal", "StageName": "Prospecting", "CloseDate": "2027-01-31", "AccountId": testenv.Str(owner[0], "AccountId")})
	if code != 201 {
		t.Fatalf("create opportunity: %d %s", code, b)
	}
	second := between(string(b), `"id":"`, `"`)
	if code, b := emu.SFDo(http.MethodPost, v+"OpportunityContactRole", map[string]any{"OpportunityId": second, "ContactId": testenv.Str(task[0], "WhoId"), "Role": "Decision Maker"}); code != 201 {
		t.Fatalf("create contact role: %d %s", code, b)
	}
	mustRun(t, run)
	if got := emu.SOQL("SELECT Title FROM Contact WHERE Id = '" + testenv.Str(pair[0], "Id") + "'"); testenv.Str(got[0], "Title") != "" {
		t.Errorf("job_title emptied in Intercom (its owner), Salesforce Title still %q", testenv.Str(got[0], "Title"))
	}
	_, body := emu.ICDo(http.MethodGet, "/companies?company_id="+testenv.Str(acct[0], "Intercom_Company_Id__c"), nil)
	if !strings.Contains(string(body), `"industry":null`) && strings.Contains(string(body), `"industry":"`) {
		t.Errorf("Industry emptied in Salesforce (its owner), Intercom company still holds one: %s", body)
	}
	if got := emu.SOQL("SELECT WhatId FROM Task WHERE Id = '" + testenv.Str(task[0], "Id") + "'"); testenv.Str(got[0], "WhatId") != "" {
		t.Errorf("Task of a contact with two open opportunities still related to %s", testenv.Str(got[0], "WhatId"))
	}
	runWritesNothing(t, emu, run)
}

func between(s, from, to string) string {
	_, after, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, to)
	return v
}
