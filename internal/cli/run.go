package cli

import (
	"context"

	"github.com/ferry-sync/ferry/internal/runner"
)

func runCmd(ctx context.Context, e *env, args []string) error {
	var p pipelineFlags
	var x extractFlags
	fs := newFlagSet("run", "Extract deltas from both systems, build the models, and write the outbound changes to both systems.\nExit codes: 0 success, 1 failure (nothing committed), 2 usage or invalid pipeline, 3 some records rejected.", e.stdout)
	var output string
	p.register(fs)
	x.register(fs)
	fs.StringVar(&output, "output", "text", "summary format on stdout: text or json")
	if err := parse(fs, args); err != nil {
		return err
	}
	if output != "text" && output != "json" {
		return &usageError{msg: "invalid --output " + output, hint: "use text or json"}
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
		if output == "json" {
			writeJSON(e.stdout, sum)
		} else {
			printSummary(e.stdout, sum, false)
		}
	}
	return err
}
