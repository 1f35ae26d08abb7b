package cli_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-sync/ferry/internal/runner"
	"github.com/ferry-sync/ferry/internal/testenv"
)

// oneTierModel gives one Account a tier: its sync costs one Collections
// call.
const oneTierModel = `-- materialized: table
-- description: The first Account's tier (a test fixture).
SELECT sf_id AS account_id, 'gold' AS tier
FROM stg_salesforce__accounts
WHERE NOT is_deleted
ORDER BY sf_id
LIMIT 1
`

// budgetSyncs: the tier is worth more than the follow-ups, which (three
// records past collections_max 2) cost a Bulk job.
const budgetSyncs = `
syncs:
  - name: follow_ups
    model: follow_ups.sql
    target: salesforce.Task
    operation: upsert
    key: { column: follow_up_key, field: Intercom_Conversation_Id__c }
    fields:
      - { column: subject, field: Subject }
    priority: 1
  - name: one_tier
    model: one_tier.sql
    target: salesforce.Account
    operation: update
    key: { column: account_id, field: Id }
    fields:
      - { column: tier, field: Tier__c, values: { gold: Strategic } }
    priority: 10
`

// TestRun_DailyBudgetDefers: ferry tallies its Salesforce calls across
// runs; a load that would pass the daily budget defers the lower-priority
// sync, writes the other, reports the deferral (summary, log, sync log,
// alert) and a later run with room writes what was deferred. A run whose
// extraction would pass the budget does not start.
func TestRun_DailyBudgetDefers(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(pipelinePath())
	if err != nil {
		t.Fatal(err)
	}
	base := strings.Replace(string(b), "collections_max: 200", "collections_max: 2", 1)
	if base == string(b) {
		t.Fatal("the example pipeline no longer sets collections_max: 200")
	}
	dir := t.TempDir()
	testenv.WriteFile(t, dir, "follow_ups.sql", followUpsModel)
	testenv.WriteFile(t, dir, "one_tier.sql", oneTierModel)
	hook := newAlertSink(t)
	withBudget := func(daily int) string {
		text := strings.Replace(base, "daily_calls: 20000", "daily_calls: "+strconv.Itoa(daily), 1) + budgetSyncs +
			"\nalerts:\n  webhook_url: " + hook.url + "\n"
		return testenv.WriteFile(t, dir, "pipeline.yaml", text)
	}
	plain := testenv.WriteFile(t, dir, "plain.yaml", base)
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 200})
	data := t.TempDir()
	cmd := func(pipeline, command string, args ...string) result {
		t.Helper()
		return ferry(t, emu.Env(nil), append([]string{command, "--pipeline", pipeline, "--data-dir", data, "--log-level", "warn"}, args...)...)
	}
	// ferry's own writes converge first; then the syncs' plan is built.
	mustRun(t, func(...string) result { return cmd(plain, "run") })
	p := withBudget(20000)
	mustRun(t, func(...string) result { return cmd(p, "extract") })
	mustRun(t, func(...string) result { return cmd(p, "transform") })
	used := atoi(stateRows(t, data, "SELECT sum(calls) FROM ferry.api_calls WHERE system = 'salesforce'")[0][0])
	if used == 0 {
		t.Fatal("no Salesforce calls were tallied")
	}

	// Room for the tier's one call and the load's own few, not for a Bulk
	// job of follow-ups.
	p = withBudget(used + 10)
	sf0 := emu.SFStats().WriteRequests
	res := cmd(p, "load", "--output", "json")
	if res.code != 0 {
		t.Fatalf("load: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	var sum runner.Summary
	if err := json.Unmarshal([]byte(res.stdout), &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, res.stdout)
	}
	if sum.Budget == nil || len(sum.Budget.Deferred) != 1 || sum.Budget.Deferred[0].Sync != "follow_ups" || sum.Budget.Deferred[0].Records != 3 {
		t.Fatalf("budget report %+v, want follow_ups (3 records) deferred\n%s", sum.Budget, res.stdout)
	}
	if sum.Budget.UsedBefore != used || sum.Budget.DailyCalls != used+10 {
		t.Errorf("budget report %+v: want %d calls used before, a budget of %d", sum.Budget, used, used+10)
	}
	if !strings.Contains(res.stderr, "sync deferred") || !strings.Contains(res.stderr, "follow_ups") {
		t.Errorf("the deferral was not logged:\n%s", res.stderr)
	}
	if tasks := emu.SOQL("SELECT Id FROM Task WHERE Intercom_Conversation_Id__c LIKE 'follow-up-%'"); len(tasks) != 0 {
		t.Errorf("the deferred sync wrote %d Tasks", len(tasks))
	}
	if got := emu.SOQL("SELECT Id FROM Account WHERE Tier__c = 'Strategic'"); len(got) != 1 {
		t.Errorf("the kept sync wrote %d tiers, want 1", len(got))
	}
	if n := emu.SFStats().WriteRequests - sf0; n != 1 {
		t.Errorf("%d Salesforce write requests, want the tier's 1", n)
	}
	logged := stateRows(t, data, "SELECT outcome, count(*) FROM ferry.sync_log WHERE run_id = $1 GROUP BY ALL ORDER BY ALL", sum.RunID)
	if len(logged) != 2 || logged[0][0] != "deferred" || logged[0][1] != "3" || logged[1][0] != "done" || logged[1][1] != "1" {
		t.Errorf("sync log of the load: %v, want 3 deferred and 1 done", logged)
	}
	alerts := hook.bodies()
	if len(alerts) != 1 || !strings.Contains(alerts[0].Text, "deferred") || !strings.Contains(alerts[0].Text, "follow_ups") || alerts[0].Status != "succeeded" {
		t.Errorf("alerts %+v, want one naming the deferred follow_ups", alerts)
	}
	spent := atoi(stateRows(t, data, "SELECT sum(calls) FROM ferry.api_calls WHERE run_id = $1", sum.RunID)[0][0])
	if spent == 0 || spent != sum.Requests["salesforce"] || used+spent > used+10 {
		t.Errorf("the load tallied %d calls (its summary says %d); the budget left it %d", spent, sum.Requests["salesforce"], 10)
	}

	// No room left even to extract: the run does not start.
	used = atoi(stateRows(t, data, "SELECT sum(calls) FROM ferry.api_calls WHERE system = 'salesforce'")[0][0])
	before := emu.SFStats().TotalRequests
	res = cmd(withBudget(used+3), "run")
	if res.code != 1 || !strings.Contains(res.stderr, "daily_calls") || !strings.Contains(res.stderr, "nothing was read") {
		t.Errorf("a run past the budget: exit %d, want 1 naming daily_calls\n%s", res.code, res.stderr)
	}
	if n := emu.SFStats().TotalRequests - before; n > 1 {
		t.Errorf("the refused run made %d Salesforce requests, want at most its sign-in", n)
	}

	// With room again, the deferred sync is written.
	mustRun(t, func(...string) result { return cmd(withBudget(0), "run") })
	if tasks := emu.SOQL("SELECT Id FROM Task WHERE Intercom_Conversation_Id__c LIKE 'follow-up-%'"); len(tasks) != 3 {
		t.Errorf("after the deferral, %d follow-up Tasks, want 3", len(tasks))
	}
	runWritesNothing(t, emu, func(...string) result { return cmd(withBudget(0), "run") })
}

// alertSink is a webhook that keeps what it is posted.
type alertSink struct {
	url string
	mu  sync.Mutex
	got []alertPost
}

type alertPost struct {
	Text   string `json:"text"`
	Status string `json:"status"`
}

func newAlertSink(t *testing.T) *alertSink {
	s := &alertSink{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p alertPost
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			t.Errorf("alert body: %v", err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.got = append(s.got, p)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func (s *alertSink) bodies() []alertPost {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}
