package state

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/extract"
	"github.com/ferry-sync/ferry/internal/duck"
)

// Current state: raw.<table> holds the latest landed version of every
// record of one object. Merge folds one run's landing file into it; Rebuild
// recreates it from every landing file that remains. Both choose the same
// version of a record: the latest change time, then the latest extraction,
// then the last row of a file — so a rebuild equals the merged state.

// QuoteIdent quotes an SQL identifier.
func QuoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// QuoteString quotes an SQL string literal.
func QuoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Column is one column of a current-state table.
type Column struct{ Name, Type string }

// TableColumns lists raw.<table>'s columns (none when it does not exist).
func TableColumns(ctx context.Context, q duck.Querier, schema, table string) ([]Column, error) {
	rows, err := q.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, schema, table)
	if err != nil {
		return nil, fmt.Errorf("columns of %s.%s: %w", schema, table, err)
	}
	defer rows.Close()
	var out []Column
	for rows.Next() {
		var c Column
		if err := rows.Scan(&c.Name, &c.Type); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// TypeChangeError is a field whose type at the source differs from the
// type its column has in current state. ferry never coerces it.
type TypeChangeError struct {
	System, Object, Field, Old, New string
}

func (e *TypeChangeError) Error() string {
	return fmt.Sprintf("%s.%s: field %s changed type at the source from %s to %s; ferry does not coerce it, and lands "+
		"nothing of %s.%s until the types agree again (recorded in ferry.schema_changes)",
		e.System, e.Object, e.Field, e.Old, e.New, e.System, e.Object)
}

// CheckColumns compares a source's columns with the object's current
// state: a column whose type changed is refused (a *TypeChangeError) and
// recorded in ferry.schema_changes.
func (s *Store) CheckColumns(ctx context.Context, runID, system, object string, cols []extract.Column) error {
	have, err := TableColumns(ctx, s.DB, "raw", extract.TableName(system, object))
	if err != nil {
		return err
	}
	types := map[string]string{}
	for _, c := range have {
		types[strings.ToLower(c.Name)] = c.Type
	}
	for _, c := range cols {
		old, ok := types[strings.ToLower(c.Name)]
		if !ok || c.LandingOnly || extract.IsLineage(c.Name) || old == c.Type.DuckDBType() {
			continue
		}
		s.DB.ExecContext(ctx, `INSERT INTO ferry.schema_changes VALUES ($1, $2, $3, $4, $5, $6, 'type_changed', now())`,
			runID, system, object, c.Name, old, c.Type.DuckDBType())
		return &TypeChangeError{System: system, Object: object, Field: c.Name, Old: old, New: c.Type.DuckDBType()}
	}
	return nil
}

// Kind says how an object's landing files become its current state.
type Kind struct {
	// Snapshot: the object is read whole every run; its latest extraction
	// replaces current state instead of being merged into it.
	Snapshot bool
	// LandingOnly names columns kept in the landing files (and the
	// landing.* views) but not in current state: Intercom's conversation
	// parts, 1.1 GB of JSON text at 1,000,000 contacts that no model reads.
	LandingOnly []string
}

// exclude is the EXCLUDE list of a SELECT * over landing files with the
// given columns: extra, then the kind's landing-only columns they have.
func (k Kind) exclude(cols []Column, extra ...string) string {
	out := append([]string{}, extra...)
	for _, c := range cols {
		if slices.Contains(k.LandingOnly, c.Name) {
			out = append(out, QuoteIdent(c.Name))
		}
	}
	if len(out) == 0 {
		return ""
	}
	return "EXCLUDE (" + strings.Join(out, ", ") + ")"
}

// current drops from cols the kind's landing-only columns.
func (k Kind) current(cols []Column) []Column {
	var out []Column
	for _, c := range cols {
		if !slices.Contains(k.LandingOnly, c.Name) {
			out = append(out, c)
		}
	}
	return out
}

// Merge folds the landing file of one run into raw.<table>, inside tx:
// new columns are added (recorded in ferry.schema_changes), a changed
// column type is refused, and each record's version is replaced when the
// landed one is at least as new. A snapshot replaces the whole table; the
// kind's landing-only columns stay out (and are dropped from a table an
// older ferry made with them).
func Merge(ctx context.Context, tx *sql.Tx, runID, system, object, file string, kind Kind) error {
	table := "raw." + QuoteIdent(extract.TableName(system, object))
	src := "read_parquet(" + QuoteString(file) + ", file_row_number = true, hive_partitioning = false)"
	landed, err := Describe(ctx, tx, "SELECT * EXCLUDE (file_row_number) FROM "+src)
	if err != nil {
		return fmt.Errorf("merge %s.%s: read %s: %w", system, object, file, err)
	}
	fileCols := kind.current(landed)
	exclude := kind.exclude(landed, "file_row_number")
	have, err := TableColumns(ctx, tx, "raw", extract.TableName(system, object))
	if err != nil {
		return err
	}
	for _, c := range have {
		if slices.Contains(kind.LandingOnly, c.Name) {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s", table, QuoteIdent(c.Name))); err != nil {
				return fmt.Errorf("merge %s.%s: drop landing-only column %s: %w", system, object, c.Name, err)
			}
		}
	}
	have = kind.current(have)
	var n int64 // records the table holds
	if len(have) == 0 {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("CREATE TABLE %s AS SELECT * %s FROM %s LIMIT 0", table, exclude, src)); err != nil {
			return fmt.Errorf("merge %s.%s: create current state: %w", system, object, err)
		}
	} else {
		// A table the transform created empty, for an object never
		// extracted, gains its real columns without reporting them.
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			return fmt.Errorf("merge %s.%s: %w", system, object, err)
		}
		if err := addColumns(ctx, tx, runID, system, object, table, have, fileCols, n > 0); err != nil {
			return err
		}
	}
	if kind.Snapshot && n > 0 {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+table); err != nil {
			return fmt.Errorf("merge %s.%s: %w", system, object, err)
		}
		n = 0
	}
	// Each record's latest version in the file. The window sees only the
	// narrow columns that choose it: over whole rows it holds every column
	// of the file in memory, which does not spill enough (a million
	// conversations at 512 MB went past a gigabyte).
	latest := fmt.Sprintf(`SELECT * %[2]s FROM %[1]s
			WHERE file_row_number IN (
				SELECT file_row_number FROM (SELECT id, updated_at, file_row_number FROM %[1]s)
				QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC NULLS LAST, file_row_number DESC) = 1)`, src, exclude)
	if n == 0 {
		// Nothing to replace (a first sync, a snapshot): the latest
		// versions go straight in, without a copy of the file in a
		// temporary table or a join against the table.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s BY NAME %s", table, latest)); err != nil {
			return fmt.Errorf("merge %s.%s into current state: %w", system, object, err)
		}
		return nil
	}
	stmts := []string{
		"CREATE OR REPLACE TEMP TABLE ferry_delta AS " + latest,
		fmt.Sprintf(`DELETE FROM %[1]s USING ferry_delta AS d
			WHERE %[1]s.id = d.id AND (d.updated_at IS NULL OR %[1]s.updated_at IS NULL OR d.updated_at >= %[1]s.updated_at)`, table),
		fmt.Sprintf(`INSERT INTO %[1]s BY NAME SELECT * FROM ferry_delta AS d WHERE NOT EXISTS (SELECT 1 FROM %[1]s AS c WHERE c.id = d.id)`, table),
		`DROP TABLE ferry_delta`,
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("merge %s.%s into current state: %w", system, object, err)
		}
	}
	return nil
}

// scanValues scans the current row's n columns, whatever their types.
func scanValues(rows *sql.Rows, n int) ([]any, error) {
	vals := make([]any, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	return vals, nil
}

// EachRow runs query and calls fn with the column names and each row's
// values, whatever their types.
func EachRow(ctx context.Context, q duck.Querier, query string, fn func(cols []string, vals []any) error) error {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	for rows.Next() {
		vals, err := scanValues(rows, len(cols))
		if err != nil {
			return err
		}
		if err := fn(cols, vals); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Describe lists the columns a query returns, with their types.
func Describe(ctx context.Context, q duck.Querier, query string) ([]Column, error) {
	var out []Column
	err := EachRow(ctx, q, "DESCRIBE "+query, func(_ []string, vals []any) error {
		out = append(out, Column{Name: fmt.Sprint(vals[0]), Type: fmt.Sprint(vals[1])})
		return nil
	})
	return out, err
}

// addColumns adds to the table the columns a landing file has and it
// lacks; a column whose type differs is a *TypeChangeError.
func addColumns(ctx context.Context, tx *sql.Tx, runID, system, object, table string, have, file []Column, report bool) error {
	types := map[string]string{}
	for _, c := range have {
		types[strings.ToLower(c.Name)] = c.Type
	}
	for _, c := range file {
		old, ok := types[strings.ToLower(c.Name)]
		switch {
		case !ok:
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", table, QuoteIdent(c.Name), c.Type)); err != nil {
				return fmt.Errorf("merge %s.%s: add column %s: %w", system, object, c.Name, err)
			}
			if !report {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO ferry.schema_changes VALUES ($1, $2, $3, $4, NULL, $5, 'added', now())`,
				runID, system, object, c.Name, c.Type); err != nil {
				return err
			}
		case old != c.Type:
			return &TypeChangeError{System: system, Object: object, Field: c.Name, Old: old, New: c.Type}
		}
	}
	return nil
}

// LandingFiles lists an object's landing files, oldest run first (run ids
// are UUIDv7, so their order is their start order; compacted files sort
// first by name).
func LandingFiles(landing, system, object string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(landing, "source="+system, "object="+object, "run=*", "*.parquet"))
	if err != nil {
		return nil, fmt.Errorf("list landing files of %s.%s: %w", system, object, err)
	}
	sort.Strings(files)
	return files, nil
}

// LandedObjects lists the (system, object) pairs that have landing files.
func LandedObjects(landing string) ([][2]string, error) {
	dirs, err := filepath.Glob(filepath.Join(landing, "source=*", "object=*"))
	if err != nil {
		return nil, err
	}
	var out [][2]string
	for _, d := range dirs {
		sys := strings.TrimPrefix(filepath.Base(filepath.Dir(d)), "source=")
		obj := strings.TrimPrefix(filepath.Base(d), "object=")
		out = append(out, [2]string{sys, obj})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0]+"."+out[i][1] < out[j][0]+"."+out[j][1] })
	return out, nil
}

// latestSQL selects the current version of every record from files: for a
// snapshot object, the rows of its latest extraction.
func latestSQL(files []string, snapshot bool) string {
	if snapshot {
		quoted := make([]string, len(files))
		for i, f := range files {
			quoted[i] = QuoteString(f)
		}
		src := "read_parquet([" + strings.Join(quoted, ", ") + "], union_by_name = true, hive_partitioning = false)"
		return fmt.Sprintf(`SELECT * FROM %[1]s WHERE _extracted_at = (SELECT max(_extracted_at) FROM %[1]s)`, src)
	}
	// Each file is numbered in landing order (files are sorted), so that a
	// row is named by two integers. As in Merge, the window chooses among
	// narrow columns, and whole rows are read once more for the versions it
	// keeps; a window over whole rows (or over file names) holds them all in
	// memory.
	parts := make([]string, len(files))
	for i, f := range files {
		parts[i] = fmt.Sprintf("SELECT *, %d AS ferry_file FROM read_parquet(%s, file_row_number = true, hive_partitioning = false)", i, QuoteString(f))
	}
	return fmt.Sprintf(`WITH landed AS NOT MATERIALIZED (%s)
		SELECT l.* EXCLUDE (ferry_file, file_row_number) FROM landed AS l
		SEMI JOIN (
			SELECT ferry_file, file_row_number FROM (SELECT id, updated_at, _extracted_at, ferry_file, file_row_number FROM landed)
			QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC NULLS LAST, _extracted_at DESC, ferry_file DESC, file_row_number DESC) = 1
		) AS keep ON keep.ferry_file = l.ferry_file AND keep.file_row_number = l.file_row_number`, strings.Join(parts, "\n\t\tUNION ALL BY NAME "))
}

// Rebuild recreates the current state of every landed object from the
// landing files that remain, in one transaction, and makes the next
// transform build every model in full. kind says how each object's
// landing becomes current state.
func (s *Store) Rebuild(ctx context.Context, landing string, kind func(system, object string) Kind) ([]string, error) {
	objs, err := LandedObjects(landing)
	if err != nil {
		return nil, err
	}
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var done []string
	for _, o := range objs {
		files, err := LandingFiles(landing, o[0], o[1])
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			continue
		}
		k := kind(o[0], o[1])
		latest := latestSQL(files, k.Snapshot)
		if len(k.LandingOnly) > 0 {
			cols, err := Describe(ctx, tx, latest)
			if err != nil {
				return nil, fmt.Errorf("rebuild %s.%s: %w", o[0], o[1], err)
			}
			if ex := k.exclude(cols); ex != "" {
				latest = fmt.Sprintf("SELECT * %s FROM (%s)", ex, latest)
			}
		}
		q := fmt.Sprintf("CREATE OR REPLACE TABLE raw.%s AS %s", QuoteIdent(extract.TableName(o[0], o[1])), latest)
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("rebuild %s.%s from %d landing files: %w", o[0], o[1], len(files), err)
		}
		done = append(done, o[0]+"."+o[1])
	}
	// The next transform builds every model in full from the rebuilt
	// state; the record of who built and loaded the published plan stays,
	// so a `ferry load` now still refuses a plan a load already wrote.
	if _, err := tx.ExecContext(ctx, "UPDATE ferry.model_builds SET inputs = '', structure = '', seq = NULL"); err != nil {
		return nil, fmt.Errorf("rebuild: forget the model build: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("rebuild: commit: %w", err)
	}
	return done, nil
}

// CompactResult reports one object's compaction.
type CompactResult struct {
	System, Object string
	Files          int   // landing files folded into one
	Rows           int64 // rows in the compacted file
}

// Compact folds, per object, the landing files of runs that started
// before cutoff (and earlier compacted files) into one compacted file that
// keeps the current version of each record (with its original lineage),
// then removes them. Current state is unchanged: a rebuild from the
// compacted file and the newer files equals it. A crash between writing
// the compacted file and removing the old ones leaves duplicates that a
// rebuild resolves identically.
func (s *Store) Compact(ctx context.Context, landing string, cutoff time.Time, kind func(system, object string) Kind) ([]CompactResult, error) {
	objs, err := LandedObjects(landing)
	if err != nil {
		return nil, err
	}
	var out []CompactResult
	for _, o := range objs {
		files, err := LandingFiles(landing, o[0], o[1])
		if err != nil {
			return nil, err
		}
		var old []string
		var newest string
		for _, f := range files {
			run := strings.TrimPrefix(filepath.Base(filepath.Dir(f)), "run=")
			if t, ok := RunTime(run); ok && !t.Before(cutoff) {
				continue
			}
			old = append(old, f)
			if run > newest && !strings.HasPrefix(run, "compacted-") {
				newest = run
			}
		}
		if len(old) < 2 || newest == "" {
			continue
		}
		dir := filepath.Join(landing, "source="+o[0], "object="+o[1], "run=compacted-"+newest)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		final := filepath.Join(dir, "part-00000.parquet")
		tmp := final + ".tmp"
		q := fmt.Sprintf("COPY (%s) TO %s (FORMAT parquet, COMPRESSION zstd)", latestSQL(old, kind(o[0], o[1]).Snapshot), QuoteString(tmp))
		if _, err := s.DB.ExecContext(ctx, q); err != nil {
			os.Remove(tmp)
			return nil, fmt.Errorf("compact %s.%s: %w", o[0], o[1], err)
		}
		if err := syncFile(tmp); err != nil {
			return nil, err
		}
		if err := os.Rename(tmp, final); err != nil {
			return nil, fmt.Errorf("compact %s.%s: %w", o[0], o[1], err)
		}
		var n int64
		if err := s.DB.QueryRowContext(ctx, "SELECT count(*) FROM read_parquet("+QuoteString(final)+", hive_partitioning = false)").Scan(&n); err != nil {
			return nil, err
		}
		for _, f := range old {
			if f == final {
				continue
			}
			if err := os.Remove(f); err != nil {
				return nil, fmt.Errorf("compact %s.%s: remove %s: %w", o[0], o[1], f, err)
			}
			os.Remove(filepath.Dir(f))
		}
		out = append(out, CompactResult{System: o[0], Object: o[1], Files: len(old), Rows: n})
	}
	return out, nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// RunTime is the start time encoded in a run id (UUIDv7); compacted
// directories are named after the newest run they hold.
func RunTime(run string) (time.Time, bool) {
	run = strings.TrimPrefix(run, "compacted-")
	hex := strings.ReplaceAll(run, "-", "")
	if len(hex) != 32 || hex[12] != '7' {
		return time.Time{}, false
	}
	var ms int64
	for _, c := range hex[:12] {
		var d int64
		switch {
		case '0' <= c && c <= '9':
			d = int64(c - '0')
		case 'a' <= c && c <= 'f':
			d = int64(c-'a') + 10
		default:
			return time.Time{}, false
		}
		ms = ms<<4 | d
	}
	return time.UnixMilli(ms).UTC(), true
}

// version is one record's version in current state.
type version struct {
	us      int64 // updated_at, microseconds since the epoch
	deleted bool
}

// Versions loads the version (change time, deletion) of every record of an
// object that current state holds changed at or after since, and returns a
// function reporting whether a re-read row is one of them or older: the
// extract.Window.Have of an incremental run, whose lookback re-reads what
// the last runs already landed. Memory is one small entry per record
// changed within the window (none when nothing changed lately).
func (s *Store) Versions(ctx context.Context, system, object string, since time.Time) (func(id string, updatedAt time.Time, deleted bool) bool, int, error) {
	table := extract.TableName(system, object)
	cols, err := TableColumns(ctx, s.DB, "raw", table)
	if err != nil || len(cols) == 0 {
		return nil, 0, err
	}
	rows, err := s.DB.QueryContext(ctx, fmt.Sprintf(`SELECT id, epoch_us(updated_at), coalesce(is_deleted, false)
		FROM raw.%s WHERE updated_at >= $1`, QuoteIdent(table)), since.UTC())
	if err != nil {
		return nil, 0, fmt.Errorf("versions of %s.%s: %w", system, object, err)
	}
	defer rows.Close()
	have := map[string]version{}
	for rows.Next() {
		var id string
		var v version
		if err := rows.Scan(&id, &v.us, &v.deleted); err != nil {
			return nil, 0, fmt.Errorf("versions of %s.%s: %w", system, object, err)
		}
		have[id] = v
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("versions of %s.%s: %w", system, object, err)
	}
	if len(have) == 0 {
		return nil, 0, nil
	}
	return func(id string, updatedAt time.Time, deleted bool) bool {
		v, ok := have[id]
		if !ok {
			return false
		}
		us := updatedAt.UnixMicro()
		return v.us > us || v.us == us && v.deleted == deleted
	}, len(have), nil
}

// SnapshotUnchanged reports whether a snapshot landing file (an object
// read whole) holds exactly what current state holds: the same columns and
// the same rows, lineage aside. Such a snapshot is not landed, so that a
// run that read admins and tags again does not make every one of them a
// changed record for the transform.
func (s *Store) SnapshotUnchanged(ctx context.Context, system, object, file string) (bool, error) {
	table := extract.TableName(system, object)
	have, err := TableColumns(ctx, s.DB, "raw", table)
	if err != nil || len(have) == 0 {
		return false, err
	}
	src := "read_parquet(" + QuoteString(file) + ", hive_partitioning = false)"
	fileCols, err := Describe(ctx, s.DB, "SELECT * FROM "+src)
	if err != nil {
		return false, fmt.Errorf("snapshot of %s.%s: read %s: %w", system, object, file, err)
	}
	content := func(cols []Column) map[string]string {
		m := map[string]string{}
		for _, c := range cols {
			if c.Name != "_run_id" && c.Name != "_extracted_at" {
				m[c.Name] = c.Type
			}
		}
		return m
	}
	a, b := content(have), content(fileCols)
	if len(a) != len(b) {
		return false, nil
	}
	var names []string
	for n, t := range a {
		if b[n] != t {
			return false, nil
		}
		names = append(names, QuoteIdent(n))
	}
	sort.Strings(names)
	cols := strings.Join(names, ", ")
	var differ int64
	err = s.DB.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) FROM (
		(SELECT %[1]s FROM %[2]s EXCEPT ALL SELECT %[1]s FROM raw.%[3]s)
		UNION ALL
		(SELECT %[1]s FROM raw.%[3]s EXCEPT ALL SELECT %[1]s FROM %[2]s))`, cols, src, QuoteIdent(table))).Scan(&differ)
	if err != nil {
		return false, fmt.Errorf("snapshot of %s.%s: compare with current state: %w", system, object, err)
	}
	return differ == 0, nil
}
