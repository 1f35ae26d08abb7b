package cli_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/testenv"
)

// TestRun_LeadCapture: Intercom leads meeting the rule (tagged pricing, or
// a company of 2,000+) become Salesforce Leads with source, owner and the
// conversation in the description; others and email-less ones do not;
// converted Leads are never written to.
func TestRun_LeadCapture(t *testing.T) {
	t.Parallel()
	emu, _, run := setup(t, 600)
	converted := emu.SOQL("SELECT Id, SystemModstamp FROM Lead WHERE IsConverted = true")
	if len(converted) == 0 {
		t.Fatal("seed has no converted Lead")
	}
	res := mustRun(t, run)
	if !strings.Contains(res.stdout, "contacts meeting the lead-capture rule without email (not sent)") {
		t.Errorf("output does not count qualifying contacts without email:\n%s", res.stdout)
	}
	leads := map[string]map[string]any{}
	for _, l := range emu.SOQL("SELECT Id, Intercom_Id__c, LeadSource, Description, OwnerId, Email FROM Lead WHERE Intercom_Id__c != null") {
		leads[testenv.Str(l, "Intercom_Id__c")] = l
	}
	tagged, untagged := 0, 0
	for _, c := range emu.ICContacts() {
		if testenv.Str(c, "role") != "lead" || testenv.Str(c, "email") == "" {
			continue
		}
		id := testenv.Str(c, "id")
		_, b := emu.ICDo(http.MethodGet, "/contacts/"+id+"/companies", nil)
		big := strings.Contains(string(b), `"size":`) && companySize(string(b)) >= 2000
		_, tb := emu.ICDo(http.MethodGet, "/contacts/"+id, nil)
		pricing := strings.Contains(string(tb), `"id":"7001"`)
		lead, has := leads[id]
		matchedBefore := len(emu.SOQL("SELECT Id FROM Contact WHERE Intercom_Id__c = '"+id+"'")) > 0
		switch {
		case (pricing || big) && !has && !matchedBefore:
			if len(emu.SOQL("SELECT Id FROM Lead WHERE Email = '"+strings.TrimSpace(testenv.Str(c, "email"))+"' AND Intercom_Id__c = null")) == 0 {
				t.Errorf("qualifying lead %s (pricing %v, big company %v) was not captured", id, pricing, big)
			}
		case !pricing && !big && has && testenv.Str(lead, "LeadSource") == "Intercom":
			t.Errorf("lead %s does not meet the rule but became Lead %s", id, testenv.Str(lead, "Id"))
		}
		if has && pricing && testenv.Str(lead, "LeadSource") == "Intercom" {
			tagged++
			if testenv.Str(lead, "Description") == "" {
				t.Errorf("captured Lead %s has no conversation in its description", testenv.Str(lead, "Id"))
			}
		}
		if !pricing && !big {
			untagged++
		}
	}
	if tagged == 0 || untagged == 0 {
		t.Fatalf("%d captured pricing leads, %d non-qualifying: the seed should have both", tagged, untagged)
	}
	for _, l := range converted {
		got := emu.SOQL("SELECT SystemModstamp FROM Lead WHERE Id = '" + testenv.Str(l, "Id") + "'")
		if testenv.Str(got[0], "SystemModstamp") != testenv.Str(l, "SystemModstamp") {
			t.Errorf("converted Lead %s was written to", testenv.Str(l, "Id"))
		}
	}
}

func companySize(body string) int {
	i := strings.Index(body, `"size":`)
	n := 0
	for _, c := range body[i+7:] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}
