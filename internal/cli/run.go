package cli

import (
	"context"

	"github.com/ferry-sync/ferry/internal/runner"
)

func runCmd(ctx context.Context, e *env, args []string) error {
	var p pipelineFlags
	var x extractFlags
	fs := newFlagSet("run", "Extract deltas from both systems, build the models, and write the outbound changes to both systems.\nExit codes: 0 success, 1 failure (nothing committed), 2 usage or invalid pipeline, 3 some records rejected.", e.stdout)
	p.register(fs)
	x.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := x.check(); err != nil {
		return err
	}
	opt, err := p.options(e, "run")
	if err != nil {
		return err
	}
	x.apply(&opt)
	sum, err := runner.Run(ctx, opt, runner.Extract|runner.Transform|runner.Load)
	if sum != nil {
		printSummary(e.stdout, sum, false)
	}
	return err
}
