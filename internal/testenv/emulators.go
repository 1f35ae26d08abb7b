package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/emulator/intercom"
	"github.com/ferry-sync/ferry/emulator/salesforce"
	"github.com/ferry-sync/ferry/emulator/seed"
	"github.com/ferry-sync/ferry/emulator/store"
)

var (
	keyOnce sync.Once
	key     *rsa.PrivateKey
)

func jwtKey(t testing.TB) *rsa.PrivateKey {
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		key = k
	})
	return key
}

// Clock is the emulators' clock: real time plus an offset tests can move
// forward, so two edits can be given distinct timestamps without sleeping.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now is the current emulated time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.offset += d; c.mu.Unlock() }

// Emulators is a pair of emulators: in-process (StartEmulators), or
// served by another process (Remote), read through their APIs alike.
type Emulators struct {
	Clock      *Clock
	Intercom   *intercom.Server
	Salesforce *salesforce.Server
	IC, SF     *httptest.Server
	KeyFile    string
	t          testing.TB
	sfToken    string
	icURL      string
	sfURL      string
}

// Remote reads emulators another process serves at these URLs.
func Remote(t testing.TB, icURL, sfURL, keyFile string) *Emulators {
	return &Emulators{KeyFile: keyFile, t: t, icURL: icURL, sfURL: sfURL}
}

// EmulatorOptions tweak StartEmulators.
type EmulatorOptions struct {
	Scale     int
	Seed      int64
	Dir       string // journal dir; "" keeps state in memory
	RateLimit int
	// Required marks extra Salesforce fields required on create.
	Required map[string][]string
	// ExternalIDs adds custom external-id fields to Salesforce objects.
	ExternalIDs map[string][]string
	// Webhooks, when URL is set, has the Intercom emulator deliver
	// webhook notifications.
	Webhooks intercom.Webhooks
}

// StartEmulators serves both emulators over httptest for the test's life.
func StartEmulators(t testing.TB, o EmulatorOptions) *Emulators {
	t.Helper()
	if o.Seed == 0 {
		o.Seed = 1
	}
	ds := seed.New(seed.Params{Seed: o.Seed, Scale: o.Scale})
	var ij, sj *store.Journal
	if o.Dir != "" {
		var err error
		if ij, err = store.Open(o.Dir, "intercom.journal"); err != nil {
			t.Fatal(err)
		}
		if sj, err = store.Open(o.Dir, "salesforce.journal"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ij.Close(); sj.Close() })
	}
	k := jwtKey(t)
	clock := &Clock{}
	ic, err := intercom.New(intercom.Options{Dataset: ds, Journal: ij, RateLimit: o.RateLimit, Now: clock.Now, Webhooks: o.Webhooks})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ic.Close)
	sf, err := salesforce.New(salesforce.Options{Dataset: ds, Journal: sj, PublicKey: &k.PublicKey, Now: clock.Now, Required: o.Required, ExternalIDs: o.ExternalIDs})
	if err != nil {
		t.Fatal(err)
	}
	e := &Emulators{Clock: clock, Intercom: ic, Salesforce: sf, IC: httptest.NewServer(ic), SF: httptest.NewServer(sf), t: t}
	e.icURL, e.sfURL = e.IC.URL, e.SF.URL
	t.Cleanup(e.IC.Close)
	t.Cleanup(e.SF.Close)
	dir := t.TempDir()
	e.KeyFile = filepath.Join(dir, "jwt.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	if err := os.WriteFile(e.KeyFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// Env returns the environment the example pipeline reads, for these emulators.
func (e *Emulators) Env(overrides map[string]string) func(string) string {
	vars := map[string]string{
		"INTERCOM_BASE_URL":           e.icURL,
		"INTERCOM_ACCESS_TOKEN":       intercom.Token,
		"SALESFORCE_LOGIN_URL":        e.sfURL,
		"SALESFORCE_CLIENT_ID":        salesforce.ClientID,
		"SALESFORCE_CLIENT_SECRET":    salesforce.ClientSecret,
		"SALESFORCE_USERNAME":         salesforce.Username,
		"SALESFORCE_PRIVATE_KEY_FILE": e.KeyFile,
	}
	for k, v := range overrides {
		vars[k] = v
	}
	return func(k string) string { return vars[k] }
}

// Stats is /_emulator/stats.
type Stats struct {
	Requests      map[string]int            `json:"requests"`
	TotalRequests int                       `json:"total_requests"`
	WriteRequests int                       `json:"write_requests"`
	Records       map[string]map[string]int `json:"records"`
	Faults        map[string]int            `json:"faults"`
	// MessagesTotal is how many messages the Intercom workspace holds.
	MessagesTotal int `json:"messages_total"`
}

// ReadStats reads the counters of the emulator at base.
func ReadStats(t testing.TB, base string) Stats {
	t.Helper()
	resp, err := http.Get(base + "/_emulator/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s Stats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// ICStats and SFStats read each emulator's counters.
func (e *Emulators) ICStats() Stats { return ReadStats(e.t, e.icURL) }

// SFStats reads the Salesforce emulator's counters.
func (e *Emulators) SFStats() Stats { return ReadStats(e.t, e.sfURL) }

func (e *Emulators) token() string {
	if e.sfToken != "" {
		return e.sfToken
	}
	resp, err := http.PostForm(e.sfURL+"/services/oauth2/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {salesforce.ClientID}, "client_secret": {salesforce.ClientSecret}})
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	e.sfToken = tok.AccessToken
	return e.sfToken
}

// SOQL runs a query against the Salesforce emulator (all pages) and returns
// the records as maps.
func (e *Emulators) SOQL(q string) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	next := "/services/data/v62.0/query?q=" + url.QueryEscape(q)
	for next != "" {
		req, _ := http.NewRequest(http.MethodGet, e.sfURL+next, nil)
		req.Header.Set("Authorization", "Bearer "+e.token())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			e.t.Fatal(err)
		}
		var page struct {
			Records        []map[string]any `json:"records"`
			NextRecordsURL string           `json:"nextRecordsUrl"`
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			e.t.Fatalf("SOQL %s: HTTP %d %s", q, resp.StatusCode, b)
		}
		json.Unmarshal(b, &page)
		out = append(out, page.Records...)
		next = page.NextRecordsURL
	}
	return out
}

// SFDo sends a REST request to the Salesforce emulator; headers are
// name, value pairs.
func (e *Emulators) SFDo(method, path string, body any, headers ...string) (int, []byte) {
	e.t.Helper()
	return do(e.t, method, e.sfURL+path, "Bearer "+e.token(), body, headers...)
}

// ICDo sends a request to the Intercom emulator.
func (e *Emulators) ICDo(method, path string, body any) (int, []byte) {
	e.t.Helper()
	return do(e.t, method, e.icURL+path, "Bearer "+intercom.Token, body)
}

func do(t testing.TB, method, u, auth string, body any, headers ...string) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(context.Background(), method, u, rd)
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// ICContacts lists every Intercom contact through the list endpoint.
func (e *Emulators) ICContacts() []map[string]any {
	e.t.Helper()
	var out []map[string]any
	after := ""
	for {
		path := "/contacts?per_page=150"
		if after != "" {
			path += "&starting_after=" + url.QueryEscape(after)
		}
		code, b := e.ICDo(http.MethodGet, path, nil)
		if code != 200 {
			e.t.Fatalf("list contacts: %d %s", code, b)
		}
		var page struct {
			Data  []map[string]any `json:"data"`
			Pages struct {
				Next *struct {
					StartingAfter string `json:"starting_after"`
				} `json:"next"`
			} `json:"pages"`
		}
		json.Unmarshal(b, &page)
		out = append(out, page.Data...)
		if page.Pages.Next == nil {
			return out
		}
		after = page.Pages.Next.StartingAfter
	}
}

// Str reads a string field (nested with dots) from a decoded record.
func Str(m map[string]any, path string) string {
	var cur any = m
	for _, p := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	if cur == nil {
		return ""
	}
	return fmt.Sprint(cur)
}
