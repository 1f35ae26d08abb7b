package salesforceapi

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Record is one query result row: Id, SystemModstamp and IsDeleted when
// selected, and the whole JSON object (attributes removed) as Raw.
type Record struct {
	ID             string
	SystemModstamp time.Time
	IsDeleted      bool
	Raw            json.RawMessage
}

// TimeLayout is the datetime form REST JSON uses.
const TimeLayout = "2006-01-02T15:04:05.000-0700"

// ParseTime parses a Salesforce datetime in any of its documented forms.
func ParseTime(s string) (time.Time, error) {
	for _, l := range []string{TimeLayout, "2006-01-02T15:04:05.000Z07:00", time.RFC3339Nano, "2006-01-02T15:04:05-0700"} {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a Salesforce datetime: %q", s)
}

// UnmarshalJSON decodes a record, dropping "attributes".
func (r *Record) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	delete(m, "attributes")
	for k, v := range m {
		if strings.HasPrefix(string(v), "{") {
			var sub map[string]json.RawMessage
			if json.Unmarshal(v, &sub) == nil {
				delete(sub, "attributes")
				m[k], _ = json.Marshal(sub)
			}
		}
	}
	*r = Record{}
	if v, ok := m["Id"]; ok {
		json.Unmarshal(v, &r.ID)
	}
	if v, ok := m["IsDeleted"]; ok {
		json.Unmarshal(v, &r.IsDeleted)
	}
	if v, ok := m["SystemModstamp"]; ok {
		var s string
		json.Unmarshal(v, &s)
		if s != "" {
			t, err := ParseTime(s)
			if err != nil {
				return err
			}
			r.SystemModstamp = t
		}
	}
	raw, err := json.Marshal(m)
	r.Raw = raw
	return err
}

type queryPage struct {
	TotalSize      int      `json:"totalSize"`
	Done           bool     `json:"done"`
	NextRecordsURL string   `json:"nextRecordsUrl"`
	Records        []Record `json:"records"`
}

// Query runs SOQL through REST query (all=false) or queryAll (all=true,
// which includes deleted rows) and follows nextRecordsUrl page by page.
// batchSize (200–2000, 0 for the default) is a hint Salesforce may ignore.
func (c *Client) Query(ctx context.Context, soql string, all bool, batchSize int, total *int) iter.Seq2[[]Record, error] {
	return func(yield func([]Record, error) bool) {
		path := "query"
		if all {
			path = "queryAll"
		}
		q := url.Values{"q": {soql}}
		var hdr map[string]string
		if batchSize > 0 {
			hdr = map[string]string{"Sforce-Query-Options": fmt.Sprintf("batchSize=%d", batchSize)}
		}
		first := true
		for {
			var p queryPage
			resp, err := c.send(ctx, request{method: http.MethodGet, path: path, query: q, headers: hdr})
			if err == nil {
				err = json.NewDecoder(resp.Body).Decode(&p)
				resp.Body.Close()
			}
			if err != nil {
				yield(nil, fmt.Errorf("query %q: %w", truncate(soql, 120), err))
				return
			}
			if first && total != nil {
				*total = p.TotalSize
			}
			first = false
			if !yield(p.Records, nil) {
				return
			}
			if p.Done || p.NextRecordsURL == "" {
				return
			}
			path, q = p.NextRecordsURL, nil
		}
	}
}

// Count runs a SELECT COUNT() query.
func (c *Client) Count(ctx context.Context, soql string) (int, error) {
	var p queryPage
	_, err := c.doJSON(ctx, http.MethodGet, "query", url.Values{"q": {soql}}, nil, &p, false)
	return p.TotalSize, err
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Quote renders s as a SOQL string literal.
func Quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\r", `\r`, "\t", `\t`, `"`, `\"`)
	return "'" + r.Replace(s) + "'"
}

// DateTime renders t as a SOQL datetime literal (UTC, Z).
func DateTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// SaveError is a record-level error.
type SaveError struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
}

// SaveResult is one sObject Collections result.
type SaveResult struct {
	ID      string      `json:"id"`
	Success bool        `json:"success"`
	Created bool        `json:"created"`
	Errors  []SaveError `json:"errors"`
}

// UpsertCollection upserts up to 200 records of one object keyed by
// extField; results are in request order.
func (c *Client) UpsertCollection(ctx context.Context, object, extField string, records []map[string]any) ([]SaveResult, error) {
	recs, err := collection(object, records)
	if err != nil {
		return nil, err
	}
	var out []SaveResult
	_, err = c.doJSONHeaders(ctx, http.MethodPatch, "composite/sobjects/"+url.PathEscape(object)+"/"+url.PathEscape(extField), nil,
		c.writeHeaders(object), map[string]any{"allOrNone": false, "records": recs}, &out, false)
	return out, err
}

// UpdateCollection updates up to 200 records by Id.
func (c *Client) UpdateCollection(ctx context.Context, object string, records []map[string]any) ([]SaveResult, error) {
	recs, err := collection(object, records)
	if err != nil {
		return nil, err
	}
	var out []SaveResult
	_, err = c.doJSONHeaders(ctx, http.MethodPatch, "composite/sobjects", nil, c.writeHeaders(object), map[string]any{"allOrNone": false, "records": recs}, &out, false)
	return out, err
}

// DeleteCollection deletes up to 200 records by Id (to the recycle bin);
// results are in request order.
func (c *Client) DeleteCollection(ctx context.Context, ids []string) ([]SaveResult, error) {
	if len(ids) > 200 {
		return nil, fmt.Errorf("salesforceapi: at most 200 records per collection call, got %d", len(ids))
	}
	var out []SaveResult
	q := url.Values{"ids": {strings.Join(ids, ",")}, "allOrNone": {"false"}}
	_, err := c.doJSON(ctx, http.MethodDelete, "composite/sobjects", q, nil, &out, false)
	return out, err
}

// collection gives each record the attributes.type Collections require.
func collection(object string, records []map[string]any) ([]map[string]any, error) {
	if len(records) > 200 {
		return nil, fmt.Errorf("salesforceapi: at most 200 records per collection call, got %d", len(records))
	}
	recs := make([]map[string]any, len(records))
	for i, r := range records {
		m := map[string]any{"attributes": map[string]string{"type": object}}
		for k, v := range r {
			m[k] = v
		}
		recs[i] = m
	}
	return recs, nil
}
