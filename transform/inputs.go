package transform

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Models read current state (raw.*), the pipeline's settings (config.*)
// and a few of ferry's own tables (ferry.*), and nothing else: no clock,
// no files (models/README.md). Their output is therefore a function of
// those tables' contents and of the models' SQL, and a build whose inputs
// are the same as the published generation's would publish the same
// tables. Inputs fingerprints exactly that, so a run with nothing new
// skips the transform.

var (
	ferryTableRe = regexp.MustCompile(`(?i)\bferry\.([a-z_][a-z0-9_]*)`)
	landingRe    = regexp.MustCompile(`(?i)(^|[^a-z0-9_."])landing\.`)
	clockRe      = regexp.MustCompile(`(?i)\b(now|today|current_date|current_time|current_timestamp|get_current_time|get_current_timestamp|localtime|localtimestamp|random|uuid|gen_random_uuid)\b`)
)

// lineage columns that say when and by which run a version was read; a
// re-read of the same content does not make the models' inputs differ.
const lineageFilter = `c -> c NOT IN ('_run_id', '_extracted_at')`

// Inputs fingerprints everything models can read: their SQL, and the
// content of every raw.* and config.* table and of each ferry.* table a
// model names (one aggregate scan per table: row count and the sum of row
// hashes). It returns "" when a model reads something it cannot
// fingerprint (landing files, the clock, random values), so the caller
// always builds.
func Inputs(ctx context.Context, db *sql.DB, models []Model) (string, error) {
	h := sha256.New()
	ferryTables := map[string]bool{}
	for _, m := range models {
		code := blankStrings(m.SQL)
		if landingRe.MatchString(code) || clockRe.MatchString(code) {
			return "", nil
		}
		fmt.Fprintf(h, "model %s %s %s\n%s\n", m.Name, m.Materialized, strings.Join(m.DependsOn, ","), m.SQL)
		for _, g := range ferryTableRe.FindAllStringSubmatch(code, -1) {
			ferryTables[strings.ToLower(g[1])] = true
		}
	}
	rows, err := db.QueryContext(ctx, `SELECT table_schema, table_name FROM information_schema.tables
		WHERE table_type = 'BASE TABLE' AND table_schema IN ('raw', 'config', 'ferry')
		ORDER BY table_schema, table_name`)
	if err != nil {
		return "", fmt.Errorf("transform inputs: %w", err)
	}
	var tables [][2]string
	for rows.Next() {
		var t [2]string
		if err := rows.Scan(&t[0], &t[1]); err != nil {
			rows.Close()
			return "", err
		}
		if t[0] != "ferry" || ferryTables[t[1]] {
			tables = append(tables, t)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", err
	}
	sort.Slice(tables, func(i, j int) bool { return tables[i][0]+"."+tables[i][1] < tables[j][0]+"."+tables[j][1] })
	for _, t := range tables {
		var n int64
		var sum sql.NullString
		q := fmt.Sprintf(`SELECT count(*), CAST(sum(hash(*COLUMNS(%s))) AS VARCHAR) FROM %s.%q`, lineageFilter, t[0], t[1])
		if err := db.QueryRowContext(ctx, q).Scan(&n, &sum); err != nil {
			return "", fmt.Errorf("transform inputs: %s.%s: %w", t[0], t[1], err)
		}
		fmt.Fprintf(h, "table %s.%s %d %s\n", t[0], t[1], n, sum.String)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
