package intercom

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestEvents: POST /events answers 202 and ignores an event it holds (the
// same contact, name and created_at), 404 for an unknown contact; the
// listing shows the last 90 days newest first, page by page through
// pages.next; the summary counts every event by name, older ones too.
func TestEvents(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: now}
	_, call := setup(t, Options{Now: clock.Now})
	_, _, c := call("POST", "/contacts", map[string]any{"email": "ada@example.com", "role": "user", "external_id": "u-1"})
	id := c["id"].(string)
	post := func(name string, at time.Time, who map[string]any) int {
		body := map[string]any{"event_name": name, "created_at": at.Unix()}
		for k, v := range who {
			body[k] = v
		}
		code, _, _ := call("POST", "/events", body)
		return code
	}
	old := now.AddDate(0, 0, -120)
	for i, e := range []struct {
		name string
		at   time.Time
		who  map[string]any
	}{
		{"created-project", old, map[string]any{"id": id}},
		{"created-project", now.Add(-48 * time.Hour), map[string]any{"user_id": "u-1"}},
		{"created-project", now.Add(-48 * time.Hour), map[string]any{"email": "ada@example.com"}}, // held already
		{"invited-teammate", now.Add(-24 * time.Hour), map[string]any{"id": id}},
		{"invited-teammate", now.Add(-time.Hour), map[string]any{"id": id}},
	} {
		if code := post(e.name, e.at, e.who); code != 202 {
			t.Fatalf("event %d: %d, want 202", i, code)
		}
	}
	if code := post("created-project", now, map[string]any{"id": "nobody"}); code != 404 {
		t.Fatalf("event of an unknown contact: %d, want 404", code)
	}
	if code, _, res := call("GET", "/events?intercom_user_id="+id, nil); code != 400 {
		t.Fatalf("listing without type=user: %d %v, want 400", code, res)
	}

	// The listing: three recent events (the 120-day-old one is not
	// listable, the duplicate was ignored), newest first, two a page.
	var names []string
	path := "/events?type=user&per_page=2&intercom_user_id=" + id
	for pages := 0; path != ""; pages++ {
		if pages > 3 {
			t.Fatal("pages.next does not end")
		}
		code, _, res := call("GET", path, nil)
		if code != 200 || res["type"] != "event.summary" || res["intercom_user_id"] != id || res["email"] != "ada@example.com" || res["user_id"] != "u-1" {
			t.Fatalf("list %s: %d %v", path, code, res)
		}
		for _, e := range res["events"].([]any) {
			ev := e.(map[string]any)
			names = append(names, fmt.Sprintf("%s@%.0f", ev["event_name"], ev["created_at"]))
		}
		path = ""
		if p, ok := res["pages"].(map[string]any); ok {
			u, err := url.Parse(p["next"].(string))
			if err != nil {
				t.Fatal(err)
			}
			path = u.RequestURI()
		}
	}
	want := []string{
		fmt.Sprintf("invited-teammate@%d", now.Add(-time.Hour).Unix()),
		fmt.Sprintf("invited-teammate@%d", now.Add(-24*time.Hour).Unix()),
		fmt.Sprintf("created-project@%d", now.Add(-48*time.Hour).Unix()),
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("listed %v, want %v", names, want)
	}

	// The summary: first and last of each name, older events included.
	code, _, res := call("GET", "/events?type=user&summary=true&user_id=u-1", nil)
	if code != 200 {
		t.Fatalf("summary: %d %v", code, res)
	}
	got := map[string]string{}
	for _, e := range res["events"].([]any) {
		ev := e.(map[string]any)
		got[ev["name"].(string)] = fmt.Sprintf("%v %v %v", ev["first"], ev["last"], ev["count"])
	}
	stamp := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000+00:00") }
	if got["created-project"] != stamp(old)+" "+stamp(now.Add(-48*time.Hour))+" 2" ||
		got["invited-teammate"] != stamp(now.Add(-24*time.Hour))+" "+stamp(now.Add(-time.Hour))+" 2" || len(got) != 2 {
		t.Fatalf("summary %v", got)
	}
}
