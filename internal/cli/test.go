package cli

import (
	"context"
	"fmt"

	"github.com/ferry-sync/ferry/internal/runner"
)

// testCmd runs the model tests against the models the last transform
// built, without building or writing anything.
func testCmd(ctx context.Context, e *env, args []string) error {
	var p pipelineFlags
	var output string
	fs := newFlagSet("test", "Run the model tests (-- test: headers, and tests/*.sql beside the models) against the models the last `ferry transform` built.\nExits 1 when a test fails, naming the model, the test, its line and a sample of the failing rows.", e.stdout)
	p.register(fs)
	fs.StringVar(&output, "output", "text", "text or json")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkOutput(output); err != nil {
		return err
	}
	opt, err := p.options(e, "test")
	if err != nil {
		return err
	}
	sum, err := runner.Run(ctx, opt, runner.Test)
	if err != nil {
		return err
	}
	if output == "json" {
		if err := writeJSON(e.stdout, sum.Tests); err != nil {
			return err
		}
	} else {
		printTests(e.stdout, sum.Tests)
		if len(sum.Tests) == 0 {
			fmt.Fprintln(e.stdout, "no model tests")
		}
	}
	failed := 0
	for _, r := range sum.Tests {
		if r.Failures > 0 {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d model tests failed", failed, len(sum.Tests))
	}
	return nil
}
