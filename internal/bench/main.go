// Command bench runs the whole pipeline against the emulators at a given
// scale and prints, per run: wall time per stage, records per second, API
// requests per system against the minimum the protocols need, and ferry's
// peak memory. The emulators are served in this process; ferry runs as a
// child process so that its peak RSS is its own.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ferry-sync/ferry/emulator/intercom"
	"github.com/ferry-sync/ferry/emulator/salesforce"
	"github.com/ferry-sync/ferry/emulator/seed"
	"github.com/ferry-sync/ferry/internal/runner"
)

func main() {
	scale := flag.Int("scale", 100_000, "Intercom contacts in the seed")
	bin := flag.String("ferry", "./bin/ferry", "ferry binary")
	rate := flag.Int("intercom-rate-limit", 100_000, "emulated Intercom requests per 10 s (production: 1,666 for 10,000/min)")
	flag.Parse()
	if err := run(*scale, *bin, *rate); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(scale int, bin string, rate int) error {
	start := time.Now()
	ds := seed.New(seed.Params{Seed: 1, Scale: scale})
	ic, err := intercom.New(intercom.Options{Dataset: ds, RateLimit: rate})
	if err != nil {
		return err
	}
	sf, err := salesforce.New(salesforce.Options{Dataset: ds})
	if err != nil {
		return err
	}
	its, sts := httptest.NewServer(ic), httptest.NewServer(sf)
	defer its.Close()
	defer sts.Close()
	fmt.Printf("seeded emulators with %d contacts in %s\n\n", scale, time.Since(start).Round(time.Millisecond))
	dir, err := os.MkdirTemp("", "ferry-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	root, _ := os.Getwd()
	pipeline := filepath.Join(root, "pipelines", "intercom_salesforce.yaml")
	env := append(os.Environ(),
		"INTERCOM_BASE_URL="+its.URL, "INTERCOM_ACCESS_TOKEN="+intercom.Token,
		"SALESFORCE_LOGIN_URL="+sts.URL, "SALESFORCE_CLIENT_ID="+salesforce.ClientID,
		"SALESFORCE_CLIENT_SECRET="+salesforce.ClientSecret, "SALESFORCE_USERNAME="+salesforce.Username,
		"SALESFORCE_PRIVATE_KEY_FILE=unused")
	// The bench uses client credentials, so no JWT key is needed.
	cfg := filepath.Join(dir, "pipeline.yaml")
	b, err := os.ReadFile(pipeline)
	if err != nil {
		return err
	}
	b = bytes.Replace(b, []byte("auth: jwt"), []byte("auth: client_credentials\n    client_secret: ${SALESFORCE_CLIENT_SECRET}"), 1)
	b = bytes.Replace(b, []byte("max_calls_per_run: 20000"), []byte("max_calls_per_run: 0"), 1)
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		return err
	}
	for i, label := range []string{"first sync", "second sync (no changes)"} {
		cmd := exec.Command(bin, "run", "--pipeline", cfg, "--data-dir", filepath.Join(dir, "data"), "--output", "json", "--log-level", "warn")
		cmd.Env = env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		t0 := time.Now()
		err := cmd.Run()
		wall := time.Since(t0)
		if err != nil && cmd.ProcessState.ExitCode() != 3 {
			return fmt.Errorf("%s: %v\n%s", label, err, errb.String())
		}
		var sum runner.Summary
		if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
			return fmt.Errorf("%s: summary: %v\n%s", label, err, out.String())
		}
		rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB on Linux
		report(i+1, label, wall, &sum, rss)
	}
	return nil
}

func report(n int, label string, wall time.Duration, s *runner.Summary, rssKiB int64) {
	var extracted int64
	for _, v := range s.Extracted {
		extracted += v
	}
	written := 0
	for _, v := range s.Written {
		written += v
	}
	fmt.Printf("run %d, %s: %s wall, peak RSS %.0f MiB\n", n, label, wall.Round(time.Millisecond), float64(rssKiB)/1024)
	for _, st := range []string{"extract", "transform", "load"} {
		d := s.Stages[st]
		rate := ""
		switch st {
		case "extract":
			rate = fmt.Sprintf("%d records, %.0f records/s", extracted, float64(extracted)/d.Seconds())
		case "transform":
			rate = fmt.Sprintf("%.0f records/s", float64(extracted)/d.Seconds())
		case "load":
			if written > 0 {
				rate = fmt.Sprintf("%d records written, %.0f records/s", written, float64(written)/d.Seconds())
			} else {
				rate = "nothing to write"
			}
		}
		fmt.Printf("  %-9s %10s  %s\n", st, d.Round(time.Millisecond), rate)
	}
	// The minimum a protocol needs: read pages, one request per changed
	// Intercom record, and per Salesforce object written one Bulk job
	// (create, upload, close, at least one poll, three result files).
	// Parts come only with the whole conversation: one GET per changed
	// conversation, plus the search pages and the two reference lists.
	conv := int(s.Extracted["intercom.conversations"])
	minIC := int(s.Extracted["intercom.contacts"]/150) + 1 + int(s.Extracted["intercom.companies"]/50) + 2 + 1 + conv/150 + 1 + conv + 2
	minSF := 1
	for _, o := range []string{"Lead", "Contact", "Account", "User", "Opportunity", "OpportunityContactRole", "Case", "Task"} {
		minSF += int(s.Extracted["salesforce."+o]/2000) + 2
	}
	for k, v := range s.Written {
		var target, obj, op string
		fmt.Sscan(k, &target, &obj, &op)
		if target == "intercom" {
			minIC += v
		} else if v > 200 {
			minSF += 7
		} else {
			minSF += (v + 199) / 200
		}
	}
	fmt.Printf("  requests  intercom %d (minimum %d), salesforce %d (minimum %d)\n\n", s.Requests["intercom"], minIC, s.Requests["salesforce"], minSF)
}
