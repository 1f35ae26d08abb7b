package cli

import (
	"context"

	"github.com/ferry-sync/ferry/internal/runner"
)

func extractCmd(ctx context.Context, e *env, args []string) error {
	var p pipelineFlags
	var x extractFlags
	fs := newFlagSet("extract", "Pull the deltas of both systems into landing Parquet and advance the watermarks.\nBackfill one object with --object and --full-refresh or --since; other objects keep their watermarks.", e.stdout)
	p.register(fs)
	x.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := x.check(); err != nil {
		return err
	}
	opt, err := p.options(e, "extract")
	if err != nil {
		return err
	}
	x.apply(&opt)
	sum, err := runner.Run(ctx, opt, runner.Extract)
	if sum != nil && err == nil {
		printSummary(e.stdout, sum, false)
	}
	return err
}
