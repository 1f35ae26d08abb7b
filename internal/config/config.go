// Package config reads pipeline files: strict YAML (unknown keys are
// errors), secrets only as ${ENV} references, and every problem reported as
// file:line: path: message.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Pipeline is one pipeline file.
type Pipeline struct {
	Version     int               `yaml:"version"`
	Name        string            `yaml:"name"`
	Connections Connections       `yaml:"connections"`
	Extract     Extract           `yaml:"extract"`
	Identity    Identity          `yaml:"identity"`
	Sync        Sync              `yaml:"sync"`
	Health      Health            `yaml:"health"`
	Workflows   Workflows         `yaml:"workflows"`
	Transform   TransformSettings `yaml:"transform"`
	Load        LoadSettings      `yaml:"load"`
	Landing     Landing           `yaml:"landing"`
	// Syncs are writes an analyst declares: a model's rows written to a
	// target object (syncs.go).
	Syncs []SyncSpec `yaml:"syncs"`
	// Alerts says where a run that fails or rejects records is reported.
	Alerts Alerts `yaml:"alerts"`

	// Path is the file the pipeline was read from.
	Path string `yaml:"-"`
	// file is its syntax tree, which places problems found after loading
	// (a sync's model lacks a column) at their line.
	file *ast.File
	// shippedAdded says AddShipped has run.
	shippedAdded bool
}

// Connections holds both systems' settings.
type Connections struct {
	Intercom   Intercom   `yaml:"intercom"`
	Salesforce Salesforce `yaml:"salesforce"`
}

// Intercom connection.
type Intercom struct {
	BaseURL     string `yaml:"base_url"`
	Region      string `yaml:"region"`
	AccessToken string `yaml:"access_token"`
	APIVersion  string `yaml:"api_version"`
}

// Salesforce connection.
type Salesforce struct {
	LoginURL       string `yaml:"login_url"`
	Auth           string `yaml:"auth"`
	ClientID       string `yaml:"client_id"`
	ClientSecret   string `yaml:"client_secret"`
	Username       string `yaml:"username"`
	PrivateKeyFile string `yaml:"private_key_file"`
	Audience       string `yaml:"audience"`
	AccessToken    string `yaml:"access_token"`
	InstanceURL    string `yaml:"instance_url"`
	APIVersion     string `yaml:"api_version"`
	Budget         Budget `yaml:"budget"`
}

// Budget bounds Salesforce API use.
type Budget struct {
	MaxCallsPerRun    int `yaml:"max_calls_per_run"`
	MinDailyRemaining int `yaml:"min_daily_remaining"`
	// DailyCalls caps the Salesforce calls ferry makes over any rolling
	// 24 hours, across runs (nil: DefaultDailyCalls; 0: no cap). A run
	// that would pass it defers declared syncs, lowest priority first.
	DailyCalls *int `yaml:"daily_calls"`
}

// DefaultDailyCalls is the daily budget when the pipeline names none: a
// fifth of a 100,000-call Enterprise org, leaving the rest to the org's
// other integrations.
const DefaultDailyCalls = 20000

// Daily is the rolling 24-hour cap on ferry's Salesforce calls, 0 for none.
func (b Budget) Daily() int {
	if b.DailyCalls == nil {
		return DefaultDailyCalls
	}
	return *b.DailyCalls
}

// Extract settings.
type Extract struct {
	UpperBoundLag Duration                 `yaml:"upper_bound_lag"`
	Intercom      map[string]ObjectExtract `yaml:"intercom"`
	Salesforce    map[string]ObjectExtract `yaml:"salesforce"`
}

// ObjectExtract configures one source object.
type ObjectExtract struct {
	Lookback Duration `yaml:"lookback"`
	// Every, when set, is how often the object is re-read: runs within
	// Every of its last successful extraction skip it. Meant for objects
	// without a server-side change filter (Intercom companies).
	Every  Duration `yaml:"every"`
	Fields []string `yaml:"fields"` // Salesforce: extra fields to select
	// SweepEvery is how often every live id of the object is listed and
	// compared with what ferry holds, to find deletes no change feed
	// shows (0s: never). DeleteLogEvery (Salesforce) is how often
	// getDeleted is asked for recent deletes.
	SweepEvery     Duration `yaml:"sweep_every"`
	DeleteLogEvery Duration `yaml:"delete_log_every"`
}

// Alerts posts a JSON summary of a run (Slack-compatible: a text field)
// to WebhookURL when its outcome is one of On (failed, rejects; default
// both).
type Alerts struct {
	WebhookURL string   `yaml:"webhook_url"`
	On         []string `yaml:"on"`
}

// Identity settings.
type Identity struct {
	People    MatchKeys `yaml:"people"`
	Companies MatchKeys `yaml:"companies"`
}

// MatchKeys lists match keys in priority order.
type MatchKeys struct {
	MatchKeys []string `yaml:"match_keys"`
}

// Sync describes what is kept in sync.
type Sync struct {
	People    Entity `yaml:"people"`
	Companies Entity `yaml:"companies"`
}

// Entity is one synced entity (people or companies).
type Entity struct {
	SalesforceExternalID   string         `yaml:"salesforce_external_id"`
	CreateSalesforceLeads  bool           `yaml:"create_salesforce_leads"`
	CreateIntercomContacts bool           `yaml:"create_intercom_contacts"`
	Fields                 []FieldMapping `yaml:"fields"`
}

// FieldMapping maps one Intercom field to one Salesforce field.
type FieldMapping struct {
	Intercom   string `yaml:"intercom"`
	Salesforce string `yaml:"salesforce"`
	Owner      string `yaml:"owner"`     // salesforce | intercom | newest
	Direction  string `yaml:"direction"` // both | to_intercom | to_salesforce
	Type       string `yaml:"type"`      // string | integer | number | boolean
	// Values translates between the systems' vocabularies (a picklist):
	// Intercom value -> Salesforce value, and back. Values are compared
	// and written in each system's own. A value the map lacks is not
	// written and is listed with the run's rejects, naming the value and
	// the field; Default, when set, is the Salesforce value of an Intercom
	// value the map lacks.
	Values  map[string]string `yaml:"values"`
	Default *string           `yaml:"default"`
}

// Health configures the customer health score.
type Health struct {
	Enabled bool `yaml:"enabled"`
	// Components: name -> weight and the values scoring 0 (bad) and 100
	// (good); a component scores linearly in between, either direction.
	Components map[string]HealthComponent `yaml:"components"`
	Bands      struct {
		Green  float64 `yaml:"green"`  // score at or above: green
		Yellow float64 `yaml:"yellow"` // at or above: yellow; below: red
	} `yaml:"bands"`
	Salesforce struct {
		ScoreField string `yaml:"score_field"`
		BandField  string `yaml:"band_field"`
	} `yaml:"salesforce"`
	Intercom struct {
		ScoreAttribute string `yaml:"score_attribute"`
		BandAttribute  string `yaml:"band_attribute"`
	} `yaml:"intercom"`
}

// Workflows are the optional sync workflows.
type Workflows struct {
	ConversationTasks ConversationTasks `yaml:"conversation_tasks"`
	LeadCapture       LeadCapture       `yaml:"lead_capture"`
	Escalation        Escalation        `yaml:"escalation"`
	OnboardingMessage OnboardingMessage `yaml:"onboarding_message"`
	OwnerRouting      struct {
		Enabled bool `yaml:"enabled"`
		// By picks whose Salesforce owner the contact's Intercom owner
		// follows: contact (its Contact or Lead, the default) or account
		// (its Account's; a Lead's own owner).
		By string `yaml:"by"`
	} `yaml:"owner_routing"`
	OpportunityStage struct {
		Enabled   bool   `yaml:"enabled"`
		Attribute string `yaml:"attribute"`
	} `yaml:"opportunity_stage"`
	SupportIssueFlag struct {
		Enabled bool   `yaml:"enabled"`
		Field   string `yaml:"field"`
	} `yaml:"support_issue_flag"`
	// The workflows below are shipped models plus sync declarations
	// (models/syncs/<workflow>.yaml), loaded on the path declared syncs
	// take (shipped.go).
	ExpansionOpportunities ExpansionOpportunities `yaml:"expansion_opportunities"`
	Notifications          Notifications          `yaml:"notifications"`
	SeveralLeads           ShippedWorkflow        `yaml:"several_leads"`
	AccountsFromCompanies  AccountsFromCompanies  `yaml:"accounts_from_companies"`
	CompaniesFromAccounts  CompaniesFromAccounts  `yaml:"companies_from_accounts"`
	LeadStatusTags         LeadStatusTags         `yaml:"lead_status_tags"`
	TagsToSalesforce       ShippedWorkflow        `yaml:"tags_to_salesforce"`
	CaseNotes              CaseNotes              `yaml:"case_notes"`
	OnboardingMilestones   OnboardingMilestones   `yaml:"onboarding_milestones"`
	TagCampaigns           TagCampaigns           `yaml:"tag_campaigns"`
}

// LeadCapture creates Salesforce Leads for qualifying Intercom contacts.
type LeadCapture struct {
	Enabled bool `yaml:"enabled"`
	// Rule is a SQL predicate over the columns of the lead_capture_input
	// model, e.g. list_contains(tag_names, 'pricing') OR company_size >= 200.
	Rule              string `yaml:"rule"`
	LeadSource        string `yaml:"lead_source"`
	OwnerFromIntercom bool   `yaml:"owner_from_intercom"`
	Placeholder       string `yaml:"placeholder"` // for required fields with no value
}

// OnboardingMessage welcomes the primary contact of every Closed Won
// opportunity through Intercom, exactly once per opportunity.
type OnboardingMessage struct {
	Enabled bool `yaml:"enabled"`
	// FromAdminID sends when the opportunity owner has no Intercom admin.
	FromAdminID string `yaml:"from_admin_id"`
	MessageType string `yaml:"message_type"` // email | in_app
	Subject     string `yaml:"subject"`
	Body        string `yaml:"body"` // {first_name}, {opportunity}, {account} are replaced
	// ClosedOnOrAfter limits the workflow to deals closing from this date
	// (YYYY-MM-DD), so enabling it does not greet every historical customer.
	ClosedOnOrAfter string `yaml:"closed_on_or_after"`
}

// Escalation opens Salesforce Cases for urgent conversations of
// high-value accounts.
type Escalation struct {
	Enabled         bool              `yaml:"enabled"`
	AccountField    string            `yaml:"account_field"` // e.g. AnnualRevenue or Tier__c
	MinValue        *float64          `yaml:"min_value"`     // numeric fields: at least this
	Values          []string          `yaml:"values"`        // text fields: one of these
	Priorities      []string          `yaml:"priorities"`    // conversation priorities that escalate
	Tags            []string          `yaml:"tags"`          // conversation tags that escalate
	ExternalIDField string            `yaml:"external_id_field"`
	Fields          map[string]string `yaml:"fields"` // constant Case fields, e.g. Origin: Intercom
}

// ConversationTasks logs Intercom conversations as Salesforce Tasks.
type ConversationTasks struct {
	Enabled         bool     `yaml:"enabled"`
	Tags            []string `yaml:"tags"`              // only conversations carrying one of these; empty = all
	ExternalIDField string   `yaml:"external_id_field"` // Task field keyed on the conversation id
	LinkTemplate    string   `yaml:"link_template"`     // {id} is replaced by the conversation id
}

// HealthComponent weighs one column of account_health.
type HealthComponent struct {
	Weight float64  `yaml:"weight"`
	Bad    *float64 `yaml:"bad"`
	Good   *float64 `yaml:"good"`
}

// HealthComponents are the component columns the health model computes.
var HealthComponents = []string{"conversations_30d", "conversations_90d", "open_conversations", "median_first_response_minutes",
	"avg_csat", "days_since_last_seen", "contract_value", "days_to_renewal"}

// Landing configures the append-only landing files.
type Landing struct {
	// CompactAfter: `ferry compact` folds the landing files of runs older
	// than this into one file per object holding the current version of
	// each record (the per-run history is dropped; current state can always
	// be rebuilt). Default 168h.
	CompactAfter Duration `yaml:"compact_after"`
}

// TransformSettings configures the DuckDB engine the models run in.
type TransformSettings struct {
	// MemoryLimit is DuckDB's memory_limit ("2GB"); past it, DuckDB spills
	// to <data-dir>/tmp.
	MemoryLimit string `yaml:"memory_limit"`
}

// LoadSettings configures the load stage.
type LoadSettings struct {
	Salesforce struct {
		CollectionsMax int      `yaml:"collections_max"`
		PollInterval   Duration `yaml:"poll_interval"`
		// BulkMaxBytes caps the CSV uploaded to one Bulk API 2.0 job.
		BulkMaxBytes int `yaml:"bulk_max_bytes"`
		// AssignmentRules says, per object (Lead, Case), which of the
		// org's assignment rules run on ferry's writes: none (the owner
		// ferry sets stays; the default), default (the object's active
		// rule), or an AssignmentRule Id.
		AssignmentRules map[string]string `yaml:"assignment_rules"`
		DuplicateRules  struct {
			// AllowSave saves records a duplicate rule alerts on (REST
			// writes; a rule that blocks still refuses them).
			AllowSave bool `yaml:"allow_save"`
		} `yaml:"duplicate_rules"`
	} `yaml:"salesforce"`
	Intercom struct {
		MaxConcurrency int `yaml:"max_concurrency"`
		// SearchLag is how long Intercom's search may take to show what
		// was just written; a create whose answer was lost is looked up
		// only once it is this old.
		SearchLag Duration `yaml:"search_lag"`
	} `yaml:"intercom"`
	// MaxRejectRatio is the share of rejected rows past which a run fails
	// (1 when the file sets none; 0 when it says 0: any reject fails).
	MaxRejectRatio    float64  `yaml:"-"`
	RawMaxRejectRatio *float64 `yaml:"max_reject_ratio"`
	// ChunkRecords is how many planned records the load holds at a time.
	ChunkRecords int `yaml:"chunk_records"`
}

// Duration is a time.Duration written as "10m". It is parsed during
// validation, so a bad value is reported with its line like any other.
type Duration struct {
	time.Duration
	raw string
}

// UnmarshalYAML keeps the text for validation.
func (d *Duration) UnmarshalYAML(b []byte) error {
	d.raw = strings.Trim(strings.TrimSpace(string(b)), `"'`)
	return nil
}

func (d *Duration) parse(path string, add func(path, format string, a ...any)) {
	if d.raw == "" {
		return
	}
	v, err := time.ParseDuration(d.raw)
	if err != nil || v < 0 {
		add(path, "invalid duration %q (use e.g. 30s, 10m, 1h)", d.raw)
		return
	}
	d.Duration = v
}

// ErrInvalid wraps every validation failure.
var ErrInvalid = errors.New("invalid pipeline file")

// Problem is one thing wrong with a file.
type Problem struct {
	File string
	Line int
	Path string
	Msg  string
}

func (p Problem) Error() string {
	loc := p.File
	if p.Line > 0 {
		loc = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	if p.Path != "" {
		return fmt.Sprintf("%s: %s: %s", loc, p.Path, p.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, p.Msg)
}

// Problems is the list of everything wrong with a file.
type Problems []Problem

func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap lets errors.Is(err, ErrInvalid) match.
func (ps Problems) Unwrap() error { return ErrInvalid }

// DefaultMemoryLimit is transform.memory_limit when the file sets none.
const DefaultMemoryLimit = "512MB"

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Load reads and validates the pipeline file at path. getenv resolves
// ${VAR} references (os.Getenv when nil).
func Load(path string, getenv func(string) string) (*Pipeline, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read pipeline file: %w", err)
	}
	return Parse(path, b, getenv)
}

// Parse decodes and validates a pipeline file's bytes; name labels errors.
func Parse(name string, b []byte, getenv func(string) string) (*Pipeline, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if len(b) > MaxFileBytes {
		return nil, Problems{{File: name, Msg: fmt.Sprintf("the file is %d bytes; a pipeline file may be at most %d", len(b), MaxFileBytes)}}
	}
	// The syntax tree first: it is as small as the file, and says where
	// each problem is before decoding expands anything.
	file, err := parser.ParseBytes(b, 0)
	if err != nil {
		return nil, Problems{yamlProblem(name, nil, err)}
	}
	if empty(file) {
		return nil, Problems{{File: name, Msg: "the file is empty: a pipeline file starts with `version: 1` and `name:` (see pipelines/intercom_salesforce.yaml)"}}
	}
	if n := bounded(file); n != nil {
		return nil, Problems{{File: name, Line: n.GetToken().Position.Line, Path: displayPath(n.GetPath()),
			Msg: fmt.Sprintf("aliases expand the file past %d values; write the repeated part out, or alias less", MaxExpandedNodes)}}
	}
	var p Pipeline
	dec := yaml.NewDecoder(bytes.NewReader(b), yaml.DisallowUnknownField())
	if err := dec.Decode(&p); err != nil {
		return nil, Problems{yamlProblem(name, file, err)}
	}
	p.Path, p.file = name, file
	var probs []pathProblem
	p.expandEnv(getenv, &probs)
	p.parseDurations(&probs)
	p.applyDefaults()
	p.validate(&probs)
	p.validateSyncs(&probs)
	p.validateShipped(&probs)
	p.validateAlerts(&probs)
	if len(probs) == 0 {
		return &p, nil
	}
	out := make(Problems, 0, len(probs))
	for _, pp := range probs {
		out = append(out, Problem{File: name, Line: lineOf(file, pp.path), Path: displayPath(pp.path), Msg: pp.msg})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return nil, out
}

// yamlProblem places a parse or decode error at its line and key path,
// worded in the file's terms.
func yamlProblem(name string, file *ast.File, err error) Problem {
	var ye yaml.Error
	if !errors.As(err, &ye) || ye.GetToken() == nil {
		return Problem{File: name, Msg: err.Error()}
	}
	pos := ye.GetToken().Position
	p := Problem{File: name, Line: pos.Line, Msg: plainMessage(strings.TrimSpace(ye.GetMessage()))}
	if n := nodeAt(file, pos); n != nil {
		p.Path = displayPath(n.GetPath())
	}
	return p
}

// empty reports whether file holds no document with content (nothing, or
// only comments).
func empty(file *ast.File) bool {
	for _, doc := range file.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if _, comment := doc.Body.(*ast.CommentGroupNode); comment {
			continue
		}
		if _, null := doc.Body.(*ast.NullNode); null {
			continue
		}
		return false
	}
	return true
}

type pathProblem struct {
	path string // YAML path, $.a.b[0].c
	msg  string
}

func displayPath(p string) string { return strings.TrimPrefix(strings.TrimPrefix(p, "$"), ".") }

// lineOf finds the line of the node at path, or of its nearest ancestor;
// a top-level key the file lacks is placed on its first line.
func lineOf(file *ast.File, path string) int {
	if file == nil {
		return 0
	}
	for path != "" && path != "$" {
		if yp, err := yaml.PathString(path); err == nil {
			if n, err := yp.FilterFile(file); err == nil && n != nil && n.GetToken() != nil {
				return n.GetToken().Position.Line
			}
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			break
		}
		path = path[:i]
	}
	return 1
}

func (p *Pipeline) expandEnv(getenv func(string) string, probs *[]pathProblem) {
	expand := func(path string, s *string) {
		*s = envRef.ReplaceAllStringFunc(*s, func(m string) string {
			name := envRef.FindStringSubmatch(m)[1]
			v := getenv(name)
			if v == "" {
				*probs = append(*probs, pathProblem{path, fmt.Sprintf("environment variable %s is not set", name)})
			}
			return v
		})
	}
	ic := &p.Connections.Intercom
	expand("$.connections.intercom.base_url", &ic.BaseURL)
	expand("$.connections.intercom.access_token", &ic.AccessToken)
	sf := &p.Connections.Salesforce
	for path, s := range map[string]*string{
		"login_url": &sf.LoginURL, "client_id": &sf.ClientID, "client_secret": &sf.ClientSecret, "username": &sf.Username,
		"private_key_file": &sf.PrivateKeyFile, "access_token": &sf.AccessToken, "instance_url": &sf.InstanceURL, "audience": &sf.Audience,
	} {
		expand("$.connections.salesforce."+path, s)
	}
	expand("$.alerts.webhook_url", &p.Alerts.WebhookURL)
}

func (p *Pipeline) parseDurations(probs *[]pathProblem) {
	add := func(path, format string, a ...any) {
		*probs = append(*probs, pathProblem{path, fmt.Sprintf(format, a...)})
	}
	p.Extract.UpperBoundLag.parse("$.extract.upper_bound_lag", add)
	p.Load.Salesforce.PollInterval.parse("$.load.salesforce.poll_interval", add)
	p.Landing.CompactAfter.parse("$.landing.compact_after", add)
	p.Load.Intercom.SearchLag.parse("$.load.intercom.search_lag", add)
	for _, sys := range []struct {
		name string
		m    map[string]ObjectExtract
	}{{"intercom", p.Extract.Intercom}, {"salesforce", p.Extract.Salesforce}} {
		for name, o := range sys.m {
			o.Lookback.parse("$.extract."+sys.name+"."+name+".lookback", add)
			o.Every.parse("$.extract."+sys.name+"."+name+".every", add)
			o.SweepEvery.parse("$.extract."+sys.name+"."+name+".sweep_every", add)
			o.DeleteLogEvery.parse("$.extract."+sys.name+"."+name+".delete_log_every", add)
			if sys.name == "intercom" && o.DeleteLogEvery.raw != "" {
				add("$.extract.intercom."+name+".delete_log_every", "Intercom has no delete log; its deletes are found by sweep_every")
			}
			if sys.name == "intercom" && o.SweepEvery.raw != "" && name != "contacts" && name != "companies" {
				add("$.extract.intercom."+name+".sweep_every", "only contacts and companies are swept for deletes")
			}
			sys.m[name] = o
		}
	}
}

func (p *Pipeline) applyDefaults() {
	if ex := &p.Workflows.ExpansionOpportunities; ex.Stage == "" {
		ex.Stage = "Prospecting"
	}
	if ex := &p.Workflows.ExpansionOpportunities; ex.CloseInDays == 0 {
		ex.CloseInDays = 90
	}
	if p.Landing.CompactAfter.raw == "" {
		p.Landing.CompactAfter.Duration = 7 * 24 * time.Hour
	}
	if p.Connections.Intercom.APIVersion == "" {
		p.Connections.Intercom.APIVersion = "2.14"
	}
	if p.Connections.Salesforce.APIVersion == "" {
		p.Connections.Salesforce.APIVersion = "62.0"
	}
	if len(p.Identity.People.MatchKeys) == 0 {
		p.Identity.People.MatchKeys = []string{"external_id", "email"}
	}
	if len(p.Identity.Companies.MatchKeys) == 0 {
		p.Identity.Companies.MatchKeys = []string{"company_id", "website_domain"}
	}
	for _, e := range []*Entity{&p.Sync.People, &p.Sync.Companies} {
		for i := range e.Fields {
			f := &e.Fields[i]
			if f.Direction == "" {
				f.Direction = "both"
			}
			if f.Type == "" {
				f.Type = "string"
			}
		}
	}
	if p.Load.Salesforce.CollectionsMax == 0 {
		p.Load.Salesforce.CollectionsMax = 200
	}
	if p.Load.Salesforce.BulkMaxBytes == 0 {
		p.Load.Salesforce.BulkMaxBytes = DefaultBulkMaxBytes
	}
	if p.Load.ChunkRecords == 0 {
		p.Load.ChunkRecords = DefaultChunkRecords
	}
	if p.Transform.MemoryLimit == "" {
		p.Transform.MemoryLimit = DefaultMemoryLimit
	}
	if p.Load.Salesforce.PollInterval.Duration == 0 {
		p.Load.Salesforce.PollInterval.Duration = 500 * time.Millisecond
	}
	if p.Load.Intercom.MaxConcurrency == 0 {
		p.Load.Intercom.MaxConcurrency = 4
	}
	p.Load.MaxRejectRatio = 1
	if p.Load.RawMaxRejectRatio != nil {
		p.Load.MaxRejectRatio = *p.Load.RawMaxRejectRatio
	}
	if p.Load.Intercom.SearchLag.raw == "" {
		p.Load.Intercom.SearchLag.Duration = DefaultSearchLag
	}
	if p.Extract.UpperBoundLag.raw == "" {
		p.Extract.UpperBoundLag.Duration = DefaultUpperBoundLag
	}
	if p.Workflows.LeadCapture.LeadSource == "" {
		p.Workflows.LeadCapture.LeadSource = "Intercom"
	}
	if p.Workflows.LeadCapture.Placeholder == "" {
		p.Workflows.LeadCapture.Placeholder = "[not provided]"
	}
}

// Bulk API 2.0 takes at most 150 MB per upload once base64-encoded, which
// is 3/4 of that in raw CSV; ferry's default keeps a margin, as Salesforce
// advises.
const (
	DefaultBulkMaxBytes = 100 << 20
	// DefaultChunkRecords is load.chunk_records' default (see
	// load.DefaultChunkSize for how it was chosen).
	DefaultChunkRecords = 50_000
	MaxBulkMaxBytes     = 150 << 20 / 4 * 3
)

var (
	memoryLimitRe = regexp.MustCompile(`^(?i)[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$`)
	identRe       = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	sfVersionRe   = regexp.MustCompile(`^[1-9][0-9]\.0$`)
	ruleIDRe      = regexp.MustCompile(`^01Q[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$`)
	icVersionRe   = regexp.MustCompile(`^([12]\.[0-9]{1,2}|Unstable)$`)
	sfFieldRe     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?$`)
	icFieldRe     = regexp.MustCompile(`^([a-z_][a-z0-9_]*|custom_attributes\.[A-Za-z_][A-Za-z0-9_ ]*)$`)
)

// Source objects ferry knows how to extract.
var (
	IntercomObjects   = []string{"contacts", "companies", "conversations", "admins", "tags", "events"}
	SalesforceObjects = []string{"Lead", "Contact", "Account", "User", "Opportunity", "OpportunityContactRole", "Case", "Task", "Campaign", "CampaignMember"}
)

func (p *Pipeline) validate(probs *[]pathProblem) {
	add := func(path, format string, a ...any) {
		*probs = append(*probs, pathProblem{path, fmt.Sprintf(format, a...)})
	}
	if p.Version != 1 {
		add("$.version", "required and must be 1")
	}
	if p.Name == "" || !identRe.MatchString(p.Name) {
		add("$.name", "required; lowercase letters, digits and underscores")
	}
	ic := p.Connections.Intercom
	if ic.BaseURL == "" && ic.Region == "" {
		add("$.connections.intercom", "base_url or region is required")
	}
	if ic.Region != "" && ic.Region != "us" && ic.Region != "eu" && ic.Region != "au" {
		add("$.connections.intercom.region", "must be us, eu or au")
	}
	if ic.AccessToken == "" {
		add("$.connections.intercom.access_token", "required (use ${INTERCOM_ACCESS_TOKEN})")
	}
	sf := p.Connections.Salesforce
	switch sf.Auth {
	case "client_credentials":
		if sf.LoginURL == "" || sf.ClientID == "" || sf.ClientSecret == "" {
			add("$.connections.salesforce", "client_credentials needs login_url, client_id and client_secret")
		}
	case "jwt":
		if sf.LoginURL == "" || sf.ClientID == "" || sf.Username == "" || sf.PrivateKeyFile == "" {
			add("$.connections.salesforce", "jwt needs login_url, client_id, username and private_key_file")
		}
	case "access_token":
		if sf.AccessToken == "" || sf.InstanceURL == "" {
			add("$.connections.salesforce", "access_token needs access_token and instance_url")
		}
	default:
		add("$.connections.salesforce.auth", "must be client_credentials, jwt or access_token, got %q", sf.Auth)
	}
	if !sfVersionRe.MatchString(sf.APIVersion) {
		add("$.connections.salesforce.api_version", "must be a Salesforce API version such as \"62.0\", got %q", sf.APIVersion)
	}
	if !icVersionRe.MatchString(ic.APIVersion) {
		add("$.connections.intercom.api_version", "must be an Intercom-Version such as \"2.14\", got %q", ic.APIVersion)
	}
	if len(p.Extract.Intercom)+len(p.Extract.Salesforce) == 0 {
		add("$.extract", "required: the Intercom and Salesforce objects to read, each with its lookback (see pipelines/intercom_salesforce.yaml)")
	}
	if sf.Budget.MaxCallsPerRun < 0 || sf.Budget.MinDailyRemaining < 0 || sf.Budget.Daily() < 0 {
		add("$.connections.salesforce.budget", "limits must not be negative")
	}
	for name := range p.Extract.Intercom {
		if !contains(IntercomObjects, name) {
			add("$.extract.intercom."+name, "unknown Intercom object (known: %s)", strings.Join(IntercomObjects, ", "))
		}
	}
	for name, o := range p.Extract.Salesforce {
		if !contains(SalesforceObjects, name) {
			add("$.extract.salesforce."+name, "unknown Salesforce object (known: %s)", strings.Join(SalesforceObjects, ", "))
		}
		for i, f := range o.Fields {
			if !sfFieldRe.MatchString(f) {
				add(fmt.Sprintf("$.extract.salesforce.%s.fields[%d]", name, i), "not a Salesforce field name: %q", f)
			}
		}
	}
	for i, k := range p.Identity.People.MatchKeys {
		if k != "external_id" && k != "email" {
			add(fmt.Sprintf("$.identity.people.match_keys[%d]", i), "must be external_id or email")
		}
	}
	for i, k := range p.Identity.Companies.MatchKeys {
		if k != "company_id" && k != "website_domain" {
			add(fmt.Sprintf("$.identity.companies.match_keys[%d]", i), "must be company_id or website_domain")
		}
	}
	for _, ent := range []struct {
		name string
		e    Entity
	}{{"people", p.Sync.People}, {"companies", p.Sync.Companies}} {
		base := "$.sync." + ent.name
		if !sfFieldRe.MatchString(ent.e.SalesforceExternalID) || strings.Contains(ent.e.SalesforceExternalID, ".") {
			add(base+".salesforce_external_id", "required: the external-id field ferry keys %s on", ent.name)
		}
		if ent.name == "companies" && (ent.e.CreateSalesforceLeads || ent.e.CreateIntercomContacts) {
			add(base, "create_salesforce_leads and create_intercom_contacts apply to people only")
		}
		seenIC, seenSF := map[string]bool{}, map[string]bool{}
		for i, f := range ent.e.Fields {
			fp := fmt.Sprintf("%s.fields[%d]", base, i)
			if !icFieldRe.MatchString(f.Intercom) {
				add(fp+".intercom", "not an Intercom attribute: %q", f.Intercom)
			}
			if !sfFieldRe.MatchString(f.Salesforce) {
				add(fp+".salesforce", "not a Salesforce field: %q", f.Salesforce)
			}
			if seenIC[f.Intercom] {
				add(fp+".intercom", "%s is mapped twice", f.Intercom)
			}
			if seenSF[f.Salesforce] {
				add(fp+".salesforce", "%s is mapped twice", f.Salesforce)
			}
			seenIC[f.Intercom], seenSF[f.Salesforce] = true, true
			switch f.Owner {
			case "salesforce", "intercom", "newest":
			default:
				add(fp+".owner", "must be salesforce, intercom or newest, got %q", f.Owner)
			}
			switch f.Direction {
			case "both", "to_intercom", "to_salesforce":
			default:
				add(fp+".direction", "must be both, to_intercom or to_salesforce, got %q", f.Direction)
			}
			switch f.Type {
			case "string", "integer", "number", "boolean":
			default:
				add(fp+".type", "must be string, integer, number or boolean, got %q", f.Type)
			}
			if strings.Contains(f.Salesforce, ".") && f.Direction != "to_intercom" {
				add(fp+".direction", "%s is a relationship field, read-only in Salesforce: set direction: to_intercom", f.Salesforce)
			}
			if f.Direction == "to_intercom" && f.Owner == "intercom" || f.Direction == "to_salesforce" && f.Owner == "salesforce" {
				add(fp+".owner", "owner %s contradicts direction %s", f.Owner, f.Direction)
			}
			if f.Default != nil && len(f.Values) == 0 {
				add(fp+".default", "a default is for Intercom values the value map lacks: give values too")
			}
			if len(f.Values) > 0 {
				if f.Type != "string" {
					add(fp+".values", "a value map translates text (a picklist): the field's type must be string, got %q", f.Type)
				}
				// Written back to Intercom, a Salesforce value must come from
				// one Intercom value.
				from := map[string]string{}
				for ic, sf := range f.Values {
					if other, dup := from[sf]; dup && f.Direction != "to_salesforce" {
						first, second := min(ic, other), max(ic, other)
						add(fp+".values", "Intercom values %q and %q both map to %q: Salesforce's value could not be translated back (set direction: to_salesforce, or map them apart)", first, second, sf)
					}
					from[sf] = ic
				}
			}
		}
	}
	if h := p.Health; h.Enabled {
		if len(h.Components) == 0 {
			add("$.health.components", "at least one component is required")
		}
		for name, c := range h.Components {
			path := "$.health.components." + name
			switch {
			case !contains(HealthComponents, name):
				add(path, "unknown component (known: %s)", strings.Join(HealthComponents, ", "))
			case c.Weight < 0:
				add(path+".weight", "must not be negative")
			case c.Bad == nil || c.Good == nil:
				add(path, "bad and good are required")
			case *c.Bad == *c.Good:
				add(path, "bad and good must differ")
			}
		}
		if h.Bands.Green <= h.Bands.Yellow || h.Bands.Yellow < 0 || h.Bands.Green > 100 {
			add("$.health.bands", "need 0 <= yellow < green <= 100")
		}
		if h.Salesforce.ScoreField != "" && !sfFieldRe.MatchString(h.Salesforce.ScoreField) {
			add("$.health.salesforce.score_field", "not a Salesforce field: %q", h.Salesforce.ScoreField)
		}
		if h.Salesforce.BandField != "" && !sfFieldRe.MatchString(h.Salesforce.BandField) {
			add("$.health.salesforce.band_field", "not a Salesforce field: %q", h.Salesforce.BandField)
		}
		for _, a := range []string{h.Intercom.ScoreAttribute, h.Intercom.BandAttribute} {
			if a != "" && !identRe.MatchString(a) {
				add("$.health.intercom", "attribute names must match %s: %q", identRe, a)
			}
		}
	}
	if ct := p.Workflows.ConversationTasks; ct.Enabled {
		if !sfFieldRe.MatchString(ct.ExternalIDField) || strings.Contains(ct.ExternalIDField, ".") {
			add("$.workflows.conversation_tasks.external_id_field", "required: the Task external-id field keyed on the conversation id")
		}
		if !strings.Contains(ct.LinkTemplate, "{id}") {
			add("$.workflows.conversation_tasks.link_template", "must contain {id}")
		}
	}
	if lc := p.Workflows.LeadCapture; lc.Enabled {
		if strings.TrimSpace(lc.Rule) == "" {
			add("$.workflows.lead_capture.rule", "required: a SQL predicate over lead_capture_input")
		} else if strings.Contains(lc.Rule, ";") || strings.Contains(lc.Rule, "--") {
			add("$.workflows.lead_capture.rule", "must be one SQL expression (no ';' or comments)")
		}
	}
	if e := p.Workflows.Escalation; e.Enabled {
		base := "$.workflows.escalation"
		if !sfFieldRe.MatchString(e.AccountField) || strings.Contains(e.AccountField, ".") {
			add(base+".account_field", "required: the Account field that marks high-value accounts")
		}
		if (e.MinValue == nil) == (len(e.Values) == 0) {
			add(base, "give exactly one of min_value (numeric field) or values (text field)")
		}
		if len(e.Priorities) == 0 && len(e.Tags) == 0 {
			add(base, "give priorities or tags that escalate a conversation")
		}
		if !sfFieldRe.MatchString(e.ExternalIDField) || strings.Contains(e.ExternalIDField, ".") {
			add(base+".external_id_field", "required: the Case external-id field keyed on the conversation id")
		}
		for k := range e.Fields {
			if !sfFieldRe.MatchString(k) || strings.Contains(k, ".") {
				add(base+".fields", "not a Case field: %q", k)
			}
		}
	}
	if m := p.Workflows.OnboardingMessage; m.Enabled {
		base := "$.workflows.onboarding_message"
		if m.FromAdminID == "" {
			add(base+".from_admin_id", "required: the Intercom admin id that sends when the owner has none")
		}
		switch m.MessageType {
		case "email":
			if m.Subject == "" {
				add(base+".subject", "required for email messages")
			}
		case "in_app":
		default:
			add(base+".message_type", "must be email or in_app")
		}
		if strings.TrimSpace(m.Body) == "" {
			add(base+".body", "required")
		}
		if m.ClosedOnOrAfter != "" {
			if _, err := time.Parse("2006-01-02", m.ClosedOnOrAfter); err != nil {
				add(base+".closed_on_or_after", "must be a date, YYYY-MM-DD")
			}
		}
	}
	if w := p.Workflows.OpportunityStage; w.Enabled && !identRe.MatchString(w.Attribute) {
		add("$.workflows.opportunity_stage.attribute", "required: an Intercom contact attribute name matching %s", identRe)
	}
	if w := p.Workflows.SupportIssueFlag; w.Enabled && (!sfFieldRe.MatchString(w.Field) || strings.Contains(w.Field, ".")) {
		add("$.workflows.support_issue_flag.field", "required: a checkbox field on Opportunity")
	}
	if p.Load.MaxRejectRatio < 0 || p.Load.MaxRejectRatio > 1 {
		add("$.load.max_reject_ratio", "must be between 0 and 1")
	}
	for obj, v := range p.Load.Salesforce.AssignmentRules {
		path := "$.load.salesforce.assignment_rules." + obj
		if obj != "Lead" && obj != "Case" {
			add(path, "assignment rules exist for Lead and Case only")
		}
		if v != "none" && v != "default" && !ruleIDRe.MatchString(v) {
			add(path, "must be none, default or an AssignmentRule Id (01Q…, 15 or 18 characters), got %q", v)
		}
	}
	if p.Load.Intercom.MaxConcurrency < 1 || p.Load.Intercom.MaxConcurrency > 16 {
		add("$.load.intercom.max_concurrency", "must be between 1 and 16")
	}
	if p.Load.Salesforce.CollectionsMax < 0 || p.Load.Salesforce.CollectionsMax > 2000 {
		add("$.load.salesforce.collections_max", "must be between 0 and 2000")
	}
	if p.Load.ChunkRecords < 1 {
		add("$.load.chunk_records", "must be at least 1")
	}
	if n := p.Load.Salesforce.BulkMaxBytes; n <= 0 || n > MaxBulkMaxBytes {
		add("$.load.salesforce.bulk_max_bytes", "must be between 1 and %d bytes (Salesforce takes 150 MB per upload once base64-encoded)", MaxBulkMaxBytes)
	}
	if m := memoryLimitRe.FindStringSubmatch(p.Transform.MemoryLimit); m == nil || strings.Trim(m[0][:len(m[0])-len(m[2])], "0. ") == "" {
		add("$.transform.memory_limit", "must be a positive size such as 512MB or 2GB, got %q", p.Transform.MemoryLimit)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Defaults that keep rows from being missed at a watermark boundary: the
// extract stops this far behind the source's clock, and re-reads this far
// back from its watermark (Intercom's search is eventually consistent for
// minutes; a Salesforce record can commit with a SystemModstamp slightly
// before the query that should have seen it). Only an explicit 0s turns
// either off.
const (
	DefaultUpperBoundLag      = 2 * time.Second
	DefaultSearchLag          = 5 * time.Minute
	DefaultIntercomLookback   = 5 * time.Minute
	DefaultSalesforceLookback = 2 * time.Minute
)

// Lookback returns the lookback of a source object: as configured, else
// the system's default.
func (p *Pipeline) Lookback(system, object string) time.Duration {
	m, def := p.Extract.Intercom, DefaultIntercomLookback
	if system == "salesforce" {
		m, def = p.Extract.Salesforce, DefaultSalesforceLookback
	}
	if lb := m[object].Lookback; lb.raw != "" {
		return lb.Duration
	}
	return def
}

// Default intervals of the searches for deletes no change feed shows.
// Intercom shows none, so its contacts and companies are listed whole
// daily; Salesforce's delete log (getDeleted, 15 days) is read hourly,
// and its Ids are compared weekly, or at once when the log says it has
// lost deletes (the recycle bin emptied, a hard delete).
const (
	DefaultIntercomSweep       = 24 * time.Hour
	DefaultSalesforceSweep     = 7 * 24 * time.Hour
	DefaultSalesforceDeleteLog = time.Hour
)

// SweepEvery returns how often a source object's ids are compared (0:
// never).
func (p *Pipeline) SweepEvery(system, object string) time.Duration {
	m, def := p.Extract.Intercom, time.Duration(0)
	switch {
	case system == "salesforce":
		m, def = p.Extract.Salesforce, DefaultSalesforceSweep
	case object == "contacts" || object == "companies":
		def = DefaultIntercomSweep
	}
	if d := m[object].SweepEvery; d.raw != "" {
		return d.Duration
	}
	return def
}

// DeleteLogEvery returns how often a Salesforce object's delete log is
// read (0: never; Intercom has none).
func (p *Pipeline) DeleteLogEvery(system, object string) time.Duration {
	if system != "salesforce" {
		return 0
	}
	if d := p.Extract.Salesforce[object].DeleteLogEvery; d.raw != "" {
		return d.Duration
	}
	return DefaultSalesforceDeleteLog
}

// Every returns how often a source object is re-read (0: every run).
func (p *Pipeline) Every(system, object string) time.Duration {
	m := p.Extract.Intercom
	if system == "salesforce" {
		m = p.Extract.Salesforce
	}
	return m[object].Every.Duration
}
