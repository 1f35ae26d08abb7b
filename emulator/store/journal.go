// Package store persists emulator state: the deterministic seed is recreated
// from its parameters, and every mutation since is appended to a JSON-lines
// journal before the emulator answers the request that caused it. Restarting
// an emulator on the same directory replays the journal over the seed, so no
// acknowledged write is lost, whether the emulator or its client was killed.
package store

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// Journal is an append-only JSON-lines file. A nil *Journal discards writes,
// which is what in-memory test emulators use.
type Journal struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	path string
}

// Open opens (creating if needed) dir/name for appending.
func Open(dir, name string) (*Journal, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create emulator dir: %w", err)
	}
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	return &Journal{f: f, w: bufio.NewWriter(f), path: p}, nil
}

// Append writes one entry and flushes it to the operating system, so that a
// crash of the emulator process after it answered loses nothing.
func (j *Journal) Append(v any) error {
	if j == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode journal entry: %w", err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.w.Write(b)
	j.w.WriteByte('\n')
	return j.w.Flush()
}

// Replay calls fn for each complete entry in order. A torn last line (the
// process died mid-write, before answering) is ignored.
func (j *Journal) Replay(fn func(json.RawMessage) error) error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	f, err := os.Open(j.path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	line := 0
	for {
		b, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return nil // a partial trailing line was never acknowledged
		}
		if err != nil {
			return err
		}
		line++
		if err := fn(json.RawMessage(b)); err != nil {
			return fmt.Errorf("%s:%d: %w", j.path, line, err)
		}
	}
}

// Close flushes and closes the file.
func (j *Journal) Close() error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.w.Flush()
	return j.f.Close()
}

// Meta records the seed parameters a directory was created with, so that a
// restart with different flags is refused instead of mixing two datasets.
type Meta struct {
	Seed  int64 `json:"seed"`
	Scale int   `json:"scale"`
}

// CheckMeta writes dir/meta.json on first use and afterwards verifies that
// want matches it. Zero fields in want mean "whatever is recorded"; the
// effective parameters are returned.
func CheckMeta(dir string, want Meta) (Meta, error) {
	p := filepath.Join(dir, "meta.json")
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		if want.Scale == 0 {
			want.Scale = 1000
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return want, err
		}
		out, _ := json.Marshal(want)
		return want, os.WriteFile(p, out, 0o644)
	}
	if err != nil {
		return want, err
	}
	var have Meta
	if err := json.Unmarshal(b, &have); err != nil {
		return want, fmt.Errorf("%s: %w", p, err)
	}
	if (want.Seed != 0 && want.Seed != have.Seed) || (want.Scale != 0 && want.Scale != have.Scale) {
		return have, fmt.Errorf("%s holds seed %d scale %d; start with those flags or use another --dir", dir, have.Seed, have.Scale)
	}
	return have, nil
}

// Dir is the directory the journal lives in ("" for a nil journal), where
// an emulator keeps the files its entries refer to.
func (j *Journal) Dir() string {
	if j == nil {
		return ""
	}
	return filepath.Dir(j.path)
}
