package transform

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
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

// Fingerprint says what a build read.
type Fingerprint struct {
	// Inputs covers everything models can read: their SQL, and the content
	// of every raw.* and config.* table and of each ferry.* table a model
	// names (one aggregate scan per table: row count and the sum of row
	// hashes). It is "" when a model reads something it cannot fingerprint
	// (landing files, the clock, random values), so the caller always
	// builds, and in full.
	Inputs string
	// Structure covers what an incremental build cannot follow: the models'
	// SQL, the content of config.*, and the columns of raw.*. When it
	// differs from the published build's, every model is built in full.
	Structure string
	// lineaged lists the raw.* tables with id and _run_id columns.
	lineaged []string
}

// Inputs fingerprints what models read.
func Inputs(ctx context.Context, db *sql.DB, models []Model) (Fingerprint, error) {
	all, structure := sha256.New(), sha256.New()
	both := io.MultiWriter(all, structure)
	ferryTables := map[string]bool{}
	unknowable := false
	for _, m := range models {
		code := blankStrings(m.SQL)
		if landingRe.MatchString(code) || clockRe.MatchString(code) {
			unknowable = true
		}
		fmt.Fprintf(both, "model %s %s %s %s\n%s\n", m.Name, m.Materialized, strings.Join(m.DependsOn, ","), strings.Join(m.RecordIDs, ","), m.SQL)
		for _, g := range ferryTableRe.FindAllStringSubmatch(code, -1) {
			ferryTables[strings.ToLower(g[1])] = true
		}
	}
	rows, err := db.QueryContext(ctx, `SELECT table_schema, table_name,
			(SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) FROM information_schema.columns AS c
			 WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name),
			(SELECT count(*) = 2 FROM information_schema.columns AS c
			 WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.column_name IN ('id', '_run_id'))
		FROM information_schema.tables AS t
		WHERE table_type = 'BASE TABLE' AND table_schema IN ('raw', 'config', 'ferry')
		ORDER BY table_schema, table_name`)
	if err != nil {
		return Fingerprint{}, fmt.Errorf("transform inputs: %w", err)
	}
	var tables [][3]string
	var lineaged []string
	for rows.Next() {
		var t [3]string
		var hasLineage bool
		if err := rows.Scan(&t[0], &t[1], &t[2], &hasLineage); err != nil {
			rows.Close()
			return Fingerprint{}, err
		}
		if t[0] == "raw" && hasLineage {
			lineaged = append(lineaged, t[1])
		}
		if t[0] != "ferry" || ferryTables[t[1]] {
			tables = append(tables, t)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Fingerprint{}, err
	}
	sort.Slice(tables, func(i, j int) bool { return tables[i][0]+"."+tables[i][1] < tables[j][0]+"."+tables[j][1] })
	for _, t := range tables {
		var n int64
		var sum sql.NullString
		q := fmt.Sprintf(`SELECT count(*), CAST(sum(hash(*COLUMNS(%s))) AS VARCHAR) FROM %s.%q`, lineageFilter, t[0], t[1])
		if err := db.QueryRowContext(ctx, q).Scan(&n, &sum); err != nil {
			return Fingerprint{}, fmt.Errorf("transform inputs: %s.%s: %w", t[0], t[1], err)
		}
		line := fmt.Sprintf("table %s.%s %d %s\n", t[0], t[1], n, sum.String)
		all.Write([]byte(line))
		switch t[0] {
		case "config":
			structure.Write([]byte(line))
		case "raw":
			fmt.Fprintf(structure, "columns %s.%s %s\n", t[0], t[1], t[2])
		}
	}
	fp := Fingerprint{Inputs: hex.EncodeToString(all.Sum(nil)), Structure: hex.EncodeToString(structure.Sum(nil)), lineaged: lineaged}
	if unknowable {
		fp.Inputs = ""
	}
	return fp, nil
}

// ferryTracked are the ferry.* tables an incremental model may read, each
// with the query of the ids it holds that runs after the one numbered seq
// in ferry.run_order changed: a ferry.snapshot pair written by that run or
// later (its load wrote them after its build), a person a teammate asked
// a Lead for (recorded before the build of the run that recorded it).
var ferryTracked = map[string]func(seq int64) string{
	"snapshot": func(seq int64) string {
		return fmt.Sprintf("SELECT unnest([intercom_id, sf_id]) FROM ferry.snapshot WHERE run_id IN (SELECT run_id FROM ferry.run_order WHERE seq >= %d)", seq)
	},
	"lead_requests": func(seq int64) string {
		return fmt.Sprintf("SELECT intercom_id FROM ferry.lead_requests WHERE run_id IN (SELECT run_id FROM ferry.run_order WHERE seq > %d)", seq)
	},
}

// trackedNames lists ferryTracked's tables in a fixed order.
func trackedNames() []string {
	names := make([]string, 0, len(ferryTracked))
	for t := range ferryTracked {
		names = append(names, t)
	}
	sort.Strings(names)
	return names
}

// Changes is the query Build's Changed option takes: the id of every
// raw.* record merged by a run after the one numbered seq in
// ferry.run_order (the run whose build is published), and the ids the
// tracked ferry.* tables changed since (ferryTracked).
func (f Fingerprint) Changes(seq int64) string {
	var parts []string
	for _, t := range f.lineaged {
		parts = append(parts, fmt.Sprintf("SELECT CAST(id AS VARCHAR) FROM raw.%q WHERE %s", t, mergedAfter(seq)))
	}
	for _, t := range trackedNames() {
		parts = append(parts, ferryTracked[t](seq))
	}
	return strings.Join(parts, "\nUNION ALL\n")
}

// mergedAfter is true for a raw.* row merged by a run after the one
// numbered seq in ferry.run_order.
func mergedAfter(seq int64) string {
	return fmt.Sprintf("_run_id IN (SELECT run_id FROM ferry.run_order WHERE seq > %d)", seq)
}

// Landed reports, for each raw.* table with lineage (as raw.<table>) and
// each tracked ferry.* table, whether a run after the one numbered seq in
// ferry.run_order wrote to it: merged a record, recorded a synced pair or
// a Lead request. Tables it does not list may have changed.
func (f Fingerprint) Landed(ctx context.Context, db *sql.DB, seq int64) (map[string]bool, error) {
	out := map[string]bool{}
	for _, t := range f.lineaged {
		var landed bool
		if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT EXISTS (SELECT 1 FROM raw.%q WHERE %s)", t, mergedAfter(seq))).Scan(&landed); err != nil {
			return nil, fmt.Errorf("changes of raw.%s: %w", t, err)
		}
		out["raw."+t] = landed
	}
	for _, t := range trackedNames() {
		var changed bool
		if err := db.QueryRowContext(ctx, "SELECT EXISTS ("+ferryTracked[t](seq)+")").Scan(&changed); err != nil {
			return nil, fmt.Errorf("changes of ferry.%s: %w", t, err)
		}
		out["ferry."+t] = changed
	}
	return out, nil
}

// Scope counts what an incremental build from seq would follow: the rows of
// Changes(seq) (an id may count twice), and every record current state
// holds.
func (f Fingerprint) Scope(ctx context.Context, db *sql.DB, seq int64) (changed, records int64, err error) {
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM ("+f.Changes(seq)+")").Scan(&changed); err != nil {
		return 0, 0, fmt.Errorf("count changed records: %w", err)
	}
	for _, t := range f.lineaged {
		var n int64
		if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM raw.%q", t)).Scan(&n); err != nil {
			return 0, 0, fmt.Errorf("count records: %w", err)
		}
		records += n
	}
	return changed, records, nil
}
