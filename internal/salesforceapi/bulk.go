package salesforceapi

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// JobInfo is a Bulk API 2.0 job description.
type JobInfo struct {
	ID                     string  `json:"id"`
	Object                 string  `json:"object"`
	Operation              string  `json:"operation"`
	State                  string  `json:"state"`
	ExternalIDFieldName    string  `json:"externalIdFieldName"`
	ErrorMessage           string  `json:"errorMessage"`
	CreatedDate            string  `json:"createdDate"` // Salesforce's clock
	NumberRecordsProcessed int     `json:"numberRecordsProcessed"`
	NumberRecordsFailed    int     `json:"numberRecordsFailed"`
	APIVersion             float64 `json:"apiVersion"`
}

// Terminal reports whether the job has finished one way or another.
func (j JobInfo) Terminal() bool {
	return j.State == "JobComplete" || j.State == "Failed" || j.State == "Aborted"
}

// NullValue is what a Bulk CSV cell holds to set a field to null; an empty
// cell leaves the field unchanged.
const NullValue = "#N/A"

// EncodeCSV renders rows for an ingest job: nil cells become #N/A (set null),
// empty strings stay empty (unchanged). Fields are quoted when needed.
func EncodeCSV(header []string, rows [][]*string) []byte {
	b := NewCSVBuilder(header, math.MaxInt)
	for _, row := range rows {
		b.Add(EncodeCSVRow(row))
	}
	return b.Bytes()
}

// EncodeCSVRow renders one ingest row as a CSV line (with its LF).
func EncodeCSVRow(row []*string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	rec := make([]string, len(row))
	for i, v := range row {
		if v == nil {
			rec[i] = NullValue
		} else {
			rec[i] = *v
		}
	}
	w.Write(rec) // a bytes.Buffer cannot fail
	w.Flush()
	return b.Bytes()
}

// CSVBuilder accumulates the CSV body of one ingest job, header first,
// without ever growing past a byte limit: Salesforce refuses an upload of
// more than 150 MB once base64-encoded, about 100 MB of raw CSV.
type CSVBuilder struct {
	header []byte
	max    int
	buf    bytes.Buffer
	rows   int
}

// NewCSVBuilder starts a body with header and a limit of max bytes.
func NewCSVBuilder(header []string, max int) *CSVBuilder {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(header)
	w.Flush()
	c := &CSVBuilder{header: b.Bytes(), max: max}
	c.Reset()
	return c
}

// Add appends an encoded row (see EncodeCSVRow) and reports true, or
// reports false and leaves the body unchanged when the row would take it
// past the limit. A row that does not fit an empty body never will.
func (c *CSVBuilder) Add(line []byte) bool {
	if c.buf.Len()+len(line) > c.max {
		return false
	}
	c.buf.Write(line)
	c.rows++
	return true
}

// Rows is the number of rows added since the last Reset.
func (c *CSVBuilder) Rows() int { return c.rows }

// Bytes is the body: the header and the rows added.
func (c *CSVBuilder) Bytes() []byte { return c.buf.Bytes() }

// Reset empties the body down to its header; Bytes' earlier result must not
// be used after it.
func (c *CSVBuilder) Reset() {
	c.buf.Reset()
	c.buf.Write(c.header)
	c.rows = 0
}

// CreateIngestJob opens a job. A retry after a lost answer can leave an
// empty Open job behind; Salesforce discards such jobs, and nothing is
// written through them, so the request is retried like a read. A job
// runs an assignment rule only when its body names one: Rules.Assign's
// rule Id for object, or the object's active rule for "TRUE".
func (c *Client) CreateIngestJob(ctx context.Context, object, operation, extField string) (JobInfo, error) {
	body := map[string]any{"object": object, "operation": operation, "contentType": "CSV", "lineEnding": "LF", "columnDelimiter": "COMMA"}
	if extField != "" {
		body["externalIdFieldName"] = extField
	}
	if rule, err := c.assignmentRuleID(ctx, object); err != nil {
		return JobInfo{}, err
	} else if rule != "" {
		body["assignmentRuleId"] = rule
	}
	var j JobInfo
	_, err := c.doJSON(ctx, http.MethodPost, "jobs/ingest", nil, body, &j, false)
	if err != nil {
		return j, fmt.Errorf("create %s %s job: %w", operation, object, err)
	}
	return j, nil
}

// UploadJobData PUTs the job's single CSV upload (Salesforce answers 201).
func (c *Client) UploadJobData(ctx context.Context, jobID string, data []byte) error {
	return c.UploadJobFile(ctx, jobID, bytes.NewReader(data), int64(len(data)))
}

// UploadJobFile is UploadJobData with the CSV read from the first size
// bytes of f (a spool file), so that memory never holds the upload.
func (c *Client) UploadJobFile(ctx context.Context, jobID string, f io.ReaderAt, size int64) error {
	resp, err := c.send(ctx, request{method: http.MethodPut, path: "jobs/ingest/" + jobID + "/batches", bodyAt: f, bodyLen: size, ctype: "text/csv"})
	if err != nil {
		return fmt.Errorf("upload job %s: %w", jobID, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("upload job %s: unexpected HTTP %d (want 201)", jobID, resp.StatusCode)
	}
	return nil
}

// IsCode reports whether err is Salesforce's answer with this errorCode.
func IsCode(err error, code string) bool {
	var e *APIError
	return errors.As(err, &e) && e.Code == code
}

// IsNotFound reports whether err is a 404: the resource (a job Salesforce
// removed a week after it ended, or one a user deleted) is gone.
func IsNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// UploadedBefore reports whether err refuses an upload because the job
// already holds one: an earlier attempt whose answer was lost arrived.
func UploadedBefore(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Code == "BULK_API_ERROR" && strings.Contains(e.Message, "multiple contents")
}

// SetJobState moves a job to UploadComplete or Aborted.
func (c *Client) SetJobState(ctx context.Context, jobID, state string) (JobInfo, error) {
	var j JobInfo
	_, err := c.doJSON(ctx, http.MethodPatch, "jobs/ingest/"+jobID, nil, map[string]string{"state": state}, &j, false)
	return j, err
}

// IngestJob fetches a job's state.
func (c *Client) IngestJob(ctx context.Context, jobID string) (JobInfo, error) {
	var j JobInfo
	_, err := c.doJSON(ctx, http.MethodGet, "jobs/ingest/"+jobID, nil, nil, &j, false)
	return j, err
}

// WaitIngestJob polls until the job is terminal, backing off from poll up to
// 5 s. progress, when non-nil, is called after each poll.
func (c *Client) WaitIngestJob(ctx context.Context, jobID string, poll time.Duration, progress func(JobInfo)) (JobInfo, error) {
	return waitJob(ctx, poll, func() (JobInfo, error) {
		j, err := c.IngestJob(ctx, jobID)
		if err == nil && progress != nil {
			progress(j)
		}
		return j, err
	})
}

// waitJob calls get until the job is terminal, waiting poll between calls
// and doubling the wait up to 5 s.
func waitJob(ctx context.Context, poll time.Duration, get func() (JobInfo, error)) (JobInfo, error) {
	for {
		j, err := get()
		if err != nil || j.Terminal() {
			return j, err
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return j, ctx.Err()
		case <-t.C:
		}
		poll = min(poll*2, 5*time.Second)
	}
}

// JobResults streams successfulResults, failedResults or
// unprocessedrecords: fn is called with the header and each row in turn, as
// they are read from the response body, and must not keep row. It returns
// the number of rows read.
func (c *Client) JobResults(ctx context.Context, jobID, kind string, fn func(header, row []string) error) (int, error) {
	resp, err := c.send(ctx, request{method: http.MethodGet, path: "jobs/ingest/" + jobID + "/" + kind, accept: "text/csv"})
	if err != nil {
		return 0, fmt.Errorf("%s of job %s: %w", kind, jobID, err)
	}
	defer resp.Body.Close()
	cr := csv.NewReader(resp.Body)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	var header []string
	n := 0
	for {
		row, err := cr.Read()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("%s of job %s: parse CSV: %w", kind, jobID, err)
		}
		if header == nil {
			header = slices.Clone(row)
			continue
		}
		n++
		if err := fn(header, row); err != nil {
			return n, err
		}
	}
}

func readCSV(r io.Reader, delim rune) ([][]string, error) {
	cr := csv.NewReader(r)
	cr.Comma = delim
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	rows, err := cr.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("parse CSV: %w", err)
	}
	return rows, nil
}

// CreateQueryJob starts a Bulk API 2.0 query (all=true for queryAll).
func (c *Client) CreateQueryJob(ctx context.Context, soql string, all bool) (JobInfo, error) {
	op := "query"
	if all {
		op = "queryAll"
	}
	var j JobInfo
	_, err := c.doJSON(ctx, http.MethodPost, "jobs/query", nil, map[string]string{"operation": op, "query": soql, "contentType": "CSV", "columnDelimiter": "COMMA", "lineEnding": "LF"}, &j, false)
	return j, err
}

// DeleteQueryJob deletes a query job and its results.
func (c *Client) DeleteQueryJob(ctx context.Context, jobID string) error {
	_, err := c.doJSON(ctx, http.MethodDelete, "jobs/query/"+jobID, nil, nil, nil, false)
	return err
}

// WaitQueryJob polls a query job until it is terminal.
func (c *Client) WaitQueryJob(ctx context.Context, jobID string, poll time.Duration) (JobInfo, error) {
	j, err := waitJob(ctx, poll, func() (JobInfo, error) {
		var j JobInfo
		_, err := c.doJSON(ctx, http.MethodGet, "jobs/query/"+jobID, nil, nil, &j, false)
		return j, err
	})
	if err == nil && j.State != "JobComplete" {
		return j, fmt.Errorf("salesforceapi: query job %s ended %s: %s", jobID, j.State, j.ErrorMessage)
	}
	return j, err
}

// QueryResults pages through a completed query job's CSV results by
// Sforce-Locator; each step yields the header and that page's rows.
func (c *Client) QueryResults(ctx context.Context, jobID string, maxRecords int) iter.Seq2[[][]string, error] {
	return func(yield func([][]string, error) bool) {
		locator := ""
		for {
			q := url.Values{}
			if maxRecords > 0 {
				q.Set("maxRecords", strconv.Itoa(maxRecords))
			}
			if locator != "" {
				q.Set("locator", locator)
			}
			resp, err := c.send(ctx, request{method: http.MethodGet, path: "jobs/query/" + jobID + "/results", query: q, accept: "text/csv"})
			if err != nil {
				yield(nil, err)
				return
			}
			rows, err := readCSV(resp.Body, ',')
			next := resp.Header.Get("Sforce-Locator")
			resp.Body.Close()
			if err != nil {
				yield(nil, fmt.Errorf("results of query job %s: %w", jobID, err))
				return
			}
			if !yield(rows, nil) {
				return
			}
			if next == "" || strings.EqualFold(next, "null") {
				return
			}
			locator = next
		}
	}
}

// assignmentRuleID is the AssignmentRule Id a Bulk job for object names:
// none unless Rules.Assign sets the object; its active rule for "TRUE",
// looked up once.
func (c *Client) assignmentRuleID(ctx context.Context, object string) (string, error) {
	v := c.opt.Rules.Assign[object]
	if v != "TRUE" {
		return v, nil // no rule, or a rule Id
	}
	c.mu.Lock()
	id, ok := c.activeRules[object]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	for page, err := range c.Query(ctx, fmt.Sprintf("SELECT Id FROM AssignmentRule WHERE SobjectType = '%s' AND Active = true LIMIT 1", object), false, 0, nil) {
		if err != nil {
			return "", fmt.Errorf("find the active %s assignment rule: %w", object, err)
		}
		if len(page) > 0 {
			id = page[0].ID
		}
		break
	}
	if id == "" {
		return "", fmt.Errorf("load.salesforce.assignment_rules.%s is default, but the org has no active %s assignment rule", object, object)
	}
	c.mu.Lock()
	if c.activeRules == nil {
		c.activeRules = map[string]string{}
	}
	c.activeRules[object] = id
	c.mu.Unlock()
	return id, nil
}
