package runner

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ferry-sync/ferry/internal/config"
	"github.com/ferry-sync/ferry/internal/state"
	"github.com/ferry-sync/ferry/load"
	"github.com/ferry-sync/ferry/transform"
)

// intercomContactFields are the standard contact attributes a sync may
// write (the description's update_contact_request); custom ones are
// custom_attributes.<name> of an existing data attribute.
// intercomCompanyFields are those of a company (create_or_update_company_request).
var intercomCompanyFields = []string{"name", "plan", "size", "website", "industry", "remote_created_at", "monthly_spend"}

var intercomContactFields = []string{"role", "external_id", "email", "phone", "name", "avatar", "signed_up_at", "last_seen_at", "owner_id", "unsubscribed_from_emails"}

// syncSource is the plan source of a declared sync.
func syncSource(s config.SyncSpec) load.Source {
	return load.SyncSource(s.Name, s.System(), s.WriteOp())
}

// syncFields lists the fields sync s writes: its mapping's, or, for a
// long-form model (field_rows), the fields its rows in the plan name.
func (r *run) syncFields(ctx context.Context, s config.SyncSpec) ([]config.SyncField, error) {
	if s.FieldRows == nil {
		return s.Fields, nil
	}
	types, err := r.plan.FieldTypes(ctx, syncSource(s))
	if err != nil {
		return nil, fmt.Errorf("sync %s: %w", s.Name, err)
	}
	out := make([]config.SyncField, len(types))
	for i, t := range types {
		out[i] = config.SyncField{Column: t.Field, Field: t.Field, Type: t.Type}
	}
	return out, nil
}

// checkSyncTargets refuses, before anything is written, a declared sync
// whose target does not take what it would write: a field the object lacks
// or its operation cannot write, a value type the field does not hold, a
// value its restricted picklist lacks (Salesforce describe), or an Intercom
// attribute that does not exist. Each refusal names the pipeline file's
// line.
func (r *run) checkSyncTargets(ctx context.Context) error {
	p := r.opt.Pipeline
	custom := map[string][]string{} // model -> the workspace's custom attributes, read once
	for i, s := range p.Syncs {
		switch s.System() {
		case "salesforce":
			if r.sf == nil {
				continue // not connected (plan without credentials): checked when loading
			}
			if err := r.checkSalesforceSync(ctx, p, i, s); err != nil {
				return err
			}
		case "intercom":
			if wb := s.WriteBack; wb != nil && r.sf != nil {
				if err := r.checkWriteBack(ctx, p, i, s); err != nil {
					return err
				}
			}
			if r.ic == nil || s.Object() == "contact_tags" || s.Object() == "contact_companies" || s.MadeOnce() {
				continue // a tag is made by the first write that names it; an attachment's, a note's or a message's fields are fixed
			}
			model, standard := "contact", intercomContactFields
			if s.Object() == "companies" {
				model, standard = "company", intercomCompanyFields
			}
			// A sync that creates its custom attributes needs no list of
			// them (nor the request it costs every run).
			if custom[model] == nil && !s.CreateAttributes {
				attrs, err := r.ic.DataAttributes(ctx, model)
				if err != nil {
					return fmt.Errorf("intercom: data attributes: %w", err)
				}
				custom[model] = []string{}
				for _, a := range attrs {
					if a.Custom {
						custom[model] = append(custom[model], a.Name)
					}
				}
			}
			fields, err := r.syncFields(ctx, s)
			if err != nil {
				return err
			}
			for j, f := range fields {
				name, isCustom := strings.CutPrefix(f.Field, "custom_attributes.")
				if isCustom && !slices.Contains(custom[model], name) && !s.CreateAttributes || !isCustom && !slices.Contains(standard, f.Field) {
					return p.ProblemAt(s.FieldPath(i, j)+".field", "intercom %s have no writable attribute %s (standard: %s; custom: custom_attributes.<name> of a data attribute)",
						s.Object(), f.Field, strings.Join(standard, ", "))
				}
			}
		}
	}
	return nil
}

// checkWriteBack refuses a write_back to a field the Salesforce object
// lacks, or whose update cannot set it to an Intercom id (text).
func (r *run) checkWriteBack(ctx context.Context, p *config.Pipeline, i int, s config.SyncSpec) error {
	at := s.Path(i) + ".write_back"
	_, obj, _ := strings.Cut(s.WriteBack.Target, ".")
	d, err := r.sf.Describe(ctx, obj)
	if err != nil {
		return p.ProblemAt(at+".target", "salesforce cannot describe %s: %v", obj, err)
	}
	switch df := d.Field(s.WriteBack.Field); {
	case df == nil:
		return p.ProblemAt(at+".field", "%s has no field %s", obj, s.WriteBack.Field)
	case !df.Updateable:
		return p.ProblemAt(at+".field", "%s.%s cannot be written by an update", obj, s.WriteBack.Field)
	case df.Type != "string" && df.Type != "textarea":
		return p.ProblemAt(at+".field", "%s.%s is a %s field; an Intercom id is text", obj, s.WriteBack.Field, df.Type)
	}
	return nil
}

func (r *run) checkSalesforceSync(ctx context.Context, p *config.Pipeline, i int, s config.SyncSpec) error {
	at := s.Path(i)
	d, err := r.sf.Describe(ctx, s.Object())
	if err != nil {
		return p.ProblemAt(at+".target", "salesforce cannot describe %s: %v", s.Object(), err)
	}
	if s.Operation == "delete" && !d.Deletable {
		return p.ProblemAt(at+".target", "salesforce says %s records cannot be deleted (describe: deletable false)", s.Object())
	}
	if s.Creates() {
		if kf := d.Field(s.Key.Field); kf == nil || !kf.ExternalID && !kf.IDLookup {
			return p.ProblemAt(at+".key.field", "%s.%s is not an external-id field of the org", s.Object(), s.Key.Field)
		}
	}
	fields, err := r.syncFields(ctx, s)
	if err != nil {
		return err
	}
	for j, f := range fields {
		fp := s.FieldPath(i, j)
		df := d.Field(f.Field)
		if df == nil && s.Operation == "insert" {
			// An insert leaves out a field without values: a shipped
			// workflow's optional field (a flag another workflow owns) may
			// be missing from the org.
			var n int
			if err := r.st.DB.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM main.%s WHERE field = $1", state.QuoteIdent(transform.SyncView(s.Name))), f.Field).Scan(&n); err != nil {
				return fmt.Errorf("sync %s: %w", s.Name, err)
			}
			if n == 0 {
				continue
			}
		}
		switch {
		case df == nil:
			return p.ProblemAt(fp+".field", "%s has no field %s", s.Object(), f.Field)
		case !df.Updateable && s.Operation != "insert" || s.Creates() && !df.Createable:
			return p.ProblemAt(fp+".field", "%s.%s cannot be written by an %s", s.Object(), f.Field, s.Operation)
		}
		want := "string"
		switch df.Type {
		case "boolean":
			want = "boolean"
		case "int":
			want = "integer"
		case "double", "currency", "percent":
			want = "number"
		}
		typ := f.Type
		if typ == "" {
			typ = "string"
		}
		if typ != want && !(want == "number" && typ == "integer") {
			return p.ProblemAt(fp+".type", "%s.%s is a %s field: map it with type: %s", s.Object(), f.Field, df.Type, want)
		}
		if !df.RestrictedPicklist {
			continue
		}
		var allowed []string
		for _, v := range df.PicklistValues {
			if v.Active {
				allowed = append(allowed, v.Value)
			}
		}
		// The view names the field as the sync spells it.
		rows, err := r.st.DB.QueryContext(ctx, fmt.Sprintf("SELECT DISTINCT value FROM main.%s WHERE field = $1 AND value IS NOT NULL ORDER BY 1",
			state.QuoteIdent(transform.SyncView(s.Name))), f.Field)
		if err != nil {
			return fmt.Errorf("sync %s: %w", s.Name, err)
		}
		var bad string
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return err
			}
			values := []string{v}
			if df.Type == "multipicklist" {
				values = strings.Split(v, ";")
			}
			for _, one := range values {
				if bad == "" && !slices.Contains(allowed, one) {
					bad = one
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if bad != "" {
			return p.ProblemAt(fp+".values", "value %q is not in the picklist of %s.%s (%s): map it with values", bad, s.Object(), df.Name, strings.Join(allowed, ", "))
		}
	}
	return nil
}

// checkValueMaps refuses, before anything is written, a value map of the
// people or company mapping (sync.<entity>.fields[].values) that names a
// Salesforce value the field's picklist lacks (Salesforce describe), on
// each object the mapping writes that has the field.
func (r *run) checkValueMaps(ctx context.Context) error {
	p := r.opt.Pipeline
	for _, ent := range []struct {
		name    string
		objects []string
		fields  []config.FieldMapping
	}{{"people", []string{"Lead", "Contact"}, p.Sync.People.Fields}, {"companies", []string{"Account"}, p.Sync.Companies.Fields}} {
		for i, f := range ent.fields {
			if len(f.Values) == 0 {
				continue
			}
			var want []string
			for _, v := range f.Values {
				want = append(want, v)
			}
			if f.Default != nil {
				want = append(want, *f.Default)
			}
			slices.Sort(want)
			for _, obj := range ent.objects {
				d, err := r.sf.Describe(ctx, obj)
				if err != nil {
					return fmt.Errorf("salesforce: %w", err)
				}
				df := d.Field(f.Salesforce)
				if df == nil || (df.Type != "picklist" && df.Type != "multipicklist") {
					continue
				}
				var allowed []string
				for _, v := range df.PicklistValues {
					if v.Active {
						allowed = append(allowed, v.Value)
					}
				}
				for _, v := range want {
					if !slices.Contains(allowed, v) {
						return p.ProblemAt(fmt.Sprintf("$.sync.%s.fields[%d].values", ent.name, i), "value %q is not in the picklist of %s.%s (%s)", v, obj, df.Name, strings.Join(allowed, ", "))
					}
				}
			}
		}
	}
	return nil
}

// mappingRejects lists the fields of matched pairs a value map cannot
// translate (models/marts/mapping_rejects.sql), as rejects of the record
// they would have been written to: neither side is written, and each run
// lists them until the map covers their value.
func (r *run) mappingRejects(ctx context.Context) ([]load.Reject, error) {
	if ok, err := r.hasModel(ctx, "mapping_rejects"); !ok || err != nil {
		return nil, err
	}
	rows, err := r.st.DB.QueryContext(ctx, `SELECT entity, position, intercom_id, sf_object, sf_id, intercom_field, salesforce_field, side, value
FROM main.mapping_rejects ORDER BY entity, position, sf_id, intercom_id`)
	if err != nil {
		return nil, fmt.Errorf("mapping rejects: %w", err)
	}
	defer rows.Close()
	var out []load.Reject
	for rows.Next() {
		var entity, icID, sfObject, sfID, icField, sfField, side, value string
		var pos int
		if err := rows.Scan(&entity, &pos, &icID, &sfObject, &sfID, &icField, &sfField, &side, &value); err != nil {
			return nil, err
		}
		at := fmt.Sprintf("$.sync.%s.fields[%d].values", entity, pos)
		rej := load.Reject{Op: "update", Payload: map[string]any{}}
		var msg string
		if side == "intercom" {
			rej.Target, rej.Object, rej.Key = "salesforce", sfObject, sfID
			rej.Payload[sfField] = value
			msg = fmt.Sprintf("Intercom %s value %q of contact or company %s has no Salesforce value for %s.%s: map it (or give a default); not written", icField, value, icID, sfObject, sfField)
		} else {
			rej.Target, rej.Object, rej.Key = "intercom", map[string]string{"people": "contacts", "companies": "companies"}[entity], icID
			rej.Payload[icField] = value
			msg = fmt.Sprintf("Salesforce %s.%s value %q of %s has no Intercom value for %s: map it; not written", sfObject, sfField, value, sfID, icField)
		}
		rej.Error = "UNMAPPED: " + r.opt.Pipeline.ProblemAt(at, "%s", msg).Error()
		out = append(out, rej)
	}
	return out, rows.Err()
}
