package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/emulator/intercom"
	"github.com/ferry-sync/ferry/internal/serve"
	"github.com/ferry-sync/ferry/internal/testenv"
)

// served is a `ferry serve` process.
type served struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	log bytes.Buffer
}

func (s *served) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.Write(p)
}

func (s *served) logged() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// kill stops the process with SIGKILL: no deferred code, no flushing.
func (s *served) kill() {
	s.cmd.Process.Kill()
	if s.cmd.ProcessState == nil {
		s.cmd.Wait()
	}
}

// startServe runs `ferry serve` as a process on addr until the test ends
// (or kill), with env and the emulated app's client secret.
func startServe(t testing.TB, env []string, pipeline, dataDir, addr string) *served {
	t.Helper()
	s := &served{cmd: exec.Command(ferryBin, "serve", "--pipeline", pipeline, "--data-dir", dataDir, "--listen", addr, "--batch-wait", "100ms")}
	s.cmd.Env = append(env, "INTERCOM_CLIENT_SECRET="+intercom.ClientSecret)
	s.cmd.Stderr = s
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("ferry serve:\n%s", s.logged())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("ferry serve did not start: %v\n%s", err, s.logged())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// openTasks returns the conversations whose contact is matched and whose
// Task is still In Progress: open conversations a close will complete.
func openTasks(t testing.TB, emu *testenv.Emulators, n int) []string {
	t.Helper()
	var out []string
	for _, task := range emu.SOQL("SELECT Intercom_Conversation_Id__c FROM Task WHERE Status = 'In Progress' ORDER BY Intercom_Conversation_Id__c") {
		if id := testenv.Str(task, "Intercom_Conversation_Id__c"); id != "" && len(out) < n {
			out = append(out, id)
		}
	}
	if len(out) < n {
		t.Fatalf("%d open conversations with a Task, want %d", len(out), n)
	}
	return out
}

// closeConversation closes a conversation in the Intercom emulator, which
// notifies ferry serve.
func closeConversation(t testing.TB, emu *testenv.Emulators, id string) {
	t.Helper()
	if code, b := emu.ICDo(http.MethodPost, "/conversations/"+id+"/parts", map[string]any{"message_type": "close", "type": "admin", "admin_id": "991200000"}); code != 200 {
		t.Fatalf("close %s: %d %s", id, code, b)
	}
}

// taskStatus is the Status of the one Task of a conversation; two Tasks
// fail the test.
func taskStatus(t testing.TB, emu *testenv.Emulators, conversation string) string {
	t.Helper()
	got := emu.SOQL("SELECT Id, Status FROM Task WHERE Intercom_Conversation_Id__c = '" + conversation + "'")
	if len(got) > 1 {
		t.Fatalf("%d Tasks for conversation %s: %v", len(got), conversation, got)
	}
	if len(got) == 0 {
		return ""
	}
	return testenv.Str(got[0], "Status")
}

// waitFor polls cond until it holds or within has passed.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// deliver posts a notification body to ferry serve with a signature.
func deliver(t testing.TB, addr string, body []byte, sig string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/intercom", bytes.NewReader(body))
	req.Header.Set("X-Hub-Signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// serveMetrics reads ferry serve's /metrics.
func serveMetrics(t testing.TB, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m bytes.Buffer
	m.ReadFrom(resp.Body)
	return m.String()
}

// idle reports whether ferry serve has no notification pending.
func idle(t testing.TB, addr string) bool {
	return strings.Contains(serveMetrics(t, addr), "ferry_webhook_pending 0\n")
}

// waitIdle waits up to a minute for ferry serve to sync every pending
// notification.
func waitIdle(t testing.TB, addr string) {
	t.Helper()
	waitFor(t, time.Minute, "the inbox emptied", func() bool { return idle(t, addr) })
}

// writes counts both emulators' write requests.
func writes(emu *testenv.Emulators) int {
	return emu.SFStats().WriteRequests + emu.ICStats().WriteRequests
}

// scheduledRunWritesNothing runs `ferry run` as a schedule would beside
// ferry serve (waiting for the data dir while a batch holds it) and fails
// the test if it writes anything.
func scheduledRunWritesNothing(t *testing.T, emu *testenv.Emulators, pipeline, dir string) {
	t.Helper()
	w := writes(emu)
	r := ferry(t, emu.Env(nil), "run", "--pipeline", pipeline, "--data-dir", dir, "--log-level", "warn", "--lock-wait", "2m")
	if r.code != 0 {
		t.Fatalf("scheduled run: exit %d\n%s", r.code, r.stderr)
	}
	if n := writes(emu) - w; n != 0 {
		t.Fatalf("the scheduled run after ferry serve's batches made %d write requests:\n%s", n, r.stdout)
	}
}

// currentState digests the current state of the objects ferry serve's
// batches read by id and read back, as `ferry query` sees it: per table,
// the row count and the sum of row hashes over the columns in name order
// (a rebuild may order them differently).
func currentState(t testing.TB, getenv func(string) string, dir string) string {
	t.Helper()
	query := func(q string) string {
		r := ferry(t, getenv, "query", "--data-dir", dir, "--lock-wait", "2m", "--format", "csv", q)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", q, r.code, r.stderr)
		}
		return r.stdout
	}
	var parts []string
	for _, table := range []string{"intercom__contacts", "intercom__conversations", "salesforce__task", "salesforce__contact", "salesforce__lead", "salesforce__account"} {
		names := strings.Fields(query(fmt.Sprintf(`SELECT column_name FROM information_schema.columns WHERE table_schema = 'raw' AND table_name = '%s' ORDER BY column_name`, table)))
		cols := make([]string, len(names)-1) // after the CSV header
		for i, c := range names[1:] {
			cols[i] = `"` + c + `"`
		}
		parts = append(parts, fmt.Sprintf("SELECT '%s' AS t, count(*) AS n, CAST(sum(hash(%s)) AS VARCHAR) AS h FROM raw.%[1]s", table, strings.Join(cols, ", ")))
	}
	return query(strings.Join(parts, " UNION ALL ") + " ORDER BY t")
}

// serveBed starts emulators of 300 contacts whose Intercom delivers
// webhooks to addr (retrying after 200 ms), and runs a first sync into
// dir; ferry serve is the caller's to start on addr.
func serveBed(t *testing.T) (emu *testenv.Emulators, addr, pipeline, dir string) {
	t.Helper()
	addr = freeAddr(t)
	emu = testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 300, Webhooks: intercom.Webhooks{URL: "http://" + addr + "/webhooks/intercom", Backoff: 200 * time.Millisecond}})
	pipeline, dir = smallBatchPipeline(t), t.TempDir()
	if r := ferry(t, emu.Env(nil), "run", "--pipeline", pipeline, "--data-dir", dir, "--log-level", "warn"); r.code != 0 {
		t.Fatalf("first run: exit %d\n%s", r.code, r.stderr)
	}
	return emu, addr, pipeline, dir
}

// TestServe_ClosedConversationReachesSalesforce: with ferry serve
// receiving the emulator's webhooks, an open conversation closed in
// Intercom becomes a completed Task in Salesforce within seconds, without
// a scheduled run; forged and replayed notifications are refused and
// change nothing; one delivered five times is synced once; a scheduled
// run afterwards writes nothing.
func TestServe_ClosedConversationReachesSalesforce(t *testing.T) {
	t.Parallel()
	emu, addr, pipeline, dir := serveBed(t)
	getenv := emu.Env(nil)
	startServe(t, envList(getenv), pipeline, dir, addr)

	open := openTasks(t, emu, 2)
	start := time.Now()
	closeConversation(t, emu, open[0])
	waitFor(t, time.Minute, "the closed conversation's Task completed", func() bool { return taskStatus(t, emu, open[0]) == "Completed" })
	t.Logf("closed conversation to completed Task: %s", time.Since(start).Round(time.Millisecond))

	// Forged and replayed deliveries change nothing: one naming the
	// other open conversation, with a wrong signature, and one with the
	// right signature created two days ago (a captured delivery sent
	// again after the inbox forgot its id).
	notification := func(id string, created time.Time) []byte {
		b, _ := json.Marshal(map[string]any{"type": "notification_event", "id": id, "topic": "conversation.admin.closed", "created_at": created.Unix(),
			"data": map[string]any{"type": "notification_event_data", "item": map[string]any{"type": "conversation", "id": open[1]}}})
		return b
	}
	secret := []byte(intercom.ClientSecret)
	received := func() string {
		return regexp.MustCompile(`(?m)^ferry_webhook_notifications_received_total .*$`).FindString(serveMetrics(t, addr))
	}
	waitIdle(t, addr)
	was := received()
	forged := notification("notif_forged", time.Now())
	if code := deliver(t, addr, forged, serve.Sign([]byte("not the secret"), forged)); code != http.StatusUnauthorized {
		t.Fatalf("forged notification: %d", code)
	}
	replayed := notification("notif_replayed", time.Now().Add(-48*time.Hour))
	if code := deliver(t, addr, replayed, serve.Sign(secret, replayed)); code != http.StatusBadRequest {
		t.Fatalf("replayed notification: %d", code)
	}
	if now := received(); now != was || !idle(t, addr) {
		t.Fatalf("a forged or replayed notification was stored: %s, then %s", was, now)
	}
	// The other conversation is closed too, and besides the emulator's
	// own notification, a genuine one is delivered five times, each after
	// the batches before it finished: its Task is updated once.
	tasks := func() int { return emu.SFStats().Records["Task"]["updated"] }
	updated := tasks()
	closeConversation(t, emu, open[1])
	genuine := notification("notif_five", time.Now())
	for range 5 {
		if code := deliver(t, addr, genuine, serve.Sign(secret, genuine)); code != http.StatusOK {
			t.Fatalf("genuine notification: %d", code)
		}
		waitIdle(t, addr)
	}
	m := serveMetrics(t, addr)
	for _, want := range []string{`ferry_webhook_notifications_rejected_total{reason="signature"} 1`, `ferry_webhook_notifications_rejected_total{reason="stale"} 1`, "ferry_webhook_notifications_duplicate_total 4\n"} {
		if !strings.Contains(m, want) {
			t.Fatalf("metrics lack %s:\n%s", want, m)
		}
	}
	// The batches' Salesforce calls count against the pipeline's daily
	// budget, and /metrics shows both.
	if !regexp.MustCompile(`(?m)^ferry_salesforce_api_calls_used [1-9][0-9]*$`).MatchString(m) || !regexp.MustCompile(`(?m)^ferry_salesforce_api_budget [1-9][0-9]*$`).MatchString(m) {
		t.Fatalf("metrics lack the Salesforce budget used:\n%s", m)
	}
	for _, id := range open {
		if got := taskStatus(t, emu, id); got != "Completed" {
			t.Fatalf("the Task of closed conversation %s is %q", id, got)
		}
	}
	if n := tasks() - updated; n != 1 {
		t.Fatalf("closing %s, its notification and five deliveries of another updated %d Tasks, want 1", open[1], n)
	}
	scheduledRunWritesNothing(t, emu, pipeline, dir)
	// The landing files keep every version the batches read, by id and
	// read back in the same run: a rebuild from them gives the same
	// current state.
	before := currentState(t, getenv, dir)
	// (The transform adds back, empty, the columns the mappings name that
	// Salesforce does not have, such as a Contact's Status.)
	for _, cmd := range []string{"rebuild", "transform"} {
		if r := ferry(t, getenv, cmd, "--pipeline", pipeline, "--data-dir", dir, "--lock-wait", "2m"); r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", cmd, r.code, r.stderr)
		}
	}
	if after := currentState(t, getenv, dir); after != before {
		t.Fatalf("current state rebuilt from the landing files differs:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// TestServe_KilledMidBatchConverges kills ferry serve with SIGKILL in the
// middle of a batch's load (Intercom written, Salesforce not yet), starts
// it again on the same inbox and data dir, and checks that the batch is
// finished without a duplicate: one completed Task per closed
// conversation, and a scheduled run afterwards writes nothing.
func TestServe_KilledMidBatchConverges(t *testing.T) {
	t.Parallel()
	emu, addr, pipeline, dir := serveBed(t)
	getenv := emu.Env(nil)
	open := openTasks(t, emu, 3)
	paused := startServe(t, envList(getenv, "FERRY_TEST_PAUSE_AT=after-intercom-load"), pipeline, dir, addr)
	for _, id := range open {
		closeConversation(t, emu, id)
	}
	waitFor(t, 2*time.Minute, "a batch paused mid-load", func() bool { return strings.Contains(paused.logged(), "msg=paused") })
	paused.kill()
	for _, id := range open {
		if got := taskStatus(t, emu, id); got != "In Progress" {
			t.Fatalf("before the restart, the Task of %s is %q: the kill came too late to test anything", id, got)
		}
	}
	startServe(t, envList(getenv), pipeline, dir, addr)
	waitFor(t, 2*time.Minute, "the closed conversations' Tasks completed after the restart", func() bool {
		for _, id := range open {
			if taskStatus(t, emu, id) != "Completed" {
				return false
			}
		}
		return true
	})
	waitIdle(t, addr)
	scheduledRunWritesNothing(t, emu, pipeline, dir)
}

// TestServe_ScheduledRunAtOnce runs a scheduled `ferry run` while ferry
// serve syncs webhooks: a conversation closed and an Intercom edit reach
// Salesforce through the webhook, a Salesforce edit reaches Intercom
// through the run; neither is lost, nothing is written twice, and a
// further run writes nothing.
func TestServe_ScheduledRunAtOnce(t *testing.T) {
	t.Parallel()
	emu, addr, pipeline, dir := serveBed(t)
	getenv := emu.Env(nil)
	startServe(t, envList(getenv), pipeline, dir, addr)
	open := openTasks(t, emu, 1)
	pairs := linkedPairs(t, emu, 2)
	const v = "/services/data/v62.0/sobjects/"
	// Salesforce sends no webhooks: the run carries its edit (Phone,
	// owned by whichever side changed). Intercom's edit (job_title,
	// Intercom's) goes through ferry serve.
	if code, b := emu.SFDo(http.MethodPatch, v+"Contact/"+testenv.Str(pairs[0], "Id"), map[string]any{"Phone": "+1-555-010-0042"}); code != 204 {
		t.Fatalf("edit Phone: %d %s", code, b)
	}
	icEdited := testenv.Str(pairs[1], "Intercom_Id__c")
	done := make(chan result, 1)
	go func() {
		done <- ferry(t, getenv, "run", "--pipeline", pipeline, "--data-dir", dir, "--log-level", "warn", "--lock-wait", "2m")
	}()
	closeConversation(t, emu, open[0])
	if code, b := emu.ICDo(http.MethodPut, "/contacts/"+icEdited, map[string]any{"custom_attributes": map[string]any{"job_title": "Head of Webhooks"}}); code != 200 {
		t.Fatalf("edit job_title: %d %s", code, b)
	}
	if r := <-done; r.code != 0 {
		t.Fatalf("scheduled run beside ferry serve: exit %d\n%s", r.code, r.stderr)
	}
	waitFor(t, 2*time.Minute, "both edits and the close synced", func() bool {
		title := emu.SOQL("SELECT Title FROM Contact WHERE Id = '" + testenv.Str(pairs[1], "Id") + "'")
		var phone string
		for _, c := range emu.ICContacts() {
			if testenv.Str(c, "id") == testenv.Str(pairs[0], "Intercom_Id__c") {
				phone = testenv.Str(c, "phone")
			}
		}
		return taskStatus(t, emu, open[0]) == "Completed" && len(title) == 1 && testenv.Str(title[0], "Title") == "Head of Webhooks" && phone == "+1-555-010-0042"
	})
	waitIdle(t, addr)
	scheduledRunWritesNothing(t, emu, pipeline, dir)

	// A batch's write of a field whichever side changed owns (Phone)
	// survives the quiet scheduled run after it: that run's incremental
	// build sees what the batch read back.
	const phone = "+1-555-010-0077"
	if code, b := emu.ICDo(http.MethodPut, "/contacts/"+icEdited, map[string]any{"phone": phone}); code != 200 {
		t.Fatalf("edit phone: %d %s", code, b)
	}
	sfPhone := func() string {
		got := emu.SOQL("SELECT Phone FROM Contact WHERE Id = '" + testenv.Str(pairs[1], "Id") + "'")
		if len(got) != 1 {
			t.Fatalf("Contact %s: %v", testenv.Str(pairs[1], "Id"), got)
		}
		return testenv.Str(got[0], "Phone")
	}
	waitFor(t, time.Minute, "the Intercom phone in Salesforce", func() bool { return sfPhone() == phone })
	waitIdle(t, addr)
	scheduledRunWritesNothing(t, emu, pipeline, dir)
	icPhone := ""
	for _, c := range emu.ICContacts() {
		if testenv.Str(c, "id") == icEdited {
			icPhone = testenv.Str(c, "phone")
		}
	}
	if got := sfPhone(); got != phone || icPhone != phone {
		t.Fatalf("after the quiet run: Salesforce phone %q, Intercom %q, want %q", got, icPhone, phone)
	}
}

// TestServe_GracefulStop stops ferry serve with SIGTERM while the batch
// of a closed conversation is under way: it exits 0 within seconds,
// having finished or abandoned the batch, and started again it completes
// the Task once; a scheduled run afterwards writes nothing.
func TestServe_GracefulStop(t *testing.T) {
	t.Parallel()
	emu, addr, pipeline, dir := serveBed(t)
	getenv := emu.Env(nil)
	first := startServe(t, envList(getenv), pipeline, dir, addr)
	open := openTasks(t, emu, 1)
	// The batch is under way once it extracts the conversation named.
	mark := len(first.logged())
	closeConversation(t, emu, open[0])
	waitFor(t, time.Minute, "the batch under way", func() bool {
		return strings.Contains(first.logged()[mark:], "object=conversations")
	})
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	stopping := time.Now()
	go func() { exited <- first.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("ferry serve stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ferry serve did not stop within 30 s of SIGTERM")
	}
	t.Logf("stopped %s after SIGTERM", time.Since(stopping).Round(time.Millisecond))
	if !strings.Contains(first.logged(), "msg=stopped") {
		t.Fatalf("no orderly stop logged:\n%s", first.logged())
	}
	startServe(t, envList(getenv), pipeline, dir, addr)
	waitFor(t, time.Minute, "the Task completed after the restart", func() bool { return taskStatus(t, emu, open[0]) == "Completed" })
	waitIdle(t, addr)
	scheduledRunWritesNothing(t, emu, pipeline, dir)
}

// BenchmarkServe_CloseToTask measures, with ferry serve beside the
// schedule, how long a conversation closed in Intercom takes to become a
// completed Task in Salesforce: from the close (the emulator delivers its
// webhook at once) to the Task read back Completed, one conversation at a
// time. It seeds FERRY_BENCH_SCALE contacts (default 10,000), runs a
// first sync and an echo run with ferry serve up, waits for the
// notifications ferry's own writes caused to be synced, then closes
// FERRY_BENCH_CLOSES conversations (default 20). The setup is most of the
// time: make bench-serve runs it once (-benchtime 1x).
func BenchmarkServe_CloseToTask(b *testing.B) {
	envInt := func(name string, def int) int {
		if s := os.Getenv(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				b.Fatalf("%s=%s: want a positive number", name, s)
			}
			return n
		}
		return def
	}
	scale, closes := envInt("FERRY_BENCH_SCALE", 10_000), envInt("FERRY_BENCH_CLOSES", 20)
	addr := freeAddr(b)
	emu := testenv.StartEmulators(b, testenv.EmulatorOptions{Scale: scale, RateLimit: 100_000, Webhooks: intercom.Webhooks{URL: "http://" + addr + "/webhooks/intercom"}})
	text, err := os.ReadFile(pipelinePath())
	if err != nil {
		b.Fatal(err)
	}
	pipeline := testenv.WriteFile(b, b.TempDir(), "pipeline.yaml", enableShipped(b, string(text)))
	dir := b.TempDir()
	getenv := emu.Env(nil)
	srv := startServe(b, envList(getenv), pipeline, dir, addr)
	for _, name := range []string{"first sync", "echo run"} {
		t0 := time.Now()
		if r := ferry(b, getenv, "run", "--pipeline", pipeline, "--data-dir", dir, "--log-level", "warn", "--lock-wait", "10m"); r.code != 0 {
			b.Fatalf("%s: exit %d\n%s", name, r.code, r.stderr)
		}
		b.Logf("%s: %s", name, time.Since(t0).Round(time.Millisecond))
	}
	t0 := time.Now()
	waitFor(b, 30*time.Minute, "the notifications of ferry's own writes synced", func() bool {
		return idle(b, addr)
	})
	b.Logf("backlog of ferry's own writes synced %s after the echo run", time.Since(t0).Round(time.Millisecond))
	open := openTasks(b, emu, closes)
	var lat []time.Duration
	b.ResetTimer()
	for i := range closes {
		start := time.Now()
		closeConversation(b, emu, open[i])
		for taskStatus(b, emu, open[i]) != "Completed" {
			if time.Since(start) > 2*time.Minute {
				b.Fatalf("the Task of %s is not completed after 2 minutes", open[i])
			}
			time.Sleep(20 * time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "ms-median")
	b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "ms-max")
	b.Logf("%d contacts: close to completed Task, %d conversations: min %s, median %s, max %s", scale, len(lat), lat[0].Round(time.Millisecond), lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	// Where the last batch's time went: its stages, as ferry serve logs
	// them.
	lines := strings.Split(srv.logged(), "\n")
	last := ""
	for _, l := range lines {
		if strings.Contains(l, `msg="stage finished"`) {
			last = strings.Fields(strings.SplitAfter(l, "run_id=")[1])[0]
		}
	}
	for _, l := range lines {
		if last != "" && strings.Contains(l, "run_id="+last) && (strings.Contains(l, `msg="stage finished"`) || strings.Contains(l, "msg=extracted")) {
			b.Log(l)
		}
	}
}

// postCanvas sends a Canvas Kit request to ferry serve, signed with the
// emulated app's client secret unless sig is given.
func postCanvas(t testing.TB, addr, path string, req map[string]any, sig ...string) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(req)
	s := serve.SignCanvas([]byte(intercom.ClientSecret), body)
	if len(sig) > 0 {
		s = sig[0]
	}
	hr, _ := http.NewRequest(http.MethodPost, "http://"+addr+path, bytes.NewReader(body))
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("X-Body-Signature", s)
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestServe_InboxApp: ferry serve's Canvas Kit inbox app shows a person's
// Salesforce record from the warehouse without a Salesforce request, and
// its Create Lead button, for a person Salesforce does not know and the
// lead-capture rule does not take, writes one Lead within seconds; a
// forged request is refused; a scheduled run afterwards writes nothing.
func TestServe_InboxApp(t *testing.T) {
	t.Parallel()
	emu, addr, pipeline, dir := serveBed(t)
	getenv := emu.Env(nil)
	// A person with an email that Salesforce does not know and the rule
	// does not capture (an Intercom lead: users get Leads anyway), and a
	// person linked to a Salesforce Contact.
	q := ferry(t, getenv, "query", "--data-dir", dir, "--format", "csv", `SELECT c.intercom_id, c.email FROM int_people_intercom AS c
		WHERE c.role = 'lead' AND c.email_norm IS NOT NULL AND c.email_rank = 1
		  AND c.intercom_id NOT IN (SELECT intercom_id FROM int_people_identity)
		  AND c.intercom_id NOT IN (SELECT intercom_id FROM int_lead_capture_qualified)
		  AND c.email_norm NOT IN (SELECT email_norm FROM stg_salesforce__leads WHERE email_norm IS NOT NULL UNION SELECT email_norm FROM stg_salesforce__contacts WHERE email_norm IS NOT NULL)
		ORDER BY 1 LIMIT 1`)
	lines := strings.Split(strings.TrimSpace(q.stdout), "\n")
	if q.code != 0 || len(lines) != 2 {
		t.Fatalf("no unknown Intercom lead with an email: exit %d\n%s%s", q.code, q.stdout, q.stderr)
	}
	unknown, email, _ := strings.Cut(lines[1], ",")
	linked := linkedPairs(t, emu, 1)[0]
	startServe(t, envList(getenv), pipeline, dir, addr)

	admin := map[string]any{"type": "admin", "id": "991200000"}
	req := func(contact string) map[string]any {
		return map[string]any{"workspace_id": intercom.AppID, "workspace_region": "US", "admin": admin,
			"contact": map[string]any{"type": "contact", "id": contact}, "conversation": map[string]any{"type": "conversation", "id": "1"}}
	}
	components := func(resp map[string]any) string {
		b, _ := json.Marshal(resp["canvas"])
		return string(b)
	}
	// The snapshot is taken once ferry serve is idle.
	var shown map[string]any
	waitFor(t, time.Minute, "the inbox app ready", func() bool {
		code, resp := postCanvas(t, addr, "/canvas/initialize", req(testenv.Str(linked, "Intercom_Id__c")))
		shown = resp
		return code == 200 && !strings.Contains(components(resp), "not ready")
	})
	sf0 := emu.SFStats().TotalRequests
	for range 5 {
		code, resp := postCanvas(t, addr, "/canvas/initialize", req(testenv.Str(linked, "Intercom_Id__c")))
		if code != 200 || !strings.Contains(components(resp), testenv.Str(linked, "Email")) {
			t.Fatalf("the linked person's view: %d %s", code, components(resp))
		}
	}
	if n := emu.SFStats().TotalRequests - sf0; n != 0 {
		t.Fatalf("five views made %d Salesforce requests", n)
	}
	if !strings.Contains(components(shown), testenv.Str(linked, "Email")) {
		t.Fatalf("the linked person's view lacks their Salesforce email: %s", components(shown))
	}
	if code, _ := postCanvas(t, addr, "/canvas/initialize", req(unknown), serve.SignCanvas([]byte("not the secret"), []byte("{}"))); code != http.StatusUnauthorized {
		t.Fatalf("forged Canvas request: %d", code)
	}
	code, resp := postCanvas(t, addr, "/canvas/initialize", req(unknown))
	if code != 200 || !strings.Contains(components(resp), `"id":"create_lead"`) {
		t.Fatalf("no Create Lead for %s, unknown to Salesforce: %d %s", unknown, code, components(resp))
	}
	sub := req(unknown)
	sub["component_id"], sub["input_values"], sub["current_canvas"] = "create_lead", map[string]any{}, resp["canvas"]
	if code, resp := postCanvas(t, addr, "/canvas/submit", sub); code != 200 {
		t.Fatalf("Create Lead: %d %s", code, components(resp))
	}
	start := time.Now()
	waitFor(t, time.Minute, "the requested Lead created", func() bool {
		return len(emu.SOQL("SELECT Id FROM Lead WHERE Email = '"+email+"'")) > 0
	})
	t.Logf("Create Lead to the Lead in Salesforce: %s", time.Since(start).Round(time.Millisecond))
	waitIdle(t, addr)
	if got := emu.SOQL("SELECT Id, Intercom_Id__c, LeadSource FROM Lead WHERE Email = '" + email + "'"); len(got) != 1 || testenv.Str(got[0], "Intercom_Id__c") != unknown {
		t.Fatalf("Leads for %s: %v", email, got)
	}
	scheduledRunWritesNothing(t, emu, pipeline, dir)
	if got := emu.SOQL("SELECT Id FROM Lead WHERE Email = '" + email + "'"); len(got) != 1 {
		t.Fatalf("Leads for %s after a scheduled run: %v", email, got)
	}
}
