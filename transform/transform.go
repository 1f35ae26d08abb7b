// Package transform builds the SQL models of models/ in DuckDB.
//
// Every .sql file under the models tree is a model named after its file
// (stg_intercom__contacts.sql → stg_intercom__contacts). A model is one
// SELECT; an optional header of `-- key: value` lines sets materialized
// (table | view), depends_on and description. Dependencies are the other
// models a model's SQL names, plus depends_on. The runner orders models by
// dependency and builds them all in one transaction: a model that fails
// rolls everything back and is reported with its file name and DuckDB's
// message, before anything is written to either system.
//
// Models read raw data only through raw.* views over the landing Parquet,
// the pipeline's settings through config.* tables, and the sync state
// through ferry.* tables; they never contain file paths.
package transform

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Model is one SQL model.
type Model struct {
	Name         string
	Path         string // within the models tree
	SQL          string
	Materialized string
	DependsOn    []string
	Description  string
}

var (
	nameRe   = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	headerRe = regexp.MustCompile(`^--\s*([a-z_]+)\s*:\s*(.*)$`)
)

// Load reads every model under fsys, validates headers and names, and
// returns them in build order.
func Load(fsys fs.FS, root string) ([]Model, error) {
	var models []Model
	byName := map[string]int{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || path.Ext(p) != ".sql" {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		m, err := parse(path.Join(root, p), string(b))
		if err != nil {
			return err
		}
		if prev, dup := byName[m.Name]; dup {
			return fmt.Errorf("%s: model %s is also defined in %s", m.Path, m.Name, models[prev].Path)
		}
		byName[m.Name] = len(models)
		models = append(models, m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return order(models)
}

func parse(p, src string) (Model, error) {
	name := strings.TrimSuffix(path.Base(p), ".sql")
	m := Model{Name: name, Path: p, Materialized: "table"}
	if !nameRe.MatchString(name) {
		return m, fmt.Errorf("%s: model names must match %s", p, nameRe)
	}
	lines := strings.Split(src, "\n")
	for i, line := range lines {
		t := strings.TrimSpace(line)
		if t == "" {
			continue
		}
		if !strings.HasPrefix(t, "--") {
			break
		}
		g := headerRe.FindStringSubmatch(t)
		if g == nil {
			continue // prose comment
		}
		val := strings.TrimSpace(g[2])
		switch g[1] {
		case "materialized":
			if val != "table" && val != "view" {
				return m, fmt.Errorf("%s:%d: materialized must be table or view, got %q", p, i+1, val)
			}
			m.Materialized = val
		case "depends_on":
			for _, d := range strings.Split(val, ",") {
				if d = strings.TrimSpace(d); d != "" {
					m.DependsOn = append(m.DependsOn, d)
				}
			}
		case "description":
			m.Description = val
		default:
			return m, fmt.Errorf("%s:%d: unknown header key %q (known: materialized, depends_on, description)", p, i+1, g[1])
		}
	}
	body := strings.TrimSpace(stripComments(src))
	body = strings.TrimSpace(strings.TrimSuffix(body, ";"))
	if body == "" {
		return m, fmt.Errorf("%s: model has no SQL", p)
	}
	if strings.Contains(body, ";") && !inStringsOnly(body) {
		return m, fmt.Errorf("%s: a model is a single SELECT statement; found ';' inside it", p)
	}
	m.SQL = body
	return m, nil
}

// stripComments removes -- comments outside string literals.
func stripComments(s string) string {
	var b strings.Builder
	inStr := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\'' {
			inStr = !inStr
		}
		if !inStr && c == '-' && i+1 < len(s) && s[i+1] == '-' {
			for i < len(s) && s[i] != '\n' {
				i++
			}
			b.WriteByte('\n')
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func inStringsOnly(s string) bool {
	inStr := false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\'':
			inStr = !inStr
		case s[i] == ';' && !inStr:
			return false
		}
	}
	return true
}

// order sorts models so each comes after the models it uses.
func order(models []Model) ([]Model, error) {
	names := map[string]bool{}
	for _, m := range models {
		names[m.Name] = true
	}
	deps := map[string][]string{}
	for i, m := range models {
		set := map[string]bool{}
		for _, d := range m.DependsOn {
			if !names[d] {
				return nil, fmt.Errorf("%s: depends_on names unknown model %s", m.Path, d)
			}
			set[d] = true
		}
		for n := range names {
			if n != m.Name && referencesName(m.SQL, n) {
				set[n] = true
			}
		}
		for d := range set {
			deps[m.Name] = append(deps[m.Name], d)
		}
		sort.Strings(deps[m.Name])
		models[i].DependsOn = deps[m.Name]
	}
	byName := map[string]Model{}
	for _, m := range models {
		byName[m.Name] = m
	}
	sorted := make([]string, 0, len(models))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	var out []Model
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(n string, stack []string) error
	visit = func(n string, stack []string) error {
		switch state[n] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("%s: dependency cycle: %s", byName[n].Path, strings.Join(append(stack, n), " -> "))
		}
		state[n] = 1
		for _, d := range deps[n] {
			if err := visit(d, append(stack, n)); err != nil {
				return err
			}
		}
		state[n] = 2
		out = append(out, byName[n])
		return nil
	}
	for _, n := range sorted {
		if err := visit(n, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// referencesName reports whether sql names model n as a relation
// (optionally main.-qualified), outside string literals.
func referencesName(sqlText, n string) bool {
	re := regexp.MustCompile(`(?i)(^|[^a-z0-9_."])(main\.)?` + regexp.QuoteMeta(n) + `($|[^a-z0-9_"])`)
	var b strings.Builder
	inStr := false
	for i := 0; i < len(sqlText); i++ {
		c := sqlText[i]
		if c == '\'' {
			inStr = !inStr
			b.WriteByte(' ')
			continue
		}
		if inStr {
			b.WriteByte(' ')
			continue
		}
		b.WriteByte(c)
	}
	return re.MatchString(b.String())
}

// Build materialises models in dependency order into a fresh schema
// (one generation), then publishes the generation: in one transaction every
// model becomes a view main.<model> over it, and older generations are
// dropped. Readers of main.* therefore always see one complete generation;
// a model that fails drops the new schema and leaves the published one in
// place. (Building every model inside one transaction instead was three
// times slower in DuckDB 1.4; docs/decisions.md.) took, when non-nil, is
// told how long each model took.
func Build(ctx context.Context, db *sql.DB, models []Model, took func(Model, time.Duration)) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("transform: %w", err)
	}
	defer conn.Close()
	gen := fmt.Sprintf("build_%d", time.Now().UnixNano())
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE SCHEMA %s", gen)); err != nil {
		return fmt.Errorf("transform: create schema %s: %w", gen, err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SET search_path = 'main'")
	// Unqualified model names resolve to this generation first, then main
	// (macros); the generation name is generated, not user input.
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET search_path = '%s,main'", gen)); err != nil {
		return fmt.Errorf("transform: %w", err)
	}
	drop := func() {
		conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("DROP SCHEMA IF EXISTS %s CASCADE", gen))
	}
	for _, m := range models {
		kind := "TABLE"
		if m.Materialized == "view" {
			kind = "VIEW"
		}
		// The model name is validated against nameRe, so quoting is enough.
		ddl := fmt.Sprintf("CREATE %s %s.%q AS\n%s", kind, gen, m.Name, m.SQL)
		start := time.Now()
		if _, err := conn.ExecContext(ctx, ddl); err != nil {
			drop()
			return &ModelError{Model: m, Err: err}
		}
		if took != nil {
			took(m, time.Since(start))
		}
	}
	if _, err := conn.ExecContext(ctx, "SET search_path = 'main'"); err != nil {
		drop()
		return fmt.Errorf("transform: %w", err)
	}
	if err := publish(ctx, conn, gen, models); err != nil {
		drop()
		return err
	}
	return nil
}

func publish(ctx context.Context, conn *sql.Conn, gen string, models []Model) error {
	rows, err := conn.QueryContext(ctx, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'build\\_%' ESCAPE '\\' AND schema_name <> $1", gen)
	if err != nil {
		return fmt.Errorf("transform: list generations: %w", err)
	}
	var old []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		old = append(old, s)
	}
	rows.Close()
	current := map[string]bool{}
	for _, m := range models {
		current[m.Name] = true
	}
	var stale []string // views of models that no longer exist
	vrows, err := conn.QueryContext(ctx, "SELECT view_name FROM duckdb_views() WHERE schema_name = 'main' AND sql LIKE '%FROM build\\_%' ESCAPE '\\'")
	if err != nil {
		return fmt.Errorf("transform: list published views: %w", err)
	}
	for vrows.Next() {
		var v string
		vrows.Scan(&v)
		if !current[v] {
			stale = append(stale, v)
		}
	}
	vrows.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("transform: publish: %w", err)
	}
	defer tx.Rollback()
	for _, v := range stale {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("DROP VIEW IF EXISTS main.%q", v)); err != nil {
			return fmt.Errorf("transform: drop view of removed model %s: %w", v, err)
		}
	}
	for _, m := range models {
		// A table of that name left by an older ferry is replaced by the view.
		tx.ExecContext(ctx, fmt.Sprintf("DROP TABLE IF EXISTS main.%q", m.Name))
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE VIEW main.%q AS SELECT * FROM %s.%q", m.Name, gen, m.Name)); err != nil {
			return fmt.Errorf("transform: publish %s: %w", m.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("transform: publish: %w", err)
	}
	for _, s := range old {
		conn.ExecContext(ctx, fmt.Sprintf("DROP SCHEMA IF EXISTS %s CASCADE", s))
	}
	return nil
}

// ModelError is a model that DuckDB refused.
type ModelError struct {
	Model Model
	Err   error
}

func (e *ModelError) Error() string {
	return fmt.Sprintf("model %s failed (%s): %v", e.Model.Name, e.Model.Path, e.Err)
}

func (e *ModelError) Unwrap() error { return e.Err }
