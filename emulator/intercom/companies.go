package intercom

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Scroll pages hold this many companies.
const scrollPage = 50

type scrollState struct {
	param    string
	ids      []string
	pos      int
	lastUsed time.Time
}

func (s *Server) companyJSON(c *company, counts map[string]int) map[string]any {
	plan := map[string]any{}
	if c.Plan != nil {
		plan = map[string]any{"type": "plan", "id": fmt.Sprint(len(*c.Plan) * 7919), "name": *c.Plan}
	}
	custom := c.Custom
	if custom == nil {
		custom = map[string]any{}
	}
	var users any = 0
	if counts != nil {
		users = counts[c.ID]
	}
	out := map[string]any{
		"type": "company", "id": c.ID, "company_id": c.CompanyID, "app_id": "ferryemu",
		"created_at": c.CreatedAt, "updated_at": c.UpdatedAt,
		"last_request_at": c.LastRequest, "monthly_spend": c.MonthlySpend, "session_count": 0, "user_count": users,
		"plan": plan, "custom_attributes": custom,
		"tags":     map[string]any{"type": "tag.list", "tags": []any{}},
		"segments": map[string]any{"type": "segment.list", "segments": []any{}},
		"notes":    map[string]any{"type": "note.list", "notes": []any{}},
	}
	// Optional fields the description declares non-nullable are omitted when unset.
	for k, v := range map[string]any{"name": strOrNil(c.Name), "remote_created_at": intOrNil(c.RemoteAt), "size": intOrNil(c.Size),
		"website": strOrNil(c.Website), "industry": strOrNil(c.Industry)} {
		if v != nil {
			out[k] = v
		}
	}
	return out
}

func (s *Server) companiesRoute(w http.ResponseWriter, r *http.Request, p []string, version string) {
	switch {
	case len(p) == 0 && r.Method == http.MethodPost:
		s.upsertCompany(w, r, "")
	case len(p) == 0 && r.Method == http.MethodGet:
		s.findCompany(w, r)
	case len(p) == 1 && p[0] == "scroll" && r.Method == http.MethodGet:
		s.scrollCompanies(w, r)
	case len(p) == 1 && p[0] == "list" && r.Method == http.MethodPost:
		s.listCompanies(w, r)
	case len(p) == 1 && r.Method == http.MethodGet:
		s.ws.mu.RLock()
		defer s.ws.mu.RUnlock()
		c := s.ws.companies.get(p[0])
		if c == nil || c.Deleted {
			writeError(w, 404, "company_not_found", "Company Not Found")
			return
		}
		writeJSON(w, 200, s.companyJSON(c, s.ws.attachedCounts()))
	case len(p) == 1 && r.Method == http.MethodPut:
		s.upsertCompany(w, r, p[0])
	case len(p) == 1 && r.Method == http.MethodDelete:
		s.deleteCompany(w, p[0])
	default:
		writeError(w, 404, "not_found", "Resource Not Found")
	}
}

// upsertCompany implements POST /companies (create or update keyed by
// company_id) and PUT /companies/{id} (update by Intercom id).
func (s *Server) upsertCompany(w http.ResponseWriter, r *http.Request, id string) {
	body, err := decode(r)
	if err != nil {
		writeError(w, 400, "parameter_invalid", err.Error())
		return
	}
	for _, k := range sortedKeys(body) {
		switch k {
		case "name", "company_id", "plan", "size", "website", "industry", "custom_attributes", "remote_created_at", "monthly_spend", "update_last_request_at", "id":
		default:
			writeError(w, 400, "parameter_invalid", "Unknown parameter: "+k)
			return
		}
	}
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	var existing *company
	if id != "" {
		existing = s.ws.companies.get(id)
		if existing == nil || existing.Deleted {
			writeError(w, 404, "company_not_found", "Company Not Found")
			return
		}
		if cid, ok := body["company_id"].(string); ok && cid != existing.CompanyID {
			writeError(w, 400, "parameter_invalid", "company_id cannot be updated")
			return
		}
	} else {
		cid, _ := body["company_id"].(string)
		if cid == "" {
			writeError(w, 400, "parameter_invalid", "company_id is required")
			return
		}
		existing = s.ws.byCID[strings.ToLower(cid)]
	}
	now := s.opt.Now().Unix()
	var c company
	if existing != nil {
		c = *existing
	} else {
		c = company{ID: s.ws.newID(), CompanyID: body["company_id"].(string), CreatedAt: now, Custom: map[string]any{}}
	}
	str := func(k string, dst **string) bool {
		v, ok := body[k]
		if !ok {
			return true
		}
		if v == nil {
			*dst = nil
			return true
		}
		sv, ok := v.(string)
		if !ok {
			writeError(w, 400, "parameter_invalid", k+" must be a string")
			return false
		}
		*dst = &sv
		return true
	}
	if !str("name", &c.Name) || !str("plan", &c.Plan) || !str("website", &c.Website) || !str("industry", &c.Industry) {
		return
	}
	if v, ok := body["size"]; ok {
		n, err := intParam(v)
		if err != nil {
			writeError(w, 400, "parameter_invalid", "size must be an integer")
			return
		}
		c.Size = n
	}
	if v, ok := body["remote_created_at"]; ok {
		n, err := intParam(v)
		if err != nil {
			writeError(w, 400, "parameter_invalid", "remote_created_at must be a unix timestamp")
			return
		}
		c.RemoteAt = n
	}
	if v, ok := body["monthly_spend"]; ok {
		num, ok := v.(json.Number)
		f, err := num.Float64()
		if !ok || err != nil || f > 2147483647 {
			writeError(w, 400, "parameter_invalid", "monthly_spend must be a number below 2147483647")
			return
		}
		c.MonthlySpend = int64(f) // floats are truncated
	}
	if v, ok := body["custom_attributes"]; ok {
		m, ok := v.(map[string]any)
		if !ok {
			writeError(w, 400, "parameter_invalid", "custom_attributes must be an object")
			return
		}
		clean, e := s.ws.checkCustom("company", m)
		if e != nil {
			writeAPIErr(w, 400, e)
			return
		}
		merged := map[string]any{}
		for k, v := range c.Custom {
			merged[k] = v
		}
		for k, v := range clean {
			if v == nil {
				delete(merged, k)
			} else {
				merged[k] = v
			}
		}
		c.Custom = merged
	}
	c.UpdatedAt = now
	if b, _ := body["update_last_request_at"].(bool); b {
		c.LastRequest = now
	}
	s.ws.saveCompany(&c)
	if existing == nil {
		s.stats.record("companies", "created")
	} else {
		s.stats.record("companies", "updated")
	}
	writeJSON(w, 200, s.companyJSON(&c, s.ws.attachedCounts()))
}

func intParam(v any) (*int64, error) {
	if v == nil {
		return nil, nil
	}
	switch x := v.(type) {
	case json.Number:
		n, err := x.Int64()
		return &n, err
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		return &n, err
	}
	return nil, fmt.Errorf("not an integer")
}

func (s *Server) findCompany(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.ws.mu.RLock()
	defer s.ws.mu.RUnlock()
	counts := s.ws.attachedCounts()
	// One company, by company_id or name, comes in a list of one: the
	// description's company_list (the 2.16 example; the official SDK takes
	// a company or a list).
	one := func(c *company) {
		writeJSON(w, 200, map[string]any{"type": "list", "data": []map[string]any{s.companyJSON(c, counts)}, "total_count": 1,
			"pages": map[string]any{"type": "pages", "page": 1, "per_page": 15, "total_pages": 1}})
	}
	if cid := q.Get("company_id"); cid != "" {
		c := s.ws.byCID[strings.ToLower(cid)]
		if c == nil || c.Deleted {
			writeError(w, 404, "company_not_found", "Company Not Found")
			return
		}
		one(c)
		return
	}
	if name := q.Get("name"); name != "" {
		for _, c := range s.ws.companies.list {
			if !c.Deleted && c.Name != nil && strings.EqualFold(*c.Name, name) {
				one(c)
				return
			}
		}
		writeError(w, 404, "company_not_found", "Company Not Found")
		return
	}
	s.writeCompanyPage(w, r, counts, 15)
}

func (s *Server) listCompanies(w http.ResponseWriter, r *http.Request) {
	s.ws.mu.RLock()
	defer s.ws.mu.RUnlock()
	s.writeCompanyPage(w, r, s.ws.attachedCounts(), 20)
}

// writeCompanyPage serves page-numbered company listing, capped at 10,000.
func (s *Server) writeCompanyPage(w http.ResponseWriter, r *http.Request, counts map[string]int, def int) {
	q := r.URL.Query()
	perPage, page, err := pageParams(q, def)
	if err != nil {
		writeError(w, 400, "parameter_invalid", err.Error())
		return
	}
	var visible []*company
	for _, c := range s.ws.companies.list {
		if !c.Deleted && counts[c.ID] > 0 {
			visible = append(visible, c)
		}
	}
	sort.SliceStable(visible, func(i, j int) bool {
		if q.Get("order") == "asc" {
			return visible[i].LastRequest < visible[j].LastRequest
		}
		return visible[i].LastRequest > visible[j].LastRequest
	})
	start := (page - 1) * perPage
	if start+perPage > 10000 {
		writeError(w, 400, "parameter_invalid", "page limit reached, please use scroll API")
		return
	}
	end := min(start+perPage, len(visible))
	data := []map[string]any{}
	if start < end {
		for _, c := range visible[start:end] {
			data = append(data, s.companyJSON(c, counts))
		}
	}
	pg := map[string]any{"type": "pages", "page": page, "per_page": perPage, "total_pages": (len(visible) + perPage - 1) / perPage}
	writeJSON(w, 200, map[string]any{"type": "list", "data": data, "total_count": len(visible), "pages": pg})
}

// scrollCompanies implements GET /companies/scroll: one open scroll per
// workspace, expiring after a minute unused; an empty page ends it.
func (s *Server) scrollCompanies(w http.ResponseWriter, r *http.Request) {
	param := r.URL.Query().Get("scroll_param")
	now := s.opt.Now()
	s.mu.Lock()
	if s.scroll != nil && now.Sub(s.scroll.lastUsed) > time.Minute {
		s.scroll = nil
	}
	switch {
	case param == "" && s.scroll != nil:
		s.mu.Unlock()
		writeError(w, 400, "scroll_exists", "scroll already exists for this workspace")
		return
	case param != "" && (s.scroll == nil || s.scroll.param != param):
		s.mu.Unlock()
		writeError(w, 404, "not_found", "scroll parameter not found")
		return
	case param == "":
		s.ws.mu.RLock()
		counts := s.ws.attachedCounts()
		var ids []string
		for _, c := range s.ws.companies.list {
			if !c.Deleted && counts[c.ID] > 0 {
				ids = append(ids, c.ID)
			}
		}
		s.ws.mu.RUnlock()
		s.scroll = &scrollState{param: fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", now.UnixNano()&0xffffffff, len(ids)&0xffff, now.Nanosecond()&0xfff, 7, now.UnixNano()&0xffffffffffff), ids: ids}
	}
	sc := s.scroll
	sc.lastUsed = now
	end := min(sc.pos+scrollPage, len(sc.ids))
	page := sc.ids[sc.pos:end]
	sc.pos = end
	if len(page) == 0 {
		s.scroll = nil // the scroll is over; its param now expires
	}
	s.mu.Unlock()
	s.ws.mu.RLock()
	counts := s.ws.attachedCounts()
	data := []map[string]any{}
	for _, id := range page {
		if c := s.ws.companies.get(id); c != nil && !c.Deleted {
			data = append(data, s.companyJSON(c, counts))
		}
	}
	s.ws.mu.RUnlock()
	out := map[string]any{"type": "list", "data": data, "pages": nil, "total_count": nil, "scroll_param": sc.param}
	if len(page) == 0 {
		// The end: the scroll is over and its param expired, so there is
		// none to go on with (the official SDK pages while one is given).
		delete(out, "scroll_param")
	}
	writeJSON(w, 200, out)
}
