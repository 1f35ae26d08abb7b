package cli_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-sync/ferry/internal/testenv"
)

// TestRun_Alerts: a run that fails posts a JSON summary (Slack's text
// field, the run id, the status and the error) to alerts.webhook_url,
// retried when the webhook answers 500; a run that succeeds posts nothing;
// an unreachable webhook changes nothing about the run's outcome.
func TestRun_Alerts(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var bodies []map[string]any
	calls := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.WriteHeader(500) // the first delivery fails, and is retried
			return
		}
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		bodies = append(bodies, m)
	}))
	defer hook.Close()
	base, err := os.ReadFile(pipelinePath())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	alerts := "\nalerts:\n  webhook_url: " + hook.URL + "\n"
	good := testenv.WriteFile(t, dir, "good.yaml", string(base)+alerts)
	// A sync whose model lacks its key column fails the run after extract.
	testenv.WriteFile(t, dir, "tiers.sql", "-- materialized: table\nSELECT sf_id AS account_id, 'x' AS tier FROM stg_salesforce__accounts\n")
	bad := testenv.WriteFile(t, dir, "bad.yaml", string(base)+alerts+`
syncs:
  - name: tiers
    model: tiers.sql
    target: salesforce.Account
    operation: update
    key: { column: acct, field: Id }
    fields:
      - { column: tier, field: Description }
`)
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 100})
	data := t.TempDir()
	run := func(p string) result {
		return ferry(t, emu.Env(nil), "run", "--pipeline", p, "--data-dir", data, "--log-level", "warn")
	}
	mustRun(t, func(...string) result { return run(good) })
	mu.Lock()
	if calls != 0 {
		t.Fatalf("a run that succeeded posted %d alerts", calls)
	}
	mu.Unlock()
	res := run(bad)
	if res.code != 2 {
		t.Fatalf("the bad run exited %d, want 2 (a bad pipeline file)\n%s", res.code, res.stderr)
	}
	mu.Lock()
	if calls != 2 || len(bodies) != 1 {
		t.Fatalf("%d deliveries (%d bodies), want the failed one and its retry", calls, len(bodies))
	}
	b := bodies[0]
	mu.Unlock()
	text, _ := b["text"].(string)
	if b["status"] != "failed" || b["exit_code"] != 2.0 || !strings.Contains(text, "failed") || !strings.Contains(text, b["run_id"].(string)) ||
		!strings.Contains(b["error"].(string), "has no column acct") {
		t.Fatalf("alert body: %v", b)
	}
	// An unreachable webhook: the run's outcome is its own.
	hook.Close()
	if res := run(bad); res.code != 2 || !strings.Contains(res.stderr, "has no column acct") {
		t.Fatalf("with the webhook down, the bad run exited %d\n%s", res.code, res.stderr)
	}
}
