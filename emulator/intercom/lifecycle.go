package intercom

// A contact's end of life (API notes §1.4, §4, §6; the 2.16 description of
// ShowContact, MergeContact, DeleteContact, ArchiveContact):
//   - DELETE /contacts/{id} deletes it for good (archived ones too);
//   - POST /contacts/{id}/archive hides it from GET, list and search until
//     POST /contacts/{id}/unarchive; a create matching it answers 409 with
//     "An archived contact matching those details already exists";
//   - POST /contacts/merge folds a lead into a user: the lead disappears
//     from list and search, and on 2.16 fetching it answers 410
//     contact_merged with a Link header naming the surviving contact
//     (following merge chains up to 3 hops); earlier versions answer 404.
//     Its companies, tags and conversations move to the user.

import (
	"net/http"
	"strings"
)

// deleteCompany implements DELETE /companies/{id}: the company is archived
// for good (404 company_not_found from then on, gone from list and
// scroll) and detached from its contacts; a later POST /companies with its
// company_id creates a new company, as the description warns syncing
// tools do.
func (s *Server) deleteCompany(w http.ResponseWriter, id string) {
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	old := s.ws.companies.get(id)
	if old == nil || old.Deleted {
		writeError(w, 404, "company_not_found", "Company Not Found")
		return
	}
	now := s.opt.Now().Unix()
	for _, c := range s.ws.contacts.list {
		if !containsString(c.Companies, id) {
			continue
		}
		d := *c
		d.Companies = nil
		for _, cid := range c.Companies {
			if cid != id {
				d.Companies = append(d.Companies, cid)
			}
		}
		d.UpdatedAt = now
		s.ws.saveContact(&d)
	}
	co := *old
	co.Deleted = true
	co.UpdatedAt = now
	s.ws.saveCompany(&co)
	s.stats.record("companies", "deleted")
	writeJSON(w, 200, map[string]any{"id": id, "object": "company", "deleted": true})
}

// gone reports whether a contact no longer exists for the API: deleted,
// or merged into another.
func (c *contact) gone() bool { return c.Deleted || c.MergedInto != "" }

// canonical follows a merged contact's merge chain, up to 3 hops, to the
// contact that survives.
func (w *workspace) canonical(c *contact) string {
	id := c.MergedInto
	for hop := 1; hop < 3; hop++ {
		next := w.contacts.get(id)
		if next == nil || next.MergedInto == "" {
			break
		}
		id = next.MergedInto
	}
	return id
}

// fetchMissing answers GET /contacts/{id} for a contact that is not
// visible: 410 contact_merged with the canonical link for a merged one on
// 2.16 and later, otherwise 404. The description documents the 410 for
// fetching only; writes naming a merged contact answer 404.
func (s *Server) fetchMissing(w http.ResponseWriter, id, version string) {
	if c := s.ws.contacts.get(id); c != nil && c.MergedInto != "" && !c.Deleted && minor(version) >= 16 {
		w.Header().Set("Link", "</contacts/"+s.ws.canonical(c)+`>; rel="canonical"`)
		writeError(w, 410, "contact_merged", "This contact has been merged. See the 'Link' header for the canonical contact.")
		return
	}
	writeError(w, 404, "not_found", "User Not Found")
}

// existing returns the contact id names, archived or not, or answers 404
// for one that is gone; the caller holds the workspace lock.
func (s *Server) existing(w http.ResponseWriter, id string) *contact {
	c := s.ws.contacts.get(id)
	if c == nil || c.gone() {
		writeError(w, 404, "not_found", "User Not Found")
		return nil
	}
	return c
}

func (s *Server) deleteContact(w http.ResponseWriter, id string) {
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	old := s.existing(w, id)
	if old == nil {
		return
	}
	c := *old
	c.Deleted = true
	c.UpdatedAt = s.opt.Now().Unix()
	s.ws.saveContact(&c)
	s.stats.record("contacts", "deleted")
	writeJSON(w, 200, map[string]any{"type": "contact", "id": c.ID, "external_id": strOrNil(c.ExternalID), "deleted": true})
}

func (s *Server) archiveContact(w http.ResponseWriter, id string, archive bool) {
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	old := s.existing(w, id)
	if old == nil {
		return
	}
	if old.Archived != archive {
		c := *old
		c.Archived = archive
		c.UpdatedAt = s.opt.Now().Unix()
		s.ws.saveContact(&c)
		if archive {
			s.stats.record("contacts", "archived")
		} else {
			s.stats.record("contacts", "unarchived")
		}
	}
	writeJSON(w, 200, map[string]any{"type": "contact", "id": old.ID, "external_id": strOrNil(old.ExternalID), "archived": archive})
}

func (s *Server) mergeContacts(w http.ResponseWriter, r *http.Request, version string) {
	body, err := decode(r)
	if err != nil {
		writeError(w, 400, "parameter_invalid", err.Error())
		return
	}
	fromID, _ := body["from"].(string)
	intoID, _ := body["into"].(string)
	if fromID == "" || intoID == "" {
		writeError(w, 400, "parameter_not_found", "from and into are required")
		return
	}
	skip, _ := body["skip_duplicate_validation"].(bool)
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	from, into := s.ws.findContact(fromID), s.ws.findContact(intoID)
	switch {
	case from == nil:
		writeError(w, 404, "not_found", "User Not Found")
		return
	case into == nil:
		writeError(w, 404, "not_found", "User Not Found")
		return
	case from.ID == into.ID || from.Role != "lead" || into.Role != "user":
		writeError(w, 400, "parameter_invalid", "Contacts can only be merged from a lead into a user")
		return
	case minor(version) >= 16 && !skip && !duplicates(from, into):
		writeError(w, 400, "invalid_merge", "Contacts can only be merged when they are duplicates (matching email or phone). Pass skip_duplicate_validation=true to override this check.")
		return
	}
	now := s.opt.Now().Unix()
	target := *into
	target.Companies = union(into.Companies, from.Companies)
	target.Tags = union(into.Tags, from.Tags)
	target.Custom = map[string]any{}
	for k, v := range from.Custom {
		target.Custom[k] = v
	}
	for k, v := range into.Custom {
		target.Custom[k] = v
	}
	if target.Email == nil {
		target.Email = from.Email
	}
	if target.Phone == nil {
		target.Phone = from.Phone
	}
	target.UpdatedAt = now
	source := *from
	source.MergedInto = into.ID
	source.UpdatedAt = now
	s.ws.saveContact(&source)
	s.ws.saveContact(&target)
	for _, conv := range s.ws.conversations.list {
		if !containsString(conv.ContactIDs, from.ID) {
			continue
		}
		c := *conv
		c.ContactIDs = nil
		for _, id := range conv.ContactIDs {
			if id == from.ID {
				id = into.ID
			}
			if !containsString(c.ContactIDs, id) {
				c.ContactIDs = append(c.ContactIDs, id)
			}
		}
		c.UpdatedAt = now
		s.ws.journal.Append(entry{Conversation: &c, Seq: s.ws.seq})
		s.ws.putConversation(&c)
	}
	s.stats.record("contacts", "merged")
	writeJSON(w, 200, s.contactJSON(&target, version))
}

// duplicates reports whether two contacts share an email or a phone, the
// 2.16 condition for a merge.
func duplicates(a, b *contact) bool {
	same := func(x, y *string) bool {
		return x != nil && y != nil && strings.TrimSpace(*x) != "" && strings.EqualFold(strings.TrimSpace(*x), strings.TrimSpace(*y))
	}
	return same(a.Email, b.Email) || same(a.Phone, b.Phone)
}

func union(a, b []string) []string {
	out := append([]string{}, a...)
	for _, v := range b {
		if !containsString(out, v) {
			out = append(out, v)
		}
	}
	return out
}
