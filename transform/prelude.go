package transform

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	sqlfiles "github.com/ferry-sync/ferry/sql"

	"github.com/ferry-sync/ferry/extract"
	intercomextract "github.com/ferry-sync/ferry/extract/intercom"
	salesforceextract "github.com/ferry-sync/ferry/extract/salesforce"
	"github.com/ferry-sync/ferry/internal/config"
	"github.com/ferry-sync/ferry/internal/state"
)

// Object is one extracted object and its current-state table raw.<Table>.
type Object struct {
	System, Object, Table string
}

// Objects lists every object ferry can extract, in a fixed order.
func Objects() []Object {
	var out []Object
	for _, o := range config.IntercomObjects {
		out = append(out, Object{"intercom", o, extract.TableName("intercom", o)})
	}
	for _, o := range config.SalesforceObjects {
		out = append(out, Object{"salesforce", o, extract.TableName("salesforce", o)})
	}
	return out
}

// documented is the column list a never-extracted object's table starts
// with: its documented columns but those kept in the landing files only.
func documented(o Object) []extract.Column {
	all := salesforceextract.Documented[o.Object]
	if o.System == "intercom" {
		all = intercomextract.Documented(o.Object)
	}
	var out []extract.Column
	for _, c := range all {
		if !c.LandingOnly {
			out = append(out, c)
		}
	}
	return out
}

// Prepare creates the schemas and macros, makes sure every object has a
// current-state table raw.<object> with the documented and configured
// columns (added empty when the source never had them), creates the views
// landing.<object> over the append-only landing files, and writes the
// pipeline's settings to config.* tables.
func Prepare(ctx context.Context, db *sql.DB, landing string, p *config.Pipeline) error {
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS raw; CREATE SCHEMA IF NOT EXISTS config; CREATE SCHEMA IF NOT EXISTS ferry; CREATE SCHEMA IF NOT EXISTS landing"); err != nil {
		return fmt.Errorf("transform: schemas: %w", err)
	}
	if _, err := db.ExecContext(ctx, sqlfiles.Macros()); err != nil {
		return fmt.Errorf("transform: macros (sql/transform/macros.sql): %w", err)
	}
	configured := ConfiguredColumns(p)
	for _, o := range Objects() {
		if err := ensureTable(ctx, db, o, append(documented(o), configured[o.Table]...)); err != nil {
			return err
		}
		files, err := state.LandingFiles(landing, o.System, o.Object)
		if err != nil {
			return err
		}
		body := fmt.Sprintf("SELECT * FROM raw.%s WHERE false", state.QuoteIdent(o.Table))
		if len(files) > 0 {
			quoted := make([]string, len(files))
			for i, f := range files {
				quoted[i] = state.QuoteString(f)
			}
			// Paths come from the data dir, not from models; they are quoted.
			body = "SELECT * FROM read_parquet([" + strings.Join(quoted, ", ") + "], union_by_name = true, hive_partitioning = false)"
		}
		if _, err := db.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE VIEW landing.%s AS %s", state.QuoteIdent(o.Table), body)); err != nil {
			return fmt.Errorf("transform: landing view %s: %w", o.Table, err)
		}
	}
	return writeConfig(ctx, db, p)
}

// ensureTable creates raw.<table> or adds the columns it lacks.
func ensureTable(ctx context.Context, db *sql.DB, o Object, cols []extract.Column) error {
	have, err := state.TableColumns(ctx, db, "raw", o.Table)
	if err != nil {
		return err
	}
	exists := map[string]bool{}
	for _, c := range have {
		exists[strings.ToLower(c.Name)] = true
	}
	table := "raw." + state.QuoteIdent(o.Table)
	if len(have) == 0 {
		if _, err := db.ExecContext(ctx, fmt.Sprintf(`CREATE TABLE %s (_run_id VARCHAR, _extracted_at TIMESTAMPTZ, id VARCHAR,
			updated_at TIMESTAMPTZ, is_deleted BOOLEAN, _unmapped VARCHAR)`, table)); err != nil {
			return fmt.Errorf("transform: create %s: %w", table, err)
		}
		for _, l := range extract.Lineage {
			exists[l] = true
		}
		exists[extract.Unmapped] = true
	}
	for _, c := range cols {
		if exists[strings.ToLower(c.Name)] || extract.IsLineage(c.Name) {
			continue
		}
		exists[strings.ToLower(c.Name)] = true
		if _, err := db.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", table, state.QuoteIdent(c.Name), c.Type.DuckDBType())); err != nil {
			return fmt.Errorf("transform: add column %s to %s: %w", c.Name, table, err)
		}
	}
	return nil
}

// valueType maps a mapping's value type to a column type.
func valueType(t string) extract.Type {
	switch t {
	case "integer":
		return extract.Integer
	case "number":
		return extract.Number
	case "boolean":
		return extract.Boolean
	}
	return extract.String
}

// ConfiguredColumns lists, per current-state table, the fields the
// pipeline file names (mapped fields, external ids, health, signal and
// escalation fields), in the order the file gives them.
// PipelineVars are the variables models may name ({{ var('name') }}):
// the external-id fields of the pipeline file, or their conventional
// names where a workflow that is off leaves one unset.
func PipelineVars(p *config.Pipeline) Vars {
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	return Vars{
		"people_external_id":    or(p.Sync.People.SalesforceExternalID, "Intercom_Id__c"),
		"companies_external_id": or(p.Sync.Companies.SalesforceExternalID, "Intercom_Company_Id__c"),
		"tasks_external_id":     or(p.Workflows.ConversationTasks.ExternalIDField, "Intercom_Conversation_Id__c"),
		"cases_external_id":     or(p.Workflows.Escalation.ExternalIDField, "Intercom_Conversation_Id__c"),
		"support_flag_field":    or(p.Workflows.SupportIssueFlag.Field, "Active_Support_Issue__c"),
	}
}

func ConfiguredColumns(p *config.Pipeline) map[string][]extract.Column {
	out := map[string][]extract.Column{}
	add := func(table, name string, t extract.Type) {
		if name == "" {
			return
		}
		for _, c := range out[table] {
			if strings.EqualFold(c.Name, name) {
				return
			}
		}
		out[table] = append(out[table], extract.Col(name, t))
	}
	const (
		contacts  = "intercom__contacts"
		companies = "intercom__companies"
		lead      = "salesforce__lead"
		contact   = "salesforce__contact"
		account   = "salesforce__account"
	)
	for _, f := range p.Sync.People.Fields {
		add(contacts, f.Intercom, valueType(f.Type))
		add(lead, f.Salesforce, valueType(f.Type))
		add(contact, f.Salesforce, valueType(f.Type))
	}
	vars := PipelineVars(p)
	add(lead, vars["people_external_id"], extract.String)
	add(contact, vars["people_external_id"], extract.String)
	for _, f := range p.Sync.Companies.Fields {
		add(companies, f.Intercom, valueType(f.Type))
		add(account, f.Salesforce, valueType(f.Type))
	}
	add(account, vars["companies_external_id"], extract.String)
	h := p.Health
	add(account, h.Salesforce.ScoreField, extract.Number)
	add(account, h.Salesforce.BandField, extract.String)
	if h.Intercom.ScoreAttribute != "" {
		add(companies, "custom_attributes."+h.Intercom.ScoreAttribute, extract.Number)
	}
	if h.Intercom.BandAttribute != "" {
		add(companies, "custom_attributes."+h.Intercom.BandAttribute, extract.String)
	}
	esc := p.Workflows.Escalation
	if esc.MinValue != nil {
		add(account, esc.AccountField, extract.Number)
	} else {
		add(account, esc.AccountField, extract.String)
	}
	add("salesforce__case", vars["cases_external_id"], extract.String)
	// The fields the Task and Case models write, compared with what
	// Salesforce holds.
	for _, f := range []string{"ContactId", "AccountId", "OwnerId", "Subject", "Description", "Status"} {
		add("salesforce__case", f, extract.String)
	}
	for _, f := range []string{"WhoId", "WhatId", "OwnerId", "Subject", "Description", "Status"} {
		add("salesforce__task", f, extract.String)
	}
	add("salesforce__task", "ActivityDate", extract.Date)
	for field := range esc.Fields {
		add("salesforce__case", field, extract.String)
	}
	add("salesforce__task", vars["tasks_external_id"], extract.String)
	// The key of what the shipped syncs create (models/syncs).
	add("salesforce__task", "Ferry_Key__c", extract.String)
	add("salesforce__opportunity", "Ferry_Key__c", extract.String)
	add("salesforce__opportunity", p.Workflows.SupportIssueFlag.Field, extract.Boolean)
	if a := p.Workflows.OpportunityStage.Attribute; a != "" {
		add(contacts, "custom_attributes."+a, extract.String)
	}
	return out
}

func writeConfig(ctx context.Context, db *sql.DB, p *config.Pipeline) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmts := []string{
		`CREATE OR REPLACE TABLE config.field_map (entity VARCHAR, position INTEGER, intercom_field VARCHAR, salesforce_field VARCHAR,
		 owner VARCHAR, direction VARCHAR, value_type VARCHAR, has_values BOOLEAN, default_value VARCHAR)`,
		`CREATE OR REPLACE TABLE config.value_map (entity VARCHAR, position INTEGER, intercom_value VARCHAR, salesforce_value VARCHAR)`,
		`CREATE OR REPLACE TABLE config.settings (key VARCHAR PRIMARY KEY, value VARCHAR)`,
		`CREATE OR REPLACE TABLE config.health_components (component VARCHAR PRIMARY KEY, weight DOUBLE, bad DOUBLE, good DOUBLE)`,
		`CREATE OR REPLACE TABLE config.case_fields (field VARCHAR PRIMARY KEY, value VARCHAR)`,
		`CREATE OR REPLACE TABLE config.expansion_tags (tag VARCHAR PRIMARY KEY, opportunity_type VARCHAR)`,
		`CREATE OR REPLACE TABLE config.onboarding_milestones (event_name VARCHAR PRIMARY KEY, field VARCHAR)`,
		`CREATE OR REPLACE TABLE config.campaign_tags (tag VARCHAR PRIMARY KEY)`,
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("transform: config tables: %w", err)
		}
	}
	for _, ent := range []struct {
		name string
		e    config.Entity
	}{{"people", p.Sync.People}, {"companies", p.Sync.Companies}} {
		for i, f := range ent.e.Fields {
			if _, err := tx.ExecContext(ctx, `INSERT INTO config.field_map VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				ent.name, i, f.Intercom, f.Salesforce, f.Owner, f.Direction, f.Type, len(f.Values) > 0, f.Default); err != nil {
				return fmt.Errorf("transform: config.field_map: %w", err)
			}
			for ic, sf := range f.Values {
				if _, err := tx.ExecContext(ctx, `INSERT INTO config.value_map VALUES ($1, $2, $3, $4)`, ent.name, i, ic, sf); err != nil {
					return fmt.Errorf("transform: config.value_map: %w", err)
				}
			}
		}
	}
	for name, c := range p.Health.Components {
		if _, err := tx.ExecContext(ctx, `INSERT INTO config.health_components VALUES ($1, $2, $3, $4)`, name, c.Weight, *c.Bad, *c.Good); err != nil {
			return fmt.Errorf("transform: config.health_components: %w", err)
		}
	}
	for field, value := range p.Workflows.Escalation.Fields {
		if _, err := tx.ExecContext(ctx, `INSERT INTO config.case_fields VALUES ($1, $2)`, field, value); err != nil {
			return fmt.Errorf("transform: config.case_fields: %w", err)
		}
	}
	ex := p.Workflows.ExpansionOpportunities
	for tag, typ := range ex.Tags {
		if _, err := tx.ExecContext(ctx, `INSERT INTO config.expansion_tags VALUES ($1, $2)`, tag, typ); err != nil {
			return fmt.Errorf("transform: config.expansion_tags: %w", err)
		}
	}
	for _, tag := range slices.Compact(slices.Sorted(slices.Values(p.Workflows.TagCampaigns.Tags))) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO config.campaign_tags VALUES ($1)`, tag); err != nil {
			return fmt.Errorf("transform: config.campaign_tags: %w", err)
		}
	}
	for name, field := range p.Workflows.OnboardingMilestones.Events {
		if _, err := tx.ExecContext(ctx, `INSERT INTO config.onboarding_milestones VALUES ($1, $2)`, name, field); err != nil {
			return fmt.Errorf("transform: config.onboarding_milestones: %w", err)
		}
	}
	amount := ""
	if ex.Amount != nil {
		amount = fmt.Sprint(*ex.Amount)
	}
	nt := p.Workflows.Notifications
	h := p.Health
	ct := p.Workflows.ConversationTasks
	settings := map[string]string{
		"expansion_enabled":           fmt.Sprint(ex.Enabled),
		"expansion_stage":             ex.Stage,
		"expansion_amount":            amount,
		"expansion_close_in_days":     fmt.Sprint(ex.CloseInDays),
		"notify_support_issue":        fmt.Sprint(nt.Enabled && nt.SupportIssue),
		"notify_escalations":          fmt.Sprint(nt.Enabled && nt.Escalations),
		"notify_expansions":           fmt.Sprint(nt.Enabled && nt.Expansions),
		"notify_since":                nt.Since,
		"lead_status_tags_enabled":    fmt.Sprint(p.Workflows.LeadStatusTags.Enabled),
		"lead_status_tag_prefix":      p.Workflows.LeadStatusTags.Prefix,
		"several_leads_enabled":       fmt.Sprint(p.Workflows.SeveralLeads.Enabled),
		"case_notes_enabled":          fmt.Sprint(p.Workflows.CaseNotes.Enabled),
		"milestones_enabled":          fmt.Sprint(p.Workflows.OnboardingMilestones.Enabled),
		"tag_campaigns_enabled":       fmt.Sprint(p.Workflows.TagCampaigns.Enabled),
		"case_notes_admin":            p.Workflows.CaseNotes.AdminID,
		"case_notes_link":             p.CaseLink(),
		"case_notes_since":            p.Workflows.CaseNotes.Since,
		"tags_to_sf_enabled":          fmt.Sprint(p.Workflows.TagsToSalesforce.Enabled),
		"capture_enabled":             fmt.Sprint(p.Workflows.LeadCapture.Enabled),
		"capture_lead_source":         p.Workflows.LeadCapture.LeadSource,
		"capture_owner_from_intercom": fmt.Sprint(p.Workflows.LeadCapture.OwnerFromIntercom),
		"capture_placeholder":         p.Workflows.LeadCapture.Placeholder,
		"escalation_enabled":          fmt.Sprint(p.Workflows.Escalation.Enabled),
		"escalation_account_field":    p.Workflows.Escalation.AccountField,
		"escalation_min_value": func() string {
			if v := p.Workflows.Escalation.MinValue; v != nil {
				return fmt.Sprint(*v)
			}
			return ""
		}(),
		"escalation_values":        strings.Join(p.Workflows.Escalation.Values, ","),
		"escalation_priorities":    strings.Join(p.Workflows.Escalation.Priorities, ","),
		"escalation_tags":          strings.Join(p.Workflows.Escalation.Tags, ","),
		"escalation_external_id":   p.Workflows.Escalation.ExternalIDField,
		"onboarding_enabled":       fmt.Sprint(p.Workflows.OnboardingMessage.Enabled),
		"onboarding_from_admin":    p.Workflows.OnboardingMessage.FromAdminID,
		"onboarding_type":          p.Workflows.OnboardingMessage.MessageType,
		"onboarding_subject":       p.Workflows.OnboardingMessage.Subject,
		"onboarding_body":          p.Workflows.OnboardingMessage.Body,
		"onboarding_since":         p.Workflows.OnboardingMessage.ClosedOnOrAfter,
		"owner_routing_enabled":    fmt.Sprint(p.Workflows.OwnerRouting.Enabled),
		"owner_routing_by":         p.Workflows.OwnerRouting.By,
		"stage_enabled":            fmt.Sprint(p.Workflows.OpportunityStage.Enabled),
		"stage_attribute":          "custom_attributes." + p.Workflows.OpportunityStage.Attribute,
		"support_flag_enabled":     fmt.Sprint(p.Workflows.SupportIssueFlag.Enabled),
		"support_flag_field":       p.Workflows.SupportIssueFlag.Field,
		"tasks_enabled":            fmt.Sprint(ct.Enabled),
		"tasks_tags":               strings.Join(ct.Tags, ","),
		"tasks_external_id":        ct.ExternalIDField,
		"tasks_link_template":      ct.LinkTemplate,
		"health_enabled":           fmt.Sprint(h.Enabled),
		"health_green":             fmt.Sprint(h.Bands.Green),
		"health_yellow":            fmt.Sprint(h.Bands.Yellow),
		"health_sf_score_field":    h.Salesforce.ScoreField,
		"health_sf_band_field":     h.Salesforce.BandField,
		"health_ic_score_field":    "custom_attributes." + h.Intercom.ScoreAttribute,
		"health_ic_band_field":     "custom_attributes." + h.Intercom.BandAttribute,
		"people_external_id":       p.Sync.People.SalesforceExternalID,
		"companies_external_id":    p.Sync.Companies.SalesforceExternalID,
		"create_salesforce_leads":  fmt.Sprint(p.Sync.People.CreateSalesforceLeads),
		"create_intercom_contacts": fmt.Sprint(p.Sync.People.CreateIntercomContacts),
		"people_match_keys":        strings.Join(p.Identity.People.MatchKeys, ","),
		"companies_match_keys":     strings.Join(p.Identity.Companies.MatchKeys, ","),
	}
	for k, v := range settings {
		if _, err := tx.ExecContext(ctx, `INSERT INTO config.settings VALUES ($1, $2)`, k, v); err != nil {
			return fmt.Errorf("transform: config.settings: %w", err)
		}
	}
	return tx.Commit()
}

// RuleModels returns the models generated from the pipeline file, labelled
// with the file and key so that a problem is reported where it was written:
// the lead-capture rule, and int_configured_values, which unpivots every
// field the file names into (source, record_id, field, value) rows so that
// models can look values up by the configured name.
func RuleModels(p *config.Pipeline) []Model {
	return append(ruleModel(p), configuredValues(p))
}

// configuredValues generates int_configured_values: one row per record of
// each object and field the pipeline names, the value as text.
func configuredValues(p *config.Pipeline) Model {
	configured := ConfiguredColumns(p)
	var parts []string
	for _, o := range Objects() {
		cols := configured[o.Table]
		if len(cols) == 0 {
			continue
		}
		items := make([]string, len(cols))
		for i, c := range cols {
			items[i] = fmt.Sprintf("{'field': %s, 'value': CAST(%s AS VARCHAR)}", state.QuoteString(c.Name), state.QuoteIdent(c.Name))
		}
		parts = append(parts, fmt.Sprintf("SELECT %s AS source, id AS record_id, unnest([%s], recursive := true) FROM raw.%s WHERE NOT is_incremental() OR changed(id)",
			state.QuoteString(o.Table), strings.Join(items, ", "), state.QuoteIdent(o.Table)))
	}
	sqlText := "SELECT NULL::VARCHAR AS source, NULL::VARCHAR AS record_id, NULL::VARCHAR AS field, NULL::VARCHAR AS value WHERE false"
	if len(parts) > 0 {
		sqlText = strings.Join(parts, "\nUNION ALL\n")
	}
	return Model{
		Name:         "int_configured_values",
		Path:         p.Path + ": fields named by sync, health and workflows",
		Materialized: "incremental",
		RecordIDs:    []string{"record_id"},
		Description:  "Every field the pipeline file names, per record, as text: look values up by (record_id, field).",
		SQL:          sqlText,
	}
}

func ruleModel(p *config.Pipeline) []Model {
	rule := "false"
	if lc := p.Workflows.LeadCapture; lc.Enabled {
		rule = lc.Rule
	}
	companies := "false"
	if a := p.Workflows.AccountsFromCompanies; a.Enabled {
		companies = a.Rule
	}
	accounts := "false"
	if c := p.Workflows.CompaniesFromAccounts; c.Enabled {
		accounts = c.Rule
	}
	return []Model{{
		Name:         "int_companies_from_accounts_qualified",
		Path:         p.Path + ": workflows.companies_from_accounts.rule",
		Materialized: "table",
		DependsOn:    []string{"stg_salesforce__accounts"},
		SQL:          "SELECT sf_id FROM stg_salesforce__accounts WHERE NOT is_deleted AND (" + accounts + ")",
	}, {
		Name:         "int_accounts_from_companies_qualified",
		Path:         p.Path + ": workflows.accounts_from_companies.rule",
		Materialized: "table",
		DependsOn:    []string{"stg_intercom__companies"},
		SQL:          "SELECT intercom_id FROM stg_intercom__companies WHERE NOT coalesce(is_deleted, false) AND (" + companies + ")",
	}, {
		Name:         "int_lead_capture_qualified",
		Path:         p.Path + ": workflows.lead_capture.rule",
		Materialized: "incremental",
		RecordIDs:    []string{"intercom_id"},
		DependsOn:    []string{"lead_capture_input"},
		// A person a teammate asked a Lead for (ferry serve's inbox app)
		// qualifies whatever the rule.
		SQL: "SELECT intercom_id FROM lead_capture_input WHERE (NOT is_incremental() OR changed(intercom_id)) AND ((" + rule + ") OR intercom_id IN (SELECT intercom_id FROM ferry.lead_requests))",
	}}
}
