package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func notification(id, topic string, created time.Time) []byte {
	b, _ := json.Marshal(map[string]any{
		"type": "notification_event", "id": id, "topic": topic, "app_id": "abc123", "created_at": created.Unix(),
		"delivery_attempts": 1, "first_sent_at": created.Unix(),
		"data": map[string]any{"type": "notification_event_data", "item": map[string]any{"type": "contact", "id": "6650a1"}},
	})
	return b
}

func post(t *testing.T, h http.Handler, body []byte, sig string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhooks/intercom", bytes.NewReader(body))
	if sig != "" {
		req.Header.Set("X-Hub-Signature", sig)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestReceiver(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	secret := []byte("client-secret")
	in, err := OpenInbox(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := &Metrics{}
	stored := 0
	h := &Receiver{Secret: secret, Inbox: in, MaxBody: 4096, MaxAge: time.Hour, Now: func() time.Time { return now }, Metrics: m, Log: slog.New(slog.DiscardHandler), Stored: func() { stored++ }}
	body := notification("notif_1", "contact.user.created", now.Add(-time.Minute))

	for _, c := range []struct {
		name   string
		body   []byte
		sig    string
		status int
	}{
		{"no signature", body, "", http.StatusUnauthorized},
		{"signed with another secret", body, Sign([]byte("other"), body), http.StatusUnauthorized},
		{"signature of another body", body, Sign(secret, notification("notif_2", "contact.user.created", now)), http.StatusUnauthorized},
		{"not hex", body, "sha1=zz", http.StatusUnauthorized},
		{"sha256 prefix", body, strings.Replace(Sign(secret, body), "sha1=", "sha256=", 1), http.StatusUnauthorized},
		{"malformed JSON", []byte(`{"type":`), Sign(secret, []byte(`{"type":`)), http.StatusBadRequest},
		{"not a notification", []byte(`{"type":"contact","id":"x"}`), Sign(secret, []byte(`{"type":"contact","id":"x"}`)), http.StatusBadRequest},
		{"an id that is a path", notification("../../etc", "contact.user.created", now), Sign(secret, notification("../../etc", "contact.user.created", now)), http.StatusBadRequest},
		{"oversized", bytes.Repeat([]byte("x"), 5000), Sign(secret, bytes.Repeat([]byte("x"), 5000)), http.StatusRequestEntityTooLarge},
		{"a replay older than the inbox remembers", notification("notif_old", "contact.user.created", now.Add(-2*time.Hour)), Sign(secret, notification("notif_old", "contact.user.created", now.Add(-2*time.Hour))), http.StatusBadRequest},
	} {
		if w := post(t, h, c.body, c.sig); w.Code != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, w.Code, w.Body, c.status)
		}
	}
	if ps, _ := in.Pending(0); len(ps) != 0 || stored != 0 {
		t.Fatalf("rejected deliveries changed the inbox: %d pending, %d stored", len(ps), stored)
	}
	// Delivered five times: stored once, answered 200 each time.
	for i := range 5 {
		w := post(t, h, body, Sign(secret, body))
		want := "duplicate"
		if i == 0 {
			want = "stored"
		}
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), want) {
			t.Fatalf("delivery %d: %d %s", i+1, w.Code, w.Body)
		}
	}
	ps, err := in.Pending(0)
	if err != nil || len(ps) != 1 || ps[0].ID != "notif_1" || ps[0].Topic != "contact.user.created" || stored != 1 {
		t.Fatalf("pending after five deliveries: %+v (%v), stored %d", ps, err, stored)
	}
	// Once synced it is done, and a redelivery is still a duplicate.
	if err := in.Done([]string{"notif_1"}); err != nil {
		t.Fatal(err)
	}
	if w := post(t, h, body, Sign(secret, body)); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "duplicate") {
		t.Fatalf("redelivery after sync: %d %s", w.Code, w.Body)
	}
	if ps, _ := in.Pending(0); len(ps) != 0 {
		t.Fatalf("a redelivery of a synced notification is pending again")
	}
	var out strings.Builder
	m.write(&out)
	for _, line := range []string{
		"ferry_webhook_notifications_received_total 6",
		"ferry_webhook_notifications_duplicate_total 5",
		`ferry_webhook_notifications_rejected_total{reason="signature"} 5`,
		`ferry_webhook_notifications_rejected_total{reason="malformed"} 3`,
		`ferry_webhook_notifications_rejected_total{reason="too_large"} 1`,
		`ferry_webhook_notifications_rejected_total{reason="stale"} 1`,
	} {
		if !strings.Contains(out.String(), line+"\n") {
			t.Errorf("metrics lack %q:\n%s", line, out.String())
		}
	}
	if w := httptest.NewRecorder(); true {
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/webhooks/intercom", nil))
		if w.Code != http.StatusMethodNotAllowed {
			t.Errorf("GET: %d", w.Code)
		}
	}
}

// The inbox keeps notifications in arrival order across a restart.
func TestInbox_SurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	in, _ := OpenInbox(dir)
	for i := range 3 {
		n := Notification{Type: "notification_event", ID: fmt.Sprintf("notif_%d", 3-i), Topic: "conversation.admin.closed"}
		raw, _ := json.Marshal(n)
		if _, err := in.Add(n, raw); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	again, _ := OpenInbox(dir)
	ps, err := again.Pending(2)
	if err != nil || len(ps) != 2 || ps[0].ID != "notif_3" || ps[1].ID != "notif_2" {
		t.Fatalf("pending after reopening: %+v %v", ps, err)
	}
}
