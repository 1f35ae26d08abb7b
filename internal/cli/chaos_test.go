package cli_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/emulator"
	"github.com/ferry-sync/ferry/internal/cli"
	"github.com/ferry-sync/ferry/internal/testenv"
)

// `make chaos SCALE=N ROUNDS=N` runs TestChaos with these; `make test`
// runs it small.
var (
	chaosScale  = flag.Int("chaos.scale", 150, "TestChaos: contacts in the emulated workspace")
	chaosRounds = flag.Int("chaos.rounds", 6, "TestChaos: rounds of ferry killed at a random moment")
	chaosSeed   = flag.Uint64("chaos.seed", 1, "TestChaos: seed of the kill schedule")
	// Failed requests cost time, not rigour, once the rounds are over: an
	// Intercom 429 pauses every request until its 10-second window ends.
	chaosConvergeFaults = flag.Bool("chaos.converge-faults", false, "TestChaos: keep failed requests on while converging (lost answers always are)")
)

// Faults during the chaos rounds: 20 % of requests fail (Intercom 429 or
// 503, Salesforce 503 and row locks), 10 % of writes lose their answer
// after committing.
const (
	chaosFailRate = 0.2
	chaosLoseRate = 0.1
)

// emuProcess is `ferry emulator` run as its own process, which a test can
// kill with SIGKILL and start again on the same state directory and ports.
type emuProcess struct {
	t              *testing.T
	dir            string
	icAddr, sfAddr string
	scale          int
	cmd            *exec.Cmd
}

func newEmuProcess(t *testing.T, scale int) *emuProcess {
	t.Helper()
	p := &emuProcess{t: t, dir: t.TempDir(), icAddr: freeAddr(t), sfAddr: freeAddr(t), scale: scale}
	t.Cleanup(p.kill)
	return p
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start serves the emulators with the given fault rates and waits until
// both answer.
func (p *emuProcess) start(failRate, loseRate float64) {
	p.t.Helper()
	log, err := os.OpenFile(filepath.Join(p.dir, "emulator.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	defer log.Close()
	p.cmd = exec.Command(ferryBin, "emulator", "--dir", p.dir, "--scale", fmt.Sprint(p.scale), "--seed", "1",
		"--intercom-addr", p.icAddr, "--salesforce-addr", p.sfAddr, "--fail-rate", fmt.Sprint(failRate), "--lose-rate", fmt.Sprint(loseRate))
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for _, addr := range []string{p.icAddr, p.sfAddr} {
		for {
			resp, err := http.Get("http://" + addr + "/_emulator/stats")
			if err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				p.t.Fatalf("emulator on %s did not start: %v (log in %s)", addr, err, p.dir)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// kill stops the emulators with SIGKILL: nothing is flushed beyond what
// the journal already holds.
func (p *emuProcess) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		p.cmd = nil
	}
}

func (p *emuProcess) env() func(string) string {
	vars := map[string]string{}
	for line := range strings.Lines(emulator.Env("http://"+p.icAddr, "http://"+p.sfAddr, filepath.Join(p.dir, "jwt_private_key.pem"))) {
		k, v, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "export "), "=")
		vars[k] = v
	}
	return func(k string) string { return vars[k] }
}

func (p *emuProcess) api() *testenv.Emulators {
	return testenv.Remote(p.t, "http://"+p.icAddr, "http://"+p.sfAddr, filepath.Join(p.dir, "jwt_private_key.pem"))
}

// writes is how many write requests both emulators served since they
// started.
func (p *emuProcess) writes() int {
	e := p.api()
	return e.ICStats().WriteRequests + e.SFStats().WriteRequests
}

// TestChaos: ferry killed with SIGKILL at random moments, the emulators
// killed and restarted in some rounds, under 20 % failed requests and 10 %
// lost answers; then ferry runs until a run exits 0 writing nothing (writes
// still losing their answers; failed requests too with
// -chaos.converge-faults), and a last run against fault-free emulators
// must write nothing. The end state in both systems must equal an
// uninterrupted run's on the same seed: per object the same records, no
// duplicate per email, external id, conversation or onboarding message.
// It prints those figures.
func TestChaos(t *testing.T) {
	t.Parallel()
	scale, rounds := *chaosScale, *chaosRounds
	pipeline := smallBatchPipeline(t)

	// An uninterrupted run, to converge on, and to time the kills by.
	t0 := time.Now()
	clean := newEmuProcess(t, scale)
	clean.start(0, 0)
	cleanDir := t.TempDir()
	var runTime time.Duration
	for i := 0; ; i++ {
		before := clean.writes()
		start := time.Now()
		r := ferry(t, clean.env(), "run", "--pipeline", pipeline, "--data-dir", cleanDir, "--log-level", "warn")
		if i == 0 {
			runTime = time.Since(start)
		}
		if r.code != cli.ExitOK {
			t.Fatalf("uninterrupted run %d: exit %d\n%s", i+1, r.code, r.stderr)
		}
		if clean.writes() == before {
			break
		}
		if i == 4 {
			t.Fatal("the uninterrupted runs never stopped writing")
		}
	}
	want := endState(t, clean.api())
	clean.kill()

	t1 := time.Now()
	emu := newEmuProcess(t, scale)
	emu.start(chaosFailRate, chaosLoseRate)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(*chaosSeed, 77))
	restarts, killed := 0, 0
	for round := range rounds {
		cmd := exec.Command(ferryBin, "run", "--pipeline", pipeline, "--data-dir", dir, "--log-level", "warn")
		cmd.Env = envList(emu.env())
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// A moment anywhere in a run twice as long as the uninterrupted
		// first (faults make runs longer); in every other round the
		// emulators die before it, at a moment of their own.
		at := time.Duration(rng.Int64N(2*int64(runTime) + 1))
		restart := round%2 == 1
		emuAt := time.Duration(rng.Int64N(int64(at) + 1))
		timer := time.NewTimer(at)
		emuTimer := time.NewTimer(emuAt)
		if !restart {
			emuTimer.Stop()
		}
	wait:
		for {
			select {
			case <-done:
				break wait
			case <-timer.C:
				cmd.Process.Kill()
				<-done
				killed++
				break wait
			case <-emuTimer.C:
				emu.kill()
				emu.start(chaosFailRate, chaosLoseRate)
				restarts++
			}
		}
		timer.Stop()
		emuTimer.Stop()
		if restart && emu.cmd == nil {
			emu.start(chaosFailRate, chaosLoseRate)
		}
	}

	// Runs until one exits 0 and writes nothing. Writes still lose their
	// answers; failed requests only with -chaos.converge-faults.
	t2 := time.Now()
	if !*chaosConvergeFaults {
		emu.kill()
		emu.start(0, chaosLoseRate)
	}
	converged := 0
	for i := 0; ; i++ {
		before := emu.writes()
		r := ferry(t, emu.env(), "run", "--pipeline", pipeline, "--data-dir", dir, "--log-level", "warn")
		if r.code == cli.ExitOK && emu.writes() == before {
			converged = i + 1
			break
		}
		if i == 14 {
			t.Fatalf("no convergence in 15 runs; last exit %d\n%s", r.code, r.stderr)
		}
	}
	// A last run against emulators without faults writes nothing.
	emu.kill()
	emu.start(0, 0)
	if r := ferry(t, emu.env(), "run", "--pipeline", pipeline, "--data-dir", dir, "--log-level", "warn"); r.code != cli.ExitOK {
		t.Fatalf("last run: exit %d\n%s", r.code, r.stderr)
	}
	if w := emu.writes(); w != 0 {
		t.Fatalf("the last run made %d write requests, want none", w)
	}
	got := endState(t, emu.api())
	t3 := time.Now()

	// Figures: records per kind in each end state, and duplicates (the
	// keys endState numbers #2, #3 for a second record of one email,
	// external id or conversation).
	count := func(state map[string]string) (map[string]int, map[string]int) {
		kinds, dups := map[string]int{}, map[string]int{}
		for k := range state {
			f := strings.Fields(k)
			kind := strings.Join(f[:min(2, len(f))], " ")
			if strings.HasPrefix(kind, "intercom contact") {
				kind = "intercom contact"
			}
			if kind == "intercom messages" {
				continue
			}
			kinds[kind]++
			if strings.Contains(k, "#") {
				dups[kind]++
			}
		}
		return kinds, dups
	}
	wantKinds, wantDups := count(want)
	gotKinds, gotDups := count(got)
	var kinds []string
	for k := range wantKinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var report strings.Builder
	under := "lost answers"
	if *chaosConvergeFaults {
		under = "failed requests and lost answers"
	}
	fmt.Fprintf(&report, "chaos: %d contacts, %d rounds (%d runs killed, emulators restarted %d times), converged after %d more runs under %s\n",
		scale, rounds, killed, restarts, converged, under)
	fmt.Fprintf(&report, "wall: uninterrupted %s, rounds %s, convergence %s\n", t1.Sub(t0).Round(time.Second), t2.Sub(t1).Round(time.Second), t3.Sub(t2).Round(time.Second))
	fmt.Fprintf(&report, "%-32s %10s %10s %12s\n", "kind", "clean", "chaos", "duplicates")
	for _, k := range kinds {
		fmt.Fprintf(&report, "%-32s %10d %10d %12d\n", k, wantKinds[k], gotKinds[k], gotDups[k]-wantDups[k])
	}
	fmt.Fprintf(&report, "%-32s %10s %10s\n", "intercom messages sent", want["intercom messages sent"], got["intercom messages sent"])
	t.Log("\n" + report.String())
	if g, w := sortedLines(got), sortedLines(want); g != w {
		t.Fatalf("end state after chaos differs from an uninterrupted run:\n%s", lineDiff(w, g))
	}
}
