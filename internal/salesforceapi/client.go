// Package salesforceapi is ferry's Salesforce client: OAuth 2.0 client
// credentials and JWT bearer flows (or a pre-issued access token), REST
// query/queryMore/queryAll, describe, sObject Collections, and Bulk API 2.0
// ingest and query jobs, against a pinned API version.
//
// Every answer's Sforce-Limit-Info is tracked. A Budget caps how many calls
// this client may make and refuses work that would take the org below a
// reserve of its daily allowance. On 401 the client authenticates once more
// and repeats the request once. Network errors, 5xx and 429 are retried for
// requests that are safe to repeat (reads, updates by Id, upserts by external
// id, Bulk job polling); creating a Bulk job is not retried blindly.
package salesforceapi

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ferry-sync/ferry/internal/httpx"
)

// DefaultVersion is the API version ferry pins unless told otherwise.
const DefaultVersion = "62.0"

// Auth flows.
const (
	FlowClientCredentials = "client_credentials"
	FlowJWT               = "jwt"
	FlowAccessToken       = "access_token"
)

// Options configure a Client.
type Options struct {
	LoginURL       string // token endpoint host (My Domain for client credentials)
	Flow           string
	ClientID       string
	ClientSecret   string
	Username       string // JWT subject
	PrivateKeyFile string // JWT signing key (PEM, PKCS#1 or PKCS#8)
	Audience       string // JWT aud; derived from LoginURL when empty
	AccessToken    string // pre-issued token (Flow access_token)
	InstanceURL    string // with a pre-issued token
	APIVersion     string
	HTTP           *http.Client
	Logger         *slog.Logger
	Now            func() time.Time
	Budget         Budget
	Attempts       int
	// Rules says how ferry's writes meet the org's assignment and
	// duplicate rules.
	Rules Rules
}

// Rules control the org's rules on ferry's writes.
type Rules struct {
	// Assign is, per object, the Sforce-Auto-Assign value of REST writes:
	// "TRUE" (the object's active rule), or an AssignmentRule Id. Objects
	// it does not name are written with FALSE: no rule replaces the owner
	// ferry sets.
	Assign map[string]string
	// AllowSave saves through duplicate rules whose action is an alert
	// (Sforce-Duplicate-Rule-Header: allowSave=true).
	AllowSave bool
}

// writeHeaders are the rule headers of a REST write to object.
func (c *Client) writeHeaders(object string) map[string]string {
	h := map[string]string{"Sforce-Auto-Assign": "FALSE"}
	if v := c.opt.Rules.Assign[object]; v != "" {
		h["Sforce-Auto-Assign"] = v
	}
	if c.opt.Rules.AllowSave {
		h["Sforce-Duplicate-Rule-Header"] = "allowSave=true"
	}
	return h
}

// Budget bounds the API calls ferry spends.
type Budget struct {
	MaxCalls     int // calls this client may make; 0 = unlimited
	MinRemaining int // never take the org's DailyApiRequests below this
}

// Sentinel errors.
var (
	ErrBudget      = errors.New("salesforceapi: API budget exhausted")
	ErrQuota       = errors.New("salesforceapi: org daily API allowance too low")
	ErrAuth        = errors.New("salesforceapi: authentication failed")
	ErrSessionGone = errors.New("salesforceapi: session expired and cannot be renewed")
)

// AuthError is a token endpoint refusal.
type AuthError struct {
	Status      int
	Code        string
	Description string
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("salesforceapi: authentication failed: %s: %s", e.Code, e.Description)
}

// Is matches ErrAuth.
func (e *AuthError) Is(target error) bool { return target == ErrAuth }

// APIError is a call-level error answer ([{message, errorCode}]).
type APIError struct {
	Status  int
	Code    string
	Message string
	Fields  []string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("salesforceapi: HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// Client talks to one org.
type Client struct {
	opt     Options
	http    *http.Client
	key     *rsa.PrivateKey
	mu      sync.Mutex
	token   string
	inst    *url.URL
	calls   int
	used    int // from Sforce-Limit-Info
	max     int
	log     *slog.Logger
	version string
	// activeRules caches each object's active assignment rule Id.
	activeRules map[string]string
	// described caches Describe by object: a run asks for an object's
	// metadata from several places (extract, its parents' lookups, the
	// required-fields check), and a schema change mid-run is picked up by
	// the next run's client.
	described map[string]Describe
}

var versionRe = regexp.MustCompile(`^[1-9]\d\.0$`)

// New validates opt and returns a Client; it does not authenticate yet.
func New(opt Options) (*Client, error) {
	if opt.APIVersion == "" {
		opt.APIVersion = DefaultVersion
	}
	if !versionRe.MatchString(opt.APIVersion) {
		return nil, fmt.Errorf("salesforceapi: bad API version %q (want NN.0)", opt.APIVersion)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Attempts == 0 {
		opt.Attempts = 5
	}
	c := &Client{opt: opt, log: opt.Logger, version: opt.APIVersion}
	c.http = httpx.NewClient(opt.HTTP, opt.Logger, opt.Attempts, 250*time.Millisecond, 20*time.Second, opt.Now)
	switch opt.Flow {
	case FlowClientCredentials:
		if opt.LoginURL == "" || opt.ClientID == "" || opt.ClientSecret == "" {
			return nil, fmt.Errorf("salesforceapi: client_credentials needs login_url, client_id and client_secret")
		}
	case FlowJWT:
		if opt.LoginURL == "" || opt.ClientID == "" || opt.Username == "" || opt.PrivateKeyFile == "" {
			return nil, fmt.Errorf("salesforceapi: jwt needs login_url, client_id, username and private_key_file")
		}
		k, err := readKey(opt.PrivateKeyFile)
		if err != nil {
			return nil, err
		}
		c.key = k
	case FlowAccessToken:
		if opt.AccessToken == "" || opt.InstanceURL == "" {
			return nil, fmt.Errorf("salesforceapi: access_token flow needs access_token and instance_url")
		}
		u, err := url.Parse(strings.TrimSuffix(opt.InstanceURL, "/"))
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("salesforceapi: bad instance_url %q", opt.InstanceURL)
		}
		c.token, c.inst = opt.AccessToken, u
	default:
		return nil, fmt.Errorf("salesforceapi: unknown auth flow %q (client_credentials, jwt, access_token)", opt.Flow)
	}
	return c, nil
}

func readKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("salesforceapi: read private key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("salesforceapi: %s is not a PEM private key", path)
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("salesforceapi: parse %s: %w", path, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("salesforceapi: %s is not an RSA key", path)
	}
	return rk, nil
}

// Version is the pinned API version.
func (c *Client) Version() string { return c.version }

// Calls reports how many API requests this client made.
func (c *Client) Calls() int { c.mu.Lock(); defer c.mu.Unlock(); return c.calls }

// Usage reports the org's API usage as last seen in Sforce-Limit-Info.
func (c *Client) Usage() (used, max int) { c.mu.Lock(); defer c.mu.Unlock(); return c.used, c.max }

func (c *Client) audience() string {
	if c.opt.Audience != "" {
		return c.opt.Audience
	}
	u, _ := url.Parse(c.opt.LoginURL)
	if u != nil && strings.HasSuffix(u.Hostname(), "salesforce.com") {
		if strings.Contains(u.Hostname(), "test.") || strings.Contains(u.Hostname(), "sandbox") {
			return "https://test.salesforce.com"
		}
		return "https://login.salesforce.com"
	}
	return strings.TrimSuffix(c.opt.LoginURL, "/")
}

// Authenticate obtains an access token and the instance URL.
func (c *Client) Authenticate(ctx context.Context) error {
	form := url.Values{}
	switch c.opt.Flow {
	case FlowAccessToken:
		return nil
	case FlowClientCredentials:
		form.Set("grant_type", "client_credentials")
		form.Set("client_id", c.opt.ClientID)
		form.Set("client_secret", c.opt.ClientSecret)
	case FlowJWT:
		claims := jwt.MapClaims{"iss": c.opt.ClientID, "sub": c.opt.Username, "aud": c.audience(), "exp": c.opt.Now().Add(3 * time.Minute).Unix()}
		signed, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(c.key)
		if err != nil {
			return fmt.Errorf("salesforceapi: sign JWT: %w", err)
		}
		form.Set("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
		form.Set("assertion", signed)
	}
	body := form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.opt.LoginURL, "/")+"/services/oauth2/token", strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("salesforceapi: token request: %w", err)
	}
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("salesforceapi: token request to %s: %w", c.opt.LoginURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != 200 {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error, e.Description = "http_"+strconv.Itoa(resp.StatusCode), strings.TrimSpace(string(b))
		}
		return &AuthError{Status: resp.StatusCode, Code: e.Error, Description: e.Description}
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		InstanceURL string `json:"instance_url"`
	}
	if err := json.Unmarshal(b, &tok); err != nil || tok.AccessToken == "" || tok.InstanceURL == "" {
		return fmt.Errorf("salesforceapi: token response lacks access_token or instance_url")
	}
	u, err := url.Parse(tok.InstanceURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("salesforceapi: bad instance_url %q in token response", tok.InstanceURL)
	}
	c.mu.Lock()
	c.token, c.inst = tok.AccessToken, u
	c.mu.Unlock()
	return nil
}

// request describes one REST call.
type request struct {
	method  string
	path    string // absolute path from the instance root, or relative to /services/data/vNN.0
	query   url.Values
	body    []byte
	bodyAt  io.ReaderAt // with bodyLen, instead of body: the body is read from here (a file)
	bodyLen int64
	ctype   string
	accept  string
	headers map[string]string
	noRetry bool
}

func (c *Client) dataPath(p string) string {
	if strings.HasPrefix(p, "/services/") {
		return p
	}
	return "/services/data/v" + c.version + "/" + strings.TrimPrefix(p, "/")
}

// send performs r, re-authenticating once on 401. The answer's body is the
// caller's to close when err is nil.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		if c.opt.Budget.MaxCalls > 0 && c.calls >= c.opt.Budget.MaxCalls {
			c.mu.Unlock()
			return nil, fmt.Errorf("%w: %d calls used of the configured %d", ErrBudget, c.calls, c.opt.Budget.MaxCalls)
		}
		if c.max > 0 && c.opt.Budget.MinRemaining > 0 && c.max-c.used <= c.opt.Budget.MinRemaining {
			used, max := c.used, c.max
			c.mu.Unlock()
			return nil, fmt.Errorf("%w: org has %d of %d daily calls left, reserve is %d", ErrQuota, max-used, max, c.opt.Budget.MinRemaining)
		}
		c.calls++
		tok, inst := c.token, c.inst
		c.mu.Unlock()
		if inst == nil {
			return nil, fmt.Errorf("salesforceapi: not authenticated")
		}
		u := *inst
		u.Path = c.dataPath(r.path)
		if r.query != nil {
			u.RawQuery = r.query.Encode()
		}
		var body io.Reader
		if r.body != nil {
			body = bytes.NewReader(r.body)
		} else if r.bodyAt != nil {
			body = seekCloser{io.NewSectionReader(r.bodyAt, 0, r.bodyLen)}
		}
		rctx := ctx
		if r.noRetry {
			rctx = httpx.NoReplay(ctx)
		}
		req, err := http.NewRequestWithContext(rctx, r.method, u.String(), body)
		if err != nil {
			return nil, err
		}
		if r.body != nil {
			payload := r.body
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(payload)), nil }
			req.Header.Set("Content-Type", r.ctype)
		} else if r.bodyAt != nil {
			at, n := r.bodyAt, r.bodyLen
			req.ContentLength = n
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(io.NewSectionReader(at, 0, n)), nil }
			req.Header.Set("Content-Type", r.ctype)
		}
		accept := r.accept
		if accept == "" {
			accept = "application/json"
		}
		req.Header.Set("Accept", accept)
		req.Header.Set("Authorization", "Bearer "+tok)
		for k, v := range r.headers {
			req.Header.Set(k, v)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, fmt.Errorf("salesforceapi: %s %s: %w", r.method, u.Path, err)
		}
		c.observe(resp.Header)
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 && c.opt.Flow != FlowAccessToken {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			c.log.Info("salesforce session expired; authenticating again")
			if err := c.Authenticate(ctx); err != nil {
				return nil, err
			}
			continue
		}
		if resp.StatusCode >= 300 && resp.StatusCode != http.StatusMultipleChoices {
			defer resp.Body.Close()
			return nil, decodeAPIError(resp)
		}
		return resp, nil
	}
}

// seekCloser is a request body that can be rewound: the retrying
// transport seeks it back to the start for another attempt, where any
// other reader it would first read whole into memory (a 100 MB Bulk
// upload held twice over).
type seekCloser struct{ *io.SectionReader }

func (seekCloser) Close() error { return nil }

func (c *Client) observe(h http.Header) {
	v := h.Get("Sforce-Limit-Info")
	for _, part := range strings.Split(v, ";") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k != "api-usage" {
			continue
		}
		u, m, ok := strings.Cut(val, "/")
		used, err1 := strconv.Atoi(u)
		max, err2 := strconv.Atoi(m)
		if ok && err1 == nil && err2 == nil {
			c.mu.Lock()
			c.used, c.max = used, max
			c.mu.Unlock()
		}
	}
}

func decodeAPIError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var errs []struct {
		Message   string   `json:"message"`
		ErrorCode string   `json:"errorCode"`
		Fields    []string `json:"fields"`
	}
	e := &APIError{Status: resp.StatusCode}
	if json.Unmarshal(b, &errs) == nil && len(errs) > 0 {
		e.Code, e.Message, e.Fields = errs[0].ErrorCode, errs[0].Message, errs[0].Fields
	} else {
		e.Code, e.Message = "HTTP_"+strconv.Itoa(resp.StatusCode), strings.TrimSpace(string(b))
	}
	if resp.StatusCode == 401 {
		return fmt.Errorf("%w: %w", ErrSessionGone, e)
	}
	if e.Code == "REQUEST_LIMIT_EXCEEDED" {
		return fmt.Errorf("%w: %w", ErrQuota, e)
	}
	return e
}

// doJSON sends a JSON body (when in != nil) and decodes the answer into out.
func (c *Client) doJSON(ctx context.Context, method, path string, q url.Values, in, out any, noRetry bool) (int, error) {
	return c.doJSONHeaders(ctx, method, path, q, nil, in, out, noRetry)
}

// doJSONHeaders is doJSON with extra request headers.
func (c *Client) doJSONHeaders(ctx context.Context, method, path string, q url.Values, headers map[string]string, in, out any, noRetry bool) (int, error) {
	r := request{method: method, path: path, query: q, headers: headers, noRetry: noRetry}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		r.body, r.ctype = b, "application/json"
	}
	resp, err := c.send(ctx, r)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return resp.StatusCode, fmt.Errorf("salesforceapi: decode %s %s: %w", method, path, err)
	}
	return resp.StatusCode, nil
}

// Limit is one entry of /limits.
type Limit struct {
	Max       int `json:"Max"`
	Remaining int `json:"Remaining"`
}

// Limits returns the org's limits.
func (c *Client) Limits(ctx context.Context) (map[string]Limit, error) {
	out := map[string]Limit{}
	_, err := c.doJSON(ctx, http.MethodGet, "limits", nil, nil, &out, false)
	return out, err
}

// Reserve refuses to start work of about calls requests that would exceed
// the budget or take the org below its reserve.
func (c *Client) Reserve(ctx context.Context, calls int) error {
	lim, err := c.Limits(ctx)
	if err != nil {
		return err
	}
	d := lim["DailyApiRequests"]
	if c.opt.Budget.MinRemaining > 0 && d.Remaining-calls < c.opt.Budget.MinRemaining {
		return fmt.Errorf("%w: about %d calls needed, %d of %d left today, reserve %d", ErrQuota, calls, d.Remaining, d.Max, c.opt.Budget.MinRemaining)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.opt.Budget.MaxCalls > 0 && c.calls+calls > c.opt.Budget.MaxCalls {
		return fmt.Errorf("%w: about %d more calls needed, %d used of the configured %d", ErrBudget, calls, c.calls, c.opt.Budget.MaxCalls)
	}
	return nil
}

// Field is one describe field.
type Field struct {
	Name              string   `json:"name"`
	Type              string   `json:"type"`
	Length            int      `json:"length"`
	Nillable          bool     `json:"nillable"`
	Createable        bool     `json:"createable"`
	Updateable        bool     `json:"updateable"`
	DefaultedOnCreate bool     `json:"defaultedOnCreate"`
	ExternalID        bool     `json:"externalId"`
	IDLookup          bool     `json:"idLookup"`
	Unique            bool     `json:"unique"`
	Filterable        bool     `json:"filterable"`
	ReferenceTo       []string `json:"referenceTo"`
	RelationshipName  string   `json:"relationshipName"`
	// A restricted picklist takes only its active values.
	RestrictedPicklist bool `json:"restrictedPicklist"`
	PicklistValues     []struct {
		Value  string `json:"value"`
		Active bool   `json:"active"`
	} `json:"picklistValues"`
}

// Describe is the part of DescribeSObjectResult ferry uses.
type Describe struct {
	Name      string  `json:"name"`
	Deletable bool    `json:"deletable"`
	Fields    []Field `json:"fields"`
}

// Field returns the named field, or nil.
func (d Describe) Field(name string) *Field {
	for i := range d.Fields {
		if strings.EqualFold(d.Fields[i].Name, name) {
			return &d.Fields[i]
		}
	}
	return nil
}

// Describe fetches an sObject's metadata.
// The client keeps the answer: it is asked once per object.
func (c *Client) Describe(ctx context.Context, object string) (Describe, error) {
	c.mu.Lock()
	d, ok := c.described[object]
	c.mu.Unlock()
	if ok {
		return d, nil
	}
	_, err := c.doJSON(ctx, http.MethodGet, "sobjects/"+url.PathEscape(object)+"/describe", nil, nil, &d, false)
	if err != nil {
		return d, fmt.Errorf("describe %s: %w", object, err)
	}
	c.mu.Lock()
	if c.described == nil {
		c.described = map[string]Describe{}
	}
	c.described[object] = d
	c.mu.Unlock()
	return d, nil
}
