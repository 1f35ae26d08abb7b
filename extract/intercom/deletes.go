package intercom

import (
	"context"
	"fmt"
	"iter"

	"github.com/ferry-sync/ferry/extract"
)

var _ extract.Sweeper = (*Source)(nil)

// Sweepable is true for contacts and companies, the objects whose deletes
// Intercom's change feeds never show (search and scroll simply stop
// returning them).
func (s *Source) Sweepable() bool { return s.Name == "contacts" || s.Name == "companies" }

// LiveIDs lists every contact (GET /contacts) or company (the scroll).
func (s *Source) LiveIDs(ctx context.Context) iter.Seq2[[]string, error] {
	if s.Name == "contacts" {
		return s.Client.ContactIDs(ctx)
	}
	return func(yield func([]string, error) bool) {
		for page, err := range s.Client.ScrollCompanies(ctx) {
			if err != nil {
				yield(nil, err)
				return
			}
			ids := make([]string, len(page))
			for i, c := range page {
				ids[i] = c.ID
			}
			if !yield(ids, nil) {
				return
			}
		}
	}
}

// Resolve fetches each id: 404 means deleted or archived, 410 merged (into
// the contact its Link header names). A record that answers is still there
// (a company no longer attached to any contact drops out of the scroll but
// is not deleted).
func (s *Source) Resolve(ctx context.Context, ids []string) ([]extract.Gone, error) {
	var out []extract.Gone
	for _, id := range ids {
		var gone bool
		var into string
		var err error
		if s.Name == "contacts" {
			gone, into, err = s.Client.ContactGone(ctx, id)
		} else {
			gone, err = s.Client.CompanyGone(ctx, id)
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", s.Name, id, err)
		}
		if gone {
			out = append(out, extract.Gone{ID: id, Into: into})
		}
	}
	return out, nil
}
