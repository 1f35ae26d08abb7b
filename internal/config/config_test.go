package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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
	if got := p.Lookback("salesforce", "Lead").String(); got != "2m0s" {
		t.Errorf("Lead lookback = %s, want 2m0s", got)
	}
	if got := p.Every("intercom", "companies").String(); got != "1h0m0s" {
		t.Errorf("companies every = %s, want 1h0m0s", got)
	}
	if got := p.Every("intercom", "contacts"); got != 0 {
		t.Errorf("contacts every = %s, want 0 (every run)", got)
	}
	if p.Load.Salesforce.BulkMaxBytes != 100<<20 || p.Transform.MemoryLimit != "512MB" {
		t.Errorf("bulk_max_bytes %d, memory_limit %q", p.Load.Salesforce.BulkMaxBytes, p.Transform.MemoryLimit)
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
		}, `p.yaml:10: colour: unknown field "colour"`},
		"whole number given text": {func(s string) string {
			return strings.Replace(s, "chunk_records: 50000", "chunk_records: lots", 1)
		}, `load.chunk_records: expected a whole number, got text`},
		"mapping given text": {func(s string) string {
			return strings.Replace(s, "  max_reject_ratio: 0.2", "  max_reject_ratio: [0.2]", 1)
		}, `load.max_reject_ratio: expected a number, got a list`},
		"list given a mapping": {func(s string) string {
			return strings.Replace(s, "tags: [", "tags: {a: 1}\n    x: [", 1)
		}, `workflows.conversation_tasks.tags: expected a list, got a mapping`},
		"salesforce api_version without .0": {func(s string) string {
			return strings.Replace(s, `api_version: "62.0"`, `api_version: "62"`, 1)
		}, `connections.salesforce.api_version: must be a Salesforce API version such as "62.0", got "62"`},
		"assignment rule of another object": {func(s string) string {
			return strings.Replace(s, "      Case: none", "      Case: none\n      Account: default", 1)
		}, "load.salesforce.assignment_rules.Account: assignment rules exist for Lead and Case only"},
		"assignment rule not an id": {func(s string) string {
			return strings.Replace(s, "      Lead: none", "      Lead: round-robin", 1)
		}, `load.salesforce.assignment_rules.Lead: must be none, default or an AssignmentRule Id (01Q…, 15 or 18 characters), got "round-robin"`},
		"no extract section": {func(s string) string {
			before, after, _ := strings.Cut(s, "\nextract:\n")
			_, rest, _ := strings.Cut(after, "\n\n")
			return before + "\n\n" + rest
		}, "extract: required: the Intercom and Salesforce objects to read"},
		"bad owner": {func(s string) string {
			return strings.Replace(s, "owner: intercom }", "owner: marketing }", 1)
		}, `sync.people.fields[1].owner: must be salesforce, intercom or newest, got "marketing"`},
		"relationship written back": {func(s string) string {
			return strings.Replace(s, "owner: salesforce, direction: to_intercom }", "owner: salesforce }", 1)
		}, "Owner.Email is a relationship field"},
		"bad duration": {func(s string) string { return strings.Replace(s, "lookback: 2m", "lookback: soon", 1) }, "invalid duration"},
		"bad every": {func(s string) string {
			return strings.Replace(s, "companies:     { lookback: 1h, every: 1h }", "companies:     { lookback: 1h, every: hourly }", 1)
		}, `extract.intercom.companies.every: invalid duration "hourly"`},
		"negative every": {func(s string) string {
			return strings.Replace(s, "    Account:                { lookback: 2m }", "    Account:                { lookback: 2m, every: -5m }", 1)
		}, `extract.salesforce.Account.every: invalid duration "-5m"`},
		"unknown object": {func(s string) string {
			return strings.Replace(s, "    User:                   { lookback: 2m }", "    Opportunityy: { lookback: 2m }", 1)
		}, "extract.salesforce.Opportunityy: unknown Salesforce object"},
		"secret missing": {func(s string) string { return s }, "environment variable SALESFORCE_USERNAME is not set"},
		"bulk_max_bytes negative": {func(s string) string {
			return strings.Replace(s, "bulk_max_bytes: 104857600", "bulk_max_bytes: -1", 1)
		}, "load.salesforce.bulk_max_bytes: must be between 1 and 117964800"},
		"bulk_max_bytes over Salesforce's cap": {func(s string) string {
			return strings.Replace(s, "bulk_max_bytes: 104857600", "bulk_max_bytes: 157286400", 1)
		}, "load.salesforce.bulk_max_bytes: must be between 1"},
		"memory_limit without a unit": {func(s string) string {
			return strings.Replace(s, "memory_limit: 512MB", "memory_limit: 1000", 1)
		}, `transform.memory_limit: must be a positive size such as 512MB or 2GB, got "1000"`},
		"memory_limit zero": {func(s string) string {
			return strings.Replace(s, "memory_limit: 512MB", "memory_limit: 0GB", 1)
		}, "transform.memory_limit: must be a positive size"},
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

// TestParse_NewLimits checks the memory and upload limits accept the
// forms they document and are reported on their own line otherwise.
func TestParse_NewLimits(t *testing.T) {
	t.Parallel()
	base := string(example(t))
	for _, v := range []string{"512MB", "2GB", "1.5 GiB", "100kb"} {
		p, err := config.Parse("p.yaml", []byte(strings.Replace(base, "memory_limit: 512MB", "memory_limit: "+v, 1)), testenv.Env(nil))
		if err != nil || p.Transform.MemoryLimit != v {
			t.Errorf("memory_limit %q: %v", v, err)
		}
	}
	p, err := config.Parse("p.yaml", []byte(strings.Replace(base, "bulk_max_bytes: 104857600", "bulk_max_bytes: 4096", 1)), testenv.Env(nil))
	if err != nil || p.Load.Salesforce.BulkMaxBytes != 4096 {
		t.Fatalf("bulk_max_bytes 4096: %v", err)
	}
	bad := strings.Replace(base, "memory_limit: 512MB", "memory_limit: plenty", 1)
	_, err = config.Parse("p.yaml", []byte(bad), testenv.Env(nil))
	line := 1 + strings.Count(bad[:strings.Index(bad, "memory_limit: plenty")], "\n")
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("p.yaml:%d: transform.memory_limit", line)) {
		t.Fatalf("err = %v, want it at p.yaml:%d", err, line)
	}
}

// TestParse_BoundedInput: files that would take time or memory out of
// proportion to their size are refused from their syntax tree, quickly,
// naming the file, the line and the key; so is an empty file.
func TestParse_BoundedInput(t *testing.T) {
	t.Parallel()
	base := string(example(t))
	// Ten aliases of ten aliases, eight levels deep: 1.3 KB that decodes
	// to 10^8 values.
	var bomb strings.Builder
	bomb.WriteString("    tags: &t0 [a, b, c, d, e, f, g, h, i, j]\n")
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(&bomb, "    x%d: &t%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*t%d, ", i-1), 10), ", "))
	}
	bombed := strings.Replace(base, "    tags: []", strings.TrimSuffix(bomb.String(), "\n"), 1)
	if bombed == base {
		t.Fatal("no `tags: []` to replace")
	}
	cases := map[string]struct {
		src, want string
	}{
		"alias bomb":   {bombed, "aliases expand the file past 100000 values"},
		"oversized":    {base + strings.Repeat("# padding\n", 120_000), "a pipeline file may be at most 1048576"},
		"empty":        {"", "p.yaml: the file is empty"},
		"only comment": {"# todo\n\n", "p.yaml: the file is empty"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Parse("p.yaml", []byte(tc.src), testenv.Env(nil))
			if err == nil || !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want an ErrInvalid containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "Go struct") {
				t.Fatalf("err = %v, worded in the parser's terms", err)
			}
		})
	}
	_, err := config.Parse("p.yaml", []byte(bombed), testenv.Env(nil))
	var ps config.Problems
	if !errors.As(err, &ps) || ps[0].Line < 100 || !strings.HasPrefix(ps[0].Path, "workflows.conversation_tasks.") {
		t.Fatalf("the alias bomb is refused as %v, want the line and key of the alias that expands too far", err)
	}
}

// TestParse_SafeDefaults: a file that sets no lookback or upper bound lag
// still re-reads an overlap at each watermark; only an explicit 0s turns
// them off. max_reject_ratio: 0 means no reject is tolerated, and an unset
// one tolerates all (the run exits 3).
func TestParse_SafeDefaults(t *testing.T) {
	t.Parallel()
	base := string(example(t))
	strip := strings.NewReplacer("{ lookback: 2m }", "{}", "{ lookback: 5m }", "{}", "{ lookback: 2m }", "{}", "  upper_bound_lag: 2s\n", "", "  max_reject_ratio: 0.2", "  max_reject_ratio: 0")
	p, err := config.Parse("p.yaml", []byte(strip.Replace(base)), testenv.Env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Lookback("intercom", "contacts"); got != config.DefaultIntercomLookback || got <= 0 {
		t.Errorf("unset Intercom contacts lookback = %s, want %s", got, config.DefaultIntercomLookback)
	}
	if got := p.Lookback("salesforce", "Lead"); got != config.DefaultSalesforceLookback || got <= 0 {
		t.Errorf("unset Lead lookback = %s, want %s", got, config.DefaultSalesforceLookback)
	}
	if got := p.Extract.UpperBoundLag.Duration; got != config.DefaultUpperBoundLag || got <= 0 {
		t.Errorf("unset upper_bound_lag = %s, want %s", got, config.DefaultUpperBoundLag)
	}
	if p.Load.MaxRejectRatio != 0 {
		t.Errorf("max_reject_ratio: 0 became %v", p.Load.MaxRejectRatio)
	}
	zero := regexp.MustCompile(`(?m)^  max_reject_ratio:.*\n`).ReplaceAllString(strings.Replace(base, "Lead:                   { lookback: 2m }", "Lead: { lookback: 0s }", 1), "")
	if p, err = config.Parse("p.yaml", []byte(zero), testenv.Env(nil)); err != nil {
		t.Fatal(err)
	}
	if got := p.Lookback("salesforce", "Lead"); got != 0 {
		t.Errorf("explicit lookback 0s = %s, want 0", got)
	}
	if p.Load.MaxRejectRatio != 1 {
		t.Errorf("unset max_reject_ratio = %v, want 1", p.Load.MaxRejectRatio)
	}
}

// TestParse_Syncs: declared syncs are checked when the file is read, each
// problem at its line and key path.
func TestParse_Syncs(t *testing.T) {
	t.Parallel()
	base := string(example(t))
	good := `
syncs:
  - name: tiers
    model: tiers.sql
    target: salesforce.Account
    operation: update
    key: { column: account_id, field: Id }
    fields:
      - { column: tier, field: Tier__c, values: { gold: Strategic }, default: SMB }
`
	p, err := config.Parse("p.yaml", []byte(base+good), testenv.Env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if s := p.Syncs[0]; s.System() != "salesforce" || s.Object() != "Account" || s.ModelName() != "tiers" || s.ModelFile("/x/p.yaml") != "/x/tiers.sql" {
		t.Fatalf("sync %+v", s)
	}
	cases := map[string]struct{ from, to, want string }{
		"bad target":             {"target: salesforce.Account", "target: hubspot.Deal", `syncs[0].target: must be salesforce.<Object>, intercom.contacts, intercom.companies, intercom.contact_companies, intercom.contact_tags, intercom.conversation_notes or intercom.messages, got "hubspot.Deal"`},
		"update not on Id":       {"field: Id }", "field: Name }", `syncs[0].key.field: an update is keyed on Id, got "Name"`},
		"unknown operation":      {"operation: update", "operation: merge", `syncs[0].operation: must be update (by Id), upsert (on an external id), insert (create once, keyed on an external id) or delete`},
		"default without values": {"values: { gold: Strategic }, ", "", `syncs[0].fields[0].default: a default is for values the value map lacks`},
		"bad type":               {"field: Tier__c,", "field: Tier__c, type: date,", `syncs[0].fields[0].type: must be string, integer, number or boolean, got "date"`},
		"two syncs keyed apart, one field": {"default: SMB }", "default: SMB }\n  - name: tiers_again\n    model: tiers.sql\n    target: salesforce.Account\n    operation: upsert\n    key: { column: account_id, field: Intercom_Company_Id__c }\n    fields:\n      - { column: tier, field: Tier__c }",
			"syncs[1].fields[0].field: salesforce.Account.Tier__c is also written by sync tiers, keyed on another field"},
		"a field ferry's mapping writes": {"field: Tier__c,", "field: Website,", "syncs[0].fields[0].field: salesforce.Account.Website is written by ferry's"},
		"a delete with fields":           {"operation: update", "operation: delete", "syncs[0].fields: a delete writes no field"},
		"fields and field_rows":          {"field: Id }\n    fields:\n", "field: Id }\n    field_rows: { field: name, value: v }\n    fields:\n", "syncs[0].field_rows: a sync takes fields or field_rows, not both"},
		"write_back on an update":        {"field: Id }\n    fields:\n", "field: Id }\n    write_back: { target: salesforce.Contact, field: Intercom_Id__c }\n    fields:\n", "syncs[0].write_back: writes back the ids a create of intercom.contacts gives"},
		"read_back on an Account":        {"field: Id }\n    fields:\n", "field: Id }\n    read_back: true\n    fields:\n", "syncs[0].read_back: reads back what Salesforce sets on the Leads or Contacts"},
		"a create keyed on a field":      {"target: salesforce.Account\n    operation: update\n    key: { column: account_id, field: Id }", "target: intercom.contacts\n    operation: create\n    key: { column: account_id, field: id }", "syncs[0].key.field: a create of intercom.contacts is keyed by the model's column alone"},
		"a write_back to Intercom":       {"target: salesforce.Account\n    operation: update\n    key: { column: account_id, field: Id }", "target: intercom.contacts\n    operation: create\n    write_back: { target: intercom.companies, field: x }\n    key: { column: account_id }", "syncs[0].write_back.target: must be salesforce.<Object>"},
		"a create without an email":      {"target: salesforce.Account\n    operation: update\n    key: { column: account_id, field: Id }", "target: intercom.contacts\n    operation: create\n    key: { column: account_id }", "syncs[0].fields: a create of intercom.contacts writes an email"},
		"read_back on another key":       {"target: salesforce.Account\n    operation: update\n    key: { column: account_id, field: Id }", "target: salesforce.Lead\n    operation: upsert\n    read_back: true\n    key: { column: account_id, field: Ferry_Key__c }", "syncs[0].read_back: reads back what Salesforce sets"},
		"an attachment of two fields":    {"target: salesforce.Account\n    operation: update", "target: intercom.contact_companies\n    operation: attach", "syncs[0].fields: intercom.contact_companies take the fields { column: <the company's Intercom id>, field: company }"},
		"field_rows without a value":     {"    fields:\n      - { column: tier, field: Tier__c, values: { gold: Strategic }, default: SMB }\n", "    field_rows: { field: name }\n", "syncs[0].field_rows.value: required"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			text := strings.Replace(base+good, c.from, c.to, 1)
			_, err := config.Parse("p.yaml", []byte(text), testenv.Env(nil))
			if err == nil || !strings.Contains(err.Error(), c.want) || !regexp.MustCompile(`p\.yaml:\d+: syncs\[`).MatchString(err.Error()) {
				t.Fatalf("err = %v\nwant %q at a line", err, c.want)
			}
		})
	} // A long-form model: the fields are the ones it names.
	long := strings.Replace(base+good, "    fields:\n      - { column: tier, field: Tier__c, values: { gold: Strategic }, default: SMB }\n", "    field_rows: { field: name, value: v, type: number }\n", 1)
	if p, err := config.Parse("p.yaml", []byte(long), testenv.Env(nil)); err != nil || p.Syncs[0].FieldRows == nil || p.Syncs[0].FieldRows.Type != "number" {
		t.Fatalf("a long-form sync: %v", err)
	}
}

// TestParse_DailyBudget: the daily budget defaults to 20,000 calls, 0
// turns it off, a negative one is refused at its line; syncs carry a
// priority.
func TestParse_DailyBudget(t *testing.T) {
	t.Parallel()
	base := string(example(t))
	for from, want := range map[string]int{"daily_calls: 20000": 20000, "daily_calls: 0": 0, "daily_calls: 5": 5} {
		p, err := config.Parse("p.yaml", []byte(strings.Replace(base, "daily_calls: 20000", from, 1)), testenv.Env(nil))
		if err != nil || p.Connections.Salesforce.Budget.Daily() != want {
			t.Errorf("%s: daily %v, %v; want %d", from, p.Connections.Salesforce.Budget.Daily(), err, want)
		}
	}
	unset := strings.Replace(base, "daily_calls: 20000", "", 1)
	if p, err := config.Parse("p.yaml", []byte(unset), testenv.Env(nil)); err != nil || p.Connections.Salesforce.Budget.Daily() != config.DefaultDailyCalls {
		t.Errorf("unset: %v", err)
	}
	bad := strings.Replace(base, "daily_calls: 20000", "daily_calls: -1", 1)
	if _, err := config.Parse("p.yaml", []byte(bad), testenv.Env(nil)); err == nil || !strings.Contains(err.Error(), "connections.salesforce.budget: limits must not be negative") {
		t.Errorf("daily_calls -1: %v", err)
	}
	p, err := config.Parse("p.yaml", []byte(base+"\nsyncs:\n  - { name: t, model: t.sql, target: salesforce.Account, operation: update, key: { column: a, field: Id }, fields: [{ column: b, field: Tier__c }], priority: 7 }\n"), testenv.Env(nil))
	if err != nil || p.Syncs[0].Priority != 7 {
		t.Errorf("priority: %v", err)
	}
}

// TestParse_ShippedWorkflows: a shipped workflow that depends on another
// is refused without it, at its line.
func TestParse_ShippedWorkflows(t *testing.T) {
	t.Parallel()
	base := string(example(t))
	for name, c := range map[string]struct{ from, to, want string }{
		"notifications without expansions": {"  notifications:\n    enabled: false\n", "  notifications:\n    enabled: true\n", "workflows.notifications.expansions: notifies of the Opportunities workflows.expansion_opportunities opens"},
		"several leads with tasks":         {"  several_leads:\n    enabled: false\n", "  several_leads:\n    enabled: true\n", ""},
		"case notes":                       {"  case_notes:\n    enabled: false\n", "  case_notes:\n    enabled: true\n", ""},
		"case notes without an admin":      {"  case_notes:\n    enabled: false\n    admin_id: \"991200000\"\n", "  case_notes:\n    enabled: true\n    admin_id: \"\"\n", "workflows.case_notes.admin_id: required"},
		"case notes with a bad link":       {"  case_notes:\n    enabled: false\n", "  case_notes:\n    enabled: true\n    link: https://example.lightning.force.com/lightning/r/Case/view\n", "workflows.case_notes.link: must be an address with {id}"},
		"a bad since":                      {"  notifications:\n    enabled: false\n    support_issue: true\n    escalations: true\n    expansions: true\n", "  notifications:\n    enabled: true\n    support_issue: true\n    escalations: true\n    expansions: false\n    since: tomorrow\n", "workflows.notifications.since: must be a date"},
	} {
		t.Run(name, func(t *testing.T) {
			text := strings.Replace(base, c.from, c.to, 1)
			if text == base {
				t.Fatal("the example did not change")
			}
			_, err := config.Parse("p.yaml", []byte(text), testenv.Env(nil))
			if c.want == "" {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !regexp.MustCompile(`p\.yaml:\d+: workflows\.`).MatchString(err.Error()) {
				t.Fatalf("err = %v\nwant %q at a line", err, c.want)
			}
		})
	}
}
