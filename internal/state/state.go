// Package state keeps a data dir's operational state in DuckDB: runs,
// watermarks, the write ledger, the last-synced snapshot, Bulk jobs in
// flight and rejects. DDL and statements live in sql/state/.
package state

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	sqlfiles "github.com/ferry-sync/ferry/sql"

	"github.com/ferry-sync/ferry/internal/duck"
)

// Store is an open state database.
type Store struct {
	DB    *sql.DB
	stmts map[string]string
	dir   string // the data dir
	limit string // memory_limit set by LimitMemory ("" for none)
	// Journal, when set, is told of the rows a load appends to
	// ferry.ledger and ferry.bulk_jobs, after they are appended and before
	// the writes they announce go out: a data dir on object storage keeps
	// them durable between its saves (datadir.Remote.Journal).
	Journal func(ctx context.Context, table string, rows [][]driver.Value) error
}

// Journaled passes rows appended to ferry.<table> to the Journal, if any.
func (s *Store) Journaled(ctx context.Context, table string, rows [][]driver.Value) error {
	if s.Journal == nil || len(rows) == 0 {
		return nil
	}
	if err := s.Journal(ctx, table, rows); err != nil {
		return fmt.Errorf("journal ferry.%s: %w", table, err)
	}
	return nil
}

// Open opens dir/warehouse.duckdb and applies pending migrations.
func Open(ctx context.Context, dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	db, err := duck.Open(filepath.Join(dir, "warehouse.duckdb"))
	if err != nil {
		return nil, err
	}
	s := &Store{DB: db, dir: dir}
	if s.stmts, err = sqlfiles.Statements(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// LimitMemory caps DuckDB's memory at limit ("2GB") and lets it spill what
// does not fit to dir/tmp, which it creates.
func (s *Store) LimitMemory(ctx context.Context, dir, limit string) error {
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("create temp directory: %w", err)
	}
	if err := s.setMemoryLimit(ctx, limit); err != nil {
		return err
	}
	if _, err := s.DB.ExecContext(ctx, "SET GLOBAL temp_directory = "+QuoteString(tmp)); err != nil {
		return fmt.Errorf("configure duckdb: %w", err)
	}
	s.limit = limit
	return nil
}

// setMemoryLimit sets DuckDB's memory_limit for every connection.
func (s *Store) setMemoryLimit(ctx context.Context, limit string) error {
	if _, err := s.DB.ExecContext(ctx, "SET GLOBAL memory_limit = "+QuoteString(limit)); err != nil {
		return fmt.Errorf("configure duckdb: %w", err)
	}
	return nil
}

// ShrinkMemory lowers DuckDB's memory_limit to 1/div of LimitMemory's
// until the returned func restores it. The load does this once its plan is
// read: the plan's table then spills to the temp directory, the chunks it
// reads need little, and the memory goes to Go's requests instead. At
// 1,000,000 contacts the process held 870 MiB with the plan at 512MB,
// 260 MiB once the limit was 128MB and 310 MiB after reading every chunk,
// as fast as before.
func (s *Store) ShrinkMemory(ctx context.Context, div int64) (restore func(context.Context) error, err error) {
	none := func(context.Context) error { return nil }
	if s.limit == "" || div <= 1 {
		return none, nil
	}
	n, err := sizeBytes(s.limit)
	if err != nil {
		return nil, fmt.Errorf("configure duckdb: %w", err)
	}
	if err := s.setMemoryLimit(ctx, fmt.Sprintf("%dB", n/div)); err != nil {
		return nil, err
	}
	limit := s.limit
	return func(ctx context.Context) error { return s.setMemoryLimit(ctx, limit) }, nil
}

// sizeBytes reads a size as DuckDB does: KB, MB, GB and TB are powers of
// 1000, KiB to TiB powers of 1024 (config checks the form).
func sizeBytes(size string) (int64, error) {
	m := sizeRe.FindStringSubmatch(strings.TrimSpace(size))
	if m == nil {
		return 0, fmt.Errorf("not a size: %q", size)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("not a size: %q", size)
	}
	unit, ok := map[string]float64{"b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}[strings.ToLower(m[2])]
	if !ok || f*unit < 1 {
		return 0, fmt.Errorf("not a size: %q", size)
	}
	return int64(f * unit), nil
}

var sizeRe = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)$`)

// Reopen closes the database and opens it again with the same memory
// limit, so that what comes next starts from an empty buffer pool and a
// checkpointed file. A run does this between extracting and building the
// models: at 1,000,000 contacts the full model build that follows a large
// merge ran out of memory_limit inside a run, while the same build on the
// same data passed in a process of its own.
func (s *Store) Reopen(ctx context.Context) error {
	if err := s.DB.Close(); err != nil {
		return fmt.Errorf("reopen warehouse: %w", err)
	}
	db, err := duck.Open(filepath.Join(s.dir, "warehouse.duckdb"))
	if err != nil {
		return fmt.Errorf("reopen warehouse: %w", err)
	}
	s.DB = db
	if s.limit != "" {
		return s.LimitMemory(ctx, s.dir, s.limit)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.DB.Close() }

// Stmt returns a named statement from sql/state/queries.sql.
func (s *Store) Stmt(name string) string {
	q, ok := s.stmts[name]
	if !ok {
		panic("state: unknown statement " + name) // programmer error
	}
	return q
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.DB.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS ferry; CREATE TABLE IF NOT EXISTS ferry.migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMPTZ)`); err != nil {
		return fmt.Errorf("state migrations table: %w", err)
	}
	ms, err := sqlfiles.Migrations()
	if err != nil {
		return err
	}
	for _, m := range ms {
		var n int
		if err := s.DB.QueryRowContext(ctx, `SELECT count(*) FROM ferry.migrations WHERE version = $1`, m.Version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		tx, err := s.DB.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			tx.Rollback()
			return fmt.Errorf("state migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ferry.migrations VALUES ($1, $2, now())`, m.Version, m.Name); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("state migration %s: %w", m.Name, err)
		}
	}
	return nil
}

// Watermark is how far a source object has been extracted: every row with
// (ts, id) <= (TS, ID) is known to have landed.
type Watermark struct {
	TS time.Time
	ID string
}

// Watermark returns the committed watermark (zero when none).
func (s *Store) Watermark(ctx context.Context, q duck.Querier, system, object string) (Watermark, error) {
	var w Watermark
	err := q.QueryRowContext(ctx, s.Stmt("GetWatermark"), system, object).Scan(&w.TS, &w.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return Watermark{}, nil
	}
	return w, err
}

// ErrLocked means another ferry process holds the data dir.
var ErrLocked = errors.New("data dir is in use by another ferry process")

// Lock is an exclusive advisory lock on a data dir.
type Lock struct{ f *os.File }

// Acquire takes dir/ferry.lock without waiting.
func Acquire(dir string) (*Lock, error) { return acquire(dir, syscall.LOCK_EX) }

// AcquireShared takes dir/ferry.lock shared, without waiting: readers that
// only copy the committed state (extraction workers) hold it together,
// and keep a run out meanwhile.
func AcquireShared(dir string) (*Lock, error) { return acquire(dir, syscall.LOCK_SH) }

func acquire(dir string, how int) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	p := filepath.Join(dir, "ferry.lock")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		b := make([]byte, 200)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		holder := strings.TrimSpace(string(b[:n]))
		if holder == "" {
			holder = "unknown process"
		}
		return nil, fmt.Errorf("%w: %s is held by %s", ErrLocked, p, holder)
	}
	if how == syscall.LOCK_SH {
		return &Lock{f: f}, nil // the holder line is an exclusive holder's
	}
	f.Truncate(0)
	f.WriteAt([]byte("pid "+strconv.Itoa(os.Getpid())+" since "+time.Now().UTC().Format(time.RFC3339)+"\n"), 0)
	return &Lock{f: f}, nil
}

// Release drops the lock.
func (l *Lock) Release() error {
	if l == nil {
		return nil
	}
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	return l.f.Close()
}
