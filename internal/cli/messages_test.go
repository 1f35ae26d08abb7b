package cli_test

import (
	"net/http"
	"testing"

	"github.com/ferry-sync/ferry/internal/testenv"
)

// TestRun_OnboardingMessageOnce: every Closed Won opportunity's primary
// contact gets one message; reruns send nothing; a newly won deal gets one.
func TestRun_OnboardingMessageOnce(t *testing.T) {
	t.Parallel()
	emu, _, run := setup(t, 500)
	mustRun(t, run)
	sent := func() int { return emu.ICStats().Records["messages"]["sent"] }
	want := 0
	for _, o := range emu.SOQL("SELECT Id FROM Opportunity WHERE IsWon = true") {
		roles := emu.SOQL("SELECT ContactId FROM OpportunityContactRole WHERE OpportunityId = '" + testenv.Str(o, "Id") + "'")
		if len(roles) > 0 && len(emu.SOQL("SELECT Id FROM Contact WHERE Id = '"+testenv.Str(roles[0], "ContactId")+"' AND Intercom_Id__c != null")) > 0 {
			want++
		}
	}
	if want == 0 || sent() != want {
		t.Fatalf("sent %d onboarding messages, want one per won deal with a matched contact: %d", sent(), want)
	}
	mustRun(t, run)
	if sent() != want {
		t.Fatalf("a rerun sent %d more messages", sent()-want)
	}
	role := emu.SOQL("SELECT OpportunityId FROM OpportunityContactRole WHERE Opportunity.IsClosed = false AND Contact.Intercom_Id__c != null LIMIT 1")
	if len(role) == 0 {
		t.Fatal("no open opportunity with a matched contact")
	}
	if code, b := emu.SFDo(http.MethodPatch, "/services/data/v62.0/sobjects/Opportunity/"+testenv.Str(role[0], "OpportunityId"), map[string]any{"StageName": "Closed Won"}); code != 204 {
		t.Fatalf("win: %d %s", code, b)
	}
	mustRun(t, run)
	mustRun(t, run)
	if got := sent(); got != want+1 {
		t.Fatalf("after one more won deal and two runs: %d messages, want %d", got, want+1)
	}
}
