package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// contactNotification is a contact.user.updated notification naming id.
func contactNotification(t *testing.T, in *Inbox, n int, id string) string {
	t.Helper()
	nid := fmt.Sprintf("notif_%02d", n)
	b, _ := json.Marshal(map[string]any{"type": "notification_event", "id": nid, "topic": "contact.user.updated", "created_at": time.Now().Unix(),
		"data": map[string]any{"type": "notification_event_data", "item": map[string]any{"type": "contact", "id": id}}})
	var note Notification
	if err := json.Unmarshal(b, &note); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Add(note, b); err != nil {
		t.Fatal(err)
	}
	return nid
}

// TestProcessor_OneBadNotificationDoesNotBlockTheOthers: a notification
// whose batch always fails (its record cannot be synced) is isolated by
// halving batches, moved to failed/ after failing alone Attempts times and
// counted; every other notification is synced; a redelivery of the failed
// one is not stored again; a busy data dir is no one's failure.
func TestProcessor_OneBadNotificationDoesNotBlockTheOthers(t *testing.T) {
	dir := t.TempDir()
	in, err := OpenInbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	var bad string
	for i := range 8 {
		id := contactNotification(t, in, i, fmt.Sprintf("c%d", i))
		if i == 5 {
			bad = id
		}
		// Distinct stored times keep the order the test reasons about.
		os.Chtimes(filepath.Join(dir, "pending", id+".json"), time.Now(), time.Now().Add(time.Duration(i)*time.Second))
	}
	var synced []string
	busy := 2
	m := &Metrics{}
	p := &Processor{Inbox: in, Max: 8, Attempts: 3, Metrics: m, Log: slog.New(slog.DiscardHandler),
		Run: func(ctx context.Context, w Work) (int, error) {
			if busy > 0 {
				busy--
				return 0, fmt.Errorf("%w: a run holds it", ErrBusy)
			}
			if slices.Contains(w.Targets["intercom.contacts"], "c5") {
				return 0, errors.New("contact c5: not a contact")
			}
			synced = append(synced, w.Targets["intercom.contacts"]...)
			return len(w.Targets["intercom.contacts"]), nil
		}}
	for range 2 {
		if _, err := p.Once(context.Background()); !errors.Is(err, ErrBusy) {
			t.Fatalf("a busy data dir: %v", err)
		}
	}
	if m.Failed != 0 || p.limit != 0 {
		t.Fatalf("a busy data dir counted as a failure: %d failed, next batch %d", m.Failed, p.limit)
	}
	for range 40 {
		p.Once(context.Background())
		if n, _, _ := in.Counts(time.Now()); n == 0 {
			break
		}
	}
	slices.Sort(synced)
	if want := []string{"c0", "c1", "c2", "c3", "c4", "c6", "c7"}; !slices.Equal(synced, want) {
		t.Fatalf("synced %v, want %v", synced, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "failed", bad+".json")); err != nil {
		t.Fatalf("the bad notification is not in failed/: %v", err)
	}
	if m.Abandoned != 1 {
		t.Fatalf("abandoned %d, want 1", m.Abandoned)
	}
	var note Notification
	raw, _ := os.ReadFile(filepath.Join(dir, "failed", bad+".json"))
	json.Unmarshal(raw, &note)
	if dup, err := in.Add(note, raw); err != nil || !dup {
		t.Fatalf("a redelivery of the failed notification: dup %v, err %v", dup, err)
	}
}
