package datadir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/ferry-sync/ferry/internal/objstore"
	"github.com/ferry-sync/ferry/internal/state"
)

// Extraction fans out: workers extract objects into the shared data dir
// without taking the pipeline's lock, each from a private copy of the
// committed state, and hand off what they landed (landing files, then a
// manifest under handoffs/, written last). One step then merges every
// hand-off into current state and advances the watermarks, under the
// lock, and transforms and loads. A worker that dies before its manifest
// leaves only landing files nothing names.

// HandOffs is where workers' hand-offs go: a local data dir or a bucket.
type HandOffs interface {
	// Snapshot puts a private copy of the committed warehouse in dir.
	Snapshot(ctx context.Context, dir string) error
	// Deliver moves files (landing-relative paths under from/landing)
	// into the data dir's landing, then writes the manifest as
	// handoffs/<id>.json.
	Deliver(ctx context.Context, from string, files []string, id string, manifest []byte) error
	// Collect returns the manifests handed off, in name order, with
	// every landing file they name present under the working dir.
	Collect(ctx context.Context, names func(manifest []byte) ([]string, error)) ([]HandOff, error)
	// Drop deletes merged manifests.
	Drop(ctx context.Context, names []string) error
	// Pending counts the manifests not merged yet.
	Pending(ctx context.Context) (int, error)
}

// HandOff is one worker's manifest.
type HandOff struct {
	Name     string // handoffs/<id>.json
	Manifest []byte
}

// Local is a data dir on local disk (or a shared volume).
type Local struct{ Dir string }

// Snapshot copies the warehouse (and a write-ahead log a killed run
// left) while holding the data dir's lock shared with other workers, so
// no run writes meanwhile.
func (l Local) Snapshot(ctx context.Context, dir string) error {
	release, err := acquire(l.Dir)
	if err != nil {
		return err
	}
	defer release()
	for _, name := range []string{warehouse, warehouse + ".wal"} {
		if err := copyFile(filepath.Join(l.Dir, name), filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("copy the committed state: %w", err)
		}
	}
	return nil
}

func (l Local) Deliver(ctx context.Context, from string, files []string, id string, manifest []byte) error {
	for _, rel := range files {
		dst := filepath.Join(l.Dir, "landing", filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := moveFile(filepath.Join(from, "landing", filepath.FromSlash(rel)), dst); err != nil {
			return fmt.Errorf("hand off %s: %w", rel, err)
		}
	}
	dir := filepath.Join(l.Dir, "handoffs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+id+".json")
	if err := os.WriteFile(tmp, manifest, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, id+".json"))
}

// manifests lists the complete manifests: not a worker's temporary file.
func (l Local) manifests() ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(l.Dir, "handoffs", "*.json"))
	if err != nil {
		return nil, err
	}
	paths = slices.DeleteFunc(paths, func(p string) bool { return strings.HasPrefix(filepath.Base(p), ".") })
	sort.Strings(paths)
	return paths, nil
}

func (l Local) Pending(ctx context.Context) (int, error) {
	paths, err := l.manifests()
	return len(paths), err
}

func (l Local) Collect(ctx context.Context, names func([]byte) ([]string, error)) ([]HandOff, error) {
	paths, err := l.manifests()
	if err != nil {
		return nil, err
	}
	var out []HandOff
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, HandOff{Name: "handoffs/" + filepath.Base(p), Manifest: b})
	}
	return out, nil
}

func (l Local) Drop(ctx context.Context, names []string) error {
	for _, n := range names {
		if err := os.Remove(filepath.Join(l.Dir, filepath.FromSlash(n))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Snapshot downloads the committed warehouse (an immutable generation:
// no lock needed) into dir.
func (r *Remote) Snapshot(ctx context.Context, dir string) error {
	h, _, err := r.readHead(ctx)
	if err != nil || h.Warehouse == "" {
		return err
	}
	_, err = r.b.GetFile(ctx, r.prefix+h.Warehouse, filepath.Join(dir, warehouse))
	return err
}

func (r *Remote) Deliver(ctx context.Context, from string, files []string, id string, manifest []byte) error {
	for _, rel := range files {
		if _, err := r.b.PutFile(ctx, r.prefix+"landing/"+rel, filepath.Join(from, "landing", filepath.FromSlash(rel)), objstore.Cond{}); err != nil {
			return fmt.Errorf("hand off %s: %w", rel, err)
		}
	}
	_, err := r.b.Put(ctx, r.prefix+"handoffs/"+id+".json", manifest, objstore.Cond{IfNoneMatch: true})
	return err
}

// Collect also brings the landing files each manifest names into the
// cache, as files the bucket holds already.
func (r *Remote) Collect(ctx context.Context, names func([]byte) ([]string, error)) ([]HandOff, error) {
	objs, err := r.b.List(ctx, r.prefix+"handoffs/")
	if err != nil {
		return nil, err
	}
	var out []HandOff
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".json") {
			continue
		}
		body, _, err := r.b.Get(ctx, o.Key)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(body, 16<<20))
		body.Close()
		if err != nil {
			return nil, err
		}
		files, err := names(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.Key, err)
		}
		for _, rel := range files {
			local := filepath.Join(r.Cache, "landing", filepath.FromSlash(rel))
			if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
				return nil, err
			}
			if _, err := r.b.GetFile(ctx, r.prefix+"landing/"+rel, local); err != nil {
				return nil, fmt.Errorf("%s: %w", o.Key, err)
			}
			r.markUploaded("landing/" + rel)
		}
		out = append(out, HandOff{Name: strings.TrimPrefix(o.Key, r.prefix), Manifest: b})
	}
	return out, nil
}

func (r *Remote) Pending(ctx context.Context) (int, error) {
	objs, err := r.b.List(ctx, r.prefix+"handoffs/")
	n := 0
	for _, o := range objs {
		if strings.HasSuffix(o.Key, ".json") {
			n++
		}
	}
	return n, err
}

func (r *Remote) Drop(ctx context.Context, names []string) error {
	for _, n := range names {
		if err := r.b.Delete(ctx, r.prefix+n); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// moveFile renames src to dst, copying when they are on different
// filesystems.
func moveFile(src, dst string) error {
	if err := os.Rename(src, dst); err == nil {
		return nil
	}
	tmp := dst + ".part"
	if err := copyFile(src, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	return os.Remove(src)
}

func acquire(dir string) (func(), error) {
	lock, err := state.AcquireShared(dir)
	if err != nil {
		return nil, err
	}
	return func() { lock.Release() }, nil
}
