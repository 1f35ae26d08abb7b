// Package duck opens DuckDB databases (through cgo) with ferry's settings.
package duck

import (
	"context"
	"database/sql"
	"fmt"

	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" driver
)

// Querier is the part of *sql.DB and *sql.Tx that ferry's SQL code uses.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Open opens (creating) the DuckDB file at path; "" opens an in-memory database.
func Open(path string) (*sql.DB, error) {
	db, err := sql.Open("duckdb", path)
	if err != nil {
		return nil, fmt.Errorf("open duckdb %s: %w", path, err)
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open duckdb %s: %w", path, err)
	}
	// GLOBAL: a plain SET of TimeZone holds for the one pooled connection
	// that ran it, and the others took the machine's time zone.
	for _, s := range []string{"SET GLOBAL TimeZone = 'UTC'", "SET GLOBAL preserve_insertion_order = false"} {
		if _, err := db.Exec(s); err != nil {
			db.Close()
			return nil, fmt.Errorf("configure duckdb: %w", err)
		}
	}
	// DuckDB's allocator (jemalloc, on Linux) returns freed memory to the
	// system from a background thread rather than only when a query
	// allocates again: an incremental build at 1,000,000 contacts peaked at
	// 1,132-1,174 MiB with it and 1,268-1,285 MiB without. Builds without
	// jemalloc have nothing to configure, hence no error.
	db.Exec("SET allocator_background_threads = true")

	return db, nil
}
