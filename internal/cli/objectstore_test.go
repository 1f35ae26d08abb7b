package cli_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/internal/objstore"
	"github.com/ferry-sync/ferry/internal/testenv"
)

// s3Env is the emulators' environment with the S3 server's credentials.
func s3Env(emu *testenv.Emulators, s *testenv.S3) func(string) string {
	return emu.Env(s.Env())
}

// s3Run runs ferry on the data dir url with its working copy in cache,
// waiting out a lock left by a killed worker (its lease is lockTTL).
func s3Run(t *testing.T, getenv func(string) string, pipeline, url, cache string, args ...string) result {
	t.Helper()
	full := append([]string{"run", "--pipeline", pipeline, "--data-dir", url, "--cache-dir", cache, "--lock-ttl", lockTTL.String(), "--log-level", "warn"}, args...)
	for attempt := 0; ; attempt++ {
		r := ferry(t, getenv, full...)
		if r.code == 0 || !strings.Contains(r.stderr, "in use by another ferry worker") || attempt == 10 {
			return r
		}
		time.Sleep(time.Second)
	}
}

const lockTTL = 2 * time.Second

// TestRun_ObjectStorage keeps the data dir on a real S3-compatible server:
// a worker with an empty cache (a replaced pod) carries on from what the
// last one committed; a second worker is refused while one runs; a worker
// killed at any point leaves the committed state intact, and the next one
// (on a fresh cache or on the dead one's) converges to what an
// uninterrupted run gives, with no duplicate, and a run after writes
// nothing.
func TestRun_ObjectStorage(t *testing.T) {
	t.Parallel()
	const scale = 250
	pipeline := smallBatchPipeline(t)
	state, _ := cleanEndState(t, scale, pipeline)
	want := sortedLines(state)
	s := testenv.StartS3(t)

	t.Run("replaced worker", func(t *testing.T) {
		t.Parallel()
		emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: scale})
		env := s3Env(emu, s)
		url := s.URL("replaced")
		if r := s3Run(t, env, pipeline, url, t.TempDir()); r.code != 0 {
			t.Fatalf("first worker: exit %d\n%s", r.code, r.stderr)
		}
		if got := sortedLines(endState(t, emu)); got != want {
			t.Fatalf("end state differs from a run on local disk:\n%s", lineDiff(want, got))
		}
		// What the bucket holds: the committed warehouse and the landing
		// files, under the prefix.
		cfg, _ := objstore.FromEnv(env)
		b, _ := objstore.Open(cfg, s.Bucket)
		objs, err := b.List(context.Background(), "replaced/")
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		for _, o := range objs {
			parts := strings.SplitN(strings.TrimPrefix(o.Key, "replaced/"), "/", 2)
			kinds[parts[0]]++
		}
		if kinds["state"] < 2 || kinds["state"] > 3 || kinds["landing"] < 10 || kinds["lock"] != 0 {
			t.Fatalf("bucket after one run: %v", kinds)
		}
		// A new pod: nothing local. It extracts only what changed and
		// writes nothing.
		ic0, sf0 := emu.ICStats(), emu.SFStats()
		r := s3Run(t, env, pipeline, url, t.TempDir(), "--output", "json")
		if r.code != 0 {
			t.Fatalf("second worker: exit %d\n%s", r.code, r.stderr)
		}
		ic, sf := emu.ICStats(), emu.SFStats()
		if w := ic.WriteRequests - ic0.WriteRequests + sf.WriteRequests - sf0.WriteRequests; w != 0 {
			t.Fatalf("a worker on an empty cache wrote %d requests: it did not find the committed state", w)
		}
		if n := ic.TotalRequests - ic0.TotalRequests; n > 100 {
			t.Fatalf("a worker on an empty cache made %d Intercom requests: it extracted from scratch", n)
		}
		// Maintenance and reading, each from a new cache: rebuild brings
		// every landing file down and commits the state it recreates;
		// status and the report read the committed state.
		r = ferry(t, env, "rebuild", "--pipeline", pipeline, "--data-dir", url, "--cache-dir", t.TempDir())
		if r.code != 0 || !strings.Contains(r.stdout, "intercom.contacts: 2") {
			t.Fatalf("rebuild on object storage: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		w0 := emu.ICStats().WriteRequests + emu.SFStats().WriteRequests
		if r := s3Run(t, env, pipeline, url, t.TempDir()); r.code != 0 {
			t.Fatalf("run after rebuild: exit %d\n%s", r.code, r.stderr)
		}
		if w := emu.ICStats().WriteRequests + emu.SFStats().WriteRequests - w0; w != 0 {
			t.Fatalf("a run after a rebuild on object storage wrote %d requests", w)
		}
		r = ferry(t, env, "status", "--pipeline", pipeline, "--data-dir", url, "--cache-dir", t.TempDir())
		if r.code != 0 || !strings.Contains(r.stdout, "intercom") || strings.Count(r.stdout, "succeeded") < 3 {
			t.Fatalf("status on object storage: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		page := filepath.Join(t.TempDir(), "report.html")
		r = ferry(t, env, "report", "--data-dir", url, "--cache-dir", t.TempDir(), "--out", page)
		if b, err := os.ReadFile(page); r.code != 0 || err != nil || !strings.Contains(string(b), "<svg") {
			t.Fatalf("report on object storage: exit %d (%v)\n%s", r.code, err, r.stderr)
		}
	})

	t.Run("one worker at a time", func(t *testing.T) {
		t.Parallel()
		emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: scale})
		env := s3Env(emu, s)
		url := s.URL("exclusive")
		holder := exec.Command(ferryBin, "run", "--pipeline", pipeline, "--data-dir", url, "--cache-dir", t.TempDir(), "--lock-ttl", lockTTL.String())
		holder.Env = envList(env, s3EnvList(s)...)
		holder.Env = append(holder.Env, "FERRY_TEST_PAUSE_AT=after-extract")
		var stderr strings.Builder
		holder.Stderr = &stderr
		if err := holder.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { holder.Process.Kill(); holder.Wait() }()
		deadline := time.Now().Add(2 * time.Minute)
		for !strings.Contains(stderr.String(), "msg=paused") {
			if time.Now().After(deadline) {
				t.Fatalf("the first worker did not pause:\n%s", stderr.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		// Longer than the lease: the holder renews it.
		for range 3 {
			r := ferry(t, env, "run", "--pipeline", pipeline, "--data-dir", url, "--cache-dir", t.TempDir(), "--lock-ttl", lockTTL.String())
			if r.code != 1 || !strings.Contains(r.stderr, "in use by another ferry worker") || !strings.Contains(r.stderr, "ferry run (pid") {
				t.Fatalf("second worker while the first runs: exit %d\n%s", r.code, r.stderr)
			}
			time.Sleep(lockTTL)
		}
		if w := emu.ICStats().WriteRequests + emu.SFStats().WriteRequests; w != 0 {
			t.Fatalf("%d writes while the first worker was paused before its load", w)
		}
	})

	for i, step := range []string{"after-extract", "bulk-job-closed", "after-intercom-load", "after-load", "before-commit"} {
		t.Run("killed "+step, func(t *testing.T) {
			t.Parallel()
			emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: scale})
			env := s3Env(emu, s)
			url := s.URL("killed-" + step)
			dead := t.TempDir()
			killWith(t, envList(env, s3EnvList(s)...), step, "run", "--pipeline", pipeline, "--data-dir", url, "--cache-dir", dead, "--lock-ttl", lockTTL.String())
			// Every other step, the next worker is on the dead one's
			// cache, which the killed run left half-way.
			cache := t.TempDir()
			if i%2 == 1 {
				cache = dead
			}
			if r := s3Run(t, env, pipeline, url, cache); r.code != 0 {
				t.Fatalf("worker after a kill at %s: exit %d\n%s", step, r.code, r.stderr)
			}
			if got := sortedLines(endState(t, emu)); got != want {
				t.Fatalf("end state after a kill at %s differs from an uninterrupted run:\n%s", step, lineDiff(want, got))
			}
			ic0, sf0 := emu.ICStats().WriteRequests, emu.SFStats().WriteRequests
			if r := s3Run(t, env, pipeline, url, t.TempDir()); r.code != 0 {
				t.Fatalf("third worker: exit %d\n%s", r.code, r.stderr)
			}
			if ic, sf := emu.ICStats().WriteRequests-ic0, emu.SFStats().WriteRequests-sf0; ic+sf != 0 {
				t.Fatalf("a run after convergence wrote %d intercom and %d salesforce requests", ic, sf)
			}
		})
	}
}

func s3EnvList(s *testenv.S3) []string {
	var out []string
	for k, v := range s.Env() {
		out = append(out, fmt.Sprintf("%s=%s", k, v))
	}
	return out
}
