// Package intercom writes the load plan to Intercom through its REST API:
// contacts are updated by id or created (409 means "update the existing
// id"), companies are upserted by company_id (or updated by Intercom id when
// they have none). Writes run with bounded concurrency, paced by the
// client's reading of X-RateLimit headers.
package intercom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/internal/intercomapi"
	"github.com/ferry-sync/ferry/load"
)

// Sink writes to one Intercom workspace.
type Sink struct {
	Client      *intercomapi.Client
	Concurrency int
	Ledger      *load.Ledger
	Log         *slog.Logger
	// SearchLag is how long Intercom's search may take to show a new
	// conversation: an onboarding message whose answer was lost is looked
	// up only once it is this old, and until then neither sent nor
	// counted as sent.
	SearchLag time.Duration
	Now       func() time.Time

	goneKeys sync.Map // "object id" of the records this load found gone
}

const target = "intercom"

// body turns changes into an Intercom request body: custom_attributes.X
// nests under custom_attributes.
func body(r load.Record) (map[string]any, error) {
	out := map[string]any{}
	custom := map[string]any{}
	for _, c := range r.Fields {
		v, err := load.Typed(c)
		if err != nil {
			return nil, err
		}
		if name, ok := strings.CutPrefix(c.Field, "custom_attributes."); ok {
			custom[name] = v
			continue
		}
		out[c.Field] = v
	}
	if len(custom) > 0 {
		out["custom_attributes"] = custom
	}
	return out, nil
}

// EnsureAttributes creates the custom data attributes the mappings write,
// with the mapping's type, when they do not exist yet.
func (s *Sink) EnsureAttributes(ctx context.Context, model string, fields map[string]string) error {
	if len(fields) == 0 {
		return nil
	}
	have, err := s.Client.DataAttributes(ctx, model)
	if err != nil {
		return fmt.Errorf("list %s data attributes: %w", model, err)
	}
	exists := map[string]bool{}
	for _, a := range have {
		exists[a.Name] = true
	}
	for name, typ := range fields {
		if exists[name] {
			continue
		}
		dt := map[string]string{"string": "string", "integer": "integer", "number": "float", "boolean": "boolean"}[typ]
		if err := s.Client.CreateDataAttribute(ctx, model, name, dt); err != nil {
			return fmt.Errorf("create %s data attribute %s: %w", model, name, err)
		}
		s.Log.Info("created intercom data attribute", "model", model, "name", name, "type", dt)
	}
	return nil
}

// parallel runs fn over recs with at most s.Concurrency in flight and stops
// early when fn returns an error or ctx is done.
func (s *Sink) parallel(ctx context.Context, recs []load.Record, fn func(load.Record) error) error {
	_, err := s.dispatch(ctx, recs, fn)
	return err
}

// dispatch is parallel, also returning how many of recs (a prefix) were
// handed to fn; the others were never started.
func (s *Sink) dispatch(ctx context.Context, recs []load.Record, fn func(load.Record) error) (int, error) {
	n := max(s.Concurrency, 1)
	work := make(chan load.Record)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				if err := fn(r); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	sent := 0
	for _, r := range recs {
		mu.Lock()
		stop := first != nil
		mu.Unlock()
		if stop || ctx.Err() != nil {
			break
		}
		work <- r
		sent++
	}
	close(work)
	wg.Wait()
	if first != nil {
		return sent, first
	}
	return sent, ctx.Err()
}

// pendingBatch is how many creates are marked pending in the ledger with one
// append before they are sent: appending row by row cost a DuckDB commit
// per create, while a crash leaves at most this many to look up.
const pendingBatch = 256

// creating runs fn, which sends one non-idempotent create, over recs as
// parallel does, marking each batch of records pending in the ledger before
// any of them is sent. When the run stops inside a batch, the records it
// never started are recorded as unsent, so that the next run does not take
// them for creates whose answer was lost.
func (s *Sink) creating(ctx context.Context, recs []load.Record, fn func(load.Record) error) error {
	for start := 0; start < len(recs); start += pendingBatch {
		batch := recs[start:min(start+pendingBatch, len(recs))]
		if err := s.Ledger.Pending(ctx, target, batch, "create"); err != nil {
			return err
		}
		sent, err := s.dispatch(ctx, batch, fn)
		if err != nil {
			for _, r := range batch[sent:] {
				s.Ledger.Record(target, r, "create", "unsent", "", "not sent: the run stopped first")
			}
			return err
		}
	}
	return nil
}

// isFatal reports whether err must stop the run (bad credentials, lost
// context) rather than reject one record. Everything else — a 4xx refusal,
// or a 5xx or network failure that outlived the retries — rejects the record,
// which is listed and retried next run.
func isFatal(ctx context.Context, err error) bool {
	var e *intercomapi.Error
	return ctx.Err() != nil || errors.Is(err, intercomapi.ErrUnauthorized) || (errors.As(err, &e) && e.Status == 403)
}

// UpdateContacts applies attribute changes to existing contacts.
func (s *Sink) UpdateContacts(ctx context.Context, recs []load.Record, out *load.Outcome) error {
	return s.parallel(ctx, recs, func(r load.Record) error {
		b, err := body(r)
		if err == nil {
			_, err = s.Client.UpdateContact(ctx, r.Key, b)
		}
		return s.settle(ctx, r, "update", "", err, out)
	})
}

// settle records a write's outcome; it returns err only when the run must stop.
func (s *Sink) settle(ctx context.Context, r load.Record, op, resultID string, err error, out *load.Outcome) error {
	if err == nil {
		s.Ledger.Record(target, r, op, "done", resultID, "")
		out.Wrote(target, r.Object, op, 1)
		return nil
	}
	if isFatal(ctx, err) {
		return fmt.Errorf("intercom %s %s %s: %w", op, r.Object, r.Key, err)
	}
	if op == "create" && unconfirmed(err) {
		s.unresolved(r, err, out)
		return nil
	}
	if gone, err := s.gone(ctx, r, op, err, out); gone || err != nil {
		return err
	}
	s.Ledger.Record(target, r, op, "rejected", "", err.Error())
	out.Reject(load.Reject{Target: target, Object: r.Object, Key: r.Key, Op: op, Error: err.Error(), Payload: r.Payload()})
	return nil
}

// gone settles a write to a contact or company that Intercom no longer
// has (404 on the write; merged contacts answer 404 there too): the record
// is looked up to tell a merge (410, naming the surviving contact) from a
// delete or archive, recorded "gone" rather than rejected, and reported
// in out.Gone so the run records the delete.
func (s *Sink) gone(ctx context.Context, r load.Record, op string, werr error, out *load.Outcome) (bool, error) {
	code := map[string]string{"contacts": "not_found", "companies": "company_not_found"}[r.Object]
	if op == "create" || code == "" || !intercomapi.Gone(werr, code) {
		return false, nil
	}
	failed := s.Ledger.Now()
	key := r.Object + " " + r.Key
	if _, known := s.goneKeys.Load(key); known {
		s.Ledger.Record(target, r, op, "gone", "", "GONE: "+werr.Error())
		return true, nil
	}
	var gone bool
	var into string
	var err error
	if r.Object == "contacts" {
		gone, into, err = s.Client.ContactGone(ctx, r.Key)
	} else {
		gone, err = s.Client.CompanyGone(ctx, r.Key)
	}
	if err != nil {
		if isFatal(ctx, err) {
			return true, fmt.Errorf("intercom: look up %s %s: %w", r.Object, r.Key, err)
		}
		return false, nil // rejected as the write's own error
	}
	if !gone {
		return false, nil
	}
	msg := "GONE: " + werr.Error()
	if into != "" {
		msg += " (merged into " + into + ")"
	}
	s.Ledger.Record(target, r, op, "gone", "", msg)
	if _, known := s.goneKeys.LoadOrStore(key, true); known {
		return true, nil // found gone meanwhile by another write
	}
	out.Went(load.Gone{Target: target, Object: r.Object, ID: r.Key, Into: into, At: failed})
	return true, nil
}

// unconfirmed reports whether a failed create may have happened all the
// same: its answer never came (a dropped connection, a timeout) or came
// from a server or gateway in trouble (5xx), after Intercom may have
// committed it. Only a 4xx proves a create was not made.
func unconfirmed(err error) bool {
	var e *intercomapi.Error
	if errors.As(err, &e) {
		return e.Status >= 500
	}
	// A transport failure (the request may have arrived); an error before
	// sending (a body that cannot be encoded, a spent budget) is not one.
	var ue *url.Error
	return errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF)
}

// unresolved records a create that may or may not have happened as
// "unknown", which leaves its pending mark in force: the next run looks it
// up before sending anything (PendingCreates). It is listed with the
// run's rejects, since the run could not confirm it.
func (s *Sink) unresolved(r load.Record, err error, out *load.Outcome) {
	msg := "UNCONFIRMED: " + err.Error() + " (it may have been made; the next run looks for it before sending it again)"
	s.Ledger.Record(target, r, "create", "unknown", "", msg)
	out.Reject(load.Reject{Target: target, Object: r.Object, Key: r.Key, Op: "create", Error: msg, Payload: r.Payload()})
}

// UpdateCompanies updates companies by their Intercom id (PUT), never by
// company_id (POST /companies creates the company when none has it): a
// company deleted in Intercom answers 404, is recorded gone, and is not
// created again.
func (s *Sink) UpdateCompanies(ctx context.Context, recs []load.Record, out *load.Outcome) error {
	return s.parallel(ctx, recs, func(r load.Record) error {
		b, err := body(r)
		if err == nil {
			_, err = s.Client.UpdateCompany(ctx, r.Key, b)
		}
		return s.settle(ctx, r, "update", "", err, out)
	})
}

// tagBatch is how many contacts one tag request names.
const tagBatch = 100

// TagContacts sets contacts' tags: each record is a contact (r.Key) and
// each field a tag's name, valued true (tag) or false (untag). Contacts are
// tagged in batches per tag and action, through the documented tag
// endpoint, which creates the tag when needed; tagging is idempotent, so a
// repeated write is harmless. A contact is done when all its tags are.
func (s *Sink) TagContacts(ctx context.Context, recs []load.Record, out *load.Outcome) error {
	type action struct {
		tag   string
		untag bool
	}
	groups := map[action][]int{}
	var order []action
	for i, r := range recs {
		for _, c := range r.Fields {
			a := action{c.Field, c.Value == nil || *c.Value != "true"}
			if _, ok := groups[a]; !ok {
				order = append(order, a)
			}
			groups[a] = append(groups[a], i)
		}
	}
	failed := make([]error, len(recs))
	for _, a := range order {
		members := groups[a]
		for from := 0; from < len(members); from += tagBatch {
			batch := members[from:min(from+tagBatch, len(members))]
			ids := make([]string, len(batch))
			for j, i := range batch {
				ids[j] = recs[i].Key
			}
			if _, err := s.Client.TagContacts(ctx, a.tag, ids, a.untag); err != nil {
				if isFatal(ctx, err) {
					return fmt.Errorf("intercom tag %q: %w", a.tag, err)
				}
				for _, i := range batch {
					failed[i] = err
				}
			}
		}
	}
	for i, r := range recs {
		if err := s.settle(ctx, r, "tag", "", failed[i], out); err != nil {
			return err
		}
	}
	return nil
}

// UpsertCompanies creates or updates companies by company_id (r.Key):
// a repeated write finds the company the first made.
func (s *Sink) UpsertCompanies(ctx context.Context, recs []load.Record, out *load.Outcome) error {
	return s.parallel(ctx, recs, func(r load.Record) error {
		b, err := body(r)
		var id string
		if err == nil {
			b["company_id"] = r.Key
			var c intercomapi.Company
			c, err = s.Client.UpsertCompany(ctx, b)
			id = c.ID
		}
		return s.settle(ctx, r, "upsert", id, err, out)
	})
}

// CreateContacts creates a contact for each record (r.Key is the model's
// own key: a Salesforce Contact Id, say); the ledger records each new id
// under its key. A create that an earlier run sent without learning the
// answer is looked up by email first; a 409 conflict updates the existing
// contact instead.
func (s *Sink) CreateContacts(ctx context.Context, recs []load.Record, out *load.Outcome) error {
	pending, err := s.Ledger.PendingCreates(ctx, target, "contacts")
	if err != nil {
		return err
	}
	return s.creating(ctx, recs, func(r load.Record) error {
		b, err := body(r)
		if err != nil {
			return s.settle(ctx, r, "create", "", err, out)
		}
		email, _ := b["email"].(string)
		if _, ok := pending[r.Key]; ok && email != "" {
			if id, ok, err := s.findByEmail(ctx, email); err != nil {
				return s.settle(ctx, r, "create", "", err, out)
			} else if ok {
				s.Log.Info("intercom create from an interrupted run found", "contact", id)
				_, err := s.Client.UpdateContact(ctx, id, without(b, "role"))
				return s.settle(ctx, r, "create", id, err, out)
			}
		}
		c, err := s.Client.CreateContact(ctx, b)
		id := c.ID
		var conflict *intercomapi.ConflictError
		if errors.As(err, &conflict) {
			id = conflict.ExistingID
			s.Log.Info("intercom contact exists; updating it", "contact", id)
			_, err = s.Client.UpdateContact(ctx, id, without(b, "role"))
		}
		return s.settle(ctx, r, "create", id, err, out)
	})
}

func without(m map[string]any, key string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

func (s *Sink) findByEmail(ctx context.Context, email string) (string, bool, error) {
	for page, err := range s.Client.SearchContacts(ctx, intercomapi.Search{Query: intercomapi.Cmp("email", "=", email), PerPage: 5}, nil) {
		if err != nil {
			return "", false, err
		}
		for _, c := range page {
			if strings.EqualFold(strings.TrimSpace(c.Email), strings.TrimSpace(email)) {
				return c.ID, true, nil
			}
		}
		break
	}
	return "", false, nil
}

// Attach attaches contacts (r.Key, an Intercom id) to companies (the
// Intercom id in each of r's fields).
func (s *Sink) Attach(ctx context.Context, recs []load.Record, out *load.Outcome) error {
	return s.parallel(ctx, recs, func(r load.Record) error {
		var err error
		for _, c := range r.Fields {
			if c.Value == nil {
				continue
			}
			if err = s.Client.AttachCompany(ctx, r.Key, *c.Value); err != nil {
				// The company is the one gone: it is recorded so, and
				// the attachment is no longer wanted.
				if intercomapi.Gone(err, "company_not_found") {
					co := load.Record{Object: "companies", Key: *c.Value}
					if gone, gerr := s.gone(ctx, co, "attach", err, out); gone || gerr != nil {
						if gone {
							s.Ledger.Record(target, r, "attach", "gone", "", "GONE: company "+*c.Value+": "+err.Error())
						}
						return gerr
					}
				}
				break
			}
		}
		return s.settle(ctx, r, "attach", "", err, out)
	})
}

// SendMessages sends each message once. A message an earlier run marked
// pending but never confirmed (the process died around the call) is looked
// up first: if the conversation it opened exists, it counts as sent.
// Intercom's search may take SearchLag to show it, so until then the
// message is neither sent nor counted as sent.
func (s *Sink) SendMessages(ctx context.Context, recs []load.Record, out *load.Outcome) error {
	return s.once(ctx, recs, out, "messages", s.SearchLag,
		func(m map[string]string) (string, error) { return s.messageSent(ctx, m["contact"], m["body"]) },
		func(m map[string]string) (string, error) {
			return s.Client.SendMessage(ctx, m["admin"], m["contact"], m["message_type"], m["subject"], m["body"])
		})
}

// AddNotes adds each note to its conversation once: a record's fields are
// conversation_id, admin_id and body. A note an earlier run sent without
// learning the answer is looked for among the conversation's parts first
// (reading a conversation by id shows its parts at once).
func (s *Sink) AddNotes(ctx context.Context, recs []load.Record, out *load.Outcome) error {
	return s.once(ctx, recs, out, "conversation_notes", 0,
		func(m map[string]string) (string, error) {
			parts, err := s.Client.Parts(ctx, m["conversation_id"])
			if err != nil {
				return "", err
			}
			for _, p := range parts {
				if p.PartType == "note" && p.Author.ID == m["admin_id"] && plainText(p.Body) == plainText(m["body"]) {
					return p.ID, nil
				}
			}
			return "", nil
		},
		func(m map[string]string) (string, error) {
			return s.Client.AddNote(ctx, m["conversation_id"], m["admin_id"], m["body"])
		})
}

// once makes each of recs, a create Intercom cannot make idempotent (a
// message, a note), at most once:
//   - a record the ledger records as done is never sent again, whatever the
//     plan says: a load retried after one that failed part way reads the
//     same plan;
//   - each batch is marked pending in the ledger before it is sent;
//   - a record an earlier run marked pending without learning the answer is
//     looked for with find once it is lag old (until then it is neither
//     sent nor counted as sent); found, it is done with the id found.
//
// send and find get the record's fields by name.
func (s *Sink) once(ctx context.Context, recs []load.Record, out *load.Outcome, object string, lag time.Duration,
	find, send func(fields map[string]string) (string, error)) error {
	pending, err := s.Ledger.PendingCreates(ctx, target, object)
	if err != nil {
		return err
	}
	keys := make([]string, len(recs))
	for i, r := range recs {
		keys[i] = r.Key
	}
	done, err := s.Ledger.DoneCreates(ctx, target, object, keys)
	if err != nil {
		return err
	}
	if len(done) > 0 {
		s.Log.Info("records the ledger records as made are not made again", "object", object, "records", len(done))
		recs = slices.DeleteFunc(slices.Clone(recs), func(r load.Record) bool { return done[r.Key] })
	}
	return s.creating(ctx, recs, func(r load.Record) error {
		m := map[string]string{}
		for _, c := range r.Fields {
			if c.Value != nil {
				m[c.Field] = *c.Value
			}
		}
		if since, ok := pending[r.Key]; ok {
			if wait := lag - s.now().Sub(since); wait > 0 {
				s.Log.Info("an earlier run may have made this; looking for it once Intercom's search shows it", "object", object, "key", r.Key, "in", wait.Round(time.Second))
				out.Reject(load.Reject{Target: target, Object: r.Object, Key: r.Key, Op: "create", Payload: r.Payload(),
					Error: fmt.Sprintf("UNCONFIRMED: an earlier attempt's answer was lost; looked up once Intercom's search can show it (load.intercom.search_lag, in %s)", wait.Round(time.Second))})
				return nil
			}
			found, err := find(m)
			if err != nil {
				// Not knowing whether it was made, make nothing.
				if isFatal(ctx, err) {
					return fmt.Errorf("intercom look up %s %s: %w", object, r.Key, err)
				}
				s.unresolved(r, err, out)
				return nil
			}
			if found != "" {
				s.Log.Info("made by an interrupted run; not made again", "object", object, "key", r.Key, "id", found)
				return s.settle(ctx, r, "create", found, nil, out)
			}
		}
		id, err := send(m)
		return s.settle(ctx, r, "create", id, err, out)
	})
}

// messageSent finds an admin-initiated conversation with contact whose
// opening message has this body.
func (s *Sink) messageSent(ctx context.Context, contact, body string) (string, error) {
	for page, err := range s.Client.SearchConversations(ctx, intercomapi.Cmp("contact_ids", "=", contact), 150, nil) {
		if err != nil {
			return "", err
		}
		for _, c := range page {
			var v struct {
				Source struct {
					DeliveredAs string `json:"delivered_as"`
					Body        string `json:"body"`
				} `json:"source"`
			}
			if json.Unmarshal(c.Raw, &v) == nil && v.Source.DeliveredAs == "admin_initiated" && plainText(v.Source.Body) == plainText(body) {
				return c.ID, nil
			}
		}
	}
	return "", nil
}

func (s *Sink) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

var tagRe = regexp.MustCompile(`<[^>]*>`)

// plainText is a message body as its reader sees it: Intercom may keep
// the body it was sent as HTML (<p>…</p>), so bodies are compared without
// tags, entities or runs of white space.
func plainText(s string) string {
	return strings.Join(strings.Fields(html.UnescapeString(tagRe.ReplaceAllString(s, " "))), " ")
}
