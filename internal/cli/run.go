package cli

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/ferry-sync/ferry/internal/datadir"
	"github.com/ferry-sync/ferry/internal/runner"
)

func runCmd(ctx context.Context, e *env, args []string) error {
	var output string
	var idle int
	var handOffs bool
	opt, err := extractingCommand(e, "run", "Extract deltas from both systems, build the models, and write the outbound changes to both systems.\nExit codes: 0 success, 1 failure (nothing committed), 2 usage or invalid pipeline, 3 some records rejected;\nwith --idle-exit-code N, N when the run succeeded and found nothing to do.", args,
		func(fs *pflag.FlagSet) {
			fs.StringVar(&output, "output", "text", "summary format on stdout: text or json")
			fs.BoolVar(&handOffs, "hand-offs", false, "extract nothing from the APIs: merge what `ferry extract --hand-off` workers handed off to the data dir, then transform and load")
			fs.IntVar(&idle, "idle-exit-code", 0, "exit with this code (e.g. 99, which Airflow's BashOperator takes as skipped) when the run succeeded, extracted no change and wrote nothing; 0 keeps such a run's exit 0")
		})
	if err == nil {
		err = checkOutput(output)
	}
	if err == nil && (idle < 0 || idle > 125 || idle >= 1 && idle <= 3) {
		err = &usageError{msg: "--idle-exit-code must be 0 (off) or from 4 to 125", hint: "1, 2 and 3 mean failure, usage and rejects"}
	}
	if err == nil && handOffs && (len(opt.Objects) > 0 || opt.FullRefresh || !opt.Since.IsZero() || opt.Sweep) {
		err = &usageError{msg: "--hand-offs extracts nothing itself: --object, --full-refresh, --since and --sweep belong to the `ferry extract --hand-off` workers"}
	}
	if err != nil {
		return err
	}
	if handOffs {
		opt.FromHandOffs = datadir.Local{Dir: opt.DataDir}
		if opt.Remote != nil {
			opt.FromHandOffs = opt.Remote
		}
	}
	sum, err := runner.Run(ctx, opt, runner.Extract|runner.Transform|runner.Load)
	printOutcome(e, sum, output)
	if err == nil && idle != 0 && sum.Idle() {
		return &idleError{code: idle}
	}
	return err
}

// idleError ends a run that found nothing to do with the code the user
// chose (--idle-exit-code).
type idleError struct{ code int }

func (e *idleError) Error() string { return "nothing to do" }

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
