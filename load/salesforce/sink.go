// Package salesforce writes the load plan to Salesforce. Existing records
// are updated by Id; new records are upserted on an external-id field, so a
// retried or repeated write finds the record it created instead of making a
// second one. Small deltas (up to CollectionsMax rows per object) go through
// sObject Collections, which costs one call per 200 rows; larger ones through
// Bulk API 2.0 jobs (four calls plus polling each, two more when rows
// fail): as few as keep each job's CSV under BulkMaxBytes, since Salesforce
// caps one upload at 150 MB once base64-encoded, and a BulkWriter fills one
// job across the chunks a load reads its plan in. Per-row results are
// streamed back and every row is accounted for: rows that fail on a row
// lock are retried once, other failures become rejects.
package salesforce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	// SpoolDir holds the CSV of a Bulk job while it is filled ("" for the
	// system's temporary directory).
	SpoolDir string
	Ledger   *load.Ledger
	State    *state.Store
	RunID    string
	Now      func() time.Time
	Log      *slog.Logger
	// Hook, when set, is called at named points (tests crash there).
	Hook func(step string) error
}

const target = "salesforce"

// retryable row errors: worth one more attempt in the same run.
func transient(code string) bool {
	return code == "UNABLE_TO_LOCK_ROW" || code == "SERVER_UNAVAILABLE"
}

// Resume settles the Bulk jobs an interrupted run left behind, so that the
// next extract sees their effects: jobs never closed are aborted, jobs
// still running are waited for. A job Salesforce no longer has (it removes
// jobs a week after they end, and a user may delete one) is recorded as
// gone: whatever it wrote, the extract reads back, and rows that still
// differ are planned and written again, by upsert or update, so nothing
// is doubled.
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
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list open bulk jobs: %w", err)
	}
	for _, j := range jobs {
		info, err := s.Client.IngestJob(ctx, j.id)
		if salesforceapi.IsNotFound(err) {
			s.Log.Warn("a bulk job of an interrupted run no longer exists in Salesforce; the extract reads back what it wrote, and rows that still differ are written again",
				"job", j.id, "object", j.object, "operation", j.op)
			if err := s.setJob(ctx, j.id, jobGone); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("resume bulk job %s: %w", j.id, err)
		}
		if info.State == "Open" {
			s.Log.Warn("aborting bulk job an interrupted run never closed", "job", j.id, "object", j.object)
			if err := s.abortJob(ctx, j.id); err != nil {
				return err
			}
			continue
		}
		if !info.Terminal() {
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

// jobGone is the state ferry records for a job Salesforce answers 404 for.
const jobGone = "NotFound"

// closeJob moves a job to UploadComplete. A retry of a close whose answer
// was lost is refused with INVALIDJOBSTATE, since the first attempt moved
// the job on: the job is read back, and any state past Open counts as
// closed.
func (s *Sink) closeJob(ctx context.Context, id string) error {
	if err := s.moveJob(ctx, id, "UploadComplete", func(st string) bool { return st != "Open" && st != "Aborted" }); err != nil {
		return fmt.Errorf("close bulk job %s: %w", id, err)
	}
	return nil
}

// abortJob aborts a job a failed upload or an interrupted run left open.
// A job that ended meanwhile (or whose earlier abort's answer was lost)
// keeps the state it reached.
func (s *Sink) abortJob(ctx context.Context, id string) error {
	if err := s.moveJob(ctx, id, "Aborted", func(st string) bool { return st != "Open" }); err != nil {
		return fmt.Errorf("abort bulk job %s: %w", id, err)
	}
	return nil
}

// moveJob asks Salesforce to move job id to state and records the state
// the job is in. Refused with INVALIDJOBSTATE, it reads the job back and
// accepts any state moved reports true for.
func (s *Sink) moveJob(ctx context.Context, id, state string, moved func(string) bool) error {
	info, err := s.Client.SetJobState(ctx, id, state)
	if err != nil && salesforceapi.IsCode(err, "INVALIDJOBSTATE") {
		got, rerr := s.Client.IngestJob(ctx, id)
		if rerr != nil {
			return errors.Join(err, rerr)
		}
		if !moved(got.State) {
			return err
		}
		s.Log.Info("bulk job already moved on: an earlier request's answer was lost", "job", id, "wanted", state, "state", got.State)
		info, err = got, nil
	}
	if err != nil {
		return err
	}
	return s.setJob(ctx, id, info.State)
}

func (s *Sink) setJob(ctx context.Context, id, st string) error {
	var fin any
	if st == "JobComplete" || st == "Failed" || st == "Aborted" || st == jobGone {
		fin = s.Now().UTC()
	}
	if _, err := s.State.DB.ExecContext(ctx, s.State.Stmt("UpdateBulkJob"), id, st, fin); err != nil {
		return fmt.Errorf("record bulk job %s as %s: %w", id, st, err)
	}
	return nil
}

// Update writes changes to existing records of object by Id.
func (s *Sink) Update(ctx context.Context, object string, recs []load.Record, out *load.Outcome) error {
	return s.write(ctx, object, "update", "Id", recs, out, 2)
}

// Upsert creates or updates records of object keyed on extField.
func (s *Sink) Upsert(ctx context.Context, object, extField string, recs []load.Record, out *load.Outcome) error {
	return s.write(ctx, object, "upsert", extField, recs, out, 2)
}

// Delete deletes records of object by Id (r.Key). A record already
// deleted counts as done.
func (s *Sink) Delete(ctx context.Context, object string, recs []load.Record, out *load.Outcome) error {
	return s.write(ctx, object, "delete", "Id", recs, out, 2)
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
		w := s.Bulk(object, op, key, fieldsOf(recs), out)
		w.retries = attempts - 1
		if err := w.Add(ctx, recs); err != nil {
			w.Discard()
			return err
		}
		return w.Close(ctx)
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
		case op == "delete" && r.code == "ENTITY_IS_DELETED":
			s.Ledger.Record(target, rec, op, "done", rec.Key, "")
			out.Wrote(target, object, op, 1)
		case op == "update" && r.code == "ENTITY_IS_DELETED":
			s.Ledger.Record(target, rec, op, "gone", "", r.code+": "+r.msg)
			out.Went(load.Gone{Target: target, Object: object, ID: rec.Key, At: s.Ledger.Now()})
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
		switch op {
		case "delete":
			ids := make([]string, end-start)
			for i, r := range recs[start:end] {
				ids[i] = r.Key
			}
			res, err = s.Client.DeleteCollection(ctx, ids)
		case "update":
			res, err = s.Client.UpdateCollection(ctx, object, batch)
		default:
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
