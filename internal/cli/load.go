package cli

import (
	"context"

	"github.com/ferry-sync/ferry/internal/runner"
)

func loadCmd(ctx context.Context, e *env, args []string) error {
	var p pipelineFlags
	fs := newFlagSet("load", "Write the outbound changes of the last built models to both systems.", e.stdout)
	p.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	opt, err := p.options(e, "load")
	if err != nil {
		return err
	}
	sum, err := runner.Run(ctx, opt, runner.Load)
	if sum != nil {
		printSummary(e.stdout, sum, false)
	}
	return err
}
