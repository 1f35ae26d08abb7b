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
	"iter"
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

// Source is one outbound model, read as rows of (object, key, alt, field,
// value, type), one row per field of a record.
type Source struct {
	Target, Op string
	query      string
	perObject  bool // summarised and written object by object (Salesforce)
}

// The outbound models the load stage writes.
var (
	// SalesforceUpdates are keyed by Id.
	SalesforceUpdates = Source{"salesforce", "update", `SELECT sf_object, sf_id, NULL, field, value, value_type FROM main.sf_updates`, true}
	// SalesforceUpserts are keyed by an external id; each record's Alt
	// names the external-id field.
	SalesforceUpserts = Source{"salesforce", "upsert", `SELECT sf_object, record_key, external_id_field, field, value, value_type FROM main.sf_upserts`, true}
	// IntercomCreates are keyed by Salesforce Contact Id.
	IntercomCreates = Source{"intercom", "create", `SELECT 'contacts', record_key, NULL, field, value, value_type FROM main.intercom_contact_creates`, false}
	// IntercomContacts are updates keyed by Intercom id.
	IntercomContacts = Source{"intercom", "update", `SELECT 'contacts', intercom_id, NULL, field, value, value_type FROM main.intercom_updates WHERE entity = 'people'`, false}
	// IntercomCompanies are updates keyed by Intercom id (Alt = company_id).
	IntercomCompanies = Source{"intercom", "upsert", `SELECT 'companies', intercom_id, company_id, field, value, value_type FROM main.intercom_updates WHERE entity = 'companies'`, false}
	// IntercomAttachments attach contacts to companies: Object is
	// "intercom" (Key is a contact id) or "salesforce_contact" (Key is the
	// Contact Id of a contact created in this run); each field's value is
	// an Intercom company id.
	IntercomAttachments = Source{"intercom", "attach", `SELECT contact_kind, contact_key, NULL, 'company', company_intercom_id, 'string' FROM main.intercom_company_attachments`, false}
	// IntercomMessages are onboarding messages keyed by opportunity Id.
	IntercomMessages = Source{"intercom", "send", `SELECT object, record_key, NULL, field, value, value_type FROM main.intercom_messages`, false}
)

// summaryOrder is the order of a plan summary's lines.
var summaryOrder = []Source{IntercomCreates, IntercomContacts, IntercomCompanies, IntercomAttachments, IntercomMessages, SalesforceUpserts, SalesforceUpdates}

// rows names the source's columns and drops rows without a key or field.
func (s Source) rows() string {
	return `SELECT coalesce(o, '') AS object, k AS key, a AS alt, f AS field, v AS value, t AS type
FROM (` + s.query + `) AS s(o, k, a, f, v, t) WHERE k IS NOT NULL AND f IS NOT NULL`
}

func (s Source) name() string { return s.Target + " " + s.Op }

// DefaultChunkSize is how many records a Plan reads at a time.
const DefaultChunkSize = 10_000

// Plan is what the load stage would write. It holds counts only: the
// records stay in DuckDB, and Chunks reads them a bounded number at a time,
// so that the load's memory does not grow with the plan.
type Plan struct {
	db *sql.DB
	// ChunkSize is how many records Chunks yields at a time.
	ChunkSize int
	Ambiguous int
	lines     []Line
	counts    map[string]map[string]int // source name -> object -> records
}

// ReadPlan summarises the outbound models built by the transform stage,
// counting in SQL.
func ReadPlan(ctx context.Context, db *sql.DB) (*Plan, error) {
	p := &Plan{db: db, ChunkSize: DefaultChunkSize, counts: map[string]map[string]int{}}
	for _, src := range summaryOrder {
		lines, counts, err := summarise(ctx, db, src)
		if err != nil {
			return nil, fmt.Errorf("read plan: %w", err)
		}
		p.lines = append(p.lines, lines...)
		p.counts[src.name()] = counts
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

// summarise counts a source's records and fields per object; sources not
// written object by object get one line, named after their first object.
func summarise(ctx context.Context, db *sql.DB, src Source) ([]Line, map[string]int, error) {
	rows, err := db.QueryContext(ctx, `WITH src AS (`+src.rows()+`)
SELECT object, field, count(*), any_value(n) FROM src
JOIN (SELECT object, count(DISTINCT key) AS n FROM src GROUP BY object) USING (object)
GROUP BY object, field ORDER BY object, field`)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var lines []Line
	counts := map[string]int{}
	for rows.Next() {
		var object, field string
		var n, records int
		if err := rows.Scan(&object, &field, &n, &records); err != nil {
			return nil, nil, err
		}
		if _, ok := counts[object]; !ok {
			counts[object] = records
			if len(lines) == 0 || src.perObject {
				lines = append(lines, Line{Target: src.Target, Object: object, Op: src.Op, Fields: map[string]int{}})
			}
			lines[len(lines)-1].Records += records
		}
		lines[len(lines)-1].Fields[field] += n
	}
	return lines, counts, rows.Err()
}

// Summary counts records and fields per target, object and operation.
func (p *Plan) Summary() []Line { return p.lines }

// Writes is the total number of records the plan writes.
func (p *Plan) Writes() int {
	n := 0
	for _, src := range summaryOrder {
		n += p.Count(src, "")
	}
	return n
}

// Count is the number of records of object in src ("" for all objects).
func (p *Plan) Count(src Source, object string) int {
	n := 0
	for obj, c := range p.counts[src.name()] {
		if object == "" || obj == object {
			n += c
		}
	}
	return n
}

// Objects lists, sorted, the objects src has records of.
func (p *Plan) Objects(src Source) []string {
	out := make([]string, 0, len(p.counts[src.name()]))
	for obj := range p.counts[src.name()] {
		out = append(out, obj)
	}
	sort.Strings(out)
	return out
}

// Fields lists the fields src sets on records of object, and the
// external-id fields it keys them on.
func (p *Plan) Fields(ctx context.Context, src Source, object string) ([]string, error) {
	rows, err := p.db.QueryContext(ctx, `WITH src AS (`+src.rows()+`)
SELECT DISTINCT field FROM src WHERE object = $1
UNION SELECT DISTINCT alt FROM src WHERE object = $1 AND alt IS NOT NULL`, object)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// Chunks yields src's records of object ("" for all objects) ordered by
// object and key, at most ChunkSize at a time. Each chunk is one query that
// resumes after the last key of the one before: a chunk costs a scan of
// the model (a table), and memory holds only its records.
func (p *Plan) Chunks(ctx context.Context, src Source, object string) iter.Seq2[[]Record, error] {
	q := `WITH src AS (` + src.rows() + `),
page AS (
    SELECT DISTINCT object, key FROM src
    WHERE ($1 = '' OR object = $1) AND ($2 OR object > $3 OR (object = $3 AND key > $4))
    ORDER BY object, key LIMIT $5
)
SELECT object, key, src.alt, src.field, src.value, src.type
FROM src JOIN page USING (object, key)
ORDER BY object, key, field`
	return func(yield func([]Record, error) bool) {
		first, lastObject, lastKey := true, "", ""
		size := max(p.ChunkSize, 1)
		for {
			rows, err := p.db.QueryContext(ctx, q, object, first, lastObject, lastKey, size)
			if err != nil {
				yield(nil, fmt.Errorf("read plan: %w", err))
				return
			}
			recs, err := group(rows)
			if err != nil {
				yield(nil, fmt.Errorf("read plan: %w", err))
				return
			}
			if len(recs) == 0 || !yield(recs, nil) || len(recs) < size {
				return
			}
			last := recs[len(recs)-1]
			first, lastObject, lastKey = false, last.Object, last.Key
		}
	}
}

func ptr(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	v := s.String
	return &v
}

// group collects rows (object, key, alt, field, value, type), ordered by
// object and key, into records, keeping the query's order (the last record
// is the greatest in DuckDB's order, where the next chunk resumes).
func group(rows *sql.Rows) ([]Record, error) {
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var object, key, alt, field, typ sql.NullString
		var value sql.NullString
		if err := rows.Scan(&object, &key, &alt, &field, &value, &typ); err != nil {
			return nil, err
		}
		if n := len(out); n == 0 || out[n-1].Object != object.String || out[n-1].Key != key.String {
			out = append(out, Record{Object: object.String, Key: key.String, Alt: alt.String})
		}
		r := &out[len(out)-1]
		r.Fields = append(r.Fields, Change{Field: field.String, Value: ptr(value), Type: typ.String})
	}
	return out, rows.Err()
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
	// KeepIDs, when set, names the "target object"s whose IDs are kept
	// (the rest are not needed later), so that IDs grows with those
	// objects' writes rather than with the whole plan.
	KeepIDs map[string]bool
}

// NewOutcome returns an empty Outcome.
func NewOutcome() *Outcome { return &Outcome{Written: map[string]int{}, IDs: map[string]string{}} }

// Identified records the id a target gave record key.
func (o *Outcome) Identified(target, object, key, id string) {
	if id == "" || (o.KeepIDs != nil && !o.KeepIDs[target+" "+object]) {
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

// TakeRejects returns the rejects recorded so far and forgets them, so that
// they can be saved chunk by chunk.
func (o *Outcome) TakeRejects() []Reject {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.Rejects
	o.Rejects = nil
	return r
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
