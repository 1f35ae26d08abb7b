package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/config"
	"github.com/ferry-sync/ferry/internal/testenv"
)

func example(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.Root(), "pipelines", "intercom_salesforce.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParse_Example(t *testing.T) {
	t.Parallel()
	p, err := config.Parse("p.yaml", example(t), testenv.Env(map[string]string{"SALESFORCE_CLIENT_ID": "cid"}))
	if err != nil {
		t.Fatal(err)
	}
	if p.Connections.Salesforce.ClientID != "cid" || p.Connections.Salesforce.Auth != "jwt" {
		t.Errorf("connection not expanded: %+v", p.Connections.Salesforce)
	}
	if got := p.Lookback("salesforce", "Lead").String(); got != "10m0s" {
		t.Errorf("Lead lookback = %s, want 10m0s", got)
	}
	if got := p.Every("intercom", "companies").String(); got != "1h0m0s" {
		t.Errorf("companies every = %s, want 1h0m0s", got)
	}
	if got := p.Every("intercom", "contacts"); got != 0 {
		t.Errorf("contacts every = %s, want 0 (every run)", got)
	}
	if f := p.Sync.People.Fields[0]; f.Direction != "both" || f.Type != "string" {
		t.Errorf("defaults not applied: %+v", f)
	}
}

// TestParse_Errors checks each problem is reported with the line it is on.
func TestParse_Errors(t *testing.T) {
	t.Parallel()
	base := string(example(t))
	cases := map[string]struct {
		edit func(string) string
		want string
	}{
		"unknown key": {func(s string) string {
			return strings.Replace(s, "name: intercom_salesforce", "name: intercom_salesforce\ncolour: blue", 1)
		}, `p.yaml:10: unknown field "colour"`},
		"bad owner": {func(s string) string {
			return strings.Replace(s, "owner: intercom }", "owner: marketing }", 1)
		}, `sync.people.fields[1].owner: must be salesforce, intercom or newest, got "marketing"`},
		"relationship written back": {func(s string) string {
			return strings.Replace(s, "owner: salesforce, direction: to_intercom }", "owner: salesforce }", 1)
		}, "Owner.Email is a relationship field"},
		"bad duration": {func(s string) string { return strings.Replace(s, "lookback: 10m", "lookback: soon", 1) }, "invalid duration"},
		"bad every": {func(s string) string {
			return strings.Replace(s, "companies:     { lookback: 1h, every: 1h }", "companies:     { lookback: 1h, every: hourly }", 1)
		}, `extract.intercom.companies.every: invalid duration "hourly"`},
		"negative every": {func(s string) string {
			return strings.Replace(s, "    Account:                { lookback: 10m }", "    Account:                { lookback: 10m, every: -5m }", 1)
		}, `extract.salesforce.Account.every: invalid duration "-5m"`},
		"unknown object": {func(s string) string {
			return strings.Replace(s, "    User:                   { lookback: 10m }", "    Opportunityy: { lookback: 10m }", 1)
		}, "extract.salesforce.Opportunityy: unknown Salesforce object"},
		"secret missing": {func(s string) string { return s }, "environment variable SALESFORCE_USERNAME is not set"},
		"mapped twice": {func(s string) string {
			return strings.Replace(s, "salesforce: Title,", "salesforce: Phone,", 1)
		}, "Phone is mapped twice"},
	}
	// at names, for some cases, the text on the line the error must name.
	at := map[string]string{"bad every": "every: hourly", "negative every": "every: -5m"}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := testenv.Env(nil)
			if name == "secret missing" {
				env = testenv.Env(map[string]string{"SALESFORCE_USERNAME": ""})
			}
			edited := tc.edit(base)
			_, err := config.Parse("p.yaml", []byte(edited), env)
			if err == nil || !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("err = %v, want an ErrInvalid", err)
			}
			want := tc.want
			if text := at[name]; text != "" {
				before, _, ok := strings.Cut(edited, text)
				if !ok {
					t.Fatalf("the edit did not apply: no %q", text)
				}
				want = fmt.Sprintf("p.yaml:%d: %s", strings.Count(before, "\n")+1, want)
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, want)
			}
			if !strings.HasPrefix(err.Error(), "p.yaml:") {
				t.Fatalf("err = %v, want it to start with file:line", err)
			}
			var ps config.Problems
			if errors.As(err, &ps) && ps[0].Line == 0 {
				t.Fatalf("no line number in %v", err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(example(f))
	f.Add([]byte("version: 1\nname: x\n"))
	f.Add([]byte("version: [\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := config.Parse("f.yaml", b, testenv.Env(nil))
		if err == nil && p.Version != 1 {
			t.Fatalf("accepted version %d", p.Version)
		}
	})
}
