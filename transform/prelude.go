package transform

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"

	sqlfiles "github.com/ferry-sync/ferry/sql"

	"github.com/ferry-sync/ferry/internal/config"
)

// RawObjects are the raw.* views: name -> landing source/object.
var RawObjects = []struct{ View, System, Object string }{
	{"intercom__contacts", "intercom", "contacts"},
	{"intercom__companies", "intercom", "companies"},
	{"salesforce__lead", "salesforce", "Lead"},
	{"salesforce__contact", "salesforce", "Contact"},
	{"salesforce__account", "salesforce", "Account"},
	{"salesforce__user", "salesforce", "User"},
	{"intercom__conversations", "intercom", "conversations"},
	{"intercom__admins", "intercom", "admins"},
	{"intercom__tags", "intercom", "tags"},
	{"salesforce__opportunity", "salesforce", "Opportunity"},
	{"salesforce__opportunity_contact_role", "salesforce", "OpportunityContactRole"},
	{"salesforce__case", "salesforce", "Case"},
	{"salesforce__task", "salesforce", "Task"},
}

const emptyRaw = `SELECT CAST(NULL AS VARCHAR) AS _run_id, CAST(NULL AS TIMESTAMPTZ) AS _extracted_at, CAST(NULL AS VARCHAR) AS id,
CAST(NULL AS TIMESTAMPTZ) AS updated_at, CAST(NULL AS BOOLEAN) AS is_deleted, CAST(NULL AS VARCHAR) AS record WHERE false`

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Prepare creates the schemas, macros, raw.* views over the landing files
// under landing, and config.* tables from the pipeline.
func Prepare(ctx context.Context, db *sql.DB, landing string, p *config.Pipeline) error {
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS raw; CREATE SCHEMA IF NOT EXISTS config; CREATE SCHEMA IF NOT EXISTS ferry"); err != nil {
		return fmt.Errorf("transform: schemas: %w", err)
	}
	if _, err := db.ExecContext(ctx, sqlfiles.Macros()); err != nil {
		return fmt.Errorf("transform: macros (sql/transform/macros.sql): %w", err)
	}
	for _, r := range RawObjects {
		dir := filepath.Join(landing, "source="+r.System, "object="+r.Object)
		files, _ := filepath.Glob(filepath.Join(dir, "run=*", "*.parquet"))
		body := emptyRaw
		if len(files) > 0 {
			// Paths come from the data dir, not from models; they are quoted.
			body = "SELECT _run_id, _extracted_at, id, updated_at, is_deleted, record FROM read_parquet(" +
				sqlString(filepath.Join(dir, "run=*", "*.parquet")) + ")"
		}
		if _, err := db.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE VIEW raw.%q AS %s", r.View, body)); err != nil {
			return fmt.Errorf("transform: raw view %s: %w", r.View, err)
		}
	}
	return writeConfig(ctx, db, p)
}

// jsonPath renders a dotted attribute path as a DuckDB JSON path.
func jsonPath(dotted string) string {
	var b strings.Builder
	b.WriteString("$")
	first, rest, nested := strings.Cut(dotted, ".")
	fmt.Fprintf(&b, ".%q", first)
	if nested {
		fmt.Fprintf(&b, ".%q", rest)
	}
	return b.String()
}

func writeConfig(ctx context.Context, db *sql.DB, p *config.Pipeline) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmts := []string{
		`CREATE OR REPLACE TABLE config.field_map (entity VARCHAR, position INTEGER, intercom_field VARCHAR, salesforce_field VARCHAR,
		 intercom_path VARCHAR, salesforce_path VARCHAR, owner VARCHAR, direction VARCHAR, value_type VARCHAR)`,
		`CREATE OR REPLACE TABLE config.settings (key VARCHAR PRIMARY KEY, value VARCHAR)`,
		`CREATE OR REPLACE TABLE config.health_components (component VARCHAR PRIMARY KEY, weight DOUBLE, bad DOUBLE, good DOUBLE)`,
		`CREATE OR REPLACE TABLE config.case_fields (field VARCHAR PRIMARY KEY, value VARCHAR)`,
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
				ent.name, i, f.Intercom, f.Salesforce, jsonPath(f.Intercom), jsonPath(f.Salesforce), f.Owner, f.Direction, f.Type); err != nil {
				return fmt.Errorf("transform: config.field_map: %w", err)
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
	h := p.Health
	ct := p.Workflows.ConversationTasks
	settings := map[string]string{
		"capture_enabled":             fmt.Sprint(p.Workflows.LeadCapture.Enabled),
		"capture_lead_source":         p.Workflows.LeadCapture.LeadSource,
		"capture_owner_from_intercom": fmt.Sprint(p.Workflows.LeadCapture.OwnerFromIntercom),
		"capture_placeholder":         p.Workflows.LeadCapture.Placeholder,
		"escalation_enabled":          fmt.Sprint(p.Workflows.Escalation.Enabled),
		"escalation_account_path":     jsonPath(p.Workflows.Escalation.AccountField),
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
		"stage_enabled":            fmt.Sprint(p.Workflows.OpportunityStage.Enabled),
		"stage_attribute":          "custom_attributes." + p.Workflows.OpportunityStage.Attribute,
		"stage_path":               jsonPath("custom_attributes." + p.Workflows.OpportunityStage.Attribute),
		"support_flag_enabled":     fmt.Sprint(p.Workflows.SupportIssueFlag.Enabled),
		"support_flag_field":       p.Workflows.SupportIssueFlag.Field,
		"support_flag_path":        jsonPath(p.Workflows.SupportIssueFlag.Field),
		"tasks_enabled":            fmt.Sprint(ct.Enabled),
		"tasks_tags":               strings.Join(ct.Tags, ","),
		"tasks_external_id":        ct.ExternalIDField,
		"tasks_link_template":      ct.LinkTemplate,
		"health_enabled":           fmt.Sprint(h.Enabled),
		"health_green":             fmt.Sprint(h.Bands.Green),
		"health_yellow":            fmt.Sprint(h.Bands.Yellow),
		"health_sf_score_field":    h.Salesforce.ScoreField,
		"health_sf_score_path":     jsonPath(h.Salesforce.ScoreField),
		"health_sf_band_field":     h.Salesforce.BandField,
		"health_sf_band_path":      jsonPath(h.Salesforce.BandField),
		"health_ic_score_field":    "custom_attributes." + h.Intercom.ScoreAttribute,
		"health_ic_score_path":     jsonPath("custom_attributes." + h.Intercom.ScoreAttribute),
		"health_ic_band_field":     "custom_attributes." + h.Intercom.BandAttribute,
		"health_ic_band_path":      jsonPath("custom_attributes." + h.Intercom.BandAttribute),
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

// RuleModels returns the models generated from predicates in the pipeline
// file (the lead-capture rule), labelled with the file and key so that a
// broken rule is reported where the analyst wrote it.
func RuleModels(p *config.Pipeline) []Model {
	rule := "false"
	if lc := p.Workflows.LeadCapture; lc.Enabled {
		rule = lc.Rule
	}
	return []Model{{
		Name:         "int_lead_capture_qualified",
		Path:         p.Path + ": workflows.lead_capture.rule",
		Materialized: "table",
		DependsOn:    []string{"lead_capture_input"},
		SQL:          "SELECT intercom_id FROM lead_capture_input WHERE (" + rule + ")",
	}}
}
