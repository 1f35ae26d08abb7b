package cli_test

import (
	"net/http"
	"testing"

	"github.com/ferry-sync/ferry/internal/testenv"
)

// TestRun_ConversationTasks: every conversation of a matched person is one
// Task on that person, related to their single open opportunity (none when
// several), completed once the conversation closes, never duplicated.
func TestRun_ConversationTasks(t *testing.T) {
	t.Parallel()
	emu, _, run := setup(t, 400)
	mustRun(t, run)
	people := map[string]string{} // intercom id -> Salesforce Lead/Contact Id
	for _, obj := range []string{"Contact", "Lead"} {
		for _, r := range emu.SOQL("SELECT Id, Intercom_Id__c FROM " + obj + " WHERE Intercom_Id__c != null") {
			people[testenv.Str(r, "Intercom_Id__c")] = testenv.Str(r, "Id")
		}
	}
	tasks := map[string]map[string]any{}
	for _, r := range emu.SOQL("SELECT Id, WhoId, WhatId, Status, Subject, Description, Intercom_Conversation_Id__c FROM Task") {
		key := testenv.Str(r, "Intercom_Conversation_Id__c")
		if _, dup := tasks[key]; dup {
			t.Fatalf("two Tasks for conversation %s", key)
		}
		tasks[key] = r
	}
	code, b := emu.ICDo(http.MethodPost, "/conversations/search", map[string]any{"query": map[string]any{"field": "updated_at", "operator": ">", "value": 0}, "pagination": map[string]any{"per_page": 150}})
	if code != 200 {
		t.Fatal(string(b))
	}
	var open string
	convs := decodeConversations(t, b)
	matched := 0
	for _, c := range convs {
		who, ok := people[c.contact]
		task := tasks[c.id]
		if !ok {
			if task != nil {
				t.Errorf("conversation %s of an unmatched contact got Task %v", c.id, task)
			}
			continue
		}
		matched++
		if task == nil {
			t.Errorf("conversation %s has no Task", c.id)
			continue
		}
		wantStatus := "In Progress"
		if c.state == "closed" {
			wantStatus = "Completed"
		} else if open == "" {
			open = c.id
		}
		if testenv.Str(task, "WhoId") != who || testenv.Str(task, "Status") != wantStatus {
			t.Errorf("Task of %s: WhoId %s Status %s, want %s %s", c.id, testenv.Str(task, "WhoId"), testenv.Str(task, "Status"), who, wantStatus)
		}
		if what := testenv.Str(task, "WhatId"); what != "" {
			roles := emu.SOQL("SELECT OpportunityId FROM OpportunityContactRole WHERE ContactId = '" + who + "'")
			open := 0
			for _, r := range roles {
				if o := emu.SOQL("SELECT IsClosed FROM Opportunity WHERE Id = '" + testenv.Str(r, "OpportunityId") + "'"); testenv.Str(o[0], "IsClosed") == "false" {
					open++
				}
			}
			if open != 1 {
				t.Errorf("Task of %s is related to %s although the contact has %d open opportunities", c.id, what, open)
			}
		}
	}
	if matched < 50 || open == "" {
		t.Fatalf("%d matched conversations, open one %q: the seed should have more", matched, open)
	}
	// Close a conversation: the same Task is completed, no second one.
	if code, b := emu.ICDo(http.MethodPost, "/conversations/"+open+"/parts", map[string]any{"message_type": "close", "type": "admin", "admin_id": "991200000"}); code != 200 {
		t.Fatalf("close: %d %s", code, b)
	}
	mustRun(t, run)
	got := emu.SOQL("SELECT Id, Status FROM Task WHERE Intercom_Conversation_Id__c = '" + open + "'")
	if len(got) != 1 || testenv.Str(got[0], "Status") != "Completed" {
		t.Fatalf("after closing %s: Tasks %v, want one Completed", open, got)
	}
	ic0, sf0 := emu.ICStats().WriteRequests, emu.SFStats().WriteRequests
	mustRun(t, run)
	if ic, sf := emu.ICStats().WriteRequests-ic0, emu.SFStats().WriteRequests-sf0; ic+sf != 0 {
		t.Fatalf("a run without changes wrote %d/%d requests", ic, sf)
	}
}
