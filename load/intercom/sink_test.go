package intercom

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/internal/intercomapi"
	"github.com/ferry-sync/ferry/internal/state"
	"github.com/ferry-sync/ferry/load"
)

// A run that stops inside a batch of creates (here Intercom starts
// answering 401 after three) leaves pending only the create whose answer
// it did not get; the records of the batch it never sent are recorded as
// unsent, so the next run does not look them up as possibly created.
func TestCreateContacts_StopInsideBatchLeavesOnlyTheUnansweredPending(t *testing.T) {
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/contacts" {
			http.NotFound(w, r)
			return
		}
		n := posts.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if n > 3 {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"type":"error.list","errors":[{"code":"unauthorized","message":"Access Token Invalid"}]}`)
			return
		}
		fmt.Fprintf(w, `{"type":"contact","id":"ic%d","role":"user","email":"p%d@example.com"}`, n, n)
	}))
	defer srv.Close()
	ctx := context.Background()
	st, err := state.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	client, err := intercomapi.New(intercomapi.Options{BaseURL: srv.URL, Token: "t", Version: "2.14", Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	ledger := load.NewLedger(st, "run-1", time.Now)
	sink := &Sink{Client: client, Concurrency: 1, Ledger: ledger, Log: slog.New(slog.DiscardHandler)}
	var recs []load.Record
	for i := range 10 {
		email := fmt.Sprintf("p%d@example.com", i+1)
		recs = append(recs, load.Record{Object: "contacts", Key: fmt.Sprintf("003%d", i), Fields: []load.Change{{Field: "email", Value: &email, Type: "string"}}})
	}
	out := load.NewOutcome()
	err = sink.CreateContacts(ctx, recs, out)
	if err == nil {
		t.Fatal("a 401 must stop the load")
	}
	if err := ledger.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	created := map[string]string{}
	if err := ledger.RunResults(ctx, "intercom", "contacts", "create", func(k, id string) error { created[k] = id; return nil }); err != nil {
		t.Fatal(err)
	}
	sent := int(posts.Load()) // the one that met the 401, and at most one already handed over
	if len(created) != 3 || out.Written["intercom contacts create"] != 3 || sent < 4 || sent > 5 {
		t.Fatalf("%d created (%v), %d POSTs; want 3 created, their ids in the ledger, 4 or 5 sent", len(created), out.Written, sent)
	}
	pending, err := ledger.PendingCreates(ctx, "intercom", "contacts")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range pending {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var want []string
	for _, r := range recs[3:sent] {
		want = append(want, r.Key)
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("pending after the stop: %v; want %v, the creates sent without an answer (of 10, %d sent)", keys, want, sent)
	}
}
