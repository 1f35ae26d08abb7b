// Package extract is the shared vocabulary of ferry's extractors and the
// Parquet landing writer.
//
// Contract: a Source yields every row changed at or after Window.Lower,
// page by page; it may yield rows more than once and rows before the window
// (they are removed downstream), but it must never miss one. Run writes the pages to one append-only landing file
// as they arrive (memory is bounded by a page, never by the delta) and
// returns the new watermark: the largest (change time, id) seen at or below
// Upper. The caller commits that watermark only after the run has succeeded.
package extract

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"time"
)

// Row is one extracted record.
type Row struct {
	ID        string
	UpdatedAt time.Time
	Deleted   bool
	Record    []byte // JSON
}

// Window bounds one extraction. A zero Lower means everything. Upper is the
// furthest the watermark may advance: rows changed after it are landed but
// read again next time, since rows stamped just before now may still be
// committing.
type Window struct {
	Lower time.Time
	Upper time.Time
	// Have, when set, reports whether current state already holds the
	// record at this version (the same change time and deletion) or a
	// newer one. Run drops such rows, which are re-reads within the
	// lookback, before decoding or landing them; a source may use it to
	// skip fetching more of a record it would only drop (a conversation's
	// parts).
	Have func(id string, updatedAt time.Time, deleted bool) bool
	// IDs, when set, asks for these records only, whatever their change
	// time (a webhook named them): a TargetedSource reads them, and
	// the watermark does not move.
	IDs []string
}

// TargetedSource is a Source that can read records by id (Window.IDs).
type TargetedSource interface {
	Source
	Targeted() bool
}

// Known reports w.Have for one row (false when w has no Have).
func (w Window) Known(id string, updatedAt time.Time, deleted bool) bool {
	return w.Have != nil && !updatedAt.IsZero() && w.Have(id, updatedAt, deleted)
}

// Source extracts one object.
type Source interface {
	// System and Object name the source (e.g. "salesforce", "Lead").
	System() string
	Object() string
	// Schema lists the object's typed columns, from the source's own
	// metadata; it is called once per extraction, before Extract.
	Schema(ctx context.Context) ([]Column, error)
	// Extract yields pages of rows changed within w. total, when the API
	// reports it, receives the expected row count for progress reports.
	Extract(ctx context.Context, w Window, total *int) iter.Seq2[[]Row, error]
	// Requests reports how many API requests the source has made so far.
	Requests() int
}

// Snapshotter is a Source that reads its whole object every time (small
// reference lists with no change time): its latest extraction replaces the
// object's current state instead of being merged into it.
type Snapshotter interface {
	Snapshot() bool
}

// IsSnapshot reports whether src reads whole snapshots.
func IsSnapshot(src Source) bool {
	s, ok := src.(Snapshotter)
	return ok && s.Snapshot()
}

// Watermark is a position in a source's change order.
type Watermark struct {
	TS time.Time
	ID string
}

// After reports whether w is strictly after o in (TS, ID) order.
func (w Watermark) After(o Watermark) bool {
	if !w.TS.Equal(o.TS) {
		return w.TS.After(o.TS)
	}
	return w.ID > o.ID
}

// Result summarises one object's extraction.
type Result struct {
	System, Object string
	Window         Window
	Rows           int64
	Unchanged      int64 // rows read again that current state already held, not landed
	Columns        []Column
	File           string // "" when nothing landed
	Max            Watermark
	Requests       int
	Elapsed        time.Duration
}

// Run extracts src over w into a landing file under root, logging progress.
// check, when non-nil, vets the source's columns before anything is read
// (the current state refuses a column whose type changed).
func Run(ctx context.Context, src Source, w Window, root, runID string, now func() time.Time, log *slog.Logger, check func([]Column) error) (Result, error) {
	start := now()
	res := Result{System: src.System(), Object: src.Object(), Window: w}
	req0 := src.Requests()
	cols, err := src.Schema(ctx)
	if err != nil {
		return res, fmt.Errorf("extract %s.%s: schema: %w", src.System(), src.Object(), err)
	}
	res.Columns = cols
	if check != nil {
		if err := check(cols); err != nil {
			return res, err
		}
	}
	land, err := NewLanding(root, src.System(), src.Object(), runID, start.UTC(), cols)
	if err != nil {
		return res, err
	}
	total := -1
	lastLog := start
	pages := 0
	for rows, err := range src.Extract(ctx, w, &total) {
		if err != nil {
			land.Abort()
			return res, fmt.Errorf("extract %s.%s: %w", src.System(), src.Object(), err)
		}
		pages++
		// Rows current state already holds are re-reads: not landed.
		fresh := make([]Row, 0, len(rows))
		for _, r := range rows {
			m := Watermark{TS: r.UpdatedAt, ID: r.ID}
			if !r.UpdatedAt.After(w.Upper) && m.After(res.Max) {
				res.Max = m
			}
			if w.Known(r.ID, r.UpdatedAt, r.Deleted) {
				res.Unchanged++
				continue
			}
			fresh = append(fresh, r)
		}
		rows = fresh
		if err := land.Write(rows); err != nil {
			land.Abort()
			return res, fmt.Errorf("extract %s.%s: %w", src.System(), src.Object(), err)
		}
		if t := now(); t.Sub(lastLog) >= 5*time.Second {
			lastLog = t
			log.Info("extract progress", "source", src.System(), "object", src.Object(), "pages", pages, "rows", land.Rows(), "expected", total, "elapsed", t.Sub(start).Round(time.Millisecond))
		}
	}
	file, err := land.Commit()
	if err != nil {
		return res, fmt.Errorf("extract %s.%s: %w", src.System(), src.Object(), err)
	}
	res.Rows, res.File, res.Requests, res.Elapsed = land.Rows(), file, src.Requests()-req0, now().Sub(start)
	log.Info("extracted", "source", src.System(), "object", src.Object(), "rows", res.Rows, "unchanged", res.Unchanged, "pages", pages, "requests", res.Requests, "elapsed", res.Elapsed.Round(time.Millisecond))
	return res, nil
}
