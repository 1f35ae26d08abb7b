// Package intercom is a local emulator of the Intercom REST API endpoints
// ferry uses: /me, admins, contacts (list, get, create, update, search,
// company attachments), companies (create-or-update by company_id, update,
// get, list, scroll), data attributes. It speaks the documented envelopes,
// cursor pagination, the day-granular contact search, X-RateLimit headers and
// 429 rate_limit_exceeded, written from ../shared/api/intercom.md and the
// official OpenAPI description, independently of ferry's client.
package intercom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/emulator/fault"
	"github.com/ferry-sync/ferry/emulator/seed"
	"github.com/ferry-sync/ferry/emulator/store"
)

// Token is the access token the emulator accepts.
const Token = "ferry-emulator-intercom-token"

// Options configure a Server.
type Options struct {
	Dataset  *seed.Dataset
	Journal  *store.Journal
	Now      func() time.Time
	Latency  time.Duration
	FailRate float64 // share of requests answered 503
	// LoseRate is the share of writes committed whose response is lost
	// (the connection dropped, or a gateway's 502 or 504).
	LoseRate       float64
	FaultSeed      uint64
	RateLimit      int    // requests per 10-second window; 0 means 1666 (10,000/min)
	DefaultVersion string // Intercom-Version when the header is absent; default 2.14
	Timezone       string // workspace timezone; default America/Los_Angeles
	// Webhooks, when URL is set, deliver notifications of what the API
	// changes (webhooks.go).
	Webhooks Webhooks
}

// Server is the emulator; it implements http.Handler.
type Server struct {
	opt    Options
	ws     *workspace
	stats  *stats
	mu     sync.Mutex
	window int64
	count  int
	rnd    *rand.Rand
	scroll *scrollState
	cache  searchCache[contact]
	convs  searchCache[conversation]
	hooks  *deliverer // nil without webhooks
}

// New builds a Server, replaying opt.Journal over the seed.
func New(opt Options) (*Server, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.RateLimit == 0 {
		opt.RateLimit = 1666
	}
	if opt.DefaultVersion == "" {
		opt.DefaultVersion = "2.14"
	}
	if opt.Timezone == "" {
		opt.Timezone = "America/Los_Angeles"
	}
	tz, err := time.LoadLocation(opt.Timezone)
	if err != nil {
		return nil, fmt.Errorf("intercom emulator: timezone: %w", err)
	}
	st := newStats()
	ws, err := newWorkspace(opt.Dataset, opt.Journal, tz, st)
	if err != nil {
		return nil, fmt.Errorf("intercom emulator: replay journal: %w", err)
	}
	s := &Server{opt: opt, ws: ws, stats: st, rnd: rand.New(rand.NewPCG(opt.FaultSeed, 11))}
	if opt.Webhooks.URL != "" {
		s.hooks = newDeliverer(opt.Webhooks, opt.Now)
		ws.changed = s.notify
	}
	return s, nil
}

// Close stops delivering webhooks.
func (s *Server) Close() {
	if s.hooks != nil {
		s.hooks.close()
	}
}

// SetFailRate changes fault injection at run time.
func (s *Server) SetFailRate(r float64) { s.mu.Lock(); s.opt.FailRate = r; s.mu.Unlock() }

// SetLoseRate changes the share of writes whose response is lost.
func (s *Server) SetLoseRate(r float64) { s.mu.Lock(); s.opt.LoseRate = r; s.mu.Unlock() }

// SetRateLimit changes the per-10-second budget at run time.
func (s *Server) SetRateLimit(n int) { s.mu.Lock(); s.opt.RateLimit = n; s.mu.Unlock() }

type apiErr struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Field   *string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func requestID() string {
	return fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", rand.Uint32(), rand.Uint32()&0xffff, rand.Uint32()&0xfff, rand.Uint32()&0xfff, rand.Uint64()&0xffffffffffff)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"type": "error.list", "request_id": requestID(), "errors": []apiErr{{Code: code, Message: msg}}})
}

var supportedVersions = map[string]bool{"1.0": true, "1.1": true, "1.2": true, "1.3": true, "1.4": true}

func init() {
	for i := 0; i <= 16; i++ {
		supportedVersions[fmt.Sprintf("2.%d", i)] = true
	}
}

// minor returns the minor number of a 2.x version (0 for 1.x).
func minor(v string) int {
	if !strings.HasPrefix(v, "2.") {
		return 0
	}
	n, _ := strconv.Atoi(v[2:])
	return n
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opt.Latency > 0 {
		select {
		case <-time.After(s.opt.Latency):
		case <-r.Context().Done():
			return
		}
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	if path == "/_emulator/stats" {
		snap := s.stats.snapshot()
		// What the workspace holds, journal included: unlike the counters,
		// it survives a restart.
		s.ws.mu.RLock()
		snap["messages_total"] = len(s.ws.messages)
		s.ws.mu.RUnlock()
		writeJSON(w, 200, snap)
		return
	}
	write := r.Method != http.MethodGet && !strings.HasSuffix(path, "/search") && path != "/companies/list"
	s.stats.request(routeOf(r.Method, path), write)
	if r.Header.Get("Authorization") != "Bearer "+Token {
		writeError(w, 401, "unauthorized", "Access Token Invalid")
		return
	}
	version := r.Header.Get("Intercom-Version")
	if version == "" {
		version = s.opt.DefaultVersion
	}
	if !supportedVersions[version] {
		writeError(w, 400, "intercom_version_invalid", "Requested version is not supported: "+version)
		return
	}
	// Rate limit: a fixed budget per 10-second window, headers on every
	// authenticated response.
	now := s.opt.Now()
	s.mu.Lock()
	win := now.Unix() / 10
	if win != s.window {
		s.window, s.count = win, 0
	}
	s.count++
	limit := s.opt.RateLimit
	remaining := limit - s.count
	fail := s.opt.FailRate > 0 && s.rnd.Float64() < s.opt.FailRate
	throttle := fail && s.rnd.IntN(2) == 0
	lose := write && !fail && s.opt.LoseRate > 0 && s.rnd.Float64() < s.opt.LoseRate
	var loss fault.Loss
	if lose {
		loss = fault.Pick(s.rnd.Float64())
	}
	s.mu.Unlock()
	w.Header().Set("X-RateLimit-Limit", strconv.Itoa(limit))
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(max(remaining, 0)))
	w.Header().Set("X-RateLimit-Reset", strconv.FormatInt((win+1)*10, 10))
	if remaining < 0 || throttle {
		s.stats.fault("429")
		w.Header().Set("X-RateLimit-Remaining", "0")
		writeError(w, 429, "rate_limit_exceeded", fmt.Sprintf("Exceeded rate limit of %d in 10_seconds", limit))
		return
	}
	if fail {
		s.stats.fault("503")
		writeError(w, 503, "service_unavailable", "Sorry, the API service is temporarily unavailable")
		return
	}
	if lose {
		s.stats.fault(loss.String())
		fault.Lose(w, func(w http.ResponseWriter) { s.route(w, r, path, version) }, loss)
		return
	}
	s.route(w, r, path, version)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, path, version string) {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	switch {
	case path == "/me" && r.Method == http.MethodGet:
		s.me(w)
	case path == "/admins" && r.Method == http.MethodGet:
		s.listAdmins(w)
	case parts[0] == "contacts":
		s.contactsRoute(w, r, parts[1:], version)
	case parts[0] == "conversations":
		s.conversationsRoute(w, r, parts[1:], version)
	case path == "/tags":
		s.tagsRoute(w, r)
	case path == "/messages":
		s.messages(w, r)
	case path == "/events":
		s.eventsRoute(w, r)
	case parts[0] == "companies":
		s.companiesRoute(w, r, parts[1:], version)
	case path == "/data_attributes":
		s.dataAttributes(w, r)
	default:
		writeError(w, 404, "not_found", "Resource Not Found")
	}
}

func (s *Server) me(w http.ResponseWriter) {
	s.ws.mu.RLock()
	a := admin{ID: "991199999", Name: "Ferry Integration", Email: "integration@ferry-emulator.example.com"}
	if len(s.ws.admins) > 0 {
		a = s.ws.admins[0]
	}
	s.ws.mu.RUnlock()
	writeJSON(w, 200, map[string]any{
		"type": "admin", "id": a.ID, "email": a.Email, "name": a.Name, "email_verified": true,
		"app": map[string]any{"type": "app", "id_code": "ferryemu", "name": "ferry emulator", "created_at": seed.Base.Unix(),
			"identity_verification": false, "timezone": s.opt.Timezone, "region": "US"},
		"avatar": map[string]any{"type": "avatar", "image_url": nil}, "has_inbox_seat": true,
	})
}

func (s *Server) listAdmins(w http.ResponseWriter) {
	s.ws.mu.RLock()
	out := []map[string]any{}
	for _, a := range s.ws.admins {
		out = append(out, map[string]any{"type": "admin", "id": a.ID, "name": a.Name, "email": a.Email, "job_title": "Account Executive",
			"away_mode_enabled": false, "away_mode_reassign": false, "has_inbox_seat": true, "team_ids": []any{}, "avatar": nil})
	}
	s.ws.mu.RUnlock()
	writeJSON(w, 200, map[string]any{"type": "admin.list", "admins": out})
}

// decode reads a JSON object body, keeping numbers exact.
func decode(r *http.Request) (map[string]any, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("Body is required")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("Body is not valid JSON")
	}
	return m, nil
}

func (s *Server) dataAttributes(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		model := r.URL.Query().Get("model")
		if model == "conversation" {
			writeError(w, 422, "parameter_invalid", "model=conversation is not supported; use GET /conversations/attributes")
			return
		}
		s.ws.mu.RLock()
		var out []map[string]any
		for _, m := range []string{"contact", "company"} {
			if model != "" && model != m {
				continue
			}
			for _, std := range standardAttrs[m] {
				out = append(out, attrJSON(&dataAttribute{Model: m, Name: std[0], DataType: std[1]}))
			}
		}
		keys := make([]string, 0, len(s.ws.attrs))
		for k := range s.ws.attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			a := s.ws.attrs[k]
			if model == "" || a.Model == model {
				out = append(out, attrJSON(a))
			}
		}
		s.ws.mu.RUnlock()
		writeJSON(w, 200, map[string]any{"type": "list", "data": out})
	case http.MethodPost:
		body, err := decode(r)
		if err != nil {
			writeError(w, 400, "parameter_invalid", err.Error())
			return
		}
		name, _ := body["name"].(string)
		model, _ := body["model"].(string)
		typ, _ := body["data_type"].(string)
		if name == "" || (model != "contact" && model != "company") {
			writeError(w, 400, "parameter_invalid", "name and model (contact or company) are required")
			return
		}
		switch typ {
		case "string", "integer", "float", "boolean", "date", "datetime", "options":
		default:
			writeError(w, 400, "parameter_invalid", "Data Type isn't an option")
			return
		}
		s.ws.mu.Lock()
		defer s.ws.mu.Unlock()
		if _, exists := s.ws.attrs[model+"/"+name]; exists {
			writeError(w, 400, "parameter_invalid", fmt.Sprintf("You already have '%s' in your %s data. To save this as new people data, use a different name.", name, map[string]string{"contact": "person", "company": "company"}[model]))
			return
		}
		if typ == "datetime" {
			typ = "date"
		}
		a := &dataAttribute{ID: int64(100 + len(s.ws.attrs)), Model: model, Name: name, DataType: typ, Custom: true, CreatedAt: s.opt.Now().Unix()}
		s.ws.journal.Append(entry{Attr: a, Seq: s.ws.seq})
		s.ws.putAttr(a)
		writeJSON(w, 200, attrJSON(a))
	default:
		writeError(w, 404, "not_found", "Resource Not Found")
	}
}

var standardAttrs = map[string][][2]string{
	"contact": {{"name", "string"}, {"email", "string"}, {"phone", "string"}, {"external_id", "string"}, {"role", "string"}, {"owner_id", "integer"}, {"unsubscribed_from_emails", "boolean"}, {"created_at", "date"}, {"updated_at", "date"}, {"signed_up_at", "date"}, {"last_seen_at", "date"}},
	"company": {{"name", "string"}, {"company_id", "string"}, {"website", "string"}, {"industry", "string"}, {"size", "integer"}, {"monthly_spend", "float"}, {"plan", "string"}, {"created_at", "date"}, {"updated_at", "date"}},
}

func attrJSON(a *dataAttribute) map[string]any {
	full := a.Name
	if a.Custom {
		full = "custom_attributes." + a.Name
	}
	opts := a.Options
	if opts == nil {
		opts = []string{}
	}
	out := map[string]any{"type": "data_attribute", "model": a.Model, "name": a.Name, "full_name": full, "label": a.Name,
		"description": "", "data_type": a.DataType, "options": opts, "api_writable": true, "messenger_writable": false,
		"ui_writable": true, "custom": a.Custom, "archived": false, "created_at": a.CreatedAt}
	if a.Custom {
		out["id"] = a.ID // standard attributes have no id
	}
	return out
}

func routeOf(method, path string) string {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i, p := range parts {
		if len(p) == 24 || (i > 0 && (parts[0] == "contacts" || parts[0] == "companies") && i == 1 && p != "search" && p != "scroll" && p != "list") {
			parts[i] = "{id}"
		}
	}
	return method + " /" + strings.Join(parts, "/")
}

type stats struct {
	mu       sync.Mutex
	requests map[string]int
	total    int
	writes   int
	records  map[string]map[string]int
	faults   map[string]int
}

func newStats() *stats {
	return &stats{requests: map[string]int{}, records: map[string]map[string]int{}, faults: map[string]int{}}
}

func (s *stats) fault(kind string) { s.mu.Lock(); s.faults[kind]++; s.mu.Unlock() }

func (s *stats) request(route string, write bool) {
	s.mu.Lock()
	s.requests[route]++
	s.total++
	if write {
		s.writes++
	}
	s.mu.Unlock()
}

func (s *stats) record(kind, what string) {
	s.mu.Lock()
	m := s.records[kind]
	if m == nil {
		m = map[string]int{}
		s.records[kind] = m
	}
	m[what]++
	s.mu.Unlock()
}

func (s *stats) snapshot() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	req := map[string]int{}
	for k, v := range s.requests {
		req[k] = v
	}
	rec := map[string]map[string]int{}
	for k, v := range s.records {
		m := map[string]int{}
		for a, b := range v {
			m[a] = b
		}
		rec[k] = m
	}
	faults := map[string]int{}
	for k, v := range s.faults {
		faults[k] = v
	}
	return map[string]any{"requests": req, "total_requests": s.total, "write_requests": s.writes, "records": rec, "faults": faults}
}
