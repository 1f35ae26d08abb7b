package intercom

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/ferry-sync/ferry/emulator/seed"
)

type part struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Body       string `json:"body"`
	AuthorType string `json:"author_type"`
	AuthorID   string `json:"author_id"`
	CreatedAt  int64  `json:"created_at"`
}

type conversation struct {
	ID         string   `json:"id"`
	ContactIDs []string `json:"contact_ids"`
	AdminID    *int64   `json:"admin_id"`
	State      string   `json:"state"`
	Priority   string   `json:"priority"` // none | low | medium | high | urgent
	TagIDs     []string `json:"tag_ids"`
	Subject    string   `json:"subject"`
	CreatedAt  int64    `json:"created_at"`
	UpdatedAt  int64    `json:"updated_at"`
	Rating     int      `json:"rating"`
	Remark     string   `json:"remark"`
	Parts      []part   `json:"parts"`
	Initiator  string   `json:"initiator,omitempty"` // "admin" for admin-initiated
}

type message struct {
	ID        string `json:"id"`
	Type      string `json:"message_type"`
	Subject   string `json:"subject"`
	Body      string `json:"body"`
	From      string `json:"from"`
	To        string `json:"to"`
	CreatedAt int64  `json:"created_at"`
}

func fromSeed(c seed.Conversation) *conversation {
	out := &conversation{ID: c.ID, ContactIDs: []string{c.ContactID}, State: c.State, Priority: c.Priority, TagIDs: c.TagIDs,
		Subject: c.Subject, CreatedAt: c.CreatedAt.Unix(), UpdatedAt: c.UpdatedAt.Unix(), Rating: c.Rating, Remark: c.Remark}
	if c.AdminIndex >= 0 {
		id := int64(991200000 + c.AdminIndex)
		out.AdminID = &id
	}
	for _, p := range c.Parts {
		out.Parts = append(out.Parts, part{ID: p.ID, Type: p.Type, Body: p.Body, AuthorType: p.AuthorType, AuthorID: p.AuthorID, CreatedAt: p.CreatedAt.Unix()})
	}
	return out
}

// fieldValue reads a searchable conversation field; list fields return []string.
func (c *conversation) fieldValue(field string) any {
	switch field {
	case "id":
		return c.ID
	case "created_at":
		return c.CreatedAt
	case "updated_at":
		return c.UpdatedAt
	case "state":
		return c.State
	case "open":
		return c.State == "open"
	case "priority":
		return c.Priority
	case "admin_assignee_id":
		return intOrNil(c.AdminID)
	case "tag_ids":
		return c.TagIDs
	case "contact_ids":
		return c.ContactIDs
	case "source.subject":
		return c.Subject
	case "conversation_rating.score":
		if c.Rating == 0 {
			return nil
		}
		return int64(c.Rating)
	}
	return nil
}

var conversationFields = map[string]string{
	"id": "string", "created_at": "timestamp", "updated_at": "timestamp", "state": "string", "open": "boolean",
	"priority": "string", "admin_assignee_id": "integer", "tag_ids": "string", "contact_ids": "string",
	"source.subject": "string", "conversation_rating.score": "integer",
}

// stats derives conversation_statistics from the parts.
func (c *conversation) stats() map[string]any {
	var firstAdmin, firstContact, lastAdmin, lastContact, firstClose, lastClose int64
	comments := 0
	for _, p := range c.Parts {
		switch {
		case p.Type == "comment" && p.AuthorType == "admin":
			if firstAdmin == 0 {
				firstAdmin = p.CreatedAt
			}
			lastAdmin = p.CreatedAt
			comments++
		case p.Type == "comment":
			if firstContact == 0 {
				firstContact = p.CreatedAt
			}
			lastContact = p.CreatedAt
			comments++
		case p.Type == "close":
			if firstClose == 0 {
				firstClose = p.CreatedAt
			}
			lastClose = p.CreatedAt
		}
	}
	var assignedAt int64
	if c.AdminID != nil && len(c.Parts) > 0 {
		assignedAt = c.Parts[0].CreatedAt
	}
	out := map[string]any{"type": "conversation_statistics", "count_reopens": 0, "count_assignments": 1, "count_conversation_parts": len(c.Parts)}
	// Statistics that do not apply yet (no close, no reply) are absent.
	set := func(k string, v int64, relative bool) {
		if v == 0 {
			return
		}
		if relative {
			v -= c.CreatedAt
		}
		out[k] = v
	}
	set("time_to_assignment", assignedAt, true)
	set("time_to_admin_reply", firstAdmin, true)
	set("median_time_to_reply", firstAdmin, true)
	set("time_to_first_close", firstClose, true)
	set("time_to_last_close", lastClose, true)
	set("first_contact_reply_at", firstContact, false)
	set("first_assignment_at", assignedAt, false)
	set("last_assignment_at", assignedAt, false)
	set("first_admin_reply_at", firstAdmin, false)
	set("last_assignment_admin_reply_at", firstAdmin, false)
	set("last_contact_reply_at", lastContact, false)
	set("last_admin_reply_at", lastAdmin, false)
	set("first_close_at", firstClose, false)
	set("last_close_at", lastClose, false)
	if lastClose != 0 && c.AdminID != nil {
		out["last_closed_by_id"] = strconv.FormatInt(*c.AdminID, 10)
	}
	return out
}

// priorityFor renders the priority for the API version: 2.16 has levels,
// earlier versions priority/not_priority.
func priorityFor(p, version string) string {
	if minor(version) >= 16 {
		return p
	}
	if p == "high" || p == "urgent" {
		return "priority"
	}
	return "not_priority"
}

// unassigned is the assignee value of nobody: null before 2.16, 0 since.
func unassigned(version string) any {
	if minor(version) >= 16 {
		return 0
	}
	return nil
}

func (s *Server) conversationJSON(c *conversation, version string, withParts bool) map[string]any {
	var admin any
	if c.AdminID != nil {
		admin = *c.AdminID
	} else if minor(version) >= 16 {
		admin = 0
	}
	tags := []map[string]any{}
	for _, id := range c.TagIDs {
		tags = append(tags, map[string]any{"type": "tag", "id": id, "name": s.ws.tagName(id), "applied_at": c.CreatedAt, "applied_by": map[string]any{"type": "admin", "id": fmt.Sprint(intOrNil(c.AdminID))}})
	}
	contacts := []map[string]any{}
	for _, id := range c.ContactIDs {
		ref := map[string]any{"type": "contact", "id": id}
		if ct := s.ws.contacts.get(id); ct != nil && ct.ExternalID != nil {
			ref["external_id"] = *ct.ExternalID
		}
		contacts = append(contacts, ref)
	}
	var rating any
	if c.Rating > 0 {
		closedAt := c.UpdatedAt
		rating = map[string]any{"rating": c.Rating, "remark": c.Remark, "created_at": closedAt, "updated_at": closedAt,
			"contact": contacts[0], "teammate": map[string]any{"type": "admin", "id": fmt.Sprint(intOrNil(c.AdminID))}}
	}
	firstBody, deliveredAs := "", "customer_initiated"
	author := map[string]any{"type": "user", "id": contacts[0]["id"]}
	for _, p := range c.Parts {
		if p.Type == "comment" && (p.AuthorType != "admin" || c.Initiator == "admin") {
			firstBody = p.Body
			break
		}
	}
	if c.Initiator == "admin" {
		deliveredAs = "admin_initiated"
		author = map[string]any{"type": "admin", "id": fmt.Sprint(intOrNil(c.AdminID))}
	}
	out := map[string]any{
		"type": "conversation", "id": c.ID, "title": nil, "created_at": c.CreatedAt, "updated_at": c.UpdatedAt,
		"waiting_since": nil, "snoozed_until": nil, "open": c.State == "open", "state": c.State, "read": c.State == "closed",
		"priority": priorityFor(c.Priority, version), "admin_assignee_id": admin, "team_assignee_id": unassigned(version),
		"tags": map[string]any{"type": "tag.list", "tags": tags}, "conversation_rating": rating,
		"source": map[string]any{"type": "conversation", "id": c.ID + "0", "delivered_as": deliveredAs, "subject": c.Subject,
			"body": firstBody, "author": author, "attachments": []any{}, "url": nil, "redacted": false},
		"contacts":   map[string]any{"type": "contact.list", "contacts": contacts},
		"teammates":  map[string]any{"type": "admin.list", "teammates": []any{}},
		"statistics": c.stats(), "custom_attributes": map[string]any{}, "ai_agent_participated": false,
	}
	if withParts {
		parts := c.Parts
		if len(parts) > 500 {
			parts = parts[len(parts)-500:] // the 500 most recent
		}
		list := []map[string]any{}
		for _, p := range parts {
			author := map[string]any{"type": p.AuthorType, "id": p.AuthorID}
			if p.AuthorType == "admin" {
				for _, a := range s.ws.admins {
					if a.ID == p.AuthorID {
						author["name"], author["email"] = a.Name, a.Email
					}
				}
			}
			var body any
			if p.Body != "" {
				body = p.Body
			}
			list = append(list, map[string]any{"type": "conversation_part", "id": p.ID, "part_type": p.Type, "body": body,
				"created_at": p.CreatedAt, "updated_at": p.CreatedAt, "notified_at": p.CreatedAt,
				"author": author, "attachments": []any{}, "external_id": nil, "redacted": false})
		}
		out["conversation_parts"] = map[string]any{"type": "conversation_part.list", "conversation_parts": list, "total_count": len(c.Parts)}
	}
	return out
}

func (s *Server) conversationsRoute(w http.ResponseWriter, r *http.Request, p []string, version string) {
	switch {
	case len(p) == 0 && r.Method == http.MethodGet:
		s.listConversations(w, r, version)
	case len(p) == 1 && p[0] == "search" && r.Method == http.MethodPost:
		s.searchConversations(w, r, version)
	case len(p) == 2 && p[1] == "parts" && r.Method == http.MethodPost:
		s.managePart(w, r, p[0], version)
	case len(p) == 2 && p[1] == "reply" && r.Method == http.MethodPost:
		s.reply(w, r, p[0], version)
	case len(p) == 1 && r.Method == http.MethodGet:
		s.ws.mu.RLock()
		defer s.ws.mu.RUnlock()
		c := s.ws.conversations.get(p[0])
		if c == nil {
			writeError(w, 404, "not_found", "Resource Not Found")
			return
		}
		writeJSON(w, 200, s.conversationJSON(c, version, true))
	default:
		writeError(w, 404, "not_found", "Resource Not Found")
	}
}

// listConversations implements GET /conversations: every conversation in
// creation order, per_page (default 20, at most 150) at a time, paged by a
// starting_after cursor (cursor_pages with next.starting_after).
func (s *Server) listConversations(w http.ResponseWriter, r *http.Request, version string) {
	perPage, err := perPageParam(r.URL.Query().Get("per_page"), 20)
	if err != nil {
		writeError(w, 400, "parameter_invalid", err.Error())
		return
	}
	s.ws.mu.RLock()
	defer s.ws.mu.RUnlock()
	list := s.ws.conversations.list
	from, page := 0, 1
	if after := r.URL.Query().Get("starting_after"); after != "" {
		k, err := decodeCursor(after)
		p, ok := s.ws.conversations.pos[k.ID]
		n, isNum := k.V.(int64)
		if err != nil || !ok || !isNum {
			writeError(w, 400, "parameter_invalid", "starting_after is invalid")
			return
		}
		from, page = p+1, int(n)+1
	}
	end := min(from+perPage, len(list))
	data := make([]map[string]any, 0, end-from)
	for _, c := range list[from:end] {
		data = append(data, s.conversationJSON(c, version, false))
	}
	pages := map[string]any{"type": "pages", "page": page, "per_page": perPage, "total_pages": (len(list) + perPage - 1) / perPage}
	if end < len(list) {
		pages["next"] = map[string]any{"per_page": perPage, "starting_after": encodeCursor(cursorKey{V: page, ID: list[end-1].ID})}
	}
	writeJSON(w, 200, map[string]any{"type": "conversation.list", "conversations": data, "total_count": len(list), "pages": pages})
}

// managePart implements POST /conversations/{id}/parts for admins:
// message_type close, open or comment (a reply).
func (s *Server) managePart(w http.ResponseWriter, r *http.Request, id, version string) {
	body, err := decode(r)
	if err != nil {
		writeError(w, 400, "parameter_invalid", err.Error())
		return
	}
	kind, _ := body["message_type"].(string)
	adminID := fmt.Sprint(body["admin_id"])
	text, _ := body["body"].(string)
	if body["type"] != "admin" || (kind != "close" && kind != "open" && kind != "comment") {
		writeError(w, 400, "parameter_invalid", "type must be admin and message_type close, open or comment")
		return
	}
	state := map[string]string{"close": "closed", "open": "open"}[kind]
	s.addPart(w, id, adminID, kind, text, state, version)
}

// addPart adds an admin's part of kind to conversation id, moving it to
// state unless that is empty, and answers with the conversation, its parts
// included.
func (s *Server) addPart(w http.ResponseWriter, id, adminID, kind, text, state, version string) {
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	old := s.ws.conversations.get(id)
	if old == nil {
		writeError(w, 404, "not_found", "Resource Not Found")
		return
	}
	n, err := strconv.ParseInt(adminID, 10, 64)
	if err != nil || !s.ws.adminExists(n) {
		writeError(w, 404, "admin_not_found", "Admin not found")
		return
	}
	c := *old
	now := s.opt.Now().Unix()
	c.Parts = append(append([]part{}, old.Parts...), part{ID: fmt.Sprintf("%s%02d", c.ID, len(old.Parts)+1), Type: kind, Body: text, AuthorType: "admin", AuthorID: adminID, CreatedAt: now})
	if state != "" {
		c.State = state
	}
	c.UpdatedAt = now
	s.ws.journal.Append(entry{Conversation: &c, Seq: s.ws.seq})
	s.ws.putConversation(&c)
	s.stats.record("conversations", kind)
	writeJSON(w, 200, s.conversationJSON(&c, version, true))
}

// reply implements POST /conversations/{id}/reply for admins
// (admin_reply_conversation_request): message_type comment or note, with a
// body, by an existing admin. Every call adds a part: a reply is not
// idempotent. It answers with the conversation, its parts included.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, id, version string) {
	body, err := decode(r)
	if err != nil {
		writeError(w, 400, "parameter_invalid", err.Error())
		return
	}
	kind, _ := body["message_type"].(string)
	text, _ := body["body"].(string)
	adminID, _ := body["admin_id"].(string)
	switch {
	case body["type"] != "admin":
		writeError(w, 400, "parameter_invalid", "type must be admin")
		return
	case kind != "comment" && kind != "note":
		writeError(w, 400, "parameter_invalid", "message_type must be comment or note")
		return
	case adminID == "":
		writeError(w, 400, "parameter_not_found", "admin_id not specified")
		return
	case strings.TrimSpace(text) == "":
		writeError(w, 400, "parameter_not_found", "body not specified")
		return
	}
	s.addPart(w, id, adminID, kind, text, "", version)
}

// searchConversations implements POST /conversations/search. Unlike contact
// search, dates compare to the exact second.
func (s *Server) searchConversations(w http.ResponseWriter, r *http.Request, version string) {
	body, err := decode(r)
	if err != nil {
		writeError(w, 400, "parameter_invalid", err.Error())
		return
	}
	raw, _ := json.Marshal(body["query"])
	if body["query"] == nil {
		writeError(w, 400, "parameter_invalid", "query is required")
		return
	}
	q, err := s.parseQuery(raw, 0, conversationFields, "")
	if err != nil {
		writeError(w, 400, "parameter_invalid", err.Error())
		return
	}
	perPage, after, err := pagination(body, 20)
	if err != nil {
		writeError(w, 400, "parameter_invalid", err.Error())
		return
	}
	s.ws.mu.RLock()
	defer s.ws.mu.RUnlock()
	items := s.convs.get(string(raw), s.ws.version, func() []*conversation {
		var items []*conversation
		for _, c := range s.ws.conversations.list {
			if s.match(q, c) {
				items = append(items, c)
			}
		}
		sort.SliceStable(items, func(i, j int) bool {
			if items[i].UpdatedAt != items[j].UpdatedAt {
				return items[i].UpdatedAt < items[j].UpdatedAt
			}
			return items[i].ID < items[j].ID
		})
		return items
	})
	key := func(c *conversation) cursorKey { return cursorKey{V: c.UpdatedAt, ID: c.ID} }
	start := 0
	if after != nil {
		start = sort.Search(len(items), func(i int) bool { return lessKey(*after, key(items[i]), false) })
	}
	end := min(start+perPage, len(items))
	list := make([]map[string]any, 0, end-start)
	for _, c := range items[start:end] {
		list = append(list, s.conversationJSON(c, version, false))
	}
	var next any
	if end < len(items) {
		next = map[string]any{"per_page": perPage, "starting_after": encodeCursor(key(items[end-1]))}
	}
	writeJSON(w, 200, map[string]any{"type": "conversation.list", "pages": pages(start, perPage, len(items), next), "total_count": len(items), "conversations": list})
}

// pagination reads pagination.per_page (1..150) and starting_after.
func pagination(body map[string]any, def int) (int, *cursorKey, error) {
	perPage := def
	pg, _ := body["pagination"].(map[string]any)
	if v, ok := pg["per_page"].(json.Number); ok {
		n, err := v.Int64()
		if err != nil || n < 1 || n > 150 {
			return 0, nil, fmt.Errorf("per_page must be between 1 and 150")
		}
		perPage = int(n)
	}
	if sa, ok := pg["starting_after"].(string); ok && sa != "" {
		k, err := decodeCursor(sa)
		if err != nil {
			return 0, nil, fmt.Errorf("starting_after is invalid")
		}
		return perPage, &k, nil
	}
	return perPage, nil, nil
}

func (w *workspace) tagName(id string) string {
	if t := w.tags[id]; t != nil {
		return t.Name
	}
	return ""
}

type tag struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (s *Server) tagsRoute(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		s.ws.mu.RLock()
		data := []map[string]any{}
		for _, t := range s.ws.tagList() {
			data = append(data, map[string]any{"type": "tag", "id": t.ID, "name": t.Name})
		}
		s.ws.mu.RUnlock()
		writeJSON(w, 200, map[string]any{"type": "list", "data": data})
	case http.MethodPost:
		body, err := decode(r)
		if err != nil {
			writeError(w, 400, "parameter_invalid", err.Error())
			return
		}
		name, _ := body["name"].(string)
		if strings.TrimSpace(name) == "" {
			writeError(w, 400, "parameter_invalid", "name is required")
			return
		}
		s.ws.mu.Lock()
		defer s.ws.mu.Unlock()
		t := s.ws.tagByName(name)
		if t == nil {
			t = &tag{ID: fmt.Sprint(8000 + len(s.ws.tags)), Name: name}
			s.ws.journal.Append(entry{Tag: t, Seq: s.ws.seq})
			s.ws.tags[t.ID] = t
		}
		users, _ := body["users"].([]any)
		tagged := []map[string]any{}
		for _, u := range users {
			m, _ := u.(map[string]any)
			id, _ := m["id"].(string)
			c := s.ws.findContact(id)
			if c == nil {
				continue // 2.16 skips missing contacts
			}
			untag, _ := m["untag"].(bool)
			s.ws.setTag(c, t.ID, !untag, s.opt.Now().Unix())
			tagged = append(tagged, map[string]any{"id": id, "tagged": !untag})
		}
		out := map[string]any{"type": "tag", "id": t.ID, "name": t.Name}
		if minor(r.Header.Get("Intercom-Version")) >= 16 {
			out["users"] = tagged // 2.16 reports who was tagged
		}
		writeJSON(w, 200, out)
	default:
		writeError(w, 404, "not_found", "Resource Not Found")
	}
}

func (w *workspace) tagList() []*tag {
	out := make([]*tag, 0, len(w.tags))
	for _, t := range w.tags {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (w *workspace) tagByName(name string) *tag {
	for _, t := range w.tags {
		if strings.EqualFold(t.Name, name) {
			return t
		}
	}
	return nil
}

// setTag adds or removes a tag on a contact (a no-op when already so).
func (w *workspace) setTag(old *contact, tagID string, on bool, now int64) {
	has := false
	var rest []string
	for _, id := range old.Tags {
		if id == tagID {
			has = true
			continue
		}
		rest = append(rest, id)
	}
	if has == on {
		return
	}
	c := *old
	if on {
		c.Tags = append(append([]string{}, old.Tags...), tagID)
	} else {
		c.Tags = rest
	}
	c.UpdatedAt = now
	w.saveContact(&c)
}

// contactTags serves POST /contacts/{id}/tags and DELETE .../tags/{tag_id}.
func (s *Server) contactTags(w http.ResponseWriter, r *http.Request, contactID, tagID string) {
	tid := tagID
	if r.Method == http.MethodPost {
		body, err := decode(r)
		if err != nil {
			writeError(w, 400, "parameter_invalid", err.Error())
			return
		}
		tid, _ = body["id"].(string)
	} else if r.Method != http.MethodDelete || tid == "" {
		writeError(w, 404, "not_found", "Resource Not Found")
		return
	}
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	c := s.ws.findContact(contactID)
	if c == nil {
		writeError(w, 404, "not_found", "User Not Found")
		return
	}
	t := s.ws.tags[tid]
	if t == nil {
		writeError(w, 404, "tag_not_found", "Tag not found")
		return
	}
	s.ws.setTag(c, t.ID, r.Method == http.MethodPost, s.opt.Now().Unix())
	writeJSON(w, 200, map[string]any{"type": "tag", "id": t.ID, "name": t.Name})
}

// messages implements POST /messages: every call sends a message.
func (s *Server) messages(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, 404, "not_found", "Resource Not Found")
		return
	}
	body, err := decode(r)
	if err != nil {
		writeError(w, 400, "parameter_invalid", err.Error())
		return
	}
	typ, _ := body["message_type"].(string)
	text, _ := body["body"].(string)
	subject, _ := body["subject"].(string)
	from, _ := body["from"].(map[string]any)
	to, _ := body["to"].(map[string]any)
	fromID := fmt.Sprint(from["id"])
	toID, _ := to["id"].(string)
	switch {
	case typ != "in_app" && typ != "email":
		writeError(w, 400, "parameter_invalid", "message_type must be in_app or email")
		return
	case text == "" || from["type"] != "admin" || toID == "":
		writeError(w, 400, "parameter_invalid", "body, from (admin) and to are required")
		return
	case typ == "email" && subject == "":
		writeError(w, 400, "parameter_invalid", "subject is required for email messages")
		return
	}
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	n, _ := strconv.ParseInt(fromID, 10, 64)
	if !s.ws.adminExists(n) {
		writeError(w, 404, "admin_not_found", "Admin not found")
		return
	}
	if s.ws.findContact(toID) == nil {
		writeError(w, 404, "not_found", "User Not Found")
		return
	}
	now := s.opt.Now().Unix()
	m := &message{ID: fmt.Sprint(403900000 + len(s.ws.messages)), Type: typ, Subject: subject, Body: text, From: fromID, To: toID, CreatedAt: now}
	s.ws.journal.Append(entry{Message: m, Seq: s.ws.seq})
	s.ws.messages = append(s.ws.messages, m)
	// An admin-initiated message opens a conversation with the contact.
	convID := s.ws.nextConversationID()
	conv := &conversation{ID: convID, ContactIDs: []string{toID}, AdminID: &n, State: "open", Priority: "none",
		Subject: subject, CreatedAt: now, UpdatedAt: now, Initiator: "admin",
		Parts: []part{{ID: convID + "01", Type: "comment", Body: text, AuthorType: "admin", AuthorID: fromID, CreatedAt: now}}}
	s.ws.journal.Append(entry{Conversation: conv, Seq: s.ws.seq})
	s.ws.putConversation(conv)
	s.stats.record("messages", "sent")
	rendered := typ
	if typ == "in_app" {
		rendered = "inapp"
	}
	out := map[string]any{"type": "admin_message", "id": m.ID, "created_at": m.CreatedAt, "body": m.Body, "message_type": rendered, "conversation_id": conv.ID}
	if subject != "" {
		out["subject"] = subject
	}
	writeJSON(w, 200, out)
}
