package salesforce

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

type cursor struct {
	ids     []*record
	fields  []string
	obj     *objectMeta
	all     bool
	batch   int
	created time.Time
}

func decodeBody(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

func (s *Server) sobjects(w http.ResponseWriter, r *http.Request, version string, p []string) {
	if len(p) == 0 || p[0] == "" {
		s.org.mu.RLock()
		var list []map[string]any
		for _, name := range []string{"account", "assignmentrule", "case", "contact", "lead", "opportunity", "opportunitycontactrole", "organization", "task", "user"} {
			o := s.org.schema[name]
			list = append(list, map[string]any{"name": o.Name, "label": o.Label, "labelPlural": o.LabelPlural, "keyPrefix": o.KeyPrefix, "custom": false, "queryable": true, "createable": !readOnlyObject(o), "updateable": !readOnlyObject(o),
				"urls": map[string]string{"sobject": "/services/data/v" + version + "/sobjects/" + o.Name, "describe": "/services/data/v" + version + "/sobjects/" + o.Name + "/describe"}})
		}
		s.org.mu.RUnlock()
		writeJSON(w, 200, map[string]any{"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": list})
		return
	}
	obj := s.org.object(p[0])
	if obj == nil {
		writeErr(w, 404, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	switch {
	case len(p) == 1:
		if r.Method != http.MethodPost {
			writeJSON(w, 200, map[string]any{"objectDescribe": map[string]any{"name": obj.Name, "keyPrefix": obj.KeyPrefix}, "recentItems": []any{}})
			return
		}
		if readOnlyObject(obj) {
			writeErr(w, 400, "INVALID_TYPE_FOR_OPERATION", "entity type cannot be inserted: "+obj.Name)
			return
		}
		var body map[string]any
		if err := decodeBody(r, &body); err != nil {
			writeErr(w, 400, "JSON_PARSER_ERROR", "The request body is not valid JSON: "+err.Error())
			return
		}
		delete(body, "attributes")
		s.org.mu.Lock()
		wr, e := s.org.restWrite(r, obj, body)
		var id string
		var errs []recErr
		if e != nil {
			errs = []recErr{*e}
		} else {
			id, errs = s.org.apply(obj, nil, wr)
		}
		s.org.mu.Unlock()
		if len(errs) > 0 {
			writeRecErrs(w, errs)
			return
		}
		writeJSON(w, 201, map[string]any{"id": id, "success": true, "errors": []any{}})
	case (len(p) == 2 || len(p) == 3 && p[2] == "") && (p[1] == "deleted" || p[1] == "updated"):
		s.replication(w, r, obj, p[1])
	case len(p) == 2 && p[1] == "describe":
		writeJSON(w, 200, obj.describeJSON(version))
	case len(p) == 2:
		s.recordByID(w, r, version, obj, p[1])
	case len(p) == 3:
		s.byExternalID(w, r, version, obj, p[1], p[2])
	default:
		writeErr(w, 404, "NOT_FOUND", "The requested resource does not exist")
	}
}

// readOnlyObject reports whether the API can only read obj's records (the
// organization, its assignment rules).
func readOnlyObject(obj *objectMeta) bool {
	return obj.Name == "Organization" || obj.Name == "AssignmentRule"
}

// writeRecErrs answers a single-record write that failed validation.
func writeRecErrs(w http.ResponseWriter, errs []recErr) {
	out := make([]apiError, len(errs))
	for i, e := range errs {
		out[i] = apiError{Message: e.Message, ErrorCode: e.StatusCode, Fields: e.Fields}
	}
	writeJSON(w, 400, out)
}

func (s *Server) recordByID(w http.ResponseWriter, r *http.Request, version string, obj *objectMeta, id string) {
	if !idRe.MatchString(id) {
		writeErr(w, 404, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: "+id)
		return
	}
	s.org.mu.Lock()
	defer s.org.mu.Unlock()
	rec := s.org.get(obj, id)
	if rec == nil || rec.deleted() {
		if (rec != nil || s.org.purged[id]) && r.Method != http.MethodGet {
			writeErr(w, 404, "ENTITY_IS_DELETED", "entity is deleted")
			return
		}
		writeErr(w, 404, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	switch r.Method {
	case http.MethodGet:
		fields := fieldNames(obj)
		if f := r.URL.Query().Get("fields"); f != "" {
			fields = strings.Split(f, ",")
		}
		writeJSON(w, 200, s.org.jsonRecord(rec, fields, version))
	case http.MethodPatch:
		var body map[string]any
		if err := decodeBody(r, &body); err != nil {
			writeErr(w, 400, "JSON_PARSER_ERROR", "The request body is not valid JSON: "+err.Error())
			return
		}
		delete(body, "attributes")
		wr, e := s.org.restWrite(r, obj, body)
		if e != nil {
			writeRecErrs(w, []recErr{*e})
			return
		}
		if _, errs := s.org.apply(obj, rec, wr); len(errs) > 0 {
			writeRecErrs(w, errs)
			return
		}
		w.WriteHeader(204)
	case http.MethodDelete:
		s.org.softDelete(rec)
		w.WriteHeader(204)
	default:
		writeErr(w, 405, "METHOD_NOT_ALLOWED", "HTTP Method '"+r.Method+"' not allowed. Allowed are GET,PATCH,DELETE")
	}
}

func fieldNames(obj *objectMeta) []string {
	out := make([]string, len(obj.Fields))
	for i, f := range obj.Fields {
		out[i] = f.Name
	}
	return out
}

// byExternalID serves GET and PATCH (upsert) on /sobjects/{T}/{field}/{value}.
func (s *Server) byExternalID(w http.ResponseWriter, r *http.Request, version string, obj *objectMeta, fieldName, value string) {
	f := obj.field(fieldName)
	if f == nil || !(f.ExternalID || f.IDLookup) {
		writeErr(w, 404, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: "+fieldName)
		return
	}
	s.org.mu.Lock()
	defer s.org.mu.Unlock()
	matches := s.org.matchesExt(obj, f, value)
	if len(matches) > 1 {
		var urls []string
		for _, m := range matches {
			urls = append(urls, "/services/data/v"+version+"/sobjects/"+obj.Name+"/"+m.id)
		}
		writeJSON(w, 300, urls)
		return
	}
	switch r.Method {
	case http.MethodGet:
		if len(matches) == 0 {
			writeErr(w, 404, "NOT_FOUND", "The requested resource does not exist")
			return
		}
		writeJSON(w, 200, s.org.jsonRecord(matches[0], fieldNames(obj), version))
	case http.MethodPatch, http.MethodPost:
		var body map[string]any
		if err := decodeBody(r, &body); err != nil {
			writeErr(w, 400, "JSON_PARSER_ERROR", "The request body is not valid JSON: "+err.Error())
			return
		}
		delete(body, "attributes")
		for k := range body {
			if strings.EqualFold(k, "Id") || strings.EqualFold(k, f.Name) {
				writeErr(w, 400, "INVALID_FIELD", fmt.Sprintf("Unable to create/update fields: %s. The field is the key of this upsert.", k))
				return
			}
		}
		var existing *record
		if len(matches) == 1 {
			existing = matches[0]
		} else if f.Type != "id" {
			body[f.Name] = value
		}
		if existing == nil && r.URL.Query().Get("updateOnly") == "true" {
			writeErr(w, 404, "NOT_FOUND", "The requested resource does not exist")
			return
		}
		wr, e := s.org.restWrite(r, obj, body)
		if e != nil {
			writeRecErrs(w, []recErr{*e})
			return
		}
		id, errs := s.org.apply(obj, existing, wr)
		if len(errs) > 0 {
			writeRecErrs(w, errs)
			return
		}
		if existing == nil {
			writeJSON(w, 201, map[string]any{"id": id, "success": true, "errors": []any{}, "created": true})
			return
		}
		major, _ := strconv.Atoi(version[:2])
		if major < 46 {
			w.WriteHeader(204)
			return
		}
		writeJSON(w, 200, map[string]any{"id": id, "success": true, "errors": []any{}, "created": false})
	default:
		writeErr(w, 405, "METHOD_NOT_ALLOWED", "HTTP Method '"+r.Method+"' not allowed. Allowed are GET,PATCH")
	}
}

func batchSize(r *http.Request) int {
	n := 2000
	if h := r.Header.Get("Sforce-Query-Options"); h != "" {
		for _, part := range strings.Split(h, ",") {
			kv := strings.SplitN(strings.TrimSpace(part), "=", 2)
			if len(kv) == 2 && strings.EqualFold(kv[0], "batchSize") {
				if v, err := strconv.Atoi(kv[1]); err == nil {
					n = min(max(v, 200), 2000)
				}
			}
		}
	}
	return n
}

func (s *Server) query(w http.ResponseWriter, r *http.Request, version string, all bool, p []string) {
	if r.Method != http.MethodGet {
		writeErr(w, 405, "METHOD_NOT_ALLOWED", "HTTP Method '"+r.Method+"' not allowed. Allowed are GET")
		return
	}
	kind := "query"
	if all {
		kind = "queryAll"
	}
	if len(p) == 1 && p[0] != "" {
		s.mu.Lock()
		loc, off, _ := strings.Cut(p[0], "-")
		c := s.qcur[loc]
		s.mu.Unlock()
		n, err := strconv.Atoi(off)
		if c == nil || err != nil || n < 0 || n > len(c.ids) {
			writeErr(w, 400, "INVALID_QUERY_LOCATOR", "invalid query locator")
			return
		}
		s.org.mu.RLock()
		defer s.org.mu.RUnlock()
		s.page(w, version, kind, loc, c, n)
		return
	}
	q := r.URL.Query().Get("q")
	if q == "" {
		writeErr(w, 400, "MALFORMED_QUERY", "A query string has to be specified")
		return
	}
	s.org.mu.RLock()
	defer s.org.mu.RUnlock()
	sq, err := s.org.parseSOQL(q)
	if err != nil {
		var se *soqlError
		if errors.As(err, &se) {
			writeErr(w, 400, se.code, se.msg)
			return
		}
		writeErr(w, 400, "MALFORMED_QUERY", err.Error())
		return
	}
	if r.URL.Query().Get("columns") == "true" {
		writeJSON(w, 200, s.org.columnMetadata(sq))
		return
	}
	rows := s.org.run(sq, all)
	if sq.count {
		writeJSON(w, 200, map[string]any{"totalSize": len(rows), "done": true, "records": []any{}})
		return
	}
	c := &cursor{ids: rows, fields: sq.fields, obj: sq.obj, all: all, batch: batchSize(r), created: s.opt.Now()}
	s.mu.Lock()
	s.jobSeq++
	loc := fmt.Sprintf("01g5e%010dAAA", s.jobSeq)
	s.qcur[loc] = c
	s.mu.Unlock()
	s.page(w, version, kind, loc, c, 0)
}

func (s *Server) page(w http.ResponseWriter, version, kind, loc string, c *cursor, off int) {
	end := min(off+c.batch, len(c.ids))
	recs := make([]map[string]any, 0, end-off)
	for _, rec := range c.ids[off:end] {
		recs = append(recs, s.org.jsonRecord(rec, c.fields, version))
	}
	out := map[string]any{"totalSize": len(c.ids), "done": end >= len(c.ids), "records": recs}
	if end < len(c.ids) {
		out["nextRecordsUrl"] = fmt.Sprintf("/services/data/v%s/%s/%s-%d", version, kind, loc, end)
	} else {
		s.mu.Lock()
		delete(s.qcur, loc)
		s.mu.Unlock()
	}
	writeJSON(w, 200, out)
}

type saveResult struct {
	ID      any      `json:"id"`
	Success bool     `json:"success"`
	Errors  []recErr `json:"errors"`
	Created *bool    `json:"created,omitempty"`
}

// collectionsDelete serves DELETE /composite/sobjects?ids=…&allOrNone=…:
// up to 200 records of any objects, by Id, to the recycle bin; a result
// per id, in request order. A record already deleted is ENTITY_IS_DELETED.
func (s *Server) collectionsDelete(w http.ResponseWriter, r *http.Request) {
	var ids []string
	for _, id := range strings.Split(r.URL.Query().Get("ids"), ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	switch {
	case len(ids) == 0:
		writeErr(w, 400, "MISSING_ARGUMENT", "ids parameter is required")
		return
	case len(ids) > 200:
		writeErr(w, 400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")
		return
	}
	allOrNone := r.URL.Query().Get("allOrNone") == "true"
	s.org.mu.Lock()
	defer s.org.mu.Unlock()
	results := make([]saveResult, len(ids))
	found := make([]*record, len(ids))
	failed := false
	for i, id := range ids {
		results[i] = saveResult{ID: id, Success: true, Errors: []recErr{}}
		var rec *record
		if idRe.MatchString(id) {
			for _, obj := range s.org.schema {
				if strings.HasPrefix(id, obj.KeyPrefix) {
					rec = s.org.get(obj, id)
					break
				}
			}
		}
		switch {
		case rec != nil && rec.deleted() || rec == nil && s.org.purged[id]:
			results[i] = saveResult{ID: id, Success: false, Errors: []recErr{{StatusCode: "ENTITY_IS_DELETED", Message: "entity is deleted", Fields: []string{}}}}
			failed = true
		case rec == nil:
			results[i] = saveResult{ID: id, Success: false, Errors: []recErr{{StatusCode: "INVALID_CROSS_REFERENCE_KEY", Message: "invalid cross reference id", Fields: []string{}}}}
			failed = true
		default:
			found[i] = rec
		}
	}
	for i, rec := range found {
		switch {
		case rec == nil:
		case failed && allOrNone:
			results[i] = saveResult{ID: nil, Success: false, Errors: []recErr{{StatusCode: "ALL_OR_NONE_OPERATION_ROLLED_BACK", Message: "Record rolled back because not all records were valid and the request was using AllOrNone header", Fields: []string{}}}}
		default:
			s.org.softDelete(rec)
		}
	}
	writeJSON(w, 200, results)
}

// collections serves sObject Collections create, update and upsert.
func (s *Server) collections(w http.ResponseWriter, r *http.Request, version string, p []string) {
	var body struct {
		AllOrNone bool             `json:"allOrNone"`
		Records   []map[string]any `json:"records"`
	}
	if r.Method == http.MethodDelete && len(p) == 0 {
		s.collectionsDelete(w, r)
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodPatch {
		writeErr(w, 405, "METHOD_NOT_ALLOWED", "HTTP Method '"+r.Method+"' not allowed. Allowed are POST,PATCH,DELETE")
		return
	}
	if err := decodeBody(r, &body); err != nil {
		writeErr(w, 400, "JSON_PARSER_ERROR", "The request body is not valid JSON: "+err.Error())
		return
	}
	if len(body.Records) > 200 {
		writeErr(w, 400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")
		return
	}
	var upsertObj *objectMeta
	var extField *fieldMeta
	if len(p) >= 2 && p[0] != "" {
		if r.Method != http.MethodPatch {
			writeErr(w, 405, "METHOD_NOT_ALLOWED", "upsert requires PATCH")
			return
		}
		upsertObj = s.org.object(p[0])
		if upsertObj == nil {
			writeErr(w, 404, "NOT_FOUND", "The requested resource does not exist")
			return
		}
		extField = upsertObj.field(p[1])
		if extField == nil || !(extField.ExternalID || extField.IDLookup) {
			writeErr(w, 400, "INVALID_FIELD", "Provided external ID field does not exist or is not accessible: "+p[1])
			return
		}
	}
	s.org.mu.Lock()
	defer s.org.mu.Unlock()
	results := make([]saveResult, len(body.Records))
	failed := false
	for i, rec := range body.Records {
		res := s.collectionRecord(r, rec, upsertObj, extField)
		if !res.Success {
			failed = true
		}
		results[i] = res
		if failed && body.AllOrNone {
			break
		}
	}
	if failed && body.AllOrNone {
		// Nothing may stay written: this emulator validates before it writes
		// only per record, so an all-or-none batch is answered as rolled back
		// for every record that did not itself fail.
		for i := range results {
			if results[i].Success || results[i].Errors == nil {
				results[i] = saveResult{ID: nil, Success: false, Errors: []recErr{{StatusCode: "ALL_OR_NONE_OPERATION_ROLLED_BACK", Message: "Record rolled back because not all records were valid and the request was using AllOrNone header", Fields: []string{}}}}
			}
		}
	}
	writeJSON(w, 200, results)
}

func (s *Server) collectionRecord(r *http.Request, rec map[string]any, upsertObj *objectMeta, extField *fieldMeta) saveResult {
	method := r.Method
	attrs, _ := rec["attributes"].(map[string]any)
	typ, _ := attrs["type"].(string)
	delete(rec, "attributes")
	fail := func(code, msg string, fields ...string) saveResult {
		if fields == nil {
			fields = []string{}
		}
		return saveResult{ID: nil, Success: false, Errors: []recErr{{StatusCode: code, Message: msg, Fields: fields}}}
	}
	if typ == "" {
		return fail("INVALID_TYPE", "Must specify a type in attributes")
	}
	obj := s.org.object(typ)
	if obj == nil {
		return fail("INVALID_TYPE", "sObject type '"+typ+"' is not supported.")
	}
	if s.fail() {
		s.stats.fault("UNABLE_TO_LOCK_ROW")
		return fail("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record")
	}
	t, f := true, false
	wr, e := s.org.restWrite(r, obj, rec)
	if e != nil {
		return saveResult{ID: nil, Success: false, Errors: []recErr{*e}}
	}
	switch {
	case upsertObj != nil:
		if obj != upsertObj {
			return fail("INVALID_TYPE", "Records must all be of the type named in the URI")
		}
		if _, has := rec["Id"]; has && extField.Type != "id" {
			return fail("INVALID_FIELD", "Record Ids are not allowed in an upsert by external id", "Id")
		}
		key := fmt.Sprint(rec[extField.Name])
		if rec[extField.Name] == nil || key == "" {
			return fail("MISSING_ARGUMENT", extField.Name+" not specified", extField.Name)
		}
		matches := s.org.matchesExt(obj, extField, key)
		if len(matches) > 1 {
			return fail("DUPLICATE_EXTERNAL_ID", fmt.Sprintf("The external ID provided (%s) matches more than one record", key), extField.Name)
		}
		var existing *record
		if len(matches) == 1 {
			existing = matches[0]
			delete(rec, extField.Name)
		}
		if extField.Type == "id" {
			delete(rec, "Id")
		}
		id, errs := s.org.apply(obj, existing, wr)
		if len(errs) > 0 {
			return saveResult{ID: nilIfEmpty(id), Success: false, Errors: errs}
		}
		created := &f
		if existing == nil {
			created = &t
		}
		return saveResult{ID: id, Success: true, Errors: []recErr{}, Created: created}
	case method == http.MethodPost:
		if _, has := rec["Id"]; has {
			return fail("INVALID_FIELD", "cannot specify Id in an insert call", "Id")
		}
		id, errs := s.org.apply(obj, nil, wr)
		if len(errs) > 0 {
			return saveResult{ID: nil, Success: false, Errors: errs}
		}
		return saveResult{ID: id, Success: true, Errors: []recErr{}}
	default:
		id, _ := rec["Id"].(string)
		delete(rec, "Id")
		existing := s.org.get(obj, id)
		if existing == nil && s.org.purged[id] {
			return fail("ENTITY_IS_DELETED", "entity is deleted")
		}
		if id == "" || existing == nil {
			return fail("MALFORMED_ID", "Id not specified in an update call or invalid", "Id")
		}
		if _, errs := s.org.apply(obj, existing, wr); len(errs) > 0 {
			return saveResult{ID: id, Success: false, Errors: errs}
		}
		return saveResult{ID: id, Success: true, Errors: []recErr{}}
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
