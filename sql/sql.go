// Package sql embeds the SQL ferry's Go code depends on: numbered state
// migrations and named statements (`-- name: X` blocks). Import it as
// sqlfiles to avoid clashing with database/sql.
package sql

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed state/*.sql transform/*.sql report/*.sql serve/*.sql
var files embed.FS

// Macros returns the SQL macros created before models are built.
func Macros() string {
	b, _ := files.ReadFile("transform/macros.sql")
	return string(b)
}

// Migration is one numbered schema step.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the state migrations in order.
func Migrations() ([]Migration, error) {
	names, err := fs.Glob(files, "state/[0-9]*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []Migration
	for _, n := range names {
		var v int
		if _, err := fmt.Sscanf(strings.TrimPrefix(n, "state/"), "%03d_", &v); err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a 3-digit version", n)
		}
		b, _ := files.ReadFile(n)
		out = append(out, Migration{Version: v, Name: n, SQL: string(b)})
	}
	return out, nil
}

// Statements parses state/queries.sql into name -> SQL.
func Statements() (map[string]string, error) { return statements("state/queries.sql") }

// ReportStatements parses report/queries.sql (the queries of `ferry
// report`) into name -> SQL.
func ReportStatements() (map[string]string, error) { return statements("report/queries.sql") }

// PanelStatements parses serve/panel.sql (the inbox panel's snapshot,
// internal/serve) into name -> SQL.
func PanelStatements() (map[string]string, error) { return statements("serve/panel.sql") }

// statements parses the `-- name: X` blocks of one embedded file.
func statements(path string) (map[string]string, error) {
	b, err := files.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	var name string
	var body strings.Builder
	flush := func() {
		if name != "" {
			out[name] = strings.TrimSpace(body.String())
		}
		body.Reset()
	}
	for _, line := range strings.Split(string(b), "\n") {
		if n, ok := strings.CutPrefix(strings.TrimSpace(line), "-- name:"); ok {
			flush()
			name = strings.TrimSpace(n)
			if _, dup := out[name]; dup {
				return nil, fmt.Errorf("%s: statement %s defined twice", path, name)
			}
			continue
		}
		body.WriteString(line)
		body.WriteByte('\n')
	}
	flush()
	return out, nil
}
