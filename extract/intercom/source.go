// Package intercom extracts Intercom contacts and companies.
//
// Contacts come from contact search, which on stable API versions compares
// dates by calendar day in the workspace's timezone: the query asks for
// updated_at on or after the window's first day, newest first, and the scan
// stops at the first record older than the window's lower bound (to the
// second); rows are filtered client-side to the exact second, so nothing at
// a boundary is missed.
// Companies have no server-side change filter on stable versions: the
// source scrolls them all and keeps those changed in the window.
package intercom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/extract"
	"github.com/ferry-sync/ferry/internal/intercomapi"
)

// Source extracts one Intercom object ("contacts" or "companies").
type Source struct {
	Client *intercomapi.Client
	Name   string
	// People lists the contacts whose data events are read (object
	// "events"): Intercom reads events per contact only, so a source of
	// events costs a request per contact it is given.
	People func(ctx context.Context) ([]string, error)
}

var _ extract.Source = (*Source)(nil)

// System is "intercom".
func (s *Source) System() string { return "intercom" }

// Object is the object name.
func (s *Source) Object() string { return s.Name }

// Requests is the client's request count.
func (s *Source) Requests() int { return s.Client.Calls() }

// inWindow keeps rows changed at or after the window's lower bound, to the
// exact second. Rows past the upper bound are kept too: extract.Run lands
// them but does not advance the watermark past the bound.
func inWindow(ts int64, w extract.Window) bool {
	return w.Lower.IsZero() || !time.Unix(ts, 0).Before(w.Lower.Truncate(time.Second))
}

// Extract yields pages of changed rows.
func (s *Source) Extract(ctx context.Context, w extract.Window, total *int) iter.Seq2[[]extract.Row, error] {
	if len(w.IDs) > 0 {
		return s.byID(ctx, w)
	}
	switch s.Name {
	case "companies":
		return s.companies(ctx, w)
	case "conversations":
		return s.conversations(ctx, w, total)
	case "admins":
		return s.admins(ctx)
	case "tags":
		return s.tags(ctx)
	case "events":
		return s.events(ctx, total)
	}
	return s.contacts(ctx, w, total)
}

// eventsPage is how many contacts' event summaries make a page of rows.
const eventsPage = 100

// events reads the event summaries of each contact People lists, a
// request per contact (fetchers at a time), whatever the window: a
// contact's first event of a name may be older than any window, and the
// summary is one small answer. Rows are a contact's names, changed when
// their last event is; extract.Run drops those current state holds.
func (s *Source) events(ctx context.Context, total *int) iter.Seq2[[]extract.Row, error] {
	return func(yield func([]extract.Row, error) bool) {
		if s.People == nil {
			return
		}
		people, err := s.People(ctx)
		if err != nil {
			yield(nil, fmt.Errorf("the contacts whose events are read: %w", err))
			return
		}
		if total != nil {
			*total = len(people)
		}
		for start := 0; start < len(people); start += eventsPage {
			batch := people[start:min(start+eventsPage, len(people))]
			found := make([][]extract.Row, len(batch))
			errs := make([]error, len(batch))
			sem := make(chan struct{}, fetchers)
			var wg sync.WaitGroup
			for i, id := range batch {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer func() { <-sem; wg.Done() }()
					sums, err := s.Client.EventSummaries(ctx, id)
					if err != nil {
						errs[i] = fmt.Errorf("events of contact %s: %w", id, err)
						return
					}
					for _, e := range sums {
						// RFC 3339, with milliseconds ("2014-01-16T23:12:21.000+00:00").
						first, ferr := time.Parse(time.RFC3339, strings.TrimSpace(e.First))
						last, lerr := time.Parse(time.RFC3339, strings.TrimSpace(e.Last))
						if ferr != nil || lerr != nil || e.Name == "" {
							errs[i] = fmt.Errorf("events of contact %s: summary %q has first %q and last %q, want RFC 3339 times", id, e.Name, e.First, e.Last)
							return
						}
						b, _ := json.Marshal(map[string]any{"contact_id": id, "event_name": e.Name, "first_at": first.Unix(), "last_at": last.Unix(), "count": e.Count})
						found[i] = append(found[i], extract.Row{ID: id + ":" + e.Name, UpdatedAt: last.UTC(), Record: b})
					}
				}()
			}
			wg.Wait()
			var rows []extract.Row
			for i := range batch {
				if errs[i] != nil {
					yield(nil, errs[i])
					return
				}
				rows = append(rows, found[i]...)
			}
			if !yield(rows, nil) {
				return
			}
		}
	}
}

// conversations uses conversation search, which filters to the exact
// second ("> lower − 1s" is "at or after lower"), and fetches the full
// conversation, parts included, only for conversations that changed.
func (s *Source) conversations(ctx context.Context, w extract.Window, total *int) iter.Seq2[[]extract.Row, error] {
	return func(yield func([]extract.Row, error) bool) {
		lower := int64(0)
		if !w.Lower.IsZero() {
			lower = w.Lower.Unix() - 1
		}
		for page, err := range s.Client.SearchConversations(ctx, intercomapi.Cmp("updated_at", ">", lower), 150, total) {
			if err != nil {
				yield(nil, err)
				return
			}
			rows, err := s.withParts(ctx, page, w)
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(rows, nil) {
				return
			}
		}
	}
}

// fetchers bounds concurrent conversation fetches; the client paces them
// by the rate-limit headers.
const fetchers = 4

// withParts fetches each conversation of page in full, keeping page order.
// A conversation current state already holds at this updated_at is not
// fetched: its row carries no record, and extract.Run drops it.
func (s *Source) withParts(ctx context.Context, page []intercomapi.Conversation, w extract.Window) ([]extract.Row, error) {
	rows := make([]extract.Row, len(page))
	errs := make([]error, len(page))
	sem := make(chan struct{}, fetchers)
	var wg sync.WaitGroup
	for i, c := range page {
		if at := time.Unix(c.UpdatedAt, 0).UTC(); w.Known(c.ID, at, false) {
			rows[i] = extract.Row{ID: c.ID, UpdatedAt: at}
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			full, err := s.Client.GetConversation(ctx, c.ID)
			if err != nil {
				errs[i] = fmt.Errorf("conversation %s: %w", c.ID, err)
				return
			}
			rows[i] = extract.Row{ID: c.ID, UpdatedAt: time.Unix(c.UpdatedAt, 0).UTC(), Record: full}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// admins and tags are small reference lists, read whole every run; they
// carry no change time, so they never set a watermark.
func (s *Source) admins(ctx context.Context) iter.Seq2[[]extract.Row, error] {
	return func(yield func([]extract.Row, error) bool) {
		list, err := s.Client.Admins(ctx)
		if err != nil {
			yield(nil, err)
			return
		}
		rows := make([]extract.Row, len(list))
		for i, a := range list {
			b, _ := json.Marshal(a)
			rows[i] = extract.Row{ID: a.ID, Record: b}
		}
		yield(rows, nil)
	}
}

func (s *Source) tags(ctx context.Context) iter.Seq2[[]extract.Row, error] {
	return func(yield func([]extract.Row, error) bool) {
		list, err := s.Client.Tags(ctx)
		if err != nil {
			yield(nil, err)
			return
		}
		rows := make([]extract.Row, len(list))
		for i, t := range list {
			b, _ := json.Marshal(t)
			rows[i] = extract.Row{ID: t.ID, Record: b}
		}
		yield(rows, nil)
	}
}

// contacts pages contact search newest first and stops at the first page
// that reaches past the window's lower bound.
//
// The query can only say "updated on or after lower's day" (§4.1 of the
// API notes: dates compare by calendar day), but the sort uses full-second
// values. So, sorted descending, once a record older than lower (to the
// second) appears, every record after it is older too and the scan can
// stop: a converged run reads about one page instead of everything
// changed that day. Records at exactly lower's second sort before any
// older one, so ties at the bound are all read.
//
// A record updated while the scan pages moves to the front, behind the
// cursor, and this scan does not see it (neither its old nor its new
// version). Nothing is lost: its new updated_at is after the run started,
// hence after the window's upper bound, and extract.Run never advances the
// watermark past that bound; the next run's lower bound (at most the
// watermark, minus the lookback) therefore still covers the new updated_at
// and reads the record in its latest state, which includes the change this
// scan missed.
func (s *Source) contacts(ctx context.Context, w extract.Window, total *int) iter.Seq2[[]extract.Row, error] {
	return func(yield func([]extract.Row, error) bool) {
		lower := w.Lower.Unix()
		if w.Lower.IsZero() {
			lower = 0
		} else {
			// The API's total counts everything changed since lower's
			// day, not what the scan will read: no estimate is better.
			total = nil
		}
		// "> lower" starts the day after lower's day; "= lower" covers that
		// day itself. Together: everything from lower's day on.
		q := intercomapi.Or(
			intercomapi.Cmp("updated_at", ">", lower),
			intercomapi.Cmp("updated_at", "=", lower),
		)
		search := intercomapi.Search{Query: q, PerPage: 150, SortField: "updated_at", Ascending: false}
		for page, err := range s.Client.SearchContacts(ctx, search, total) {
			if err != nil {
				yield(nil, err)
				return
			}
			rows := keep(page, w, func(c intercomapi.Contact) (string, int64, []byte) { return c.ID, c.UpdatedAt, c.Raw })
			// The page's last record is its oldest: if it is before the
			// window, so is everything on later pages.
			done := len(page) > 0 && !inWindow(page[len(page)-1].UpdatedAt, w)
			if !yield(rows, nil) || done {
				return
			}
		}
	}
}

// keep turns the page's objects changed within w into rows.
func keep[T any](page []T, w extract.Window, fields func(T) (id string, updatedAt int64, raw []byte)) []extract.Row {
	rows := make([]extract.Row, 0, len(page))
	for _, o := range page {
		id, ts, raw := fields(o)
		if inWindow(ts, w) {
			rows = append(rows, extract.Row{ID: id, UpdatedAt: time.Unix(ts, 0).UTC(), Record: raw})
		}
	}
	return rows
}

func (s *Source) companies(ctx context.Context, w extract.Window) iter.Seq2[[]extract.Row, error] {
	return func(yield func([]extract.Row, error) bool) {
		for page, err := range s.Client.ScrollCompanies(ctx) {
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(keep(page, w, func(c intercomapi.Company) (string, int64, []byte) { return c.ID, c.UpdatedAt, c.Raw }), nil) {
				return
			}
		}
	}
}

// Targeted: contacts and conversations can be read by id.
func (s *Source) Targeted() bool { return s.Name == "contacts" || s.Name == "conversations" }

// idsPerPage is how many records named by id are fetched before their
// rows are yielded.
const idsPerPage = 150

// byID reads the records w.IDs names, one GET each (fetchers at a time):
// Intercom's search lags minutes behind writes, so a contact a webhook
// just announced may not be found by search yet, while GET shows it. A
// record Intercom answers 404 or 410 for is left out: deletes are the
// schedule's to find.
func (s *Source) byID(ctx context.Context, w extract.Window) iter.Seq2[[]extract.Row, error] {
	return func(yield func([]extract.Row, error) bool) {
		for start := 0; start < len(w.IDs); start += idsPerPage {
			ids := w.IDs[start:min(start+idsPerPage, len(w.IDs))]
			rows := make([]extract.Row, len(ids))
			errs := make([]error, len(ids))
			sem := make(chan struct{}, fetchers)
			var wg sync.WaitGroup
			for i, id := range ids {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer func() { <-sem; wg.Done() }()
					rows[i], errs[i] = s.get(ctx, id)
				}()
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				yield(nil, err)
				return
			}
			kept := rows[:0]
			for _, r := range rows {
				if r.ID != "" {
					kept = append(kept, r)
				}
			}
			if !yield(kept, nil) {
				return
			}
		}
	}
}

// get fetches one contact or conversation by id; a zero Row when it is
// gone.
func (s *Source) get(ctx context.Context, id string) (extract.Row, error) {
	if s.Name == "contacts" {
		c, err := s.Client.GetContact(ctx, id)
		if intercomapi.IsGone(err) {
			return extract.Row{}, nil
		}
		if err != nil {
			return extract.Row{}, fmt.Errorf("contact %s: %w", id, err)
		}
		return extract.Row{ID: c.ID, UpdatedAt: time.Unix(c.UpdatedAt, 0).UTC(), Record: c.Raw}, nil
	}
	raw, err := s.Client.GetConversation(ctx, id)
	if intercomapi.IsGone(err) {
		return extract.Row{}, nil
	}
	if err != nil {
		return extract.Row{}, fmt.Errorf("conversation %s: %w", id, err)
	}
	var head struct {
		ID        string `json:"id"`
		UpdatedAt int64  `json:"updated_at"`
	}
	if err := json.Unmarshal(raw, &head); err != nil || head.ID == "" {
		return extract.Row{}, fmt.Errorf("conversation %s: not a conversation: %v", id, err)
	}
	return extract.Row{ID: head.ID, UpdatedAt: time.Unix(head.UpdatedAt, 0).UTC(), Record: raw}, nil
}
