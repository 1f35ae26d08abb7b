package transform

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"

	"github.com/ferry-sync/ferry/internal/state"
)

// A Test is a query over the built models that returns the rows breaking
// an expectation; a test passes when it returns none (dbt's convention).
// A model's header declares the usual four, one per line:
//
//	-- test: unique(account_id)
//	-- test: not_null(account_id, health_score)
//	-- test: accepted_values(health_band, 'healthy', 'watch', 'at_risk')
//	-- test: relationships(account_id, stg_salesforce__accounts.sf_id)
//
// and tests/<name>.sql under the models tree is a custom one: a SELECT of
// the failing rows, whose header names the model it tests (-- model:).
type Test struct {
	Model string // the model tested
	Name  string // e.g. unique(account_id), or a custom test's file name
	Path  string // the file declaring it
	Line  int    // its header line (0 for a custom test's file)
	SQL   string // the failing rows
	// Refers names another model the test reads (relationships).
	Refers string
	// ModelLine is a custom test's header line naming its model.
	ModelLine int
}

// At is where the test is declared: file:line, or the custom test's file.
func (t Test) At() string {
	if t.Line == 0 {
		return t.Path
	}
	return fmt.Sprintf("%s:%d", t.Path, t.Line)
}

var testRe = regexp.MustCompile(`^([a-z_]+)\s*\((.*)\)$`)

// parseTest reads a header test of model m, declared at p:line.
func parseTest(m, p string, line int, spec string) (Test, error) {
	t := Test{Model: m, Name: strings.Join(strings.Fields(spec), " "), Path: p, Line: line}
	g := testRe.FindStringSubmatch(strings.TrimSpace(spec))
	if g == nil {
		return t, fmt.Errorf("%s:%d: a test is unique(...), not_null(...), accepted_values(...) or relationships(...), got %q", p, line, spec)
	}
	args, err := splitArgs(g[2])
	if err != nil {
		return t, fmt.Errorf("%s:%d: test %s: %v", p, line, g[1], err)
	}
	columns := func(args []string) ([]string, error) {
		if len(args) == 0 {
			return nil, fmt.Errorf("%s:%d: test %s names at least one column", p, line, g[1])
		}
		out := make([]string, len(args))
		for i, a := range args {
			if !nameRe.MatchString(a) {
				return nil, fmt.Errorf("%s:%d: test %s: %q is not a column name", p, line, g[1], a)
			}
			out[i] = state.QuoteIdent(a)
		}
		return out, nil
	}
	model := "main." + state.QuoteIdent(m)
	switch g[1] {
	case "unique":
		cols, err := columns(args)
		if err != nil {
			return t, err
		}
		list := strings.Join(cols, ", ")
		where := ""
		if len(cols) == 1 {
			where = " WHERE " + cols[0] + " IS NOT NULL"
		}
		t.SQL = fmt.Sprintf("SELECT %s, count(*) AS rows FROM %s%s GROUP BY ALL HAVING count(*) > 1", list, model, where)
	case "not_null":
		cols, err := columns(args)
		if err != nil {
			return t, err
		}
		t.SQL = fmt.Sprintf("SELECT * FROM %s WHERE %s IS NULL", model, strings.Join(cols, " IS NULL OR "))
	case "accepted_values":
		if len(args) < 2 {
			return t, fmt.Errorf("%s:%d: accepted_values(column, 'value', ...) names a column and at least one value", p, line)
		}
		cols, err := columns(args[:1])
		if err != nil {
			return t, err
		}
		var values []string
		for _, a := range args[1:] {
			if len(a) < 2 || a[0] != '\'' || a[len(a)-1] != '\'' {
				return t, fmt.Errorf("%s:%d: accepted_values: the values are quoted ('value'), got %s", p, line, a)
			}
			values = append(values, a)
		}
		t.SQL = fmt.Sprintf("SELECT CAST(%[1]s AS VARCHAR) AS value, count(*) AS rows FROM %[2]s WHERE %[1]s IS NOT NULL AND CAST(%[1]s AS VARCHAR) NOT IN (%[3]s) GROUP BY 1",
			cols[0], model, strings.Join(values, ", "))
	case "relationships":
		if len(args) != 2 {
			return t, fmt.Errorf("%s:%d: relationships(column, model.column) names a column and the model column it refers to", p, line)
		}
		cols, err := columns(args[:1])
		if err != nil {
			return t, err
		}
		other, col, ok := strings.Cut(args[1], ".")
		if !ok || !nameRe.MatchString(other) || !nameRe.MatchString(col) {
			return t, fmt.Errorf("%s:%d: relationships: %q is not model.column", p, line, args[1])
		}
		t.Refers = other
		t.SQL = fmt.Sprintf("SELECT m.%[1]s FROM %[2]s AS m WHERE m.%[1]s IS NOT NULL AND NOT EXISTS (SELECT 1 FROM main.%[3]s AS o WHERE o.%[4]s = m.%[1]s)",
			cols[0], model, state.QuoteIdent(other), state.QuoteIdent(col))
	default:
		return t, fmt.Errorf("%s:%d: unknown test %s (unique, not_null, accepted_values, relationships; a custom test is a file under tests/)", p, line, g[1])
	}
	return t, nil
}

// splitArgs splits a test's arguments at commas outside quotes.
func splitArgs(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted = !quoted
			cur.WriteRune(r)
		case r == ',' && !quoted:
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	if quoted {
		return nil, fmt.Errorf("a quote is not closed")
	}
	if last := strings.TrimSpace(cur.String()); last != "" || len(out) > 0 {
		out = append(out, last)
	}
	for _, a := range out {
		if a == "" {
			return nil, fmt.Errorf("an empty argument")
		}
	}
	return out, nil
}

// testsDir holds the custom tests under the models tree.
const testsDir = "tests"

// LoadTests returns the tests of models: those their headers declare, then
// the custom ones under tests/ in fsys (with vars bound as in models). A
// test naming a model that is not among models is an error at its line.
func LoadTests(fsys fs.FS, root string, vars Vars, models []Model) ([]Test, error) {
	known := map[string]bool{}
	var out []Test
	for _, m := range models {
		known[m.Name] = true
	}
	for _, m := range models {
		for _, t := range m.Tests {
			if t.Refers != "" && !known[t.Refers] {
				return nil, fmt.Errorf("%s: test %s refers to unknown model %s", t.At(), t.Name, t.Refers)
			}
			out = append(out, t)
		}
	}
	entries, err := fs.ReadDir(fsys, testsDir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return out, nil
		}
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		p := path.Join(root, testsDir, e.Name())
		b, err := fs.ReadFile(fsys, path.Join(testsDir, e.Name()))
		if err != nil {
			return nil, err
		}
		src, err := bind(p, string(b), vars)
		if err != nil {
			return nil, err
		}
		t, err := parseCustomTest(p, src)
		if err != nil {
			return nil, err
		}
		if !known[t.Model] {
			return nil, fmt.Errorf("%s:%d: the test's model %s is not a model", p, t.ModelLine, t.Model)
		}
		out = append(out, t)
	}
	return out, nil
}

// parseCustomTest reads a custom test: a header naming the model it tests
// (-- model: <name>), then one SELECT returning the failing rows.
func parseCustomTest(p, src string) (Test, error) {
	t := Test{Name: strings.TrimSuffix(path.Base(p), ".sql"), Path: p}
	for _, h := range headers(src) {
		switch h.key {
		case "model":
			t.Model, t.ModelLine = h.value, h.line
		case "description":
		default:
			return t, fmt.Errorf("%s:%d: unknown header key %q (known: model, description)", p, h.line, h.key)
		}
	}
	if t.Model == "" {
		return t, fmt.Errorf("%s: a custom test names the model it tests in its header (-- model: <name>)", p)
	}
	body := strings.TrimSpace(stripComments(src))
	body = strings.TrimSpace(strings.TrimSuffix(body, ";"))
	switch {
	case body == "":
		return t, fmt.Errorf("%s: the test has no SQL", p)
	case strings.Contains(body, ";") && !inStringsOnly(body):
		return t, fmt.Errorf("%s: a test is a single SELECT statement; found ';' inside it", p)
	}
	t.SQL = body
	return t, nil
}

// TestResult is a test's outcome: how many rows it returned, and the first
// few, each rendered as column=value pairs.
type TestResult struct {
	Test     Test     `json:"-"`
	Model    string   `json:"model"`
	Name     string   `json:"test"`
	At       string   `json:"at"`
	Failures int64    `json:"failures"`
	Sample   []string `json:"sample,omitempty"`
}

// TestSample is how many failing rows a result keeps.
const TestSample = 5

// RunTests runs each test against the built models.
func RunTests(ctx context.Context, db *sql.DB, tests []Test) ([]TestResult, error) {
	out := make([]TestResult, 0, len(tests))
	for _, t := range tests {
		r := TestResult{Test: t, Model: t.Model, Name: t.Name, At: t.At()}
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM ("+t.SQL+")").Scan(&r.Failures); err != nil {
			return nil, fmt.Errorf("%s: test %s of model %s: %w", t.At(), t.Name, t.Model, err)
		}
		if r.Failures > 0 {
			sample, err := sampleRows(ctx, db, fmt.Sprintf("SELECT * FROM (%s) LIMIT %d", t.SQL, TestSample))
			if err != nil {
				return nil, fmt.Errorf("%s: test %s of model %s: %w", t.At(), t.Name, t.Model, err)
			}
			r.Sample = sample
		}
		out = append(out, r)
	}
	return out, nil
}

// sampleRows renders q's rows as column=value pairs.
func sampleRows(ctx context.Context, db *sql.DB, q string) ([]string, error) {
	var out []string
	err := state.EachRow(ctx, db, q, func(cols []string, vals []any) error {
		parts := make([]string, len(cols))
		for i, c := range cols {
			v := "NULL"
			if vals[i] != nil {
				v = fmt.Sprint(vals[i])
			}
			parts[i] = c + "=" + v
		}
		out = append(out, strings.Join(parts, ", "))
		return nil
	})
	return out, err
}

// Ancestors returns the names of the models name reads, directly or
// through others, with name itself.
func Ancestors(models []Model, name string) map[string]bool {
	deps := map[string][]string{}
	for _, m := range models {
		deps[m.Name] = m.DependsOn
	}
	out := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		if out[n] {
			return
		}
		out[n] = true
		for _, d := range deps[n] {
			visit(d)
		}
	}
	visit(name)
	return out
}
