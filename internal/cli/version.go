package cli

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

func versionCmd(_ context.Context, e *env, args []string) error {
	fs := newFlagSet("version", "Print ferry's version.", e.stdout)
	if err := parse(fs, args); err != nil {
		return err
	}
	v := Version
	if v == "dev" {
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	fmt.Fprintf(e.stdout, "ferry %s (%s)\n", v, runtime.Version())
	return nil
}
