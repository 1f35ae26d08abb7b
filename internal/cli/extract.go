package cli

import (
	"context"

	"github.com/ferry-sync/ferry/internal/runner"
)

func extractCmd(ctx context.Context, e *env, args []string) error {
	opt, err := extractingCommand(e, "extract", "Pull the deltas of both systems into landing Parquet and advance the watermarks.\nBackfill one object with --object and --full-refresh or --since; other objects keep their watermarks.", args, nil)
	if err != nil {
		return err
	}
	sum, err := runner.Run(ctx, opt, runner.Extract)
	if sum != nil && err == nil {
		printSummary(e.stdout, sum, false)
	}
	return err
}
