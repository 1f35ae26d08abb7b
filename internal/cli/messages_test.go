package cli_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/cli"
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

// TestLoad_NeverReplaysAPlan: `ferry load` on its own reads the plan the
// last transform published. Killed after sending the onboarding messages,
// it is run again and sends none of them twice (the ledger has them); once
// a load has committed, the same plan is refused, writing nothing, until
// a transform plans afresh.
func TestLoad_NeverReplaysAPlan(t *testing.T) {
	t.Parallel()
	emu, dir, cmd := setup(t, 300)
	pipeline := pipelinePath()
	for _, c := range []string{"extract", "transform"} {
		if r := cmd(c); r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", c, r.code, r.stderr)
		}
	}
	sent := func() int { return emu.ICStats().Records["messages"]["sent"] }
	killCommandAt(t, emu, "load", pipeline, dir, "after-load")
	want := sent()
	if want == 0 {
		t.Fatal("the killed load sent no message: the test proves nothing")
	}
	if r := cmd("load"); r.code != 0 {
		t.Fatalf("load after the killed one: exit %d\n%s", r.code, r.stderr)
	}
	if got := sent(); got != want {
		t.Fatalf("the load retried after a kill sent %d messages again", got-want)
	}
	ic0, sf0 := emu.ICStats().WriteRequests, emu.SFStats().WriteRequests
	r := cmd("load")
	if r.code != cli.ExitFailure || !strings.Contains(r.stderr, "was loaded by run") || !strings.Contains(r.stderr, "ferry run") {
		t.Fatalf("a second load of the same plan: exit %d, want %d and a message naming the load and the way out\n%s", r.code, cli.ExitFailure, r.stderr)
	}
	if ic, sf := emu.ICStats().WriteRequests-ic0, emu.SFStats().WriteRequests-sf0; ic != 0 || sf != 0 {
		t.Fatalf("the refused load made %d Intercom and %d Salesforce writes", ic, sf)
	}
	// A rebuild of current state forgets the build's fingerprint, not
	// that its plan was loaded.
	if r := cmd("rebuild"); r.code != 0 {
		t.Fatalf("rebuild: exit %d\n%s", r.code, r.stderr)
	}
	if r := cmd("load"); r.code != cli.ExitFailure || !strings.Contains(r.stderr, "was loaded by run") {
		t.Fatalf("load after a rebuild: exit %d, want the loaded plan refused\n%s", r.code, r.stderr)
	}
	for _, c := range []string{"extract", "transform", "load"} {
		if r := cmd(c); r.code != 0 {
			t.Fatalf("%s after a fresh plan: exit %d\n%s", c, r.code, r.stderr)
		}
	}
	if got := sent(); got != want {
		t.Fatalf("a fresh plan sent %d messages again", got-want)
	}
}
