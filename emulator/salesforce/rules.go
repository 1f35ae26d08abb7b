package salesforce

import (
	"net/http"
	"strings"

	"github.com/ferry-sync/ferry/emulator/seed"
)

// Rules an org's admin sets up, which run on the API's writes unless the
// caller says otherwise (salesforce.md; ORCHESTRATION.md, items 6 and 7):
//
//   - Lead and Case assignment rules. A REST create or update runs the
//     object's active rule unless Sforce-Auto-Assign is FALSE; the header
//     may also name a rule (by Id), which then runs on creates. A Bulk API
//     2.0 job runs a rule only when its body names one (assignmentRuleId).
//     A rule gives the record to its owner.
//   - A Lead duplicate rule, "allow with alert" on create: a REST create of
//     a Lead whose email a live Lead or Contact already has fails with
//     DUPLICATES_DETECTED unless Sforce-Duplicate-Rule-Header says
//     allowSave=true. Alerts are not shown to Bulk API jobs, which save.
//
// The seeded org has an active Lead rule, an inactive one, and an active
// Case rule, each with an owner of its own, queryable as AssignmentRule.
type assignmentRule struct {
	id, name, object, owner string
	active                  bool
}

func (o *org) seedRules(ds *seed.Dataset) {
	user := func(i int) string { return ds.UserID(min(i, ds.UserCount()-1)) }
	for i, r := range []assignmentRule{
		{name: "Lead routing", object: "Lead", owner: user(1), active: true},
		{name: "Partner leads", object: "Lead", owner: user(2)},
		{name: "Support queue", object: "Case", owner: user(3), active: true},
	} {
		r.id = seed.SFID("01Q", uint64(i+1))
		o.rules[r.id] = r
		stamp := seed.Base.UTC().Format(sfTimeLayout)
		o.put("AssignmentRule", r.id, map[string]any{"Id": r.id, "Name": r.name, "SobjectType": r.object, "Active": r.active,
			"IsDeleted": false, "CreatedDate": stamp, "SystemModstamp": stamp, "LastModifiedDate": stamp, "CreatedById": ds.UserID(0)})
	}
}

// assign is the assignment rule a write runs and when.
type assign struct {
	rule     *assignmentRule
	onUpdate bool // TRUE runs the active rule on updates too; a named rule only on creates
}

// restAssignment reads Sforce-Auto-Assign for a REST write to obj, or the
// error to answer for a value that is neither TRUE, FALSE nor one of
// obj's rules.
func (o *org) restAssignment(r *http.Request, obj *objectMeta) (assign, *recErr) {
	v := strings.TrimSpace(r.Header.Get("Sforce-Auto-Assign"))
	switch {
	case strings.EqualFold(v, "false"):
		return assign{}, nil
	case v == "" || strings.EqualFold(v, "true"):
		for _, rule := range o.rules {
			if rule.object == obj.Name && rule.active {
				return assign{rule: &rule, onUpdate: true}, nil
			}
		}
		return assign{}, nil
	}
	rule, e := o.namedRule(v, obj)
	if e != nil {
		return assign{}, e
	}
	return assign{rule: rule}, nil
}

// namedRule finds rule id for obj (15 or 18 characters).
func (o *org) namedRule(id string, obj *objectMeta) (*assignmentRule, *recErr) {
	if !idRe.MatchString(id) {
		return nil, &recErr{StatusCode: "MALFORMED_ID", Message: "Invalid id for an assignment rule: " + id, Fields: []string{}}
	}
	for _, rule := range o.rules {
		if strings.HasPrefix(rule.id, id) && rule.object == obj.Name {
			return &rule, nil
		}
	}
	return nil, &recErr{StatusCode: "INVALID_CROSS_REFERENCE_KEY", Message: "invalid cross reference id: no " + obj.Name + " assignment rule " + id, Fields: []string{}}
}

// restWrite is a REST write of fields to obj, under the rules its
// request's headers select.
func (o *org) restWrite(r *http.Request, obj *objectMeta, fields map[string]any) (write, *recErr) {
	w := write{fields: fields, alert: true, allowSave: allowSave(r)}
	if obj.Name == "Lead" || obj.Name == "Case" {
		a, e := o.restAssignment(r, obj)
		if e != nil {
			return w, e
		}
		w.assign = a
	}
	return w, nil
}

// allowSave reads allowSave from Sforce-Duplicate-Rule-Header.
func allowSave(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Sforce-Duplicate-Rule-Header"), ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		if strings.EqualFold(k, "allowSave") {
			return strings.EqualFold(strings.TrimSpace(v), "true")
		}
	}
	return false
}

// duplicateMessage is the standard rule's alert text.
const duplicateMessage = "You're creating a duplicate record. We recommend you use an existing record instead."
