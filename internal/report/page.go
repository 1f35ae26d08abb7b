package report

import (
	"bufio"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

//go:embed page.html.tmpl
var pageSource string

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"num":   formatNumber,
	"pct":   func(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) },
	"share": share,
	"human": func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	"time":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"color": bandColor,
	"deref": func(v *float64) float64 { return *v },
}).Parse(pageSource))

// view is what the template reads: the report and its charts.
type view struct {
	*Report
	Distribution, History chart
	MovesChart            *chart
	Cards                 []card
	MovesLeftOut          int
	// The component bars' colours.
	TrackColor, ComponentColor string
}

// card is one account of the lowest-scoring list.
type card struct {
	Account
	Rows []componentRow
}

type componentRow struct {
	Component
	Bar *componentBar
}

// Render writes the report's HTML page to w.
func Render(w io.Writer, r *Report) error {
	v := view{Report: r, Distribution: distributionChart(r), History: historyChart(r),
		TrackColor: colorTrack, ComponentColor: colorComponent}
	if r.Moves != nil {
		v.MovesLeftOut = r.Moves.Total - len(r.Moves.Listed)
		if len(r.Moves.Pairs) > 0 {
			c := movesChart(r.Moves)
			v.MovesChart = &c
		}
	}
	for _, a := range r.Lowest {
		c := card{Account: a}
		for _, comp := range a.Components {
			row := componentRow{Component: comp}
			if comp.Fraction != nil {
				b := newComponentBar(*comp.Fraction)
				row.Bar = &b
			}
			c.Rows = append(c.Rows, row)
		}
		v.Cards = append(v.Cards, c)
	}
	if err := page.Execute(w, v); err != nil {
		return fmt.Errorf("report: render the page: %w", err)
	}
	return nil
}

// WriteFile renders the report to path through a temporary file in the same
// directory (created if missing) renamed over it, so that path holds either
// the previous page or the whole new one.
func WriteFile(path string, r *Report) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("report: create a temporary file in %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriter(f)
	if err := Render(w, r); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("report: write %s: %w", f.Name(), err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("report: chmod %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("report: sync %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("report: close %s: %w", f.Name(), err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("report: rename into %s: %w", path, err)
	}
	return nil
}

// share prints n as a percentage of of, rounded.
func share(n, of int) string {
	if of == 0 {
		return "0%"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(of))
}
