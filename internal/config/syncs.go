package config

import (
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// SyncSpec is one sync: the rows of a model written to a target object.
//
//	syncs:
//	  - name: account_tiers
//	    model: models/account_tiers.sql      # a file beside the pipeline file, or a shipped model's name
//	    target: salesforce.Account           # salesforce.<Object> or intercom.contacts
//	    operation: update                    # update (by Id / Intercom id) or upsert (Salesforce, on an external id)
//	    key: { column: account_id, field: Id }
//	    fields:
//	      - { column: tier, field: Tier__c, values: { gold: Strategic, silver: Enterprise }, default: SMB }
//	    mode: changed                        # changed (default): only fields that differ; all: every mapped field
//	    priority: 10                         # kept before syncs with lower ones when the daily budget is short (default 0)
type SyncSpec struct {
	Name      string      `yaml:"name"`
	Model     string      `yaml:"model"`
	Target    string      `yaml:"target"`
	Operation string      `yaml:"operation"`
	Key       SyncKey     `yaml:"key"`
	Fields    []SyncField `yaml:"fields"`
	// FieldRows, instead of Fields, reads a model in long form: a row per
	// record and field, the field named by a column. The fields are the
	// ones the model names, checked when it is built.
	FieldRows *SyncFieldRows `yaml:"field_rows"`
	Mode      string         `yaml:"mode"`
	// CreateAttributes, for an Intercom target, creates the custom data
	// attributes the sync writes that the workspace lacks (typed by the
	// field's type), instead of refusing them.
	CreateAttributes bool `yaml:"create_attributes"`
	// Priority orders the syncs a run defers when its Salesforce calls
	// would pass connections.salesforce.budget.daily_calls: the lowest
	// first, and among equals the one declared last.
	Priority int `yaml:"priority"`
	// WriteBack, on a create of intercom.contacts, writes the Intercom id
	// of each contact created (or found, after a create whose answer was
	// lost) to a field of the Salesforce record the sync's key names, in
	// the same run.
	WriteBack *SyncWriteBack `yaml:"write_back"`
	// ReadBack, on an upsert or insert of salesforce.Lead or Contact keyed
	// on the Intercom contact id, reads back what Salesforce set itself on
	// the records written (the people mapping's to_intercom fields; the
	// owner, with workflows.owner_routing) and writes it to their Intercom
	// contacts in the same run, so that the next run has nothing to echo.
	ReadBack bool `yaml:"read_back"`

	// At is the key path problems with the sync are reported at; Workflow
	// names the shipped workflow that declared it ("" for the file's own).
	At       string `yaml:"-"`
	Workflow string `yaml:"-"`
	// Essential marks the sync of one of ferry's own workflows, which the
	// daily budget never defers.
	Essential bool `yaml:"-"`
	// Long marks the wide spec a long-form one was expanded to when its
	// model was built (its Fields are the fields the model names).
	Long bool `yaml:"-"`
}

// FieldPath is the key path of the sync's j-th field: of field_rows for a
// long-form model, whose fields are not in the file.
func (s SyncSpec) FieldPath(i, j int) string {
	if s.Long || s.FieldRows != nil {
		return s.Path(i) + ".field_rows"
	}
	return fmt.Sprintf("%s.fields[%d]", s.Path(i), j)
}

// Path is the key path of the sync's declaration.
func (s SyncSpec) Path(i int) string {
	if s.At != "" {
		return s.At
	}
	return fmt.Sprintf("$.syncs[%d]", i)
}

// WriteOp is how the loader writes the sync's records: an insert is an
// upsert on its external id of records the target does not hold yet, so
// that a retried create finds the record it made.
func (s SyncSpec) WriteOp() string {
	if s.Operation == "insert" {
		return "upsert"
	}
	return s.Operation
}

// MakesNew reports whether the sync writes only records the target never
// held (an insert, a create), which another writer then keeps.
func (s SyncSpec) MakesNew() bool { return s.Operation == "insert" || s.Operation == "create" }

// Creates reports whether the sync may create Salesforce records.
func (s SyncSpec) Creates() bool { return s.WriteOp() == "upsert" }

// SyncWriteBack names where a create's new ids are written: a field of a
// Salesforce object, on the record whose Id is the sync's key.
type SyncWriteBack struct {
	Target string `yaml:"target"` // salesforce.<Object>
	Field  string `yaml:"field"`
}

// SyncKey matches a model's rows to the target's records.
type SyncKey struct {
	Column string `yaml:"column"`
	Field  string `yaml:"field"`
}

// SyncFieldRows names the columns of a long-form model: the field each row
// writes, its value, and the type of every value.
type SyncFieldRows struct {
	Field string `yaml:"field"`
	Value string `yaml:"value"`
	Type  string `yaml:"type"` // string (default), integer, number, boolean
	// TypeColumn, instead of Type, names the model's column holding each
	// row's type; a field's rows must agree.
	TypeColumn string `yaml:"type_column"`
}

// SyncField maps one column of the model to one field of the target.
type SyncField struct {
	Column string `yaml:"column"`
	Field  string `yaml:"field"`
	Type   string `yaml:"type"` // string (default), integer, number, boolean
	// Values translates the model's values (picklist translation); a value
	// it lacks takes Default, or fails the run before any write.
	Values  map[string]string `yaml:"values"`
	Default *string           `yaml:"default"`
	// Value, instead of a column, writes the same value to every record.
	Value *string `yaml:"value"`
}

// System and Object split the target: "salesforce", "Account".
func (s SyncSpec) System() string { sys, _, _ := strings.Cut(s.Target, "."); return sys }

// Object is the target object.
func (s SyncSpec) Object() string { _, obj, _ := strings.Cut(s.Target, "."); return obj }

// ModelFile is the SQL file the sync's model is read from, "" when it
// names a shipped model.
func (s SyncSpec) ModelFile(pipelinePath string) string {
	if !strings.HasSuffix(s.Model, ".sql") {
		return ""
	}
	if filepath.IsAbs(s.Model) {
		return s.Model
	}
	return filepath.Join(filepath.Dir(pipelinePath), s.Model)
}

// ModelName is the name the model is built under.
func (s SyncSpec) ModelName() string {
	return strings.TrimSuffix(filepath.Base(s.Model), ".sql")
}

// onceTargets are the Intercom targets whose records Intercom makes anew on
// every call (a note, a message): each key is made once, by the write
// ledger, with the fields it takes (sorted; optional ones may be left out).
var onceTargets = map[string]struct {
	op               string
	fields, optional []string
}{
	"conversation_notes": {op: "note", fields: []string{"admin_id", "body", "conversation_id"}},
	"messages":           {op: "message", fields: []string{"admin", "body", "contact", "message_type", "subject"}, optional: []string{"subject"}},
}

// MadeOnce reports whether the sync's target makes a record on every call,
// so that each key is made once, by the write ledger (a note, a message).
func (s SyncSpec) MadeOnce() bool {
	return s.System() == "intercom" && onceTargets[s.Object()].op != ""
}

// intercomKeys lists, per Intercom target whose records are keyed, its
// operations and the field each matches records on ("" for the model's own
// key: Intercom gives the id).
var intercomKeys = map[string]map[string]string{
	"contacts":          {"update": "id", "create": ""},
	"companies":         {"upsert": "company_id", "update": "id"},
	"contact_companies": {"attach": "id"},
	"contact_tags":      {"tag": "id"},
}

var intercomKeyMeaning = map[string]string{"id": "the Intercom id", "company_id": "the company's own id"}

// intercomFields are the fields, in order, of the Intercom targets that
// take fixed ones.
var intercomFields = map[string]string{"contact_companies": "company", "contact_tags": "tag,tagged"}

var intercomFieldsHelp = map[string]string{
	"contact_companies": "{ column: <the company's Intercom id>, field: company }",
	"contact_tags":      "{ column: <tag name>, field: tag } and { column: <true to tag, false to untag>, field: tagged, type: boolean }",
}

// fieldNames lists the target fields of fields, in order.
func fieldNames(fields []SyncField) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.Field
	}
	return out
}

var (
	sfObjectRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
	columnRe   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// mappingWrites lists the fields ferry's own people and company mappings
// write, as "target field" (lower case) -> the mapping.
func (p *Pipeline) mappingWrites() map[string]string {
	written := map[string]string{}
	for _, f := range p.Sync.People.Fields {
		if f.Direction != "to_intercom" {
			for _, obj := range []string{"Lead", "Contact"} {
				written[strings.ToLower("salesforce."+obj+" "+f.Salesforce)] = "sync.people"
			}
		}
		if f.Direction != "to_salesforce" {
			written[strings.ToLower("intercom.contacts "+f.Intercom)] = "sync.people"
		}
	}
	for _, f := range p.Sync.Companies.Fields {
		if f.Direction != "to_intercom" {
			written[strings.ToLower("salesforce.Account "+f.Salesforce)] = "sync.companies"
		}
	}
	return written
}

// MappingWriter names ferry's own mapping that writes field of the sync's
// target ("" when none does); an insert may write it, as it writes only
// records the target never held.
func (p *Pipeline) MappingWriter(s SyncSpec, field string) string {
	if s.MakesNew() {
		return ""
	}
	return p.mappingWrites()[strings.ToLower(s.Target+" "+field)]
}

func (p *Pipeline) validateSyncs(probs *[]pathProblem) {
	add := func(path, format string, a ...any) {
		*probs = append(*probs, pathProblem{path, fmt.Sprintf(format, a...)})
	}
	names := map[string]bool{}
	// keyedOn: "target field" -> the key field and name of the first sync
	// writing it (an insert aside: it never rewrites a record).
	type writer struct{ key, name string }
	keyedOn := map[string]writer{}
	written := map[string]string{} // "target field" -> ferry's mapping writing it
	for k, v := range p.mappingWrites() {
		written[k] = v
	}
	for i, s := range p.Syncs {
		at := s.Path(i)
		switch {
		case !identRe.MatchString(s.Name):
			add(at+".name", "required; lowercase letters, digits and underscores")
		case names[s.Name]:
			add(at+".name", "another sync is named %s", s.Name)
		}
		names[s.Name] = true
		if s.Model == "" || !identRe.MatchString(s.ModelName()) {
			add(at+".model", "required: a model's name, or a .sql file beside the pipeline file whose name is lowercase letters, digits and underscores")
		}
		sys, obj := s.System(), s.Object()
		switch {
		case sys == "salesforce" && sfObjectRe.MatchString(obj):
			if s.Operation != "update" && s.Operation != "upsert" && s.Operation != "insert" && s.Operation != "delete" {
				add(at+".operation", "must be update (by Id), upsert (on an external id), insert (create once, keyed on an external id) or delete (by Id) for a Salesforce target, got %q", s.Operation)
			}
			if (s.Operation == "update" || s.Operation == "delete") && s.Key.Field != "Id" {
				add(at+".key.field", "an %s is keyed on Id, got %q", s.Operation, s.Key.Field)
			}
			if s.Operation == "delete" && (len(s.Fields) > 0 || s.FieldRows != nil) {
				add(at+".fields", "a delete writes no field: each row of the model names a record to delete")
			}
			if s.Creates() && (s.Key.Field == "" || s.Key.Field == "Id") {
				add(at+".key.field", "an %s is keyed on an external-id field, so that a retried create finds the record it made", s.Operation)
			}
		case sys == "intercom" && intercomKeys[obj] != nil:
			ops := intercomKeys[obj]
			key, ok := ops[s.Operation]
			switch {
			case !ok:
				names := slices.Sorted(maps.Keys(ops))
				add(at+".operation", "must be %s for intercom.%s, got %q", strings.Join(names, " or "), obj, s.Operation)
			case key == "" && s.Key.Field != "":
				// Intercom gives the id; the key is the model's own (a
				// Salesforce Contact Id, say), which the ledger and a
				// write_back are keyed on.
				add(at+".key.field", "a %s of intercom.%s is keyed by the model's column alone: no field, got %q", s.Operation, obj, s.Key.Field)
			case key != "" && s.Key.Field != key:
				add(at+".key.field", "a %s of intercom.%s is keyed on field %s (%s), got %q", s.Operation, obj, key, intercomKeyMeaning[key], s.Key.Field)
			}
			if want := intercomFields[obj]; want != "" && !slices.Equal(fieldNames(s.Fields), strings.Split(want, ",")) {
				add(at+".fields", "intercom.%s take the fields %s", obj, intercomFieldsHelp[obj])
			}
		case sys == "intercom" && onceTargets[obj].op != "":
			t := onceTargets[obj]
			if s.Operation != t.op {
				add(at+".operation", "must be %s for intercom.%s, got %q", t.op, obj, s.Operation)
			}
			if s.Key.Field != "" {
				add(at+".key.field", "intercom.%s are keyed by the model's column alone (each key is one, made once): no field, got %q", obj, s.Key.Field)
			}
			var got []string
			for _, f := range s.Fields {
				got = append(got, strings.ToLower(f.Field))
			}
			sort.Strings(got)
			if !slices.Equal(got, t.fields) && !(len(t.optional) > 0 && slices.Equal(got, slices.DeleteFunc(slices.Clone(t.fields), func(f string) bool { return slices.Contains(t.optional, f) }))) {
				add(at+".fields", "intercom.%s take the fields %s", obj, strings.Join(t.fields, ", "))
			}
		default:
			add(at+".target", "must be salesforce.<Object>, intercom.contacts, intercom.companies, intercom.contact_companies, intercom.contact_tags, intercom.conversation_notes or intercom.messages, got %q", s.Target)
		}
		if wb := s.WriteBack; wb != nil {
			wsys, wobj, _ := strings.Cut(wb.Target, ".")
			switch {
			case sys != "intercom" || obj != "contacts" || s.Operation != "create":
				add(at+".write_back", "writes back the ids a create of intercom.contacts gives: for that operation only")
			case wsys != "salesforce" || !sfObjectRe.MatchString(wobj):
				add(at+".write_back.target", "must be salesforce.<Object>, whose Id is the sync's key, got %q", wb.Target)
			case !sfObjectRe.MatchString(wb.Field):
				add(at+".write_back.field", "required: the %s field that holds the Intercom id", wobj)
			}
		}
		if s.ReadBack && (sys != "salesforce" || obj != "Lead" && obj != "Contact" || !s.Creates() || !strings.EqualFold(s.Key.Field, p.Sync.People.SalesforceExternalID)) {
			add(at+".read_back", "reads back what Salesforce sets on the Leads or Contacts an upsert or insert writes, to their Intercom contacts: for salesforce.Lead and salesforce.Contact keyed on the Intercom contact id (key field %s, sync.people.salesforce_external_id)", p.Sync.People.SalesforceExternalID)
		}
		if sys == "intercom" && intercomFields[obj] != "" {
			for j, f := range s.Fields {
				if f.Value != nil || len(f.Values) > 0 {
					add(fmt.Sprintf("%s.fields[%d]", at, j), "intercom.%s take their values from the model's columns: no value or value map", obj)
				}
			}
		}
		if sys == "intercom" && obj == "contacts" && s.Operation == "create" && s.FieldRows == nil && !slices.Contains(fieldNames(s.Fields), "email") {
			add(at+".fields", "a create of intercom.contacts writes an email ({ column: <email>, field: email }): a create whose answer was lost is looked up by it, so that it is never made twice")
		}
		if s.CreateAttributes && (sys != "intercom" || obj != "contacts" && obj != "companies") {
			add(at+".create_attributes", "creates Intercom data attributes: for intercom.contacts and intercom.companies")
		}
		if !columnRe.MatchString(s.Key.Column) {
			add(at+".key.column", "required: the model's column holding the key")
		}
		switch s.Mode {
		case "", "changed", "all":
		default:
			add(at+".mode", "must be changed or all, got %q", s.Mode)
		}
		switch fr := s.FieldRows; {
		case fr != nil && len(s.Fields) > 0:
			add(at+".field_rows", "a sync takes fields or field_rows, not both")
		case fr != nil:
			if !columnRe.MatchString(fr.Field) {
				add(at+".field_rows.field", "required: the model's column naming each row's field")
			}
			if !columnRe.MatchString(fr.Value) {
				add(at+".field_rows.value", "required: the model's column holding each row's value")
			}
			switch fr.Type {
			case "", "string", "integer", "number", "boolean":
			default:
				add(at+".field_rows.type", "must be string, integer, number or boolean, got %q", fr.Type)
			}
			if fr.TypeColumn != "" && (fr.Type != "" || !columnRe.MatchString(fr.TypeColumn)) {
				add(at+".field_rows.type_column", "a column of the model, instead of type")
			}
			if s.Operation != "update" && s.Operation != "upsert" && s.Operation != "create" || s.System() == "intercom" && s.Object() != "contacts" && s.Object() != "companies" {
				add(at+".field_rows", "a long-form model is for an update or upsert of salesforce.<Object>, intercom.contacts or intercom.companies, or a create of intercom.contacts")
			}
		case len(s.Fields) == 0 && s.Operation != "delete":
			add(at+".fields", "required: at least one {column, field} (or field_rows, for a long-form model)")
		}
		seen := map[string]bool{}
		for j, f := range s.Fields {
			fp := fmt.Sprintf("%s.fields[%d]", at, j)
			switch {
			case f.Value != nil && f.Column != "":
				add(fp+".value", "a field takes a column or a value, not both")
			case f.Value != nil && len(f.Values) > 0:
				add(fp+".values", "a constant value needs no value map")
			case f.Value == nil && !columnRe.MatchString(f.Column):
				add(fp+".column", "required: a column of the model (or a constant value)")
			}
			if f.Field == "" {
				add(fp+".field", "required: a field of %s", s.Target)
			} else if seen[strings.ToLower(f.Field)] || strings.EqualFold(f.Field, s.Key.Field) {
				add(fp+".field", "%s is mapped twice (or is the key)", f.Field)
			}
			seen[strings.ToLower(f.Field)] = true
			// Two syncs may write one field of different records (the
			// models are compared when built: transform.CompileSyncs); ferry's
			// own mappings write it on every record.
			// An insert writes only records the target never held, which
			// the mapping then keeps.
			if other, ok := written[strings.ToLower(s.Target+" "+f.Field)]; ok && !s.MakesNew() {
				add(fp+".field", "%s.%s is written by ferry's %s mapping: two writers would overwrite each other", s.Target, f.Field, other)
			}
			// Keyed on one field, two syncs are compared record by record
			// when their models are built. Keyed on two, of which one is the
			// Id, which reaches any record, ferry cannot tell whether they
			// write one record. (Two upserts on different external ids
			// reach the records that hold each's key: apart unless a record
			// holds both.)
			if tf := strings.ToLower(s.Target + " " + f.Field); !s.MakesNew() {
				if w, ok := keyedOn[tf]; !ok {
					keyedOn[tf] = writer{strings.ToLower(s.Key.Field), s.Name}
				} else if w.key != strings.ToLower(s.Key.Field) && (w.key == "id" || strings.EqualFold(s.Key.Field, "Id")) {
					add(fp+".field", "%s.%s is also written by sync %s, keyed on another field: the two could write one record, each run putting its value back", s.Target, f.Field, w.name)
				}
			}
			switch f.Type {
			case "", "string", "integer", "number", "boolean":
			default:
				add(fp+".type", "must be string, integer, number or boolean, got %q", f.Type)
			}
			if f.Default != nil && len(f.Values) == 0 {
				add(fp+".default", "a default is for values the value map lacks: give values too")
			}
		}
	}
}

// ProblemAt is a problem at a key path of the pipeline file ($.syncs[0].key),
// placed at its line: for what is found wrong after the file was loaded.
func (p *Pipeline) ProblemAt(path, format string, a ...any) error {
	return Problems{{File: p.Path, Line: lineOf(p.file, path), Path: displayPath(path), Msg: fmt.Sprintf(format, a...)}}
}
