package salesforce

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/emulator/seed"
)

// Behaviour real clients rely on (make conformance runs them): the
// Salesforce CLI's doubled slash, its column metadata, the user its login
// names, the Organization it reads, Bulk job owners, custom fields.

func TestPath_DoubledSlashesAreServed(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{Dataset: seed.New(seed.Params{Seed: 1, Scale: 50})})
	if code, out := b.json(t, "GET", "/"+v+"limits", nil); code != 200 || !strings.Contains(string(out), "DailyApiRequests") {
		t.Fatalf("GET //services/data/v62.0/limits: %d %s", code, out)
	}
	if code, out := b.json(t, "GET", "/services/data//v62.0//sobjects/Account/describe", nil); code != 200 {
		t.Fatalf("doubled slashes inside the path: %d %s", code, out)
	}
}

func TestQuery_ColumnMetadata(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{Dataset: seed.New(seed.Params{Seed: 1, Scale: 50})})
	code, out := b.json(t, "GET", v+"query?columns=true&q="+url.QueryEscape("SELECT Id, Name, Owner.Email, Owner.Name, Health_Score__c FROM Account"), nil)
	var m struct {
		ColumnMetadata []struct {
			ColumnName  string `json:"columnName"`
			Custom      bool   `json:"custom"`
			Aggregate   bool   `json:"aggregate"`
			JoinColumns []struct {
				ColumnName string `json:"columnName"`
			} `json:"joinColumns"`
		} `json:"columnMetadata"`
		EntityName string `json:"entityName"`
		IDSelected bool   `json:"idSelected"`
	}
	if code != 200 || json.Unmarshal(out, &m) != nil {
		t.Fatalf("columns=true: %d %s", code, out)
	}
	var got []string
	for _, c := range m.ColumnMetadata {
		name := c.ColumnName
		for _, j := range c.JoinColumns {
			name += "." + j.ColumnName
		}
		got = append(got, name)
	}
	if strings.Join(got, ",") != "Id,Name,Owner.Email.Name,Health_Score__c" || m.EntityName != "Account" || !m.IDSelected || !m.ColumnMetadata[3].Custom || m.ColumnMetadata[1].Custom {
		t.Fatalf("columns %v of %s (idSelected %v): %s", got, m.EntityName, m.IDSelected, out)
	}
	if _, out := b.json(t, "GET", v+"query?columns=true&q="+url.QueryEscape("SELECT count() FROM Account"), nil); !strings.Contains(string(out), `"aggregate":true`) {
		t.Fatalf("count() columns: %s", out)
	}
}

// TestIdentity_NamesOneUser: userinfo, the token's identity URL and the
// User record it names agree on who the integration user is.
func TestIdentity_NamesOneUser(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{Dataset: seed.New(seed.Params{Seed: 1, Scale: 50})})
	var info map[string]any
	code, out := b.json(t, "GET", "/services/oauth2/userinfo", nil)
	json.Unmarshal(out, &info)
	id, _ := info["user_id"].(string)
	if code != 200 || info["preferred_username"] != Username || id == "" {
		t.Fatalf("userinfo: %d %s", code, out)
	}
	_, out = b.json(t, "GET", v+"sobjects/User/"+id, nil)
	var user map[string]any
	json.Unmarshal(out, &user)
	if user["Username"] != Username || user["Email"] != info["email"] {
		t.Fatalf("User %s: %s; userinfo: %v", id, out, info)
	}
	if code, out := b.json(t, "GET", "/id/"+OrgID+"/"+id, nil); code != 200 || !strings.Contains(string(out), `"username":"`+Username+`"`) {
		t.Fatalf("identity URL: %d %s", code, out)
	}
	if code, out := b.json(t, "GET", v, nil); code != 200 || !strings.Contains(string(out), "/id/"+OrgID+"/"+id) {
		t.Fatalf("the version root names no identity URL: %d %s", code, out)
	}
}

func TestOrganization_OneReadOnlyRecord(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{Dataset: seed.New(seed.Params{Seed: 1, Scale: 50})})
	_, out := b.json(t, "GET", v+"query?q="+url.QueryEscape("SELECT Id, Name, IsSandbox, OrganizationType FROM Organization"), nil)
	if !strings.Contains(string(out), `"totalSize":1`) || !strings.Contains(string(out), `"Id":"`+OrgID+`"`) || !strings.Contains(string(out), `"IsSandbox":false`) {
		t.Fatalf("Organization: %s", out)
	}
	if len(OrgID) != 18 {
		t.Fatalf("org id %s has %d characters", OrgID, len(OrgID))
	}
	if code, out := b.json(t, "GET", v+"sobjects/Organization/"+OrgID, nil); code != 200 {
		t.Fatalf("GET Organization by id: %d %s", code, out)
	}
	if code, out := b.json(t, "POST", v+"sobjects/Organization", map[string]any{"Name": "x"}); code != 400 {
		t.Fatalf("create an Organization: %d %s", code, out)
	}
	if _, out := b.json(t, "GET", v+"sobjects/Organization/describe", nil); !strings.Contains(string(out), `"createable":false`) {
		t.Fatalf("Organization describe: %s", out)
	}
}

func TestBulkJobs_NameTheirCreator(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{Dataset: seed.New(seed.Params{Seed: 1, Scale: 50})})
	ds := seed.New(seed.Params{Seed: 1, Scale: 50})
	for _, c := range []struct{ path, body string }{
		{"jobs/ingest", `{"object":"Lead","operation":"insert"}`},
		{"jobs/query", `{"operation":"query","query":"SELECT Id FROM Lead"}`},
	} {
		_, _, out := b.do(t, "POST", v+c.path, "application/json", []byte(c.body))
		if !strings.Contains(string(out), `"createdById":"`+ds.UserID(0)+`"`) {
			t.Errorf("%s: %s", c.path, out)
		}
	}
}

func TestDescribe_EveryCustomFieldIsCustom(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{Dataset: seed.New(seed.Params{Seed: 1, Scale: 50})})
	_, out := b.json(t, "GET", v+"sobjects/Account/describe", nil)
	var d struct {
		Fields []struct {
			Name   string `json:"name"`
			Custom bool   `json:"custom"`
		} `json:"fields"`
	}
	json.Unmarshal(out, &d)
	n := 0
	for _, f := range d.Fields {
		if f.Custom != strings.HasSuffix(f.Name, "__c") {
			t.Errorf("%s: custom=%v", f.Name, f.Custom)
		}
		if f.Custom {
			n++
		}
	}
	if n < 3 {
		t.Fatalf("%d custom fields on Account", n)
	}
}
