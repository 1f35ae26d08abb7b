package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/ferry-sync/ferry/internal/runner"
)

func transformCmd(ctx context.Context, e *env, args []string) error {
	var p pipelineFlags
	fs := newFlagSet("transform", "Build every SQL model from current state in the DuckDB warehouse (<data-dir>/warehouse.duckdb).\nModels whose inputs have not changed since the last build are kept; --rebuild-models builds them anyway.\n--select builds only the models it names, in full, keeping the others as built (e.g. --select account_health+ for a model and what depends on it).", e.stdout)
	p.register(fs)
	p.registerRebuild(fs)
	p.registerSelect(fs, "build only these models")
	if err := parse(fs, args); err != nil {
		return err
	}
	if p.selection != "" && p.rebuildModels {
		return &usageError{msg: "--select and --rebuild-models do not go together", hint: "--select builds what it names in full already"}
	}
	opt, err := p.options(e, "transform")
	if err != nil {
		return err
	}
	if _, err := runner.Run(ctx, opt, runner.Transform); err != nil {
		if errors.Is(err, runner.ErrSelect) {
			return &usageError{msg: err.Error(), hint: "ferry models lists them"}
		}
		return err
	}
	fmt.Fprintln(e.stdout, "models built")
	return nil
}
