package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-sync/ferry/internal/config"
	"github.com/ferry-sync/ferry/internal/objstore"
	"github.com/ferry-sync/ferry/internal/testenv"
)

// systemObjects is --object for every object of one system.
func systemObjects(system string) string {
	names := config.IntercomObjects
	if system == "salesforce" {
		names = config.SalesforceObjects
	}
	var out []string
	for _, n := range names {
		out = append(out, system+"."+n)
	}
	return strings.Join(out, ",")
}

// TestRun_FannedOutExtraction: two extraction workers, one per system, run
// at once on one data dir (local, then on object storage), each handing
// off what it landed; one `ferry run --hand-offs` merges both, transforms
// and loads. Both systems end as an uninterrupted `ferry run` leaves them;
// a second round changes nothing; a manifest merged already (a merge that
// stopped before deleting it) is not merged again.
func TestRun_FannedOutExtraction(t *testing.T) {
	t.Parallel()
	const scale = 250
	pipeline := smallBatchPipeline(t)
	state, _ := cleanEndState(t, scale, pipeline)
	want := sortedLines(state)
	s := testenv.StartS3(t)
	for _, where := range []string{"local", "s3"} {
		t.Run(where, func(t *testing.T) {
			t.Parallel()
			emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: scale})
			env := s3Env(emu, s)
			dir := t.TempDir()
			// dirArgs: the data dir flags of one process (on object
			// storage each process has a cache of its own, as workers on
			// other machines would).
			dirArgs := func() []string {
				if where == "local" {
					return []string{"--data-dir", dir}
				}
				return []string{"--data-dir", s.URL("fanout"), "--cache-dir", t.TempDir()}
			}
			round := func(name string) {
				t.Helper()
				var wg sync.WaitGroup
				results := make([]result, 2)
				for i, system := range []string{"intercom", "salesforce"} {
					wg.Go(func() {
						args := append([]string{"extract", "--hand-off", "--pipeline", pipeline, "--object", systemObjects(system), "--log-level", "warn"}, dirArgs()...)
						results[i] = ferry(t, env, args...)
					})
				}
				wg.Wait()
				for i, r := range results {
					if r.code != 0 {
						t.Fatalf("%s: worker %d: exit %d\n%s", name, i, r.code, r.stderr)
					}
				}
				r := ferry(t, env, append([]string{"run", "--hand-offs", "--pipeline", pipeline, "--log-level", "warn"}, dirArgs()...)...)
				if r.code != 0 {
					t.Fatalf("%s: merge: exit %d\n%s", name, r.code, r.stderr)
				}
			}
			round("first round")
			if got := sortedLines(endState(t, emu)); got != want {
				t.Fatalf("end state after fanned-out extraction differs from an uninterrupted run:\n%s", lineDiff(want, got))
			}
			// The workers' landing files are in the shared data dir; no
			// manifest is left.
			if where == "local" {
				landed, _ := filepath.Glob(filepath.Join(dir, "landing", "*", "*", "*", "*.parquet"))
				left, _ := filepath.Glob(filepath.Join(dir, "handoffs", "*.json"))
				if len(landed) < 8 || len(left) != 0 {
					t.Fatalf("%d landing files, %d manifests left", len(landed), len(left))
				}
			} else {
				cfg, _ := objstore.FromEnv(env)
				b, _ := objstore.Open(cfg, s.Bucket)
				landed, _ := b.List(context.Background(), "fanout/landing/")
				left, err := b.List(context.Background(), "fanout/handoffs/")
				if err != nil || len(landed) < 8 || len(left) != 0 {
					t.Fatalf("%d landing files, %d manifests left (%v)", len(landed), len(left), err)
				}
			}
			w0 := emu.ICStats().WriteRequests + emu.SFStats().WriteRequests
			round("second round")
			if w := emu.ICStats().WriteRequests + emu.SFStats().WriteRequests - w0; w != 0 {
				t.Fatalf("a second round wrote %d requests", w)
			}
			if where != "local" {
				return
			}
			// A merge that stopped after its commit, before deleting the
			// manifests: the next merge finds them merged.
			r := ferry(t, env, "extract", "--hand-off", "--pipeline", pipeline, "--data-dir", dir, "--log-level", "warn")
			if r.code != 0 {
				t.Fatalf("worker: exit %d\n%s", r.code, r.stderr)
			}
			manifests, _ := filepath.Glob(filepath.Join(dir, "handoffs", "*.json"))
			if len(manifests) != 1 {
				t.Fatalf("%d manifests after one worker", len(manifests))
			}
			kept, _ := os.ReadFile(manifests[0])
			if r := ferry(t, env, "run", "--hand-offs", "--pipeline", pipeline, "--data-dir", dir, "--log-level", "info"); r.code != 0 || !strings.Contains(r.stderr, "merged=1") {
				t.Fatalf("merge: exit %d\n%s", r.code, r.stderr)
			}
			os.WriteFile(manifests[0], kept, 0o644)
			if r := ferry(t, env, "run", "--hand-offs", "--pipeline", pipeline, "--data-dir", dir, "--log-level", "info"); r.code != 0 || !strings.Contains(r.stderr, "merged=0 already_merged=1") {
				t.Fatalf("merge of a merged manifest: exit %d\n%s", r.code, r.stderr)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "handoffs", "*.json")); len(left) != 0 {
				t.Fatalf("a merged manifest was not deleted: %v", left)
			}
			if r := ferry(t, env, "run", "--hand-offs", "--object", "intercom.contacts", "--pipeline", pipeline, "--data-dir", dir); r.code != 2 {
				t.Fatalf("--hand-offs with --object: exit %d\n%s", r.code, r.stderr)
			}
		})
	}
}
