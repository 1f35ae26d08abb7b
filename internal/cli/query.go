package cli

import (
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/ferry-sync/ferry/internal/duck"
)

func queryCmd(ctx context.Context, e *env, args []string) error {
	var d dirFlags
	var format string
	fs := newFlagSet("query", "Run one read-only SQL query against the warehouse (<data-dir>/warehouse.duckdb), e.g.\n  ferry query \"SELECT account_name, health_score, health_band FROM account_health ORDER BY health_score LIMIT 10\"", e.stdout)
	d.register(fs)
	fs.StringVar(&format, "format", "table", "output: table or csv")
	if err := fs.Parse(args); err != nil {
		return parse(fs, args)
	}
	if fs.NArg() != 1 {
		return &usageError{msg: "query takes exactly one SQL statement", hint: `ferry query "SELECT * FROM account_health LIMIT 5"`}
	}
	if format != "table" && format != "csv" {
		return &usageError{msg: "invalid --format " + format, hint: "use table or csv"}
	}
	dir, remote, err := d.open(e.getenv, nil)
	if err != nil {
		return err
	}
	ctx, done, err := claim(ctx, dir, remote, "query", d.lockWait)
	if err != nil {
		return lockError(err)
	}
	defer done(false)
	db, err := duck.Open(filepath.Join(dir, "warehouse.duckdb") + "?access_mode=read_only")
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, fs.Arg(0))
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	return printRows(e.stdout, rows, format)
}

func printRows(w io.Writer, rows *sql.Rows, format string) error {
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	var out interface {
		Write([]string) error
	}
	var flush func() error
	if format == "csv" {
		cw := csv.NewWriter(w)
		out, flush = cw, func() error { cw.Flush(); return cw.Error() }
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		out = tabRow{tw}
		flush = tw.Flush
	}
	out.Write(cols)
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		cells := make([]string, len(vals))
		for i, v := range vals {
			if v != nil {
				cells[i] = fmt.Sprint(v)
			}
		}
		out.Write(cells)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return flush()
}

type tabRow struct{ w io.Writer }

func (t tabRow) Write(cells []string) error {
	_, err := fmt.Fprintln(t.w, strings.Join(cells, "\t"))
	return err
}
