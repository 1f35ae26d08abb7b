package intercomapi

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

// ContactIDs pages through GET /contacts, 150 at a time, yielding the ids
// of every contact the workspace lists: deleted, archived and merged
// contacts are not listed.
func (c *Client) ContactIDs(ctx context.Context) iter.Seq2[[]string, error] {
	return func(yield func([]string, error) bool) {
		after := ""
		for {
			q := url.Values{"per_page": {strconv.Itoa(150)}}
			if after != "" {
				q.Set("starting_after", after)
			}
			var p page[struct {
				ID string `json:"id"`
			}]
			if err := c.do(ctx, http.MethodGet, "/contacts", q, nil, &p); err != nil {
				yield(nil, fmt.Errorf("list contacts: %w", err))
				return
			}
			ids := make([]string, len(p.Data))
			for i, d := range p.Data {
				ids[i] = d.ID
			}
			if !yield(ids, nil) {
				return
			}
			if p.Pages == nil || p.Pages.Next == nil || p.Pages.Next.StartingAfter == "" || len(p.Data) == 0 {
				return
			}
			after = p.Pages.Next.StartingAfter
		}
	}
}

// ContactGone looks a contact up by id: gone when Intercom answers 404
// (deleted or archived: the API does not tell them apart) or 410 (merged;
// into is the surviving contact).
func (c *Client) ContactGone(ctx context.Context, id string) (gone bool, into string, err error) {
	err = c.do(ctx, http.MethodGet, "/contacts/"+url.PathEscape(id), nil, nil, nil)
	return goneAnswer(err)
}

// CompanyGone looks a company up by its Intercom id: gone on 404.
func (c *Client) CompanyGone(ctx context.Context, id string) (bool, error) {
	gone, _, err := goneAnswer(c.do(ctx, http.MethodGet, "/companies/"+url.PathEscape(id), nil, nil, nil))
	return gone, err
}

// IsGone reports whether a lookup's error is Intercom saying the record is
// not there (404) or merged away (410).
func IsGone(err error) bool {
	gone, _, rest := goneAnswer(err)
	return gone && rest == nil
}

// goneAnswer reads a lookup's error: none (the record is there), 404, 410
// with its canonical contact, or a real error.
func goneAnswer(err error) (bool, string, error) {
	var e *Error
	switch {
	case err == nil:
		return false, "", nil
	case errors.As(err, &e) && e.Status == 404:
		return true, "", nil
	case errors.As(err, &e) && e.Status == 410:
		return true, e.Canonical, nil
	}
	return false, "", err
}

// Gone reports whether err is Intercom saying the record a write named is
// not there: a 404 with one of codes (a write naming a contact and a
// company answers company_not_found when the company is the one missing),
// or a 410 (a merged contact).
func Gone(err error, codes ...string) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Status == 410 || e.Status == 404 && slices.Contains(codes, e.Code)
}
