package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/ferry-sync/ferry/internal/runner"
	"github.com/ferry-sync/ferry/transform"
)

func planCmd(ctx context.Context, e *env, args []string) error {
	var output string
	opt, err := extractingCommand(e, "plan", "Extract and transform, then print what `ferry run` would write to each system, without writing anything.", args,
		func(fs *pflag.FlagSet) { fs.StringVar(&output, "output", "text", "text or json") })
	if err == nil {
		err = checkOutput(output)
	}
	if err != nil {
		return err
	}
	sum, err := runner.Run(ctx, opt, runner.Extract|runner.Transform|runner.Plan)
	if err != nil {
		return err
	}
	if output == "json" {
		return writeJSON(e.stdout, sum)
	}
	printSummary(e.stdout, sum, true)
	return nil
}

// printTests prints how many model tests passed, and each failure with its
// sample rows.
func printTests(w io.Writer, results []transform.TestResult) {
	if len(results) == 0 {
		return
	}
	failed := 0
	for _, r := range results {
		if r.Failures > 0 {
			failed++
		}
	}
	fmt.Fprintf(w, "model tests: %d passed, %d failed\n", len(results)-failed, failed)
	for _, r := range results {
		if r.Failures == 0 {
			continue
		}
		fmt.Fprintf(w, "  FAIL %s %s (%s): %d rows\n", r.Model, r.Name, r.At, r.Failures)
		for _, row := range r.Sample {
			fmt.Fprintf(w, "       %s\n", row)
		}
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printSummary writes a run's outcome for people.
func printSummary(w io.Writer, s *runner.Summary, plan bool) {
	fmt.Fprintf(w, "run %s\n", s.RunID)
	if len(s.Extracted) > 0 {
		fmt.Fprintln(w, "extracted:")
		for _, k := range keys(s.Extracted) {
			fmt.Fprintf(w, "  %-34s %8d rows", k, s.Extracted[k])
			if n := s.Unchanged[k]; n > 0 {
				fmt.Fprintf(w, " (and %d read again, already current)", n)
			}
			fmt.Fprintln(w)
		}
	}
	if len(s.Skipped) > 0 {
		fmt.Fprintf(w, "skipped (not due, see extract.<system>.<object>.every): %s\n", strings.Join(s.Skipped, ", "))
	}
	for _, u := range s.DeletesUnchecked {
		fmt.Fprintf(w, "deletes not looked for (due again next run): %s\n", u)
	}
	if len(s.Deleted) > 0 {
		fmt.Fprintln(w, "deleted (found by a sweep, the delete log or a write; listed in ferry.deletions):")
		for _, k := range keys(s.Deleted) {
			fmt.Fprintf(w, "  %-34s %8d records\n", k, s.Deleted[k])
		}
	}
	if len(s.ModelsChanged) > 0 {
		fmt.Fprintf(w, "models whose SQL changed since the last build: %s\n", strings.Join(s.ModelsChanged, ", "))
	}
	printTests(w, s.Tests)
	if len(s.Identity) > 0 {
		fmt.Fprintln(w, "identity:")
		for _, k := range keys(s.Identity) {
			fmt.Fprintf(w, "  %-48s %8d\n", k, s.Identity[k])
		}
	}
	if plan {
		fmt.Fprintln(w, "plan (nothing was written):")
		if len(s.Planned) == 0 {
			fmt.Fprintln(w, "  no changes: both systems agree")
		}
		for _, l := range s.Planned {
			fields := make([]string, 0, len(l.Fields))
			for _, f := range keys(l.Fields) {
				fields = append(fields, fmt.Sprintf("%s=%d", f, l.Fields[f]))
			}
			sync := "  (sync " + l.Sync + ")"
			if l.Deferred {
				sync += "  DEFERRED: daily API budget"
			}
			split := ""
			if l.Creates+l.Updates == l.Records {
				split = fmt.Sprintf(" (%d new, %d held)", l.Creates, l.Updates)
			}
			fmt.Fprintf(w, "  %-10s %-9s %-7s %7d records%s  fields: %s%s\n", l.Target, l.Object, l.Op, l.Records, split, strings.Join(fields, " "), sync)
		}
	} else {
		fmt.Fprintln(w, "written:")
		if len(s.Written) == 0 {
			fmt.Fprintln(w, "  nothing: both systems agree")
		}
		for _, k := range keys(s.Written) {
			fmt.Fprintf(w, "  %-32s %8d\n", k, s.Written[k])
		}
		if s.Rejects > 0 {
			fmt.Fprintf(w, "rejected: %d (see %s)\n", s.Rejects, s.Files["rejects"])
		}
		if s.Gone > 0 {
			fmt.Fprintf(w, "gone: %d records were deleted, archived or merged before they could be written; the next extraction records them as deleted\n", s.Gone)
		}
	}
	if ev := s.Events; ev != nil {
		every := "each run"
		if ev.Every != "" {
			every = "every " + ev.Every
		}
		fmt.Fprintf(w, "intercom events (workflows.onboarding_milestones): read for the %d people of Accounts in onboarding, a request each, %s\n", ev.People, every)
	}
	if s.Ambiguous > 0 {
		fmt.Fprintf(w, "ambiguous matches: %d, listed in table identity_ambiguous; none were merged\n", s.Ambiguous)
	}
	if len(s.Requests) > 0 {
		fmt.Fprintf(w, "api requests: intercom %d, salesforce %d\n", s.Requests["intercom"], s.Requests["salesforce"])
	}
	if b := s.Budget; b != nil {
		fmt.Fprintf(w, "salesforce daily budget: %d calls; %d made by runs in the 24 hours before this one; forecast: extraction %d", b.DailyCalls, b.UsedBefore, b.ExtractForecast)
		if b.Left > 0 || b.LoadForecast > 0 {
			fmt.Fprintf(w, ", load %d (%d left for it)", b.LoadForecast, b.Left)
		}
		fmt.Fprintln(w)
		for _, d := range b.Deferred {
			verb := "deferred"
			if plan {
				verb = "would be deferred"
			}
			fmt.Fprintf(w, "  %s: sync %s (priority %d, %d records, about %d calls); planned again next run\n", verb, d.Sync, d.Priority, d.Records, d.Calls)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
