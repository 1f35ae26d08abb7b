package cli_test

import (
	"strings"
	"testing"
)

// TestPlan_ListsEveryWorkflow: on a seeded emulator, plan lists the creates
// and updates of every workflow with counts per object and field, and
// writes nothing.
func TestPlan_ListsEveryWorkflow(t *testing.T) {
	t.Parallel()
	emu, _, run := setup(t, 600)
	res := mustRun(t, run, "plan")
	for _, want := range []string{
		"salesforce Lead      upsert", "salesforce Task      upsert", "salesforce Case      upsert",
		"salesforce Account   update", "Health_Score__c=", "salesforce Opportunity update", "Active_Support_Issue__c=",
		"intercom   messages  message", "intercom   contacts  update", "custom_attributes.sf_opportunity_stage=",
		"intercom   companies update", "custom_attributes.health_score=", "intercom   contacts  create",
		// ferry's own creates are syncs like any other, named in the plan.
		"(sync intercom_contact_creates)", "(sync intercom_company_attachments)", "(sync salesforce_lead_creates)",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("plan output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(res.stdout)
	}
	if ic, sf := emu.ICStats().WriteRequests, emu.SFStats().WriteRequests; ic+sf != 0 {
		t.Fatalf("plan wrote %d/%d requests", ic, sf)
	}
}
