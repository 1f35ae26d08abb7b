package datadir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/internal/objstore"
)

// ErrLocked means another worker holds the pipeline's lock.
var ErrLocked = errors.New("the data dir is in use by another ferry worker")

// Lock is the pipeline's lease on <prefix>/lock: created only if absent
// (If-None-Match: *), renewed by its holder every third of its TTL (If-Match
// on the version it wrote), and taken over by another worker only once it
// has gone a whole TTL unrenewed, judged on the server's clock (its Date
// against the lock's Last-Modified), so that workers' clocks do not matter.
type Lock struct {
	r    *Remote
	body lockBody
	stop chan struct{}
	done chan struct{}

	mu   sync.Mutex
	etag string
	lost error
}

type lockBody struct {
	Holder     string `json:"holder"`
	TTLSeconds int    `json:"ttl_seconds"`
	Renewed    int    `json:"renewed"`
}

// Lock takes the pipeline's lock for holder (a description: pid, host,
// command). onLost is called, once, if the lease is lost while held (it
// was taken over, or could not be renewed within its TTL): the run must
// stop, and its Save will fail.
func (r *Remote) Lock(ctx context.Context, holder string, onLost func(error)) (*Lock, error) {
	host, _ := os.Hostname()
	l := &Lock{r: r, body: lockBody{Holder: fmt.Sprintf("%s (pid %d on %s)", holder, os.Getpid(), host), TTLSeconds: int(r.LockTTL / time.Second)}}
	if l.body.TTLSeconds < 1 {
		l.body.TTLSeconds = 1
	}
	key := r.prefix + "lock"
	body, _ := json.Marshal(l.body)
	inf, err := r.b.Put(ctx, key, body, objstore.Cond{IfNoneMatch: true})
	if errors.Is(err, objstore.ErrPrecondition) {
		inf, err = l.takeOver(ctx, key, body)
	}
	if err != nil {
		return nil, err
	}
	l.etag = inf.ETag
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.renew(onLost)
	return l, nil
}

// takeOver replaces a lock whose holder stopped renewing it.
func (l *Lock) takeOver(ctx context.Context, key string, body []byte) (objstore.Info, error) {
	rc, cur, err := l.r.b.Get(ctx, key)
	if errors.Is(err, objstore.ErrNotFound) {
		return l.r.b.Put(ctx, key, body, objstore.Cond{IfNoneMatch: true})
	}
	if err != nil {
		return objstore.Info{}, err
	}
	raw, _ := io.ReadAll(io.LimitReader(rc, 4<<10))
	rc.Close()
	var held lockBody
	json.Unmarshal(raw, &held)
	ttl := time.Duration(held.TTLSeconds) * time.Second
	if ttl <= 0 {
		ttl = DefaultLockTTL
	}
	age := cur.ServerTime.Sub(cur.LastModified)
	if cur.ServerTime.IsZero() || cur.LastModified.IsZero() || age < ttl {
		holder := held.Holder
		if holder == "" {
			holder = "an unknown worker"
		}
		return objstore.Info{}, fmt.Errorf("%w: %s is held by %s, renewed %s ago (taken over after %s unrenewed)", ErrLocked, l.r.URL, holder, age.Round(time.Second), ttl)
	}
	inf, err := l.r.b.Put(ctx, key, body, objstore.Cond{IfMatch: cur.ETag})
	if errors.Is(err, objstore.ErrPrecondition) {
		return objstore.Info{}, fmt.Errorf("%w: %s: another worker took the stale lock first", ErrLocked, l.r.URL)
	}
	if err == nil {
		l.r.log.Warn("data dir: took over a lock left unrenewed", "url", l.r.URL, "holder", held.Holder, "unrenewed", age.Round(time.Second))
	}
	return inf, err
}

// renew rewrites the lock every third of its TTL until Release.
func (l *Lock) renew(onLost func(error)) {
	defer close(l.done)
	ttl := time.Duration(l.body.TTLSeconds) * time.Second
	tick := time.NewTicker(ttl / 3)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), ttl/3)
		l.mu.Lock()
		l.body.Renewed++
		body, _ := json.Marshal(l.body)
		inf, err := l.r.b.Put(ctx, l.r.prefix+"lock", body, objstore.Cond{IfMatch: l.etag})
		if err == nil {
			l.etag, last = inf.ETag, time.Now()
		}
		var lost error
		switch {
		case errors.Is(err, objstore.ErrPrecondition):
			lost = fmt.Errorf("the lock on %s was taken over by another worker", l.r.URL)
		case err != nil && time.Since(last) >= ttl:
			lost = fmt.Errorf("the lock on %s could not be renewed for %s: %w", l.r.URL, ttl, err)
		}
		if lost != nil {
			l.lost = lost
		}
		l.mu.Unlock()
		cancel()
		if lost != nil {
			if onLost != nil {
				onLost(lost)
			}
			return
		}
	}
}

// Release stops renewing and deletes the lock, if this worker still
// holds it.
func (l *Lock) Release(ctx context.Context) error {
	if l == nil {
		return nil
	}
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost != nil {
		return nil
	}
	cur, err := l.r.b.Head(ctx, l.r.prefix+"lock")
	if errors.Is(err, objstore.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release the lock on %s: %w", l.r.URL, err)
	}
	if cur.ETag != l.etag {
		return nil // taken over
	}
	return l.r.b.Delete(ctx, l.r.prefix+"lock")
}

// Claim takes the pipeline's lock for holder and restores the committed
// state into the cache. The context it returns is cancelled, with the
// reason, if the lock is lost while held; release gives the lock back
// (any Save comes first).
func (r *Remote) Claim(ctx context.Context, holder string) (context.Context, func(), error) {
	ctx, cancel := context.WithCancelCause(ctx)
	lk, err := r.Lock(ctx, holder, cancel)
	if err != nil {
		cancel(nil)
		return ctx, nil, err
	}
	release := sync.OnceFunc(func() {
		if err := lk.Release(context.WithoutCancel(ctx)); err != nil {
			r.log.Warn("data dir lock not released (it expires on its own)", "err", err)
		}
		cancel(nil)
	})
	if err := r.Restore(ctx); err != nil {
		release()
		return ctx, nil, err
	}
	return ctx, release, nil
}
