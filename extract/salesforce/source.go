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
}

var _ extract.Source = (*Source)(nil)

// System is "salesforce".
func (s *Source) System() string { return "salesforce" }

// Object is the sObject name.
func (s *Source) Object() string { return s.Name }

// Requests is the client's request count.
func (s *Source) Requests() int { return s.Client.Calls() }

// Fields builds the SELECT list from describe: every scalar field (compound
// address/location and base64 fields cannot be queried in bulk and are
// skipped) plus the extra paths, which are checked against describe.
func (s *Source) Fields(ctx context.Context) ([]string, error) {
	d, err := s.Client.Describe(ctx, s.Name)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range d.Fields {
		switch f.Type {
		case "address", "location", "base64", "complexvalue":
			continue
		}
		out = append(out, f.Name)
	}
	if d.Field("SystemModstamp") == nil || !d.Field("SystemModstamp").Filterable {
		return nil, fmt.Errorf("%s has no filterable SystemModstamp to extract incrementally", s.Name)
	}
	for _, x := range s.Extra {
		rel, field, ok := strings.Cut(x, ".")
		if !ok {
			if d.Field(x) == nil {
				return nil, fmt.Errorf("field %s not found on %s", x, s.Name)
			}
			continue
		}
		found := false
		for _, f := range d.Fields {
			if strings.EqualFold(f.RelationshipName, rel) && len(f.ReferenceTo) > 0 {
				pd, err := s.Client.Describe(ctx, f.ReferenceTo[0])
				if err != nil {
					return nil, err
				}
				if pd.Field(field) == nil {
					return nil, fmt.Errorf("field %s not found on %s (via %s.%s)", field, f.ReferenceTo[0], s.Name, rel)
				}
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("relationship %s not found on %s", rel, s.Name)
		}
		out = append(out, x)
	}
	return out, nil
}

// SOQL builds the window query.
func SOQL(object string, fields []string, w extract.Window) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT %s FROM %s", strings.Join(fields, ", "), object)
	if !w.Lower.IsZero() {
		fmt.Fprintf(&b, " WHERE SystemModstamp >= %s", salesforceapi.DateTime(w.Lower))
	}
	b.WriteString(" ORDER BY SystemModstamp ASC, Id ASC")
	return b.String()
}

// Extract yields pages of changed rows, deleted ones included.
func (s *Source) Extract(ctx context.Context, w extract.Window, total *int) iter.Seq2[[]extract.Row, error] {
	return func(yield func([]extract.Row, error) bool) {
		fields, err := s.Fields(ctx)
		if err != nil {
			yield(nil, err)
			return
		}
		for page, err := range s.Client.Query(ctx, SOQL(s.Name, fields, w), true, 2000, total) {
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
