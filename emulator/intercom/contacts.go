package intercom

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

func strOrNil(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

func intOrNil(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// contactJSON renders a contact for the requested API version.
func (s *Server) contactJSON(c *contact, version string) map[string]any {
	var owner any
	if c.OwnerID != nil {
		owner = *c.OwnerID
		if minor(version) >= 16 {
			owner = strconv.FormatInt(*c.OwnerID, 10)
		}
	}
	var domain any
	if c.Email != nil {
		if at := strings.LastIndex(*c.Email, "@"); at >= 0 {
			domain = strings.TrimSpace((*c.Email)[at+1:])
		}
	}
	list := func(kind, itemType string, ids []string) map[string]any {
		data := []map[string]any{}
		for i, id := range ids {
			if i == 10 {
				break
			}
			data = append(data, map[string]any{"type": itemType, "id": id, "url": "/" + kind + "/" + id})
		}
		return map[string]any{"data": data, "url": "/contacts/" + c.ID + "/" + kind, "total_count": len(ids), "has_more": len(ids) > 10}
	}
	custom := c.Custom
	if custom == nil {
		custom = map[string]any{}
	}
	// The field set follows the contact schema of the official description.
	return map[string]any{
		"type": "contact", "id": c.ID, "workspace_id": "ferryemu", "external_id": strOrNil(c.ExternalID), "role": c.Role,
		"email": strOrNil(c.Email), "email_domain": domain, "phone": strOrNil(c.Phone),
		"name": strOrNil(c.Name), "avatar": nil, "owner_id": owner,
		"social_profiles":  map[string]any{"data": []any{}},
		"has_hard_bounced": false, "marked_email_as_spam": false, "unsubscribed_from_emails": c.Unsubscribed,
		"created_at": c.CreatedAt, "updated_at": c.UpdatedAt, "signed_up_at": intOrNil(c.SignedUpAt), "last_seen_at": intOrNil(c.LastSeenAt),
		"last_replied_at": nil, "last_contacted_at": nil, "last_email_opened_at": nil, "last_email_clicked_at": nil,
		"language_override": nil, "browser": nil, "browser_version": nil, "browser_language": nil, "os": nil,
		"location":         map[string]any{"type": "location", "country": nil, "region": nil, "city": nil},
		"android_app_name": nil, "android_app_version": nil, "android_device": nil, "android_os_version": nil, "android_sdk_version": nil, "android_last_seen_at": nil,
		"ios_app_name": nil, "ios_app_version": nil, "ios_device": nil, "ios_os_version": nil, "ios_sdk_version": nil, "ios_last_seen_at": nil,
		"custom_attributes": custom, "tags": list("tags", "tag", c.Tags), "notes": list("notes", "note", nil), "companies": list("companies", "company", c.Companies),
	}
}

func (s *Server) contactsRoute(w http.ResponseWriter, r *http.Request, p []string, version string) {
	switch {
	case len(p) == 0 && r.Method == http.MethodGet:
		s.listContacts(w, r, version)
	case len(p) == 0 && r.Method == http.MethodPost:
		s.createContact(w, r, version)
	case len(p) == 1 && p[0] == "search" && r.Method == http.MethodPost:
		s.searchContacts(w, r, version)
	case len(p) == 1 && r.Method == http.MethodGet:
		s.ws.mu.RLock()
		c := s.ws.findContact(p[0])
		var out map[string]any
		if c != nil {
			out = s.contactJSON(c, version)
		}
		s.ws.mu.RUnlock()
		if c == nil {
			s.ws.mu.RLock()
			s.fetchMissing(w, p[0], version)
			s.ws.mu.RUnlock()
			return
		}
		writeJSON(w, 200, out)
	case len(p) == 1 && r.Method == http.MethodPut:
		s.updateContact(w, r, p[0], version)
	case len(p) == 1 && r.Method == http.MethodDelete:
		s.deleteContact(w, p[0])
	case len(p) == 1 && p[0] == "merge" && r.Method == http.MethodPost:
		s.mergeContacts(w, r, version)
	case len(p) == 2 && (p[1] == "archive" || p[1] == "unarchive") && r.Method == http.MethodPost:
		s.archiveContact(w, p[0], p[1] == "archive")
	case len(p) == 2 && p[1] == "companies":
		s.contactCompanies(w, r, p[0])
	case len(p) == 2 && p[1] == "tags":
		s.contactTags(w, r, p[0], "")
	case len(p) == 3 && p[1] == "tags":
		s.contactTags(w, r, p[0], p[2])
	default:
		writeError(w, 404, "not_found", "Resource Not Found")
	}
}

func (s *Server) listContacts(w http.ResponseWriter, r *http.Request, version string) {
	perPage, err := perPageParam(r.URL.Query().Get("per_page"), 10)
	if err != nil {
		writeError(w, 400, "parameter_invalid", err.Error())
		return
	}
	s.ws.mu.RLock()
	defer s.ws.mu.RUnlock()
	// The cursor names the last contact listed and its page: the next
	// page starts after that contact's place in creation order, so a
	// full listing costs one pass however many pages it takes.
	from, page := 0, 1
	if after := r.URL.Query().Get("starting_after"); after != "" {
		k, err := decodeCursor(after)
		p, ok := s.ws.contacts.pos[k.ID]
		n, isNum := k.V.(int64)
		if err != nil || !ok || !isNum {
			writeError(w, 400, "parameter_invalid", "starting_after is invalid")
			return
		}
		from, page = p+1, int(n)+1
	}
	visible := func(c *contact) bool { return !c.gone() && !c.Archived }
	list := s.ws.contacts.list
	data := make([]map[string]any, 0, perPage)
	last, i := "", from
	for ; i < len(list) && len(data) < perPage; i++ {
		if visible(list[i]) {
			data = append(data, s.contactJSON(list[i], version))
			last = list[i].ID
		}
	}
	var next any
	for ; i < len(list); i++ {
		if visible(list[i]) {
			next = map[string]any{"per_page": perPage, "starting_after": encodeCursor(cursorKey{V: page, ID: last})}
			break
		}
	}
	total := s.ws.visibleContacts
	writeJSON(w, 200, map[string]any{"type": "list", "data": data, "total_count": total,
		"pages": pages((page-1)*perPage, perPage, total, next)})
}

func pages(start, perPage, total int, next any) map[string]any {
	p := map[string]any{"type": "pages", "page": start/perPage + 1, "per_page": perPage, "total_pages": (total + perPage - 1) / perPage}
	if next != nil {
		p["next"] = next
	}
	return p
}

func perPageParam(v string, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 150 {
		return 0, fmt.Errorf("per_page must be an integer between 1 and 150")
	}
	return n, nil
}

// pageParams reads page-number paging: per_page (default def, at most
// 150) and page (default 1).
func pageParams(q url.Values, def int) (perPage, page int, err error) {
	if perPage, err = perPageParam(q.Get("per_page"), def); err != nil {
		return 0, 0, err
	}
	page = 1
	if v := q.Get("page"); v != "" {
		if page, err = strconv.Atoi(v); err != nil || page < 1 {
			return 0, 0, fmt.Errorf("page must be a positive integer")
		}
	}
	return perPage, page, nil
}

// contactInput is the validated body of POST/PUT /contacts.
type contactInput struct {
	set map[string]bool
	c   contact
}

func (s *Server) parseContactInput(body map[string]any) (*contactInput, *apiErr) {
	in := &contactInput{set: map[string]bool{}}
	bad := func(field, msg string) *apiErr {
		return &apiErr{Code: "parameter_invalid", Message: msg, Field: &field}
	}
	str := func(k string) (*string, *apiErr) {
		v, ok := body[k]
		if !ok {
			return nil, nil
		}
		in.set[k] = true
		if v == nil {
			return nil, nil
		}
		sv, ok := v.(string)
		if !ok {
			return nil, bad(k, k+" must be a string")
		}
		return &sv, nil
	}
	ts := func(k string) (*int64, *apiErr) {
		v, ok := body[k]
		if !ok {
			return nil, nil
		}
		in.set[k] = true
		if v == nil {
			return nil, nil
		}
		n, ok := v.(json.Number)
		i, err := n.Int64()
		if !ok || err != nil {
			return nil, bad(k, k+" must be a unix timestamp in seconds")
		}
		return &i, nil
	}
	var e *apiErr
	for _, k := range sortedKeys(body) {
		switch k {
		case "role", "external_id", "email", "phone", "name", "avatar", "signed_up_at", "last_seen_at", "owner_id", "unsubscribed_from_emails", "custom_attributes", "email_verified":
		default:
			return nil, &apiErr{Code: "parameter_invalid", Message: fmt.Sprintf("Unknown parameter: %s", k)}
		}
	}
	if in.c.ExternalID, e = str("external_id"); e != nil {
		return nil, e
	}
	if in.c.Email, e = str("email"); e != nil {
		return nil, e
	}
	if in.c.Email != nil && *in.c.Email != "" && !strings.Contains(*in.c.Email, "@") {
		return nil, bad("email", "Email is invalid")
	}
	if in.c.Phone, e = str("phone"); e != nil {
		return nil, e
	}
	if in.c.Name, e = str("name"); e != nil {
		return nil, e
	}
	if _, e = str("avatar"); e != nil {
		return nil, e
	}
	role, e := str("role")
	if e != nil {
		return nil, e
	}
	if role != nil {
		if *role != "user" && *role != "lead" {
			return nil, bad("role", "role must be user or lead")
		}
		in.c.Role = *role
	}
	if in.c.SignedUpAt, e = ts("signed_up_at"); e != nil {
		return nil, e
	}
	if in.c.LastSeenAt, e = ts("last_seen_at"); e != nil {
		return nil, e
	}
	if v, ok := body["owner_id"]; ok {
		in.set["owner_id"] = true
		if v != nil {
			var n int64
			var err error
			switch x := v.(type) {
			case json.Number:
				n, err = x.Int64()
			case string:
				n, err = strconv.ParseInt(x, 10, 64)
			default:
				err = fmt.Errorf("bad")
			}
			if err != nil {
				return nil, bad("owner_id", "owner_id must be an admin id")
			}
			if !s.ws.adminExists(n) {
				return nil, &apiErr{Code: "not_found", Message: "Admin not found"}
			}
			in.c.OwnerID = &n
		}
	}
	if v, ok := body["unsubscribed_from_emails"]; ok {
		b, ok := v.(bool)
		if !ok {
			return nil, bad("unsubscribed_from_emails", "unsubscribed_from_emails must be a boolean")
		}
		in.set["unsubscribed_from_emails"] = true
		in.c.Unsubscribed = b
	}
	if v, ok := body["custom_attributes"]; ok {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, bad("custom_attributes", "custom_attributes must be an object")
		}
		clean, e := s.ws.checkCustom("contact", m)
		if e != nil {
			return nil, e
		}
		in.set["custom_attributes"] = true
		in.c.Custom = clean
	}
	return in, nil
}

func (w *workspace) adminExists(id int64) bool {
	for _, a := range w.admins {
		if a.ID == strconv.FormatInt(id, 10) {
			return true
		}
	}
	return false
}

// checkCustom validates custom attribute values against the data attributes
// of model. Attributes must exist before values can be written.
func (w *workspace) checkCustom(model string, m map[string]any) (map[string]any, *apiErr) {
	out := map[string]any{}
	for _, k := range sortedKeys(m) {
		v := m[k]
		field := "custom_attributes." + k
		a, ok := w.attrs[model+"/"+k]
		if !ok {
			return nil, &apiErr{Code: "parameter_not_found", Message: fmt.Sprintf("Custom attribute '%s' does not exist", k), Field: &field}
		}
		if v == nil {
			out[k] = nil
			continue
		}
		wrong := &apiErr{Code: "parameter_invalid", Message: fmt.Sprintf("Custom attribute '%s' must be of type %s", k, a.DataType), Field: &field}
		switch a.DataType {
		case "string", "options":
			sv, ok := v.(string)
			if !ok {
				return nil, wrong
			}
			out[k] = sv
		case "boolean":
			b, ok := v.(bool)
			if !ok {
				return nil, wrong
			}
			out[k] = b
		case "integer", "date":
			n, ok := v.(json.Number)
			i, err := n.Int64()
			if !ok || err != nil {
				return nil, wrong
			}
			out[k] = i
		case "float":
			n, ok := v.(json.Number)
			f, err := n.Float64()
			if !ok || err != nil {
				return nil, wrong
			}
			out[k] = f
		}
	}
	return out, nil
}

func writeAPIErr(w http.ResponseWriter, status int, e *apiErr) {
	writeJSON(w, status, map[string]any{"type": "error.list", "request_id": requestID(), "errors": []apiErr{*e}})
}

func (s *Server) createContact(w http.ResponseWriter, r *http.Request, version string) {
	body, err := decode(r)
	if err != nil {
		writeError(w, 400, "parameter_invalid", err.Error())
		return
	}
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	in, e := s.parseContactInput(body)
	if e != nil {
		writeAPIErr(w, 400, e)
		return
	}
	c := in.c
	if c.Email == nil && c.ExternalID == nil && !in.set["role"] {
		writeError(w, 400, "parameter_invalid", "One of email, external_id or role is required")
		return
	}
	if c.Role == "" {
		c.Role = "user"
	}
	if dup := s.ws.duplicateOf(c.Role, c.Email, c.ExternalID, ""); dup != nil {
		prefix := "A contact"
		if dup.Archived {
			prefix = "An archived contact"
		}
		writeError(w, 409, "conflict", prefix+" matching those details already exists with id="+dup.ID)
		return
	}
	now := s.opt.Now().Unix()
	c.ID = s.ws.newID()
	c.CreatedAt, c.UpdatedAt = now, now
	if c.Role == "user" && c.SignedUpAt == nil {
		c.SignedUpAt = &now
	}
	if c.Custom == nil {
		c.Custom = map[string]any{}
	}
	s.ws.saveContact(&c)
	s.stats.record("contacts", "created")
	writeJSON(w, 200, s.contactJSON(&c, version))
}

func (s *Server) updateContact(w http.ResponseWriter, r *http.Request, id, version string) {
	body, err := decode(r)
	if err != nil {
		writeError(w, 400, "parameter_invalid", err.Error())
		return
	}
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	old := s.ws.findContact(id)
	if old == nil {
		writeError(w, 404, "not_found", "User Not Found")
		return
	}
	in, e := s.parseContactInput(body)
	if e != nil {
		writeAPIErr(w, 400, e)
		return
	}
	c := *old
	if in.set["external_id"] {
		c.ExternalID = in.c.ExternalID
	}
	if in.set["email"] {
		c.Email = in.c.Email
	}
	if in.set["phone"] {
		c.Phone = in.c.Phone
	}
	if in.set["name"] {
		c.Name = in.c.Name
	}
	if in.set["role"] {
		c.Role = in.c.Role
	}
	if in.set["signed_up_at"] {
		c.SignedUpAt = in.c.SignedUpAt
	}
	if in.set["last_seen_at"] {
		c.LastSeenAt = in.c.LastSeenAt
	}
	if in.set["owner_id"] {
		c.OwnerID = in.c.OwnerID
	}
	if in.set["unsubscribed_from_emails"] {
		c.Unsubscribed = in.c.Unsubscribed
	}
	if in.set["custom_attributes"] {
		merged := map[string]any{}
		for k, v := range old.Custom {
			merged[k] = v
		}
		for k, v := range in.c.Custom {
			if v == nil {
				delete(merged, k)
			} else {
				merged[k] = v
			}
		}
		c.Custom = merged
	}
	if (in.set["email"] || in.set["external_id"]) && s.ws.duplicateOf(c.Role, c.Email, c.ExternalID, c.ID) != nil {
		dup := s.ws.duplicateOf(c.Role, c.Email, c.ExternalID, c.ID)
		writeError(w, 409, "conflict", "A contact matching those details already exists with id="+dup.ID)
		return
	}
	c.UpdatedAt = s.opt.Now().Unix()
	s.ws.saveContact(&c)
	s.stats.record("contacts", "updated")
	writeJSON(w, 200, s.contactJSON(&c, version))
}

func (s *Server) contactCompanies(w http.ResponseWriter, r *http.Request, id string) {
	switch r.Method {
	case http.MethodGet:
		s.ws.mu.RLock()
		defer s.ws.mu.RUnlock()
		c := s.ws.findContact(id)
		if c == nil {
			writeError(w, 404, "not_found", "User Not Found")
			return
		}
		data := []map[string]any{}
		for _, cid := range c.Companies {
			if co := s.ws.companies.get(cid); co != nil && !co.Deleted {
				data = append(data, s.companyJSON(co, nil))
			}
		}
		writeJSON(w, 200, map[string]any{"type": "list", "companies": data, "total_count": len(data),
			"pages": map[string]any{"type": "pages", "page": 1, "per_page": 50, "total_pages": 1}})
	case http.MethodPost:
		body, err := decode(r)
		if err != nil {
			writeError(w, 400, "parameter_invalid", err.Error())
			return
		}
		cid, _ := body["id"].(string)
		if cid == "" {
			writeError(w, 400, "parameter_not_found", "company not specified")
			return
		}
		s.ws.mu.Lock()
		defer s.ws.mu.Unlock()
		old := s.ws.findContact(id)
		if old == nil {
			writeError(w, 404, "not_found", "User Not Found")
			return
		}
		co := s.ws.companies.get(cid)
		if co == nil || co.Deleted {
			writeError(w, 404, "company_not_found", "Company Not Found")
			return
		}
		for _, have := range old.Companies {
			if have == cid {
				writeJSON(w, 200, s.companyJSON(co, nil))
				return
			}
		}
		if len(old.Companies) >= 1000 {
			writeError(w, 400, "contact_company_limit_exceeded", "Contact has reached the maximum of 1000 company associations")
			return
		}
		c := *old
		c.Companies = append(append([]string{}, old.Companies...), cid)
		c.UpdatedAt = s.opt.Now().Unix()
		s.ws.saveContact(&c)
		s.stats.record("contacts", "company_attached")
		writeJSON(w, 200, s.companyJSON(co, nil))
	default:
		writeError(w, 404, "not_found", "Resource Not Found")
	}
}
