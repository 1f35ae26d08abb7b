package salesforce

import (
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/internal/salesforceapi"
	"github.com/ferry-sync/ferry/load"
)

// BulkWriter writes one object's records of one operation through Bulk API
// 2.0 ingest jobs that span its calls to Add: rows are encoded into a spool
// file, and a job is run only when the next row would take the spool past
// BulkMaxBytes, or at Close. A load that reads its plan a chunk at a time
// therefore costs one job per object and operation (per 100 MB of CSV),
// not one per chunk, while memory holds, per spooled row, its key, payload
// hash and place in the spool; the fields are read back from the spool for
// the rare row that is rejected or retried.
type BulkWriter struct {
	s                *Sink
	object, op, key  string
	header           []string
	col              map[string]int
	limit            int64
	out              *load.Outcome
	retries          int // further attempts for rows that fail transiently
	spool            *os.File
	size             int64 // bytes in the spool, header included
	rows             []spooled
	scratch          []*string
	jobs, jobRecords int
	started          time.Time // the first job's creation, by Salesforce's clock
}

// spooled is one row in the spool.
type spooled struct {
	key, hash string
	off       int64
	n         int32
}

// ledgerFlushEvery is how many settled rows the ledger buffers before they
// are appended, so that a job of hundreds of thousands of rows does not
// hold their ledger rows in memory.
const ledgerFlushEvery = 50_000

// Bulk returns a writer of object's op records keyed on key, whose CSV
// columns are key and fields (the union of what the records set). The
// caller must Close it, which runs the last job.
func (s *Sink) Bulk(object, op, key string, fields []string, out *load.Outcome) *BulkWriter {
	header := []string{key}
	for _, f := range fields {
		if f != key {
			header = append(header, f)
		}
	}
	col := make(map[string]int, len(header))
	for i, h := range header {
		col[h] = i
	}
	limit := int64(s.BulkMaxBytes)
	if limit <= 0 {
		limit = 100 << 20 // Salesforce's advice, as load.salesforce.bulk_max_bytes defaults
	}
	return &BulkWriter{s: s, object: object, op: op, key: key, header: header, col: col, limit: limit, out: out,
		retries: 1, scratch: make([]*string, len(header))}
}

// fieldsOf lists, sorted, the fields recs set.
func fieldsOf(recs []load.Record) []string {
	set := map[string]bool{}
	for _, r := range recs {
		for _, c := range r.Fields {
			set[c.Field] = true
		}
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// Add spools recs, running a job whenever the spool is full. A record
// whose row alone is larger than a job may upload is rejected.
func (w *BulkWriter) Add(ctx context.Context, recs []load.Record) error {
	if w.spool == nil {
		f, err := os.CreateTemp(w.s.SpoolDir, "bulk-*.csv")
		if err != nil {
			return fmt.Errorf("salesforce bulk %s %s: spool: %w", w.op, w.object, err)
		}
		w.spool = f
		if err := w.reset(); err != nil {
			return err
		}
	}
	empty := ""
	for _, r := range recs {
		for j := range w.scratch {
			w.scratch[j] = &empty // empty leaves the field unchanged
		}
		k := r.Key
		w.scratch[0] = &k
		for _, c := range r.Fields {
			if c.Field == w.key {
				continue
			}
			j, ok := w.col[c.Field]
			if !ok {
				return fmt.Errorf("salesforce bulk %s %s: record %s sets %s, which is not one of the job's columns", w.op, w.object, r.Key, c.Field)
			}
			w.scratch[j] = c.Value // nil becomes #N/A: set null
		}
		line := salesforceapi.EncodeCSVRow(w.scratch)
		if w.size+int64(len(line)) > w.limit && len(w.rows) > 0 {
			if err := w.flush(ctx); err != nil {
				return err
			}
		}
		if w.size+int64(len(line)) > w.limit {
			msg := fmt.Sprintf("ROW_TOO_LARGE: the record's CSV row is %d bytes, more than one Bulk job may upload (load.salesforce.bulk_max_bytes %d)", len(line), w.limit)
			w.s.Ledger.Record(target, r, w.op, "rejected", "", msg)
			w.out.Reject(load.Reject{Target: target, Object: w.object, Key: r.Key, Op: w.op, Error: msg, Payload: r.Payload()})
			continue
		}
		if _, err := w.spool.Write(line); err != nil {
			return fmt.Errorf("salesforce bulk %s %s: spool: %w", w.op, w.object, err)
		}
		w.rows = append(w.rows, spooled{key: r.Key, hash: r.Hash(target), off: w.size, n: int32(len(line))})
		w.size += int64(len(line))
	}
	return nil
}

// reset empties the spool down to the CSV header.
func (w *BulkWriter) reset() error {
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	cw.Write(w.header)
	cw.Flush()
	err := w.spool.Truncate(0)
	if err == nil {
		_, err = w.spool.Seek(0, 0)
	}
	if err == nil {
		_, err = w.spool.Write(b.Bytes())
	}
	if err != nil {
		return fmt.Errorf("salesforce bulk %s %s: spool: %w", w.op, w.object, err)
	}
	w.size = int64(b.Len())
	w.rows = w.rows[:0]
	return nil
}

// Close runs the job for what is still spooled and removes the spool.
func (w *BulkWriter) Close(ctx context.Context) error {
	if w.spool == nil {
		return nil
	}
	err := w.flush(ctx)
	name := w.spool.Name()
	err = errors.Join(err, w.spool.Close(), os.Remove(name))
	w.spool = nil
	return err
}

// Discard removes the spool without running a job for what it holds: the
// load stopped (an error, a cancelled run), and nothing more is sent.
func (w *BulkWriter) Discard() {
	if w.spool == nil {
		return
	}
	name := w.spool.Name()
	w.spool.Close()
	os.Remove(name)
	w.spool = nil
}

// flush runs one ingest job over the spool and settles every row from its
// result files: done, rejected, or (failed transiently) written again.
func (w *BulkWriter) flush(ctx context.Context) error {
	if len(w.rows) == 0 {
		return nil
	}
	s := w.s
	extField := ""
	if w.op == "upsert" {
		extField = w.key
	}
	job, err := s.Client.CreateIngestJob(ctx, w.object, w.op, extField)
	if err != nil {
		return err
	}
	if t, err := salesforceapi.ParseTime(job.CreatedDate); err == nil && w.started.IsZero() {
		w.started = t
	}
	created := s.Now().UTC()
	if _, err := s.State.DB.ExecContext(ctx, s.State.Stmt("InsertBulkJob"), job.ID, s.RunID, w.object, w.op, job.State, created); err != nil {
		return fmt.Errorf("record bulk job: %w", err)
	}
	if err := s.State.Journaled(ctx, "bulk_jobs", [][]driver.Value{{job.ID, s.RunID, w.object, w.op, job.State, created, nil}}); err != nil {
		return err
	}
	// A retried upload refused because the job already holds one means
	// the first attempt arrived and only its answer was lost.
	if err := s.Client.UploadJobFile(ctx, job.ID, w.spool, w.size); err != nil && !salesforceapi.UploadedBefore(err) {
		return errors.Join(err, s.abortJob(context.WithoutCancel(ctx), job.ID))
	}
	if err := s.closeJob(ctx, job.ID); err != nil {
		return err
	}
	if s.Hook != nil {
		if err := s.Hook("bulk-job-closed"); err != nil {
			return err
		}
	}
	start := s.Now()
	last := start
	// A job just closed is not done yet: the first poll waits one
	// interval, where an immediate one was a request spent on every job.
	t := time.NewTimer(s.Poll)
	select {
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	case <-t.C:
	}
	// WaitIngestJob polls at once and doubles its wait: starting from
	// twice the interval continues the backoff this first wait began.
	info, err := s.Client.WaitIngestJob(ctx, job.ID, s.Poll*2, func(j salesforceapi.JobInfo) {
		if t := s.Now(); t.Sub(last) >= 5*time.Second {
			last = t
			s.Log.Info("bulk job progress", "job", j.ID, "object", w.object, "state", j.State, "processed", j.NumberRecordsProcessed, "of", len(w.rows))
		}
	})
	if err != nil {
		return err
	}
	if err := s.setJob(ctx, job.ID, info.State); err != nil {
		return err
	}
	w.jobs++
	w.jobRecords += len(w.rows)
	s.Log.Info("bulk job finished", "job", info.ID, "object", w.object, "operation", w.op, "state", info.State, "rows", len(w.rows), "bytes", w.size,
		"processed", info.NumberRecordsProcessed, "failed", info.NumberRecordsFailed, "elapsed", s.Now().Sub(start).Round(time.Millisecond))
	if info.State == "Failed" && info.NumberRecordsProcessed == 0 {
		return fmt.Errorf("salesforce bulk %s %s job %s failed: %s", w.op, w.object, info.ID, info.ErrorMessage)
	}
	retry, err := w.settle(ctx, job.ID)
	if err == nil && len(retry) > 0 {
		err = w.retry(ctx, retry)
	}
	if err != nil {
		return err
	}
	return w.reset()
}

// settle streams the job's result files and records each spooled row's
// outcome, returning the rows to try again. Every uploaded row must come
// back in exactly one file; the files after the first are read only while
// rows are unaccounted for (a job whose rows all succeeded costs one).
func (w *BulkWriter) settle(ctx context.Context, jobID string) (retry []int, err error) {
	s := w.s
	index := make(map[string]int32, len(w.rows))
	for i, r := range w.rows {
		index[strings.ToLower(r.key)] = int32(i)
	}
	seen := make([]bool, len(w.rows))
	answered, read := 0, 0
	for _, k := range []struct {
		kind string
		ok   bool
	}{{"successfulResults", true}, {"failedResults", false}, {"unprocessedrecords", false}} {
		if answered == len(w.rows) {
			break
		}
		keyCol, errCol, idCol := -1, -1, -1
		n, err := s.Client.JobResults(ctx, jobID, k.kind, func(hdr, row []string) error {
			if keyCol < 0 {
				for i, h := range hdr {
					switch h {
					case w.key:
						keyCol = i
					case "sf__Error":
						errCol = i
					case "sf__Id":
						idCol = i
					}
				}
				if keyCol < 0 {
					return fmt.Errorf("salesforce %s of job %s lack the %s column", k.kind, jobID, w.key)
				}
			}
			if keyCol >= len(row) {
				return fmt.Errorf("salesforce %s of job %s: a row has %d columns", k.kind, jobID, len(row))
			}
			i, found := index[strings.ToLower(row[keyCol])]
			if !found || seen[i] {
				return nil // counted, but not ours or already answered
			}
			seen[i] = true
			answered++
			var id, code, msg string
			if idCol >= 0 && idCol < len(row) {
				id = row[idCol]
			}
			if errCol >= 0 && errCol < len(row) {
				code, msg, _ = strings.Cut(row[errCol], ":")
				msg = strings.TrimSuffix(strings.TrimSpace(msg), "--")
			}
			if k.kind == "unprocessedrecords" {
				code, msg = "UNPROCESSED", "the job ended before this row was processed"
			}
			r := w.rows[i]
			switch {
			case k.ok:
				s.Ledger.RecordHashed(target, w.object, r.key, r.hash, w.op, "done", id, "")
				w.out.Wrote(target, w.object, w.op, 1)
				w.out.Identified(target, w.object, r.key, id)
			case transient(code) && w.retries > 0:
				retry = append(retry, int(i))
			case w.op == "delete" && code == "ENTITY_IS_DELETED":
				s.Ledger.RecordHashed(target, w.object, r.key, r.hash, w.op, "done", r.key, "")
				w.out.Wrote(target, w.object, w.op, 1)
			case w.op == "update" && code == "ENTITY_IS_DELETED":
				s.Ledger.RecordHashed(target, w.object, r.key, r.hash, w.op, "gone", "", code+": "+msg)
				w.out.Went(load.Gone{Target: target, Object: w.object, ID: r.key, At: s.Ledger.Now()})
			default:
				if err := w.reject(int(i), id, code+": "+msg); err != nil {
					return err
				}
			}
			if s.Ledger.Buffered() >= ledgerFlushEvery {
				return s.Ledger.Flush(ctx)
			}
			return nil
		})
		read += n
		if err != nil {
			return retry, err
		}
	}
	if read != len(w.rows) {
		return retry, fmt.Errorf("salesforce bulk %s %s job %s: result files hold %d rows for %d uploaded", w.op, w.object, jobID, read, len(w.rows))
	}
	for i := range w.rows {
		if !seen[i] {
			if err := w.reject(i, "", "NO_RESULT: job "+jobID+" reported no result for this row"); err != nil {
				return retry, err
			}
		}
	}
	return retry, nil
}

// reject records spooled row i as refused, with its payload read back.
func (w *BulkWriter) reject(i int, id, msg string) error {
	rec, err := w.record(i)
	if err != nil {
		return err
	}
	w.s.Ledger.RecordHashed(target, w.object, w.rows[i].key, w.rows[i].hash, w.op, "rejected", id, msg)
	w.out.Reject(load.Reject{Target: target, Object: w.object, Key: rec.Key, Op: w.op, Error: msg, Payload: rec.Payload()})
	return nil
}

// record reads spooled row i back as a record: an empty cell left the
// field unchanged, so it is not a field of the record.
func (w *BulkWriter) record(i int) (load.Record, error) {
	r := w.rows[i]
	buf := make([]byte, r.n)
	if _, err := w.spool.ReadAt(buf, r.off); err != nil {
		return load.Record{}, fmt.Errorf("salesforce bulk %s %s: read spool: %w", w.op, w.object, err)
	}
	cells, err := csv.NewReader(bytes.NewReader(buf)).Read()
	if err != nil || len(cells) != len(w.header) {
		return load.Record{}, fmt.Errorf("salesforce bulk %s %s: spooled row of %s does not parse (%v)", w.op, w.object, r.key, err)
	}
	rec := load.Record{Object: w.object, Key: r.key}
	for j := 1; j < len(cells); j++ {
		switch v := cells[j]; v {
		case "":
		case salesforceapi.NullValue:
			rec.Fields = append(rec.Fields, load.Change{Field: w.header[j]})
		default:
			rec.Fields = append(rec.Fields, load.Change{Field: w.header[j], Value: &v})
		}
	}
	return rec, nil
}

// retry writes the rows that failed transiently once more, through
// Collections or a job of their own, with one attempt fewer.
func (w *BulkWriter) retry(ctx context.Context, rows []int) error {
	recs := make([]load.Record, 0, len(rows))
	for _, i := range rows {
		rec, err := w.record(i)
		if err != nil {
			return err
		}
		recs = append(recs, rec)
	}
	w.s.Log.Warn("retrying rows that failed transiently", "object", w.object, "rows", len(recs))
	return w.s.write(ctx, w.object, w.op, w.key, recs, w.out, w.retries)
}

// Started is when Salesforce created the writer's first job, by its own
// clock (zero before a job, or when Salesforce did not say): every record
// the writer's jobs changed has a SystemModstamp at or after it.
func (w *BulkWriter) Started() time.Time { return w.started }

// Jobs is how many jobs the writer ran and how many records they held.
func (w *BulkWriter) Jobs() (jobs, records int) { return w.jobs, w.jobRecords }
