// Command ferry keeps Intercom and Salesforce in sync.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ferry-sync/ferry/internal/cli"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process at once
	}()
	cli.Version = version
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	if ctx.Err() != nil && code == cli.ExitFailure {
		fmt.Fprintln(os.Stderr, "ferry: interrupted; state was not committed, the next run resumes")
	}
	os.Exit(code)
}
