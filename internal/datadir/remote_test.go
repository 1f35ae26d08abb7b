package datadir_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/internal/datadir"
	"github.com/ferry-sync/ferry/internal/objstore"
	"github.com/ferry-sync/ferry/internal/testenv"
)

func open(t *testing.T, s *testenv.S3, prefix string) *datadir.Remote {
	t.Helper()
	env := s.Env()
	r, err := datadir.Open(s.URL(prefix), t.TempDir(), func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func write(t *testing.T, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, dir, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A worker's saves reach a worker that starts on an empty cache; a save
// from a worker whose restored state is no longer the committed one is
// refused and leaves the committed state as it was.
func TestRemote_SaveRestoreAndCompareAndSwap(t *testing.T) {
	s := testenv.StartS3(t)
	ctx := context.Background()
	a := open(t, s, "team/pipe")
	if err := a.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	write(t, a.Cache, "warehouse.duckdb", "state v1")
	write(t, a.Cache, "landing/intercom/contacts/run1.parquet", "rows 1")
	if err := a.Save(ctx, "run1", true); err != nil {
		t.Fatal(err)
	}
	// A second worker, another machine: an empty cache.
	b := open(t, s, "team/pipe")
	if err := b.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read(t, b.Cache, "warehouse.duckdb"); got != "state v1" {
		t.Fatalf("restored warehouse %q", got)
	}
	// Runs restore no landing; rebuild and compact ask for it.
	if _, err := os.Stat(filepath.Join(b.Cache, "landing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a restore brought landing files: %v", err)
	}
	if err := b.RestoreLanding(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read(t, b.Cache, "landing/intercom/contacts/run1.parquet"); got != "rows 1" {
		t.Fatalf("restored landing %q", got)
	}
	// Worker a saves again from what it restored... after b committed.
	write(t, b.Cache, "warehouse.duckdb", "state v2 by b")
	if err := b.Save(ctx, "run2", true); err != nil {
		t.Fatal(err)
	}
	write(t, a.Cache, "warehouse.duckdb", "state v2 by a (stale)")
	if err := a.Save(ctx, "run3", true); !errors.Is(err, datadir.ErrMoved) {
		t.Fatalf("a save over another worker's commit: %v, want ErrMoved", err)
	}
	c := open(t, s, "team/pipe")
	if err := c.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read(t, c.Cache, "warehouse.duckdb"); got != "state v2 by b" {
		t.Fatalf("committed state after a refused save: %q", got)
	}
	// Old generations go; the one before the committed one stays.
	env := s.Env()
	cfg, _ := objstore.FromEnv(func(k string) string { return env[k] })
	bk, _ := objstore.Open(cfg, s.Bucket)
	ws, err := bk.List(ctx, "team/pipe/state/warehouse-")
	if err != nil || len(ws) > 2 {
		t.Fatalf("warehouse generations kept: %d (%v)", len(ws), err)
	}
	// A cache left clean by a final save is used as is; one a run was
	// working on when it died is restored again.
	write(t, b.Cache, "landing/intercom/contacts/run4.parquet", "rows 4")
	if err := b.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	write(t, b.Cache, "warehouse.duckdb", "half-written by a run that died")
	if err := b.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read(t, b.Cache, "warehouse.duckdb"); got != "state v2 by b" {
		t.Fatalf("a dirty cache was kept: %q", got)
	}
	// Compaction: a landing file the cache had in full and removed is
	// deleted from the bucket once the state moved.
	os.Remove(filepath.Join(b.Cache, "landing/intercom/contacts/run1.parquet"))
	if err := b.RestoreLanding(ctx); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(b.Cache, "landing/intercom/contacts/run1.parquet"))
	write(t, b.Cache, "landing/intercom/contacts/compacted.parquet", "rows 1+4")
	if err := b.Save(ctx, "compact", true); err != nil {
		t.Fatal(err)
	}
	ls, _ := bk.List(ctx, "team/pipe/landing/")
	var keys []string
	for _, o := range ls {
		keys = append(keys, strings.TrimPrefix(o.Key, "team/pipe/landing/intercom/contacts/"))
	}
	if strings.Join(keys, ",") != "compacted.parquet,run4.parquet" {
		t.Fatalf("landing after compaction: %v", keys)
	}
}

// One worker at a time: a second is refused, naming the holder, while the
// holder renews its lease; a lease left unrenewed (its worker died) is
// taken over; a holder whose lease was taken is told.
func TestRemote_Lock(t *testing.T) {
	s := testenv.StartS3(t)
	ctx := context.Background()
	a := open(t, s, "p")
	a.LockTTL = 2 * time.Second
	var lostA atomic.Value
	la, err := a.Lock(ctx, "worker a", func(err error) { lostA.Store(err) })
	if err != nil {
		t.Fatal(err)
	}
	b := open(t, s, "p")
	b.LockTTL = 2 * time.Second
	// Longer than the TTL: the holder's renewals keep it.
	for range 4 {
		_, err := b.Lock(ctx, "worker b", nil)
		if !errors.Is(err, datadir.ErrLocked) || !strings.Contains(err.Error(), "worker a") {
			t.Fatalf("second worker: %v, want ErrLocked naming worker a", err)
		}
		time.Sleep(time.Second)
	}
	if err := la.Release(ctx); err != nil {
		t.Fatal(err)
	}
	lb, err := b.Lock(ctx, "worker b", nil)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	// Worker b dies: it stops renewing (simulated by taking the lock
	// over from a third worker once the lease ran out).
	datadir.StopRenewing(lb)
	c := open(t, s, "p")
	c.LockTTL = 2 * time.Second
	if _, err := c.Lock(ctx, "worker c", nil); !errors.Is(err, datadir.ErrLocked) {
		t.Fatalf("a fresh lease was taken over: %v", err)
	}
	time.Sleep(3500 * time.Millisecond)
	lc, err := c.Lock(ctx, "worker c", nil)
	if err != nil {
		t.Fatalf("takeover of a lease unrenewed for longer than its TTL: %v", err)
	}
	defer lc.Release(ctx)
	// A holder that was only stalled finds out at its next renewal.
	d := open(t, s, "q")
	d.LockTTL = 3 * time.Second
	lost := make(chan error, 1)
	if _, err := d.Lock(ctx, "worker d", func(err error) { lost <- err }); err != nil {
		t.Fatal(err)
	}
	env := s.Env()
	cfg, _ := objstore.FromEnv(func(k string) string { return env[k] })
	bk, _ := objstore.Open(cfg, s.Bucket)
	if _, err := bk.Put(ctx, "q/lock", []byte(`{"holder":"usurper","ttl_seconds":60}`), objstore.Cond{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-lost:
		if !strings.Contains(err.Error(), "taken over") {
			t.Fatalf("lost: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the holder was not told its lock was taken")
	}
}

// A worker that lost its lease, whether it knows it or not, commits
// nothing and journals nothing; the worker that took over commits.
func TestRemote_LostLeaseCommitsNothing(t *testing.T) {
	s := testenv.StartS3(t)
	ctx := context.Background()
	seed := open(t, s, "fence")
	if err := seed.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	write(t, seed.Cache, "warehouse.duckdb", "generation 1")
	if err := seed.Save(ctx, "seed", true); err != nil {
		t.Fatal(err)
	}

	a := open(t, s, "fence")
	a.LockTTL = 2 * time.Second
	_, releaseA, err := a.Claim(ctx, "worker a")
	if err != nil {
		t.Fatal(err)
	}
	defer releaseA()
	early := open(t, s, "fence")
	if err := early.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	write(t, early.Cache, "warehouse.duckdb", "restored before b's claim")
	// Worker a stalls: it stops renewing, and b takes over once the lease
	// ran out on the server's clock.
	datadir.StopRenewing(a.HeldLock())
	time.Sleep(3500 * time.Millisecond)
	b := open(t, s, "fence")
	b.LockTTL = 2 * time.Second
	_, releaseB, err := b.Claim(ctx, "worker b")
	if err != nil {
		t.Fatalf("takeover: %v", err)
	}
	defer releaseB()
	// b's claim fenced HEAD: a save from a copy restored before it fails
	// even without a lease to check (the window between a renewal and
	// HEAD's write).
	if err := early.Save(ctx, "early", true); !errors.Is(err, datadir.ErrMoved) {
		t.Fatalf("a save from a state restored before the takeover: %v, want ErrMoved", err)
	}
	write(t, a.Cache, "warehouse.duckdb", "a's stale state")
	if err := a.Save(ctx, "a", true); err == nil {
		t.Fatal("a worker whose lease ran out saved")
	}
	if err := a.Journal(ctx, "ledger", nil); err == nil {
		t.Fatal("a worker whose lease ran out journaled")
	}
	// Even when a believes its lease stands (a paused process whose
	// clock did not see the pause), its save renews the lease first and
	// finds it replaced.
	datadir.TrustLease(a.HeldLock())
	if err := a.Save(ctx, "a", true); err == nil {
		t.Fatal("a worker that was taken over saved over its successor's claim")
	}
	write(t, b.Cache, "warehouse.duckdb", "b's state")
	if err := b.Save(ctx, "b", true); err != nil {
		t.Fatalf("the new holder's save: %v", err)
	}
	c := open(t, s, "fence")
	if err := c.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read(t, c.Cache, "warehouse.duckdb"); got != "b's state" {
		t.Fatalf("committed: %q", got)
	}
	// A cache that a final save left clean is used as it is (it is not
	// downloaded again): shown by a local change that keeps its size.
	write(t, b.Cache, "warehouse.duckdb", "b's STATE")
	if err := b.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read(t, b.Cache, "warehouse.duckdb"); got != "b's STATE" {
		t.Fatalf("a clean cache was downloaded again: %q", got)
	}
}

// The journal: ledger rows a worker appended reach the worker that takes
// over from it, once, NULLs and quotes included, and are folded into its
// next save.
func TestRemote_JournalReplaysOnce(t *testing.T) {
	s := testenv.StartS3(t)
	ctx := context.Background()
	a := open(t, s, "journal")
	if err := a.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	st := testenv.OpenStore(t, a.Cache)
	st.Close()
	if err := a.Save(ctx, "first", true); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 22, 10, 11, 12, 345678000, time.UTC)
	rows := [][]driver.Value{
		{"run-a", "intercom", "notes", `key "1", with comma`, "create", "h1", "pending", nil, nil, at},
		{"run-a", "intercom", "notes", "key2", "create", "h2", "done", "note-9", "", at},
	}
	if err := a.Journal(ctx, "ledger", rows); err != nil {
		t.Fatal(err)
	}
	// Worker a dies here; b restores.
	ledger := func(dir string) string {
		t.Helper()
		st := testenv.OpenStore(t, dir)
		defer st.Close()
		var out []string
		rs, err := st.DB.QueryContext(ctx, "SELECT record_key, status, coalesce(result_id, 'NULL'), coalesce(error, 'NULL'), written_at FROM ferry.ledger ORDER BY record_key")
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		for rs.Next() {
			var k, status, id, e string
			var w time.Time
			rs.Scan(&k, &status, &id, &e, &w)
			out = append(out, strings.Join([]string{k, status, id, e, w.UTC().Format(time.RFC3339Nano)}, "|"))
		}
		return strings.Join(out, "\n")
	}
	b := open(t, s, "journal")
	if err := b.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	want := "key \"1\", with comma|pending|NULL|NULL|2026-11-22T10:11:12.345678Z\nkey2|done|note-9||2026-11-22T10:11:12.345678Z"
	if got := ledger(b.Cache); got != want {
		t.Fatalf("replayed ledger:\n%s\nwant\n%s", got, want)
	}
	if err := b.Save(ctx, "second", true); err != nil {
		t.Fatal(err)
	}
	c := open(t, s, "journal")
	if err := c.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ledger(c.Cache); got != want {
		t.Fatalf("ledger after the save that folded the journal in (replayed twice?):\n%s", got)
	}
}
