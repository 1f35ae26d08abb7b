// Command bench runs the whole pipeline against the emulators at a given
// scale and measures the steady state as well as the first sync. Per scale
// it runs, in order:
//
//  1. first sync: a fresh data dir;
//  2. echo run: reads back what the first sync wrote, and should write nothing;
//  3. converged run: nothing changed, and should write nothing; it starts
//     once the longest lookback has passed since the first sync's writes,
//     but its window (from the echo run's start, minus the lookback) still
//     covers them, and it re-reads them;
//  4. steady run: right after it, the run a schedule repeats all day on a
//     quiet workspace: its window holds no change;
//  5. after changes: the bench first edits a small share (0.1 %) of linked
//     people on each side, and checks that exactly those are written.
//
// Per run it prints wall time, per-stage times, records extracted and
// written, API requests per system against the minimum the protocols need,
// and ferry's peak memory. The emulators are served in this process; ferry
// runs as a child process so that its peak RSS is its own.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/emulator/intercom"
	"github.com/ferry-sync/ferry/emulator/salesforce"
	"github.com/ferry-sync/ferry/emulator/seed"
	"github.com/ferry-sync/ferry/internal/config"
	"github.com/ferry-sync/ferry/internal/runner"
)

type options struct {
	scale    int
	bin      string
	rate     int
	runs     int
	changes  float64
	keep     bool
	profile  string
	logLevel string
}

func main() {
	var o options
	flag.IntVar(&o.scale, "scale", 100_000, "Intercom contacts in the seed")
	flag.StringVar(&o.bin, "ferry", "./bin/ferry", "ferry binary")
	flag.IntVar(&o.rate, "intercom-rate-limit", 100_000, "emulated Intercom requests per 10 s (production: 1,666 for 10,000/min)")
	flag.IntVar(&o.runs, "runs", len(runNames), "how many of the runs to do, in order: first sync, echo, converged, steady, after changes, sweep")
	flag.Float64Var(&o.changes, "changes", 0.001, "share of the seed's contacts edited on each side before the last run")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary dir (pipeline, ferry's data dir and logs) and print its path")
	flag.StringVar(&o.logLevel, "log-level", "info", "ferry's --log-level in run*.log (debug: each model's build time)")
	flag.StringVar(&o.profile, "profile", "", "write CPU profiles to this dir: emulators.pprof for the emulators, runN.pprof per ferry run")
	flag.Parse()
	if o.runs < 1 || o.runs > len(runNames) {
		fmt.Fprintf(os.Stderr, "bench: --runs must be 1 to %d\n", len(runNames))
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// The runs, in order; the last one follows the bench's edits.
var runNames = []string{"first sync", "echo run", "converged run", "steady run", "after changes", "sweep run"}

// sweepRun runs with --sweep: every live id of Intercom's contacts and
// companies and of each Salesforce object is listed and compared with what
// ferry holds, as the daily and weekly sweeps for deletes do.
const sweepRun = 5

// A run's window starts a lookback before the previous run started. The
// converged run waits out the longest lookback, so that the window of the
// steady run after it holds no change.
const convergedRun, steadyRun = 2, 3

// settle is how long the bench waits before each run after the first, past
// the pipeline's extract.upper_bound_lag (2s): rows newer than that are
// left for the next run, so without the wait the previous run's writes or
// the bench's edits could be skipped. The wait is not part of any run.
const settle = 3 * time.Second

// progressEvery is how often a long run reports that it is alive.
const progressEvery = 30 * time.Second

// bench holds the emulators and ferry's command line.
type bench struct {
	o            options
	icURL, sfURL string
	dir, cfg     string
	env          []string
	// Intercom counters before the previous run: what that run and the
	// edits since wrote is what the next run must read back.
	icPrev *emuStats
}

// result is what one ferry run measured.
type result struct {
	name         string
	wall         time.Duration
	sum          runner.Summary
	rssKiB       int64
	reqIC, reqSF int            // emulator request counters over the run
	minIC, minSF int            // the protocols' minimum
	expected     map[string]int // records the run should write per target; nil when not checked
}

func run(o options) error {
	start := time.Now()
	ds := seed.New(seed.Params{Seed: 1, Scale: o.scale})
	ic, err := intercom.New(intercom.Options{Dataset: ds, RateLimit: o.rate})
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
	fmt.Printf("seeded emulators with %d contacts in %s\n", o.scale, fmtDur(time.Since(start)))
	if o.profile != "" {
		stop, err := profileEmulators(o.profile)
		if err != nil {
			return err
		}
		defer stop()
	}
	dir, err := os.MkdirTemp("", "ferry-bench")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Printf("keeping %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	b := &bench{o: o, icURL: its.URL, sfURL: sts.URL, dir: dir, cfg: filepath.Join(dir, "pipeline.yaml")}
	if err := b.writeConfig(); err != nil {
		return err
	}
	var results []*result
	for i, name := range runNames[:o.runs] {
		var expected map[string]int
		if i > 0 {
			time.Sleep(settle)
		}
		if i == convergedRun {
			wait, obj, err := b.longestLookback()
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "waiting %s, the longest lookback (%s), so that the steady run's window holds no change\n", wait, obj)
			time.Sleep(wait)
		}
		if i == sweepRun-1 {
			n := max(1, int(float64(o.scale)*o.changes+0.5))
			name = fmt.Sprintf("after %g %% changes", o.changes*100)
			t0 := time.Now()
			if expected, err = b.edit(n); err != nil {
				return fmt.Errorf("edits: %w", err)
			}
			fmt.Fprintf(os.Stderr, "edited %d Salesforce phones and %d Intercom job titles of linked people in %s\n", n, n, fmtDur(time.Since(t0)))
			time.Sleep(settle)
		}
		var args []string
		var listed [2]int
		if i == sweepRun {
			args = []string{"--sweep"}
			if listed[0], listed[1], err = icListed(b.icURL); err != nil {
				return err
			}
		}
		r, err := b.runFerry(i+1, name, args...)
		if err != nil {
			return err
		}
		if i == sweepRun {
			// Listing every id: Intercom's contact list (150 a page)
			// and company scroll (one more, empty, page); per Salesforce
			// object one Bulk query job (create, poll, results, delete).
			r.minIC += (listed[0]+149)/150 + (listed[1]+scrollPage-1)/scrollPage + 1
			r.minSF += 4 * 8
		}
		r.expected = expected
		results = append(results, r)
	}
	printTable(results)
	if o.keep {
		fmt.Printf("\nkept %s (ferry data in data/, logs run*.log)\n", dir)
	}
	return nil
}

// writeConfig copies the example pipeline, switched to client credentials
// (so no JWT key is needed) and without a per-run call budget.
func (b *bench) writeConfig() error {
	root, _ := os.Getwd()
	data, err := os.ReadFile(filepath.Join(root, "pipelines", "intercom_salesforce.yaml"))
	if err != nil {
		return err
	}
	data = bytes.Replace(data, []byte("auth: jwt"), []byte("auth: client_credentials\n    client_secret: ${SALESFORCE_CLIENT_SECRET}"), 1)
	data = bytes.Replace(data, []byte("max_calls_per_run: 20000"), []byte("max_calls_per_run: 0"), 1)
	b.env = append(os.Environ(),
		"INTERCOM_BASE_URL="+b.icURL, "INTERCOM_ACCESS_TOKEN="+intercom.Token,
		"SALESFORCE_LOGIN_URL="+b.sfURL, "SALESFORCE_CLIENT_ID="+salesforce.ClientID,
		"SALESFORCE_CLIENT_SECRET="+salesforce.ClientSecret, "SALESFORCE_USERNAME="+salesforce.Username,
		"SALESFORCE_PRIVATE_KEY_FILE=unused")
	return os.WriteFile(b.cfg, data, 0o644)
}

// longestLookback is the longest lookback of an object read every run
// (objects with `every:` are not read in the runs that follow).
func (b *bench) longestLookback() (time.Duration, string, error) {
	p, err := config.Load(b.cfg, func(k string) string {
		for _, kv := range b.env {
			if name, v, _ := strings.Cut(kv, "="); name == k {
				return v
			}
		}
		return ""
	})
	if err != nil {
		return 0, "", err
	}
	var longest time.Duration
	var obj string
	for system, objects := range map[string]map[string]config.ObjectExtract{"intercom": p.Extract.Intercom, "salesforce": p.Extract.Salesforce} {
		for o := range objects {
			if d := p.Lookback(system, o); p.Every(system, o) == 0 && d > longest {
				longest, obj = d, system+"."+o
			}
		}
	}
	return longest, obj, nil
}

// edit makes the bench's changes with a seeded choice of records.
func (b *bench) edit(n int) (map[string]int, error) {
	sf, err := newSF(b.sfURL)
	if err != nil {
		return nil, err
	}
	return edit(sf, b.icURL, n, rand.New(rand.NewPCG(1, uint64(b.o.scale))))
}

// counters reads both emulators' counters.
func (b *bench) counters() (ic, sf *emuStats, err error) {
	if ic, err = stats(b.icURL); err != nil {
		return nil, nil, err
	}
	sf, err = stats(b.sfURL)
	return ic, sf, err
}

// runFerry runs `ferry run` once, its log going to a file in the temp dir,
// and measures it.
func (b *bench) runFerry(n int, name string, args ...string) (*result, error) {
	logPath := filepath.Join(b.dir, fmt.Sprintf("run%d.log", n))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	icBefore, sfBefore, err := b.counters()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "run %d, %s: started, ferry log %s\n", n, name, logPath)
	cmd := exec.Command(b.o.bin, append([]string{"run", "--pipeline", b.cfg, "--data-dir", filepath.Join(b.dir, "data"), "--output", "json", "--log-level", b.o.logLevel}, args...)...)
	cmd.Env = b.env
	if b.o.profile != "" {
		cmd.Env = append(slices.Clip(b.env), "FERRY_CPUPROFILE="+filepath.Join(b.o.profile, fmt.Sprintf("run%d.pprof", n)))
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, logFile
	t0 := time.Now()
	stop := b.progress(name, t0, icBefore, sfBefore)
	err = cmd.Run()
	wall := time.Since(t0)
	stop()
	if err != nil && (cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 3) {
		return nil, fmt.Errorf("%s: %v\n%s", name, err, tail(logPath))
	}
	r := &result{name: name, wall: wall}
	if err := json.Unmarshal(out.Bytes(), &r.sum); err != nil {
		return nil, fmt.Errorf("%s: summary: %v\n%s", name, err, out.String())
	}
	// ferry's own reading of its peak: the child's ru_maxrss would include
	// this process (the emulators), whose high-water mark exec inherits.
	r.rssKiB = r.sum.PeakRSSMiB * 1024
	if r.rssKiB == 0 {
		return nil, fmt.Errorf("%s: the summary has no peak_rss_mib (not Linux?)", name)
	}
	icAfter, sfAfter, err := b.counters()
	if err != nil {
		return nil, err
	}
	r.reqIC, r.reqSF = icAfter.Total-icBefore.Total, sfAfter.Total-sfBefore.Total
	r.minIC, r.minSF = b.minimum(&r.sum, icBefore)
	b.icPrev = icBefore
	fmt.Fprintf(os.Stderr, "run %d, %s: done in %s, %d records written\n", n, name, fmtDur(wall), written(&r.sum))
	return r, nil
}

// progress prints, every progressEvery until stop is called, that the run
// is alive and how many requests it has made so far.
func (b *bench) progress(name string, t0 time.Time, ic0, sf0 *emuStats) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if ic, sf, err := b.counters(); err == nil {
					fmt.Fprintf(os.Stderr, "  %s: %s, requests so far: Intercom %d, Salesforce %d\n",
						name, fmtDur(time.Since(t0).Round(time.Second)), ic.Total-ic0.Total, sf.Total-sf0.Total)
				}
			}
		}
	}()
	return func() { close(done) }
}

// minimum is the fewest requests the protocols allow for a run. Intercom:
// the read pages, one GET per changed conversation (Intercom returns parts
// only with the whole conversation), the two reference lists, and one
// request per written record. The first sync reads everything; later runs
// need only read what changed since the previous run started: what it and
// the bench's edits wrote. Salesforce: the read pages of what was extracted;
// per object and operation written, one Bulk job (create, upload, close,
// one poll, the successful results; a job of more than 100 MB of CSV must
// be split, which this does not count) or Collections calls of 200; and,
// as the bench's pipeline syncs Salesforce-assigned Lead fields to Intercom
// in the same run, one query page per 2,000 Leads the run created.
func (b *bench) minimum(s *runner.Summary, icBefore *emuStats) (minIC, minSF int) {
	if b.icPrev == nil {
		minIC = icReads(int(s.Extracted["intercom.contacts"]), int(s.Extracted["intercom.companies"]), int(s.Extracted["intercom.conversations"]))
	} else {
		delta := func(kind string) int { return icBefore.touched(kind) - b.icPrev.touched(kind) }
		// A message sent opens a conversation.
		minIC = icReads(delta("contacts"), delta("companies"), delta("conversations")+delta("messages"))
	}
	minSF = 1
	for _, o := range []string{"Lead", "Contact", "Account", "User", "Opportunity", "OpportunityContactRole", "Case", "Task"} {
		minSF += int(s.Extracted["salesforce."+o]/2000) + 2
	}
	for k, v := range s.Written {
		var target, obj, op string
		fmt.Sscan(k, &target, &obj, &op)
		switch {
		case target == "intercom":
			minIC += v
		case v > 200:
			minSF += 5
		default:
			minSF += (v + 199) / 200
		}
		if target == "salesforce" && obj == "Lead" && op == "upsert" {
			minSF += (v + 1999) / 2000
		}
	}
	return minIC, minSF
}

// icReads is the fewest Intercom requests that read the given numbers of
// contacts (pages of 150), companies (pages of 50) and conversations (search
// pages of 150 plus one GET each), with the admin and tag lists.
func icReads(contacts, companies, conversations int) int {
	return contacts/150 + 1 + companies/50 + 2 + 1 + conversations/150 + 1 + conversations + 2
}

// written is the number of records a run wrote, and perTarget splits it.
func written(s *runner.Summary) int {
	n := 0
	for _, v := range s.Written {
		n += v
	}
	return n
}

func perTarget(s *runner.Summary) map[string]int {
	m := map[string]int{}
	for k, v := range s.Written {
		m[strings.Fields(k)[0]] += v
	}
	return m
}

// printTable prints one Markdown row per run, then what the writes of the
// steady-state runs should be noticed for, and the change run's cost
// against the steady run's.
func printTable(results []*result) {
	fmt.Println()
	fmt.Println("| run | wall | extract | transform | load | commit | extracted | re-read | written | Intercom requests (min) | Salesforce requests (min) | peak RSS |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		var extracted, reread int64
		for _, v := range r.sum.Extracted {
			extracted += v
		}
		for _, v := range r.sum.Unchanged {
			reread += v
		}
		w := written(&r.sum)
		ex, tr, ld := r.sum.Stages["extract"], r.sum.Stages["transform"], r.sum.Stages["load"]
		load := fmtDur(ld)
		if w > 0 {
			load += fmt.Sprintf(" (%.0f rec/s)", float64(w)/ld.Seconds())
		}
		wcol := fmt.Sprint(w)
		if r.expected != nil {
			wcol += fmt.Sprintf(" (expected %d)", r.expected["intercom"]+r.expected["salesforce"])
		}
		fmt.Printf("| %s | %s | %s (%.0f rec/s) | %s | %s | %s | %d | %d | %s | %d (%d) | %d (%d) | %.0f MiB |\n",
			r.name, fmtDur(r.wall), fmtDur(ex), float64(extracted+reread)/ex.Seconds(), fmtDur(tr), load, fmtDur(r.sum.Stages["commit"]),
			extracted, reread, wcol, r.reqIC, r.minIC, r.reqSF, r.minSF, float64(r.rssKiB)/1024)
	}
	fmt.Println()
	var converged, changed *result
	for i, r := range results {
		if i == steadyRun {
			converged = r // the changes are compared with the steady run
		}
		if r.sum.Rejects > 0 {
			fmt.Printf("NOTE: %s: %d records rejected by a target (see its log)\n", r.name, r.sum.Rejects)
		}
		switch {
		case i == 0:
			continue
		case r.expected == nil:
			if w := written(&r.sum); w > 0 {
				fmt.Printf("NOTE: %s wrote %d records, expected none: %s\n", r.name, w, breakdown(&r.sum))
			}
		default:
			changed = r
			got := perTarget(&r.sum)
			verdict := "as expected"
			if got["intercom"] != r.expected["intercom"] || got["salesforce"] != r.expected["salesforce"] {
				verdict = "MISMATCH"
			}
			fmt.Printf("%s: writes %s: Intercom %d (expected %d), Salesforce %d (expected %d); %s\n",
				r.name, verdict, got["intercom"], r.expected["intercom"], got["salesforce"], r.expected["salesforce"], breakdown(&r.sum))
		}
	}
	if converged != nil && changed != nil && converged.wall > 0 {
		fmt.Printf("%s wall / %s wall: %.2f× (target ≤ 1.5×)\n", changed.name, converged.name, changed.wall.Seconds()/converged.wall.Seconds())
	}
}

// breakdown lists a run's writes per "target object op", sorted.
func breakdown(s *runner.Summary) string {
	keys := make([]string, 0, len(s.Written))
	for k := range s.Written {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, s.Written[k])
	}
	if len(parts) == 0 {
		return "nothing written"
	}
	return strings.Join(parts, ", ")
}

// fmtDur rounds a duration for reading.
func fmtDur(d time.Duration) string {
	if d >= time.Minute {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// tail returns the end of a log file, for an error message.
func tail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > 4000 {
		f.Seek(st.Size()-4000, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// profileEmulators profiles the bench process, which is the emulators, until
// stop is called.
func profileEmulators(dir string) (stop func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, "emulators.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
