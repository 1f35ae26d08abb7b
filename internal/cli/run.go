package cli

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/ferry-sync/ferry/internal/runner"
)

func runCmd(ctx context.Context, e *env, args []string) error {
	var output string
	opt, err := extractingCommand(e, "run", "Extract deltas from both systems, build the models, and write the outbound changes to both systems.\nExit codes: 0 success, 1 failure (nothing committed), 2 usage or invalid pipeline, 3 some records rejected.", args,
		func(fs *pflag.FlagSet) {
			fs.StringVar(&output, "output", "text", "summary format on stdout: text or json")
		})
	if err == nil {
		err = checkOutput(output)
	}
	if err != nil {
		return err
	}
	sum, err := runner.Run(ctx, opt, runner.Extract|runner.Transform|runner.Load)
	printOutcome(e, sum, output)
	return err
}

// printOutcome writes what a run that loads did, in the format asked for.
func printOutcome(e *env, sum *runner.Summary, output string) {
	switch {
	case sum == nil:
	case output == "json":
		writeJSON(e.stdout, sum)
	default:
		printSummary(e.stdout, sum, false)
	}
}
