package intercom

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// ClientSecret is the emulated app's client secret: Intercom signs each
// webhook notification with it (X-Hub-Signature, HMAC-SHA1 of the body).
const ClientSecret = "ferry-emulator-intercom-client-secret"

// AppID is the emulated app's id, as notifications carry it.
const AppID = "ferryemu"

// Webhooks configure notifications of the workspace's changes, delivered
// as Intercom delivers them (https://developers.intercom.com/docs/
// references/webhooks/webhook-models, "Handling Webhook notifications"):
// a POST of a notification_event to URL, signed; an answer within 5
// seconds with a 2xx status is a delivery; any other is retried once,
// after a minute, then marked failed; a 410 disables the subscription.
type Webhooks struct {
	URL     string
	Secret  string        // default ClientSecret
	Version string        // the API version items are rendered in; default the server's
	Retries int           // deliveries after the first; default 1
	Backoff time.Duration // before a retry (doubling after the first); default 1 minute
	Timeout time.Duration // for an answer; default 5 s
}

// notice is one notification waiting to be delivered.
type notice struct {
	body     map[string]any
	attempts int
	due      time.Time
}

// deliverer sends notifications in order of creation, one at a time.
type deliverer struct {
	cfg     Webhooks
	now     func() time.Time
	mu      sync.Mutex
	queue   []*notice
	wake    chan struct{}
	seq     int
	sent    int
	failed  int
	topics  map[string]int
	closing chan struct{}
	// disabled: the receiver answered 410, which disables the
	// subscription.
	disabled bool
}

func newDeliverer(cfg Webhooks, now func() time.Time) *deliverer {
	if cfg.Secret == "" {
		cfg.Secret = ClientSecret
	}
	if cfg.Retries == 0 {
		cfg.Retries = 1
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = time.Minute
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	d := &deliverer{cfg: cfg, now: now, wake: make(chan struct{}, 1), topics: map[string]int{}, closing: make(chan struct{})}
	go d.run()
	return d
}

// enqueue adds a notification of topic about item.
func (d *deliverer) enqueue(topic string, item map[string]any) {
	d.mu.Lock()
	if d.disabled {
		d.mu.Unlock()
		return
	}
	d.seq++
	now := d.now()
	body := map[string]any{
		"type": "notification_event", "app_id": AppID, "id": fmt.Sprintf("notif_emu_%d_%d", now.UnixNano(), d.seq),
		"topic": topic, "created_at": now.Unix(), "delivery_status": "pending", "delivery_attempts": 0,
		"first_sent_at": now.Unix(), "self": nil, "links": map[string]any{},
		"data": map[string]any{"type": "notification_event_data", "item": item},
	}
	d.queue = append(d.queue, &notice{body: body, due: time.Now()})
	d.topics[topic]++
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *deliverer) run() {
	client := &http.Client{Timeout: d.cfg.Timeout}
	for {
		d.mu.Lock()
		var next *notice
		if len(d.queue) > 0 {
			next = d.queue[0]
		}
		d.mu.Unlock()
		if next == nil || time.Now().Before(next.due) {
			wait := time.Hour
			if next != nil {
				wait = time.Until(next.due)
			}
			select {
			case <-d.wake:
			case <-time.After(wait):
			case <-d.closing:
				return
			}
			continue
		}
		next.attempts++
		next.body["delivery_attempts"] = next.attempts
		next.body["delivered_at"] = d.now().Unix()
		raw, _ := json.Marshal(next.body)
		status := d.post(client, raw)
		ok := status >= 200 && status < 300
		d.mu.Lock()
		switch {
		case status == http.StatusGone:
			// The subscription is disabled: nothing more is sent.
			d.failed += len(d.queue)
			d.queue = nil
			d.disabled = true
		case ok:
			d.sent++
			d.queue = d.queue[1:]
		case next.attempts > d.cfg.Retries:
			d.failed++
			d.queue = d.queue[1:]
		default:
			next.due = time.Now().Add(d.cfg.Backoff << (next.attempts - 1))
		}
		d.mu.Unlock()
	}
}

// post delivers raw and returns the answer's status (0 for none).
func (d *deliverer) post(client *http.Client, raw []byte) int {
	req, err := http.NewRequest(http.MethodPost, d.cfg.URL, bytes.NewReader(raw))
	if err != nil {
		return 0
	}
	m := hmac.New(sha1.New, []byte(d.cfg.Secret))
	m.Write(raw)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "intercom-parrot-service-client/1.0")
	req.Header.Set("X-Hub-Signature", "sha1="+hex.EncodeToString(m.Sum(nil)))
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (d *deliverer) close() { close(d.closing) }

// WebhookStats is what the emulator delivered.
type WebhookStats struct {
	Sent    int            `json:"sent"`
	Failed  int            `json:"failed"` // given up after the retries
	Pending int            `json:"pending"`
	Topics  map[string]int `json:"topics"` // notifications made, by topic
}

// WebhookStats reports the deliveries so far (zero without webhooks).
func (s *Server) WebhookStats() WebhookStats {
	d := s.hooks
	if d == nil {
		return WebhookStats{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	topics := map[string]int{}
	for k, v := range d.topics {
		topics[k] = v
	}
	return WebhookStats{Sent: d.sent, Failed: d.failed, Pending: len(d.queue), Topics: topics}
}

// notify turns a change the API made into its notifications. It runs
// with the workspace locked, so items are rendered as the change left
// them.
func (s *Server) notify(old, cur any) {
	if s.hooks == nil {
		return
	}
	version := s.hooks.cfg.Version
	if version == "" {
		version = s.opt.DefaultVersion
	}
	switch c := cur.(type) {
	case *contact:
		prev, _ := old.(*contact)
		switch {
		case c.gone():
			if prev != nil && !prev.gone() {
				s.hooks.enqueue("contact.deleted", map[string]any{"type": "contact", "id": c.ID})
			}
		case prev == nil:
			s.hooks.enqueue("contact."+c.Role+".created", s.contactJSON(c, version))
		default:
			s.hooks.enqueue("contact."+c.Role+".updated", s.contactJSON(c, version))
			for _, t := range c.Tags {
				if !slices.Contains(prev.Tags, t) && s.ws.tags[t] != nil {
					s.hooks.enqueue("contact."+c.Role+".tag.created", map[string]any{"type": "contact_tag", "created_at": c.UpdatedAt,
						"tag": map[string]any{"type": "tag", "id": t, "name": s.ws.tags[t].Name}, "contact": s.contactJSON(c, version)})
				}
			}
		}
	case *conversation:
		prev, _ := old.(*conversation)
		item := s.conversationJSON(c, version, false)
		switch {
		case prev == nil:
			s.hooks.enqueue("conversation.user.created", item)
		case prev.State != "closed" && c.State == "closed":
			s.hooks.enqueue("conversation.admin.closed", item)
		case len(c.Parts) > len(prev.Parts):
			switch p := c.Parts[len(c.Parts)-1]; {
			case p.AuthorType == "admin" && p.Type == "note":
				s.hooks.enqueue("conversation.admin.noted", item)
			case p.AuthorType == "admin":
				s.hooks.enqueue("conversation.admin.replied", item)
			}
		}
	}
}
