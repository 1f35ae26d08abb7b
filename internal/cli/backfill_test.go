package cli_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/cli"
	"github.com/ferry-sync/ferry/internal/testenv"
	"github.com/ferry-sync/ferry/models"
)

// TestExtract_BackfillOneObject: a full refresh of one object re-reads all
// of it and leaves the other objects' watermarks alone.
func TestExtract_BackfillOneObject(t *testing.T) {
	t.Parallel()
	emu, _, run := setup(t, 200)
	mustRun(t, run)
	before := mustRun(t, run, "status").stdout
	res := mustRun(t, run, "extract", "--object", "salesforce.Lead", "--full-refresh")
	leads := len(emu.SOQL("SELECT Id FROM Lead"))
	if !strings.Contains(res.stdout, "salesforce.Lead") || strings.Contains(res.stdout, "intercom.contacts") {
		t.Fatalf("extracted other objects:\n%s", res.stdout)
	}
	var n int
	for _, l := range strings.Split(res.stdout, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "salesforce.Lead" {
			n = atoi(f[1])
		}
	}
	if n < leads {
		t.Fatalf("full refresh extracted %d Leads of %d", n, leads)
	}
	after := mustRun(t, run, "status").stdout
	for _, obj := range []string{"intercom   contacts ", "salesforce Contact ", "salesforce Account "} {
		if line(before, obj) != line(after, obj) {
			t.Errorf("watermark of %s moved:\nbefore %s\nafter  %s", obj, line(before, obj), line(after, obj))
		}
	}
	if r := run("extract", "--since", "2025-02-01", "--full-refresh"); r.code != cli.ExitUsage {
		t.Errorf("--since with --full-refresh: exit %d", r.code)
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func line(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, prefix) {
			return strings.Join(strings.Fields(l)[:4], " ")
		}
	}
	return ""
}

// TestRun_BrokenModelStopsBeforeWriting: an analyst's broken model fails
// the run with the model's file and DuckDB's message; nothing is written.
func TestRun_BrokenModelStopsBeforeWriting(t *testing.T) {
	t.Parallel()
	emu, _, run := setup(t, 100)
	dir := t.TempDir()
	if err := os.CopyFS(dir, models.FS); err != nil {
		t.Fatal(err)
	}
	testenv.WriteFile(t, dir, "marts/finance_view.sql", "-- materialized: view\nSELECT intercom_id, no_such_column FROM int_people_identity\n")
	r := run("run", "--models-dir", dir)
	if r.code != cli.ExitFailure {
		t.Fatalf("exit %d, want %d\n%s", r.code, cli.ExitFailure, r.stderr)
	}
	if want := filepath.Join(dir, "marts", "finance_view.sql"); !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "no_such_column") {
		t.Fatalf("stderr does not name %s and the bad column:\n%s", want, r.stderr)
	}
	if ic, sf := emu.ICStats().WriteRequests, emu.SFStats().WriteRequests; ic+sf != 0 {
		t.Fatalf("a failed transform still wrote: intercom %d, salesforce %d", ic, sf)
	}
	// The analyst fixes the model; the next run uses it.
	testenv.WriteFile(t, dir, "marts/finance_view.sql", "-- materialized: view\nSELECT intercom_id, sf_id FROM int_people_identity\n")
	mustRun(t, run, "run", "--models-dir", dir)
	if code, _ := emu.ICDo(http.MethodGet, "/me", nil); code != 200 {
		t.Fatal("emulator down")
	}
}

// TestTransform_NeedsNoSecrets: an analyst rebuilds models from landed data
// without API credentials in the environment.
func TestTransform_NeedsNoSecrets(t *testing.T) {
	t.Parallel()
	_, dir, run := setup(t, 100)
	mustRun(t, run, "extract")
	r := ferry(t, func(string) string { return "" }, "transform", "--pipeline", pipelinePath(), "--data-dir", dir)
	if r.code != 0 {
		t.Fatalf("transform without secrets: exit %d\n%s", r.code, r.stderr)
	}
	if r := ferry(t, func(string) string { return "" }, "run", "--pipeline", pipelinePath(), "--data-dir", dir); r.code != cli.ExitUsage {
		t.Fatalf("run without secrets: exit %d, want %d", r.code, cli.ExitUsage)
	}
}
