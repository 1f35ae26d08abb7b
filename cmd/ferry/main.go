// Command ferry keeps Intercom and Salesforce in sync.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"github.com/ferry-sync/ferry/internal/cli"
)

var version = "dev"

// goMemoryLimit is Go's soft memory limit unless GOMEMLIMIT sets one.
const goMemoryLimit = 320 << 20

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process at once
	}()
	cli.Version = version
	if os.Getenv("GOMEMLIMIT") == "" {
		// Go's share of a run's memory budget, beside DuckDB's
		// transform.memory_limit: past it the collector runs sooner rather
		// than letting the heap double (GOGC) on a load's chunk garbage.
		// A soft limit: a larger live heap still runs, with more GC.
		debug.SetMemoryLimit(goMemoryLimit)
	}
	stopProfile := profile(os.Getenv("FERRY_CPUPROFILE"))
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stopProfile()
	if ctx.Err() != nil && code == cli.ExitFailure {
		fmt.Fprintln(os.Stderr, "ferry: interrupted; state was not committed, the next run resumes")
	}
	os.Exit(code)
}

// profile writes a CPU profile of the whole command to path, when set (for
// `go tool pprof`; make bench uses it to find where a run's time goes).
func profile(path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferry: FERRY_CPUPROFILE:", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
