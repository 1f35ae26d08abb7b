package cli_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/emulator/intercom"
	"github.com/ferry-sync/ferry/internal/serve"
	"github.com/ferry-sync/ferry/internal/testenv"
)

// startServe runs `ferry serve` as a process on addr until the test ends.
func startServe(t *testing.T, env []string, pipeline, dataDir, addr string) {
	t.Helper()
	cmd := exec.Command(ferryBin, "serve", "--pipeline", pipeline, "--data-dir", dataDir, "--listen", addr, "--batch-wait", "100ms")
	cmd.Env = append(env, "INTERCOM_CLIENT_SECRET="+intercom.ClientSecret)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("ferry serve:\n%s", stderr.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ferry serve did not start: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServe_ClosedConversationReachesSalesforce: with ferry serve
// receiving the emulator's webhooks, an open conversation closed in
// Intercom becomes a completed Task in Salesforce within seconds, without
// a scheduled run; forged notifications are refused; one delivered five
// times is synced once; a scheduled run afterwards writes nothing.
func TestServe_ClosedConversationReachesSalesforce(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 300, Webhooks: intercom.Webhooks{URL: "http://" + addr + "/webhooks/intercom", Backoff: 200 * time.Millisecond}})
	pipeline := smallBatchPipeline(t)
	dir := t.TempDir()
	getenv := emu.Env(nil)
	if r := ferry(t, getenv, "run", "--pipeline", pipeline, "--data-dir", dir, "--log-level", "warn"); r.code != 0 {
		t.Fatalf("first run: exit %d\n%s", r.code, r.stderr)
	}
	startServe(t, envList(getenv), pipeline, dir, addr)

	// An open conversation whose contact is matched: its Task is In
	// Progress.
	var open string
	for _, task := range emu.SOQL("SELECT Intercom_Conversation_Id__c, Status FROM Task WHERE Status = 'In Progress'") {
		open = testenv.Str(task, "Intercom_Conversation_Id__c")
		break
	}
	if open == "" {
		t.Fatal("no open conversation with a Task")
	}
	w0 := emu.SFStats().WriteRequests
	start := time.Now()
	if code, b := emu.ICDo(http.MethodPost, "/conversations/"+open+"/parts", map[string]any{"message_type": "close", "type": "admin", "admin_id": "991200000"}); code != 200 {
		t.Fatalf("close: %d %s", code, b)
	}
	for {
		got := emu.SOQL("SELECT Id, Status FROM Task WHERE Intercom_Conversation_Id__c = '" + open + "'")
		if len(got) == 1 && testenv.Str(got[0], "Status") == "Completed" {
			break
		}
		if len(got) > 1 {
			t.Fatalf("two Tasks for %s: %v", open, got)
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("the closed conversation's Task is still %v after a minute", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("closed conversation to completed Task: %s", time.Since(start).Round(time.Millisecond))

	// Forged and replayed deliveries change nothing.
	body, _ := json.Marshal(map[string]any{"type": "notification_event", "id": "notif_forged", "topic": "conversation.admin.closed", "created_at": time.Now().Unix(),
		"data": map[string]any{"type": "notification_event_data", "item": map[string]any{"type": "conversation", "id": open}}})
	post := func(body []byte, sig string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/intercom", bytes.NewReader(body))
		req.Header.Set("X-Hub-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(body, serve.Sign([]byte("not the secret"), body)); code != http.StatusUnauthorized {
		t.Fatalf("forged notification: %d", code)
	}
	// A genuine notification delivered five times is synced once.
	genuine := bytes.Replace(body, []byte("notif_forged"), []byte("notif_five"), 1)
	for range 5 {
		if code := post(genuine, serve.Sign([]byte(intercom.ClientSecret), genuine)); code != http.StatusOK {
			t.Fatalf("genuine notification: %d", code)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		var m bytes.Buffer
		m.ReadFrom(resp.Body)
		resp.Body.Close()
		if strings.Contains(m.String(), "ferry_webhook_pending 0\n") && strings.Contains(m.String(), "ferry_webhook_notifications_duplicate_total 4\n") {
			if !strings.Contains(m.String(), `ferry_webhook_notifications_rejected_total{reason="signature"} 1`) {
				t.Fatalf("metrics:\n%s", m.String())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notifications still pending after a minute:\n%s", m.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := emu.SOQL("SELECT Id FROM Task WHERE Intercom_Conversation_Id__c = '" + open + "'"); len(got) != 1 {
		t.Fatalf("Tasks for %s: %v", open, got)
	}
	// The close was written once (Task Status and nothing else).
	if w := emu.SFStats().WriteRequests - w0; w == 0 {
		t.Fatal("no Salesforce write")
	}
	w1 := emu.SFStats().WriteRequests + emu.ICStats().WriteRequests
	// A scheduled run, the safety net, finds nothing left to do. It waits
	// for the data dir while a batch holds it.
	var r result
	for range 20 {
		if r = ferry(t, getenv, "run", "--pipeline", pipeline, "--data-dir", dir, "--log-level", "warn"); r.code == 0 || !strings.Contains(r.stderr, "in use") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r.code != 0 {
		t.Fatalf("scheduled run: exit %d\n%s", r.code, r.stderr)
	}
	if w := emu.SFStats().WriteRequests + emu.ICStats().WriteRequests - w1; w != 0 {
		t.Fatalf("the scheduled run after the webhook's batch wrote %d requests:\n%s", w, r.stdout)
	}
}
