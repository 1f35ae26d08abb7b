package salesforce

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/emulator/seed"
)

// TestLoseRate_WritesCommitAndTheirAnswersAreLost: with every write's
// response lost, each write still takes effect, the client sees a dropped
// connection, a 502 or a 504 (all three occur), and reads are answered.
func TestLoseRate_WritesCommitAndTheirAnswersAreLost(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{Dataset: seed.New(seed.Params{Seed: 1, Scale: 100}), LoseRate: 1, FaultSeed: 3})
	seen := map[string]int{}
	for i := range 12 {
		body, _ := json.Marshal(map[string]any{"LastName": "Lost", "Company": "Acme"})
		req, _ := http.NewRequest("PATCH", b.ts.URL+v+fmt.Sprintf("sobjects/Lead/Intercom_Id__c/lost-%d", i), bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+b.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		switch {
		case err != nil:
			seen["dropped"]++
		case resp.StatusCode == 502 || resp.StatusCode == 504:
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(out), "errorCode") {
				t.Fatalf("a gateway's %d carries the API's error body: %s", resp.StatusCode, out)
			}
			seen[fmt.Sprint(resp.StatusCode)]++
		default:
			resp.Body.Close()
			t.Fatalf("write %d answered %d with its response meant to be lost", i, resp.StatusCode)
		}
	}
	if seen["dropped"] == 0 || seen["502"] == 0 || seen["504"] == 0 {
		t.Fatalf("losses seen %v, want all three kinds", seen)
	}
	// Reads are never lost, and every write above was committed.
	for i := range 12 {
		code, out := b.json(t, "GET", v+fmt.Sprintf("sobjects/Lead/Intercom_Id__c/lost-%d", i), nil)
		if code != 200 || !strings.Contains(string(out), `"LastName":"Lost"`) {
			t.Fatalf("lead lost-%d after its lost answer: %d %s", i, code, out)
		}
	}
	stats := b.srv.stats.snapshot()
	if got := fmt.Sprint(stats["faults"]); !strings.Contains(got, "lost-502") {
		t.Fatalf("fault counters %s do not count lost answers", got)
	}
}
