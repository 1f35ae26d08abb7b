// Package salesforce is a local emulator of the Salesforce APIs ferry uses:
// OAuth 2.0 token endpoint (client credentials, JWT bearer), REST (versions,
// limits, describe, SOQL query/queryMore/queryAll, sObject CRUD and upsert by
// external id, sObject Collections) and Bulk API 2.0 ingest and query jobs.
//
// It is written from Salesforce's documentation (../shared/api/salesforce.md),
// independently of ferry's client, so that a misreading on either side shows
// up as a failing test rather than as a silent agreement.
package salesforce

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/emulator/fault"
	"github.com/ferry-sync/ferry/emulator/seed"
	"github.com/ferry-sync/ferry/emulator/store"
)

// Credentials the emulator's connected app and integration user accept.
const (
	ClientID     = "ferry-emulator-client-id"
	ClientSecret = "ferry-emulator-client-secret"
	Username     = "integration@ferry-emulator.example.com"
	OrgID        = "00D5e000000FeRrEAU" // 18 characters, as every record id the API returns
)

// Options configure a Server.
type Options struct {
	Dataset  *seed.Dataset  // nil for an empty org
	Journal  *store.Journal // nil keeps state in memory only
	Now      func() time.Time
	Latency  time.Duration
	FailRate float64 // share of requests answered 503, and of rows failing UNABLE_TO_LOCK_ROW
	// LoseRate is the share of writes committed whose response is lost
	// (the connection dropped, or a gateway's 502 or 504).
	LoseRate   float64
	FaultSeed  uint64
	DailyLimit int // DailyApiRequests Max; 0 means 1,000,000
	TokenTTL   time.Duration
	PublicKey  *rsa.PublicKey // verifies JWT bearer assertions; nil disables that flow
	// BulkDelay keeps ingest jobs InProgress at least this long.
	BulkDelay time.Duration
	// MaxUpload caps one ingest job's upload, counted as Salesforce does:
	// after base64-encoding the CSV. 0 means Salesforce's 150 MB; tests set
	// a small one.
	MaxUpload int
	// Required marks fields required on create beyond the standard ones,
	// as an org's validation rules do: object -> field names.
	Required map[string][]string
	// ExternalIDs adds custom external-id text fields to objects, as an
	// admin does: object -> field names (ending in __c).
	ExternalIDs map[string][]string
}

// Server is the emulator; it implements http.Handler.
type Server struct {
	opt    Options
	org    *org
	stats  *stats
	mu     sync.Mutex
	tokens map[string]time.Time
	used   int
	rnd    *rand.Rand
	qcur   map[string]*cursor
	ingest map[string]*ingestJob
	qjobs  map[string]*queryJob
	jobSeq int
}

// New builds a Server, replaying opt.Journal over the seed.
func New(opt Options) (*Server, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.DailyLimit == 0 {
		opt.DailyLimit = 1_000_000
	}
	if opt.TokenTTL == 0 {
		opt.TokenTTL = 2 * time.Hour
	}
	if opt.MaxUpload == 0 {
		opt.MaxUpload = maxUpload
	}
	st := newStats()
	o, err := newOrg(opt.Dataset, opt.Journal, opt.Now, st, opt.ExternalIDs)
	if err != nil {
		return nil, fmt.Errorf("salesforce emulator: replay journal: %w", err)
	}
	for obj, fields := range opt.Required {
		meta := o.object(obj)
		if meta == nil {
			return nil, fmt.Errorf("salesforce emulator: unknown object %s", obj)
		}
		for _, name := range fields {
			f := meta.field(name)
			if f == nil {
				return nil, fmt.Errorf("salesforce emulator: unknown field %s.%s", obj, name)
			}
			f.Nillable, f.DefaultedOnCreate = false, false
		}
	}
	s := &Server{opt: opt, org: o, stats: st, tokens: map[string]time.Time{}, rnd: rand.New(rand.NewPCG(opt.FaultSeed, 7)),
		qcur: map[string]*cursor{}, ingest: map[string]*ingestJob{}, qjobs: map[string]*queryJob{}}
	// Ids of jobs and query cursors, which only ingest jobs outlive a
	// restart with, start past any this org handed out before: from the
	// milliseconds since the seed's epoch.
	s.jobSeq = int(opt.Now().Sub(seed.Base).Milliseconds())
	if err := s.restoreJobs(); err != nil {
		return nil, fmt.Errorf("salesforce emulator: %w", err)
	}
	return s, nil
}

// SetFailRate changes fault injection at run time (tests use it between runs).
func (s *Server) SetFailRate(r float64) { s.mu.Lock(); s.opt.FailRate = r; s.mu.Unlock() }

// SetLoseRate changes the share of writes whose response is lost.
func (s *Server) SetLoseRate(r float64) { s.mu.Lock(); s.opt.LoseRate = r; s.mu.Unlock() }

// ExpireTokens invalidates every issued access token, as a session timeout does.
func (s *Server) ExpireTokens() { s.mu.Lock(); s.tokens = map[string]time.Time{}; s.mu.Unlock() }

func (s *Server) fail() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opt.FailRate > 0 && s.rnd.Float64() < s.opt.FailRate
}

// lose decides whether a write's response is lost, and how.
func (s *Server) lose() (fault.Loss, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opt.LoseRate <= 0 || s.rnd.Float64() >= s.opt.LoseRate {
		return 0, false
	}
	return fault.Pick(s.rnd.Float64()), true
}

type apiError struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	if v != nil {
		json.NewEncoder(w).Encode(v)
	}
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, []apiError{{Message: msg, ErrorCode: code}})
}

var (
	versionRe = regexp.MustCompile(`^/services/data/v(\d{2}\.0)(/.*)?$`)
	idRe      = regexp.MustCompile(`^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$`)
)

// Supported API versions.
const (
	minVersion = 31
	maxVersion = 66
)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opt.Latency > 0 {
		select {
		case <-time.After(s.opt.Latency):
		case <-r.Context().Done():
			return
		}
	}
	// A real org serves a path with doubled slashes as the path without
	// them: the Salesforce CLI keeps the instance URL with a trailing
	// slash and asks for //services/data/....
	path := r.URL.Path
	for strings.Contains(path, "//") {
		path = strings.ReplaceAll(path, "//", "/")
	}
	route := routeOf(r.Method, path)
	s.stats.request(route, isWrite(r.Method, path))
	switch {
	case path == "/_emulator/stats":
		writeJSON(w, 200, s.stats.snapshot())
		return
	case path == "/services/oauth2/token":
		s.token(w, r)
		return
	case path == "/services/data" || path == "/services/data/":
		var out []map[string]string
		for v := minVersion; v <= maxVersion; v++ {
			out = append(out, map[string]string{"label": label(v), "url": fmt.Sprintf("/services/data/v%d.0", v), "version": fmt.Sprintf("%d.0", v)})
		}
		writeJSON(w, 200, out)
		return
	}
	if !s.authorized(r) {
		writeErr(w, 401, "INVALID_SESSION_ID", "Session expired or invalid")
		return
	}
	if path == "/services/oauth2/userinfo" || path == "/id/"+OrgID+"/"+s.org.userID {
		s.userinfo(w, r)
		return
	}
	m := versionRe.FindStringSubmatch(path)
	if m == nil {
		writeErr(w, 404, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	major, _ := strconv.Atoi(m[1][:2])
	if major < minVersion {
		writeErr(w, 410, "API_VERSION_RETIRED", fmt.Sprintf("Version %s of the API is no longer supported", m[1]))
		return
	}
	if major > maxVersion {
		writeErr(w, 404, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	s.mu.Lock()
	s.used++
	used := s.used
	s.mu.Unlock()
	w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", used, s.opt.DailyLimit))
	if used > s.opt.DailyLimit {
		writeErr(w, 403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
		return
	}
	if s.fail() {
		s.stats.fault("503")
		writeErr(w, 503, "SERVER_UNAVAILABLE", "Server is temporarily unavailable; please retry your request.")
		return
	}
	if isWrite(r.Method, path) {
		if loss, ok := s.lose(); ok {
			s.stats.fault(loss.String())
			fault.Lose(w, func(w http.ResponseWriter) { s.api(w, r, m[1], strings.Trim(m[2], "/")) }, loss)
			return
		}
	}
	s.api(w, r, m[1], strings.Trim(m[2], "/"))
}

func label(v int) string {
	// v62 is Winter '25; each release adds one, cycling Winter, Spring, Summer.
	n := v - 62
	season := ((n % 3) + 3) % 3
	year := 25 + (n-season)/3
	return fmt.Sprintf("%s '%02d", []string{"Winter", "Spring", "Summer"}[season], year)
}

func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	var tok string
	switch {
	case strings.HasPrefix(h, "Bearer "):
		tok = strings.TrimPrefix(h, "Bearer ")
	case strings.HasPrefix(h, "OAuth "):
		tok = strings.TrimPrefix(h, "OAuth ")
	default:
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[tok]
	return ok && s.opt.Now().Before(exp)
}

// api dispatches a versioned REST path (rest has no leading slash).
func (s *Server) api(w http.ResponseWriter, r *http.Request, version, rest string) {
	parts := strings.Split(rest, "/")
	switch parts[0] {
	case "limits":
		s.limits(w)
	case "sobjects":
		s.sobjects(w, r, version, parts[1:])
	case "query", "queryAll":
		s.query(w, r, version, parts[0] == "queryAll", parts[1:])
	case "composite":
		if len(parts) >= 2 && parts[1] == "sobjects" {
			s.collections(w, r, version, parts[2:])
			return
		}
		writeErr(w, 404, "NOT_FOUND", "The requested resource does not exist")
	case "jobs":
		if len(parts) >= 2 && parts[1] == "ingest" {
			s.ingestRoute(w, r, version, parts[2:])
			return
		}
		if len(parts) >= 2 && parts[1] == "query" {
			s.queryJobRoute(w, r, version, parts[2:])
			return
		}
		writeErr(w, 404, "NOT_FOUND", "The requested resource does not exist")
	case "":
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		writeJSON(w, 200, map[string]string{"sobjects": "/services/data/v" + version + "/sobjects", "query": "/services/data/v" + version + "/query",
			"limits": "/services/data/v" + version + "/limits", "identity": scheme + "://" + r.Host + "/id/" + OrgID + "/" + s.org.userID})
	default:
		writeErr(w, 404, "NOT_FOUND", "The requested resource does not exist")
	}
}

func (s *Server) limits(w http.ResponseWriter) {
	s.mu.Lock()
	rem := s.opt.DailyLimit - s.used
	s.mu.Unlock()
	if rem < 0 {
		rem = 0
	}
	lim := func(max, rem int) map[string]int { return map[string]int{"Max": max, "Remaining": rem} }
	writeJSON(w, 200, map[string]any{
		"DailyApiRequests":                  lim(s.opt.DailyLimit, rem),
		"DailyBulkApiBatches":               lim(15000, 15000),
		"DailyBulkV2QueryJobs":              lim(10000, 10000),
		"DailyBulkV2QueryFileStorageMB":     lim(976562, 976562),
		"DataStorageMB":                     lim(5, 5),
		"FileStorageMB":                     lim(20, 20),
		"DailyAsyncApexExecutions":          lim(250000, 250000),
		"ConcurrentAsyncGetReportInstances": lim(200, 200),
	})
}

// routeOf names a request by its route template, for /_emulator/stats.
func routeOf(method, path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i, p := range parts {
		switch {
		case i == 2 && strings.HasPrefix(p, "v") && len(p) >= 4:
			parts[i] = "v{version}"
		case idRe.MatchString(p) && strings.ContainsAny(p, "0123456789") && i > 3:
			parts[i] = "{id}"
		case i > 3 && (parts[i-1] == "query" || parts[i-1] == "queryAll") && strings.Contains(p, "-"):
			parts[i] = "{locator}"
		case i > 4 && parts[3] == "sobjects" && i == 6:
			parts[i] = "{value}"
		}
	}
	return method + " /" + strings.Join(parts, "/")
}

func isWrite(method, path string) bool {
	if method == http.MethodGet || method == http.MethodHead || path == "/services/oauth2/token" {
		return false
	}
	if strings.Contains(path, "/jobs/query") {
		return false // creating a query job reads
	}
	return strings.HasPrefix(path, "/services/data/")
}

type stats struct {
	mu       sync.Mutex
	requests map[string]int
	writes   int
	total    int
	records  map[string]map[string]int
	faults   map[string]int
}

func newStats() *stats {
	return &stats{requests: map[string]int{}, records: map[string]map[string]int{}, faults: map[string]int{}}
}

func (s *stats) fault(kind string) { s.mu.Lock(); s.faults[kind]++; s.mu.Unlock() }

func (s *stats) request(route string, write bool) {
	if strings.HasSuffix(route, "/_emulator/stats") {
		return
	}
	s.mu.Lock()
	s.requests[route]++
	s.total++
	if write {
		s.writes++
	}
	s.mu.Unlock()
}

func (s *stats) record(obj, what string) {
	s.mu.Lock()
	m := s.records[obj]
	if m == nil {
		m = map[string]int{}
		s.records[obj] = m
	}
	m[what]++
	s.mu.Unlock()
}

func (s *stats) snapshot() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	routes := make([]string, 0, len(s.requests))
	for k := range s.requests {
		routes = append(routes, k)
	}
	sort.Strings(routes)
	req := map[string]int{}
	for _, k := range routes {
		req[k] = s.requests[k]
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
