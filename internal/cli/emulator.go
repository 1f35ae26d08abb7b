package cli

import (
	"context"

	"github.com/ferry-sync/ferry/emulator"
	"github.com/ferry-sync/ferry/emulator/intercom"
)

func emulatorCmd(ctx context.Context, e *env, args []string) error {
	var c emulator.Config
	fs := newFlagSet("emulator", "Serve local emulators of the Intercom and Salesforce APIs, seeded with a deterministic dataset,\nuntil interrupted. State lives under --dir and survives restarts. Prints the settings a pipeline needs.", e.stdout)
	fs.StringVar(&c.Dir, "dir", ".ferry-emulator", "state directory (seed parameters, journals, JWT key)")
	fs.StringVar(&c.IntercomAddr, "intercom-addr", "127.0.0.1:4010", "Intercom listen address")
	fs.StringVar(&c.SalesforceAddr, "salesforce-addr", "127.0.0.1:4020", "Salesforce listen address")
	fs.Int64Var(&c.Seed, "seed", 0, "dataset seed (default: the one --dir was created with, else 1)")
	fs.IntVar(&c.Scale, "scale", 0, "about this many Intercom contacts (default: as recorded in --dir, else 1000)")
	fs.DurationVar(&c.Latency, "latency", 0, "added latency per request")
	fs.Float64Var(&c.FailRate, "fail-rate", 0, "share of requests that fail: Intercom answers half of them 429, half 503; Salesforce answers 503, and fails that share of Bulk and Collections rows with UNABLE_TO_LOCK_ROW")
	fs.Float64Var(&c.LoseRate, "lose-rate", 0, "share of writes (creates, updates, Bulk uploads and job closes included) that are committed and whose response is lost: the connection is dropped, or a gateway answers 502 or 504")
	fs.IntVar(&c.RateLimit, "rate-limit", 0, "Intercom requests per 10-second window (default 1666)")
	fs.IntVar(&c.DailyLimit, "daily-limit", 0, "Salesforce DailyApiRequests (default 1,000,000)")
	fs.StringVar(&c.WebhookURL, "webhook-url", "", "deliver Intercom webhook notifications of the changes the API makes to this URL (e.g. ferry serve's http://127.0.0.1:8080/webhooks/intercom), signed with the emulated app's client secret "+intercom.ClientSecret)
	if err := parse(fs, args); err != nil {
		return err
	}
	if c.FailRate < 0 || c.FailRate > 1 {
		return &usageError{msg: "--fail-rate must be between 0 and 1"}
	}
	if c.LoseRate < 0 || c.LoseRate > 1 {
		return &usageError{msg: "--lose-rate must be between 0 and 1"}
	}
	return emulator.Serve(ctx, c, e.stdout)
}
