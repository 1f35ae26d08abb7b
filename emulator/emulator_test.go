package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/emulator/intercom"
	"github.com/ferry-sync/ferry/emulator/salesforce"
)

func call(t *testing.T, h http.Handler, method, path, auth, ctype string, body []byte) (int, string) {
	t.Helper()
	ts := httptest.NewServer(h)
	defer ts.Close()
	req, _ := http.NewRequest(method, ts.URL+path, bytes.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func sfToken(t *testing.T, h http.Handler) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {salesforce.ClientID}, "client_secret": {salesforce.ClientSecret}}
	_, body := call(t, h, "POST", "/services/oauth2/token", "", "application/x-www-form-urlencoded", []byte(form.Encode()))
	var tok map[string]string
	json.Unmarshal([]byte(body), &tok)
	return "Bearer " + tok["access_token"]
}

// TestOpen_StateSurvivesRestart writes to both emulators, closes them, and
// reopens the directory: the writes are there, and different seed flags
// are refused.
func TestOpen_StateSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := Config{Dir: dir, Seed: 4, Scale: 100}
	p, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	code, body := call(t, p.Intercom, "POST", "/contacts", "Bearer "+intercom.Token, "application/json", []byte(`{"email":"kept@example.com","role":"user"}`))
	if code != 200 {
		t.Fatalf("create contact: %d %s", code, body)
	}
	var c map[string]any
	json.Unmarshal([]byte(body), &c)
	code, body = call(t, p.Salesforce, "PATCH", "/services/data/v62.0/sobjects/Lead/Intercom_Id__c/"+c["id"].(string), sfToken(t, p.Salesforce), "application/json", []byte(`{"LastName":"Kept","Company":"K"}`))
	if code != 201 {
		t.Fatalf("upsert lead: %d %s", code, body)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	if _, err := Open(Config{Dir: dir, Seed: 5, Scale: 100}); err == nil || !strings.Contains(err.Error(), "seed 4 scale 100") {
		t.Fatalf("reopen with another seed: err = %v, want a refusal naming the recorded seed", err)
	}
	q, err := Open(Config{Dir: dir}) // flags omitted: the recorded ones apply
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	code, body = call(t, q.Intercom, "GET", "/contacts/"+c["id"].(string), "Bearer "+intercom.Token, "", nil)
	if code != 200 || !strings.Contains(body, "kept@example.com") {
		t.Fatalf("contact after restart: %d %s", code, body)
	}
	soql := url.QueryEscape("SELECT Id, LastName FROM Lead WHERE Intercom_Id__c = '" + c["id"].(string) + "'")
	_, body = call(t, q.Salesforce, "GET", "/services/data/v62.0/query?q="+soql, sfToken(t, q.Salesforce), "", nil)
	if !strings.Contains(body, `"LastName":"Kept"`) {
		t.Fatalf("lead after restart: %s", body)
	}
	// New ids continue after the replayed ones instead of colliding.
	code, body = call(t, q.Intercom, "POST", "/contacts", "Bearer "+intercom.Token, "application/json", []byte(`{"email":"second@example.com","role":"user"}`))
	if code != 200 || strings.Contains(body, `"id":"`+c["id"].(string)+`"`) {
		t.Fatalf("second create after restart: %d %s", code, body)
	}
}
