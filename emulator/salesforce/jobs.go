package salesforce

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Ingest jobs outlive the emulator process as an org's jobs outlive a
// client: each change of a job's state is journaled like a record, and
// its upload and its result files are kept beside the journal
// (bulk/<id>.csv, bulk/<id>.results.json), written before the request or
// processing step that produced them is answered or journaled. A
// restarted emulator answers for every job as before; a job it was
// processing is processed again from its upload (the rows it had already
// written were journaled; an upsert or update writes them again to the
// same values). Query jobs are kept the same way: their state in the
// journal, their result rows in bulk/<id>.query.json, written before the
// job's creation is answered.

// jobRecord is an ingest job as the journal keeps it.
type jobRecord struct {
	ID, Operation, Object, ExtField, AssignmentRuleID string
	State, ErrorMessage, LineEnding, ColumnDelimiter  string
	APIVersion                                        float64
	Seq                                               int
	Created, Modstamp                                 time.Time
	Uploaded                                          bool
	Processed, Failed                                 int
	Query                                             bool // a query job (its rows in <id>.query.json)
}

func (s *Server) jobFile(id, suffix string) string {
	return filepath.Join(s.opt.Journal.Dir(), "bulk", id+suffix)
}

// persist journals j's state; the caller holds s.mu or owns j.
func (s *Server) persist(j *ingestJob) error {
	if s.opt.Journal == nil {
		return nil
	}
	return s.opt.Journal.Append(journalEntry{Job: &jobRecord{ID: j.ID, Operation: j.Operation, Object: j.Object, ExtField: j.ExtField,
		AssignmentRuleID: j.AssignmentRuleID, State: j.State, ErrorMessage: j.ErrorMessage, LineEnding: j.LineEnding,
		ColumnDelimiter: j.ColumnDelimiter, APIVersion: j.APIVersion, Seq: j.seq, Created: j.Created, Modstamp: j.Modstamp,
		Uploaded: j.uploaded, Processed: j.processed, Failed: j.nfailed}})
}

// keep writes a job's file atomically: the old one or the whole new one.
func (s *Server) keep(id, suffix string, data []byte) error {
	if s.opt.Journal == nil {
		return nil
	}
	p := s.jobFile(id, suffix)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// jobResults are a finished job's result files, as kept on disk.
type jobResults struct {
	Header      []string   `json:"header"`
	Success     [][]string `json:"success"`
	Failed      [][]string `json:"failed"`
	Unprocessed [][]string `json:"unprocessed"`
}

// keepResults writes a finished job's result files.
func (s *Server) keepResults(j *ingestJob) error {
	b, err := json.Marshal(jobResults{j.header, j.success, j.failed, j.unprocessed})
	if err != nil {
		return err
	}
	return s.keep(j.ID, ".results.json", b)
}

// loadResults reads back the result files of a job that ended before a
// restart; the caller holds s.mu. A job processed again after the restart
// has its results in memory.
func (s *Server) loadResults(j *ingestJob) {
	if !j.restored || j.header != nil || s.opt.Journal == nil || !(j.State == "JobComplete" || j.State == "Failed" || j.State == "Aborted") {
		return
	}
	b, err := os.ReadFile(s.jobFile(j.ID, ".results.json"))
	if err != nil {
		return // a job that failed before reading its upload has none
	}
	var r jobResults
	if json.Unmarshal(b, &r) == nil {
		j.header, j.success, j.failed, j.unprocessed = r.Header, r.Success, r.Failed, r.Unprocessed
	}
}

// queryRows are a query job's results, as kept on disk.
type queryRows struct {
	Header []string   `json:"header"`
	Rows   [][]string `json:"rows"`
}

// persistQuery journals q's state, and with keepRows its result rows
// first; the caller holds s.mu or owns q.
func (s *Server) persistQuery(q *queryJob, keepRows bool) error {
	if s.opt.Journal == nil {
		return nil
	}
	if keepRows {
		b, err := json.Marshal(queryRows{q.header, q.rows})
		if err != nil {
			return err
		}
		if err := s.keep(q.ID, ".query.json", b); err != nil {
			return err
		}
	}
	return s.opt.Journal.Append(journalEntry{Job: &jobRecord{ID: q.ID, Operation: q.Operation, Object: q.Object, State: q.State,
		LineEnding: q.lineEnding, ColumnDelimiter: q.colDelim, APIVersion: q.APIVersion, Seq: q.seq, Created: q.Created, Query: true}})
}

// restoreQuery takes over a query job the journal holds.
func (s *Server) restoreQuery(r *jobRecord) error {
	b, err := os.ReadFile(s.jobFile(r.ID, ".query.json"))
	if err != nil {
		return fmt.Errorf("bulk query job %s: its results: %w", r.ID, err)
	}
	var rows queryRows
	if err := json.Unmarshal(b, &rows); err != nil {
		return fmt.Errorf("bulk query job %s: its results: %w", r.ID, err)
	}
	eol := "\n"
	if r.LineEnding == "CRLF" {
		eol = "\r\n"
	}
	s.qjobs[r.ID] = &queryJob{ID: r.ID, CreatedBy: s.org.userID, Operation: r.Operation, Object: r.Object, State: r.State, APIVersion: r.APIVersion, Created: r.Created,
		header: rows.Header, rows: rows.Rows, delim: delimiters[r.ColumnDelimiter], eol: eol, colDelim: r.ColumnDelimiter, lineEnding: r.LineEnding, seq: r.Seq}
	return nil
}

// restoreJobs takes over the jobs the journal holds, and processes again
// the ones a restart interrupted.
func (s *Server) restoreJobs() error {
	for id, r := range s.org.jobs {
		s.jobSeq = max(s.jobSeq, r.Seq)
		if r.State == jobDeleted {
			continue
		}
		if r.Query {
			if err := s.restoreQuery(r); err != nil {
				return err
			}
			continue
		}
		j := &ingestJob{ID: r.ID, CreatedBy: s.org.userID, Operation: r.Operation, Object: r.Object, ExtField: r.ExtField, AssignmentRuleID: r.AssignmentRuleID,
			State: r.State, ErrorMessage: r.ErrorMessage, LineEnding: r.LineEnding, ColumnDelimiter: r.ColumnDelimiter,
			APIVersion: r.APIVersion, Created: r.Created, Modstamp: r.Modstamp, uploaded: r.Uploaded, processed: r.Processed,
			nfailed: r.Failed, seq: r.Seq, restored: true}
		if j.uploaded {
			data, err := os.ReadFile(s.jobFile(id, ".csv"))
			if err != nil {
				return fmt.Errorf("bulk job %s: its upload: %w", id, err)
			}
			j.data = data
		}
		s.ingest[id] = j
		if j.State == "UploadComplete" || j.State == "InProgress" {
			// Processed again from the start: results kept by a
			// processing the restart cut short are not its results.
			os.Remove(s.jobFile(id, ".results.json"))
			j.State, j.processed, j.nfailed, j.restored = "UploadComplete", 0, 0, false
			go s.runJob(j)
		}
	}
	s.org.jobs = nil
	return nil
}

// jobDeleted is the journaled state of a job a client deleted.
const jobDeleted = "Deleted"

// forget journals j's deletion and removes its files; the caller holds s.mu.
func (s *Server) forget(j *ingestJob) {
	if s.opt.Journal == nil {
		return
	}
	// The files go only once the deletion is journaled: a journal that
	// still holds the job must find its upload.
	if err := s.opt.Journal.Append(journalEntry{Job: &jobRecord{ID: j.ID, State: jobDeleted, Seq: j.seq}}); err != nil {
		return
	}
	os.Remove(s.jobFile(j.ID, ".csv"))
	os.Remove(s.jobFile(j.ID, ".results.json"))
}

// forgetQuery journals q's deletion and removes its rows; the caller
// holds s.mu.
func (s *Server) forgetQuery(q *queryJob) {
	if s.opt.Journal == nil {
		return
	}
	if err := s.opt.Journal.Append(journalEntry{Job: &jobRecord{ID: q.ID, State: jobDeleted, Seq: q.seq, Query: true}}); err != nil {
		return
	}
	os.Remove(s.jobFile(q.ID, ".query.json"))
}
