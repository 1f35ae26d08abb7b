package intercomapi_test

import (
	"errors"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/ferry-sync/ferry/emulator/intercom"
	"github.com/ferry-sync/ferry/emulator/seed"
	"github.com/ferry-sync/ferry/internal/intercomapi"
)

func setup(t *testing.T, opt intercom.Options) (*intercomapi.Client, *intercom.Server, *httptest.Server) {
	t.Helper()
	srv, err := intercom.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	c, err := intercomapi.New(intercomapi.Options{BaseURL: ts.URL, Token: intercom.Token})
	if err != nil {
		t.Fatal(err)
	}
	return c, srv, ts
}

// TestClient_PacesBelowTheLimit: 4 concurrent writers, a budget of 40 per
// 10 s, 60 requests: the client waits for the window reset instead of
// provoking 429s.
func TestClient_PacesBelowTheLimit(t *testing.T) {
	t.Parallel()
	c, _, ts := setup(t, intercom.Options{RateLimit: 40})
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 15; i++ {
				if _, err := c.Me(t.Context()); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := stats(t, ts.URL)
	if st["429"] > 2 {
		t.Fatalf("%d requests got 429; the client should pace itself", st["429"])
	}
}

func TestClient_ConflictCarriesExistingID(t *testing.T) {
	t.Parallel()
	c, _, _ := setup(t, intercom.Options{})
	first, err := c.CreateContact(t.Context(), map[string]any{"email": "a@example.com", "role": "user"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateContact(t.Context(), map[string]any{"email": "a@example.com", "role": "user"})
	var conflict *intercomapi.ConflictError
	if !errors.As(err, &conflict) || conflict.ExistingID != first.ID {
		t.Fatalf("err = %v, want a ConflictError naming %s", err, first.ID)
	}
}

func TestClient_Unauthorized(t *testing.T) {
	t.Parallel()
	_, _, ts := setup(t, intercom.Options{})
	c, _ := intercomapi.New(intercomapi.Options{BaseURL: ts.URL, Token: "wrong"})
	_, err := c.Me(t.Context())
	if !errors.Is(err, intercomapi.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
}

func TestClient_SearchPagesEverything(t *testing.T) {
	t.Parallel()
	c, _, _ := setup(t, intercom.Options{Dataset: seed.New(seed.Params{Seed: 2, Scale: 700})})
	total, n := 0, 0
	seen := map[string]bool{}
	for page, err := range c.SearchContacts(t.Context(), intercomapi.Search{Query: intercomapi.Cmp("updated_at", ">", 0), PerPage: 150, SortField: "updated_at", Ascending: true}, &total) {
		if err != nil {
			t.Fatal(err)
		}
		for _, ct := range page {
			if seen[ct.ID] {
				t.Fatalf("contact %s returned twice", ct.ID)
			}
			seen[ct.ID] = true
			n++
		}
	}
	if n != 700 || total != 700 {
		t.Fatalf("paged %d contacts of total_count %d, want 700", n, total)
	}
}
