package cli

import (
	"context"

	"github.com/ferry-sync/ferry/internal/runner"
)

func loadCmd(ctx context.Context, e *env, args []string) error {
	var p pipelineFlags
	var output string
	fs := newFlagSet("load", "Write the outbound changes of the last built models to both systems.", e.stdout)
	p.register(fs)
	fs.StringVar(&output, "output", "text", "summary format on stdout: text or json")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkOutput(output); err != nil {
		return err
	}
	opt, err := p.options(e, "load")
	if err != nil {
		return err
	}
	sum, err := runner.Run(ctx, opt, runner.Load)
	printOutcome(e, sum, output)
	return err
}
