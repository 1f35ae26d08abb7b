package cli_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/internal/testenv"
)

var ferryBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferry-bin")
	if err != nil {
		panic(err)
	}
	ferryBin = filepath.Join(dir, "ferry")
	out, err := exec.Command("go", "build", "-o", ferryBin, "../../cmd/ferry").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build ferry: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// smallBatchPipeline is the example pipeline with Bulk API used from 11
// rows on, so small datasets exercise Bulk jobs, with the shipped
// workflows that are syncs and settle in one run turned on (the crash
// tests expect a rerun to converge), and with two declared syncs (an
// update of Accounts, an upsert of Tasks), so that the crash, fault and
// chaos tests cover them too.
func smallBatchPipeline(t testing.TB) string {
	t.Helper()
	return testenv.WriteFile(t, smallBatchDir(t), "pipeline.yaml", settlesInOneRun(smallBatchText(t))+declaredSyncs)
}

// smallBatchText is the example pipeline with small Collections batches,
// no search lag, and every shipped workflow on.
func smallBatchText(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(pipelinePath())
	if err != nil {
		t.Fatal(err)
	}
	// The emulators' search shows a write at once: a message whose answer
	// was lost is looked up by the next run.
	s := strings.NewReplacer("collections_max: 200", "collections_max: 10", "search_lag: 5m", "search_lag: 0s").Replace(string(b))
	if !strings.Contains(s, "collections_max: 10") || !strings.Contains(s, "search_lag: 0s") {
		t.Fatal("the example pipeline lacks collections_max: 200 or search_lag: 5m")
	}
	return enableShipped(t, s)
}

// smallBatchDir is a directory holding the declared syncs' models.
func smallBatchDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	testenv.WriteFile(t, dir, "account_tiers.sql", tiersModel)
	testenv.WriteFile(t, dir, "follow_ups.sql", followUpsModel)
	return dir
}

// pipelineWith writes the example pipeline with old replaced by new.
func pipelineWith(t *testing.T, old, new string) string {
	t.Helper()
	b, err := os.ReadFile(pipelinePath())
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), old, new, 1)
	if s == string(b) && old != new {
		t.Fatalf("pipeline has no %q to replace", old)
	}
	return testenv.WriteFile(t, t.TempDir(), "pipeline.yaml", s)
}

// cleanEndState runs pipeline once against fresh emulators at scale and
// returns the end state it leaves, with the emulators: what a run that met
// no trouble does.
func cleanEndState(t *testing.T, scale int, pipeline string) (map[string]string, *testenv.Emulators) {
	t.Helper()
	clean := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: scale})
	if r := ferry(t, clean.Env(nil), "run", "--pipeline", pipeline, "--data-dir", t.TempDir(), "--log-level", "warn"); r.code != 0 {
		t.Fatalf("uninterrupted run: exit %d\n%s", r.code, r.stderr)
	}
	return endState(t, clean), clean
}

// endState renders both systems' synced data in a form independent of the
// ids minted during the run: people keyed by email, companies by
// company_id or name, links rendered as the linked record's email.
func endState(t *testing.T, emu *testenv.Emulators) map[string]string {
	t.Helper()
	out := map[string]string{}
	put := func(key string, v any) {
		b, _ := json.Marshal(v)
		k := key
		for i := 2; ; i++ {
			if _, dup := out[k]; !dup {
				break
			}
			k = fmt.Sprintf("%s#%d", key, i) // a duplicate record shows up as an extra key
		}
		out[k] = string(b)
	}
	put("intercom messages sent", emu.ICStats().MessagesTotal)
	emails := map[string]string{}
	for _, c := range emu.ICContacts() {
		emails[testenv.Str(c, "id")] = lower(testenv.Str(c, "email"))
	}
	// Tags by name: a tag ferry makes (a Lead status) has the id its
	// emulator gave it.
	tagName := map[string]string{}
	if code, b := emu.ICDo(http.MethodGet, "/tags", nil); code == http.StatusOK {
		var tags struct {
			Data []map[string]any `json:"data"`
		}
		json.Unmarshal(b, &tags)
		for _, tg := range tags.Data {
			tagName[testenv.Str(tg, "id")] = testenv.Str(tg, "name")
		}
	} else {
		t.Fatalf("list tags: %d %s", code, b)
	}
	for _, c := range emu.ICContacts() {
		key := "intercom contact " + testenv.Str(c, "role") + " " + lower(testenv.Str(c, "email"))
		if testenv.Str(c, "email") == "" {
			key += testenv.Str(c, "id")
		}
		var tags []string
		if list, ok := c["tags"].(map[string]any); ok {
			for _, tg := range asList(list["data"]) {
				tags = append(tags, tagName[testenv.Str(tg, "id")])
			}
		}
		sort.Strings(tags)
		put(key, []string{testenv.Str(c, "phone"), testenv.Str(c, "custom_attributes.job_title"), testenv.Str(c, "custom_attributes.account_owner"), testenv.Str(c, "unsubscribed_from_emails"), testenv.Str(c, "name"), strings.Join(tags, ";")})
	}
	// Companies with a contact (the others are not listed), page by page.
	for page := 1; ; page++ {
		code, b := emu.ICDo("POST", fmt.Sprintf("/companies/list?per_page=60&page=%d", page), nil)
		if code != 200 {
			t.Fatalf("list companies: %d %s", code, b)
		}
		var companies struct {
			Data []map[string]any `json:"data"`
		}
		json.Unmarshal(b, &companies)
		if len(companies.Data) == 0 {
			break
		}
		for _, c := range companies.Data {
			// By company_id: one ferry makes for an Account has the id its
			// emulator gave it.
			key := "intercom company " + testenv.Str(c, "company_id")
			if testenv.Str(c, "company_id") == "" {
				key += testenv.Str(c, "id")
			}
			put(key, []string{testenv.Str(c, "name"), testenv.Str(c, "website"), testenv.Str(c, "size"), testenv.Str(c, "industry"), testenv.Str(c, "custom_attributes.annual_revenue")})
		}
	}
	people := map[string]string{} // Lead or Contact Id -> email
	for _, obj := range []string{"Lead", "Contact"} {
		for _, r := range emu.SOQL("SELECT Id, Email, Title, Phone, HasOptedOutOfEmail, LeadSource, Intercom_Id__c, Owner.Email, Intercom_Tags__c FROM " + obj) {
			people[testenv.Str(r, "Id")] = obj + " " + lower(testenv.Str(r, "Email"))
			put("salesforce "+obj+" "+lower(testenv.Str(r, "Email")), []string{testenv.Str(r, "Title"), testenv.Str(r, "Phone"), testenv.Str(r, "HasOptedOutOfEmail"), testenv.Str(r, "LeadSource"), "link:" + emails[testenv.Str(r, "Intercom_Id__c")], testenv.Str(r, "Owner.Email"), testenv.Str(r, "Intercom_Tags__c")})
		}
	}
	// What the shipped syncs create, by the key they create it under: a
	// second record of one key is a duplicate.
	for obj, fields := range map[string][]string{"Task": {"Subject", "Status"}, "Opportunity": {"Name", "StageName", "Type"}} {
		for _, r := range emu.SOQL("SELECT Ferry_Key__c, " + strings.Join(fields, ", ") + " FROM " + obj + " WHERE Ferry_Key__c != null") {
			values := make([]string, len(fields))
			for i, f := range fields {
				values[i] = testenv.Str(r, f)
			}
			put("salesforce "+obj+" "+testenv.Str(r, "Ferry_Key__c"), values)
		}
	}
	for _, obj := range []string{"Task", "Case"} {
		for _, r := range emu.SOQL("SELECT Intercom_Conversation_Id__c, Status, Subject FROM " + obj + " WHERE Intercom_Conversation_Id__c != null") {
			put("salesforce "+obj+" "+testenv.Str(r, "Intercom_Conversation_Id__c"), []string{testenv.Str(r, "Status"), testenv.Str(r, "Subject")})
			if obj == "Case" {
				// Its note, once: the link names an Id the two runs need not share.
				put("intercom case notes "+testenv.Str(r, "Intercom_Conversation_Id__c"), len(caseNotes(t, emu, testenv.Str(r, "Intercom_Conversation_Id__c"))))
			}
		}
	}
	// Accounts by their company link where they have one: one ferry makes
	// for a company has the Id its emulator gave it.
	for _, r := range emu.SOQL("SELECT Id, Name, Website, NumberOfEmployees, Industry, AnnualRevenue, Intercom_Company_Id__c, First_Project_Date__c, First_Invite_Date__c, First_Integration_Date__c FROM Account") {
		key := testenv.Str(r, "Intercom_Company_Id__c")
		if key == "" {
			key = testenv.Str(r, "Id")
		}
		put("salesforce Account "+key, []string{testenv.Str(r, "Name"), testenv.Str(r, "Website"), testenv.Str(r, "NumberOfEmployees"), testenv.Str(r, "Industry"), testenv.Str(r, "AnnualRevenue"),
			testenv.Str(r, "First_Project_Date__c"), testenv.Str(r, "First_Invite_Date__c"), testenv.Str(r, "First_Integration_Date__c")})
	}
	// Campaigns by their key, members by Campaign and person.
	campaigns := map[string]string{}
	for _, r := range emu.SOQL("SELECT Id, Name, Ferry_Key__c FROM Campaign") {
		campaigns[testenv.Str(r, "Id")] = testenv.Str(r, "Ferry_Key__c") + " " + testenv.Str(r, "Name")
		put("salesforce Campaign "+testenv.Str(r, "Ferry_Key__c"), testenv.Str(r, "Name"))
	}
	for _, r := range emu.SOQL("SELECT CampaignId, LeadId, ContactId FROM CampaignMember") {
		put("salesforce CampaignMember "+campaigns[testenv.Str(r, "CampaignId")]+" "+people[testenv.Str(r, "LeadId")+testenv.Str(r, "ContactId")], true)
	}
	return out
}

// asList returns v's elements that are objects.
func asList(v any) []map[string]any {
	var out []map[string]any
	l, _ := v.([]any)
	for _, e := range l {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func envList(getenv func(string) string, extra ...string) []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for _, k := range []string{"INTERCOM_BASE_URL", "INTERCOM_ACCESS_TOKEN", "SALESFORCE_LOGIN_URL", "SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET", "SALESFORCE_USERNAME", "SALESFORCE_PRIVATE_KEY_FILE"} {
		out = append(out, k+"="+getenv(k))
	}
	return append(out, extra...)
}

// killAt runs `ferry run` as a separate process, waits until it pauses at
// step, and kills it with SIGKILL: no deferred code, no flushing.
func killAt(t *testing.T, emu *testenv.Emulators, pipeline, dataDir, step string) {
	t.Helper()
	killCommandAt(t, emu, "run", pipeline, dataDir, step)
}

// killCommandAt is killAt for any ferry command.
func killCommandAt(t *testing.T, emu *testenv.Emulators, command, pipeline, dataDir, step string) {
	t.Helper()
	killWith(t, envList(emu.Env(nil)), step, command, "--pipeline", pipeline, "--data-dir", dataDir)
}

// killWith runs ferry with args and the environment env as a separate
// process, and kills it with SIGKILL once it pauses at step.
func killWith(t *testing.T, env []string, step string, args ...string) {
	t.Helper()
	cmd := exec.Command(ferryBin, args...)
	cmd.Env = append(env, "FERRY_TEST_PAUSE_AT="+step)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	paused := make(chan bool, 1)
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "msg=paused") {
				paused <- true
			}
		}
		close(paused)
	}()
	select {
	case ok := <-paused:
		if !ok {
			cmd.Wait()
			t.Fatalf("ferry exited before reaching %s:\n%s", step, log.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("ferry did not reach %s", step)
	}
	cmd.Process.Kill()
	cmd.Wait()
}

// TestRun_KilledAnywhereConverges kills ferry at several points and checks
// that a rerun reaches the same end state as an uninterrupted run, with no
// duplicates and nothing lost, and that a further run writes nothing.
func TestRun_KilledAnywhereConverges(t *testing.T) {
	t.Parallel()
	const scale = 250
	pipeline := smallBatchPipeline(t)
	state, _ := cleanEndState(t, scale, pipeline)
	if len(state) < scale {
		t.Fatalf("end state has only %d records; the comparison would prove little", len(state))
	}
	want := sortedLines(state)
	for _, step := range []string{"after-extract", "bulk-job-closed", "after-intercom-load", "after-load", "before-commit"} {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: scale})
			dir := t.TempDir()
			killAt(t, emu, pipeline, dir, step)
			if r := ferry(t, emu.Env(nil), "run", "--pipeline", pipeline, "--data-dir", dir, "--log-level", "warn"); r.code != 0 {
				t.Fatalf("rerun after kill at %s: exit %d\n%s", step, r.code, r.stderr)
			}
			if got := sortedLines(endState(t, emu)); got != want {
				t.Fatalf("end state after kill at %s differs from an uninterrupted run:\n%s", step, lineDiff(want, got))
			}
			ic0, sf0 := emu.ICStats().WriteRequests, emu.SFStats().WriteRequests
			if r := ferry(t, emu.Env(nil), "run", "--pipeline", pipeline, "--data-dir", dir, "--log-level", "warn"); r.code != 0 {
				t.Fatalf("third run: exit %d\n%s", r.code, r.stderr)
			}
			if ic, sf := emu.ICStats().WriteRequests-ic0, emu.SFStats().WriteRequests-sf0; ic+sf != 0 {
				t.Fatalf("run after convergence wrote %d intercom and %d salesforce requests", ic, sf)
			}
		})
	}
}

// TestRun_KilledAnywhereSettles is the kill test for the workflows whose
// records settle over several runs (an Account and a company made for each
// other are matched, and written what their mapping gives them, by the run
// after; a Lead lead capture makes gets its status tag the run after, and
// that tag reaches its Intercom_Tags__c and Campaign membership the run
// after that) and for those that need more extraction (Campaign
// membership, onboarding milestones): killed at a point, then run until a
// run writes nothing, ferry reaches what uninterrupted runs reach, with no
// duplicate.
func TestRun_KilledAnywhereSettles(t *testing.T) {
	t.Parallel()
	const scale = 250
	text := smallBatchText(t)
	for _, e := range [][2]string{
		{"  tag_campaigns:\n    enabled: false\n    tags: [pricing]\n", "  tag_campaigns:\n    enabled: true\n    tags: [pricing, billing]\n"},
		{"    # Campaign:             {}", "    Campaign:             {}"},
		{"    # CampaignMember:       {}", "    CampaignMember:       {}"},
		{"  onboarding_milestones:\n    enabled: false\n", "  onboarding_milestones:\n    enabled: true\n"},
		{"    # events: { every: 1h }", "    events: {}"},
	} {
		if !strings.Contains(text, e[0]) {
			t.Fatalf("the example pipeline lacks %q", e[0])
		}
		text = strings.Replace(text, e[0], e[1], 1)
	}
	pipeline := testenv.WriteFile(t, smallBatchDir(t), "pipeline.yaml", text+declaredSyncs)
	// settle runs ferry until a run writes nothing, five runs at most, and
	// returns how many it took.
	settle := func(t *testing.T, emu *testenv.Emulators, dir string) int {
		t.Helper()
		for n := 1; n <= 5; n++ {
			ic0, sf0 := emu.ICStats().WriteRequests, emu.SFStats().WriteRequests
			if r := ferry(t, emu.Env(nil), "run", "--pipeline", pipeline, "--data-dir", dir, "--log-level", "warn"); r.code != 0 {
				t.Fatalf("run %d: exit %d\n%s", n, r.code, r.stderr)
			}
			if emu.ICStats().WriteRequests == ic0 && emu.SFStats().WriteRequests == sf0 {
				return n
			}
		}
		t.Fatal("five runs in a row wrote something: ferry does not settle")
		return 0
	}
	clean := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: scale})
	if n := settle(t, clean, t.TempDir()); n < 3 {
		t.Fatalf("uninterrupted runs settled in %d runs; this test is for workflows that take more than one", n)
	}
	want := sortedLines(endState(t, clean))
	for _, key := range []string{"salesforce CampaignMember ", "salesforce Account ", "intercom company ", "Lead status: "} {
		if !strings.Contains(want, key) {
			t.Fatalf("the settled state holds no %q: the comparison would prove little", key)
		}
	}
	for _, step := range []string{"bulk-job-closed", "after-intercom-load", "after-load"} {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: scale})
			dir := t.TempDir()
			killAt(t, emu, pipeline, dir, step)
			settle(t, emu, dir)
			if got := sortedLines(endState(t, emu)); got != want {
				t.Fatalf("settled state after kill at %s differs from uninterrupted runs':\n%s", step, lineDiff(want, got))
			}
		})
	}
}

func lineDiff(want, got string) string {
	w := map[string]bool{}
	for _, l := range strings.Split(want, "\n") {
		w[l] = true
	}
	g := map[string]bool{}
	for _, l := range strings.Split(got, "\n") {
		g[l] = true
	}
	var b strings.Builder
	n := 0
	for _, l := range strings.Split(want, "\n") {
		if !g[l] && n < 20 {
			b.WriteString("- " + l + "\n")
			n++
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if !w[l] && n < 40 {
			b.WriteString("+ " + l + "\n")
			n++
		}
	}
	return b.String()
}
