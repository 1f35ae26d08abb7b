package runner

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/internal/pipes"
	"github.com/ferry-sync/ferry/internal/state"
)

// When ferry runs under Dagster (Options.Pipes), a run reports, after it
// finishes, an asset materialization per object it extracted
// (<system>/<object>: rows landed, requests, the new watermark, how long it
// took) and per model it built (warehouse/<model>: rows, build time), and
// an asset check per model test (warehouse/<model>, check <test>): at ERROR
// severity on a model a sync reads (its failure stopped the load), WARN on
// the others. Keys Dagster did not ask for are left out.

// AssetKey names the Dagster asset of an extracted object or a model.
func AssetKey(system, object string) string {
	if system == "" {
		return "warehouse/" + object
	}
	return system + "/" + object
}

var checkNameRe = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// CheckName turns a test's name (unique(account_id)) into a Dagster check
// name (unique_account_id).
func CheckName(test string) string {
	return strings.Trim(checkNameRe.ReplaceAllString(test, "_"), "_")
}

func (r *run) reportPipes(ctx context.Context) {
	ps := r.opt.Pipes
	if ps == nil {
		return
	}
	for _, res := range r.results {
		md := map[string]pipes.Meta{
			"rows":     pipes.Int(res.Rows),
			"requests": pipes.Int(int64(res.Requests)),
			"seconds":  pipes.Float(res.Elapsed.Seconds()),
		}
		if !res.Max.TS.IsZero() {
			md["watermark"] = pipes.Text(res.Max.TS.UTC().Format(time.RFC3339Nano))
		}
		ps.Materialize(AssetKey(res.System, res.Object), md)
	}
	names := make([]string, 0, len(r.modelDur))
	for n := range r.modelDur {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		key := AssetKey("", n)
		if !ps.Wanted(key) {
			continue
		}
		md := map[string]pipes.Meta{"seconds": pipes.Float(r.modelDur[n].Seconds())}
		var rows int64
		if err := r.st.DB.QueryRowContext(ctx, "SELECT count(*) FROM main."+state.QuoteIdent(n)).Scan(&rows); err == nil {
			md["rows"] = pipes.Int(rows)
		}
		ps.Materialize(key, md)
	}
	for _, t := range r.sum.Tests {
		severity := "WARN"
		if _, ok := r.feeds[t.Model]; ok {
			severity = "ERROR"
		}
		md := map[string]pipes.Meta{"failures": pipes.Int(t.Failures), "declared_at": pipes.Text(t.At), "test": pipes.Text(t.Name)}
		if len(t.Sample) > 0 {
			md["sample"] = pipes.Text(strings.Join(t.Sample, "\n"))
		}
		ps.Check(AssetKey("", t.Model), CheckName(t.Name), t.Failures == 0, severity, md)
	}
	if err := ps.Err(); err != nil {
		r.log.Warn("dagster pipes: messages not written", "err", fmt.Sprint(err))
	}
}
