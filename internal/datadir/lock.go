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
	"github.com/ferry-sync/ferry/internal/state"
)

// ErrLocked means another worker holds the pipeline's lock.
var ErrLocked = errors.New("the data dir is in use by another ferry worker")

// Lock is the pipeline's lease on <prefix>/lock: created only if absent
// (If-None-Match: *), renewed by its holder every third of its TTL (If-Match
// on the version it wrote), and taken over by another worker only once it
// has gone a whole TTL unrenewed, judged on the server's clock (its Date
// against the lock's Last-Modified), so that workers' clocks do not matter.
//
// The holder counts its lease from the moment it sent its last successful
// write of the lock, which the server received later, and gives it up a
// quarter of the TTL early: by the time another worker may take it over,
// the holder has stopped journaling and saving (Check), whatever the two
// machines' clocks say, as long as they run at the same rate.
type Lock struct {
	r    *Remote
	ttl  time.Duration
	body lockBody
	stop chan struct{}
	done chan struct{}

	mu         sync.Mutex
	etag       string
	validUntil time.Time // this machine's clock
	lost       error
}

type lockBody struct {
	Holder     string `json:"holder"`
	TTLSeconds int    `json:"ttl_seconds"`
	Renewed    int    `json:"renewed"`
}

// Lock takes the pipeline's lock for holder (a description: pid, host,
// command). onLost is called, once, if the lease is lost while held (it
// was taken over, or could not be renewed in time): the run must stop, and
// the remote refuses its journal and saves from then on.
func (r *Remote) Lock(ctx context.Context, holder string, onLost func(error)) (*Lock, error) {
	host, _ := os.Hostname()
	l := &Lock{r: r, ttl: r.LockTTL, body: lockBody{Holder: fmt.Sprintf("%s (pid %d on %s)", holder, os.Getpid(), host), TTLSeconds: int(r.LockTTL / time.Second)}}
	if l.body.TTLSeconds < 1 {
		l.body.TTLSeconds, l.ttl = 1, time.Second
	}
	key := r.prefix + "lock"
	body, _ := json.Marshal(l.body)
	sent := time.Now()
	inf, err := r.b.Put(ctx, key, body, objstore.Cond{IfNoneMatch: true})
	if errors.Is(err, objstore.ErrPrecondition) || errors.Is(err, objstore.ErrConflict) {
		sent = time.Now()
		inf, err = l.takeOver(ctx, key, body)
	}
	if err != nil {
		return nil, err
	}
	l.etag, l.validUntil = inf.ETag, l.expiry(sent)
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	r.lock = l
	go l.renew(onLost)
	return l, nil
}

// expiry is when a lease written at sent stops counting for its holder.
func (l *Lock) expiry(sent time.Time) time.Time { return sent.Add(l.ttl - l.ttl/4) }

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
	if errors.Is(err, objstore.ErrPrecondition) || errors.Is(err, objstore.ErrConflict) {
		return objstore.Info{}, fmt.Errorf("%w: %s: another worker took the stale lock first", ErrLocked, l.r.URL)
	}
	if err == nil {
		l.r.log.Warn("data dir: took over a lock left unrenewed", "url", l.r.URL, "holder", held.Holder, "unrenewed", age.Round(time.Second))
	}
	return inf, err
}

// renew rewrites the lock every third of its TTL until Release, and
// reports the lease lost once it is replaced or expires unrenewed.
func (l *Lock) renew(onLost func(error)) {
	defer close(l.done)
	tick := time.NewTicker(l.ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.ttl/3)
		err := l.Renew(ctx)
		cancel()
		if err != nil && l.Check() != nil {
			if onLost != nil {
				onLost(l.Check())
			}
			return
		}
	}
}

// Renew rewrites the lock now. A conflict or a failed request leaves the
// lease as it was (Check says whether it still stands); a lock replaced by
// another worker loses it.
func (l *Lock) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost != nil {
		return l.lost
	}
	l.body.Renewed++
	body, _ := json.Marshal(l.body)
	sent := time.Now()
	inf, err := l.r.b.Put(ctx, l.r.prefix+"lock", body, objstore.Cond{IfMatch: l.etag})
	switch {
	case err == nil:
		l.etag, l.validUntil = inf.ETag, l.expiry(sent)
	case errors.Is(err, objstore.ErrPrecondition):
		l.lost = fmt.Errorf("the lock on %s was taken over by another worker", l.r.URL)
		return l.lost
	case time.Now().After(l.validUntil):
		l.lost = fmt.Errorf("the lock on %s could not be renewed in time: %w", l.r.URL, err)
		return l.lost
	}
	return err
}

// Check says whether the lease still stands for its holder.
func (l *Lock) Check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost == nil && time.Now().After(l.validUntil) {
		l.lost = fmt.Errorf("the lock on %s went unrenewed too long", l.r.URL)
	}
	return l.lost
}

// Release stops renewing and deletes the lock, if this worker still
// holds it.
func (l *Lock) Release(ctx context.Context) error {
	if l == nil {
		return nil
	}
	close(l.stop)
	<-l.done
	if l.Check() != nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
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
	if err := r.fence(ctx); err != nil {
		release()
		return ctx, nil, err
	}
	return ctx, release, nil
}

// fence rewrites HEAD, unchanged but for who claimed it, by
// compare-and-swap: a worker that held the lock before this one, and may
// still be running unaware that it lost it, can no longer move HEAD.
func (r *Remote) fence(ctx context.Context) error {
	if r.headETag == "" {
		return nil // nothing committed: a save creates HEAD only if absent
	}
	h := r.head
	h.ClaimedBy = r.lock.body.Holder
	body, _ := json.Marshal(h)
	inf, err := r.b.Put(ctx, r.prefix+"state/HEAD", body, objstore.Cond{IfMatch: r.headETag})
	if errors.Is(err, objstore.ErrPrecondition) || errors.Is(err, objstore.ErrConflict) {
		return fmt.Errorf("%w: %s (it moved while this worker restored it; run again)", ErrMoved, r.URL)
	}
	if err != nil {
		return fmt.Errorf("claim state/HEAD: %w", err)
	}
	r.head, r.headETag = h, inf.ETag
	return nil
}

// Take takes the data dir whose working copy is dir for holder: the lock
// on dir itself and, when the data dir is on object storage (r not nil),
// the pipeline's lock with its committed state restored (Claim). release
// lets both go, the pipeline's first; any Save comes before it. While
// another process holds either lock, Take tries again for up to wait
// (none when wait is 0) before it returns the error.
func Take(ctx context.Context, dir string, r *Remote, holder string, wait time.Duration) (context.Context, func(), error) {
	deadline := time.Now().Add(wait)
	for {
		tctx, release, err := take(ctx, dir, r, holder)
		if err == nil || !(errors.Is(err, state.ErrLocked) || errors.Is(err, ErrLocked)) || time.Now().After(deadline) {
			return tctx, release, err
		}
		select {
		case <-ctx.Done():
			return ctx, nil, err
		case <-time.After(min(250*time.Millisecond, time.Until(deadline)+time.Millisecond)):
		}
	}
}

func take(ctx context.Context, dir string, r *Remote, holder string) (context.Context, func(), error) {
	lock, err := state.Acquire(dir)
	if err != nil {
		return ctx, nil, err
	}
	if r == nil {
		return ctx, sync.OnceFunc(func() { lock.Release() }), nil
	}
	ctx, release, err := r.Claim(ctx, holder)
	if err != nil {
		lock.Release()
		return ctx, nil, err
	}
	return ctx, sync.OnceFunc(func() { release(); lock.Release() }), nil
}
