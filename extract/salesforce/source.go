// Package salesforce extracts Salesforce objects through REST queryAll, so
// deleted rows (IsDeleted) arrive as tombstones.
//
// Boundary safety: rows are read from watermark − lookback on (inclusive)
// in (SystemModstamp, Id) order. SystemModstamp has one-second resolution
// and many rows can share it, so the lower bound is inclusive and re-read
// rows are removed downstream; the lookback also covers transactions that
// commit with an older stamp. Rows newer than the window's upper bound
// (now − lag) are landed too, but the watermark never moves past it.
package salesforce

import (
	"context"
	"fmt"
	"iter"
	"strings"

	"github.com/ferry-sync/ferry/extract"
	"github.com/ferry-sync/ferry/internal/salesforceapi"
)

// Source extracts one sObject.
type Source struct {
	Client *salesforceapi.Client
	Name   string
	// Extra are fields to select beyond describe's plain fields, such as
	// parent relationship paths (Owner.Email).
	Extra []string

	fields []string // the SELECT list, set by Schema
}

var _ extract.Source = (*Source)(nil)

// System is "salesforce".
func (s *Source) System() string { return "salesforce" }

// Object is the sObject name.
func (s *Source) Object() string { return s.Name }

// Requests is the client's request count.
func (s *Source) Requests() int { return s.Client.Calls() }

// Schema describes the object once and returns its typed columns: every
// scalar field (compound address/location and base64 fields cannot be
// queried in bulk and are skipped) plus the extra relationship paths, typed
// from the parent's describe. Extract selects exactly these fields.
func (s *Source) Schema(ctx context.Context) ([]extract.Column, error) {
	d, err := s.Client.Describe(ctx, s.Name)
	if err != nil {
		return nil, err
	}
	if d.Field("SystemModstamp") == nil || !d.Field("SystemModstamp").Filterable {
		return nil, fmt.Errorf("%s has no filterable SystemModstamp to extract incrementally", s.Name)
	}
	var cols []extract.Column
	s.fields = s.fields[:0]
	for _, f := range d.Fields {
		t, ok := columnType(f.Type)
		if !ok {
			continue
		}
		s.fields = append(s.fields, f.Name)
		cols = append(cols, extract.Column{Name: f.Name, Type: t, Path: []string{f.Name}})
	}
	for _, x := range s.Extra {
		rel, field, ok := strings.Cut(x, ".")
		if !ok {
			if d.Field(x) == nil {
				return nil, fmt.Errorf("field %s not found on %s", x, s.Name)
			}
			continue
		}
		var pf *salesforceapi.Field
		for _, f := range d.Fields {
			if strings.EqualFold(f.RelationshipName, rel) && len(f.ReferenceTo) > 0 {
				pd, err := s.Client.Describe(ctx, f.ReferenceTo[0])
				if err != nil {
					return nil, err
				}
				if pf = pd.Field(field); pf == nil {
					return nil, fmt.Errorf("field %s not found on %s (via %s.%s)", field, f.ReferenceTo[0], s.Name, rel)
				}
				rel = f.RelationshipName
				field = pf.Name
				break
			}
		}
		if pf == nil {
			return nil, fmt.Errorf("relationship %s not found on %s", rel, s.Name)
		}
		t, ok := columnType(pf.Type)
		if !ok {
			t = extract.JSON
		}
		s.fields = append(s.fields, rel+"."+field)
		cols = append(cols, extract.Column{Name: rel + "." + field, Type: t, Path: []string{rel, field}})
	}
	return cols, nil
}

// columnType maps a describe field type to a column type; compound and
// binary fields are not extracted.
func columnType(soap string) (extract.Type, bool) {
	switch soap {
	case "address", "location", "base64", "complexvalue":
		return "", false
	case "boolean":
		return extract.Boolean, true
	case "int":
		return extract.Integer, true
	case "double", "currency", "percent":
		return extract.Number, true
	case "date":
		return extract.Date, true
	case "datetime":
		return extract.Timestamp, true
	}
	// id, reference, string, textarea, picklist, multipicklist, email,
	// phone, url, combobox, encryptedstring, time: text.
	return extract.String, true
}

// SOQL builds the window query.
func SOQL(object string, fields []string, w extract.Window) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT %s FROM %s", strings.Join(fields, ", "), object)
	switch {
	case len(w.IDs) > 0:
		quoted := make([]string, len(w.IDs))
		for i, id := range w.IDs {
			quoted[i] = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(id) + "'"
		}
		fmt.Fprintf(&b, " WHERE Id IN (%s)", strings.Join(quoted, ", "))
	case !w.Lower.IsZero():
		fmt.Fprintf(&b, " WHERE SystemModstamp >= %s", salesforceapi.DateTime(w.Lower))
	}
	b.WriteString(" ORDER BY SystemModstamp ASC, Id ASC")
	return b.String()
}

// Extract yields pages of changed rows, deleted ones included.
func (s *Source) Extract(ctx context.Context, w extract.Window, total *int) iter.Seq2[[]extract.Row, error] {
	return func(yield func([]extract.Row, error) bool) {
		if len(s.fields) == 0 {
			if _, err := s.Schema(ctx); err != nil {
				yield(nil, err)
				return
			}
		}
		// Records named by id go in lists of idsPerQuery, which keeps
		// the query's URL under Salesforce's 16,384 bytes (as the load's
		// read-back of created records does, readBackPerList).
		windows := []extract.Window{w}
		if len(w.IDs) > idsPerQuery {
			windows = nil
			for start := 0; start < len(w.IDs); start += idsPerQuery {
				part := w
				part.IDs = w.IDs[start:min(start+idsPerQuery, len(w.IDs))]
				windows = append(windows, part)
			}
		}
		for _, w := range windows {
			for page, err := range s.Client.Query(ctx, SOQL(s.Name, s.fields, w), true, 2000, total) {
				if err != nil {
					yield(nil, err)
					return
				}
				rows := make([]extract.Row, len(page))
				for i, r := range page {
					rows[i] = extract.Row{ID: r.ID, UpdatedAt: r.SystemModstamp, Deleted: r.IsDeleted, Record: r.Raw}
				}
				if !yield(rows, nil) {
					return
				}
			}
		}
	}
}

// idsPerQuery bounds the Id IN (...) list of one query.
const idsPerQuery = 200

// Targeted: every Salesforce object can be read by id.
func (s *Source) Targeted() bool { return true }
