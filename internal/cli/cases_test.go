package cli_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/cli"
	"github.com/ferry-sync/ferry/internal/testenv"
)

// TestRun_Escalation: urgent conversations of contacts of high-value
// accounts open one Case each, owned by the account owner, closed with the
// conversation; others open none.
func TestRun_Escalation(t *testing.T) {
	t.Parallel()
	emu, _, run := setup(t, 600)
	mustRun(t, run)
	cases := emu.SOQL("SELECT Id, ContactId, AccountId, OwnerId, Status, Origin, Account.AnnualRevenue, Account.OwnerId, Intercom_Conversation_Id__c FROM Case WHERE Intercom_Conversation_Id__c != null")
	if len(cases) == 0 {
		t.Fatal("no Case was opened")
	}
	var open string
	for _, c := range cases {
		if rev := testenv.Str(c, "Account.AnnualRevenue"); rev == "" || atoi(strings.Split(rev, ".")[0]) < 100000 {
			t.Errorf("Case %s on an account with AnnualRevenue %q", testenv.Str(c, "Id"), rev)
		}
		if testenv.Str(c, "OwnerId") != testenv.Str(c, "Account.OwnerId") || testenv.Str(c, "Origin") != "Intercom" {
			t.Errorf("Case %s: owner %s (account owner %s), origin %q", testenv.Str(c, "Id"), testenv.Str(c, "OwnerId"), testenv.Str(c, "Account.OwnerId"), testenv.Str(c, "Origin"))
		}
		if testenv.Str(c, "Status") == "New" && open == "" {
			open = testenv.Str(c, "Intercom_Conversation_Id__c")
		}
	}
	if open == "" {
		t.Fatal("no open escalated conversation to close")
	}
	if code, b := emu.ICDo(http.MethodPost, "/conversations/"+open+"/parts", map[string]any{"message_type": "close", "type": "admin", "admin_id": "991200002"}); code != 200 {
		t.Fatalf("close: %d %s", code, b)
	}
	mustRun(t, run)
	got := emu.SOQL("SELECT Status FROM Case WHERE Intercom_Conversation_Id__c = '" + open + "'")
	if len(got) != 1 || testenv.Str(got[0], "Status") != "Closed" {
		t.Fatalf("Case of closed conversation %s: %v, want one Closed", open, got)
	}
}

// TestPlan_RequiredCaseFieldMissing: an org requiring a Case field the
// pipeline does not fill stops plan and run before any write.
func TestPlan_RequiredCaseFieldMissing(t *testing.T) {
	t.Parallel()
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 600, Required: map[string][]string{"Case": {"Origin"}}})
	b, err := os.ReadFile(pipelinePath())
	if err != nil {
		t.Fatal(err)
	}
	p := testenv.WriteFile(t, t.TempDir(), "p.yaml", strings.Replace(string(b), "fields: { Origin: Intercom }", "fields: {}", 1))
	for _, cmd := range []string{"plan", "run"} {
		r := ferry(t, emu.Env(nil), cmd, "--pipeline", p, "--data-dir", t.TempDir())
		if r.code != cli.ExitFailure || !strings.Contains(r.stderr, "Case.Origin") {
			t.Fatalf("%s: exit %d, want 1 naming Case.Origin:\n%s", cmd, r.code, r.stderr)
		}
	}
	if ic, sf := emu.ICStats().WriteRequests, emu.SFStats().WriteRequests; ic+sf != 0 {
		t.Fatalf("wrote %d/%d requests despite the missing field", ic, sf)
	}
}
