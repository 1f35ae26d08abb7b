package intercom

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/emulator/seed"
	"github.com/ferry-sync/ferry/emulator/store"
)

// contact is the stored form of an Intercom contact.
type contact struct {
	ID           string         `json:"id"`
	Role         string         `json:"role"`
	ExternalID   *string        `json:"external_id"`
	Email        *string        `json:"email"`
	Phone        *string        `json:"phone"`
	Name         *string        `json:"name"`
	OwnerID      *int64         `json:"owner_id"`
	Unsubscribed bool           `json:"unsubscribed_from_emails"`
	CreatedAt    int64          `json:"created_at"`
	UpdatedAt    int64          `json:"updated_at"`
	SignedUpAt   *int64         `json:"signed_up_at"`
	LastSeenAt   *int64         `json:"last_seen_at"`
	Custom       map[string]any `json:"custom_attributes"`
	Companies    []string       `json:"companies"`
	Tags         []string       `json:"tags"`
	Archived     bool           `json:"archived"`
	Deleted      bool           `json:"deleted"`
	MergedInto   string         `json:"merged_into,omitempty"` // the user a merged lead went into (lifecycle.go)
}

type company struct {
	ID           string         `json:"id"`
	CompanyID    string         `json:"company_id"`
	Name         *string        `json:"name"`
	Plan         *string        `json:"plan"`
	Size         *int64         `json:"size"`
	Website      *string        `json:"website"`
	Industry     *string        `json:"industry"`
	MonthlySpend int64          `json:"monthly_spend"`
	RemoteAt     *int64         `json:"remote_created_at"`
	CreatedAt    int64          `json:"created_at"`
	UpdatedAt    int64          `json:"updated_at"`
	LastRequest  int64          `json:"last_request_at"`
	Custom       map[string]any `json:"custom_attributes"`
	Deleted      bool           `json:"deleted"`
}

type dataAttribute struct {
	ID        int64    `json:"id"`
	Model     string   `json:"model"`
	Name      string   `json:"name"`
	DataType  string   `json:"data_type"`
	Options   []string `json:"options,omitempty"`
	Custom    bool     `json:"custom"`
	CreatedAt int64    `json:"created_at"`
}

type admin struct {
	ID, Name, Email string
}

// journal entries: the full new state of one object.
type entry struct {
	Contact      *contact       `json:"contact,omitempty"`
	Company      *company       `json:"company,omitempty"`
	Attr         *dataAttribute `json:"attr,omitempty"`
	Conversation *conversation  `json:"conversation,omitempty"`
	Tag          *tag           `json:"tag,omitempty"`
	Message      *message       `json:"message,omitempty"`
	Event        *event         `json:"event,omitempty"`
	Seq          int64          `json:"seq"`
}

// workspace holds one emulated Intercom workspace.
type workspace struct {
	mu              sync.RWMutex
	contacts        ordered[*contact]
	companies       ordered[*company]
	byCID           map[string]*company       // company_id -> company
	attached        map[string]int            // company id -> live contacts attached
	visibleContacts int                       // contacts neither gone nor archived
	userEmail       map[string]string         // normalised email of a live user -> id
	extID           map[string]string         // external_id of a live contact -> id
	attrs           map[string]*dataAttribute // model/name
	admins          []admin
	conversations   ordered[*conversation]
	tags            map[string]*tag
	messages        []*message
	events          map[string][]*event // contact id -> its data events, oldest first
	eventCount      int
	lastConvID      int64 // highest numeric conversation id held; new conversations take the next
	seq             int64
	version         int64 // bumps on every write; search caches key on it
	journal         *store.Journal
	tz              *time.Location
	stats           *stats
	// changed, when set, is told of each change the API makes (the
	// seed and the journal's replay are not changes): old is nil for a
	// new record.
	changed func(old, cur any)
}

func ptr[T any](v T) *T { return &v }

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func newWorkspace(ds *seed.Dataset, j *store.Journal, tz *time.Location, st *stats) (*workspace, error) {
	w := &workspace{contacts: newOrdered[*contact](), companies: newOrdered[*company](), byCID: map[string]*company{},
		conversations: newOrdered[*conversation](), tags: map[string]*tag{},
		attached: map[string]int{}, userEmail: map[string]string{}, extID: map[string]string{},
		attrs: map[string]*dataAttribute{}, journal: j, tz: tz, stats: st, seq: 1}
	for _, a := range []struct{ model, name, typ string }{
		{"contact", "job_title", "string"}, {"contact", "lead_score", "integer"}, {"contact", "ltv", "float"},
		{"contact", "vip", "boolean"}, {"contact", "trial_ends", "date"}, {"contact", "signup_plan", "string"},
		{"company", "tier", "string"}, {"company", "seats", "integer"}, {"company", "arr", "float"},
		{"company", "paid", "boolean"}, {"company", "renewal_date", "date"},
	} {
		w.putAttr(&dataAttribute{ID: int64(len(w.attrs) + 1), Model: a.model, Name: a.name, DataType: a.typ, Custom: true, CreatedAt: seed.Base.Unix()})
	}
	if ds != nil {
		for a := range ds.Admins() {
			w.admins = append(w.admins, admin{ID: a.ID, Name: a.Name, Email: a.Email})
		}
		for c := range ds.Companies() {
			w.putCompany(&company{ID: c.ID, CompanyID: c.CompanyID, Name: nonEmpty(c.Name), Plan: nonEmpty(c.Plan), Size: ptr(int64(c.Size)),
				Website: nonEmpty(c.Website), Industry: nonEmpty(c.Industry), MonthlySpend: int64(c.MonthlySpend),
				CreatedAt: c.CreatedAt.Unix(), UpdatedAt: c.UpdatedAt.Unix(), LastRequest: c.UpdatedAt.Unix(), Custom: c.Custom})
		}
		for p := range ds.Contacts() {
			c := &contact{ID: p.ID, Role: p.Role, ExternalID: nonEmpty(p.ExternalID), Email: nonEmpty(p.Email), Phone: nonEmpty(p.Phone),
				Name: nonEmpty(p.Name), Unsubscribed: p.Unsubscribed, CreatedAt: p.CreatedAt.Unix(), UpdatedAt: p.UpdatedAt.Unix(),
				LastSeenAt: ptr(p.LastSeenAt.Unix()), Custom: p.Custom}
			if !p.SignedUpAt.IsZero() {
				c.SignedUpAt = ptr(p.SignedUpAt.Unix())
			}
			if p.OwnerIndex >= 0 {
				id := int64(991200000 + p.OwnerIndex)
				c.OwnerID = &id
			}
			if p.CompanyIndex >= 0 {
				c.Companies = []string{ds.Company(p.CompanyIndex).ID}
			}
			w.putContact(c)
		}
		for _, t := range seed.Tags {
			w.tags[t.ID] = &tag{ID: t.ID, Name: t.Name}
		}
		for c := range ds.Conversations() {
			w.putConversation(fromSeed(c))
		}
		for id, tagged := range seedContactTags(w) {
			c := *w.contacts.get(id)
			c.Tags = tagged
			w.putContact(&c)
		}
	}
	err := j.Replay(func(b json.RawMessage) error {
		var e entry
		if err := json.Unmarshal(b, &e); err != nil {
			return err
		}
		switch {
		case e.Contact != nil:
			w.putContact(e.Contact)
		case e.Company != nil:
			w.putCompany(e.Company)
		case e.Attr != nil:
			w.putAttr(e.Attr)
		case e.Conversation != nil:
			w.putConversation(e.Conversation)
		case e.Tag != nil:
			w.tags[e.Tag.ID] = e.Tag
		case e.Message != nil:
			w.messages = append(w.messages, e.Message)
		case e.Event != nil:
			w.putEvent(e.Event)
		}
		if e.Seq > w.seq {
			w.seq = e.Seq
		}
		return nil
	})
	return w, err
}

func normEmail(e *string) string {
	if e == nil {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(*e))
}

func (w *workspace) putContact(c *contact) {
	if !c.gone() && !c.Archived {
		w.visibleContacts++
	}
	old, ok := w.contacts.put(c.ID, c)
	if w.changed != nil {
		if ok {
			w.changed(old, c)
		} else {
			w.changed(nil, c)
		}
	}
	if ok {
		if !old.gone() && !old.Archived {
			w.visibleContacts--
		}
		if !old.gone() {
			for _, id := range old.Companies {
				w.attached[id]--
			}
			if e := normEmail(old.Email); e != "" && old.Role == "user" && w.userEmail[e] == old.ID {
				delete(w.userEmail, e)
			}
			if old.ExternalID != nil && w.extID[*old.ExternalID] == old.ID {
				delete(w.extID, *old.ExternalID)
			}
		}
	}
	if !c.gone() {
		for _, id := range c.Companies {
			w.attached[id]++
		}
		if e := normEmail(c.Email); e != "" && c.Role == "user" {
			if _, taken := w.userEmail[e]; !taken {
				w.userEmail[e] = c.ID
			}
		}
		if c.ExternalID != nil && *c.ExternalID != "" {
			if _, taken := w.extID[*c.ExternalID]; !taken {
				w.extID[*c.ExternalID] = c.ID
			}
		}
	}
	w.version++
}

func (w *workspace) putCompany(c *company) {
	w.companies.put(c.ID, c)
	if c.CompanyID != "" && !c.Deleted {
		w.byCID[strings.ToLower(c.CompanyID)] = c
	} else if c.CompanyID != "" && w.byCID[strings.ToLower(c.CompanyID)] != nil && w.byCID[strings.ToLower(c.CompanyID)].ID == c.ID {
		delete(w.byCID, strings.ToLower(c.CompanyID))
	}
	w.version++
}

func (w *workspace) putAttr(a *dataAttribute) { w.attrs[a.Model+"/"+a.Name] = a }

func (w *workspace) putConversation(c *conversation) {
	old, ok := w.conversations.put(c.ID, c)
	if w.changed != nil {
		if ok {
			w.changed(old, c)
		} else {
			w.changed(nil, c)
		}
	}
	if n, err := strconv.ParseInt(c.ID, 10, 64); err == nil && n > w.lastConvID {
		w.lastConvID = n
	}
	w.version++
}

// nextConversationID is an id no conversation holds: seeded ids grow with
// the workspace, so a fixed base for new ones would land on seeded ones.
func (w *workspace) nextConversationID() string {
	return strconv.FormatInt(w.lastConvID+1, 10)
}

// seedContactTags tags contacts with the tags of their conversations, as
// teammates tagging conversations often do.
func seedContactTags(w *workspace) map[string][]string {
	out := map[string][]string{}
	for _, c := range w.conversations.list {
		for _, id := range c.ContactIDs {
			for _, t := range c.TagIDs {
				if !containsString(out[id], t) {
					out[id] = append(out[id], t)
				}
			}
		}
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (w *workspace) newID() string {
	w.seq++
	return fmt.Sprintf("7%07x%016x", w.seq&0xfffffff, uint64(w.seq)*0x9e3779b97f4a7c15)[:24]
}

func (w *workspace) saveContact(c *contact) {
	w.journal.Append(entry{Contact: c, Seq: w.seq})
	w.putContact(c)
}

func (w *workspace) saveCompany(c *company) {
	w.journal.Append(entry{Company: c, Seq: w.seq})
	w.putCompany(c)
}

// findContact returns a visible contact by id.
func (w *workspace) findContact(id string) *contact {
	c := w.contacts.get(id)
	if c == nil || c.gone() || c.Archived {
		return nil
	}
	return c
}

// duplicateOf returns an existing contact with the same external id, or a
// user with the same email (leads may share emails).
func (w *workspace) duplicateOf(role string, email, externalID *string, except string) *contact {
	if externalID != nil && *externalID != "" {
		if id, ok := w.extID[*externalID]; ok && id != except {
			return w.contacts.get(id)
		}
	}
	if role == "user" {
		if id, ok := w.userEmail[normEmail(email)]; ok && id != except && normEmail(email) != "" {
			return w.contacts.get(id)
		}
	}
	return nil
}

// attachedCounts returns live contacts per company; list and scroll show
// only companies with at least one. The map is maintained on every write
// and must only be read under the workspace lock.
func (w *workspace) attachedCounts() map[string]int { return w.attached }

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
