// Package intercomapi is ferry's client for the Intercom REST API (2.x):
// bearer auth with a pinned Intercom-Version, cursor pagination, contact
// search with the full query grammar, company scroll, contact and company
// writes, data attributes, and typed errors from the error.list envelope.
//
// Retries: GETs, searches and idempotent writes (PUT, company upsert) are
// retried on network errors, 429 and 5xx; contact creation is retried only on
// 429, because a create whose answer was lost may have happened. Pacing: the
// client reads X-RateLimit-Remaining/Reset on every answer and, when the
// window is nearly spent, waits for the reset instead of provoking a 429.
package intercomapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/internal/httpx"
)

// Regional base URLs.
var Regions = map[string]string{
	"us": "https://api.intercom.io",
	"eu": "https://api.eu.intercom.io",
	"au": "https://api.au.intercom.io",
}

// DefaultVersion is the Intercom-Version ferry pins unless told otherwise.
const DefaultVersion = "2.14"

// Options configure a Client.
type Options struct {
	BaseURL string // wins over Region
	Region  string // us | eu | au
	Token   string
	Version string
	HTTP    *http.Client
	Logger  *slog.Logger
	Now     func() time.Time
	// Reserve is how many requests of each rate-limit window the client
	// leaves unused before it waits for the reset (default 2).
	Reserve int
	// Attempts is the retry budget per request (default 6).
	Attempts int
}

// Client talks to one Intercom workspace.
type Client struct {
	base    *url.URL
	token   string
	version string
	http    *http.Client
	log     *slog.Logger
	now     func() time.Time
	pace    *pacer
	mu      sync.Mutex
	calls   int
}

// Sentinel errors.
var (
	ErrUnauthorized = errors.New("intercomapi: unauthorized (check the access token)")
	ErrNotFound     = errors.New("intercomapi: not found")
)

// Error is an error.list answer.
type Error struct {
	Status    int
	RequestID string
	Code      string
	Message   string
	Field     string
	// Canonical is the id a 410 contact_merged names in its Link header:
	// the contact the requested one was merged into.
	Canonical string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("intercomapi: HTTP %d %s: %s", e.Status, e.Code, e.Message)
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	return s
}

// Is lets errors.Is(err, ErrUnauthorized) and ErrNotFound match.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.Status == 401
	case ErrNotFound:
		return e.Status == 404
	}
	return false
}

// ConflictError is a 409 on contact creation: the contact exists already.
type ConflictError struct {
	ExistingID string
	Err        *Error
}

func (e *ConflictError) Error() string { return e.Err.Error() }
func (e *ConflictError) Unwrap() error { return e.Err }

// New returns a Client.
func New(opt Options) (*Client, error) {
	raw := opt.BaseURL
	if raw == "" {
		r := strings.ToLower(opt.Region)
		if r == "" {
			r = "us"
		}
		var ok bool
		if raw, ok = Regions[r]; !ok {
			return nil, fmt.Errorf("intercomapi: unknown region %q (us, eu, au)", opt.Region)
		}
	}
	u, err := url.Parse(strings.TrimSuffix(raw, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("intercomapi: bad base URL %q", raw)
	}
	if opt.Token == "" {
		return nil, fmt.Errorf("intercomapi: access token is empty")
	}
	if opt.Version == "" {
		opt.Version = DefaultVersion
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Reserve == 0 {
		opt.Reserve = 2
	}
	if opt.Attempts == 0 {
		opt.Attempts = 6
	}
	hc := httpx.NewClient(opt.HTTP, opt.Logger, opt.Attempts, 250*time.Millisecond, 15*time.Second, opt.Now)
	return &Client{base: u, token: opt.Token, version: opt.Version, http: hc, log: opt.Logger, now: opt.Now,
		pace: &pacer{reserve: opt.Reserve, now: opt.Now}}, nil
}

// Calls reports how many HTTP requests the client has made.
func (c *Client) Calls() int { c.mu.Lock(); defer c.mu.Unlock(); return c.calls }

// pacer tracks the current rate-limit window from response headers.
type pacer struct {
	mu        sync.Mutex
	reserve   int
	remaining int
	reset     time.Time
	known     bool
	now       func() time.Time
}

func (p *pacer) wait(ctx context.Context) error {
	p.mu.Lock()
	var d time.Duration
	if p.known && p.remaining <= p.reserve {
		d = p.reset.Sub(p.now()) + 50*time.Millisecond
		p.known = false // the next answer tells the new window
	} else if p.known {
		p.remaining--
	}
	p.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (p *pacer) observe(h http.Header) {
	rem, err1 := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	reset, err2 := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
	if err1 != nil || err2 != nil {
		return
	}
	p.mu.Lock()
	p.remaining, p.reset, p.known = rem, time.Unix(reset, 0), true
	p.mu.Unlock()
}

// do sends method path with an optional JSON body and decodes a 2xx answer
// into out (when non-nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	u := *c.base
	u.Path = c.base.Path + path
	if query != nil {
		u.RawQuery = query.Encode()
	}
	var rd io.Reader
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("intercomapi: encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(payload)
	}
	if err := c.pace.wait(ctx); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return err
	}
	if payload != nil {
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(payload)), nil }
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Intercom-Version", c.version)
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("intercomapi: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	c.pace.observe(resp.Header)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeError(resp)
	}
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("intercomapi: decode %s %s: %w", method, path, err)
	}
	return nil
}

func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var env struct {
		Type      string `json:"type"`
		RequestID string `json:"request_id"`
		Errors    []struct {
			Code    string  `json:"code"`
			Message string  `json:"message"`
			Field   *string `json:"field"`
		} `json:"errors"`
	}
	e := &Error{Status: resp.StatusCode}
	if json.Unmarshal(b, &env) == nil && env.Type == "error.list" && len(env.Errors) > 0 {
		e.RequestID, e.Code, e.Message = env.RequestID, env.Errors[0].Code, env.Errors[0].Message
		if env.Errors[0].Field != nil {
			e.Field = *env.Errors[0].Field
		}
	} else {
		e.Code, e.Message = "http_"+strconv.Itoa(resp.StatusCode), strings.TrimSpace(string(b))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200]
		}
	}
	if resp.StatusCode == 410 {
		e.Canonical = canonicalLink(resp.Header.Get("Link"))
	}
	if resp.StatusCode == 409 && e.Code == "conflict" {
		if i := strings.LastIndex(e.Message, "id="); i >= 0 {
			return &ConflictError{ExistingID: strings.TrimSpace(e.Message[i+3:]), Err: e}
		}
	}
	return e
}

// canonicalLink reads the contact id of a `</contacts/{id}>;
// rel="canonical"` Link header ("" when there is none).
func canonicalLink(h string) string {
	for _, part := range strings.Split(h, ",") {
		target, params, ok := strings.Cut(part, ";")
		if !ok || !strings.Contains(strings.ReplaceAll(params, " ", ""), `rel="canonical"`) {
			continue
		}
		target = strings.Trim(strings.TrimSpace(target), "<>")
		if i := strings.LastIndex(target, "/contacts/"); i >= 0 {
			return target[i+len("/contacts/"):]
		}
	}
	return ""
}

// Me is the token's admin and workspace.
type Me struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
	App   struct {
		IDCode   string `json:"id_code"`
		Name     string `json:"name"`
		Timezone string `json:"timezone"`
		Region   string `json:"region"`
	} `json:"app"`
}

// Me checks the token and returns the workspace description.
func (c *Client) Me(ctx context.Context) (Me, error) {
	var m Me
	err := c.do(ctx, http.MethodGet, "/me", nil, nil, &m)
	return m, err
}

// Admin is a teammate.
type Admin struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Admins lists the workspace's teammates.
func (c *Client) Admins(ctx context.Context) ([]Admin, error) {
	var out struct {
		Admins []Admin `json:"admins"`
	}
	err := c.do(ctx, http.MethodGet, "/admins", nil, nil, &out)
	return out.Admins, err
}

// DataAttribute describes one contact or company attribute.
type DataAttribute struct {
	Name     string `json:"name"`
	FullName string `json:"full_name"`
	Model    string `json:"model"`
	DataType string `json:"data_type"`
	Custom   bool   `json:"custom"`
}

// DataAttributes lists the attributes of model (contact or company).
func (c *Client) DataAttributes(ctx context.Context, model string) ([]DataAttribute, error) {
	var out struct {
		Data []DataAttribute `json:"data"`
	}
	err := c.do(ctx, http.MethodGet, "/data_attributes", url.Values{"model": {model}}, nil, &out)
	return out.Data, err
}

// CreateDataAttribute creates a custom attribute; one that exists already is
// not an error (Intercom answers 400 "You already have ...").
func (c *Client) CreateDataAttribute(ctx context.Context, model, name, dataType string) error {
	err := c.do(ctx, http.MethodPost, "/data_attributes", nil, map[string]any{"name": name, "model": model, "data_type": dataType}, nil)
	var e *Error
	if errors.As(err, &e) && e.Status == 400 && strings.Contains(e.Message, "already have") {
		return nil
	}
	return err
}
