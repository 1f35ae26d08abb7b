package salesforce_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/ferry-sync/ferry/emulator/salesforce"
	"github.com/ferry-sync/ferry/emulator/seed"
	"github.com/ferry-sync/ferry/internal/salesforceapi"
	"github.com/ferry-sync/ferry/load"
	sfload "github.com/ferry-sync/ferry/load/salesforce"
)

// ruleOrg is a seeded org (it has an active Lead assignment rule, an
// inactive one and a Lead duplicate rule) and its users.
func ruleOrg() (salesforce.Options, *seed.Dataset) {
	ds := seed.New(seed.Params{Seed: 1, Scale: 40})
	return salesforce.Options{Dataset: ds}, ds
}

// ownedLeads are n new Leads ferry gives to owner.
func ownedLeads(prefix string, n int, owner string) []load.Record {
	var recs []load.Record
	for i := range n {
		last, company, email := fmt.Sprintf("Rule %02d", i), "Acme", fmt.Sprintf("%s-%d@rules.example.com", prefix, i)
		recs = append(recs, load.Record{Object: "Lead", Key: fmt.Sprintf("%s-%02d", prefix, i), Alt: "Intercom_Id__c", Fields: []load.Change{
			{Field: "Company", Value: &company}, {Field: "Email", Value: &email}, {Field: "LastName", Value: &last}, {Field: "OwnerId", Value: &owner}}})
	}
	return recs
}

// TestAssignmentRules: by default the owner ferry sets stays, through
// Collections (which send Sforce-Auto-Assign: FALSE; an org runs its active
// rule when the header is absent) and Bulk (whose jobs name no rule);
// "default" runs the org's active rule and a rule Id runs that rule, on
// both paths.
func TestAssignmentRules(t *testing.T) {
	t.Parallel()
	opt, ds := ruleOrg()
	ferryOwner, active, named := ds.UserID(4), ds.UserID(1), ds.UserID(2)
	for _, tc := range []struct {
		name  string
		rule  string // Rules.Assign["Lead"]
		owner string
	}{
		{"none", "", ferryOwner},
		{"default", "TRUE", active},
		{"named", seed.SFID("01Q", 2), named},
	} {
		for _, path := range []struct {
			name string
			n    int // Leads written: Collections up to 200, Bulk above
		}{{"collections", 5}, {"bulk", 250}} {
			t.Run(tc.name+" "+path.name, func(t *testing.T) {
				t.Parallel()
				rules := salesforceapi.Rules{Assign: map[string]string{}}
				if tc.rule != "" {
					rules.Assign["Lead"] = tc.rule
				}
				sink, c, _, _ := fixtureRules(t, opt, 0, nil, rules)
				out := load.NewOutcome()
				if err := sink.Upsert(t.Context(), "Lead", "Intercom_Id__c", ownedLeads(tc.name+path.name, path.n, ferryOwner), out); err != nil {
					t.Fatal(err)
				}
				if len(out.Rejects) > 0 {
					t.Fatalf("rejects: %+v", out.Rejects[0])
				}
				q := fmt.Sprintf("SELECT COUNT() FROM Lead WHERE Email LIKE '%s-%%' AND OwnerId = '%s'", tc.name+path.name, tc.owner)
				if got := count(t, c, q); got != path.n {
					t.Errorf("%d of %d Leads owned by %s, want all", got, path.n, tc.owner)
				}
			})
		}
	}
}

// TestDuplicateRule: a Lead whose email a Lead already has is refused
// through Collections with DUPLICATES_DETECTED (a reject, listed), unless
// the pipeline allows saving through the rule's alert; a Bulk job is not
// shown the alert and saves.
func TestDuplicateRule(t *testing.T) {
	t.Parallel()
	opt, _ := ruleOrg()
	for _, tc := range []struct {
		name      string
		allowSave bool
		n         int
		saved     bool
	}{
		{"collections", false, 1, false},
		{"collections allowSave", true, 1, true},
		{"bulk", false, 250, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink, c, _, _ := fixtureRules(t, opt, 0, nil, salesforceapi.Rules{AllowSave: tc.allowSave})
			seeded := first(t, sink, c)
			recs := ownedLeads("dup", tc.n, "")
			for i := range recs {
				recs[i].Fields = recs[i].Fields[:3] // no owner
			}
			recs[0].Fields[1].Value = &seeded
			out := load.NewOutcome()
			if err := sink.Upsert(t.Context(), "Lead", "Intercom_Id__c", recs, out); err != nil {
				t.Fatal(err)
			}
			got := count(t, c, "SELECT COUNT() FROM Lead WHERE Intercom_Id__c = '"+recs[0].Key+"'")
			if tc.saved != (got == 1) {
				t.Fatalf("duplicate Lead saved: %v, want %v (rejects %+v)", got == 1, tc.saved, out.Rejects)
			}
			if !tc.saved && (len(out.Rejects) != 1 || out.Rejects[0].Key != recs[0].Key || out.Rejects[0].Error[:19] != "DUPLICATES_DETECTED") {
				t.Fatalf("rejects %+v, want the duplicate listed with DUPLICATES_DETECTED", out.Rejects)
			}
		})
	}
}

// first is the email of a seeded Lead.
func first(t *testing.T, _ *sfload.Sink, c *salesforceapi.Client) string {
	t.Helper()
	for page, err := range c.Query(t.Context(), "SELECT Id, Email FROM Lead WHERE Email != null AND IsConverted = false LIMIT 1", false, 0, nil) {
		if err != nil || len(page) == 0 {
			t.Fatalf("no seeded Lead with an email: %v", err)
		}
		var r struct{ Email string }
		if err := json.Unmarshal(page[0].Raw, &r); err != nil || r.Email == "" {
			t.Fatalf("seeded Lead %s: %v", page[0].Raw, err)
		}
		return r.Email
	}
	return ""
}
