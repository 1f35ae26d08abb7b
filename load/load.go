// Package load is ferry's reverse-ETL vocabulary: the Plan read from the
// syncs' outbound views (what each target lacks or holds differently), the
// write ledger, and rejects.
//
// Idempotency: every write is keyed so that repeating it cannot duplicate a
// record — Salesforce creates are upserts on an external id, updates go by
// Id, Intercom companies are upserted by company_id. The Intercom calls
// that make a record anew each time (a contact create, a note, a message)
// are recorded in the ledger as pending before they are sent; a later run
// that finds one pending looks the record up before making it again (and
// a contact create treats 409 as "update the existing id"). The ledger
// records a hash of each payload written.
package load

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
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

// Source is the outbound view of one declared sync (transform.SyncView),
// read as rows of (object, key, alt, field, value, type, creates), one row
// per field of a record; creates says whether the record is new to the
// target (NULL: the target decides, as an upsert does).
type Source struct {
	Target, Op string
	query      string
	sync       string // the sync whose outbound view this is
}

// SyncSource is the outbound view of sync name, written to target
// (salesforce or intercom) by op.
func SyncSource(name, target, op string) Source {
	return Source{Target: target, Op: op, sync: name,
		query: "SELECT object, key, alt, field, value, type, creates FROM main." + state.QuoteIdent("sync__"+name)}
}

// Sync names the sync the source writes.
func (s Source) Sync() string { return s.sync }

// rows names the source's columns and drops rows without a key or field.
func (s Source) rows() string {
	return `SELECT coalesce(o, '') AS object, k AS key, a AS alt, f AS field, v AS value, t AS type, CAST(c AS BOOLEAN) AS creates
FROM (` + s.query + `) AS s(o, k, a, f, v, t, c) WHERE k IS NOT NULL AND f IS NOT NULL`
}

func (s Source) name() string { return "sync " + s.sync }

// DefaultChunkSize is how many records a Plan reads at a time
// (load.chunk_records). Salesforce Bulk jobs span chunks, so the size sets
// the memory a load holds and how often its ledger is saved, not the jobs
// it runs. At 100,000 contacts, 50,000 took the first sync's load from 36.6
// s to 27.1 s against 10,000 (when a chunk was a job); Go then took 247 MiB
// from the OS in the load, against 151 MiB.
const DefaultChunkSize = 50_000

// Plan is what the load stage would write. ReadPlan copies every outbound
// model once into one temporary table, numbering records 1..n in (source,
// object, key) order and storing the rows in that order; Chunks then reads
// a range of numbers, which DuckDB finds from its row groups' min/max
// statistics, so that a chunk costs its own rows rather than a re-run of
// the model's query. Go holds counts only; DuckDB keeps the table within
// its memory_limit and spills the rest to its temp_directory.
//
// The table is TEMP, so it lives on one connection: the plan holds that
// connection until Close, which drops the table and gives it back. A
// temporary table writes nothing to the warehouse file and vanishes with
// the process whatever happens. A Plan may be used from several
// goroutines; its queries run one at a time.
type Plan struct {
	// ChunkSize is how many records Chunks yields at a time.
	ChunkSize int
	Ambiguous int
	sources   []Source // the syncs, in the order they load
	lines     []Line
	spans     map[string]map[string]span // source name -> object -> its records' numbers
	// deferred holds the spans of the sources Defer took out of the plan.
	deferred map[string]map[string]span

	mu   sync.Mutex // serialises use of conn
	conn *sql.Conn  // nil once closed
}

// span is the numbers of a run of records, first to last inclusive.
type span struct{ first, last int64 }

func (s span) records() int { return int(s.last - s.first + 1) }

// The plan's table and the statements that fill and read it. rec numbers
// records across all sources; a record's rows share it.
const (
	createPlan = `CREATE OR REPLACE TEMP TABLE temp.main.ferry_plan (
    rec BIGINT, object VARCHAR, key VARCHAR, alt VARCHAR, field VARCHAR, value VARCHAR, type VARCHAR, creates BOOLEAN)`
	dropPlan = `DROP TABLE IF EXISTS temp.main.ferry_plan`
	// insertPlan appends a source's rows ($1 is the last number used), in
	// order of rec so that each row group holds a narrow range of them.
	insertPlan = `INSERT INTO temp.main.ferry_plan
WITH src AS (%s),
recs AS (
    SELECT object, key, $1 + row_number() OVER (ORDER BY object, key) AS rec
    FROM (SELECT DISTINCT object, key FROM src)
)
SELECT recs.rec, src.object, src.key, src.alt, src.field, src.value, src.type, src.creates
FROM src JOIN recs ON src.object = recs.object AND src.key = recs.key
ORDER BY recs.rec`
	// summarisePlan counts rows per object and field of the source whose
	// records are numbered past $1, with the object's first and last numbers.
	summarisePlan = `SELECT object, field, count(*),
    min(min(rec)) OVER (PARTITION BY object), max(max(rec)) OVER (PARTITION BY object)
FROM temp.main.ferry_plan WHERE rec > $1
GROUP BY object, field ORDER BY object, field`
	// countCreates counts, per object of the source whose records are
	// numbered past $1, the records new to the target and those it holds.
	countCreates = `SELECT object, count(DISTINCT rec) FILTER (WHERE creates), count(DISTINCT rec) FILTER (WHERE NOT creates)
FROM temp.main.ferry_plan WHERE rec > $1 GROUP BY object`
	readPlan = `SELECT object, key, alt, field, value, type FROM temp.main.ferry_plan
WHERE rec BETWEEN $1 AND $2 ORDER BY rec, field`
	planFieldTypes = `SELECT field, min(type) FROM temp.main.ferry_plan WHERE rec BETWEEN $1 AND $2 GROUP BY 1 ORDER BY 1`
	planFields     = `SELECT field FROM temp.main.ferry_plan WHERE rec BETWEEN $1 AND $2
UNION SELECT alt FROM temp.main.ferry_plan WHERE rec BETWEEN $1 AND $2 AND alt IS NOT NULL
ORDER BY 1`
)

// ReadPlan copies the outbound views of the syncs, built by the transform
// stage, into the plan's table and summarises them, counting in SQL. The
// caller must Close the plan.
func ReadPlan(ctx context.Context, db *sql.DB, syncs ...Source) (*Plan, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	p := &Plan{ChunkSize: DefaultChunkSize, spans: map[string]map[string]span{}, conn: conn,
		sources: slices.Clone(syncs)}
	if err := p.read(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("read plan: %w", err)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM main.identity_ambiguous`).Scan(&p.Ambiguous); err != nil {
		p.Close()
		return nil, fmt.Errorf("read plan: %w", err)
	}
	return p, nil
}

// read fills the plan's table source by source and summarises each.
func (p *Plan) read(ctx context.Context) error {
	if _, err := p.conn.ExecContext(ctx, createPlan); err != nil {
		return err
	}
	var last int64 // the last record number used
	for _, src := range p.sources {
		// src.rows() is one of this package's queries, not input.
		if _, err := p.conn.ExecContext(ctx, fmt.Sprintf(insertPlan, src.rows()), last); err != nil {
			return fmt.Errorf("%s: %w", src.name(), err)
		}
		lines, spans, err := summarise(ctx, p.conn, src, last)
		if err != nil {
			return fmt.Errorf("%s: %w", src.name(), err)
		}
		p.lines = append(p.lines, lines...)
		p.spans[src.name()] = spans
		for _, s := range spans {
			last = max(last, s.last)
		}
	}
	return nil
}

// Close drops the plan's table and releases its connection. Chunks and
// Fields fail after it.
func (p *Plan) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		return nil
	}
	// Dropping is quick and must happen even when the run was cancelled:
	// the connection goes back to the pool with whatever it holds.
	_, err := p.conn.ExecContext(context.Background(), dropPlan)
	err = errors.Join(err, p.conn.Close())
	p.conn = nil
	if err != nil {
		return fmt.Errorf("close plan: %w", err)
	}
	return nil
}

// Line is one row of a plan summary.
type Line struct {
	Target, Object, Op string
	Sync               string `json:",omitempty"` // the sync
	Deferred           bool   `json:",omitempty"` // the daily API budget left it for a later run
	Records            int
	// Creates and Updates split Records where ferry knows (not for an
	// upsert whose target decides).
	Creates int `json:",omitempty"`
	Updates int `json:",omitempty"`
	Fields  map[string]int
}

// summarise counts the records and fields per object of src, whose records
// are numbered past after: a line per object.
func summarise(ctx context.Context, conn *sql.Conn, src Source, after int64) ([]Line, map[string]span, error) {
	rows, err := conn.QueryContext(ctx, summarisePlan, after)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var lines []Line
	spans := map[string]span{}
	for rows.Next() {
		var object, field string
		var n int
		var s span
		if err := rows.Scan(&object, &field, &n, &s.first, &s.last); err != nil {
			return nil, nil, err
		}
		if _, ok := spans[object]; !ok {
			spans[object] = s
			lines = append(lines, Line{Target: src.Target, Object: object, Op: src.Op, Sync: src.sync, Fields: map[string]int{}})
			lines[len(lines)-1].Records += s.records()
		}
		lines[len(lines)-1].Fields[field] += n
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	rows.Close()
	counts, err := conn.QueryContext(ctx, countCreates, after)
	if err != nil {
		return nil, nil, err
	}
	defer counts.Close()
	for counts.Next() {
		var object string
		var creates, updates int
		if err := counts.Scan(&object, &creates, &updates); err != nil {
			return nil, nil, err
		}
		for i := range lines {
			if lines[i].Object == object {
				lines[i].Creates += creates
				lines[i].Updates += updates
				break
			}
		}
	}
	return lines, spans, counts.Err()
}

// Stage copies the plan's records, each with its source, into
// ferry.sync_log_staged for run runID, whose commit gives each its outcome
// (ferry.sync_log). Read on the plan's connection: the plan's table is
// there.
func (p *Plan) Stage(ctx context.Context, runID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		return fmt.Errorf("stage the plan: closed")
	}
	for _, src := range p.sources {
		for deferred, spans := range map[bool]map[string]span{false: p.spans[src.name()], true: p.deferred[src.name()]} {
			for _, s := range spans {
				if _, err := p.conn.ExecContext(ctx, `INSERT INTO ferry.sync_log_staged
SELECT DISTINCT $1, $2, $3, object, key, $4, $7 FROM temp.main.ferry_plan WHERE rec BETWEEN $5 AND $6`,
					runID, src.name(), src.Target, src.Op, s.first, s.last, deferred); err != nil {
					return fmt.Errorf("stage the plan: %w", err)
				}
			}
		}
	}
	return nil
}

// Defer takes src's records out of the plan: they are neither counted nor
// read, and Stage logs them as deferred. Its summary lines stay, marked.
func (p *Plan) Defer(src Source) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.deferred == nil {
		p.deferred = map[string]map[string]span{}
	}
	p.deferred[src.name()] = p.spans[src.name()]
	delete(p.spans, src.name())
	for i := range p.lines {
		if l := &p.lines[i]; l.Target == src.Target && l.Op == src.Op && l.Sync == src.sync {
			l.Deferred = true
		}
	}
}

// Summary counts records and fields per target, object and operation.
func (p *Plan) Summary() []Line { return p.lines }

// Writes is the total number of records the plan writes.
func (p *Plan) Writes() int {
	n := 0
	for _, src := range p.sources {
		n += p.Count(src, "")
	}
	return n
}

// Count is the number of records of object in src ("" for all objects).
func (p *Plan) Count(src Source, object string) int {
	n := 0
	for obj, s := range p.spans[src.name()] {
		if object == "" || obj == object {
			n += s.records()
		}
	}
	return n
}

// Objects lists, sorted, the objects src has records of.
func (p *Plan) Objects(src Source) []string {
	out := make([]string, 0, len(p.spans[src.name()]))
	for obj := range p.spans[src.name()] {
		out = append(out, obj)
	}
	sort.Strings(out)
	return out
}

// span returns the numbers of src's records of object ("" for all
// objects): objects sort after one another, so they are one run.
func (p *Plan) span(src Source, object string) (span, bool) {
	spans := p.spans[src.name()]
	if object != "" {
		s, ok := spans[object]
		return s, ok
	}
	var all span
	for _, s := range spans {
		if all.first == 0 || s.first < all.first {
			all.first = s.first
		}
		all.last = max(all.last, s.last)
	}
	return all, len(spans) > 0
}

// query runs a read of the plan's table and hands its rows to read,
// holding the connection until read returns.
func (p *Plan) query(ctx context.Context, q string, read func(*sql.Rows) error, args ...any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		return errors.New("read plan: the plan is closed")
	}
	rows, err := p.conn.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read plan: %w", err)
	}
	defer rows.Close()
	if err := read(rows); err != nil {
		return fmt.Errorf("read plan: %w", err)
	}
	return nil
}

// Fields lists, sorted, the fields src sets on records of object, and the
// external-id fields it keys them on.
func (p *Plan) Fields(ctx context.Context, src Source, object string) ([]string, error) {
	s, ok := p.spans[src.name()][object]
	if !ok {
		return nil, nil
	}
	var out []string
	err := p.query(ctx, planFields, func(rows *sql.Rows) error {
		for rows.Next() {
			var f string
			if err := rows.Scan(&f); err != nil {
				return err
			}
			out = append(out, f)
		}
		return rows.Err()
	}, s.first, s.last)
	return out, err
}

// FieldType is a field a source writes and the type of its values.
type FieldType struct{ Field, Type string }

// FieldTypes lists, sorted, the fields src writes to any of its objects
// with the type of each (the least, should rows disagree). It reads the
// plan's table, not the source's query again: the load runs DuckDB with
// little memory (state.ShrinkMemory), and the query may need more.
func (p *Plan) FieldTypes(ctx context.Context, src Source) ([]FieldType, error) {
	s, ok := p.span(src, "")
	if !ok {
		return nil, nil
	}
	var out []FieldType
	err := p.query(ctx, planFieldTypes, func(rows *sql.Rows) error {
		for rows.Next() {
			var f FieldType
			if err := rows.Scan(&f.Field, &f.Type); err != nil {
				return err
			}
			out = append(out, f)
		}
		return rows.Err()
	}, s.first, s.last)
	return out, err
}

// Chunks yields src's records of object ("" for all objects) ordered by
// object and key, at most ChunkSize at a time. Each chunk is one query for
// a range of record numbers: it reads the row groups that hold them, and
// memory holds only its records.
func (p *Plan) Chunks(ctx context.Context, src Source, object string) iter.Seq2[[]Record, error] {
	return func(yield func([]Record, error) bool) {
		s, ok := p.span(src, object)
		if !ok {
			return
		}
		size := int64(max(p.ChunkSize, 1))
		for first := s.first; first <= s.last; first += size {
			var recs []Record
			err := p.query(ctx, readPlan, func(rows *sql.Rows) (err error) {
				recs, err = group(rows)
				return err
			}, first, min(first+size-1, s.last))
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(recs, nil) {
				return
			}
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
// object and key, into records, keeping the query's order.
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
	// Gone lists the records a write found no longer there: deleted,
	// archived or merged in the target. They are not rejects: the run
	// records them as deletes (ferry.deletions), and the next extraction
	// lands them as such, so nothing is written to them again.
	Gone []Gone
	// KeepIDs, when set, names the "target object"s whose IDs are kept
	// (the rest are not needed later), so that IDs grows with those
	// objects' writes rather than with the whole plan.
	KeepIDs map[string]bool
}

// ForgetIDs empties IDs: a loader that works chunk by chunk keeps one
// chunk's ids (the ledger has them all).
func (o *Outcome) ForgetIDs() {
	o.mu.Lock()
	clear(o.IDs)
	o.mu.Unlock()
}

// Gone is a record a write found gone: the target (system), its object
// as extracted, its id, and the record it was merged into, if any.
type Gone struct {
	Target, Object, ID, Into string
	At                       time.Time // when the write found it gone
}

// Went records that a write found target's record gone.
func (o *Outcome) Went(g Gone) {
	o.mu.Lock()
	o.Gone = append(o.Gone, g)
	o.mu.Unlock()
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

// Now is the ledger's clock.
func (l *Ledger) Now() time.Time { return l.now() }

// Pending durably records, in one append, that the non-idempotent writes
// of recs are about to be sent; a run that dies before learning their
// outcome leaves them pending, and the next run looks them up first.
func (l *Ledger) Pending(ctx context.Context, target string, recs []Record, op string) error {
	rows := make([][]driver.Value, len(recs))
	at := l.now().UTC()
	for i, r := range recs {
		rows[i] = []driver.Value{l.runID, target, r.Object, r.Key, op, r.Hash(target), "pending", nil, nil, at}
	}
	if err := appendRows(ctx, l.st.DB, "ledger", rows); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	return l.st.Journaled(ctx, "ledger", rows)
}

// PendingCreates lists keys whose create an earlier run sent without
// learning the answer, with when it was first sent.
func (l *Ledger) PendingCreates(ctx context.Context, target, object string) (map[string]time.Time, error) {
	rows, err := l.st.DB.QueryContext(ctx, l.st.Stmt("PendingCreates"), target, object)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var k string
		var at time.Time
		if err := rows.Scan(&k, &at); err != nil {
			return nil, err
		}
		out[k] = at
	}
	return out, rows.Err()
}

// DoneCreates lists which of keys a run (this one or any before) created
// in target, by the ledger: flushed rows only.
func (l *Ledger) DoneCreates(ctx context.Context, target, object string, keys []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := l.st.DB.QueryContext(ctx, l.st.Stmt("DoneCreates"), target, object, keys)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out[k] = true
	}
	return out, rows.Err()
}

// ResultIDs returns the ids the target gave this run's successful writes
// of keys (flushed ones), by key: a later write can refer to a record an
// earlier chunk created without the whole run's ids held in memory.
func (l *Ledger) ResultIDs(ctx context.Context, target, object string, keys []string) (map[string]string, error) {
	out := make(map[string]string, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := l.st.DB.QueryContext(ctx, l.st.Stmt("RunResultIDs"), l.runID, target, object, keys)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, id string
		if err := rows.Scan(&k, &id); err != nil {
			return nil, fmt.Errorf("ledger: %w", err)
		}
		out[k] = id
	}
	return out, rows.Err()
}

// RunResults calls fn with the key and id of each of this run's
// successful op writes of object (flushed ones), in no particular order.
func (l *Ledger) RunResults(ctx context.Context, target, object, op string, fn func(key, id string) error) error {
	rows, err := l.st.DB.QueryContext(ctx, l.st.Stmt("RunResults"), l.runID, target, object, op)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, id string
		if err := rows.Scan(&k, &id); err != nil {
			return fmt.Errorf("ledger: %w", err)
		}
		if err := fn(k, id); err != nil {
			return err
		}
	}
	return rows.Err()
}

// RunResultCount is how many successful op writes of object this run has
// flushed (RunResults' rows).
func (l *Ledger) RunResultCount(ctx context.Context, target, object, op string) (int, error) {
	var n int
	if err := l.st.DB.QueryRowContext(ctx, l.st.Stmt("RunResultCount"), l.runID, target, object, op).Scan(&n); err != nil {
		return 0, fmt.Errorf("ledger: %w", err)
	}
	return n, nil
}

// Record buffers the outcome of one write.
func (l *Ledger) Record(target string, r Record, op, status, resultID, errMsg string) {
	l.RecordHashed(target, r.Object, r.Key, r.Hash(target), op, status, resultID, errMsg)
}

// RecordHashed is Record for a record no longer held, by its object, key
// and payload hash (Record.Hash).
func (l *Ledger) RecordHashed(target, object, key, hash, op, status, resultID, errMsg string) {
	l.mu.Lock()
	l.rows = append(l.rows, []driver.Value{l.runID, target, object, key, op, hash, status, nullable(resultID), nullable(errMsg), l.now().UTC()})
	l.mu.Unlock()
}

// Buffered is the number of rows waiting for Flush.
func (l *Ledger) Buffered() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.rows)
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
	if err := appendRows(ctx, l.st.DB, "ledger", rows); err != nil {
		return err
	}
	return l.st.Journaled(ctx, "ledger", rows)
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
