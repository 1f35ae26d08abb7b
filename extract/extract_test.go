package extract_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/emulator/intercom"
	"github.com/ferry-sync/ferry/emulator/salesforce"
	"github.com/ferry-sync/ferry/emulator/seed"
	"github.com/ferry-sync/ferry/extract"
	intercomextract "github.com/ferry-sync/ferry/extract/intercom"
	salesforceextract "github.com/ferry-sync/ferry/extract/salesforce"
	"github.com/ferry-sync/ferry/internal/duck"
	"github.com/ferry-sync/ferry/internal/intercomapi"
	"github.com/ferry-sync/ferry/internal/salesforceapi"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func post(t *testing.T, url, auth string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode >= 300 {
		t.Fatalf("POST %s: %d %v", url, resp.StatusCode, m)
	}
	return m
}

// landed reads the ids in a landing file through DuckDB.
func landed(t *testing.T, file string) map[string]bool {
	t.Helper()
	db, err := duck.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT id FROM read_parquet($1)", file)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		out[id] = true
	}
	return out
}

// TestIntercomContacts_DayBoundary: the watermark is 10:00 on a day; a
// contact changed at 23:59:59 that day (workspace time) must be extracted,
// though Intercom's contact search cannot filter below the day.
func TestIntercomContacts_DayBoundary(t *testing.T) {
	t.Parallel()
	la, _ := time.LoadLocation("America/Los_Angeles")
	clk := &clock{}
	srv, err := intercom.New(intercom.Options{Now: clk.Now, Timezone: "America/Los_Angeles"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	mk := func(email string, at time.Time) string {
		clk.Set(at)
		return post(t, ts.URL+"/contacts", "Bearer "+intercom.Token, map[string]any{"email": email})["id"].(string)
	}
	before := mk("before@example.com", time.Date(2026, 5, 4, 9, 0, 0, 0, la))
	late := mk("late@example.com", time.Date(2026, 5, 4, 23, 59, 59, 0, la))
	next := mk("next@example.com", time.Date(2026, 5, 5, 0, 0, 0, 0, la))
	watermark := time.Date(2026, 5, 4, 10, 0, 0, 0, la)
	c, _ := intercomapi.New(intercomapi.Options{BaseURL: ts.URL, Token: intercom.Token})
	src := &intercomextract.Source{Client: c, Name: "contacts"}
	res, err := extract.Run(t.Context(), src, extract.Window{Lower: watermark, Upper: time.Date(2026, 5, 5, 0, 0, 0, 0, la)}, t.TempDir(), "run1", time.Now, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := landed(t, res.File)
	if !ids[late] || !ids[next] {
		t.Fatalf("landed %v: the contact changed late on the watermark's day or at the next midnight was missed", ids)
	}
	if ids[before] {
		t.Errorf("a contact changed before the watermark was landed")
	}
	if want := (extract.Watermark{TS: time.Date(2026, 5, 5, 0, 0, 0, 0, la).UTC(), ID: next}); !res.Max.TS.Equal(want.TS) || res.Max.ID != want.ID {
		t.Errorf("watermark %+v, want %+v", res.Max, want)
	}
}

// TestSalesforce_SameSecondTiesAndUpperBound: five Leads share one
// SystemModstamp second; an extraction from that second includes them all,
// and a row changed after the upper bound lands without moving the watermark.
func TestSalesforce_SameSecondTiesAndUpperBound(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	_, ts, c := salesforceOrg(t, salesforce.Options{Now: clk.Now})
	var ids []string
	for i := 0; i < 5; i++ {
		m := post(t, ts.URL+"/services/data/v62.0/sobjects/Lead", "Bearer "+token(t, ts.URL), map[string]any{"LastName": "L", "Company": "C"})
		ids = append(ids, m["id"].(string))
	}
	clk.Set(clk.Now().Add(time.Minute))
	late := post(t, ts.URL+"/services/data/v62.0/sobjects/Lead", "Bearer "+token(t, ts.URL), map[string]any{"LastName": "Late", "Company": "C"})["id"].(string)
	tie := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	src := &salesforceextract.Source{Client: c, Name: "Lead"}
	res, err := extract.Run(t.Context(), src, extract.Window{Lower: tie, Upper: tie.Add(30 * time.Second)}, t.TempDir(), "run1", clk.Now, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := landed(t, res.File)
	for _, id := range append(ids, late) {
		if !got[id] {
			t.Errorf("Lead %s not landed", id)
		}
	}
	if !res.Max.TS.Equal(tie) || res.Max.ID != ids[4] {
		t.Errorf("watermark %+v, want (%s, %s): never past the upper bound", res.Max, tie, ids[4])
	}
	if _, err := os.Stat(filepath.Dir(res.File)); err != nil {
		t.Fatal(err)
	}
}

// salesforceOrg serves an emulated org (opt.Now is its clock) and returns
// it with a client authenticated against it.
func salesforceOrg(t *testing.T, opt salesforce.Options) (*salesforce.Server, *httptest.Server, *salesforceapi.Client) {
	t.Helper()
	srv, err := salesforce.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	c, err := salesforceapi.New(salesforceapi.Options{LoginURL: ts.URL, Flow: salesforceapi.FlowClientCredentials, ClientID: salesforce.ClientID, ClientSecret: salesforce.ClientSecret, Now: opt.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Authenticate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return srv, ts, c
}

func token(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.PostForm(base+"/services/oauth2/token", map[string][]string{"grant_type": {"client_credentials"}, "client_id": {salesforce.ClientID}, "client_secret": {salesforce.ClientSecret}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]string
	json.NewDecoder(resp.Body).Decode(&m)
	return m["access_token"]
}

// TestIntercomConversations_ExactSecondsWithParts: conversation search
// filters to the second, and each landed conversation carries its parts.
func TestIntercomConversations_ExactSecondsWithParts(t *testing.T) {
	t.Parallel()
	srv, err := intercom.New(intercom.Options{Dataset: seed.New(seed.Params{Seed: 1, Scale: 120})})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c, _ := intercomapi.New(intercomapi.Options{BaseURL: ts.URL, Token: intercom.Token})
	var stamps []int64
	for page, err := range c.SearchConversations(t.Context(), intercomapi.Cmp("updated_at", ">", 0), 150, nil) {
		if err != nil {
			t.Fatal(err)
		}
		for _, cv := range page {
			stamps = append(stamps, cv.UpdatedAt)
		}
	}
	if len(stamps) < 40 {
		t.Fatalf("only %d seeded conversations", len(stamps))
	}
	sort.Slice(stamps, func(i, j int) bool { return stamps[i] < stamps[j] })
	lower := stamps[len(stamps)/2]
	want := 0
	for _, s := range stamps {
		if s >= lower {
			want++
		}
	}
	src := &intercomextract.Source{Client: c, Name: "conversations"}
	res, err := extract.Run(t.Context(), src, extract.Window{Lower: time.Unix(lower, 0), Upper: time.Now()}, t.TempDir(), "r", time.Now, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	if int(res.Rows) != want {
		t.Fatalf("landed %d conversations changed at or after %d, want %d", res.Rows, lower, want)
	}
	db, _ := duck.Open("")
	defer db.Close()
	var withParts int
	if err := db.QueryRow("SELECT count(*) FROM read_parquet($1) WHERE \"conversation_parts.total_count\" >= 3 AND json_array_length(conversation_parts) >= 3", res.File).Scan(&withParts); err != nil || withParts != want {
		t.Fatalf("%d of %d landed conversations carry their parts (%v)", withParts, want, err)
	}
}

// searches reads how many contact searches the emulator has served.
func searches(t *testing.T, base string) int {
	t.Helper()
	resp, err := http.Get(base + "/_emulator/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		Requests map[string]int `json:"requests"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s.Requests["POST /contacts/search"]
}

// TestIntercomContacts_ReadsOnlyWhatChanged: 500 contacts all changed
// earlier today, so the day-granular filter matches every one of them. After
// a full first extraction, three edits (one at exactly the lower bound's
// second) are extracted with a single search page, not all of today's.
func TestIntercomContacts_ReadsOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	clk := &clock{}
	srv, err := intercom.New(intercom.Options{Now: clk.Now, Timezone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	const n = 500
	start := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	var ids []string
	for i := range n {
		clk.Set(start.Add(time.Duration(i) * 7 * time.Second)) // until ~10:00
		ids = append(ids, post(t, ts.URL+"/contacts", "Bearer "+intercom.Token, map[string]any{"email": fmt.Sprintf("c%d@example.com", i)})["id"].(string))
	}
	c, _ := intercomapi.New(intercomapi.Options{BaseURL: ts.URL, Token: intercom.Token})
	src := &intercomextract.Source{Client: c, Name: "contacts"}
	log := slog.New(slog.DiscardHandler)
	now := time.Date(2026, 5, 4, 15, 0, 0, 0, time.UTC)
	first, err := extract.Run(t.Context(), src, extract.Window{Upper: now}, t.TempDir(), "r1", clk.Now, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.Rows != n {
		t.Fatalf("first extraction landed %d contacts, want %d", first.Rows, n)
	}

	lower := now.Add(-time.Minute)
	edit := func(id string, at time.Time) {
		clk.Set(at)
		b, _ := json.Marshal(map[string]any{"phone": "+1 555 0100"})
		req, _ := http.NewRequest(http.MethodPut, ts.URL+"/contacts/"+id, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+intercom.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("edit %s: %v %v", id, resp, err)
		}
		resp.Body.Close()
	}
	edit(ids[10], lower.Add(-time.Second)) // just before the window
	edit(ids[20], lower)                   // at the lower bound's second: kept
	edit(ids[30], now.Add(-10*time.Second))
	edit(ids[40], now.Add(-10*time.Second))
	before := searches(t, ts.URL)
	second, err := extract.Run(t.Context(), src, extract.Window{Lower: lower, Upper: now}, t.TempDir(), "r2", clk.Now, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := landed(t, second.File)
	if len(got) != 3 || !got[ids[20]] || !got[ids[30]] || !got[ids[40]] {
		t.Errorf("landed %v, want exactly the contacts edited at or after the lower bound: %s %s %s", got, ids[20], ids[30], ids[40])
	}
	if req := searches(t, ts.URL) - before; req != 1 {
		t.Errorf("incremental extraction made %d searches, want 1 (the first full extraction made %d requests)", req, first.Requests)
	}
	t.Logf("contacts changed today: %d; first extraction %d requests, incremental %d", n, first.Requests, second.Requests)
}

// TestIntercomContacts_TiesAtLowerBoundAcrossPages: more than a page of
// contacts share the lower bound's second; paging newest first must read
// them all before it stops at an older one.
func TestIntercomContacts_TiesAtLowerBoundAcrossPages(t *testing.T) {
	t.Parallel()
	clk := &clock{}
	srv, err := intercom.New(intercom.Options{Now: clk.Now, Timezone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	lower := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	mk := func(i int, at time.Time) string {
		clk.Set(at)
		return post(t, ts.URL+"/contacts", "Bearer "+intercom.Token, map[string]any{"email": fmt.Sprintf("t%d@example.com", i)})["id"].(string)
	}
	older := map[string]bool{}
	for i := range 20 {
		older[mk(i, lower.Add(-time.Duration(i+1)*time.Second))] = true
	}
	tied := map[string]bool{}
	for i := range 170 {
		tied[mk(100+i, lower)] = true
	}
	c, _ := intercomapi.New(intercomapi.Options{BaseURL: ts.URL, Token: intercom.Token})
	src := &intercomextract.Source{Client: c, Name: "contacts"}
	res, err := extract.Run(t.Context(), src, extract.Window{Lower: lower, Upper: lower}, t.TempDir(), "r", clk.Now, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := landed(t, res.File)
	for id := range tied {
		if !got[id] {
			t.Fatalf("contact %s at the lower bound's second was missed (%d landed)", id, len(got))
		}
	}
	for id := range got {
		if older[id] {
			t.Errorf("contact %s from before the window was landed", id)
		}
	}
	// Two pages of 150, and one list of the contact data attributes that
	// type the custom attribute columns.
	if res.Requests != 3 {
		t.Errorf("%d requests, want 2 pages of 150 and the data attributes", res.Requests)
	}
}

// TestIntercomConversations_ConvergedRunReadsOnlyChanged: after a full
// extraction, a run whose window starts a minute ago searches one page and
// fetches only the two conversations that changed since.
func TestIntercomConversations_ConvergedRunReadsOnlyChanged(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	srv, err := intercom.New(intercom.Options{Now: clk.Now, Dataset: seed.New(seed.Params{Seed: 1, Scale: 600})})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c, _ := intercomapi.New(intercomapi.Options{BaseURL: ts.URL, Token: intercom.Token})
	src := &intercomextract.Source{Client: c, Name: "conversations"}
	log := slog.New(slog.DiscardHandler)
	first, err := extract.Run(t.Context(), src, extract.Window{Upper: clk.Now()}, t.TempDir(), "r1", clk.Now, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.Rows <= 150 {
		t.Fatalf("only %d seeded conversations: one page would prove nothing", first.Rows)
	}
	admins, err := c.Admins(t.Context())
	if err != nil || len(admins) == 0 {
		t.Fatalf("admins: %v %v", admins, err)
	}
	ids := []string{}
	for page, err := range c.SearchConversations(t.Context(), intercomapi.Cmp("updated_at", ">", 0), 2, nil) {
		if err != nil {
			t.Fatal(err)
		}
		for _, cv := range page {
			ids = append(ids, cv.ID)
		}
		break
	}
	clk.Set(clk.Now().Add(time.Hour))
	for _, id := range ids {
		post(t, ts.URL+"/conversations/"+id+"/parts", "Bearer "+intercom.Token, map[string]any{"type": "admin", "message_type": "comment", "admin_id": admins[0].ID, "body": "edited"})
	}
	now := clk.Now()
	second, err := extract.Run(t.Context(), src, extract.Window{Lower: now.Add(-time.Minute), Upper: now}, t.TempDir(), "r2", clk.Now, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := landed(t, second.File)
	if len(got) != 2 || !got[ids[0]] || !got[ids[1]] {
		t.Errorf("landed %v, want exactly the edited conversations %v", got, ids)
	}
	// One search page plus one fetch (with parts) per changed conversation.
	if second.Requests != 3 {
		t.Errorf("incremental extraction made %d requests, want 3 (the full one made %d)", second.Requests, first.Requests)
	}
}
