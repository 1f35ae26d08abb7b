package extract_test

import (
	"bytes"
	"encoding/json"
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
	srv, err := salesforce.New(salesforce.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c, _ := salesforceapi.New(salesforceapi.Options{LoginURL: ts.URL, Flow: salesforceapi.FlowClientCredentials, ClientID: salesforce.ClientID, ClientSecret: salesforce.ClientSecret, Now: clk.Now})
	if err := c.Authenticate(t.Context()); err != nil {
		t.Fatal(err)
	}
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
