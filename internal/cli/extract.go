package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/ferry-sync/ferry/internal/datadir"
	"github.com/ferry-sync/ferry/internal/runner"
)

func extractCmd(ctx context.Context, e *env, args []string) error {
	var handOff bool
	opt, err := extractingCommand(e, "extract", "Pull the deltas of both systems into landing Parquet and advance the watermarks.\nBackfill one object with --object and --full-refresh or --since; other objects keep their watermarks.\n"+
		"With --hand-off, extract as one of several workers sharing the data dir: land the delta and hand it off,\nwithout the pipeline's lock; `ferry run --hand-offs` then merges every hand-off, transforms and loads.", args,
		func(fs *pflag.FlagSet) {
			fs.BoolVar(&handOff, "hand-off", false, "extract as a fan-out worker: from a private copy of the committed state, hand the delta off to the data dir instead of committing it (merged by `ferry run --hand-offs`)")
		})
	if err != nil {
		return err
	}
	if handOff {
		done, err := asWorker(ctx, &opt)
		if err != nil {
			return err
		}
		defer done()
	}
	sum, err := runner.Run(ctx, opt, runner.Extract)
	if sum != nil && err == nil {
		printSummary(e.stdout, sum, false)
	}
	return err
}

// asWorker makes opt an extraction worker's: its data dir becomes a
// private copy of the committed state (a temporary dir beside the local
// data dir; the worker's cache for one on object storage), and what it
// extracts is handed off to the shared data dir.
func asWorker(ctx context.Context, opt *runner.Options) (func(), error) {
	if opt.Remote != nil {
		r := opt.Remote
		opt.Remote, opt.HandOff = nil, r
		private, err := os.MkdirTemp(r.Cache, "worker-")
		if err != nil {
			return nil, err
		}
		if err := r.Snapshot(ctx, private); err != nil {
			os.RemoveAll(private)
			return nil, fmt.Errorf("copy the committed state: %w", err)
		}
		opt.DataDir = private
		return func() { os.RemoveAll(private) }, nil
	}
	shared := datadir.Local{Dir: opt.DataDir}
	if err := os.MkdirAll(filepath.Join(opt.DataDir, "tmp"), 0o755); err != nil {
		return nil, err
	}
	private, err := os.MkdirTemp(filepath.Join(opt.DataDir, "tmp"), "worker-")
	if err != nil {
		return nil, err
	}
	if err := shared.Snapshot(ctx, private); err != nil {
		os.RemoveAll(private)
		return nil, fmt.Errorf("refusing to start: %w", err)
	}
	opt.DataDir, opt.HandOff = private, shared
	return func() { os.RemoveAll(private) }, nil
}
