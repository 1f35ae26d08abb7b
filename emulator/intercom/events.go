package intercom

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// event is one data event of a contact (POST /events).
type event struct {
	ID        string            `json:"id"`
	Contact   string            `json:"contact"` // Intercom id
	Name      string            `json:"event_name"`
	CreatedAt int64             `json:"created_at"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// listableFor is how old an event may be and still be listed one by one;
// summaries count older ones too (../shared/api/intercom.md §4.9).
const listableFor = 90 * 24 * time.Hour

// eventsRoute serves /events: POST submits an event, GET lists a
// contact's events or, with summary=true, summarises them by name.
func (s *Server) eventsRoute(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		s.submitEvent(w, r)
	case http.MethodGet:
		s.listEvents(w, r)
	default:
		writeError(w, 404, "not_found", "Resource Not Found")
	}
}

// eventContact finds the contact an event names: by Intercom id, by
// external id (user_id) or by a user's email.
func (w *workspace) eventContact(id, userID, email string) *contact {
	switch {
	case id != "":
		return w.findContact(id)
	case userID != "":
		if cid, ok := w.extID[userID]; ok {
			return w.findContact(cid)
		}
	case email != "":
		if cid, ok := w.userEmail[normEmail(&email)]; ok {
			return w.findContact(cid)
		}
	}
	return nil
}

// submitEvent implements POST /events: 202 with an empty body, an event
// already held (the same contact, name and created_at) ignored; an
// unknown contact is 404.
func (s *Server) submitEvent(w http.ResponseWriter, r *http.Request) {
	body, err := decode(r)
	if err != nil {
		writeError(w, 400, "parameter_invalid", err.Error())
		return
	}
	name, _ := body["event_name"].(string)
	num, _ := body["created_at"].(json.Number)
	created, err := num.Int64()
	if strings.TrimSpace(name) == "" || err != nil || created <= 0 {
		writeError(w, 400, "parameter_invalid", "event_name and created_at (a Unix timestamp) are required")
		return
	}
	str := func(k string) string { v, _ := body[k].(string); return v }
	meta := map[string]string{}
	if m, ok := body["metadata"].(map[string]any); ok {
		for k, v := range m {
			if len(meta) < 10 { // the first ten keys are kept
				meta[k] = fmt.Sprint(v)
			}
		}
	}
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	c := s.ws.eventContact(str("id"), str("user_id"), str("email"))
	if c == nil {
		writeError(w, 404, "not_found", "User Not Found")
		return
	}
	for _, e := range s.ws.events[c.ID] {
		if e.Name == name && e.CreatedAt == created {
			w.WriteHeader(http.StatusAccepted)
			return
		}
	}
	e := &event{ID: strconv.FormatInt(int64(500000000+s.ws.eventCount), 10), Contact: c.ID, Name: name, CreatedAt: created, Metadata: meta}
	s.ws.journal.Append(entry{Event: e, Seq: s.ws.seq})
	s.ws.putEvent(e)
	s.stats.record("events", "submitted")
	w.WriteHeader(http.StatusAccepted)
}

// putEvent holds e, its contact's events kept in creation order.
func (w *workspace) putEvent(e *event) {
	if w.events == nil {
		w.events = map[string][]*event{}
	}
	list := append(w.events[e.Contact], e)
	slices.SortStableFunc(list, func(a, b *event) int { return int(a.CreatedAt - b.CreatedAt) })
	w.events[e.Contact] = list
	w.eventCount++
}

// listEvents implements GET /events?type=user&(intercom_user_id|user_id|email)=…:
// the contact's events of the last 90 days, newest first, per_page (default
// 50) at a time with pages.next the address of the next page; with
// summary=true, one summary per event name (first, last, count), older
// events included.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("type") != "user" {
		writeError(w, 400, "parameter_invalid", "type must be user")
		return
	}
	id, userID, email := q.Get("intercom_user_id"), q.Get("user_id"), q.Get("email")
	if id == "" && userID == "" && email == "" {
		writeError(w, 400, "parameter_not_found", "one of intercom_user_id, user_id or email is required")
		return
	}
	perPage, page, err := pageParams(q, 50)
	if err != nil {
		writeError(w, 400, "parameter_invalid", err.Error())
		return
	}
	s.ws.mu.RLock()
	defer s.ws.mu.RUnlock()
	c := s.ws.eventContact(id, userID, email)
	if c == nil {
		writeError(w, 404, "not_found", "User Not Found")
		return
	}
	out := map[string]any{"type": "event.summary", "intercom_user_id": c.ID}
	if c.Email != nil {
		out["email"] = *c.Email
	}
	if c.ExternalID != nil {
		out["user_id"] = *c.ExternalID
	}
	held := s.ws.events[c.ID]
	s.stats.record("events", "listed")
	if q.Get("summary") == "true" {
		type summary struct {
			first, last int64
			count       int
		}
		by := map[string]*summary{}
		var names []string
		for _, e := range held {
			sm := by[e.Name]
			if sm == nil {
				sm = &summary{first: e.CreatedAt}
				by[e.Name] = sm
				names = append(names, e.Name)
			}
			sm.last = max(sm.last, e.CreatedAt)
			sm.first = min(sm.first, e.CreatedAt)
			sm.count++
		}
		stamp := func(t int64) string { return time.Unix(t, 0).UTC().Format("2006-01-02T15:04:05.000+00:00") }
		list := []map[string]any{}
		for _, n := range names {
			sm := by[n]
			list = append(list, map[string]any{"name": n, "first": stamp(sm.first), "last": stamp(sm.last), "count": sm.count, "description": ""})
		}
		out["events"] = list
		writeJSON(w, 200, out)
		return
	}
	since := s.opt.Now().Add(-listableFor).Unix()
	var recent []*event
	for i := len(held) - 1; i >= 0; i-- {
		if held[i].CreatedAt >= since {
			recent = append(recent, held[i])
		}
	}
	from := min((page-1)*perPage, len(recent))
	end := min(from+perPage, len(recent))
	list := make([]map[string]any, 0, end-from)
	for _, e := range recent[from:end] {
		item := map[string]any{"type": "event", "id": e.ID, "event_name": e.Name, "created_at": e.CreatedAt, "intercom_user_id": c.ID, "metadata": e.Metadata}
		if c.Email != nil {
			item["email"] = *c.Email
		}
		if c.ExternalID != nil {
			item["user_id"] = *c.ExternalID
		}
		list = append(list, item)
	}
	out["events"] = list
	// pages is only there when there is a next page: the description's
	// example has it, its schema (data_event_summary) does not.
	if end < len(recent) {
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("page", strconv.Itoa(page+1))
		out["pages"] = map[string]any{"next": s.baseURL(r) + "/events?" + next.Encode()}
	}
	writeJSON(w, 200, out)
}

// baseURL is the address the request reached the emulator at.
func (s *Server) baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
