// Package report makes `ferry report`: one self-contained HTML page of
// customer health that finance can open without a network. It reads the
// published account_health model and its history, aggregates in DuckDB
// (statements in sql/report/queries.sql), and draws the charts as inline
// SVG on the server, so the page needs no script, font or image from
// anywhere.
//
// What reaches Go is bounded whatever the warehouse holds: ten score
// buckets, the last Options.Runs runs, and Options.Accounts accounts (the
// lowest-scoring ones, and as many of the accounts that changed band); the
// page says how many it left out.
package report

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/internal/duck"
	sqlfiles "github.com/ferry-sync/ferry/sql"
)

// ErrNotBuilt means the warehouse has no account_health model to report on.
var ErrNotBuilt = errors.New("the models are not built: no account_health in the warehouse; run `ferry run` (or `ferry transform`) first")

// Defaults of Options.
const (
	DefaultAccounts = 200
	DefaultRuns     = 60
)

// Bands.
const (
	Green  = "green"
	Yellow = "yellow"
	Red    = "red"
)

// Options bound what a report shows.
type Options struct {
	// Accounts is how many of the lowest-scoring accounts to detail, and
	// how many of the accounts that changed band to list (0 for none).
	Accounts int
	// Runs is how many of the last runs the bands-over-time chart shows
	// (0 means DefaultRuns).
	Runs int
	// Now is when the report is made, shown on the page.
	Now time.Time
}

// BandCounts counts accounts by band; Other counts any band that is none of
// green, yellow and red.
type BandCounts struct {
	Green, Yellow, Red, Other int
}

// Total is the number of accounts counted.
func (b BandCounts) Total() int { return b.Green + b.Yellow + b.Red + b.Other }

// Bucket is a 10-point range of scores: Low to Low+9 (90 to 100 for the last).
type Bucket struct {
	Low   int
	Bands BandCounts
}

// RunBands is one run of the history and its accounts by band.
type RunBands struct {
	RunID string
	At    time.Time
	Bands BandCounts
}

// Run names one run of the history.
type Run struct {
	ID string
	At time.Time
}

// Move is an account whose band changed between two runs.
type Move struct {
	AccountID, Name    string
	From, To           string
	FromScore, ToScore float64
}

// MovePair counts the accounts that went from one band to another.
type MovePair struct {
	From, To string
	Accounts int
}

// Moves are the band changes between the last two runs of the history.
type Moves struct {
	Previous, Last Run
	// Total is how many accounts changed band; Listed holds the first of
	// them (those that fell furthest first), at most Options.Accounts.
	Total  int
	Listed []Move
	Pairs  []MovePair
}

// Component is one health component of an account.
type Component struct {
	Name   string
	Weight float64
	// Value is nil when the account has no value for it: the score then
	// leaves it out.
	Value *float64
	// Share is the component's weight over the weight of the account's
	// components that have a value; Fraction its score, 0 (bad) to 1
	// (good). Both nil with Value.
	Share, Fraction *float64
}

// Account is one account with its components.
type Account struct {
	ID, Name   string
	Score      float64
	Band       string
	Components []Component
}

// Report is everything the page shows.
type Report struct {
	Generated time.Time
	// AsOf is the latest customer activity the scores saw (nil if none).
	AsOf      *time.Time
	Accounts  BandCounts
	MeanScore float64
	// GreenFrom and YellowFrom are the band thresholds (nil if unknown).
	GreenFrom, YellowFrom *float64
	Buckets               [10]Bucket
	// HasHistory is false when no run has appended to
	// account_health_history yet.
	HasHistory bool
	// Runs are the last runs of the history, oldest first; TotalRuns how
	// many the history holds.
	Runs      []RunBands
	TotalRuns int
	// Moves is nil with fewer than two runs in the history.
	Moves *Moves
	// Lowest are the lowest-scoring accounts, lowest first.
	Lowest []Account
}

// LastRun is the last run of the history (nil without one).
func (r *Report) LastRun() *RunBands {
	if len(r.Runs) == 0 {
		return nil
	}
	return &r.Runs[len(r.Runs)-1]
}

// LeftOut is how many accounts the page does not detail.
func (r *Report) LeftOut() int { return r.Accounts.Total() - len(r.Lowest) }

var statements = sync.OnceValues(sqlfiles.ReportStatements)

// stmt returns a named statement of sql/report/queries.sql.
func stmt(name string) string {
	s, err := statements()
	if err != nil {
		panic("report: " + err.Error()) // the embedded file is broken
	}
	q, ok := s[name]
	if !ok {
		panic("report: unknown statement " + name) // programmer error
	}
	return q
}

// Gather reads the report's figures from the warehouse q. It writes
// nothing, so q may be opened read-only. It returns ErrNotBuilt when the
// models were never built.
func Gather(ctx context.Context, q duck.Querier, opt Options) (*Report, error) {
	if opt.Accounts < 0 {
		return nil, fmt.Errorf("report: accounts %d: must not be negative", opt.Accounts)
	}
	if opt.Runs <= 0 {
		opt.Runs = DefaultRuns
	}
	for _, t := range [][2]string{{"main", "account_health"}, {"config", "health_components"}, {"config", "settings"}} {
		ok, err := hasTable(ctx, q, t[0], t[1])
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, ErrNotBuilt
		}
	}
	r := &Report{Generated: opt.Now.UTC()}
	steps := []struct {
		what string
		run  func(context.Context, duck.Querier, *Report, Options) error
	}{
		{"overview", readOverview},
		{"band thresholds", readThresholds},
		{"score distribution", readBuckets},
		{"history", readHistory},
		{"lowest-scoring accounts", readLowest},
	}
	for _, s := range steps {
		if err := s.run(ctx, q, r, opt); err != nil {
			return nil, fmt.Errorf("report: %s: %w", s.what, err)
		}
	}
	return r, nil
}

func hasTable(ctx context.Context, q duck.Querier, schema, name string) (bool, error) {
	var n int
	if err := q.QueryRowContext(ctx, stmt("HasTable"), schema, name).Scan(&n); err != nil {
		return false, fmt.Errorf("report: look for %s.%s: %w", schema, name, err)
	}
	return n > 0, nil
}

func readOverview(ctx context.Context, q duck.Querier, r *Report, _ Options) error {
	var total int
	var asOf sql.NullTime
	b := &r.Accounts
	if err := q.QueryRowContext(ctx, stmt("Overview")).Scan(&total, &b.Green, &b.Yellow, &b.Red, &r.MeanScore, &asOf); err != nil {
		return err
	}
	b.Other = total - b.Green - b.Yellow - b.Red
	if asOf.Valid {
		t := asOf.Time.UTC()
		r.AsOf = &t
	}
	return nil
}

func readThresholds(ctx context.Context, q duck.Querier, r *Report, _ Options) error {
	var green, yellow sql.NullFloat64
	if err := q.QueryRowContext(ctx, stmt("Thresholds")).Scan(&green, &yellow); err != nil {
		return err
	}
	r.GreenFrom, r.YellowFrom = nullable(green), nullable(yellow)
	return nil
}

func readBuckets(ctx context.Context, q duck.Querier, r *Report, _ Options) error {
	for i := range r.Buckets {
		r.Buckets[i].Low = 10 * i
	}
	rows, err := q.QueryContext(ctx, stmt("ScoreBuckets"))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var i int
		var b BandCounts
		if err := rows.Scan(&i, &b.Green, &b.Yellow, &b.Red, &b.Other); err != nil {
			return err
		}
		if i < 0 || i >= len(r.Buckets) {
			return fmt.Errorf("bucket %d out of range", i)
		}
		r.Buckets[i].Bands = b
	}
	return rows.Err()
}

// readHistory reads the bands of the last runs and, with two runs or more,
// the band changes between the last two.
func readHistory(ctx context.Context, q duck.Querier, r *Report, opt Options) error {
	ok, err := hasTable(ctx, q, "main", "account_health_history")
	if err != nil || !ok {
		return err
	}
	rows, err := q.QueryContext(ctx, stmt("BandsByRun"), opt.Runs)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var rb RunBands
		b := &rb.Bands
		if err := rows.Scan(&rb.RunID, &rb.At, &b.Green, &b.Yellow, &b.Red, &b.Other, &r.TotalRuns); err != nil {
			return err
		}
		rb.At = rb.At.UTC()
		r.Runs = append(r.Runs, rb)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// Newest first from SQL (so LIMIT keeps the last ones); oldest first on the page.
	for i, j := 0, len(r.Runs)-1; i < j; i, j = i+1, j-1 {
		r.Runs[i], r.Runs[j] = r.Runs[j], r.Runs[i]
	}
	r.HasHistory = len(r.Runs) > 0
	if r.TotalRuns < 2 {
		return nil
	}
	r.Moves, err = readMoves(ctx, q, opt.Accounts)
	return err
}

func readMoves(ctx context.Context, q duck.Querier, limit int) (*Moves, error) {
	var runs []Run
	rows, err := q.QueryContext(ctx, stmt("LastTwoRuns"))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var run Run
		if err := rows.Scan(&run.ID, &run.At); err != nil {
			return nil, err
		}
		run.At = run.At.UTC()
		runs = append(runs, run)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(runs) < 2 {
		return nil, fmt.Errorf("last two runs: found %d", len(runs))
	}
	m := &Moves{Last: runs[0], Previous: runs[1]}
	if err := readMoveList(ctx, q, m, limit); err != nil {
		return nil, err
	}
	return m, readMovePairs(ctx, q, m)
}

func readMoveList(ctx context.Context, q duck.Querier, m *Moves, limit int) error {
	rows, err := q.QueryContext(ctx, stmt("BandMoves"), m.Last.ID, m.Previous.ID, limit)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var mv Move
		if err := rows.Scan(&mv.AccountID, &mv.Name, &mv.From, &mv.To, &mv.FromScore, &mv.ToScore); err != nil {
			return err
		}
		m.Listed = append(m.Listed, mv)
	}
	return rows.Err()
}

func readMovePairs(ctx context.Context, q duck.Querier, m *Moves) error {
	rows, err := q.QueryContext(ctx, stmt("MovePairs"), m.Last.ID, m.Previous.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var p MovePair
		if err := rows.Scan(&p.From, &p.To, &p.Accounts); err != nil {
			return err
		}
		m.Total += p.Accounts
		m.Pairs = append(m.Pairs, p)
	}
	return rows.Err()
}

func readLowest(ctx context.Context, q duck.Querier, r *Report, opt Options) error {
	if opt.Accounts == 0 {
		return nil
	}
	rows, err := q.QueryContext(ctx, stmt("LowestAccounts"), opt.Accounts)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a Account
		var name sql.NullString
		var weight, value, share, fraction sql.NullFloat64
		if err := rows.Scan(&a.ID, &a.Name, &a.Score, &a.Band, &name, &weight, &value, &share, &fraction); err != nil {
			return err
		}
		if n := len(r.Lowest); n == 0 || r.Lowest[n-1].ID != a.ID {
			r.Lowest = append(r.Lowest, a)
		}
		if !name.Valid {
			continue // an account without configured components
		}
		last := &r.Lowest[len(r.Lowest)-1]
		last.Components = append(last.Components, Component{Name: name.String, Weight: weight.Float64,
			Value: nullable(value), Share: nullable(share), Fraction: nullable(fraction)})
	}
	return rows.Err()
}

func nullable(v sql.NullFloat64) *float64 {
	if !v.Valid {
		return nil
	}
	f := v.Float64
	return &f
}
