package config

import (
	"bytes"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
)

// A shipped workflow is a model ferry ships plus the sync declaration
// beside it, models/syncs/<workflow>.yaml: the same stanza an analyst
// writes under syncs:, read, checked, compiled and loaded on the same path.
// The pipeline file turns it on, sets its priority under the daily budget,
// and gives the settings its model reads from config.settings. To change
// one beyond its settings, turn it off and copy its model and declaration
// into the pipeline's own syncs.

// ShippedWorkflow is what every shipped workflow has.
type ShippedWorkflow struct {
	Enabled bool `yaml:"enabled"`
	// Priority orders deferral under the daily budget (SyncSpec.Priority).
	Priority int `yaml:"priority"`
}

// ExpansionOpportunities opens an Opportunity per Account and expansion
// signal: a conversation tag of Tags, which maps it to an Opportunity Type.
type ExpansionOpportunities struct {
	ShippedWorkflow `yaml:",inline"`
	Tags            map[string]string `yaml:"tags"`
	Stage           string            `yaml:"stage"`
	Amount          *float64          `yaml:"amount"`
	CloseInDays     int               `yaml:"close_in_days"`
}

// Notifications creates Tasks for owners: the Opportunity owner when its
// active-support-issue flag is set, the Account owner for each escalation
// Case and each expansion Opportunity.
type Notifications struct {
	ShippedWorkflow `yaml:",inline"`
	SupportIssue    bool `yaml:"support_issue"`
	Escalations     bool `yaml:"escalations"`
	Expansions      bool `yaml:"expansions"`
	// Since (YYYY-MM-DD) leaves alone the Cases and Opportunities created
	// before it, so that turning notifications on does not notify every
	// past one.
	Since string `yaml:"since"`
}

// AccountsFromCompanies creates a Salesforce Account for each Intercom
// company with a company_id that no Account matches and that meets Rule.
type AccountsFromCompanies struct {
	ShippedWorkflow `yaml:",inline"`
	// Rule is a SQL predicate over the columns of stg_intercom__companies
	// (name, company_id, domain_norm, size, ...), e.g. size >= 50.
	Rule string `yaml:"rule"`
}

// CompaniesFromAccounts creates an Intercom company for each Salesforce
// Account that no company matches and that meets Rule.
type CompaniesFromAccounts struct {
	ShippedWorkflow `yaml:",inline"`
	// Rule is a SQL predicate over the columns of stg_salesforce__accounts
	// (name, domain_norm, annual_revenue, employees, ...).
	Rule string `yaml:"rule"`
}

// LeadStatusTags tags each Intercom contact matched to a Lead with the
// Lead's status, Prefix first, untagging the status it had before.
type LeadStatusTags struct {
	ShippedWorkflow `yaml:",inline"`
	Prefix          string `yaml:"prefix"`
}

// CaseNotes adds a note to the Intercom conversation of each Case
// escalation opens, once, with a link to the Case.
type CaseNotes struct {
	ShippedWorkflow `yaml:",inline"`
	// AdminID authors the notes when the Case owner has no Intercom admin.
	AdminID string `yaml:"admin_id"`
	// Link is the Case's address, {id} standing for its Id; by default the
	// org's Lightning record page under connections.salesforce's
	// instance_url (else login_url, a My Domain).
	Link string `yaml:"link"`
	// Since (YYYY-MM-DD) leaves alone the Cases created before it.
	Since string `yaml:"since"`
}

// OnboardingMilestones writes on each Account that has a Closed Won
// Opportunity the date of its people's first Intercom data event of each
// configured name. Events are read (extract.intercom.events) only for the
// people of Accounts in onboarding: a Closed Won Opportunity closed in the
// last Days days.
type OnboardingMilestones struct {
	ShippedWorkflow `yaml:",inline"`
	Days            int               `yaml:"days"`   // default 90
	Events          map[string]string `yaml:"events"` // event name -> Account date field
}

// TagCampaigns keeps a Salesforce Campaign per Intercom tag of Tags, whose
// members are the matched Leads and Contacts whose Intercom contact has the
// tag.
type TagCampaigns struct {
	ShippedWorkflow `yaml:",inline"`
	Tags            []string `yaml:"tags"`
}

// DefaultOnboardingDays is how long an Account stays in onboarding after a
// Closed Won Opportunity, unless workflows.onboarding_milestones.days says.
const DefaultOnboardingDays = 90

// OnboardingDays is how many days after its Closed Won Opportunity closes
// an Account's people's events are read.
func (p *Pipeline) OnboardingDays() int {
	if d := p.Workflows.OnboardingMilestones.Days; d > 0 {
		return d
	}
	return DefaultOnboardingDays
}

// CaseLink is the address of a Case, {id} standing for its Id.
func (p *Pipeline) CaseLink() string {
	if l := p.Workflows.CaseNotes.Link; l != "" {
		return l
	}
	sf := p.Connections.Salesforce
	base := sf.InstanceURL
	if base == "" {
		base = sf.LoginURL
	}
	return strings.TrimSuffix(base, "/") + "/lightning/r/Case/{id}/view"
}

// essential lists, in the order they load, the shipped workflows that are
// ferry's own: their syncs load before the others (whose records may name
// theirs: a notice or a note names its Case), and the daily budget never
// defers them.
var essential = []string{"mapping", "conversation_tasks", "escalation", "support_issue_flag", "onboarding_message"}

// shippedAt is where problems with an own workflow's declaration are
// reported, when it is not configured under workflows:.
var shippedAt = map[string]string{"mapping": "$.sync"}

// shipped lists the shipped workflows, by the name of their declaration.
func (w *Workflows) shipped() map[string]ShippedWorkflow {
	return map[string]ShippedWorkflow{
		"mapping":                 {Enabled: true}, // sync.people and sync.companies
		"conversation_tasks":      {Enabled: w.ConversationTasks.Enabled},
		"escalation":              {Enabled: w.Escalation.Enabled},
		"support_issue_flag":      {Enabled: w.SupportIssueFlag.Enabled},
		"onboarding_message":      {Enabled: w.OnboardingMessage.Enabled},
		"accounts_from_companies": w.AccountsFromCompanies.ShippedWorkflow,
		"companies_from_accounts": w.CompaniesFromAccounts.ShippedWorkflow,
		"lead_status_tags":        w.LeadStatusTags.ShippedWorkflow,
		"expansion_opportunities": w.ExpansionOpportunities.ShippedWorkflow,
		"notifications":           w.Notifications.ShippedWorkflow,
		"several_leads":           w.SeveralLeads,
		"tags_to_salesforce":      w.TagsToSalesforce,
		"case_notes":              w.CaseNotes.ShippedWorkflow,
		"onboarding_milestones":   w.OnboardingMilestones.ShippedWorkflow,
		"tag_campaigns":           w.TagCampaigns.ShippedWorkflow,
	}
}

// ShippedSyncs names the enabled shipped workflows in the order they load:
// ferry's own first, then the others by name.
func (p *Pipeline) ShippedSyncs() []string {
	var own, out []string
	for name, w := range p.Workflows.shipped() {
		switch {
		case !w.Enabled:
		case slices.Contains(essential, name):
			own = append(own, name)
		default:
			out = append(out, name)
		}
	}
	slices.SortFunc(own, func(a, b string) int { return slices.Index(essential, a) - slices.Index(essential, b) })
	sort.Strings(out)
	return append(own, out...)
}

// AddShipped appends the syncs of the enabled shipped workflows, read by
// read (the declaration's bytes and the name to report it by), and checks
// them with the pipeline's own. Calling it again does nothing.
func (p *Pipeline) AddShipped(read func(workflow string) (data []byte, file string, err error)) error {
	if p.shippedAdded {
		return nil
	}
	declared := p.Syncs
	// Ferry's own workflows load first, before the pipeline's syncs too
	// (whose records may name theirs); the pipeline's keep their paths.
	var own, rest []SyncSpec
	for i, s := range p.Syncs {
		if s.At == "" {
			s.At = s.Path(i)
		}
		rest = append(rest, s)
	}
	workflows := p.Workflows.shipped()
	for _, name := range p.ShippedSyncs() {
		b, file, err := read(name)
		if err != nil {
			p.Syncs = declared
			return p.ProblemAt("$.workflows."+name, "the workflow's sync declaration: %v", err)
		}
		var specs []SyncSpec
		dec := yaml.NewDecoder(bytes.NewReader(b), yaml.DisallowUnknownField())
		if err := dec.Decode(&specs); err != nil {
			p.Syncs = declared
			return Problems{{File: file, Msg: strings.TrimSpace(yaml.FormatError(err, false, true))}}
		}
		for _, s := range specs {
			s.At = "$.workflows." + name
			if at, ok := shippedAt[name]; ok {
				s.At = at
			}
			s.Workflow = name
			s.Priority = workflows[name].Priority
			s.Essential = slices.Contains(essential, name)
			if s.Essential {
				own = append(own, s)
			} else {
				rest = append(rest, s)
			}
		}
	}
	p.Syncs = append(own, rest...)
	var probs []pathProblem
	p.validateSyncs(&probs)
	if len(probs) == 0 {
		p.shippedAdded = true
		return nil
	}
	p.Syncs = declared
	out := make(Problems, len(probs))
	for i, pr := range probs {
		out[i] = Problem{File: p.Path, Line: lineOf(p.file, pr.path), Path: displayPath(pr.path), Msg: pr.msg}
	}
	return out
}

func (p *Pipeline) validateShipped(probs *[]pathProblem) {
	add := func(path, format string, a ...any) {
		*probs = append(*probs, pathProblem{path, fmt.Sprintf(format, a...)})
	}
	ex := p.Workflows.ExpansionOpportunities
	if ex.Enabled && len(ex.Tags) == 0 {
		add("$.workflows.expansion_opportunities.tags", "required: the conversation tags that signal an expansion, each with its Opportunity Type")
	}
	for tag, typ := range ex.Tags {
		if tag == "" || typ == "" {
			add("$.workflows.expansion_opportunities.tags", "each tag needs an Opportunity Type, got %q: %q", tag, typ)
		}
	}
	if ex.CloseInDays < 0 {
		add("$.workflows.expansion_opportunities.close_in_days", "must not be negative")
	}
	if ex.Amount != nil && *ex.Amount < 0 {
		add("$.workflows.expansion_opportunities.amount", "must not be negative")
	}
	switch p.Workflows.OwnerRouting.By {
	case "", "contact", "account":
	default:
		add("$.workflows.owner_routing.by", "must be contact or account, got %q", p.Workflows.OwnerRouting.By)
	}
	if l := p.Workflows.LeadStatusTags; l.Enabled && strings.TrimSpace(l.Prefix) == "" {
		add("$.workflows.lead_status_tags.prefix", "required: the start of every tag the workflow manages (it untags the others it set), e.g. \"Lead status: \"")
	}
	if c := p.Workflows.CompaniesFromAccounts; c.Enabled && strings.TrimSpace(c.Rule) == "" {
		add("$.workflows.companies_from_accounts.rule", "required: a SQL predicate over the columns of stg_salesforce__accounts, e.g. annual_revenue >= 1000000 (true: every Account)")
	}
	if a := p.Workflows.AccountsFromCompanies; a.Enabled && strings.TrimSpace(a.Rule) == "" {
		add("$.workflows.accounts_from_companies.rule", "required: a SQL predicate over the columns of stg_intercom__companies, e.g. size >= 50 (true: every company)")
	}
	w := p.Workflows
	if n := w.Notifications; n.Enabled {
		switch {
		case !n.SupportIssue && !n.Escalations && !n.Expansions:
			add("$.workflows.notifications", "enabled, but none of support_issue, escalations, expansions is on")
		case n.SupportIssue && !w.SupportIssueFlag.Enabled:
			add("$.workflows.notifications.support_issue", "notifies when workflows.support_issue_flag sets its flag: turn that on too")
		case n.Escalations && !w.Escalation.Enabled:
			add("$.workflows.notifications.escalations", "notifies of the Cases workflows.escalation opens: turn that on too")
		case n.Expansions && !w.ExpansionOpportunities.Enabled:
			add("$.workflows.notifications.expansions", "notifies of the Opportunities workflows.expansion_opportunities opens: turn that on too")
		}
		if _, err := time.Parse("2006-01-02", n.Since); n.Since != "" && err != nil {
			add("$.workflows.notifications.since", "must be a date, YYYY-MM-DD, got %q", n.Since)
		}
	}
	if n := w.CaseNotes; n.Enabled {
		if !w.Escalation.Enabled {
			add("$.workflows.case_notes", "notes the Cases workflows.escalation opens: turn that on too")
		}
		if strings.TrimSpace(n.AdminID) == "" {
			add("$.workflows.case_notes.admin_id", "required: the Intercom admin who authors a note when the Case owner has none")
		}
		if _, err := time.Parse("2006-01-02", n.Since); n.Since != "" && err != nil {
			add("$.workflows.case_notes.since", "must be a date, YYYY-MM-DD, got %q", n.Since)
		}
		link := p.CaseLink()
		if u, err := url.Parse(strings.ReplaceAll(link, "{id}", "x")); err != nil || u.Host == "" || !strings.Contains(link, "{id}") {
			add("$.workflows.case_notes.link", "must be an address with {id} standing for the Case's Id, got %q", link)
		} else if n.Link == "" && (u.Host == "login.salesforce.com" || u.Host == "test.salesforce.com") {
			add("$.workflows.case_notes.link", "required when connections.salesforce signs in at %s: the org's own address, e.g. https://<my-domain>.lightning.force.com/lightning/r/Case/{id}/view", u.Host)
		}
	}
	_, events := p.Extract.Intercom["events"]
	if m := w.OnboardingMilestones; m.Enabled {
		if len(m.Events) == 0 {
			add("$.workflows.onboarding_milestones.events", "required: each Intercom event name with the Account date field its first occurrence goes to")
		}
		fields := map[string]string{}
		for name, field := range m.Events {
			switch {
			case strings.TrimSpace(name) == "" || !sfObjectRe.MatchString(field):
				add("$.workflows.onboarding_milestones.events", "each event needs an Account field, got %q: %q", name, field)
			case fields[strings.ToLower(field)] != "":
				add("$.workflows.onboarding_milestones.events", "events %s and %s both go to %s", fields[strings.ToLower(field)], name, field)
			}
			fields[strings.ToLower(field)] = name
		}
		if m.Days < 0 {
			add("$.workflows.onboarding_milestones.days", "must not be negative")
		}
		if !events {
			add("$.workflows.onboarding_milestones", "reads the people's events: add extract.intercom.events (e.g. { every: 1h }: a request per person of an Account in onboarding each time)")
		}
	} else if events {
		add("$.extract.intercom.events", "events are read for the people workflows.onboarding_milestones names: turn it on, or leave events out")
	}
	if c := w.TagCampaigns; c.Enabled {
		if len(c.Tags) == 0 {
			add("$.workflows.tag_campaigns.tags", "required: the Intercom tags that each get a Campaign")
		}
		for _, tag := range c.Tags {
			if strings.TrimSpace(tag) == "" {
				add("$.workflows.tag_campaigns.tags", "a tag name may not be empty")
			}
		}
		for _, obj := range []string{"Campaign", "CampaignMember"} {
			if _, ok := p.Extract.Salesforce[obj]; !ok {
				add("$.workflows.tag_campaigns", "needs extract.salesforce.%s: the Campaigns and members ferry made are read back, so that none is made twice and members of an untagged person are removed", obj)
			}
		}
	}
	if w.SeveralLeads.Enabled && !w.ConversationTasks.Enabled {
		add("$.workflows.several_leads", "logs the Tasks of workflows.conversation_tasks on more Leads: turn that on too")
	}
}
