package intercom

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/emulator/seed"
)

// The emulator notifies a webhook URL of what its API changed, signed
// with the app's client secret, and delivers again (the same id, one more
// attempt) after an answer outside 2xx.
func TestWebhooks_SignedDeliveredAgainAfterFailure(t *testing.T) {
	t.Parallel()
	type got struct {
		n   map[string]any
		sig string
	}
	var mu sync.Mutex
	var deliveries []got
	refused := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var n map[string]any
		json.Unmarshal(raw, &n)
		m := hmac.New(sha1.New, []byte(ClientSecret))
		m.Write(raw)
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("X-Hub-Signature") != "sha1="+hex.EncodeToString(m.Sum(nil)) {
			t.Errorf("delivery %v: signature %q does not sign the body", n["id"], r.Header.Get("X-Hub-Signature"))
		}
		deliveries = append(deliveries, got{n, r.Header.Get("X-Hub-Signature")})
		if n["topic"] == "conversation.admin.closed" && refused == 0 {
			refused++
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer hook.Close()
	srv, call := setup(t, Options{Dataset: seed.New(seed.Params{Seed: 2, Scale: 40}), Webhooks: Webhooks{URL: hook.URL, Backoff: 50 * time.Millisecond}})
	defer srv.Close()

	code, _, c := call("POST", "/contacts", map[string]any{"email": "new@example.com", "role": "user"})
	if code != 200 {
		t.Fatalf("create: %d %v", code, c)
	}
	var open string
	for _, conv := range srv.ws.conversations.list {
		if conv.State == "open" {
			open = conv.ID
			break
		}
	}
	if open == "" {
		t.Fatal("the seed has no open conversation")
	}
	admin := srv.ws.admins[0].ID
	if code, _, res := call("POST", "/conversations/"+open+"/parts", map[string]any{"type": "admin", "admin_id": admin, "message_type": "close"}); code != 200 {
		t.Fatalf("close: %d %v", code, res)
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.WebhookStats().Pending > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	var topics []string
	attempts := map[string][]float64{}
	for _, d := range deliveries {
		topics = append(topics, d.n["topic"].(string))
		attempts[d.n["id"].(string)] = append(attempts[d.n["id"].(string)], d.n["delivery_attempts"].(float64))
	}
	want := []string{"contact.user.created", "conversation.admin.closed", "conversation.admin.closed"}
	if len(topics) != 3 || topics[0] != want[0] || topics[1] != want[1] || topics[2] != want[2] {
		t.Fatalf("deliveries %v, want %v", topics, want)
	}
	first, closed := deliveries[0].n, deliveries[2].n
	item := first["data"].(map[string]any)["item"].(map[string]any)
	if first["type"] != "notification_event" || first["app_id"] != AppID || item["id"] != c["id"] || item["email"] != "new@example.com" {
		t.Errorf("contact notification: %v", first)
	}
	if deliveries[1].n["id"] != closed["id"] || closed["delivery_attempts"] != float64(2) {
		t.Errorf("the refused delivery was not sent again as the same notification: %v then %v", deliveries[1].n, closed)
	}
	conv := closed["data"].(map[string]any)["item"].(map[string]any)
	if conv["id"] != open || conv["state"] != "closed" {
		t.Errorf("closed conversation item: %v", conv)
	}
	if st := srv.WebhookStats(); st.Sent != 2 || st.Failed != 0 || st.Topics["conversation.admin.closed"] != 1 {
		t.Errorf("stats %+v", st)
	}
}
