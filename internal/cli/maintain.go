package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ferry-sync/ferry/internal/config"
	"github.com/ferry-sync/ferry/internal/datadir"
	"github.com/ferry-sync/ferry/internal/runner"
	"github.com/ferry-sync/ferry/internal/state"
)

// maintenance opens a data dir for a command that rewrites landing files
// or current state: it takes the data dir's lock, so no run is under way,
// and holds DuckDB to the pipeline's transform.memory_limit as runs do. On
// object storage every landing file comes down first; done(commit) closes
// the state and, on object storage, saves it when commit is set.
func maintenance(ctx context.Context, command, dir string, remote *datadir.Remote, memoryLimit string, wait time.Duration) (*state.Store, func(commit bool) error, error) {
	ctx, release, err := claim(ctx, dir, remote, command, wait)
	if err != nil {
		return nil, nil, fmt.Errorf("refusing to start: %w", err)
	}
	if remote != nil {
		if err := remote.RestoreLanding(ctx); err != nil {
			release(false)
			return nil, nil, err
		}
	}
	st, err := state.Open(ctx, dir)
	if err != nil {
		release(false)
		return nil, nil, err
	}
	if err := st.LimitMemory(ctx, dir, memoryLimit); err != nil {
		st.Close()
		release(false)
		return nil, nil, err
	}
	return st, func(commit bool) error {
		if err := st.Close(); err != nil {
			release(false)
			return err
		}
		return release(commit)
	}, nil
}

func compactCmd(ctx context.Context, e *env, args []string) error {
	var p pipelineFlags
	var olderThan time.Duration
	var all bool
	fs := newFlagSet("compact", "Fold the landing files of runs older than landing.compact_after (or --older-than) into one file per\n"+
		"object that keeps the current version of each record, and remove them. Current state (raw.*) is unchanged,\n"+
		"and `ferry rebuild` from what remains gives the same state. Schedule it daily next to `ferry run`.", e.stdout)
	p.register(fs)
	fs.DurationVar(&olderThan, "older-than", 0, "compact runs older than this (default: landing.compact_after of the pipeline, 168h)")
	fs.BoolVar(&all, "all", false, "compact every landing file, whatever its age")
	if err := parse(fs, args); err != nil {
		return err
	}
	opt, err := p.options(e, "compact")
	if err != nil {
		return err
	}
	if olderThan == 0 {
		olderThan = opt.Pipeline.Landing.CompactAfter.Duration
	}
	cutoff := time.Now().Add(-olderThan)
	if all {
		cutoff = time.Now().Add(time.Hour)
	}
	// Landing files a worker handed off are not current state until a
	// merge: compacting them away would lose them.
	var handOffs datadir.HandOffs = datadir.Local{Dir: opt.DataDir}
	if opt.Remote != nil {
		handOffs = opt.Remote
	}
	if n, err := handOffs.Pending(ctx); err != nil || n > 0 {
		return fmt.Errorf("refusing to compact: %d extraction hand-offs are not merged yet (run `ferry run --hand-offs` first)%s", n, errSuffix(err))
	}
	st, done, err := maintenance(ctx, "compact", opt.DataDir, opt.Remote, opt.Pipeline.Transform.MemoryLimit, opt.LockWait)
	if err != nil {
		return err
	}
	res, err := st.Compact(ctx, filepath.Join(opt.DataDir, "landing"), cutoff, runner.ObjectKind)
	if err := errors.Join(err, done(err == nil)); err != nil {
		return err
	}
	if len(res) == 0 {
		fmt.Fprintf(e.stdout, "nothing to compact: no object has two or more landing files from before %s\n", cutoff.UTC().Format(time.RFC3339))
		return nil
	}
	for _, r := range res {
		fmt.Fprintf(e.stdout, "%s.%s: %d landing files -> 1 (%d records)\n", r.System, r.Object, r.Files, r.Rows)
	}
	return nil
}

func rebuildCmd(ctx context.Context, e *env, args []string) error {
	var p pipelineFlags
	fs := newFlagSet("rebuild", "Recreate the current state of every object (the raw.* tables models read) from the landing files\n"+
		"that remain, in one transaction. Watermarks are kept: the next run extracts as usual.", e.stdout)
	p.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	// Recovery must not depend on a pipeline file: without one, DuckDB
	// gets the default limit.
	limit := config.DefaultMemoryLimit
	if opt, err := p.options(e, "rebuild"); err == nil {
		limit = opt.Pipeline.Transform.MemoryLimit
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	dir, remote, err := p.dir(e)
	if err != nil {
		return err
	}
	st, done, err := maintenance(ctx, "rebuild", dir, remote, limit, p.lockWait)
	if err != nil {
		return err
	}
	err = rebuild(ctx, e, st, dir)
	return errors.Join(err, done(err == nil))
}

func rebuild(ctx context.Context, e *env, st *state.Store, dir string) error {
	objs, err := st.Rebuild(ctx, filepath.Join(dir, "landing"), runner.ObjectKind)
	if err != nil {
		return err
	}
	for _, o := range objs {
		var n int64
		if err := st.DB.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) FROM raw."%s"`, runner.TableName(o))).Scan(&n); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s: %d records\n", o, n)
	}
	return nil
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}
