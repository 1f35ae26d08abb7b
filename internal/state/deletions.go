package state

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/extract"
	"github.com/ferry-sync/ferry/internal/duck"
)

// Deletes a change feed does not show (ferry.deletions) reach current
// state as tombstones: the last version current state holds of the
// record, marked deleted as of the deletion, landed like any extraction
// (so a rebuild from the landing files reproduces them) and merged in the
// extraction's commit. A record current state holds in a version newer
// than the deletion (restored since: undeleted, unarchived) gets none.

// TombstoneFile is the landing file of a run's tombstones for an object:
// beside the run's extraction, which is part-00000.
func TombstoneFile(landing, system, object, runID string) string {
	return filepath.Join(landing, "source="+system, "object="+object, "run="+runID, "part-00001.parquet")
}

// Tombstones writes the landing file of tombstones for the pending
// deletions of one object (ferry.deletions rows no tombstone has landed
// for), inside tx, and returns its path, or "" when current state holds
// none of those records alive as of their deletion (already deleted,
// never extracted, or restored since), with the number of tombstones.
func Tombstones(ctx context.Context, tx *sql.Tx, landing, runID string, at time.Time, system, object string) (string, int64, error) {
	table := extract.TableName(system, object)
	cols, err := TableColumns(ctx, tx, "raw", table)
	if err != nil || len(cols) == 0 {
		return "", 0, err
	}
	// A merge is kept in merged_into, which a table from before ferry
	// looked for deletes may lack.
	var merges int64
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM ferry.deletions WHERE landed_by IS NULL AND system = $1 AND object = $2 AND merged_into IS NOT NULL`, system, object).Scan(&merges); err != nil {
		return "", 0, fmt.Errorf("tombstones of %s.%s: %w", system, object, err)
	}
	if merges > 0 && !slices.ContainsFunc(cols, func(c Column) bool { return c.Name == "merged_into" }) {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("ALTER TABLE raw.%s ADD COLUMN merged_into VARCHAR", QuoteIdent(table))); err != nil {
			return "", 0, fmt.Errorf("tombstones of %s.%s: %w", system, object, err)
		}
		cols = append(cols, Column{Name: "merged_into", Type: "VARCHAR"})
	}
	replace := []string{
		QuoteString(runID) + " AS _run_id",
		fmt.Sprintf("TIMESTAMPTZ %s AS _extracted_at", QuoteString(at.UTC().Format(time.RFC3339Nano))),
		"d.deleted_at AS updated_at",
		"true AS is_deleted",
	}
	if slices.ContainsFunc(cols, func(c Column) bool { return c.Name == "merged_into" }) {
		replace = append(replace, "coalesce(d.merged_into, t.merged_into) AS merged_into")
	}
	query := fmt.Sprintf(`SELECT t.* REPLACE (%s)
		FROM raw.%s AS t
		INNER JOIN (
			SELECT id, max(deleted_at) AS deleted_at, max(merged_into) AS merged_into
			FROM ferry.deletions
			WHERE landed_by IS NULL AND system = %s AND object = %s
			GROUP BY id
		) AS d ON d.id = t.id
		WHERE NOT coalesce(t.is_deleted, false)
		  AND (t.updated_at IS NULL OR t.updated_at <= d.deleted_at)`,
		strings.Join(replace, ", "), QuoteIdent(table), QuoteString(system), QuoteString(object))
	var n int64
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM ("+query+")").Scan(&n); err != nil {
		return "", 0, fmt.Errorf("tombstones of %s.%s: %w", system, object, err)
	}
	if n == 0 {
		return "", 0, nil
	}
	path := TombstoneFile(landing, system, object, runID)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", 0, fmt.Errorf("tombstones of %s.%s: %w", system, object, err)
	}
	tmp := path + ".tmp"
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("COPY (%s) TO %s (FORMAT parquet, COMPRESSION zstd)", query, QuoteString(tmp))); err != nil {
		os.Remove(tmp)
		return "", 0, fmt.Errorf("tombstones of %s.%s: %w", system, object, err)
	}
	if err := syncFile(tmp); err != nil {
		return "", 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", 0, fmt.Errorf("tombstones of %s.%s: %w", system, object, err)
	}
	return path, n, nil
}

// Missing returns the ids of the records of an object that current state
// holds alive, or that the landing file landed (this run's extraction, not
// merged yet; "" for none) lands alive, but that are not among the ids in
// the Parquet file swept (a sweep's list of every live id; "" when it
// listed none). The ids are
// read whole before the caller looks them up, so no query stays open
// across its requests: they are the deletes since the last sweep, few
// next to the object.
func Missing(ctx context.Context, q duck.Querier, system, object, swept, landed string) ([]string, error) {
	table := extract.TableName(system, object)
	cols, err := TableColumns(ctx, q, "raw", table)
	if err != nil || len(cols) == 0 && landed == "" {
		return nil, err
	}
	var held []string
	if len(cols) > 0 {
		held = append(held, fmt.Sprintf("SELECT id FROM raw.%s WHERE NOT coalesce(is_deleted, false)", QuoteIdent(table)))
	}
	if landed != "" {
		held = append(held, fmt.Sprintf("SELECT id FROM read_parquet(%s) WHERE NOT is_deleted", QuoteString(landed)))
	}
	listed := "(SELECT NULL::VARCHAR AS id WHERE false)" // an empty list ("")
	if swept != "" {
		listed = "read_parquet(" + QuoteString(swept) + ")"
	}
	rows, err := q.QueryContext(ctx, fmt.Sprintf(`SELECT DISTINCT h.id FROM (%s) AS h
		ANTI JOIN %s AS s ON s.id = h.id
		ORDER BY h.id`, strings.Join(held, " UNION ALL "), listed))
	if err != nil {
		return nil, fmt.Errorf("compare %s.%s ids: %w", system, object, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("compare %s.%s ids: %w", system, object, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("compare %s.%s ids: %w", system, object, err)
	}
	return ids, nil
}

// HoldsAlive reports whether current state holds any live record of an
// object: a sweep has nothing to compare before the first extraction.
func HoldsAlive(ctx context.Context, q duck.Querier, system, object string) (bool, error) {
	table := extract.TableName(system, object)
	cols, err := TableColumns(ctx, q, "raw", table)
	if err != nil || len(cols) == 0 {
		return false, err
	}
	var ok bool
	err = q.QueryRowContext(ctx, fmt.Sprintf("SELECT EXISTS (SELECT 1 FROM raw.%s WHERE NOT coalesce(is_deleted, false))", QuoteIdent(table))).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("%s.%s: %w", system, object, err)
	}
	return ok, nil
}
