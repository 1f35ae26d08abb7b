// Package load is ferry's reverse-ETL vocabulary: the Plan read from the
// outbound models (what each target lacks or holds differently), the write
// ledger, and rejects.
//
// Idempotency: every write is keyed so that repeating it cannot duplicate a
// record — Salesforce creates are upserts on an external id, updates go by
// Id, Intercom companies are upserted by company_id, and Intercom contact
// creates (the one non-idempotent call) are recorded in the ledger as
// pending before they are sent; a later run that finds a pending create
// looks the contact up before creating it again, and treats 409 as "update
// the existing id". The ledger records a hash of each payload written.
package load

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/ferry-sync/ferry/internal/state"
)

// Change sets one field; a nil Value sets it to null.
type Change struct {
	Field string
	Value *string
	Type  string // string | integer | number | boolean
}

// Record is one outbound record.
type Record struct {
	Object string // Salesforce object, or Intercom "contacts"/"companies"
	Key    string // Id, external id value, Intercom id, or (for creates) the source record's id
	Alt    string // Intercom company_id for company updates
	Fields []Change
}

// Payload renders the changes as a field -> value map.
func (r Record) Payload() map[string]any {
	m := make(map[string]any, len(r.Fields))
	for _, c := range r.Fields {
		if c.Value == nil {
			m[c.Field] = nil
		} else {
			m[c.Field] = *c.Value
		}
	}
	return m
}

// Hash is a stable digest of the record's target, key and payload.
func (r Record) Hash(target string) string {
	b, _ := json.Marshal(r.Payload()) // map keys are sorted
	h := sha256.Sum256([]byte(target + "\x00" + r.Object + "\x00" + r.Key + "\x00" + string(b)))
	return hex.EncodeToString(h[:12])
}

// Plan is everything the load stage would write.
type Plan struct {
	SalesforceUpdates map[string][]Record // object -> records keyed by Id
	// SalesforceUpserts: object -> records keyed by an external id; each
	// record's Alt names the external-id field.
	SalesforceUpserts map[string][]Record
	IntercomContacts  []Record // updates keyed by Intercom id
	IntercomCompanies []Record // updates keyed by Intercom id (Alt = company_id)
	IntercomCreates   []Record // creates keyed by Salesforce Contact Id
	// IntercomAttachments attach contacts to companies: Object is
	// "intercom" (Key is a contact id) or "salesforce_contact" (Key is the
	// Contact Id of a contact created in this run); each field's value is
	// an Intercom company id.
	IntercomAttachments []Record
	// IntercomMessages are onboarding messages keyed by opportunity Id.
	IntercomMessages []Record
	Ambiguous        int
}

func ptr(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	v := s.String
	return &v
}

// group collects rows (object, key, alt, field, value, type) into records.
func group(rows *sql.Rows) ([]Record, error) {
	defer rows.Close()
	var out []Record
	idx := map[string]int{}
	for rows.Next() {
		var object, key, alt, field, typ sql.NullString
		var value sql.NullString
		if err := rows.Scan(&object, &key, &alt, &field, &value, &typ); err != nil {
			return nil, err
		}
		if !key.Valid || !field.Valid {
			continue
		}
		k := object.String + "\x00" + key.String
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, Record{Object: object.String, Key: key.String, Alt: alt.String})
		}
		out[i].Fields = append(out[i].Fields, Change{Field: field.String, Value: ptr(value), Type: typ.String})
	}
	for i := range out {
		sort.Slice(out[i].Fields, func(a, b int) bool { return out[i].Fields[a].Field < out[i].Fields[b].Field })
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Object != out[b].Object {
			return out[a].Object < out[b].Object
		}
		return out[a].Key < out[b].Key
	})
	return out, rows.Err()
}

func byObject(recs []Record) map[string][]Record {
	m := map[string][]Record{}
	for _, r := range recs {
		m[r.Object] = append(m[r.Object], r)
	}
	return m
}

// ReadPlan reads the outbound models built by the transform stage.
func ReadPlan(ctx context.Context, db *sql.DB) (*Plan, error) {
	p := &Plan{}
	q := func(sqlText string) ([]Record, error) {
		rows, err := db.QueryContext(ctx, sqlText)
		if err != nil {
			return nil, fmt.Errorf("read plan: %w", err)
		}
		return group(rows)
	}
	var err error
	var recs []Record
	if recs, err = q(`SELECT sf_object, sf_id, NULL, field, value, value_type FROM main.sf_updates`); err != nil {
		return nil, err
	}
	p.SalesforceUpdates = byObject(recs)
	if recs, err = q(`SELECT sf_object, record_key, external_id_field, field, value, value_type FROM main.sf_upserts`); err != nil {
		return nil, err
	}
	p.SalesforceUpserts = byObject(recs)
	if p.IntercomContacts, err = q(`SELECT 'contacts', intercom_id, NULL, field, value, value_type FROM main.intercom_updates WHERE entity = 'people'`); err != nil {
		return nil, err
	}
	if p.IntercomCompanies, err = q(`SELECT 'companies', intercom_id, company_id, field, value, value_type FROM main.intercom_updates WHERE entity = 'companies'`); err != nil {
		return nil, err
	}
	if p.IntercomCreates, err = q(`SELECT 'contacts', record_key, NULL, field, value, value_type FROM main.intercom_contact_creates`); err != nil {
		return nil, err
	}
	if p.IntercomAttachments, err = q(`SELECT contact_kind, contact_key, NULL, 'company', company_intercom_id, 'string' FROM main.intercom_company_attachments`); err != nil {
		return nil, err
	}
	if p.IntercomMessages, err = q(`SELECT object, record_key, NULL, field, value, value_type FROM main.intercom_messages`); err != nil {
		return nil, err
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM main.identity_ambiguous`).Scan(&p.Ambiguous); err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	return p, nil
}

// Line is one row of a plan summary.
type Line struct {
	Target, Object, Op string
	Records            int
	Fields             map[string]int
}

// Summary counts records and fields per target, object and operation.
func (p *Plan) Summary() []Line {
	var out []Line
	add := func(target, op string, recs []Record) {
		if len(recs) == 0 {
			return
		}
		l := Line{Target: target, Object: recs[0].Object, Op: op, Records: len(recs), Fields: map[string]int{}}
		for _, r := range recs {
			for _, c := range r.Fields {
				l.Fields[c.Field]++
			}
		}
		out = append(out, l)
	}
	add("intercom", "create", p.IntercomCreates)
	add("intercom", "update", p.IntercomContacts)
	add("intercom", "upsert", p.IntercomCompanies)
	add("intercom", "attach", p.IntercomAttachments)
	add("intercom", "send", p.IntercomMessages)
	for _, obj := range sortedKeys(p.SalesforceUpserts) {
		add("salesforce", "upsert", p.SalesforceUpserts[obj])
	}
	for _, obj := range sortedKeys(p.SalesforceUpdates) {
		add("salesforce", "update", p.SalesforceUpdates[obj])
	}
	return out
}

// Writes is the total number of records the plan writes.
func (p *Plan) Writes() int {
	n := len(p.IntercomContacts) + len(p.IntercomCompanies) + len(p.IntercomCreates) + len(p.IntercomAttachments) + len(p.IntercomMessages)
	for _, v := range p.SalesforceUpdates {
		n += len(v)
	}
	for _, v := range p.SalesforceUpserts {
		n += len(v)
	}
	return n
}

func sortedKeys(m map[string][]Record) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Reject is a record a target refused.
type Reject struct {
	Target, Object, Key, Op, Error string
	Payload                        map[string]any
}

// Outcome is what a sink did.
type Outcome struct {
	mu      sync.Mutex
	Written map[string]int // "target object op" -> records
	Rejects []Reject
	IDs     map[string]string // "target object key" -> id the target assigned or confirmed
}

// NewOutcome returns an empty Outcome.
func NewOutcome() *Outcome { return &Outcome{Written: map[string]int{}, IDs: map[string]string{}} }

// Identified records the id a target gave record key.
func (o *Outcome) Identified(target, object, key, id string) {
	if id == "" {
		return
	}
	o.mu.Lock()
	o.IDs[target+" "+object+" "+key] = id
	o.mu.Unlock()
}

// ID returns the id recorded for key.
func (o *Outcome) ID(target, object, key string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.IDs[target+" "+object+" "+key]
}

// Wrote counts a successful write.
func (o *Outcome) Wrote(target, object, op string, n int) {
	o.mu.Lock()
	o.Written[target+" "+object+" "+op] += n
	o.mu.Unlock()
}

// Reject records a refused record.
func (o *Outcome) Reject(r Reject) {
	o.mu.Lock()
	o.Rejects = append(o.Rejects, r)
	o.mu.Unlock()
}

// Ledger buffers write-ledger rows and appends them to ferry.ledger.
type Ledger struct {
	st    *state.Store
	runID string
	now   func() time.Time
	mu    sync.Mutex
	rows  [][]driver.Value
}

// NewLedger returns a ledger for run runID.
func NewLedger(st *state.Store, runID string, now func() time.Time) *Ledger {
	return &Ledger{st: st, runID: runID, now: now}
}

// Pending durably records that a non-idempotent write is about to be sent.
func (l *Ledger) Pending(ctx context.Context, target string, r Record, op string) error {
	_, err := l.st.DB.ExecContext(ctx, l.st.Stmt("InsertLedger"), l.runID, target, r.Object, r.Key, op, r.Hash(target), "pending", nil, nil, l.now().UTC())
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	return nil
}

// PendingCreates lists keys whose create was sent by an earlier run that
// never learned the answer.
func (l *Ledger) PendingCreates(ctx context.Context, target, object string) (map[string]bool, error) {
	rows, err := l.st.DB.QueryContext(ctx, l.st.Stmt("PendingCreates"), target, object)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out[k] = true
	}
	return out, rows.Err()
}

// Record buffers the outcome of one write.
func (l *Ledger) Record(target string, r Record, op, status, resultID, errMsg string) {
	l.mu.Lock()
	l.rows = append(l.rows, []driver.Value{l.runID, target, r.Object, r.Key, op, r.Hash(target), status, nullable(resultID), nullable(errMsg), l.now().UTC()})
	l.mu.Unlock()
}

func nullable(s string) driver.Value {
	if s == "" {
		return nil
	}
	return s
}

// Flush appends the buffered rows in one batch.
func (l *Ledger) Flush(ctx context.Context) error {
	l.mu.Lock()
	rows := l.rows
	l.rows = nil
	l.mu.Unlock()
	return appendRows(ctx, l.st.DB, "ledger", rows)
}

// appendRows bulk-inserts rows into ferry.<table> with DuckDB's appender.
func appendRows(ctx context.Context, db *sql.DB, table string, rows [][]driver.Value) error {
	if len(rows) == 0 {
		return nil
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		a, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "ferry", table)
		if err != nil {
			return fmt.Errorf("append ferry.%s: %w", table, err)
		}
		for _, r := range rows {
			if err := a.AppendRow(r...); err != nil {
				a.Close()
				return fmt.Errorf("append ferry.%s: %w", table, err)
			}
		}
		return a.Close()
	})
}

// SaveRejects stores rejects in ferry.rejects and returns how many.
func SaveRejects(ctx context.Context, st *state.Store, runID string, rejects []Reject) error {
	rows := make([][]driver.Value, 0, len(rejects))
	for _, r := range rejects {
		b, _ := json.Marshal(r.Payload)
		rows = append(rows, []driver.Value{runID, r.Target, r.Object, r.Key, r.Op, r.Error, string(b)})
	}
	return appendRows(ctx, st.DB, "rejects", rows)
}

// Typed converts a change's text value to the JSON type its mapping names.
func Typed(c Change) (any, error) {
	if c.Value == nil {
		return nil, nil
	}
	v := *c.Value
	switch c.Type {
	case "integer":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("field %s: %q is not an integer", c.Field, v)
		}
		return int64(f), nil
	case "number":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("field %s: %q is not a number", c.Field, v)
		}
		return f, nil
	case "boolean":
		b, err := strconv.ParseBool(strings.ToLower(v))
		if err != nil {
			return nil, fmt.Errorf("field %s: %q is not a boolean", c.Field, v)
		}
		return b, nil
	}
	return v, nil
}
