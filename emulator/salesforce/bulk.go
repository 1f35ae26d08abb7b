package salesforce

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/emulator/seed"
)

// maxUpload is Salesforce's cap on one ingest upload once base64-encoded
// (salesforce.md §5.5): about 100 MB of raw CSV.
const maxUpload = 150 << 20

type ingestJob struct {
	ID, Operation, Object, ExtField string
	AssignmentRuleID                string
	State, ErrorMessage             string
	LineEnding, ColumnDelimiter     string
	APIVersion                      float64
	Created, Modstamp               time.Time
	CreatedBy                       string // the integration user, who creates every job
	uploaded                        bool
	restored                        bool // taken over from the journal after a restart
	seq                             int
	data                            []byte
	header                          []string
	success, failed, unprocessed    [][]string
	processed, nfailed              int
}

var delimiters = map[string]rune{"COMMA": ',', "BACKQUOTE": '`', "CARET": '^', "PIPE": '|', "SEMICOLON": ';', "TAB": '\t'}

func (j *ingestJob) info() map[string]any {
	m := map[string]any{
		"id": j.ID, "operation": j.Operation, "object": j.Object, "createdById": j.CreatedBy, "createdDate": j.Created.Format(sfTimeLayout),
		"systemModstamp": j.Modstamp.Format(sfTimeLayout), "state": j.State, "concurrencyMode": "Parallel",
		"contentType": "CSV", "apiVersion": j.APIVersion, "lineEnding": j.LineEnding, "columnDelimiter": j.ColumnDelimiter,
		"jobType": "V2Ingest", "numberRecordsProcessed": j.processed, "numberRecordsFailed": j.nfailed, "retries": 0,
		"totalProcessingTime": 0, "apiActiveProcessingTime": 0, "apexProcessingTime": 0,
	}
	if j.ExtField != "" {
		m["externalIdFieldName"] = j.ExtField
	}
	if j.AssignmentRuleID != "" {
		m["assignmentRuleId"] = j.AssignmentRuleID
	}
	if j.State == "Open" {
		m["contentUrl"] = fmt.Sprintf("services/data/v%.1f/jobs/ingest/%s/batches", j.APIVersion, j.ID)
	}
	if j.ErrorMessage != "" {
		m["errorMessage"] = j.ErrorMessage
	}
	return m
}

func (s *Server) ingestRoute(w http.ResponseWriter, r *http.Request, version string, p []string) {
	if len(p) == 0 || p[0] == "" {
		switch r.Method {
		case http.MethodPost:
			s.createIngest(w, r, version)
		case http.MethodGet:
			s.mu.Lock()
			var recs []map[string]any
			for _, j := range s.ingest {
				recs = append(recs, j.info())
			}
			s.mu.Unlock()
			writeJSON(w, 200, map[string]any{"done": true, "records": recs, "nextRecordsUrl": nil})
		default:
			writeErr(w, 405, "METHOD_NOT_ALLOWED", "HTTP Method '"+r.Method+"' not allowed")
		}
		return
	}
	s.mu.Lock()
	j := s.ingest[p[0]]
	s.mu.Unlock()
	if j == nil {
		writeErr(w, 404, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	sub := ""
	if len(p) > 1 {
		sub = p[1]
	}
	switch {
	case sub == "" && r.Method == http.MethodGet:
		s.mu.Lock()
		info := j.info()
		s.mu.Unlock()
		writeJSON(w, 200, info)
	case sub == "" && r.Method == http.MethodPatch:
		s.patchIngest(w, r, j)
	case sub == "" && r.Method == http.MethodDelete:
		s.mu.Lock()
		defer s.mu.Unlock()
		if j.State != "UploadComplete" && j.State != "JobComplete" && j.State != "Aborted" && j.State != "Failed" {
			writeErr(w, 400, "INVALIDJOBSTATE", "Job is not in a state that allows deletion: "+j.State)
			return
		}
		delete(s.ingest, j.ID)
		s.forget(j)
		w.WriteHeader(204)
	case sub == "batches" && r.Method == http.MethodPut:
		s.upload(w, r, j)
	case sub == "successfulResults" || sub == "failedResults" || sub == "unprocessedrecords":
		s.mu.Lock()
		defer s.mu.Unlock()
		s.loadResults(j)
		if sub != "unprocessedrecords" && j.State != "JobComplete" && j.State != "Failed" && j.State != "Aborted" {
			writeErr(w, 400, "JOB_NOT_COMPLETE", "Job is not yet complete")
			return
		}
		var hdr []string
		var rows [][]string
		switch sub {
		case "successfulResults":
			hdr, rows = append([]string{"sf__Id", "sf__Created"}, j.header...), j.success
		case "failedResults":
			hdr, rows = append([]string{"sf__Id", "sf__Error"}, j.header...), j.failed
		default:
			hdr, rows = j.header, j.unprocessed
		}
		w.Header().Set("Content-Type", "text/csv")
		w.WriteHeader(200)
		if hdr != nil {
			writeCSV(w, hdr, rows, ',', "\n")
		}
	default:
		writeErr(w, 404, "NOT_FOUND", "The requested resource does not exist")
	}
}

// writeCSV quotes every field, as Salesforce's result files do.
func writeCSV(w io.Writer, hdr []string, rows [][]string, delim rune, eol string) {
	var b bytes.Buffer
	line := func(cells []string) {
		for i, c := range cells {
			if i > 0 {
				b.WriteRune(delim)
			}
			b.WriteByte('"')
			b.WriteString(strings.ReplaceAll(c, `"`, `""`))
			b.WriteByte('"')
		}
		b.WriteString(eol)
	}
	line(hdr)
	for _, r := range rows {
		line(r)
	}
	w.Write(b.Bytes())
}

func (s *Server) createIngest(w http.ResponseWriter, r *http.Request, version string) {
	var req struct {
		Object              string `json:"object"`
		Operation           string `json:"operation"`
		ExternalIDFieldName string `json:"externalIdFieldName"`
		ContentType         string `json:"contentType"`
		LineEnding          string `json:"lineEnding"`
		ColumnDelimiter     string `json:"columnDelimiter"`
		AssignmentRuleID    string `json:"assignmentRuleId"`
	}
	if err := decodeBody(r, &req); err != nil {
		writeErr(w, 400, "JSON_PARSER_ERROR", "The request body is not valid JSON: "+err.Error())
		return
	}
	obj := s.org.object(req.Object)
	switch {
	case req.Object == "":
		writeErr(w, 400, "INVALIDJOB", "Field 'object' is required")
		return
	case obj == nil:
		writeErr(w, 400, "INVALIDENTITY", "Entity '"+req.Object+"' is not supported by the Bulk API.")
		return
	}
	switch req.Operation {
	case "insert", "update", "delete", "hardDelete":
	case "upsert":
		f := obj.field(req.ExternalIDFieldName)
		if f == nil || !(f.ExternalID || f.IDLookup) {
			writeErr(w, 400, "INVALIDJOB", "External ID field '"+req.ExternalIDFieldName+"' is not valid for upsert on "+obj.Name)
			return
		}
		req.ExternalIDFieldName = f.Name
	default:
		writeErr(w, 400, "INVALIDJOB", "Invalid operation: '"+req.Operation+"'")
		return
	}
	if req.AssignmentRuleID != "" {
		s.org.mu.RLock()
		_, e := s.org.namedRule(req.AssignmentRuleID, obj)
		s.org.mu.RUnlock()
		if e != nil {
			writeErr(w, 400, "INVALIDJOB", "Invalid assignmentRuleId for "+obj.Name+": "+e.Message)
			return
		}
	}
	if req.ContentType != "" && req.ContentType != "CSV" {
		writeErr(w, 400, "INVALIDJOB", "Content type '"+req.ContentType+"' is not supported; only CSV")
		return
	}
	if req.LineEnding == "" {
		req.LineEnding = "LF"
	}
	if req.ColumnDelimiter == "" {
		req.ColumnDelimiter = "COMMA"
	}
	if _, ok := delimiters[req.ColumnDelimiter]; !ok || (req.LineEnding != "LF" && req.LineEnding != "CRLF") {
		writeErr(w, 400, "INVALIDJOB", "Invalid lineEnding or columnDelimiter")
		return
	}
	v, _ := strconv.ParseFloat(version, 64)
	now := s.opt.Now().UTC()
	s.mu.Lock()
	s.jobSeq++
	j := &ingestJob{ID: seed.SFID("750", 1<<41+uint64(s.jobSeq)), seq: s.jobSeq, CreatedBy: s.org.userID, Operation: req.Operation, Object: obj.Name, ExtField: req.ExternalIDFieldName,
		AssignmentRuleID: req.AssignmentRuleID, State: "Open", LineEnding: req.LineEnding, ColumnDelimiter: req.ColumnDelimiter, APIVersion: v, Created: now, Modstamp: now}
	s.ingest[j.ID] = j
	if err := s.persist(j); err != nil {
		delete(s.ingest, j.ID)
		s.mu.Unlock()
		writeErr(w, 500, "UNKNOWN_EXCEPTION", "could not record the job: "+err.Error())
		return
	}
	info := j.info()
	s.mu.Unlock()
	writeJSON(w, 200, info)
}

func (s *Server) upload(w http.ResponseWriter, r *http.Request, j *ingestJob) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		writeErr(w, 400, "INVALIDCONTENTTYPE", "Content-Type must be text/csv")
		return
	}
	// Base64 only grows the data, so reading one byte past the cap is
	// enough to know the upload is too large.
	data, err := io.ReadAll(io.LimitReader(r.Body, int64(s.opt.MaxUpload)+1))
	if err != nil {
		writeErr(w, 400, "BULK_API_ERROR", "could not read upload")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if j.State != "Open" {
		writeErr(w, 400, "INVALIDJOBSTATE", "Job is not in Open state: "+j.State)
		return
	}
	if j.uploaded {
		writeErr(w, 400, "BULK_API_ERROR", fmt.Sprintf("Found multiple contents for job: <%s>, please 'Close' / 'Abort' / 'Delete' the current Job then create a new Job and make sure you only do 'PUT' once on a given Job.", j.ID))
		return
	}
	if n := base64.StdEncoding.EncodedLen(len(data)); n > s.opt.MaxUpload {
		writeErr(w, 400, "BULK_API_ERROR", fmt.Sprintf("Upload of job <%s> exceeds the limit of %d bytes of base64-encoded content (at least %d bytes); split the data into several jobs.", j.ID, s.opt.MaxUpload, n))
		return
	}
	if err := s.keep(j.ID, ".csv", data); err != nil {
		writeErr(w, 500, "UNKNOWN_EXCEPTION", "could not store the upload: "+err.Error())
		return
	}
	j.uploaded, j.data = true, data
	if err := s.persist(j); err != nil {
		j.uploaded, j.data = false, nil
		writeErr(w, 500, "UNKNOWN_EXCEPTION", "could not record the upload: "+err.Error())
		return
	}
	w.WriteHeader(201)
}

func (s *Server) patchIngest(w http.ResponseWriter, r *http.Request, j *ingestJob) {
	var req struct {
		State string `json:"state"`
	}
	if err := decodeBody(r, &req); err != nil {
		writeErr(w, 400, "JSON_PARSER_ERROR", "The request body is not valid JSON: "+err.Error())
		return
	}
	s.mu.Lock()
	switch {
	case req.State == "UploadComplete" && j.State == "Open":
		j.State = "UploadComplete"
		go s.runJob(j)
	case req.State == "Aborted" && (j.State == "Open" || j.State == "UploadComplete" || j.State == "InProgress"):
		j.State = "Aborted"
	default:
		s.mu.Unlock()
		writeErr(w, 400, "INVALIDJOBSTATE", fmt.Sprintf("Cannot change job state from %s to %s", j.State, req.State))
		return
	}
	j.Modstamp = s.opt.Now().UTC()
	if err := s.persist(j); err != nil {
		s.mu.Unlock()
		writeErr(w, 500, "UNKNOWN_EXCEPTION", "could not record the job's state: "+err.Error())
		return
	}
	info := j.info()
	s.mu.Unlock()
	writeJSON(w, 200, info)
}

// runJob processes a closed job in the background, as Salesforce does:
// the job moves to InProgress and, after BulkDelay, to a terminal state,
// whether or not the client that created it is still polling.
func (s *Server) runJob(j *ingestJob) {
	s.mu.Lock()
	if j.State != "UploadComplete" {
		s.mu.Unlock()
		return
	}
	j.State = "InProgress"
	s.persist(j)
	data := j.data
	s.mu.Unlock()
	if s.opt.BulkDelay > 0 {
		time.Sleep(s.opt.BulkDelay)
	}
	s.process(j, data)
}

func (s *Server) process(j *ingestJob, data []byte) {
	obj := s.org.object(j.Object)
	rd := csv.NewReader(bytes.NewReader(data))
	rd.Comma = delimiters[j.ColumnDelimiter]
	rd.FieldsPerRecord = 0
	rows, err := rd.ReadAll()
	finish := func(state, msg string) {
		// The result files are kept before the state that serves them; a
		// job whose results cannot be kept fails, as a job Salesforce
		// cannot finish does.
		if err := s.keepResults(j); err != nil {
			state, msg = "Failed", "could not store the results: "+err.Error()
		}
		s.mu.Lock()
		j.State, j.ErrorMessage, j.Modstamp = state, msg, s.opt.Now().UTC()
		s.persist(j)
		s.mu.Unlock()
	}
	if err != nil {
		finish("Failed", "InvalidBatch : "+err.Error())
		return
	}
	if len(rows) == 0 {
		finish("Failed", "InvalidBatch : No content uploaded")
		return
	}
	header := rows[0]
	j.header = header
	cols := make([]*fieldMeta, len(header))
	rels := make([]*fieldMeta, len(header)) // for Rel.ExtField columns: the lookup field being set
	idCol, extCol := -1, -1
	for i, h := range header {
		if strings.Contains(h, ".") {
			rel, target, _ := strings.Cut(h, ".")
			rf := obj.rel(rel)
			if rf == nil {
				finish("Failed", "InvalidBatch : Field name not found : "+h)
				return
			}
			tobj := s.org.object(rf.ReferenceTo[0])
			tf := tobj.field(target)
			if tf == nil || !(tf.ExternalID || tf.IDLookup) {
				finish("Failed", "InvalidBatch : Field name not found : "+h)
				return
			}
			cols[i], rels[i] = tf, rf
			continue
		}
		f := obj.field(h)
		if f == nil {
			finish("Failed", "InvalidBatch : Field name not found : "+h)
			return
		}
		cols[i] = f
		if f.Name == "Id" {
			idCol = i
		}
		if j.ExtField != "" && f.Name == j.ExtField {
			extCol = i
		}
	}
	switch {
	case (j.Operation == "update" || j.Operation == "delete" || j.Operation == "hardDelete") && idCol < 0:
		finish("Failed", "InvalidBatch : Field name not found : Id")
		return
	case j.Operation == "upsert" && extCol < 0:
		finish("Failed", "InvalidBatch : Field name not found : "+j.ExtField)
		return
	}
	// Duplicate keys inside one upsert job fail both rows, as parallel chunks would race.
	seen := map[string]int{}
	if extCol >= 0 {
		for _, row := range rows[1:] {
			if extCol < len(row) && row[extCol] != "" {
				seen[strings.ToLower(row[extCol])]++
			}
		}
	}
	for start := 1; start < len(rows); start += 10000 {
		end := min(start+10000, len(rows))
		s.mu.Lock()
		aborted := j.State == "Aborted"
		s.mu.Unlock()
		if aborted {
			j.unprocessed = append(j.unprocessed, rows[start:]...)
			s.keepResults(j)
			s.mu.Lock()
			s.persist(j)
			s.mu.Unlock()
			return
		}
		s.org.mu.Lock()
		for _, row := range rows[start:end] {
			id, created, e := s.ingestRow(j, obj, header, cols, rels, idCol, extCol, seen, row)
			j.processed++
			if e != nil {
				j.nfailed++
				j.failed = append(j.failed, append([]string{id, e.bulkString()}, row...))
				continue
			}
			j.success = append(j.success, append([]string{id, strconv.FormatBool(created)}, row...))
		}
		s.org.mu.Unlock()
	}
	finish("JobComplete", "")
}

func (s *Server) ingestRow(j *ingestJob, obj *objectMeta, header []string, cols, rels []*fieldMeta, idCol, extCol int, seen map[string]int, row []string) (string, bool, *recErr) {
	if len(row) != len(header) {
		return "", false, &recErr{StatusCode: "INVALID_FIELD", Message: fmt.Sprintf("Row has %d columns, header has %d", len(row), len(header)), Fields: []string{}}
	}
	if s.fail() {
		s.stats.fault("UNABLE_TO_LOCK_ROW")
		id := ""
		if idCol >= 0 {
			id = row[idCol]
		}
		return id, false, &recErr{StatusCode: "UNABLE_TO_LOCK_ROW", Message: "unable to obtain exclusive access to this record or 1 records", Fields: []string{}}
	}
	var existing *record
	switch j.Operation {
	case "update", "delete", "hardDelete":
		existing = s.org.get(obj, row[idCol])
		if existing == nil || existing.deleted() {
			return row[idCol], false, &recErr{StatusCode: "ENTITY_IS_DELETED", Message: "entity is deleted", Fields: []string{}}
		}
		switch j.Operation {
		case "delete":
			s.org.softDelete(existing)
			return existing.id, false, nil
		case "hardDelete":
			s.org.purge(existing)
			return existing.id, false, nil
		}
	case "upsert":
		key := row[extCol]
		if key == "" {
			if cols[extCol].Type != "id" {
				return "", false, &recErr{StatusCode: "MISSING_ARGUMENT", Message: j.ExtField + " not specified", Fields: []string{j.ExtField}}
			}
		} else {
			if seen[strings.ToLower(key)] > 1 {
				return "", false, &recErr{StatusCode: "DUPLICATE_EXTERNAL_ID", Message: "Duplicate external id specified: " + key, Fields: []string{j.ExtField}}
			}
			existing = s.org.lookupExt(obj, cols[extCol], key)
		}
	}
	fields := map[string]any{}
	for i, f := range cols {
		v := row[i]
		if v == "" || i == idCol {
			continue // empty leaves the field unchanged
		}
		if i == extCol && existing != nil {
			continue
		}
		if rels[i] != nil {
			parent := s.org.lookupExt(s.org.object(rels[i].ReferenceTo[0]), f, v)
			if parent == nil {
				return "", false, &recErr{StatusCode: "INVALID_FIELD", Message: fmt.Sprintf("Foreign key external ID: %s not found for field %s in entity %s", v, f.Name, rels[i].ReferenceTo[0]), Fields: []string{header[i]}}
			}
			fields[rels[i].Name] = parent.id
			continue
		}
		if v == "#N/A" {
			fields[f.Name] = nil
			continue
		}
		fields[f.Name] = v
	}
	// A job runs the assignment rule its body names, and no other; the
	// duplicate rule's alert is not shown to Bulk jobs.
	wr := write{fields: fields, csv: true}
	if j.AssignmentRuleID != "" {
		if rule, e := s.org.namedRule(j.AssignmentRuleID, obj); e == nil {
			wr.assign = assign{rule: rule, onUpdate: true}
		}
	}
	id, errs := s.org.apply(obj, existing, wr)
	if len(errs) > 0 {
		return id, false, &errs[0]
	}
	return id, existing == nil, nil
}

type queryJob struct {
	ID, Operation, Object, State string
	APIVersion                   float64
	Created                      time.Time
	CreatedBy                    string
	header                       []string
	rows                         [][]string
	delim                        rune
	eol                          string
	colDelim, lineEnding         string
	seq                          int
}

func (q *queryJob) info() map[string]any {
	return map[string]any{"id": q.ID, "operation": q.Operation, "object": q.Object, "createdById": q.CreatedBy, "createdDate": q.Created.Format(sfTimeLayout),
		"systemModstamp": q.Created.Format(sfTimeLayout), "state": q.State, "concurrencyMode": "Parallel", "contentType": "CSV",
		"apiVersion": q.APIVersion, "jobType": "V2Query", "lineEnding": q.lineEnding, "columnDelimiter": q.colDelim,
		"numberRecordsProcessed": len(q.rows), "retries": 0, "totalProcessingTime": 0, "isPkChunkingSupported": true}
}

func (s *Server) queryJobRoute(w http.ResponseWriter, r *http.Request, version string, p []string) {
	if len(p) == 0 || p[0] == "" {
		if r.Method != http.MethodPost {
			writeErr(w, 405, "METHOD_NOT_ALLOWED", "HTTP Method '"+r.Method+"' not allowed")
			return
		}
		s.createQueryJob(w, r, version)
		return
	}
	s.mu.Lock()
	q := s.qjobs[p[0]]
	s.mu.Unlock()
	if q == nil {
		writeErr(w, 404, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	v, _ := strconv.ParseFloat(version, 64)
	switch {
	case len(p) == 1 && r.Method == http.MethodGet:
		s.mu.Lock()
		was := q.State
		if q.State == "UploadComplete" {
			q.State = "InProgress"
		} else if q.State == "InProgress" {
			q.State = "JobComplete"
		}
		var err error
		if q.State != was {
			err = s.persistQuery(q, false)
		}
		info := q.info()
		s.mu.Unlock()
		if err != nil {
			writeErr(w, 500, "UNKNOWN_EXCEPTION", "journal: "+err.Error())
			return
		}
		writeJSON(w, 200, info)
	case len(p) == 1 && r.Method == http.MethodPatch:
		s.mu.Lock()
		q.State = "Aborted"
		err := s.persistQuery(q, false)
		info := q.info()
		s.mu.Unlock()
		if err != nil {
			writeErr(w, 500, "UNKNOWN_EXCEPTION", "journal: "+err.Error())
			return
		}
		writeJSON(w, 200, info)
	case len(p) == 1 && r.Method == http.MethodDelete:
		s.mu.Lock()
		delete(s.qjobs, q.ID)
		s.forgetQuery(q)
		s.mu.Unlock()
		w.WriteHeader(204)
	case len(p) >= 2 && p[1] == "results":
		if v != q.APIVersion {
			writeErr(w, 409, "INVALIDVERSION", "Query results must be retrieved with the API version the job was created with")
			return
		}
		s.mu.Lock()
		state := q.State
		s.mu.Unlock()
		if state != "JobComplete" {
			writeErr(w, 400, "JOB_NOT_COMPLETE", "Job is not yet complete")
			return
		}
		off := 0
		if loc := r.URL.Query().Get("locator"); loc != "" {
			b, err := base64.RawStdEncoding.DecodeString(loc)
			n, err2 := strconv.Atoi(string(b))
			if err != nil || err2 != nil || n < 0 || n > len(q.rows) {
				writeErr(w, 400, "INVALID_LOCATOR", "invalid locator")
				return
			}
			off = n
		}
		maxRecords := 50000
		if m := r.URL.Query().Get("maxRecords"); m != "" {
			n, err := strconv.Atoi(m)
			if err != nil || n <= 0 {
				writeErr(w, 400, "INVALIDPARAMETER", "maxRecords must be a positive integer")
				return
			}
			maxRecords = n
		}
		end := min(off+maxRecords, len(q.rows))
		locator := "null"
		if end < len(q.rows) {
			locator = base64.RawStdEncoding.EncodeToString([]byte(strconv.Itoa(end)))
		}
		w.Header().Set("Content-Type", "text/csv")
		w.Header().Set("Sforce-Locator", locator)
		w.Header().Set("Sforce-NumberOfRecords", strconv.Itoa(end-off))
		w.WriteHeader(200)
		writeCSV(w, q.header, q.rows[off:end], q.delim, q.eol)
	default:
		writeErr(w, 404, "NOT_FOUND", "The requested resource does not exist")
	}
}

func (s *Server) createQueryJob(w http.ResponseWriter, r *http.Request, version string) {
	var req struct {
		Operation       string `json:"operation"`
		Query           string `json:"query"`
		ContentType     string `json:"contentType"`
		ColumnDelimiter string `json:"columnDelimiter"`
		LineEnding      string `json:"lineEnding"`
	}
	if err := decodeBody(r, &req); err != nil {
		writeErr(w, 400, "JSON_PARSER_ERROR", "The request body is not valid JSON: "+err.Error())
		return
	}
	if req.Operation != "query" && req.Operation != "queryAll" {
		writeErr(w, 400, "INVALIDJOB", "Invalid operation: '"+req.Operation+"'")
		return
	}
	if req.ColumnDelimiter == "" {
		req.ColumnDelimiter = "COMMA"
	}
	if req.LineEnding == "" {
		req.LineEnding = "LF"
	}
	delim, ok := delimiters[req.ColumnDelimiter]
	if !ok {
		writeErr(w, 400, "INVALIDJOB", "Invalid columnDelimiter")
		return
	}
	s.org.mu.RLock()
	sq, err := s.org.parseSOQL(req.Query)
	if err == nil && sq.count {
		err = &soqlError{code: "INVALIDJOB", msg: "Aggregate queries are not supported by Bulk API 2.0 query"}
	}
	if err != nil {
		s.org.mu.RUnlock()
		var se *soqlError
		code := "MALFORMED_QUERY"
		if errors.As(err, &se) {
			code = se.code
		}
		writeErr(w, 400, code, err.Error())
		return
	}
	recs := s.org.run(sq, req.Operation == "queryAll")
	rows := make([][]string, 0, len(recs))
	for _, rec := range recs {
		row := make([]string, len(sq.fields))
		for i, path := range sq.fields {
			row[i] = csvValue(s.org.resolve(rec, path))
		}
		rows = append(rows, row)
	}
	s.org.mu.RUnlock()
	v, _ := strconv.ParseFloat(version, 64)
	eol := "\n"
	if req.LineEnding == "CRLF" {
		eol = "\r\n"
	}
	s.mu.Lock()
	s.jobSeq++
	q := &queryJob{ID: seed.SFID("750", 1<<42+uint64(s.jobSeq)), CreatedBy: s.org.userID, Operation: req.Operation, Object: sq.obj.Name, State: "UploadComplete",
		APIVersion: v, Created: s.opt.Now().UTC(), header: sq.fields, rows: rows, delim: delim, eol: eol, colDelim: req.ColumnDelimiter, lineEnding: req.LineEnding}
	q.seq = s.jobSeq
	err = s.persistQuery(q, true)
	if err == nil {
		s.qjobs[q.ID] = q
	}
	info := q.info()
	s.mu.Unlock()
	if err != nil {
		writeErr(w, 500, "UNKNOWN_EXCEPTION", "journal: "+err.Error())
		return
	}
	writeJSON(w, 200, info)
}

func csvValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case string:
		if t, ok := parseSFDateTime(x); ok && len(x) > 10 {
			return t.UTC().Format("2006-01-02T15:04:05.000Z")
		}
		return x
	}
	return fmt.Sprint(v)
}
