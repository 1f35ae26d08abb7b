package salesforce

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/emulator/seed"
	"github.com/ferry-sync/ferry/emulator/store"
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

// TestBulkJobs_SurviveRestart: an emulator restarted on its journal
// answers for the ingest jobs it had as an org that kept running: a
// finished job keeps its state, counts and result files; a job left open
// with its upload can be closed and runs; a deleted job stays deleted.
func TestBulkJobs_SurviveRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	open := func(delay time.Duration) *bundle {
		j, err := store.Open(dir, "salesforce.journal")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { j.Close() })
		return setup(t, Options{Dataset: seed.New(seed.Params{Seed: 1, Scale: 50}), Journal: j, BulkDelay: delay})
	}
	b := open(0)
	job := func(b *bundle, csv string, close bool) string {
		_, out := b.json(t, "POST", v+"jobs/ingest", map[string]any{"object": "Lead", "operation": "upsert", "externalIdFieldName": "Intercom_Id__c"})
		var info map[string]any
		json.Unmarshal(out, &info)
		id := info["id"].(string)
		if code, _, body := b.do(t, "PUT", v+"jobs/ingest/"+id+"/batches", "text/csv", []byte(csv)); code != 201 {
			t.Fatalf("upload: %d %s", code, body)
		}
		if close {
			if code, out := b.json(t, "PATCH", v+"jobs/ingest/"+id, map[string]string{"state": "UploadComplete"}); code != 200 {
				t.Fatalf("close: %d %s", code, out)
			}
		}
		return id
	}
	state := func(b *bundle, id string) map[string]any {
		code, out := b.json(t, "GET", v+"jobs/ingest/"+id, nil)
		info := map[string]any{}
		json.Unmarshal(out, &info)
		info["code"] = code
		return info
	}
	wait := func(b *bundle, id string) map[string]any {
		for range 400 {
			if info := state(b, id); info["state"] == "JobComplete" {
				return info
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("job %s never completed", id)
		return nil
	}
	done := job(b, "Intercom_Id__c,LastName,Company\nr-1,One,Acme\nr-2,,Acme\n", true)
	wait(b, done)
	left := job(b, "Intercom_Id__c,LastName,Company\nr-3,Three,Acme\n", false)
	gone := job(b, "Intercom_Id__c,LastName,Company\nr-4,Four,Acme\n", true)
	wait(b, gone)
	if code, _, body := b.do(t, "DELETE", v+"jobs/ingest/"+gone, "", nil); code != 204 {
		t.Fatalf("delete: %d %s", code, body)
	}
	b.ts.Close() // the emulator dies; its journal stays

	// One more job, closed, dies mid-processing with the emulator.
	b = open(time.Hour)
	running := job(b, "Intercom_Id__c,LastName,Company\nr-6,Six,Acme\n", true)
	if info := state(b, running); info["state"] != "InProgress" && info["state"] != "UploadComplete" {
		t.Fatalf("job kept processing: %v", info)
	}
	b.ts.Close()

	b = open(0)
	if info := wait(b, running); info["numberRecordsProcessed"].(float64) != 1 {
		t.Fatalf("the job interrupted mid-processing, run again: %v", info)
	}
	if code, out := b.json(t, "GET", v+"sobjects/Lead/Intercom_Id__c/r-6", nil); code != 200 {
		t.Fatalf("the interrupted job wrote nothing after the restart: %d %s", code, out)
	}
	info := state(b, done)
	if info["code"] != 200 || info["state"] != "JobComplete" || info["numberRecordsProcessed"].(float64) != 2 || info["numberRecordsFailed"].(float64) != 1 {
		t.Fatalf("finished job after a restart: %v", info)
	}
	_, _, ok := b.do(t, "GET", v+"jobs/ingest/"+done+"/successfulResults", "", nil)
	_, _, failed := b.do(t, "GET", v+"jobs/ingest/"+done+"/failedResults", "", nil)
	if !strings.Contains(string(ok), `"r-1"`) || !strings.Contains(string(failed), "REQUIRED_FIELD_MISSING") {
		t.Fatalf("result files after a restart:\n%s\n%s", ok, failed)
	}
	if code, out := b.json(t, "PATCH", v+"jobs/ingest/"+left, map[string]string{"state": "UploadComplete"}); code != 200 {
		t.Fatalf("close a job left open before the restart: %d %s", code, out)
	}
	wait(b, left)
	if code, out := b.json(t, "GET", v+"sobjects/Lead/Intercom_Id__c/r-3", nil); code != 200 {
		t.Fatalf("the job closed after the restart wrote nothing: %d %s", code, out)
	}
	if info := state(b, gone); info["code"] != 404 {
		t.Fatalf("a deleted job came back after a restart: %v", info)
	}
	// New jobs do not take the ids of old ones.
	if id := job(b, "Intercom_Id__c,LastName,Company\nr-5,Five,Acme\n", false); id == done || id == left || id == gone {
		t.Fatalf("a new job took an old job's id %s", id)
	}
}

// TestBulkQueryJobs_SurviveRestart: a query job keeps its state and its
// results across a restart (the rows as of its creation, not re-run); a
// deleted one stays deleted.
func TestBulkQueryJobs_SurviveRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	open := func() *bundle {
		j, err := store.Open(dir, "salesforce.journal")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { j.Close() })
		return setup(t, Options{Dataset: seed.New(seed.Params{Seed: 1, Scale: 50}), Journal: j})
	}
	b := open()
	create := func() string {
		code, out := b.json(t, "POST", v+"jobs/query", map[string]string{"operation": "query", "query": "SELECT Id FROM Lead"})
		if code != 200 {
			t.Fatalf("create: %d %s", code, out)
		}
		var info map[string]any
		json.Unmarshal(out, &info)
		return info["id"].(string)
	}
	kept, gone := create(), create()
	for range 3 {
		b.json(t, "GET", v+"jobs/query/"+kept, nil)
	}
	_, _, before := b.do(t, "GET", v+"jobs/query/"+kept+"/results", "", nil)
	if code, _, body := b.do(t, "DELETE", v+"jobs/query/"+gone, "", nil); code != 204 {
		t.Fatalf("delete: %d %s", code, body)
	}
	// A Lead created after the job is not in its results, before or after.
	if code, out := b.json(t, "POST", v+"sobjects/Lead", map[string]any{"LastName": "Later", "Company": "Acme"}); code != 201 {
		t.Fatalf("create Lead: %d %s", code, out)
	}
	b.ts.Close()

	b = open()
	code, out := b.json(t, "GET", v+"jobs/query/"+kept, nil)
	if code != 200 || !strings.Contains(string(out), `"state":"JobComplete"`) {
		t.Fatalf("query job after a restart: %d %s", code, out)
	}
	code, _, after := b.do(t, "GET", v+"jobs/query/"+kept+"/results", "", nil)
	if code != 200 || string(after) != string(before) || strings.Count(string(after), "\n") < 10 {
		t.Fatalf("results after a restart: %d\n%s\nbefore:\n%s", code, after, before)
	}
	if code, _ := b.json(t, "GET", v+"jobs/query/"+gone, nil); code != 404 {
		t.Fatalf("a deleted query job came back: %d", code)
	}
}
