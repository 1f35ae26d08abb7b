package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/cli"
	"github.com/ferry-sync/ferry/internal/pipes"
	"github.com/ferry-sync/ferry/internal/testenv"
)

// TestRun_DagsterPipes: started by Dagster (its bootstrap variables, the
// file message channel), `ferry run` sends opened, a materialization per
// extracted object and per built model with typed metadata, an asset check
// per model test, and closed, each message in the protocol's shape. A run
// a failing test stops reports the failed check at ERROR severity, closes
// with the exception, and exits 1.
func TestRun_DagsterPipes(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(pipelinePath())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	testenv.WriteFile(t, dir, "account_tiers.sql", strings.Replace(tiersModel, "-- materialized: table\n", "-- materialized: table\n-- test: accepted_values(tier, 'gold')\n", 1))
	failing := testenv.WriteFile(t, dir, "failing.yaml", string(b)+"\nsyncs:\n"+accountTiersSync)
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 100})
	data := t.TempDir()
	run := func(pipeline string) (result, []testenv.PipesMessage) {
		t.Helper()
		msgs := filepath.Join(t.TempDir(), "messages")
		env := emu.Env(map[string]string{
			pipes.ContextEnv:  pipes.EncodeParam(map[string]any{"data": map[string]any{"run_id": "dagster-run", "retry_number": 0, "extras": map[string]any{}, "asset_keys": nil}}),
			pipes.MessagesEnv: pipes.EncodeParam(map[string]any{"path": msgs}),
		})
		r := ferry(t, env, "run", "--pipeline", pipeline, "--data-dir", data, "--log-level", "warn")
		b, err := os.ReadFile(msgs)
		if err != nil {
			t.Fatalf("no messages: %v (exit %d)\n%s", err, r.code, r.stderr)
		}
		parsed, err := testenv.ParsePipesMessages(string(b))
		if err != nil {
			t.Fatalf("messages break the protocol: %v\n%s", err, b)
		}
		return r, parsed
	}
	byKey := func(msgs []testenv.PipesMessage, method string) map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, m := range msgs {
			if m.Method == method {
				key := m.Params["asset_key"].(string)
				if method == "report_asset_check" {
					key += " " + m.Params["check_name"].(string)
				}
				out[key] = m.Params
			}
		}
		return out
	}
	rawInt := func(p map[string]any, field string) float64 {
		m, _ := p["metadata"].(map[string]any)[field].(map[string]any)
		if m["type"] != "int" {
			t.Errorf("%v: %s is not an int: %v", p["asset_key"], field, m)
		}
		v, _ := m["raw_value"].(float64)
		return v
	}

	r, msgs := run(pipelinePath())
	if r.code != cli.ExitOK {
		t.Fatalf("run under Dagster: exit %d\n%s", r.code, r.stderr)
	}
	mats := byKey(msgs, "report_asset_materialization")
	for _, key := range []string{"intercom/contacts", "salesforce/Lead", "warehouse/account_health", "warehouse/int_people_identity"} {
		p, ok := mats[key]
		if !ok {
			t.Errorf("no materialization of %s (got %d)", key, len(mats))
			continue
		}
		if rawInt(p, "rows") <= 0 {
			t.Errorf("%s: rows %v", key, p["metadata"])
		}
	}
	if md := mats["intercom/contacts"]["metadata"].(map[string]any); md["watermark"] == nil || md["requests"] == nil || md["seconds"] == nil {
		t.Errorf("intercom/contacts lacks watermark, requests or seconds: %v", md)
	}
	checks := byKey(msgs, "report_asset_check")
	if c := checks["warehouse/account_health unique_account_id"]; c == nil || c["passed"] != true || c["severity"] != "ERROR" {
		t.Errorf("account_health's unique check: %v", c)
	}
	if closed := msgs[len(msgs)-1]; len(closed.Params) != 0 {
		t.Errorf("a run that succeeded closed with %v", closed.Params)
	}

	r, msgs = run(failing)
	if r.code != cli.ExitFailure {
		t.Fatalf("run with a failing test under Dagster: exit %d, want %d", r.code, cli.ExitFailure)
	}
	c := byKey(msgs, "report_asset_check")["warehouse/account_tiers accepted_values_tier_gold"]
	if c == nil || c["passed"] != false || c["severity"] != "ERROR" || rawInt(c, "failures") <= 0 {
		t.Errorf("the failing test's check: %v", c)
	}
	if e, _ := msgs[len(msgs)-1].Params["exception"].(map[string]any); e == nil || !strings.Contains(e["message"].(string), "model tests failed") {
		t.Errorf("closed without the failure: %v", msgs[len(msgs)-1].Params)
	}
}
