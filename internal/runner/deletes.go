package runner

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ferry-sync/ferry/extract"
	"github.com/ferry-sync/ferry/internal/state"
)

// Deletes no change feed shows are looked for after an object's
// extraction, on the object's own schedule (extract.<system>.<object>.
// sweep_every, delete_log_every): Salesforce's delete log when it is due,
// and a sweep (every live id listed and compared with what ferry holds)
// when that is due or the log says it has lost deletes. Writes answered
// "gone" add to them during the load (found, below). Each goes into
// ferry.deletions in a commit; the next extraction's commit lands a
// tombstone for it (state.Tombstones).

// found is a record a run found gone, and how.
type found struct {
	extract.Gone
	how string // write, log or sweep
}

// deleteSearch is what looking for one object's deletes gave.
type deleteSearch struct {
	gone       []found
	logCovered time.Time // zero: not read
	sweptAt    time.Time // zero: not swept
	requests   int
}

// sweepBatch is how many ids a sweep hands the source to look up at once.
const sweepBatch = 100

// findDeletes looks for src's deletes, if due; landed is this run's
// landing file of src ("" if none), not merged yet.
func (r *run) findDeletes(ctx context.Context, src extract.Source, landed string) (*deleteSearch, error) {
	sw, _ := src.(extract.Sweeper)
	if sw != nil && !sw.Sweepable() {
		sw = nil
	}
	lg, _ := src.(extract.DeleteLogger)
	sys, obj := src.System(), src.Object()
	sweepEvery, logEvery := r.opt.Pipeline.SweepEvery(sys, obj), r.opt.Pipeline.DeleteLogEvery(sys, obj)
	if sw == nil || sweepEvery <= 0 && !r.opt.Sweep {
		sw = nil
	}
	if lg == nil || logEvery <= 0 {
		lg = nil
	}
	if sw == nil && lg == nil {
		return nil, nil
	}
	now := r.opt.Now().UTC().Truncate(time.Second)
	out := &deleteSearch{}
	alive, err := state.HoldsAlive(ctx, r.st.DB, sys, obj)
	if err != nil {
		return nil, err
	}
	if !alive {
		// Nothing held yet to compare: this run's extraction reads
		// everything there is, so the clocks start now.
		out.logCovered, out.sweptAt = now, now
		return out, nil
	}
	var logCovered, sweptAt sql.NullTime
	if err := r.st.DB.QueryRowContext(ctx, r.st.Stmt("GetDeleteChecks"), sys, obj).Scan(&logCovered, &sweptAt); err != nil {
		return nil, fmt.Errorf("%s.%s: when were deletes last looked for: %w", sys, obj, err)
	}
	req0 := src.Requests()
	defer func() { out.requests = src.Requests() - req0 }()
	// Never swept (state from before ferry looked for deletes): whatever
	// went before now is unknown, so the first search is a sweep.
	sweep := sw != nil && (r.opt.Sweep || !sweptAt.Valid || sweepEvery > 0 && now.Sub(sweptAt.Time) >= sweepEvery)
	if lg != nil && !sweep && (!logCovered.Valid || now.Sub(logCovered.Time) >= logEvery) {
		start := logCovered.Time
		if !logCovered.Valid || now.Sub(start) > lg.DeleteLogReach() {
			// The log does not reach back that far: a sweep finds what
			// it lost, and without one (sweep_every: 0s) the log is read
			// as far back as it goes.
			sweep = sw != nil
			from := "before ferry looked for deletes"
			if logCovered.Valid {
				from = "since " + logCovered.Time.Format(time.RFC3339)
			}
			start = now.Add(-lg.DeleteLogReach())
			if !sweep {
				r.log.Warn(fmt.Sprintf("%s: deletes %s up to %s are not known: the delete log reaches back only to then, and sweep_every is 0s", obj, from, start.Format(time.RFC3339)), "source", sys, "object", obj)
			}
		}
		if !sweep {
			gone, covered, complete, err := lg.DeleteLog(ctx, start, now)
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", sys, obj, err)
			}
			for _, g := range gone {
				out.gone = append(out.gone, found{g, "log"})
			}
			out.logCovered = covered
			if !complete {
				then := "comparing every id"
				if sw == nil {
					then = "deletes before then are not known (sweep_every is 0s)"
				}
				r.log.Warn(fmt.Sprintf("%s: the delete log no longer reaches back to %s (records were deleted for good since): %s", obj, start.Format(time.RFC3339), then), "source", sys, "object", obj)
				sweep = sw != nil
			}
		}
	}
	if sweep {
		gone, err := r.sweep(ctx, sw, landed)
		if err != nil {
			return nil, err
		}
		out.gone = append(out.gone, gone...)
		out.sweptAt, out.logCovered = now, now.Truncate(time.Minute)
	}
	for i := range out.gone {
		if out.gone[i].At.IsZero() {
			out.gone[i].At = now
		}
	}
	return out, nil
}

// sweep lists every live id of src into a scratch Parquet file, compares
// it with the ids current state holds alive (and landed, this run's
// landing file), and looks up those missing. Memory stays bounded by a page
// of ids, however large the object.
func (r *run) sweep(ctx context.Context, src extract.Sweeper, landed string) ([]found, error) {
	sys, obj := src.System(), src.Object()
	start := r.opt.Now()
	// A run killed while sweeping left its scratch directory behind; the
	// state lock says no other run is using one.
	if old, _ := filepath.Glob(filepath.Join(r.opt.DataDir, ".sweep-"+sys+"-"+obj+"-*")); len(old) > 0 {
		for _, d := range old {
			os.RemoveAll(d)
		}
	}
	dir, err := os.MkdirTemp(r.opt.DataDir, ".sweep-"+sys+"-"+obj+"-")
	if err != nil {
		return nil, fmt.Errorf("%s.%s sweep: %w", sys, obj, err)
	}
	defer os.RemoveAll(dir)
	ids, err := extract.NewLanding(dir, sys, obj, r.id, start.UTC(), nil)
	if err != nil {
		return nil, fmt.Errorf("%s.%s sweep: %w", sys, obj, err)
	}
	empty := []byte("{}")
	for page, err := range src.LiveIDs(ctx) {
		if err != nil {
			ids.Abort()
			return nil, fmt.Errorf("%s.%s sweep: %w", sys, obj, err)
		}
		rows := make([]extract.Row, len(page))
		for i, id := range page {
			rows[i] = extract.Row{ID: id, Record: empty}
		}
		if err := ids.Write(rows); err != nil {
			ids.Abort()
			return nil, fmt.Errorf("%s.%s sweep: %w", sys, obj, err)
		}
	}
	file, err := ids.Commit()
	if err != nil {
		return nil, fmt.Errorf("%s.%s sweep: %w", sys, obj, err)
	}
	listed := ids.Rows()
	// Every id missing from the list is looked up before it counts, so
	// an empty list (file "") costs look-ups, never false deletes.
	missing, err := state.Missing(ctx, r.st.DB, sys, obj, file, landed)
	if err != nil {
		return nil, fmt.Errorf("%s.%s sweep: %w", sys, obj, err)
	}
	var out []found
	for i := 0; i < len(missing); i += sweepBatch {
		gone, err := src.Resolve(ctx, missing[i:min(i+sweepBatch, len(missing))])
		if err != nil {
			return nil, fmt.Errorf("%s.%s sweep: %w", sys, obj, err)
		}
		for _, g := range gone {
			out = append(out, found{g, "sweep"})
		}
	}
	r.log.Info("swept for deletes", "source", sys, "object", obj, "listed", listed, "missing", len(missing), "gone", len(out), "elapsed", r.opt.Now().Sub(start).Round(time.Millisecond))
	return out, nil
}

// recordDeletes writes one object's search for deletes into tx:
// ferry.deletions for what it found, ferry.delete_checks for how far it
// looked.
func (r *run) recordDeletes(ctx context.Context, tx *sql.Tx, sys, obj string, d *deleteSearch) error {
	if d == nil {
		return nil
	}
	for _, g := range d.gone {
		if err := r.insertDeletion(ctx, tx, sys, obj, g); err != nil {
			return err
		}
	}
	var covered, swept any
	if !d.logCovered.IsZero() {
		covered = d.logCovered
	}
	if !d.sweptAt.IsZero() {
		swept = d.sweptAt
	}
	if _, err := tx.ExecContext(ctx, r.st.Stmt("UpsertDeleteChecks"), sys, obj, covered, swept); err != nil {
		return fmt.Errorf("record the search for %s.%s deletes: %w", sys, obj, err)
	}
	return nil
}

func (r *run) insertDeletion(ctx context.Context, tx *sql.Tx, sys, obj string, g found) error {
	var into any
	if g.Into != "" {
		into = g.Into
	}
	if _, err := tx.ExecContext(ctx, r.st.Stmt("InsertDeletion"), sys, obj, g.ID, g.At.UTC(), into, g.how, r.id); err != nil {
		return fmt.Errorf("record %s.%s %s as deleted: %w", sys, obj, g.ID, err)
	}
	return nil
}

// landTombstones lands, inside tx, a tombstone for every pending deletion
// (this run's and those a load found since the last extraction) and
// merges it into current state.
func (r *run) landTombstones(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, r.st.Stmt("PendingDeletionObjects"))
	if err != nil {
		return fmt.Errorf("pending deletions: %w", err)
	}
	var objects [][2]string
	for rows.Next() {
		var k [2]string
		if err := rows.Scan(&k[0], &k[1]); err != nil {
			rows.Close()
			return fmt.Errorf("pending deletions: %w", err)
		}
		objects = append(objects, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("pending deletions: %w", err)
	}
	landing := filepath.Join(r.opt.DataDir, "landing")
	for _, k := range objects {
		file, n, err := state.Tombstones(ctx, tx, landing, r.lineageID(), r.opt.Now(), k[0], k[1])
		if err != nil {
			return err
		}
		if file == "" {
			continue
		}
		if err := state.Merge(ctx, tx, r.lineageID(), k[0], k[1], file, ObjectKind(k[0], k[1])); err != nil {
			return err
		}
		r.sum.Deleted[k[0]+"."+k[1]] += n
	}
	if _, err := tx.ExecContext(ctx, r.st.Stmt("MarkDeletionsLanded"), r.id); err != nil {
		return fmt.Errorf("mark deletions landed: %w", err)
	}
	return nil
}
