package runner

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ferry-sync/ferry/internal/config"
	"github.com/ferry-sync/ferry/internal/salesforceapi"
	"github.com/ferry-sync/ferry/load"
)

// The daily Salesforce budget (connections.salesforce.budget.daily_calls):
// ferry's calls over any rolling 24 hours, across runs, stay under it.
//
//   - Every run tallies its calls in ferry.api_calls: after its extraction,
//     and when it ends, whatever the outcome.
//   - Before extracting, a run forecasts what its extraction costs (the
//     most the last three extractions took, at least three calls per
//     object) and refuses to start when the 24 hours' tally and the
//     forecast pass the budget: nothing is read or written.
//   - Once the plan is read, the load's calls are forecast from it (one per
//     200 records through Collections, bulkJobCalls per Bulk job, and the
//     limits look when anything goes to Salesforce). When they would pass
//     what is left, syncs (declared and shipped) are deferred, the lowest
//     priority first (among equals the one declared last), until the rest
//     fits; then any deferred one that fits after all is given back,
//     highest priority first. ferry's own writes are never deferred: when
//     they alone do not fit, the run fails before any write (`ferry plan`
//     warns). A deferred sync is logged, listed in the summary and the sync
//     log, alerted on (alerts.on: deferred), and planned again by the next
//     run.

// bulkJobCalls is what a Bulk ingest job costs: create, upload, close,
// about four polls, and its results.
const bulkJobCalls = 9

// BudgetReport is the run's account of its Salesforce calls against the
// daily budget.
type BudgetReport struct {
	DailyCalls int `json:"daily_calls"`
	// UsedBefore is what other runs made in the 24 hours before this one.
	UsedBefore      int `json:"used_24h_before"`
	ExtractForecast int `json:"extract_forecast"`
	// LoadForecast is what the load's kept writes were forecast to cost;
	// Left is what the budget had left when the load was planned.
	LoadForecast int        `json:"load_forecast"`
	Left         int        `json:"left_for_load"`
	Deferred     []Deferral `json:"deferred,omitempty"`
}

// Deferral is a sync a run left for a later one.
type Deferral struct {
	Sync     string `json:"sync"`
	Priority int    `json:"priority"`
	Records  int    `json:"records"`
	Calls    int    `json:"calls"`
}

// budgetOn reports whether a daily budget applies, reading the 24 hours'
// tally the first time.
func (r *run) budgetOn(ctx context.Context) (bool, error) {
	daily := r.opt.Pipeline.Connections.Salesforce.Budget.Daily()
	if daily == 0 || r.sf == nil {
		return false, nil
	}
	if r.sum.Budget == nil {
		var used int
		if err := r.st.DB.QueryRowContext(ctx, r.st.Stmt("CallsSince"), "salesforce", r.opt.Now().UTC().Add(-24*time.Hour), r.id).Scan(&used); err != nil {
			return false, fmt.Errorf("daily budget: %w", err)
		}
		r.sum.Budget = &BudgetReport{DailyCalls: daily, UsedBefore: used}
	}
	return true, nil
}

// left is what the budget has left now.
func (r *run) left() int {
	return r.sum.Budget.DailyCalls - r.sum.Budget.UsedBefore - r.sf.Calls()
}

// checkExtractBudget refuses an extraction the budget cannot pay for.
func (r *run) checkExtractBudget(ctx context.Context, sfObjects int) error {
	if on, err := r.budgetOn(ctx); !on || err != nil || sfObjects == 0 {
		return err
	}
	var recent int
	if err := r.st.DB.QueryRowContext(ctx, r.st.Stmt("RecentExtractCalls"), "salesforce").Scan(&recent); err != nil {
		return fmt.Errorf("daily budget: %w", err)
	}
	b := r.sum.Budget
	b.ExtractForecast = max(recent, sfObjects*3)
	if left := r.left(); b.ExtractForecast > left {
		return fmt.Errorf("salesforce: %w: runs made %d Salesforce calls in the last 24 hours, the daily budget is %d (connections.salesforce.budget.daily_calls), and this run's extraction needs about %d; nothing was read or written, and calls come back as the 24 hours roll on",
			salesforceapi.ErrBudget, b.UsedBefore, b.DailyCalls, b.ExtractForecast)
	}
	return nil
}

// writeCalls forecasts the Salesforce calls of writing n records of one
// object.
func (r *run) writeCalls(n int) int {
	switch {
	case n == 0:
		return 0
	case n <= r.opt.Pipeline.Load.Salesforce.CollectionsMax:
		return (n + 199) / 200
	}
	return bulkJobCalls
}

// syncCalls forecasts the Salesforce calls of a sync's writes: its own,
// a write_back's, a read_back's.
func (r *run) syncCalls(s config.SyncSpec) int {
	src := syncSource(s)
	calls := 0
	if s.System() == "salesforce" {
		for _, obj := range r.plan.Objects(src) {
			calls += r.writeCalls(r.plan.Count(src, obj))
		}
		if s.ReadBack && calls > 0 {
			calls += 2 // the records read back after their upsert
		}
	}
	if s.WriteBack != nil {
		calls += r.writeCalls(r.plan.Count(src, "")) // the new ids, written back
	}
	return calls
}

// deferForBudget takes declared syncs out of the plan, lowest priority
// first, until the load's forecast fits what the daily budget has left.
// The syncs of ferry's own workflows (config.SyncSpec.Essential) are never
// deferred.
func (r *run) deferForBudget(ctx context.Context, loading bool) error {
	if on, err := r.budgetOn(ctx); !on || err != nil {
		return err
	}
	b := r.sum.Budget
	b.Left = r.left()
	total := 0
	type candidate struct {
		i    int
		src  load.Source
		cost int
	}
	var order []candidate
	for i, s := range r.opt.Pipeline.Syncs {
		if cost := r.syncCalls(s); cost > 0 {
			total += cost
			if !s.Essential { // ferry's own workflows are never deferred
				order = append(order, candidate{i, syncSource(s), cost})
			}
		}
	}
	syncs := r.opt.Pipeline.Syncs
	slices.SortFunc(order, func(a, b candidate) int {
		if c := cmp.Compare(syncs[a.i].Priority, syncs[b.i].Priority); c != 0 {
			return c
		}
		return cmp.Compare(b.i, a.i)
	})
	// need adds the load's look at the org's limits to writes that go to
	// Salesforce.
	need := func(writes int) int {
		if writes == 0 {
			return 0
		}
		return writes + 1
	}
	// Lowest priority first, until the rest fits; then, highest priority
	// first, what was set aside and fits after all (a cheap sync set aside
	// before a costly one of higher priority).
	deferred := 0
	for deferred < len(order) && need(total) > b.Left {
		total -= order[deferred].cost
		deferred++
	}
	kept := map[int]bool{}
	for k := deferred - 1; k >= 0; k-- {
		if need(total+order[k].cost) <= b.Left {
			total += order[k].cost
			kept[k] = true
		}
	}
	total = need(total)
	for k := range deferred {
		if kept[k] {
			continue
		}
		c := order[k]
		s := syncs[c.i]
		records := r.plan.Count(c.src, "")
		r.plan.Defer(c.src)
		b.Deferred = append(b.Deferred, Deferral{Sync: s.Name, Priority: s.Priority, Records: records, Calls: c.cost})
		r.log.Warn("sync deferred: the daily Salesforce API budget cannot pay for it this run; it is planned again next run",
			"sync", s.Name, "priority", s.Priority, "records", records, "calls", c.cost, "left", b.Left, "daily_calls", b.DailyCalls)
	}
	b.LoadForecast = total
	if total > b.Left && !loading {
		r.log.Warn("the load would need more Salesforce calls than the daily budget has left: `ferry run` would fail before writing", "calls", total, "left", b.Left)
		return nil
	}
	if total > b.Left {
		return fmt.Errorf("salesforce: %w: the load needs about %d calls for ferry's own writes, and the daily budget of %d (connections.salesforce.budget.daily_calls) has %d left after %d in the last 24 hours; nothing was written",
			salesforceapi.ErrBudget, total, b.DailyCalls, b.Left, b.UsedBefore+r.sf.Calls())
	}
	return nil
}

// tally appends the Salesforce calls made since the last tally, under
// stage.
func (r *run) tally(ctx context.Context, stage string) error {
	if r.sf == nil {
		return nil
	}
	n := r.sf.Calls()
	if n <= r.tallied {
		return nil
	}
	if _, err := r.st.DB.ExecContext(ctx, r.st.Stmt("TallyCalls"), r.id, "salesforce", stage, r.opt.Now().UTC(), n-r.tallied); err != nil {
		return fmt.Errorf("tally API calls: %w", err)
	}
	r.tallied = n
	return nil
}
