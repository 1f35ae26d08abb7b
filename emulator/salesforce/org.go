package salesforce

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/emulator/seed"
	"github.com/ferry-sync/ferry/emulator/store"
)

// sfTimeLayout is how REST JSON renders datetimes.
const sfTimeLayout = "2006-01-02T15:04:05.000-0700"

type record struct {
	obj     *objectMeta
	id      string
	pos     int            // creation order (org.seq when stored)
	f       map[string]any // JSON-native values keyed by canonical field name
	modTime time.Time
}

func (r *record) deleted() bool { b, _ := r.f["IsDeleted"].(bool); return b }

// campaignMember is the id of the live member of vals' campaign for its
// Contact (or, without one, its Lead), "" when there is none. A member
// names a Contact or a Lead, the Contact winning when a create gives both.
func (o *org) campaignMember(vals map[string]any) string {
	campaign, _ := vals["CampaignId"].(string)
	field := "ContactId"
	person, _ := vals[field].(string)
	if person == "" {
		field = "LeadId"
		person, _ = vals[field].(string)
	}
	if campaign == "" || person == "" {
		return ""
	}
	for _, r := range o.ordered["campaignmember"] {
		if !r.deleted() && r.f["CampaignId"] == campaign && r.f[field] == person {
			return r.id
		}
	}
	return ""
}

// recErr is a record-level error (SaveResult.errors[i]).
type recErr struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
}

func (e recErr) bulkString() string {
	return fmt.Sprintf("%s:%s:%s --", e.StatusCode, e.Message, strings.Join(e.Fields, ","))
}

// org holds the records of one emulated organisation.
type org struct {
	mu      sync.RWMutex
	schema  map[string]*objectMeta
	recs    map[string]map[string]*record           // object -> id -> record
	ordered map[string][]*record                    // object -> records in creation order
	ext     map[string]map[string]map[string]string // object -> ext field -> lower(value) -> id
	next    uint64
	now     func() time.Time
	lastMod time.Time
	journal *store.Journal
	userID  string // the integration user every write is attributed to
	stats   *stats
	rules   map[string]assignmentRule // assignment rules by id (rules.go)
	emails  map[string]int            // lower(Email) -> live Leads and Contacts holding it
	jobs    map[string]*jobRecord     // ingest jobs the journal holds, for the server to take over
	seq     int                       // creation counter for record.pos
	// purgedAt is, per object, when a record was last physically deleted
	// (the recycle bin emptied, a hard delete): the delete log reaches
	// back no further (replication.go).
	purgedAt map[string]time.Time
	purged   map[string]bool // ids of records deleted for good
}

type journalEntry struct {
	Obj    string         `json:"obj,omitempty"`
	ID     string         `json:"id,omitempty"`
	Fields map[string]any `json:"f,omitempty"`
	Next   uint64         `json:"next,omitempty"`
	// Job, instead of a record, is an ingest job's new state (bulk.go).
	Job *jobRecord `json:"job,omitempty"`
	// Purged, with Obj and ID, records a physical delete at that time
	// (replication.go).
	Purged *time.Time `json:"purged,omitempty"`
}

// newOrg builds an org from the seed and journal; extIDs adds custom
// external-id text fields (object -> field names), as an admin does.
func newOrg(ds *seed.Dataset, j *store.Journal, now func() time.Time, st *stats, extIDs map[string][]string) (*org, error) {
	schema := buildSchema()
	for obj, fields := range extIDs {
		meta := schema[strings.ToLower(obj)]
		if meta == nil {
			return nil, fmt.Errorf("unknown object %s", obj)
		}
		for _, name := range fields {
			if !strings.HasSuffix(name, "__c") {
				return nil, fmt.Errorf("%s.%s: a custom field's name ends in __c", obj, name)
			}
			if meta.field(name) != nil {
				continue
			}
			f := extID(name)
			f.Label = labelOf(name)
			meta.Fields = append(meta.Fields, f)
			meta.byName[strings.ToLower(name)] = f
		}
	}
	o := &org{
		schema: schema, recs: map[string]map[string]*record{}, ordered: map[string][]*record{},
		ext: map[string]map[string]map[string]string{}, next: 1 << 40, now: now, journal: j, stats: st,
		rules: map[string]assignmentRule{}, emails: map[string]int{}, jobs: map[string]*jobRecord{},
		purgedAt: map[string]time.Time{}, purged: map[string]bool{},
	}
	for name := range o.schema {
		o.recs[name] = map[string]*record{}
		o.ext[name] = map[string]map[string]string{}
	}
	born := seed.Base.UTC().Format(sfTimeLayout)
	o.put("Organization", OrgID, map[string]any{"Id": OrgID, "Name": "ferry emulator", "OrganizationType": "Developer Edition",
		"InstanceName": "EMU1", "IsSandbox": false, "NamespacePrefix": nil, "TrialExpirationDate": nil, "LanguageLocaleKey": "en_US",
		"TimeZoneSidKey": "UTC", "DefaultLocaleSidKey": "en_US", "Country": "US", "IsDeleted": false,
		"CreatedDate": born, "LastModifiedDate": born, "SystemModstamp": born, "CreatedById": nil, "LastModifiedById": nil})
	if ds != nil {
		o.userID = ds.UserID(0)
		o.seedRules(ds)
		for r := range ds.SalesforceRecords() {
			f := map[string]any{}
			for k, v := range r.Fields {
				switch x := v.(type) {
				case int:
					f[k] = float64(x)
				case time.Time:
					f[k] = x.UTC().Format(sfTimeLayout)
				default:
					f[k] = v
				}
			}
			f["Id"] = r.ID
			f["IsDeleted"] = false
			f["CreatedDate"] = r.CreatedDate.Format(sfTimeLayout)
			f["LastModifiedDate"] = r.SystemModstamp.Format(sfTimeLayout)
			f["SystemModstamp"] = r.SystemModstamp.Format(sfTimeLayout)
			f["CreatedById"] = ds.UserID(0)
			f["LastModifiedById"] = ds.UserID(0)
			for _, fm := range o.object(r.Object).Fields {
				if _, set := f[fm.Name]; !set && fm.Type == "boolean" {
					f[fm.Name] = fm.Name == "IsActive" // checkboxes are never null
				}
			}
			derive(r.Object, f)
			if r.Object == "User" && r.ID == o.userID {
				// The integration user every token is issued for:
				// userinfo and GET sobjects/User/{id} name it alike.
				f["Username"] = Username
			}
			o.put(r.Object, r.ID, f)
		}
	}
	err := j.Replay(func(b json.RawMessage) error {
		var e journalEntry
		if err := json.Unmarshal(b, &e); err != nil {
			return err
		}
		if e.Job != nil {
			o.jobs[e.Job.ID] = e.Job // its latest state wins
			return nil
		}
		if e.Purged != nil {
			if meta := o.object(e.Obj); meta != nil {
				o.remove(meta.Name, *e.Purged, o.recs[strings.ToLower(meta.Name)][e.ID])
			}
			return nil
		}
		o.put(e.Obj, e.ID, e.Fields)
		if e.Next > o.next {
			o.next = e.Next
		}
		return nil
	})
	return o, err
}

// put stores the full field map of a record, maintaining the indexes.
func (o *org) put(objName, id string, f map[string]any) *record {
	meta := o.schema[strings.ToLower(objName)]
	key := strings.ToLower(meta.Name)
	r, ok := o.recs[key][id]
	if !ok {
		o.seq++
		r = &record{obj: meta, id: id, pos: o.seq}
		o.recs[key][id] = r
		o.ordered[key] = append(o.ordered[key], r)
	} else {
		o.unindex(r)
	}
	r.f = f
	r.modTime, _ = time.Parse(sfTimeLayout, fmt.Sprint(f["SystemModstamp"]))
	if r.modTime.After(o.lastMod) {
		o.lastMod = r.modTime
	}
	if !r.deleted() {
		if e := personEmail(r); e != "" {
			o.emails[e]++
		}
		for _, fm := range meta.Fields {
			if fm.ExternalID {
				if v, ok := f[fm.Name].(string); ok && v != "" {
					idx := o.ext[key][fm.Name]
					if idx == nil {
						idx = map[string]string{}
						o.ext[key][fm.Name] = idx
					}
					idx[strings.ToLower(v)] = id
				}
			}
		}
	}
	return r
}

// personEmail is a live Lead's or Contact's email, lower-cased, or "".
func personEmail(r *record) string {
	if r.deleted() || (r.obj.Name != "Lead" && r.obj.Name != "Contact") {
		return ""
	}
	e, _ := r.f["Email"].(string)
	return strings.ToLower(strings.TrimSpace(e))
}

func (o *org) unindex(r *record) {
	if e := personEmail(r); e != "" {
		if o.emails[e]--; o.emails[e] <= 0 {
			delete(o.emails, e)
		}
	}
	key := strings.ToLower(r.obj.Name)
	for _, fm := range r.obj.Fields {
		if fm.ExternalID {
			if v, ok := r.f[fm.Name].(string); ok && v != "" {
				if o.ext[key][fm.Name][strings.ToLower(v)] == r.id {
					delete(o.ext[key][fm.Name], strings.ToLower(v))
				}
			}
		}
	}
}

func (o *org) object(name string) *objectMeta { return o.schema[strings.ToLower(name)] }

func (o *org) get(obj *objectMeta, id string) *record {
	r := o.recs[strings.ToLower(obj.Name)][id]
	if r == nil && len(id) == 15 {
		for k, v := range o.recs[strings.ToLower(obj.Name)] {
			if k[:15] == id {
				return v
			}
		}
	}
	return r
}

// stamp returns the modification time for a write: the org clock in whole
// seconds, never earlier than the last stamp handed out.
func (o *org) stamp() time.Time {
	t := o.now().UTC().Truncate(time.Second)
	if t.Before(o.lastMod) {
		t = o.lastMod
	}
	return t
}

func (o *org) newID(obj *objectMeta) string {
	o.next++
	return seed.SFID(obj.KeyPrefix, o.next)
}

// coerce converts an incoming value to the stored form for field f. fromCSV
// values are strings as Bulk API CSV carries them.
func coerce(f *fieldMeta, v any, fromCSV bool) (any, *recErr) {
	if v == nil {
		return nil, nil
	}
	bad := func() (any, *recErr) {
		return nil, &recErr{StatusCode: "INVALID_TYPE_ON_FIELD_IN_RECORD", Message: fmt.Sprintf("%s: value not of required type: %v", f.Label, v), Fields: []string{f.Name}}
	}
	s, isStr := v.(string)
	switch f.Type {
	case "boolean":
		if b, ok := v.(bool); ok {
			return b, nil
		}
		if isStr {
			switch strings.ToLower(s) {
			case "true", "1", "yes":
				return true, nil
			case "false", "0", "no":
				return false, nil
			}
		}
		return bad()
	case "int", "double", "currency", "percent":
		var n float64
		switch x := v.(type) {
		case float64:
			n = x
		case json.Number:
			var err error
			if n, err = x.Float64(); err != nil {
				return bad()
			}
		case string:
			var err error
			if n, err = strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
				return bad()
			}
		default:
			return bad()
		}
		if f.Type == "int" && n != float64(int64(n)) {
			return bad()
		}
		return n, nil
	case "date":
		if !isStr {
			return bad()
		}
		if _, err := time.Parse("2006-01-02", s); err != nil {
			return nil, &recErr{StatusCode: "INVALID_TYPE_ON_FIELD_IN_RECORD", Message: fmt.Sprintf("%s: value not of required type: %s", f.Label, s), Fields: []string{f.Name}}
		}
		return s, nil
	case "datetime":
		if !isStr {
			return bad()
		}
		t, ok := parseSFDateTime(s)
		if !ok {
			return bad()
		}
		return t.UTC().Format(sfTimeLayout), nil
	}
	if !isStr {
		if fromCSV {
			return bad()
		}
		switch x := v.(type) {
		case float64, bool, json.Number:
			s = fmt.Sprint(x)
		default:
			return bad()
		}
	}
	if f.Length > 0 && len([]rune(s)) > f.Length {
		return nil, &recErr{StatusCode: "STRING_TOO_LONG", Message: fmt.Sprintf("%s: data value too large: %s (max length=%d)", f.Label, truncate(s, 40), f.Length), Fields: []string{f.Name}}
	}
	switch f.Type {
	case "email":
		if s != "" {
			if a, err := mail.ParseAddress(s); err != nil || a.Address != s || strings.ContainsAny(s, " \t") {
				return nil, &recErr{StatusCode: "INVALID_EMAIL_ADDRESS", Message: fmt.Sprintf("%s: invalid email address: %s", f.Label, s), Fields: []string{f.Name}}
			}
		}
	case "picklist":
		if f.Restricted && s != "" && !contains(f.Picklist, s) {
			return nil, &recErr{StatusCode: "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", Message: fmt.Sprintf("%s: bad value for restricted picklist field: %s", f.Label, s), Fields: []string{f.Name}}
		}
	}
	if s == "" {
		return nil, nil
	}
	return s, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// parseSFDateTime accepts the datetime forms SOQL, REST and Bulk CSV allow.
func parseSFDateTime(s string) (time.Time, bool) {
	for _, layout := range []string{sfTimeLayout, "2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05-0700", "2006-01-02T15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// write is one requested create or update, already split from its transport.
type write struct {
	fields map[string]any // field name as sent -> value (nil = set null)
	csv    bool
	assign assign // the assignment rule the write runs (rules.go)
	// alert: the Lead duplicate rule's alert applies (REST, not Bulk);
	// allowSave: the caller accepts it and saves.
	alert, allowSave bool
}

// apply validates w against obj and, when valid, creates (existing == nil) or
// updates the record. It returns the record id, or the record errors.
func (o *org) apply(obj *objectMeta, existing *record, w write) (string, []recErr) {
	if existing != nil && existing.deleted() {
		return existing.id, []recErr{{StatusCode: "ENTITY_IS_DELETED", Message: "entity is deleted", Fields: []string{}}}
	}
	if existing != nil && obj.Name == "Lead" {
		if c, _ := existing.f["IsConverted"].(bool); c {
			return existing.id, []recErr{{StatusCode: "CANNOT_UPDATE_CONVERTED_LEAD", Message: "cannot reference converted lead", Fields: []string{}}}
		}
	}
	vals := map[string]any{}
	var errs []recErr
	var readonly []string
	names := make([]string, 0, len(w.fields))
	for k := range w.fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		raw := w.fields[name]
		f := obj.field(name)
		if f == nil {
			errs = append(errs, recErr{StatusCode: "INVALID_FIELD", Message: fmt.Sprintf("No such column '%s' on sobject of type %s", name, obj.Name), Fields: []string{name}})
			continue
		}
		if (existing == nil && !f.Createable) || (existing != nil && !f.Updateable) {
			readonly = append(readonly, f.Name)
			continue
		}
		v, e := coerce(f, raw, w.csv)
		if e != nil {
			errs = append(errs, *e)
			continue
		}
		if v == nil && !f.Nillable && !f.DefaultedOnCreate && existing != nil {
			errs = append(errs, recErr{StatusCode: "REQUIRED_FIELD_MISSING", Message: fmt.Sprintf("Required fields are missing: [%s]", f.Name), Fields: []string{f.Name}})
			continue
		}
		if f.Type == "reference" && v != nil {
			if !o.refExists(f, v.(string)) {
				errs = append(errs, recErr{StatusCode: "INVALID_CROSS_REFERENCE_KEY", Message: fmt.Sprintf("%s: id value of incorrect type: %v", f.Label, v), Fields: []string{f.Name}})
				continue
			}
		}
		vals[f.Name] = v
	}
	if len(readonly) > 0 {
		errs = append(errs, recErr{StatusCode: "INVALID_FIELD_FOR_INSERT_UPDATE", Message: fmt.Sprintf("Unable to create/update fields: %s. Please check the security settings of this field and verify that it is read/write for your profile or permission set.", strings.Join(readonly, ", ")), Fields: readonly})
	}
	if existing == nil {
		var missing []string
		for _, f := range obj.Fields {
			if f.Createable && !f.Nillable && !f.DefaultedOnCreate {
				if v, ok := vals[f.Name]; !ok || v == nil {
					missing = append(missing, f.Name)
				}
			}
		}
		if len(missing) > 0 {
			errs = append(errs, recErr{StatusCode: "REQUIRED_FIELD_MISSING", Message: fmt.Sprintf("Required fields are missing: [%s]", strings.Join(missing, ", ")), Fields: missing})
		}
	}
	if existing == nil && obj.Name == "Lead" && w.alert && !w.allowSave {
		if e, _ := vals["Email"].(string); e != "" && o.emails[strings.ToLower(strings.TrimSpace(e))] > 0 {
			errs = append(errs, recErr{StatusCode: "DUPLICATES_DETECTED", Message: duplicateMessage, Fields: []string{}})
		}
	}
	if existing == nil && obj.Name == "CampaignMember" {
		// A person is a member of a campaign once: creating a second member
		// is refused (CampaignMember, "If the record exists, an error is
		// returned and no update is made").
		if o.campaignMember(vals) != "" {
			errs = append(errs, recErr{StatusCode: "DUPLICATE_VALUE", Message: "Already a campaign member.", Fields: []string{}})
		}
	}
	key := strings.ToLower(obj.Name)
	for _, f := range obj.Fields {
		if !f.Unique || !f.ExternalID {
			continue
		}
		if v, ok := vals[f.Name].(string); ok && v != "" {
			if other, ok := o.ext[key][f.Name][strings.ToLower(v)]; ok && (existing == nil || other != existing.id) {
				errs = append(errs, recErr{StatusCode: "DUPLICATE_VALUE", Message: fmt.Sprintf("duplicate value found: %s duplicates value on record with id: %s", f.Name, other), Fields: []string{f.Name}})
			}
		}
	}
	if len(errs) > 0 {
		id := ""
		if existing != nil {
			id = existing.id
		}
		return id, errs
	}
	now := o.stamp().Format(sfTimeLayout)
	var f map[string]any
	var id string
	if existing == nil {
		id = o.newID(obj)
		f = map[string]any{"Id": id, "IsDeleted": false, "CreatedDate": now, "CreatedById": o.userID}
		for _, fm := range obj.Fields {
			if fm.DefaultedOnCreate && fm.Createable || fm.Name == "IsConverted" {
				switch {
				case fm.Type == "boolean":
					f[fm.Name] = fm.Name == "IsActive"
				case fm.Type == "picklist" && len(fm.Picklist) > 0:
					f[fm.Name] = fm.Picklist[0]
				case fm.Name == "OwnerId":
					f[fm.Name] = o.userID
				}
			}
		}
		o.stats.record(obj.Name, "created")
	} else {
		id = existing.id
		f = make(map[string]any, len(existing.f)+len(vals))
		for k, v := range existing.f {
			f[k] = v
		}
		o.stats.record(obj.Name, "updated")
	}
	for k, v := range vals {
		if v == nil {
			delete(f, k)
		} else {
			f[k] = v
		}
	}
	if rule := w.assign.rule; rule != nil && (existing == nil || w.assign.onUpdate) {
		f["OwnerId"] = rule.owner
	}
	derive(obj.Name, f)
	f["LastModifiedDate"] = now
	f["SystemModstamp"] = now
	f["LastModifiedById"] = o.userID
	o.commit(obj, id, f)
	return id, nil
}

// derive maintains read-only fields Salesforce computes from others.
func derive(object string, f map[string]any) {
	switch object {
	case "Opportunity":
		stage, _ := f["StageName"].(string)
		f["IsClosed"] = strings.HasPrefix(stage, "Closed")
		f["IsWon"] = stage == "Closed Won"
	case "Task":
		f["IsClosed"] = f["Status"] == "Completed"
	case "Case":
		f["IsClosed"] = f["Status"] == "Closed"
	}
}

// commit journals and stores a record's new state.
func (o *org) commit(obj *objectMeta, id string, f map[string]any) {
	o.journal.Append(journalEntry{Obj: obj.Name, ID: id, Fields: f, Next: o.next})
	o.put(obj.Name, id, f)
}

func (o *org) refExists(f *fieldMeta, id string) bool {
	for _, to := range f.ReferenceTo {
		if meta := o.object(to); meta != nil && len(id) >= 3 && strings.HasPrefix(id, meta.KeyPrefix) {
			return o.get(meta, id) != nil
		}
	}
	return false
}

// softDelete moves a record to the recycle bin.
func (o *org) softDelete(r *record) {
	f := make(map[string]any, len(r.f))
	for k, v := range r.f {
		f[k] = v
	}
	now := o.stamp().Format(sfTimeLayout)
	f["IsDeleted"] = true
	f["SystemModstamp"] = now
	f["LastModifiedDate"] = now
	o.commit(r.obj, r.id, f) // put unindexes the live version
	o.stats.record(r.obj.Name, "deleted")
}

// lookupExt finds the live record whose external id field equals value.
func (o *org) lookupExt(obj *objectMeta, field *fieldMeta, value string) *record {
	if field.Type == "id" {
		r := o.get(obj, value)
		if r != nil && r.deleted() {
			return nil
		}
		return r
	}
	if field.ExternalID {
		if id, ok := o.ext[strings.ToLower(obj.Name)][field.Name][strings.ToLower(value)]; ok {
			return o.get(obj, id)
		}
		return nil
	}
	for _, r := range o.ordered[strings.ToLower(obj.Name)] {
		if !r.deleted() && strings.EqualFold(fmt.Sprint(r.f[field.Name]), value) {
			return r
		}
	}
	return nil
}

// matchesExt lists the live records whose (non-unique, idLookup) field equals
// value, for upsert's 300 Multiple Choices answer.
func (o *org) matchesExt(obj *objectMeta, field *fieldMeta, value string) []*record {
	if field.ExternalID || field.Type == "id" {
		if r := o.lookupExt(obj, field, value); r != nil {
			return []*record{r}
		}
		return nil
	}
	var out []*record
	for _, r := range o.ordered[strings.ToLower(obj.Name)] {
		if !r.deleted() && strings.EqualFold(fmt.Sprint(r.f[field.Name]), value) {
			out = append(out, r)
		}
	}
	return out
}

// value returns the field value as the API shows it (Name is computed).
func (r *record) value(name string) any {
	if name == "Name" && (r.obj.Name == "Contact" || r.obj.Name == "Lead" || r.obj.Name == "User") {
		first, _ := r.f["FirstName"].(string)
		last, _ := r.f["LastName"].(string)
		return strings.TrimSpace(first + " " + last)
	}
	return r.f[name]
}
