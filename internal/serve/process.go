package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"
)

// Batch is a micro-sync of the records some notifications name: the
// caller runs extraction (of those records only), the models and the
// syncs, and reports the records written. It must be safe to run the
// same batch again after a crash: the ledger and the syncs' keys make a
// repeated write a no-op, as for scheduled runs.
type Batch func(ctx context.Context, w Work) (written int, err error)

// Work is what a batch of notifications asks for: the records to read
// again ("intercom.contacts" → ids), and the people a teammate asked a
// Salesforce Lead for.
type Work struct {
	Targets map[string][]string
	Leads   []LeadRequest
}

// LeadRequest is a teammate's "Create Lead" for a person (the inbox app).
type LeadRequest struct {
	ContactID, AdminID string
	At                 time.Time
}

// LeadTopic is the topic of the requests ferry serve stores itself for
// its inbox app's "Create Lead": kept in the inbox like a notification,
// they are synced, retried and deduplicated the same way.
const LeadTopic = "ferry.lead.requested"

// RequestLead stores a request for contact's Salesforce Lead, made by
// admin, to be synced by the next batch.
func (in *Inbox) RequestLead(contact, admin string, now time.Time) error {
	item, err := json.Marshal(map[string]string{"type": "contact", "id": contact, "admin_id": admin})
	if err != nil {
		return err
	}
	n := Notification{Type: "notification_event", ID: fmt.Sprintf("lead_%d", now.UnixNano()), Topic: LeadTopic, CreatedAt: now.Unix()}
	n.Data.Type = "notification_event_data"
	n.Data.Item = item
	raw, err := json.Marshal(n)
	if err != nil {
		return err
	}
	_, err = in.Add(n, raw)
	return err
}

// Processor syncs the inbox's notifications in small batches.
type Processor struct {
	Inbox   *Inbox
	Run     Batch
	Max     int           // notifications per batch
	Wait    time.Duration // how long a first notification waits for others to batch with
	Retry   time.Duration // after a failed batch
	Metrics *Metrics
	Log     *slog.Logger
	// Idle, when set, is called whenever the inbox has been emptied or
	// found empty (after batches, and on the loop's tick), between
	// batches: work that must not run beside one (the inbox app's panel
	// refresh, which reads the warehouse) goes there.
	Idle func(ctx context.Context)
	// Attempts is how many times a notification synced alone may fail
	// before it is moved to the inbox's failed/ (the schedule syncs its
	// record); default 5.
	Attempts int
	wake     chan struct{}
	// After a failed batch the next ones are halved (limit), down to one
	// notification, so one that cannot be synced does not hold back the
	// others; failures counts each one's failures alone.
	limit    int
	failures map[string]int
}

// Wake tells the processor a notification arrived.
func (p *Processor) Wake() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Loop processes batches until ctx ends. A batch in flight when ctx ends
// is abandoned by the run (nothing half-committed), and its notifications
// stay pending for the next start.
func (p *Processor) Loop(ctx context.Context) {
	if p.wake == nil {
		p.wake = make(chan struct{}, 1)
	}
	tick := time.NewTicker(5 * time.Second) // catches anything a wake missed
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-tick.C:
		}
		failed := 0 // batches failed in a row
		for ctx.Err() == nil {
			done, err := p.Once(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				// A data dir held by a scheduled run is no one's fault:
				// tried again soon. Other failures back off, doubling.
				wait := 500 * time.Millisecond
				if !errors.Is(err, ErrBusy) {
					failed++
					wait = min(p.Retry<<min(failed-1, 5), time.Minute)
					p.Log.Warn("webhook batch failed; its notifications stay pending", "err", err, "retry_in", wait)
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
				continue
			}
			failed = 0
			if done == 0 {
				if p.Idle != nil {
					p.Idle(ctx)
				}
				break
			}
		}
	}
}

// Once syncs one batch of pending notifications, if any, and returns how
// many it finished.
func (p *Processor) Once(ctx context.Context) (int, error) {
	max := p.Max
	if p.limit > 0 {
		max = p.limit
	}
	ps, err := p.Inbox.Pending(max)
	if err != nil || len(ps) == 0 {
		return 0, err
	}
	if p.Wait > 0 && len(ps) < max {
		// A notification seldom comes alone (a reply, then a close):
		// give the others a moment to join the batch.
		if wait := p.Wait - time.Since(ps[len(ps)-1].ReceivedAt); wait > 0 {
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(wait):
			}
			if ps, err = p.Inbox.Pending(max); err != nil {
				return 0, err
			}
		}
	}
	work, ids := Targets(ps)
	targets := work.Targets
	start := time.Now()
	written := 0
	if len(targets) > 0 {
		written, err = p.Run(ctx, work)
		if err != nil {
			if errors.Is(err, ErrBusy) || ctx.Err() != nil {
				return 0, err
			}
			p.Metrics.add(&p.Metrics.Failed, 1)
			if err := p.failedBatch(ids, err); err != nil {
				return 0, err
			}
			return len(ids), nil // abandoned: the others go on
		}
	}
	p.limit = 0
	for _, id := range ids {
		delete(p.failures, id)
	}
	if err := p.Inbox.Done(ids); err != nil {
		return 0, err
	}
	p.Metrics.add(&p.Metrics.Batches, 1)
	p.Metrics.add(&p.Metrics.Processed, int64(len(ids)))
	p.Metrics.add(&p.Metrics.Writes, int64(written))
	p.Log.Info("webhook batch synced", "notifications", len(ids), "targets", targetCount(targets), "written", written, "elapsed", time.Since(start).Round(time.Millisecond))
	return len(ids), nil
}

// failedBatch halves the next batch after a failure; a notification that
// fails alone Attempts times is moved to failed/ and counted, and the
// others go on.
func (p *Processor) failedBatch(ids []string, err error) error {
	if len(ids) > 1 {
		p.limit = max(1, len(ids)/2)
		return err
	}
	if p.failures == nil {
		p.failures = map[string]int{}
	}
	p.failures[ids[0]]++
	attempts := p.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	if p.failures[ids[0]] < attempts {
		return err
	}
	delete(p.failures, ids[0])
	if ferr := p.Inbox.Fail(ids[0]); ferr != nil {
		return errors.Join(err, ferr)
	}
	p.Metrics.add(&p.Metrics.Abandoned, 1)
	p.Log.Error("webhook notification abandoned after failing alone; the scheduled runs sync its record", "id", ids[0], "attempts", attempts, "err", err)
	p.limit = 0
	return nil
}

// Targets turns notifications into the records to read again: the
// contact a contact topic names, the conversation a conversation topic
// names and its contacts, the person a Lead is requested for. Topics
// about nothing ferry reads name nothing.
func Targets(ps []Stored) (Work, []string) {
	var leads []LeadRequest
	sets := map[string]map[string]bool{}
	add := func(object, id string) {
		if id == "" {
			return
		}
		if sets[object] == nil {
			sets[object] = map[string]bool{}
		}
		sets[object][id] = true
	}
	var ids []string
	for _, n := range ps {
		ids = append(ids, n.ID)
		var item struct {
			Type     string               `json:"type"`
			ID       string               `json:"id"`
			AdminID  string               `json:"admin_id"`
			Contact  *struct{ ID string } `json:"contact"`
			Contacts *struct {
				Contacts []struct{ ID string } `json:"contacts"`
			} `json:"contacts"`
		}
		if err := json.Unmarshal(n.Data.Item, &item); err != nil {
			continue
		}
		switch {
		case n.Topic == LeadTopic:
			add("intercom.contacts", item.ID)
			leads = append(leads, LeadRequest{ContactID: item.ID, AdminID: item.AdminID, At: time.Unix(n.CreatedAt, 0).UTC()})
		case strings.HasPrefix(n.Topic, "contact.") && item.Type == "contact_tag" && item.Contact != nil:
			add("intercom.contacts", item.Contact.ID)
		case strings.HasPrefix(n.Topic, "contact."):
			add("intercom.contacts", item.ID)
		case strings.HasPrefix(n.Topic, "conversation."):
			add("intercom.conversations", item.ID)
			if item.Contacts != nil {
				for _, c := range item.Contacts.Contacts {
					add("intercom.contacts", c.ID)
				}
			}
		}
	}
	out := map[string][]string{}
	for object, set := range sets {
		for id := range set {
			out[object] = append(out[object], id)
		}
		sort.Strings(out[object])
	}
	return Work{Targets: out, Leads: leads}, ids
}

func targetCount(t map[string][]string) int {
	n := 0
	for _, ids := range t {
		n += len(ids)
	}
	return n
}

// ErrBusy is a batch that could not start because a scheduled run holds
// the data dir: it is tried again.
var ErrBusy = errors.New("the data dir is in use")
