package intercom

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/emulator/fault"
	emu "github.com/ferry-sync/ferry/emulator/intercom"
	"github.com/ferry-sync/ferry/emulator/seed"
	"github.com/ferry-sync/ferry/internal/intercomapi"
	"github.com/ferry-sync/ferry/internal/state"
	"github.com/ferry-sync/ferry/load"
)

// losingWorkspace serves a seeded Intercom emulator whose first answer to
// a request lost(r) says is lost, the way loss says (after the write is
// made), and returns a client of it, an empty state, and how many requests
// lost matched.
func losingWorkspace(t *testing.T, loss fault.Loss, lost func(*http.Request) bool) (*intercomapi.Client, *state.Store, *atomic.Int32) {
	t.Helper()
	srv, err := emu.New(emu.Options{Dataset: seed.New(seed.Params{Seed: 1, Scale: 50})})
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lost(r) && n.Add(1) == 1 {
			fault.Lose(w, func(w http.ResponseWriter) { srv.ServeHTTP(w, r) }, loss)
			return
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	st, err := state.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	client, err := intercomapi.New(intercomapi.Options{BaseURL: ts.URL, Token: emu.Token, Version: "2.14", Attempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	return client, st, &n
}

// TestSendMessages_LostAnswerIsLookedUpNotResent: Intercom sends a
// message and its answer is lost (a dropped connection, a 502, a 504). The
// run records it as unconfirmed, not as refused; the next run, given the
// same plan, waits out Intercom's search lag (sending nothing, counting
// nothing as sent), then finds the conversation the message opened and
// sends nothing. Bodies are compared as text: Intercom may keep HTML.
func TestSendMessages_LostAnswerIsLookedUpNotResent(t *testing.T) {
	t.Parallel()
	for _, loss := range []fault.Loss{fault.Dropped, fault.BadGateway, fault.GatewayTimeout} {
		t.Run(loss.String(), func(t *testing.T) {
			t.Parallel()
			client, st, posts := losingWorkspace(t, loss, func(r *http.Request) bool { return r.Method == http.MethodPost && r.URL.Path == "/messages" })
			ctx := context.Background()
			var contact string
			for page, err := range client.SearchContacts(ctx, intercomapi.Search{Query: intercomapi.Cmp("role", "=", "user"), PerPage: 1}, nil) {
				if err != nil || len(page) == 0 {
					t.Fatalf("find a contact: %v", err)
				}
				contact = page[0].ID
				break
			}
			str := func(s string) *string { return &s }
			rec := load.Record{Object: "messages", Key: "006000000000001AAA", Fields: []load.Change{
				{Field: "contact", Value: str(contact)}, {Field: "admin", Value: str("991200000")}, {Field: "message_type", Value: str("in_app")},
				{Field: "subject", Value: str("")}, {Field: "body", Value: str("Welcome aboard, lost answer " + loss.String())}}}
			run := func(id string, lag time.Duration, now time.Time) *load.Outcome {
				t.Helper()
				clock := func() time.Time { return now }
				ledger := load.NewLedger(st, id, clock)
				sink := &Sink{Client: client, Concurrency: 1, Ledger: ledger, Log: slog.New(slog.DiscardHandler), SearchLag: lag, Now: clock}
				out := load.NewOutcome()
				if err := sink.SendMessages(ctx, []load.Record{rec}, out); err != nil {
					t.Fatalf("%s: %v", id, err)
				}
				if err := ledger.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				return out
			}
			start := time.Now()
			out := run("run-1", time.Hour, start)
			if len(out.Rejects) != 1 || !strings.HasPrefix(out.Rejects[0].Error, "UNCONFIRMED") {
				t.Fatalf("the lost answer is reported as %+v, want one unconfirmed create", out.Rejects)
			}
			// Within the search lag the message is neither sent nor
			// counted as sent, however often runs come.
			for i, at := range []time.Duration{time.Minute, 30 * time.Minute} {
				out = run(fmt.Sprintf("run-wait-%d", i), time.Hour, start.Add(at))
				if len(out.Rejects) != 1 || !strings.Contains(out.Rejects[0].Error, "search_lag") || posts.Load() != 1 {
					t.Fatalf("%s after the lost answer: rejects %+v, %d POSTs; want it waiting, unsent", at, out.Rejects, posts.Load())
				}
			}
			out = run("run-2", time.Hour, start.Add(61*time.Minute))
			if len(out.Rejects) != 0 || out.Written["intercom messages create"] != 1 {
				t.Fatalf("second run: written %v, rejects %+v; want the message found", out.Written, out.Rejects)
			}
			if n := posts.Load(); n != 1 {
				t.Fatalf("%d POST /messages, want 1: the second run sent the message again", n)
			}
			var status string
			if err := st.DB.QueryRowContext(ctx, "SELECT status FROM ferry.ledger WHERE record_key = $1 AND run_id = 'run-2' AND status <> 'pending'", rec.Key).Scan(&status); err != nil || status != "done" {
				t.Fatalf("ledger after the look-up: %q %v, want done", status, err)
			}
		})
	}
}

// TestAddNotes_LostAnswerIsLookedUpNotResent: Intercom adds a note to a
// conversation and the answer is lost. The next run, given the same plan,
// finds the note among the conversation's parts (no search lag: a
// conversation read by id shows its parts) and adds nothing; a run after
// that skips it by the ledger without a request.
func TestAddNotes_LostAnswerIsLookedUpNotResent(t *testing.T) {
	t.Parallel()
	for _, loss := range []fault.Loss{fault.Dropped, fault.BadGateway, fault.GatewayTimeout} {
		t.Run(loss.String(), func(t *testing.T) {
			t.Parallel()
			var reads atomic.Int32
			client, st, posts := losingWorkspace(t, loss, func(r *http.Request) bool {
				if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/conversations/") {
					reads.Add(1)
				}
				return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/reply")
			})
			ctx := context.Background()
			var conversation string
			for page, err := range client.SearchConversations(ctx, intercomapi.Cmp("updated_at", ">", 0), 1, nil) {
				if err != nil || len(page) == 0 {
					t.Fatalf("find a conversation: %v", err)
				}
				conversation = page[0].ID
				break
			}
			str := func(s string) *string { return &s }
			rec := load.Record{Object: "conversation_notes", Key: "case:" + conversation, Fields: []load.Change{
				{Field: "conversation_id", Value: str(conversation)}, {Field: "admin_id", Value: str("991200000")},
				{Field: "body", Value: str("Case opened: https://example.test/500000000000001 (" + loss.String() + ")")}}}
			run := func(id string) *load.Outcome {
				t.Helper()
				ledger := load.NewLedger(st, id, time.Now)
				sink := &Sink{Client: client, Concurrency: 1, Ledger: ledger, Log: slog.New(slog.DiscardHandler), SearchLag: time.Hour}
				out := load.NewOutcome()
				if err := sink.AddNotes(ctx, []load.Record{rec}, out); err != nil {
					t.Fatalf("%s: %v", id, err)
				}
				if err := ledger.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				return out
			}
			out := run("run-1")
			if len(out.Rejects) != 1 || !strings.HasPrefix(out.Rejects[0].Error, "UNCONFIRMED") {
				t.Fatalf("the lost answer is reported as %+v, want one unconfirmed create", out.Rejects)
			}
			out = run("run-2")
			if len(out.Rejects) != 0 || out.Written["intercom conversation_notes create"] != 1 || posts.Load() != 1 {
				t.Fatalf("second run: written %v, rejects %+v, %d replies; want the note found, not added again", out.Written, out.Rejects, posts.Load())
			}
			parts, err := client.Parts(ctx, conversation)
			if err != nil {
				t.Fatal(err)
			}
			notes := 0
			for _, p := range parts {
				if p.PartType == "note" {
					notes++
				}
			}
			if notes != 1 {
				t.Fatalf("%d notes on the conversation, want 1", notes)
			}
			r0, p0 := reads.Load(), posts.Load()
			out = run("run-3")
			if len(out.Written) != 0 || reads.Load() != r0 || posts.Load() != p0 {
				t.Fatalf("third run: written %v, %d reads and %d replies; want the ledger to skip the note without a request", out.Written, reads.Load()-r0, posts.Load()-p0)
			}
		})
	}
}

// TestPlainText: a body Intercom keeps as HTML matches the text sent.
func TestPlainText(t *testing.T) {
	t.Parallel()
	if a, b := plainText("<p>Welcome aboard,  Ann &amp; team!</p>\n<p>Reply here.</p>"), plainText("Welcome aboard, Ann & team!\nReply here."); a != b {
		t.Fatalf("%q != %q", a, b)
	}
	if plainText("<p>Welcome, Ann</p>") == plainText("Welcome, Bob") {
		t.Fatal("different bodies compared equal")
	}
}
