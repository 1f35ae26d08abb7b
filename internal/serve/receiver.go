package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Receiver is the endpoint Intercom delivers webhook notifications to. It
// answers only once a notification is stored (or known already):
//   - 405 for anything but POST;
//   - 413 for a body over MaxBody;
//   - 401 when X-Hub-Signature is not "sha1=" and the HMAC-SHA1 of the raw
//     body keyed with the app's client secret (compared in constant time);
//   - 400 for a body that is not a notification, or one created longer
//     than MaxAge ago (a replay of a captured delivery outlives the
//     inbox's memory of its id);
//   - 500 when it could not be stored (Intercom delivers it again);
//   - 200 otherwise, for a new notification and a redelivered one alike.
type Receiver struct {
	Secret  []byte
	Inbox   *Inbox
	MaxBody int64
	MaxAge  time.Duration
	Now     func() time.Time
	Metrics *Metrics
	Log     *slog.Logger
	// Stored, when set, is told that a new notification is in the inbox.
	Stored func()
}

// DefaultMaxBody bounds a notification's body: a conversation with its
// parts is well under it.
const DefaultMaxBody = 1 << 20

// Sign is the X-Hub-Signature of body under secret.
func Sign(secret, body []byte) string { return hubSignature.sign(secret, body) }

func (h *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	max := h.MaxBody
	if max <= 0 {
		max = DefaultMaxBody
	}
	body, ok := readSigned(w, r, max, hubSignature, h.Secret, h.reject)
	if !ok {
		return
	}
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil {
		h.reject(w, http.StatusBadRequest, "malformed", "not JSON: "+err.Error())
		return
	}
	// ferry's own topic is for requests ferry serve stores itself, never
	// for one delivered from outside.
	if n.Type != "notification_event" || n.ID == "" || n.Topic == "" || n.Topic == LeadTopic {
		h.reject(w, http.StatusBadRequest, "malformed", "not a notification_event with an id and a topic")
		return
	}
	if n.Topic == "ping" {
		h.Metrics.add(&h.Metrics.Received, 1)
		writeJSON(w, http.StatusOK, map[string]string{"status": "pong"})
		return
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	if h.MaxAge > 0 && n.CreatedAt > 0 && now().Sub(time.Unix(n.CreatedAt, 0)) > h.MaxAge {
		h.reject(w, http.StatusBadRequest, "stale", fmt.Sprintf("created %s ago, more than %s", now().Sub(time.Unix(n.CreatedAt, 0)).Round(time.Second), h.MaxAge))
		return
	}
	dup, err := h.Inbox.Add(n, body)
	if errors.Is(err, ErrBadID) {
		h.reject(w, http.StatusBadRequest, "malformed", err.Error())
		return
	}
	if err != nil {
		h.Log.Error("webhook not stored", "id", n.ID, "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "not stored"})
		return
	}
	h.Metrics.add(&h.Metrics.Received, 1)
	if dup {
		h.Metrics.add(&h.Metrics.Duplicates, 1)
		writeJSON(w, http.StatusOK, map[string]string{"status": "duplicate"})
		return
	}
	h.Log.Info("webhook stored", "id", n.ID, "topic", n.Topic)
	writeJSON(w, http.StatusOK, map[string]string{"status": "stored"})
	if h.Stored != nil {
		h.Stored()
	}
}

func (h *Receiver) reject(w http.ResponseWriter, status int, reason, msg string) {
	h.Metrics.reject(reason)
	if h.Log != nil {
		h.Log.Warn("webhook rejected", "status", status, "reason", reason, "detail", msg)
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
