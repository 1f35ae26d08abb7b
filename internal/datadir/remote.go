// Package datadir keeps a pipeline's data dir on S3-compatible object
// storage, so that a worker that is replaced (a Kubernetes pod, a spot
// instance) finds the state the last one committed.
//
// ferry works on a local copy (the cache dir) as it does on any data dir.
// The bucket holds the committed state:
//
//	<prefix>/lock                        who runs the pipeline now (a lease)
//	<prefix>/state/HEAD                  which warehouse is committed
//	<prefix>/state/warehouse-<gen>-<id>.duckdb
//	<prefix>/landing/..., runs/..., exports/...
//
// A run takes the lock (a conditional create), restores the committed
// warehouse into the cache unless the cache already holds it, and saves at
// its commit points: the new files, then the warehouse as a new object,
// then HEAD replaced only if it is still the version the run restored (a
// conditional write). A worker that dies leaves HEAD where it was; its
// uploads are never referenced. A worker that lost its lock (it stalled
// past the lease and another took over) cannot move HEAD.
package datadir

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/internal/objstore"
)

// IsRemote reports whether a --data-dir names object storage.
func IsRemote(spec string) bool { return strings.HasPrefix(spec, "s3://") }

// Remote is a data dir on object storage and its local working copy.
type Remote struct {
	URL    string // s3://bucket/prefix, as given
	Cache  string // the local working copy ferry runs on
	b      *objstore.Bucket
	prefix string // "" or "prefix/"
	log    *slog.Logger
	// LockTTL is how long the lock stands without being renewed before
	// another worker may take it over.
	LockTTL time.Duration

	head      head   // what Restore found committed
	headETag  string // its version ("" when none)
	restored  bool
	uploaded  map[string]string // cache-relative paths the bucket holds, with the size and time of the file saved
	landingOK bool              // the cache holds every landing file

	journalSeq  int      // journal entries this worker wrote
	worker      string   // names this worker's journal entries
	journalKeys []string // the journal this worker replayed or wrote: folded in by its next save
	lock        *Lock    // held by this worker (nil: none, as for an extraction worker)
}

var objstoreNoCond = objstore.Cond{}

// head is the content of state/HEAD.
type head struct {
	Generation int64     `json:"generation"`
	Warehouse  string    `json:"warehouse"` // key, relative to the prefix
	Bytes      int64     `json:"bytes"`
	RunID      string    `json:"run_id,omitempty"`
	SavedAt    time.Time `json:"saved_at"`
	// ClaimedBy is the worker that holds the pipeline now (fence).
	ClaimedBy string `json:"claimed_by,omitempty"`
}

// DefaultLockTTL is the lease of the lock when none is configured; the
// holder renews it every third of it.
const DefaultLockTTL = 2 * time.Minute

// Open returns the data dir at url (s3://bucket/prefix), worked on in
// cache; cache "" means the user's cache dir.
func Open(url, cache string, getenv func(string) string, log *slog.Logger) (*Remote, error) {
	bucket, prefix, err := objstore.ParseURL(url)
	if err != nil {
		return nil, err
	}
	cfg, err := objstore.FromEnv(getenv)
	if err != nil {
		return nil, err
	}
	b, err := objstore.Open(cfg, bucket)
	if err != nil {
		return nil, err
	}
	if cache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("no cache dir for %s (set --cache-dir): %w", url, err)
		}
		cache = filepath.Join(base, "ferry", "s3", bucket, filepath.FromSlash(prefix))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Remote{URL: url, Cache: cache, b: b, log: log, LockTTL: DefaultLockTTL}
	if prefix != "" {
		r.prefix = prefix + "/"
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, fmt.Errorf("create cache dir: %w", err)
	}
	return r, nil
}

const (
	metaFile     = ".s3-head.json" // the generation the cache's warehouse is, when clean
	uploadedFile = ".s3-uploaded"  // cache-relative paths the bucket holds
	warehouse    = "warehouse.duckdb"
)

// synced are the cache dirs whose files are saved to the bucket. The
// warehouse goes as a generation of its own; tmp/ is spill.
var synced = []string{"landing", "runs", "exports"}

// Restore makes the cache's warehouse the committed one. A cache whose
// warehouse is the committed generation, untouched since, is kept;
// otherwise the committed warehouse is downloaded (none committed: the
// cache starts empty). From here until a final Save the cache counts as
// changed.
func (r *Remote) Restore(ctx context.Context) error {
	h, etag, err := r.readHead(ctx)
	if err != nil {
		return err
	}
	r.head, r.headETag = h, etag
	var have head
	clean := false
	if b, err := os.ReadFile(filepath.Join(r.Cache, metaFile)); err == nil && json.Unmarshal(b, &have) == nil {
		st, err := os.Stat(filepath.Join(r.Cache, warehouse))
		_, walErr := os.Stat(filepath.Join(r.Cache, warehouse+".wal"))
		clean = err == nil && errors.Is(walErr, fs.ErrNotExist) && have.Warehouse == h.Warehouse && have.Generation == h.Generation && st.Size() == h.Bytes
	}
	// Whatever happens next changes the cache: it is clean again only
	// when a final Save has committed it.
	if err := os.Remove(filepath.Join(r.Cache, metaFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := r.loadUploaded(); err != nil {
		return err
	}
	switch {
	case clean:
		r.log.Info("data dir: the cache holds the committed state", "url", r.URL, "generation", h.Generation)
	case h.Warehouse == "":
		r.log.Info("data dir: nothing committed yet", "url", r.URL)
		for _, f := range []string{warehouse, warehouse + ".wal"} {
			if err := os.Remove(filepath.Join(r.Cache, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	default:
		start := time.Now()
		if err := os.Remove(filepath.Join(r.Cache, warehouse+".wal")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if _, err := r.b.GetFile(ctx, r.prefix+h.Warehouse, filepath.Join(r.Cache, warehouse)); err != nil {
			return fmt.Errorf("restore the committed state from %s: %w", r.URL, err)
		}
		r.log.Info("data dir: restored the committed state", "url", r.URL, "generation", h.Generation, "bytes", h.Bytes, "elapsed", time.Since(start).Round(time.Millisecond))
	}
	r.journalKeys = nil
	if err := r.replayJournal(ctx); err != nil {
		return err
	}
	r.restored = true
	return nil
}

// RestoreLanding downloads every landing file the cache lacks: what
// rebuild and compact read.
func (r *Remote) RestoreLanding(ctx context.Context) error {
	objs, err := r.b.List(ctx, r.prefix+"landing/")
	if err != nil {
		return err
	}
	n := 0
	for _, o := range objs {
		rel := strings.TrimPrefix(o.Key, r.prefix)
		local := filepath.Join(r.Cache, filepath.FromSlash(rel))
		if st, err := os.Stat(local); err == nil && st.Size() == o.Size {
			r.markUploaded(rel)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
			return err
		}
		if _, err := r.b.GetFile(ctx, o.Key, local); err != nil {
			return err
		}
		r.markUploaded(rel)
		n++
	}
	r.landingOK = true
	r.log.Info("data dir: landing files restored", "url", r.URL, "downloaded", n, "files", len(objs))
	return r.storeUploaded()
}

// ErrMoved means the committed state is not the one this worker restored:
// another worker took the pipeline over.
var ErrMoved = errors.New("the committed state moved since this worker restored it (another worker took over the pipeline's lock)")

// Save commits the cache: the files it has that the bucket lacks, the
// warehouse (checkpointed by the caller, nothing writing to it) as a new
// generation, then HEAD, only if HEAD is still what this worker restored
// or last saved. final marks the cache clean (it equals the committed
// state); a save in the middle of a run does not, so a worker killed
// after it restores from the bucket. Landing files the cache had in full
// and no longer has (compacted, retired) are deleted from the bucket once
// HEAD has moved.
func (r *Remote) Save(ctx context.Context, runID string, final bool) error {
	if !r.restored {
		return errors.New("data dir: save before restore")
	}
	start := time.Now()
	files, gone, err := r.pending()
	if err != nil {
		return err
	}
	for _, rel := range files {
		if _, err := r.b.PutFile(ctx, r.prefix+rel, filepath.Join(r.Cache, filepath.FromSlash(rel)), objstore.Cond{}); err != nil {
			return fmt.Errorf("save %s: %w", rel, err)
		}
		r.markUploaded(rel)
	}
	if err := r.storeUploaded(); err != nil {
		return err
	}
	local := filepath.Join(r.Cache, warehouse)
	st, err := os.Stat(local)
	if err != nil {
		return fmt.Errorf("save the warehouse: %w", err)
	}
	next := head{Generation: r.head.Generation + 1, Bytes: st.Size(), RunID: runID, SavedAt: time.Now().UTC()}
	next.Warehouse = fmt.Sprintf("state/warehouse-%08d-%s.duckdb", next.Generation, uuid.NewString()[:8])
	if _, err := r.b.PutFile(ctx, r.prefix+next.Warehouse, local, objstore.Cond{IfNoneMatch: true}); err != nil {
		return fmt.Errorf("save the warehouse: %w", err)
	}
	// The lease is renewed right before HEAD moves: a worker that lost
	// it does not commit (fence keeps one that does not know yet out).
	if r.lock != nil {
		if err := r.lock.Renew(ctx); err != nil {
			r.b.Delete(ctx, r.prefix+next.Warehouse)
			return fmt.Errorf("save %s: %w", r.URL, err)
		}
	}
	body, _ := json.Marshal(next)
	cond := objstore.Cond{IfMatch: r.headETag, IfNoneMatch: r.headETag == ""}
	inf, err := r.b.Put(ctx, r.prefix+"state/HEAD", body, cond)
	if errors.Is(err, objstore.ErrPrecondition) || errors.Is(err, objstore.ErrConflict) {
		r.b.Delete(ctx, r.prefix+next.Warehouse)
		return fmt.Errorf("%w: %s", ErrMoved, r.URL)
	}
	if err != nil {
		return fmt.Errorf("commit state/HEAD: %w", err)
	}
	prev := r.head
	r.head, r.headETag = next, inf.ETag
	r.log.Info("data dir: saved", "url", r.URL, "generation", next.Generation, "files", len(files), "warehouse_bytes", next.Bytes, "elapsed", time.Since(start).Round(time.Millisecond))
	// HEAD has moved: what it no longer names can go. The generation
	// before stays for a reader that is still downloading it.
	if err := r.dropOldGenerations(ctx, prev.Warehouse, next.Warehouse); err != nil {
		r.log.Warn("data dir: old warehouses not deleted", "err", err)
	}
	if err := r.dropJournal(ctx); err != nil {
		r.log.Warn("data dir: a folded journal was not deleted", "err", err)
	}
	for _, rel := range gone {
		if err := r.b.Delete(ctx, r.prefix+rel); err != nil {
			r.log.Warn("data dir: a retired landing file was not deleted", "file", rel, "err", err)
			continue
		}
		delete(r.uploaded, rel)
	}
	if err := r.storeUploaded(); err != nil {
		return err
	}
	if final {
		b, _ := json.Marshal(next)
		return os.WriteFile(filepath.Join(r.Cache, metaFile), b, 0o644)
	}
	return nil
}

// pending lists the synced files the bucket lacks, and the landing files
// it holds that the cache removed.
func (r *Remote) pending() (files, gone []string, err error) {
	have := map[string]bool{}
	for _, dir := range synced {
		root := filepath.Join(r.Cache, dir)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil || d.IsDir() || strings.HasSuffix(p, ".part") || strings.HasSuffix(p, ".tmp") || strings.HasPrefix(d.Name(), ".") {
				return err
			}
			rel, _ := filepath.Rel(r.Cache, p)
			rel = filepath.ToSlash(rel)
			have[rel] = true
			// New, or rewritten since it was saved (an export).
			if sig, ok := r.uploaded[rel]; !ok || sig != fileSig(p) {
				files = append(files, rel)
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	if r.landingOK {
		for rel := range r.uploaded {
			if strings.HasPrefix(rel, "landing/") && !have[rel] {
				gone = append(gone, rel)
			}
		}
	}
	sort.Strings(files)
	sort.Strings(gone)
	return files, gone, nil
}

func (r *Remote) dropOldGenerations(ctx context.Context, keep ...string) error {
	objs, err := r.b.List(ctx, r.prefix+"state/warehouse-")
	if err != nil {
		return err
	}
	for _, o := range objs {
		rel := strings.TrimPrefix(o.Key, r.prefix)
		if rel == keep[0] || rel == keep[1] {
			continue
		}
		if err := r.b.Delete(ctx, o.Key); err != nil {
			return err
		}
	}
	return nil
}

func (r *Remote) readHead(ctx context.Context) (head, string, error) {
	body, inf, err := r.b.Get(ctx, r.prefix+"state/HEAD")
	if errors.Is(err, objstore.ErrNotFound) {
		return head{}, "", nil
	}
	if err != nil {
		return head{}, "", fmt.Errorf("read the committed state of %s: %w", r.URL, err)
	}
	defer body.Close()
	raw, err := io.ReadAll(io.LimitReader(body, 1<<20))
	if err != nil {
		return head{}, "", fmt.Errorf("read %sstate/HEAD: %w", r.prefix, err)
	}
	var h head
	if err := json.Unmarshal(raw, &h); err != nil || h.Warehouse == "" {
		return head{}, "", fmt.Errorf("%s: state/HEAD is not ferry's (%q): %v", r.URL, truncate(string(raw), 120), err)
	}
	return h, inf.ETag, nil
}

// fileSig is what says a file changed: its size and modification time.
func fileSig(p string) string {
	st, err := os.Stat(p)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%d:%d", st.Size(), st.ModTime().UnixNano())
}

// markUploaded records that the bucket holds the cache's file rel as it
// is now.
func (r *Remote) markUploaded(rel string) {
	if r.uploaded == nil {
		r.uploaded = map[string]string{}
	}
	r.uploaded[rel] = fileSig(filepath.Join(r.Cache, filepath.FromSlash(rel)))
}

func (r *Remote) loadUploaded() error {
	r.uploaded = map[string]string{}
	f, err := os.Open(filepath.Join(r.Cache, uploadedFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rel, sig, ok := strings.Cut(sc.Text(), "\t"); ok && rel != "" {
			r.uploaded[rel] = sig
		}
	}
	return sc.Err()
}

func (r *Remote) storeUploaded() error {
	keys := make([]string, 0, len(r.uploaded))
	for k, sig := range r.uploaded {
		keys = append(keys, k+"\t"+sig)
	}
	sort.Strings(keys)
	tmp := filepath.Join(r.Cache, uploadedFile+".part")
	if err := os.WriteFile(tmp, []byte(strings.Join(keys, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(r.Cache, uploadedFile))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
