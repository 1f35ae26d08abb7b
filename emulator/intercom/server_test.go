package intercom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/emulator/seed"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func setup(t *testing.T, opt Options) (*Server, func(method, path string, body any) (int, http.Header, map[string]any)) {
	t.Helper()
	srv, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return srv, func(method, path string, body any) (int, http.Header, map[string]any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, ts.URL+path, rd)
		req.Header.Set("Authorization", "Bearer "+Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, resp.Header, m
	}
}

func errCode(m map[string]any) string {
	errs, _ := m["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	return errs[0].(map[string]any)["code"].(string)
}

// TestSearch_ContactDatesAreDayGranular: in the workspace's timezone, ">"
// starts at the next day's midnight and "=" matches the whole day.
func TestSearch_ContactDatesAreDayGranular(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{}
	la, _ := time.LoadLocation("America/Los_Angeles")
	_, call := setup(t, Options{Now: clock.Now, Timezone: "America/Los_Angeles"})
	stamps := map[string]time.Time{
		"morning": time.Date(2026, 3, 10, 8, 0, 0, 0, la),
		"night":   time.Date(2026, 3, 10, 23, 59, 59, 0, la),
		"next":    time.Date(2026, 3, 11, 0, 0, 1, 0, la),
	}
	ids := map[string]string{}
	for name, ts := range stamps {
		clock.Set(ts)
		code, _, c := call("POST", "/contacts", map[string]any{"email": name + "@example.com"})
		if code != 200 {
			t.Fatalf("create %s: %d %v", name, code, c)
		}
		ids[c["id"].(string)] = name
	}
	search := func(op string, at time.Time) []string {
		code, _, res := call("POST", "/contacts/search", map[string]any{"query": map[string]any{"field": "updated_at", "operator": op, "value": at.Unix()}})
		if code != 200 {
			t.Fatalf("search: %d %v", code, res)
		}
		var out []string
		for _, d := range res["data"].([]any) {
			out = append(out, ids[d.(map[string]any)["id"].(string)])
		}
		return out
	}
	if got := search(">", stamps["morning"]); strings.Join(got, ",") != "next" {
		t.Errorf("updated_at > morning = %v, want only the next day's contact", got)
	}
	if got := search("=", stamps["night"]); len(got) != 2 {
		t.Errorf("updated_at = night = %v, want both contacts of that day", got)
	}
	if code, _, res := call("POST", "/contacts/search", map[string]any{"query": map[string]any{"field": "updated_at", "operator": ">=", "value": 1}}); code != 400 || errCode(res) != "parameter_invalid" {
		t.Errorf(">= on a date field: %d %v, want 400 parameter_invalid", code, res)
	}
}

func TestContacts_DuplicateCreateIs409WithExistingID(t *testing.T) {
	t.Parallel()
	_, call := setup(t, Options{})
	_, _, first := call("POST", "/contacts", map[string]any{"email": "Ada@Example.com", "role": "user"})
	code, _, res := call("POST", "/contacts", map[string]any{"email": "ada@example.com", "role": "user"})
	if code != 409 || errCode(res) != "conflict" || !strings.Contains(res["errors"].([]any)[0].(map[string]any)["message"].(string), "id="+first["id"].(string)) {
		t.Fatalf("duplicate create: %d %v", code, res)
	}
	code, _, res = call("POST", "/contacts", map[string]any{"email": "x@example.com", "custom_attributes": map[string]any{"nope": 1}})
	if code != 400 || errCode(res) != "parameter_not_found" {
		t.Fatalf("unknown custom attribute: %d %v", code, res)
	}
}

func TestScroll_OneAtATime(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Now()}
	_, call := setup(t, Options{Dataset: seed.New(seed.Params{Seed: 1, Scale: 400}), Now: clock.Now})
	code, _, first := call("GET", "/companies/scroll", nil)
	if code != 200 || len(first["data"].([]any)) == 0 || first["scroll_param"] == "" {
		t.Fatalf("first scroll page: %d %v", code, first)
	}
	if code, _, res := call("GET", "/companies/scroll", nil); code != 400 || errCode(res) != "scroll_exists" {
		t.Fatalf("second scroll: %d %v", code, res)
	}
	clock.Set(clock.Now().Add(61 * time.Second))
	if code, _, res := call("GET", "/companies/scroll?scroll_param="+first["scroll_param"].(string), nil); code != 404 || errCode(res) != "not_found" {
		t.Fatalf("expired scroll: %d %v", code, res)
	}
	n := 0
	param := ""
	for {
		path := "/companies/scroll"
		if param != "" {
			path += "?scroll_param=" + param
		}
		_, _, page := call("GET", path, nil)
		data := page["data"].([]any)
		if len(data) == 0 {
			// The end: the param has expired, so none is given to go on
			// with (Intercom's SDK pages for as long as one is).
			if p, ok := page["scroll_param"]; ok {
				t.Fatalf("the last, empty, page gives a scroll_param %v", p)
			}
			break
		}
		n += len(data)
		param = page["scroll_param"].(string)
	}
	if n != 100 {
		t.Fatalf("scrolled %d companies, want 100", n)
	}
}

// TestConversations_List: GET /conversations pages every conversation
// once, in creation order, by a starting_after cursor.
func TestConversations_List(t *testing.T) {
	t.Parallel()
	_, call := setup(t, Options{Dataset: seed.New(seed.Params{Seed: 1, Scale: 200})})
	seen := map[string]bool{}
	path, total := "/conversations?per_page=7", 0
	for path != "" {
		code, _, res := call("GET", path, nil)
		if code != 200 || res["type"] != "conversation.list" {
			t.Fatalf("%s: %d %v", path, code, res)
		}
		total = int(res["total_count"].(float64))
		for _, c := range res["conversations"].([]any) {
			id := c.(map[string]any)["id"].(string)
			if seen[id] {
				t.Fatalf("conversation %s listed twice", id)
			}
			seen[id] = true
		}
		path = ""
		if next, ok := res["pages"].(map[string]any)["next"].(map[string]any); ok {
			path = "/conversations?per_page=7&starting_after=" + url.QueryEscape(next["starting_after"].(string))
		}
	}
	if len(seen) != total || total < 20 {
		t.Fatalf("listed %d of %d conversations", len(seen), total)
	}
}

func TestRateLimit_HeadersAnd429(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1767225605, 0)}
	_, call := setup(t, Options{RateLimit: 3, Now: clock.Now})
	for i := 1; i <= 4; i++ {
		code, h, res := call("GET", "/me", nil)
		if h.Get("X-RateLimit-Limit") != "3" || h.Get("X-RateLimit-Reset") != "1767225610" {
			t.Fatalf("request %d headers: %v", i, h)
		}
		if i == 4 && (code != 429 || errCode(res) != "rate_limit_exceeded" || h.Get("X-RateLimit-Remaining") != "0") {
			t.Fatalf("request past the window budget: %d %v", code, res)
		}
	}
	clock.Set(time.Unix(1767225610, 0))
	if code, _, _ := call("GET", "/me", nil); code != 200 {
		t.Fatalf("after the reset: %d", code)
	}
}

// TestConversations_ExactSecondsAndTags: conversation search compares
// dates to the second (unlike contacts) and tag_ids "=" means "carries".
func TestConversations_ExactSecondsAndTags(t *testing.T) {
	t.Parallel()
	_, call := setup(t, Options{Dataset: seed.New(seed.Params{Seed: 1, Scale: 300})})
	code, _, res := call("POST", "/conversations/search", map[string]any{"query": map[string]any{"field": "updated_at", "operator": ">", "value": 0}, "pagination": map[string]any{"per_page": 150}})
	if code != 200 || res["type"] != "conversation.list" {
		t.Fatalf("search: %d %v", code, res)
	}
	convs := res["conversations"].([]any)
	first := convs[0].(map[string]any)
	if _, hasParts := first["conversation_parts"]; hasParts {
		t.Error("search results must not embed conversation parts")
	}
	ts := int64(first["updated_at"].(float64))
	_, _, res = call("POST", "/conversations/search", map[string]any{"query": map[string]any{"operator": "AND", "value": []any{
		map[string]any{"field": "updated_at", "operator": ">=", "value": ts},
		map[string]any{"field": "updated_at", "operator": "<=", "value": ts},
	}}})
	for _, c := range res["conversations"].([]any) {
		if int64(c.(map[string]any)["updated_at"].(float64)) != ts {
			t.Fatalf("updated_at between %d and %d returned %v", ts, ts, c.(map[string]any)["updated_at"])
		}
	}
	_, _, res = call("POST", "/conversations/search", map[string]any{"query": map[string]any{"field": "tag_ids", "operator": "=", "value": "7001"}})
	if res["total_count"].(float64) == 0 {
		t.Fatal("no conversation tagged pricing")
	}
	for _, c := range res["conversations"].([]any) {
		if !strings.Contains(fmt.Sprint(c.(map[string]any)["tags"]), "pricing") {
			t.Fatalf("tag_ids = 7001 returned an untagged conversation: %v", c)
		}
	}
	code, _, conv := call("GET", "/conversations/"+first["id"].(string), nil)
	parts := conv["conversation_parts"].(map[string]any)
	if code != 200 || parts["total_count"].(float64) < 3 {
		t.Fatalf("get conversation: %d %v", code, conv)
	}
	contact := first["contacts"].(map[string]any)["contacts"].([]any)[0].(map[string]any)["id"].(string)
	code, _, msg := call("POST", "/messages", map[string]any{"message_type": "email", "body": "hi", "from": map[string]any{"type": "admin", "id": 991200000}, "to": map[string]any{"type": "user", "id": contact}})
	if code != 400 {
		t.Fatalf("email without subject: %d %v", code, msg)
	}
}

// TestSearch_ContactSortOrder: sort defaults to descending, compares full
// seconds (not days, as the filter does), pages stably through ties, and
// refuses any order other than ascending or descending.
func TestSearch_ContactSortOrder(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{}
	_, call := setup(t, Options{Now: clock.Now, Timezone: "UTC"})
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	// Created out of order, all on one day; b and c share a second.
	offsets := map[string]time.Duration{"a": 9 * time.Hour, "b": 15 * time.Hour, "c": 15 * time.Hour, "d": 12*time.Hour + time.Second, "e": 12 * time.Hour}
	ids := map[string]string{}
	for _, name := range []string{"d", "a", "c", "e", "b"} {
		clock.Set(day.Add(offsets[name]))
		code, _, c := call("POST", "/contacts", map[string]any{"email": name + "@example.com"})
		if code != 200 {
			t.Fatalf("create %s: %d %v", name, code, c)
		}
		ids[c["id"].(string)] = name
	}
	query := map[string]any{"field": "updated_at", "operator": "=", "value": day.Unix()}
	order := func(sort map[string]any) string {
		t.Helper()
		var got []string
		after := ""
		for {
			body := map[string]any{"query": query, "pagination": map[string]any{"per_page": 2}, "sort": sort}
			if after != "" {
				body["pagination"].(map[string]any)["starting_after"] = after
			}
			code, _, m := call("POST", "/contacts/search", body)
			if code != 200 {
				t.Fatalf("search %v: %d %v", sort, code, m)
			}
			for _, c := range m["data"].([]any) {
				got = append(got, ids[c.(map[string]any)["id"].(string)])
			}
			next, _ := m["pages"].(map[string]any)["next"].(map[string]any)
			if next == nil {
				return strings.Join(got, "")
			}
			after = next["starting_after"].(string)
		}
	}
	// Ties page by id, and ids ascend in creation order: c before b.
	if got := order(map[string]any{"field": "updated_at"}); got != "cbdea" {
		t.Errorf("sort without order: %s, want cbdea (descending by full second)", got)
	}
	if got := order(map[string]any{"field": "updated_at", "order": "descending"}); got != "cbdea" {
		t.Errorf("descending: %s, want cbdea", got)
	}
	if got := order(map[string]any{"field": "updated_at", "order": "ascending"}); got != "aedcb" {
		t.Errorf("ascending: %s, want aedcb", got)
	}
	code, _, m := call("POST", "/contacts/search", map[string]any{"query": query, "sort": map[string]any{"field": "updated_at", "order": "desc"}})
	if code != 400 || errCode(m) != "invalid_sort_order" {
		t.Errorf("order desc: %d %v, want 400 invalid_sort_order", code, m)
	}
}

// TestMessages_NewConversationKeepsSeededOnes: at a million contacts seeded
// conversation ids pass 900,000; a message's conversation must take an id
// nobody holds, not replace a seeded conversation.
func TestMessages_NewConversationKeepsSeededOnes(t *testing.T) {
	t.Parallel()
	srv, call := setup(t, Options{Dataset: seed.New(seed.Params{Seed: 1, Scale: 50})})
	srv.ws.mu.Lock()
	held := *srv.ws.conversations.list[0]
	held.ID = "900001" // where the first message's conversation used to go
	srv.ws.putConversation(&held)
	srv.ws.mu.Unlock()
	contact := held.ContactIDs[0]
	other := srv.ws.conversations.list[1].ContactIDs[0]
	if other == contact {
		t.Fatal("test needs two different contacts")
	}
	code, _, msg := call("POST", "/messages", map[string]any{"message_type": "in_app", "body": "welcome", "from": map[string]any{"type": "admin", "id": 991200000}, "to": map[string]any{"type": "user", "id": other}})
	if code != 200 {
		t.Fatalf("send: %d %v", code, msg)
	}
	if msg["conversation_id"] == "900001" {
		t.Fatal("the message's conversation took a seeded conversation's id")
	}
	code, _, conv := call("GET", "/conversations/900001", nil)
	if code != 200 {
		t.Fatalf("seeded conversation: %d %v", code, conv)
	}
	if got := fmt.Sprint(conv["contacts"]); !strings.Contains(got, contact) || strings.Contains(got, other) {
		t.Fatalf("seeded conversation 900001 now belongs to another contact: %s", got)
	}
	code, _, conv = call("GET", "/conversations/"+msg["conversation_id"].(string), nil)
	if code != 200 || !strings.Contains(fmt.Sprint(conv["contacts"]), other) {
		t.Fatalf("message's conversation: %d %v", code, conv)
	}
}

// TestLoseRate_CreateCommitsAndItsAnswerIsLost: a contact create whose
// response is lost (a dropped connection, a 502 or a 504) exists all the
// same: creating it again is a 409 naming it. Reads are never lost.
func TestLoseRate_CreateCommitsAndItsAnswerIsLost(t *testing.T) {
	t.Parallel()
	srv, err := New(Options{Dataset: seed.New(seed.Params{Seed: 1, Scale: 50}), LoseRate: 1, FaultSeed: 5})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	send := func(method, path string, body any) (int, string, error) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, ts.URL+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out), nil
	}
	seen := map[string]int{}
	for i := range 9 {
		code, out, err := send("POST", "/contacts", map[string]any{"role": "user", "email": fmt.Sprintf("lost-%d@example.com", i)})
		switch {
		case err != nil:
			seen["dropped"]++
		case code == 502 || code == 504:
			seen[fmt.Sprint(code)]++
		default:
			t.Fatalf("create %d answered %d with its response meant to be lost: %s", i, code, out)
		}
		if code, out, err := send("GET", "/admins", nil); err != nil || code != 200 {
			t.Fatalf("a read was lost: %d %s %v", code, out, err)
		}
	}
	if seen["dropped"] == 0 || seen["502"] == 0 || seen["504"] == 0 {
		t.Fatalf("losses seen %v, want all three kinds", seen)
	}
	srv.SetLoseRate(0)
	for i := range 9 {
		code, out, err := send("POST", "/contacts", map[string]any{"role": "user", "email": fmt.Sprintf("lost-%d@example.com", i)})
		if err != nil || code != 409 || !strings.Contains(out, "id=") {
			t.Fatalf("create %d again: %d %s %v, want 409 naming the contact the lost create made", i, code, out, err)
		}
	}
}
