// Package salesforce writes the load plan to Salesforce. Existing records
// are updated by Id; new records are upserted on an external-id field, so a
// retried or repeated write finds the record it created instead of making a
// second one. Small deltas (up to CollectionsMax rows per object) go through
// sObject Collections, which costs one call per 200 rows; larger ones through
// Bulk API 2.0 jobs (five calls plus polling each): as few as keep each
// job's CSV under BulkMaxBytes, since Salesforce caps one upload at 150 MB
// once base64-encoded. Per-row results are streamed back and every row is
// accounted for: rows that fail on a row lock are retried once, other
// failures become rejects.
package salesforce

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/internal/salesforceapi"
	"github.com/ferry-sync/ferry/internal/state"
	"github.com/ferry-sync/ferry/load"
)

// Sink writes to one org.
type Sink struct {
	Client         *salesforceapi.Client
	CollectionsMax int
	// BulkMaxBytes caps the CSV uploaded to one Bulk job; a record whose
	// row alone is larger is rejected.
	BulkMaxBytes int
	Poll         time.Duration
	Ledger       *load.Ledger
	State        *state.Store
	RunID        string
	Now          func() time.Time
	Log          *slog.Logger
	// Hook, when set, is called at named points (tests crash there).
	Hook func(step string) error
}

const target = "salesforce"

// retryable row errors: worth one more attempt in the same run.
func transient(code string) bool {
	return code == "UNABLE_TO_LOCK_ROW" || code == "SERVER_UNAVAILABLE"
}

// Resume waits for Bulk jobs an interrupted run left behind, so that the
// next extract sees their effects; jobs never closed are aborted.
func (s *Sink) Resume(ctx context.Context) error {
	rows, err := s.State.DB.QueryContext(ctx, s.State.Stmt("OpenBulkJobs"))
	if err != nil {
		return fmt.Errorf("list open bulk jobs: %w", err)
	}
	type job struct{ id, object, op, st string }
	var jobs []job
	for rows.Next() {
		var j job
		if err := rows.Scan(&j.id, &j.object, &j.op, &j.st); err != nil {
			rows.Close()
			return err
		}
		jobs = append(jobs, j)
	}
	rows.Close()
	for _, j := range jobs {
		info, err := s.Client.IngestJob(ctx, j.id)
		if err != nil {
			return fmt.Errorf("resume bulk job %s: %w", j.id, err)
		}
		if info.State == "Open" {
			s.Log.Warn("aborting bulk job an interrupted run never closed", "job", j.id, "object", j.object)
			if info, err = s.Client.SetJobState(ctx, j.id, "Aborted"); err != nil {
				return fmt.Errorf("abort bulk job %s: %w", j.id, err)
			}
		} else if !info.Terminal() {
			s.Log.Info("waiting for bulk job of an interrupted run", "job", j.id, "object", j.object, "state", info.State)
			if info, err = s.Client.WaitIngestJob(ctx, j.id, s.Poll, nil); err != nil {
				return fmt.Errorf("wait bulk job %s: %w", j.id, err)
			}
		}
		if err := s.setJob(ctx, j.id, info.State); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sink) setJob(ctx context.Context, id, st string) error {
	var fin any
	if st == "JobComplete" || st == "Failed" || st == "Aborted" {
		fin = s.Now().UTC()
	}
	_, err := s.State.DB.ExecContext(ctx, s.State.Stmt("UpdateBulkJob"), id, st, fin)
	return err
}

// Update writes changes to existing records of object by Id.
func (s *Sink) Update(ctx context.Context, object string, recs []load.Record, out *load.Outcome) error {
	return s.write(ctx, object, "update", "Id", recs, out, 2)
}

// Upsert creates or updates records of object keyed on extField.
func (s *Sink) Upsert(ctx context.Context, object, extField string, recs []load.Record, out *load.Outcome) error {
	return s.write(ctx, object, "upsert", extField, recs, out, 2)
}

type rowResult struct {
	id    string
	ok    bool
	code  string
	msg   string
	index int
}

func (s *Sink) write(ctx context.Context, object, op, key string, recs []load.Record, out *load.Outcome, attempts int) error {
	if len(recs) == 0 {
		return nil
	}
	var results []rowResult
	var err error
	if len(recs) <= s.CollectionsMax {
		results, err = s.collections(ctx, object, op, key, recs)
	} else {
		// Results of the jobs that finished are settled even when a
		// later one failed.
		results, err = s.bulk(ctx, object, op, key, recs)
	}
	var retry []load.Record
	for _, r := range results {
		rec := recs[r.index]
		switch {
		case r.ok:
			s.Ledger.Record(target, rec, op, "done", r.id, "")
			out.Wrote(target, object, op, 1)
			out.Identified(target, object, rec.Key, r.id)
		case transient(r.code) && attempts > 1:
			retry = append(retry, rec)
		default:
			msg := r.code + ": " + r.msg
			s.Ledger.Record(target, rec, op, "rejected", r.id, msg)
			out.Reject(load.Reject{Target: target, Object: object, Key: rec.Key, Op: op, Error: msg, Payload: rec.Payload()})
		}
	}
	if err != nil {
		return err
	}
	if len(retry) > 0 {
		s.Log.Warn("retrying rows that failed transiently", "object", object, "rows", len(retry))
		return s.write(ctx, object, op, key, retry, out, attempts-1)
	}
	return nil
}

func (s *Sink) collections(ctx context.Context, object, op, key string, recs []load.Record) ([]rowResult, error) {
	var out []rowResult
	for start := 0; start < len(recs); start += 200 {
		end := min(start+200, len(recs))
		batch := make([]map[string]any, 0, end-start)
		for _, r := range recs[start:end] {
			m := r.Payload()
			m[key] = r.Key
			batch = append(batch, m)
		}
		var res []salesforceapi.SaveResult
		var err error
		if op == "update" {
			res, err = s.Client.UpdateCollection(ctx, object, batch)
		} else {
			res, err = s.Client.UpsertCollection(ctx, object, key, batch)
		}
		if err != nil {
			return nil, fmt.Errorf("salesforce %s %s: %w", op, object, err)
		}
		if len(res) != len(batch) {
			return nil, fmt.Errorf("salesforce %s %s: %d results for %d records", op, object, len(res), len(batch))
		}
		for i, r := range res {
			rr := rowResult{id: r.ID, ok: r.Success, index: start + i}
			if !r.Success && len(r.Errors) > 0 {
				rr.code, rr.msg = r.Errors[0].StatusCode, r.Errors[0].Message
			}
			out = append(out, rr)
		}
	}
	return out, nil
}

// bulk writes recs through as many Bulk API 2.0 ingest jobs as keep each
// upload under BulkMaxBytes, filling each job before opening the next, and
// maps their result files back to the input rows by the key column.
func (s *Sink) bulk(ctx context.Context, object, op, key string, recs []load.Record) ([]rowResult, error) {
	fieldSet := map[string]bool{}
	for _, r := range recs {
		for _, c := range r.Fields {
			fieldSet[c.Field] = true
		}
	}
	delete(fieldSet, key)
	fields := make([]string, 0, len(fieldSet))
	for f := range fieldSet {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	header := append([]string{key}, fields...)
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	empty := ""
	row := make([]*string, len(header))
	limit := s.BulkMaxBytes
	if limit <= 0 {
		limit = 100 << 20 // Salesforce's advice, as load.salesforce.bulk_max_bytes defaults
	}
	csv := salesforceapi.NewCSVBuilder(header, limit)
	var out []rowResult
	var batch []int // indexes in recs of the rows in csv
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		res, err := s.bulkJob(ctx, object, op, key, recs, batch, csv.Bytes())
		out = append(out, res...)
		csv.Reset()
		batch = batch[:0]
		return err
	}
	for i, r := range recs {
		for j := range row {
			row[j] = &empty // empty leaves the field unchanged
		}
		k := r.Key
		row[0] = &k
		for _, c := range r.Fields {
			if c.Field != key {
				row[col[c.Field]] = c.Value // nil becomes #N/A: set null
			}
		}
		line := salesforceapi.EncodeCSVRow(row)
		if !csv.Add(line) {
			if err := flush(); err != nil {
				return out, err
			}
			if !csv.Add(line) {
				out = append(out, rowResult{index: i, code: "ROW_TOO_LARGE",
					msg: fmt.Sprintf("the record's CSV row is %d bytes, more than one Bulk job may upload (load.salesforce.bulk_max_bytes %d)", len(line), limit)})
				continue
			}
		}
		batch = append(batch, i)
	}
	return out, flush()
}

// bulkJob runs one ingest job over data, the CSV of recs[batch...], and
// streams its three result files back, so that memory holds one result row
// at a time. Every uploaded row must come back in exactly one of them.
func (s *Sink) bulkJob(ctx context.Context, object, op, key string, recs []load.Record, batch []int, data []byte) ([]rowResult, error) {
	extField := ""
	if op == "upsert" {
		extField = key
	}
	job, err := s.Client.CreateIngestJob(ctx, object, op, extField)
	if err != nil {
		return nil, err
	}
	if _, err := s.State.DB.ExecContext(ctx, s.State.Stmt("InsertBulkJob"), job.ID, s.RunID, object, op, job.State, s.Now().UTC()); err != nil {
		return nil, fmt.Errorf("record bulk job: %w", err)
	}
	if err := s.Client.UploadJobData(ctx, job.ID, data); err != nil {
		s.Client.SetJobState(ctx, job.ID, "Aborted")
		s.setJob(ctx, job.ID, "Aborted")
		return nil, err
	}
	if _, err := s.Client.SetJobState(ctx, job.ID, "UploadComplete"); err != nil {
		return nil, fmt.Errorf("close bulk job %s: %w", job.ID, err)
	}
	s.setJob(ctx, job.ID, "UploadComplete")
	if s.Hook != nil {
		if err := s.Hook("bulk-job-closed"); err != nil {
			return nil, err
		}
	}
	start := s.Now()
	last := start
	info, err := s.Client.WaitIngestJob(ctx, job.ID, s.Poll, func(j salesforceapi.JobInfo) {
		if t := s.Now(); t.Sub(last) >= 5*time.Second {
			last = t
			s.Log.Info("bulk job progress", "job", j.ID, "object", object, "state", j.State, "processed", j.NumberRecordsProcessed, "of", len(batch))
		}
	})
	if err != nil {
		return nil, err
	}
	s.setJob(ctx, job.ID, info.State)
	s.Log.Info("bulk job finished", "job", info.ID, "object", object, "operation", op, "state", info.State, "rows", len(batch), "bytes", len(data),
		"processed", info.NumberRecordsProcessed, "failed", info.NumberRecordsFailed, "elapsed", s.Now().Sub(start).Round(time.Millisecond))
	if info.State == "Failed" && info.NumberRecordsProcessed == 0 {
		return nil, fmt.Errorf("salesforce bulk %s %s job %s failed: %s", op, object, info.ID, info.ErrorMessage)
	}
	index := make(map[string]int, len(batch))
	for _, i := range batch {
		index[strings.ToLower(recs[i].Key)] = i
	}
	var out []rowResult
	seen := make(map[int]bool, len(batch))
	read := 0
	for _, k := range []struct {
		kind string
		ok   bool
	}{{"successfulResults", true}, {"failedResults", false}, {"unprocessedrecords", false}} {
		keyCol, errCol, idCol := -1, -1, -1
		n, err := s.Client.JobResults(ctx, job.ID, k.kind, func(hdr, row []string) error {
			if keyCol < 0 {
				for i, h := range hdr {
					switch h {
					case key:
						keyCol = i
					case "sf__Error":
						errCol = i
					case "sf__Id":
						idCol = i
					}
				}
				if keyCol < 0 {
					return fmt.Errorf("salesforce %s of job %s lack the %s column", k.kind, job.ID, key)
				}
			}
			if keyCol >= len(row) {
				return fmt.Errorf("salesforce %s of job %s: a row has %d columns", k.kind, job.ID, len(row))
			}
			i, found := index[strings.ToLower(row[keyCol])]
			if !found || seen[i] {
				return nil // counted, but not ours or already answered
			}
			seen[i] = true
			rr := rowResult{ok: k.ok, index: i}
			if idCol >= 0 && idCol < len(row) {
				rr.id = row[idCol]
			}
			if errCol >= 0 && errCol < len(row) {
				rr.code, rr.msg, _ = strings.Cut(row[errCol], ":")
				rr.msg = strings.TrimSuffix(strings.TrimSpace(rr.msg), "--")
			}
			if k.kind == "unprocessedrecords" {
				rr.code, rr.msg = "UNPROCESSED", "the job ended before this row was processed"
			}
			out = append(out, rr)
			return nil
		})
		if err != nil {
			return out, err
		}
		read += n
	}
	if read != len(batch) {
		return out, fmt.Errorf("salesforce bulk %s %s job %s: result files hold %d rows for %d uploaded", op, object, job.ID, read, len(batch))
	}
	for _, i := range batch {
		if !seen[i] {
			out = append(out, rowResult{index: i, code: "NO_RESULT", msg: "job " + job.ID + " reported no result for this row"})
		}
	}
	return out, nil
}
