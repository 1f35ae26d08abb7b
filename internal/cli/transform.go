package cli

import (
	"context"
	"fmt"

	"github.com/ferry-sync/ferry/internal/runner"
)

func transformCmd(ctx context.Context, e *env, args []string) error {
	var p pipelineFlags
	fs := newFlagSet("transform", "Build every SQL model from current state in the DuckDB warehouse (<data-dir>/warehouse.duckdb).\nModels whose inputs have not changed since the last build are kept; --rebuild-models builds them anyway.", e.stdout)
	p.register(fs)
	p.registerRebuild(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	opt, err := p.options(e, "transform")
	if err != nil {
		return err
	}
	if _, err := runner.Run(ctx, opt, runner.Transform); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "models built")
	return nil
}
