package salesforce

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/emulator/seed"
)

type bundle struct {
	srv   *Server
	ts    *httptest.Server
	token string
}

func setup(t *testing.T, opt Options) *bundle {
	t.Helper()
	srv, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	resp, err := http.PostForm(ts.URL+"/services/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {ClientID}, "client_secret": {ClientSecret}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok map[string]string
	json.NewDecoder(resp.Body).Decode(&tok)
	if tok["instance_url"] != ts.URL || !strings.HasPrefix(tok["access_token"], OrgID[:15]+"!") || len(tok["issued_at"]) != 13 {
		t.Fatalf("token response %v", tok)
	}
	return &bundle{srv: srv, ts: ts, token: tok["access_token"]}
}

func (b *bundle) do(t *testing.T, method, path, ctype string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, b.ts.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+b.token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

func (b *bundle) json(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	code, _, out := b.do(t, method, path, "application/json", raw)
	return code, out
}

const v = "/services/data/v62.0/"

func TestToken_Errors(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	cases := []struct {
		form url.Values
		code string
	}{
		{url.Values{"grant_type": {"client_credentials"}, "client_id": {ClientID}, "client_secret": {"nope"}}, "invalid_client"},
		{url.Values{"grant_type": {"client_credentials"}, "client_id": {"nope"}, "client_secret": {ClientSecret}}, "invalid_client_id"},
		{url.Values{"grant_type": {"password"}}, "unsupported_grant_type"},
		{url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {"a.b.c"}}, "invalid_grant"},
	}
	for _, c := range cases {
		resp, err := http.PostForm(b.ts.URL+"/services/oauth2/token", c.form)
		if err != nil {
			t.Fatal(err)
		}
		var e map[string]string
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 400 || e["error"] != c.code || e["error_description"] == "" {
			t.Errorf("%v: got %d %v, want 400 %s", c.form, resp.StatusCode, e, c.code)
		}
	}
	code, out := b.json(t, "GET", v+"limits", nil)
	if code != 200 || !strings.Contains(string(out), `"DailyApiRequests"`) {
		t.Fatalf("limits: %d %s", code, out)
	}
	req, _ := http.NewRequest("GET", b.ts.URL+v+"limits", nil)
	req.Header.Set("Authorization", "Bearer expired")
	resp, _ := http.DefaultClient.Do(req)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 401 || !strings.Contains(string(body), `"errorCode":"INVALID_SESSION_ID"`) {
		t.Fatalf("bad token: %d %s", resp.StatusCode, body)
	}
}

func TestREST_LimitInfoAndQuota(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{DailyLimit: 3})
	for i := 1; i <= 4; i++ {
		code, hdr, body := b.do(t, "GET", v+"limits", "", nil)
		if got := hdr.Get("Sforce-Limit-Info"); !strings.HasPrefix(got, "api-usage=") {
			t.Fatalf("request %d: Sforce-Limit-Info = %q", i, got)
		}
		if i == 4 && (code != 403 || !strings.Contains(string(body), "REQUEST_LIMIT_EXCEEDED")) {
			t.Fatalf("past the daily limit: %d %s, want 403 REQUEST_LIMIT_EXCEEDED", code, body)
		}
	}
}

func TestSOQL_Parse(t *testing.T) {
	t.Parallel()
	o, err := newOrg(nil, nil, time.Now, newStats(), nil)
	if err != nil {
		t.Fatal(err)
	}
	good := []string{
		"SELECT Id, Owner.Email FROM Lead WHERE SystemModstamp >= 2025-01-01T00:00:00Z AND (Email LIKE '%@x.com' OR NOT IsConverted = true) ORDER BY SystemModstamp ASC, Id LIMIT 10",
		"SELECT COUNT() FROM Contact WHERE Email != null",
		"SELECT Id FROM Account WHERE Name IN ('a', 'b\\'c') AND NumberOfEmployees > 10.5",
		"SELECT Id FROM Lead WHERE ConvertedDate = 2025-02-03 AND Email NOT IN ('x@y.z')",
		"select id from lead order by email desc nulls last offset 5",
	}
	for _, q := range good {
		if _, err := o.parseSOQL(q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	bad := map[string]string{
		"SELECT Foo FROM Lead":                                           "INVALID_FIELD",
		"SELECT Id FROM Nope":                                            "INVALID_TYPE",
		"SELECT Id FROM Lead WHERE SystemModstamp > 2025":                "INVALID_FIELD",
		"SELECT Id FROM Lead WHERE CreatedDate > '2025-01-01T00:00:00Z'": "INVALID_FIELD",
		"SELECT Id FROM Lead WHERE Email = 'x":                           "MALFORMED_QUERY",
		"SELECT Id Lead":                                                 "MALFORMED_QUERY",
		"SELECT Id FROM Lead LIMIT -1":                                   "MALFORMED_QUERY",
		"SELECT Id, Nope.Email FROM Lead":                                "INVALID_FIELD",
	}
	for q, code := range bad {
		_, err := o.parseSOQL(q)
		se, ok := err.(*soqlError)
		if !ok || se.code != code {
			t.Errorf("%s: err = %v, want %s", q, err, code)
		}
	}
}

func FuzzSOQL(f *testing.F) {
	for _, s := range []string{"SELECT Id FROM Lead", "SELECT Id FROM Lead WHERE Email LIKE 'a%' ORDER BY Id DESC LIMIT 3", "SELECT COUNT() FROM Contact WHERE (A = 1 OR NOT B IN (1,2))"} {
		f.Add(s)
	}
	o, _ := newOrg(seed.New(seed.Params{Seed: 1, Scale: 20}), nil, time.Now, newStats(), nil)
	f.Fuzz(func(t *testing.T, q string) {
		sq, err := o.parseSOQL(q)
		if err == nil {
			o.run(sq, true) // must not panic on anything that parses
		}
	})
}

func TestQuery_PagingAndQueryAll(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{Dataset: seed.New(seed.Params{Seed: 1, Scale: 2000})})
	var total, seen int
	next := v + "query?q=" + url.QueryEscape("SELECT Id, Email, Owner.Email FROM Contact ORDER BY Id")
	for next != "" {
		req, _ := http.NewRequest("GET", b.ts.URL+next, nil)
		req.Header.Set("Authorization", "Bearer "+b.token)
		req.Header.Set("Sforce-Query-Options", "batchSize=250")
		resp, _ := http.DefaultClient.Do(req)
		var page struct {
			TotalSize      int              `json:"totalSize"`
			Done           bool             `json:"done"`
			NextRecordsURL string           `json:"nextRecordsUrl"`
			Records        []map[string]any `json:"records"`
		}
		json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if len(page.Records) > 250 || (page.Done != (page.NextRecordsURL == "")) {
			t.Fatalf("page of %d records, done=%v next=%q", len(page.Records), page.Done, page.NextRecordsURL)
		}
		if len(page.Records) > 0 {
			owner, _ := page.Records[0]["Owner"].(map[string]any)
			if owner == nil || owner["Email"] == nil || page.Records[0]["attributes"] == nil {
				t.Fatalf("record lacks attributes or nested Owner: %v", page.Records[0])
			}
		}
		total, seen, next = page.TotalSize, seen+len(page.Records), page.NextRecordsURL
	}
	if seen != total || total < 500 {
		t.Fatalf("saw %d of totalSize %d", seen, total)
	}
	// Deleting moves the record to the recycle bin: gone from query, present with IsDeleted in queryAll.
	id := findID(t, b, "SELECT Id FROM Contact ORDER BY Id LIMIT 1")
	if code, out := b.json(t, "DELETE", v+"sobjects/Contact/"+id, nil); code != 204 {
		t.Fatalf("delete: %d %s", code, out)
	}
	q := url.QueryEscape("SELECT Id, IsDeleted FROM Contact WHERE Id = '" + id + "'")
	if _, out := b.json(t, "GET", v+"query?q="+q, nil); !strings.Contains(string(out), `"totalSize":0`) {
		t.Errorf("deleted record still in query: %s", out)
	}
	if _, out := b.json(t, "GET", v+"queryAll?q="+q, nil); !strings.Contains(string(out), `"IsDeleted":true`) {
		t.Errorf("deleted record not in queryAll with IsDeleted: %s", out)
	}
}

func TestUpsert_StatusCodesAndValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{Dataset: seed.New(seed.Params{Seed: 1, Scale: 200})})
	path := v + "sobjects/Lead/Intercom_Id__c/ic-1"
	code, out := b.json(t, "PATCH", path, map[string]any{"LastName": "Doe", "Company": "Acme"})
	if code != 201 || !strings.Contains(string(out), `"created":true`) {
		t.Fatalf("upsert create: %d %s", code, out)
	}
	code, out = b.json(t, "PATCH", path, map[string]any{"Title": "CTO"})
	if code != 200 || !strings.Contains(string(out), `"created":false`) {
		t.Fatalf("upsert update: %d %s", code, out)
	}
	code, out = b.json(t, "PATCH", v+"sobjects/Lead/Intercom_Id__c/ic-2", map[string]any{"LastName": "Roe"})
	if code != 400 || !strings.Contains(string(out), "REQUIRED_FIELD_MISSING") || !strings.Contains(string(out), "Company") {
		t.Fatalf("missing Company: %d %s", code, out)
	}
	code, out = b.json(t, "PATCH", v+"sobjects/Lead/Intercom_Id__c/ic-3", map[string]any{"LastName": "Roe", "Company": "A", "Title": strings.Repeat("x", 129)})
	if code != 400 || !strings.Contains(string(out), "STRING_TOO_LONG") {
		t.Fatalf("too long: %d %s", code, out)
	}
	// Email is an idLookup field shared by the seed's duplicate Leads: 300.
	dup := first(t, b, "SELECT Email FROM Lead WHERE Title = 'Duplicate entry' LIMIT 1", "Email")
	code, out = b.json(t, "PATCH", v+"sobjects/Lead/Email/"+url.PathEscape(dup), map[string]any{"Title": "x"})
	if code != 300 {
		t.Fatalf("upsert on a non-unique key: %d %s, want 300", code, out)
	}
	// A converted Lead cannot be updated.
	conv := findID(t, b, "SELECT Id FROM Lead WHERE IsConverted = true LIMIT 1")
	code, out = b.json(t, "PATCH", v+"sobjects/Lead/"+conv, map[string]any{"Title": "x"})
	if code != 400 || !strings.Contains(string(out), "CANNOT_UPDATE_CONVERTED_LEAD") {
		t.Fatalf("update converted lead: %d %s", code, out)
	}
	// Unique external id: a second record cannot take the same value.
	code, out = b.json(t, "POST", v+"sobjects/Lead", map[string]any{"LastName": "Z", "Company": "Z", "Intercom_Id__c": "IC-1"})
	if code != 400 || !strings.Contains(string(out), "DUPLICATE_VALUE") {
		t.Fatalf("duplicate external id: %d %s", code, out)
	}
	// A person is a member of a campaign once; after the member is deleted,
	// they may join again.
	code, out = b.json(t, "POST", v+"sobjects/Campaign", map[string]any{"Name": "Pricing"})
	if code != 201 {
		t.Fatalf("create campaign: %d %s", code, out)
	}
	var made struct{ ID string }
	json.Unmarshal(out, &made)
	lead := findID(t, b, "SELECT Id FROM Lead WHERE IsConverted = false LIMIT 1")
	member := map[string]any{"CampaignId": made.ID, "LeadId": lead}
	code, out = b.json(t, "POST", v+"sobjects/CampaignMember", member)
	if code != 201 {
		t.Fatalf("create member: %d %s", code, out)
	}
	json.Unmarshal(out, &made)
	code, out = b.json(t, "POST", v+"sobjects/CampaignMember", member)
	if code != 400 || !strings.Contains(string(out), "DUPLICATE_VALUE") || !strings.Contains(string(out), "Already a campaign member.") {
		t.Fatalf("second member for one lead: %d %s, want 400 DUPLICATE_VALUE", code, out)
	}
	if code, out = b.json(t, "DELETE", v+"sobjects/CampaignMember/"+made.ID, nil); code != 204 {
		t.Fatalf("delete member: %d %s", code, out)
	}
	if code, out = b.json(t, "POST", v+"sobjects/CampaignMember", member); code != 201 {
		t.Fatalf("member again after the delete: %d %s", code, out)
	}
}

// first returns field of the first record q finds.
func first(t *testing.T, b *bundle, q, field string) string {
	t.Helper()
	_, out := b.json(t, "GET", v+"query?q="+url.QueryEscape(q), nil)
	var page struct{ Records []map[string]any }
	json.Unmarshal(out, &page)
	if len(page.Records) == 0 {
		t.Fatalf("no record for %s", q)
	}
	return page.Records[0][field].(string)
}

func findID(t *testing.T, b *bundle, q string) string { t.Helper(); return first(t, b, q, "Id") }

func TestBulkIngest_CSVRulesAndResults(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{Dataset: seed.New(seed.Params{Seed: 1, Scale: 200})})
	id := findID(t, b, "SELECT Id FROM Contact WHERE Title != null AND Phone != null LIMIT 1")
	code, out := b.json(t, "POST", v+"jobs/ingest", map[string]any{"object": "Contact", "operation": "update"})
	if code != 200 {
		t.Fatalf("create job: %d %s", code, out)
	}
	var job map[string]any
	json.Unmarshal(out, &job)
	jid := job["id"].(string)
	if job["state"] != "Open" || job["contentUrl"] == nil || !strings.HasPrefix(jid, "750") {
		t.Fatalf("job info %v", job)
	}
	csvData := "Id,Title,Phone\n" + id + ",#N/A,\n003000000000000AAA,x,\n"
	code, _, body := b.do(t, "PUT", v+"jobs/ingest/"+jid+"/batches", "text/csv", []byte(csvData))
	if code != 201 {
		t.Fatalf("upload: %d %s", code, body)
	}
	if code, _, body = b.do(t, "PUT", v+"jobs/ingest/"+jid+"/batches", "text/csv", []byte(csvData)); code != 400 || !strings.Contains(string(body), "multiple contents") {
		t.Fatalf("second upload: %d %s, want 400", code, body)
	}
	if code, out = b.json(t, "PATCH", v+"jobs/ingest/"+jid, map[string]string{"state": "UploadComplete"}); code != 200 {
		t.Fatalf("close: %d %s", code, out)
	}
	for i := 0; ; i++ {
		_, out = b.json(t, "GET", v+"jobs/ingest/"+jid, nil)
		json.Unmarshal(out, &job)
		if job["state"] == "JobComplete" {
			break
		}
		if i > 200 {
			t.Fatalf("job never completed: %v", job)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if job["numberRecordsProcessed"].(float64) != 2 || job["numberRecordsFailed"].(float64) != 1 {
		t.Fatalf("counters %v", job)
	}
	_, _, ok := b.do(t, "GET", v+"jobs/ingest/"+jid+"/successfulResults/", "", nil)
	if !strings.HasPrefix(string(ok), `"sf__Id","sf__Created","Id","Title","Phone"`) || !strings.Contains(string(ok), `"false"`) {
		t.Fatalf("successfulResults:\n%s", ok)
	}
	_, _, failed := b.do(t, "GET", v+"jobs/ingest/"+jid+"/failedResults", "", nil)
	if !strings.HasPrefix(string(failed), `"sf__Id","sf__Error"`) || !strings.Contains(string(failed), "ENTITY_IS_DELETED:") || !strings.Contains(string(failed), " --") {
		t.Fatalf("failedResults:\n%s", failed)
	}
	// #N/A cleared Title; the empty Phone cell left Phone unchanged.
	_, out = b.json(t, "GET", v+"sobjects/Contact/"+id, nil)
	if !strings.Contains(string(out), `"Title":null`) || strings.Contains(string(out), `"Phone":null`) {
		t.Fatalf("after #N/A / empty cells: %s", out)
	}
}

// TestBulkIngest_UploadLimit checks the cap on one upload is counted in
// base64-encoded bytes, as Salesforce counts it: 300 raw bytes encode to
// exactly 400, 301 to 404.
func TestBulkIngest_UploadLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{MaxUpload: 400})
	for _, tc := range []struct {
		size int
		want int
	}{{300, 201}, {301, 400}} {
		code, out := b.json(t, "POST", v+"jobs/ingest", map[string]any{"object": "Lead", "operation": "insert"})
		if code != 200 {
			t.Fatalf("create job: %d %s", code, out)
		}
		var job map[string]any
		json.Unmarshal(out, &job)
		data := "LastName,Company\n"
		data += strings.Repeat("x", tc.size-len(data)-1) + "\n"
		code, _, body := b.do(t, "PUT", v+"jobs/ingest/"+job["id"].(string)+"/batches", "text/csv", []byte(data))
		if code != tc.want {
			t.Fatalf("upload of %d bytes: %d %s, want %d", tc.size, code, body, tc.want)
		}
		if code == 400 && !strings.Contains(string(body), "BULK_API_ERROR") {
			t.Fatalf("refusal body %s", body)
		}
	}
}

func TestBulkQuery_LocatorPaging(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{Dataset: seed.New(seed.Params{Seed: 1, Scale: 300})})
	code, out := b.json(t, "POST", v+"jobs/query", map[string]string{"operation": "query", "query": "SELECT Id, Email FROM Contact"})
	if code != 200 {
		t.Fatalf("create: %d %s", code, out)
	}
	var job map[string]any
	json.Unmarshal(out, &job)
	jid := job["id"].(string)
	for job["state"] != "JobComplete" {
		_, out = b.json(t, "GET", v+"jobs/query/"+jid, nil)
		json.Unmarshal(out, &job)
	}
	rows, loc := 0, ""
	for page := 0; ; page++ {
		q := "?maxRecords=40"
		if loc != "" {
			q += "&locator=" + loc
		}
		code, hdr, body := b.do(t, "GET", v+"jobs/query/"+jid+"/results"+q, "", nil)
		n := hdr.Get("Sforce-NumberOfRecords")
		if code != 200 || n == "" || hdr.Get("Sforce-Locator") == "" {
			t.Fatalf("results page %d: %d headers %v", page, code, hdr)
		}
		rows += strings.Count(string(body), "\n") - 1
		loc = hdr.Get("Sforce-Locator")
		if loc == "null" {
			break
		}
	}
	if rows < 50 {
		t.Fatalf("read %d rows", rows)
	}
	if code, _, _ := b.do(t, "GET", "/services/data/v61.0/jobs/query/"+jid+"/results", "", nil); code != 409 {
		t.Fatalf("results with another API version: %d, want 409", code)
	}
}

func TestActivityObjects_DerivedFieldsAndPolymorphicLookups(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{Dataset: seed.New(seed.Params{Seed: 1, Scale: 300})})
	opp := findID(t, b, "SELECT Id FROM Opportunity WHERE IsClosed = false LIMIT 1")
	if code, out := b.json(t, "PATCH", v+"sobjects/Opportunity/"+opp, map[string]any{"StageName": "Closed Won"}); code != 204 {
		t.Fatalf("close opportunity: %d %s", code, out)
	}
	_, out := b.json(t, "GET", v+"query?q="+url.QueryEscape("SELECT IsClosed, IsWon FROM Opportunity WHERE Id = '"+opp+"'"), nil)
	if !strings.Contains(string(out), `"IsClosed":true`) || !strings.Contains(string(out), `"IsWon":true`) {
		t.Fatalf("IsClosed/IsWon not derived from the stage: %s", out)
	}
	if code, out := b.json(t, "PATCH", v+"sobjects/Opportunity/"+opp, map[string]any{"IsWon": false}); code != 400 || !strings.Contains(string(out), "INVALID_FIELD_FOR_INSERT_UPDATE") {
		t.Fatalf("IsWon written: %d %s", code, out)
	}
	lead := findID(t, b, "SELECT Id FROM Lead WHERE IsConverted = false AND Email != null LIMIT 1")
	code, out := b.json(t, "PATCH", v+"sobjects/Task/Intercom_Conversation_Id__c/conv-1", map[string]any{"WhoId": lead, "WhatId": opp, "Subject": "Chat", "Status": "Completed"})
	if code != 201 {
		t.Fatalf("task upsert: %d %s", code, out)
	}
	_, out = b.json(t, "GET", v+"query?q="+url.QueryEscape("SELECT Id, Who.Email, What.Name, IsClosed, Priority FROM Task WHERE Intercom_Conversation_Id__c = 'conv-1'"), nil)
	if !strings.Contains(string(out), `"Who":{"Email"`) && !strings.Contains(string(out), `"type":"Lead"`) {
		t.Fatalf("polymorphic Who did not resolve to the Lead: %s", out)
	}
	if !strings.Contains(string(out), `"IsClosed":true`) || !strings.Contains(string(out), `"Priority":"Normal"`) {
		t.Fatalf("task defaults/derived fields: %s", out)
	}
	acct := findID(t, b, "SELECT Id FROM Account LIMIT 1")
	if code, out := b.json(t, "PATCH", v+"sobjects/Task/Intercom_Conversation_Id__c/conv-2", map[string]any{"WhoId": acct}); code != 400 || !strings.Contains(string(out), "INVALID_CROSS_REFERENCE_KEY") {
		t.Fatalf("WhoId pointing at an Account: %d %s", code, out)
	}
}

// An Id = / Id IN condition is answered from the Id index; the result must
// be what scanning every record gives, in the same order.
func TestSOQL_IdIndexMatchesScan(t *testing.T) {
	t.Parallel()
	o, err := newOrg(seed.New(seed.Params{Seed: 1, Scale: 300}), nil, time.Now, newStats(), nil)
	if err != nil {
		t.Fatal(err)
	}
	leads := o.ordered["lead"]
	if len(leads) < 20 {
		t.Fatalf("seed has %d leads", len(leads))
	}
	var ids, full []string
	for i := len(leads) - 1; i >= 0; i -= 3 { // out of creation order
		full = append(full, "'"+leads[i].id+"'")
		id := leads[i].id
		if i%2 == 0 {
			id = id[:15] // answered by a scan
		}
		ids = append(ids, "'"+id+"'")
	}
	full = append(full, full[0])                                             // a duplicate
	ids = append(ids, ids[0], "'00Q000000000000'", strings.ToLower(full[1])) // an unknown id, other case
	in := strings.Join(ids, ", ")
	for _, where := range []string{
		"Id IN (" + strings.Join(full, ", ") + ")",
		"Id IN (" + in + ")",
		"Id IN (" + in + ") AND Status != 'Closed'",
		"Status != 'Closed' AND Id = " + ids[1],
	} {
		indexed, err := o.parseSOQL("SELECT Id FROM Lead WHERE " + where)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := idsNamed(indexed.where); !ok {
			t.Fatalf("%s: not answered from the index", where)
		}
		scanned, err := o.parseSOQL("SELECT Id FROM Lead WHERE (" + where + ") OR Id = null")
		if err != nil {
			t.Fatal(err)
		}
		got, want := o.run(indexed, false), o.run(scanned, false)
		if len(want) == 0 || len(got) != len(want) {
			t.Fatalf("%s: %d records from the index, %d from a scan", where, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: record %d is %s from the index, %s from a scan", where, i, got[i].id, want[i].id)
			}
		}
	}
}

// TestCollections_Delete: DELETE /composite/sobjects?ids= deletes each
// record to the recycle bin, a result per id in request order; a record
// deleted already is ENTITY_IS_DELETED, an unknown id fails alone; with
// allOrNone nothing is deleted when one fails.
func TestCollections_Delete(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	mk := func(name string) string {
		t.Helper()
		code, out := b.json(t, "POST", v+"sobjects/Account", map[string]any{"Name": name})
		if code != 201 {
			t.Fatalf("create: %d %s", code, out)
		}
		var res struct{ ID string }
		json.Unmarshal(out, &res)
		return res.ID
	}
	a, c, keep := mk("A"), mk("C"), mk("Keep")
	if code, out := b.json(t, "DELETE", v+"sobjects/Account/"+c, nil); code != 204 {
		t.Fatalf("delete: %d %s", code, out)
	}
	code, out := b.json(t, "DELETE", v+"composite/sobjects?allOrNone=true&ids="+keep+","+c, nil)
	if code != 200 || !strings.Contains(string(out), "ALL_OR_NONE_OPERATION_ROLLED_BACK") || !strings.Contains(string(out), "ENTITY_IS_DELETED") {
		t.Fatalf("all or none with a deleted record: %d %s", code, out)
	}
	if code, _ := b.json(t, "GET", v+"sobjects/Account/"+keep, nil); code != 200 {
		t.Fatalf("a rolled-back delete deleted the record: %d", code)
	}
	code, out = b.json(t, "DELETE", v+"composite/sobjects?allOrNone=false&ids="+a+","+c+",001000000000000AAA", nil)
	var res []struct {
		ID      *string
		Success bool
		Errors  []struct{ StatusCode string }
	}
	if err := json.Unmarshal(out, &res); err != nil || code != 200 || len(res) != 3 {
		t.Fatalf("delete: %d %s", code, out)
	}
	if !res[0].Success || res[1].Success || res[1].Errors[0].StatusCode != "ENTITY_IS_DELETED" || res[2].Success {
		t.Fatalf("results %s", out)
	}
	if code, _ := b.json(t, "GET", v+"sobjects/Account/"+a, nil); code != 404 {
		t.Fatalf("the deleted record still reads: %d", code)
	}
}
