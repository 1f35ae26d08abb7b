package intercom

import (
	"context"
	"fmt"
	"strings"

	"github.com/ferry-sync/ferry/extract"
)

// Documented object shapes (Intercom's OpenAPI description, 2.14–2.16): a
// column per scalar field, dotted names for nested objects, lists of ids
// or names for tag/company/contact lists, and JSON text for nested lists
// with no fixed shape (conversation parts, social profiles). Custom
// attributes are added from the workspace's data attributes, typed by
// their data_type. Ids that changed type between versions (owner_id,
// admin_assignee_id: integer in 2.14, string in 2.16) land as text.
var (
	tText, tInt, tFloat, tBool, tTime, tJSON = extract.String, extract.Integer, extract.Number, extract.Boolean, extract.Timestamp, extract.JSON
	col                                      = extract.Col
	list                                     = func(name, path string) extract.Column {
		return extract.Column{Name: name, Type: extract.List, Path: strings.Split(path, ".")}
	}
)

var contactColumns = []extract.Column{
	col("workspace_id", tText), col("external_id", tText), col("role", tText), col("email", tText), col("email_domain", tText),
	col("phone", tText), col("formatted_phone", tText), col("name", tText), col("avatar", tJSON), col("owner_id", tText),
	col("has_hard_bounced", tBool), col("marked_email_as_spam", tBool), col("unsubscribed_from_emails", tBool),
	col("created_at", tTime), col("signed_up_at", tTime), col("last_seen_at", tTime), col("last_replied_at", tTime),
	col("last_contacted_at", tTime), col("last_email_opened_at", tTime), col("last_email_clicked_at", tTime),
	col("language_override", tText), col("browser", tText), col("browser_version", tText), col("browser_language", tText), col("os", tText),
	col("location.country", tText), col("location.region", tText), col("location.city", tText),
	col("location.country_code", tText), col("location.continent_code", tText),
	col("android_app_name", tText), col("android_app_version", tText), col("android_device", tText), col("android_os_version", tText),
	col("android_sdk_version", tText), col("android_last_seen_at", tTime),
	col("ios_app_name", tText), col("ios_app_version", tText), col("ios_device", tText), col("ios_os_version", tText),
	col("ios_sdk_version", tText), col("ios_last_seen_at", tTime),
	list("tag_ids", "tags.data.*.id"), list("company_ids", "companies.data.*.id"), list("note_ids", "notes.data.*.id"),
	col("social_profiles", tJSON),
	// ferry's own: set on a tombstone when Intercom answered 410
	// contact_merged, naming the contact this one was merged into.
	col("merged_into", tText),
}

var companyColumns = []extract.Column{
	col("company_id", tText), col("app_id", tText), col("name", tText), col("website", tText), col("industry", tText),
	col("size", tInt), col("monthly_spend", tFloat), col("session_count", tInt), col("user_count", tInt),
	col("plan.id", tText), col("plan.name", tText),
	col("created_at", tTime), col("remote_created_at", tTime), col("last_request_at", tTime),
	list("tag_ids", "tags.tags.*.id"), list("tag_names", "tags.tags.*.name"), list("segment_ids", "segments.segments.*.id"),
	list("note_ids", "notes.notes.*.id"),
}

var conversationColumns = []extract.Column{
	col("title", tText), col("created_at", tTime), col("waiting_since", tTime), col("snoozed_until", tTime),
	col("open", tBool), col("state", tText), col("read", tBool), col("priority", tText),
	col("admin_assignee_id", tText), col("team_assignee_id", tText), col("ai_agent_participated", tBool),
	list("tag_ids", "tags.tags.*.id"), list("tag_names", "tags.tags.*.name"),
	list("contact_ids", "contacts.contacts.*.id"), list("teammate_ids", "teammates.teammates.*.id"),
	col("conversation_rating.rating", tInt), col("conversation_rating.remark", tText), col("conversation_rating.created_at", tTime),
	col("source.type", tText), col("source.id", tText), col("source.delivered_as", tText), col("source.subject", tText),
	col("source.body", tText), col("source.author.type", tText), col("source.author.id", tText), col("source.author.name", tText),
	col("source.author.email", tText), col("source.url", tText), col("source.redacted", tBool), col("source.attachments", tJSON),
	col("statistics.time_to_assignment", tInt), col("statistics.time_to_admin_reply", tInt),
	col("statistics.time_to_first_close", tInt), col("statistics.time_to_last_close", tInt),
	col("statistics.median_time_to_reply", tInt), col("statistics.first_contact_reply_at", tTime),
	col("statistics.first_assignment_at", tTime), col("statistics.first_admin_reply_at", tTime),
	col("statistics.first_close_at", tTime), col("statistics.last_assignment_at", tTime),
	col("statistics.last_assignment_admin_reply_at", tTime), col("statistics.last_contact_reply_at", tTime),
	col("statistics.last_admin_reply_at", tTime), col("statistics.last_close_at", tTime),
	col("statistics.last_closed_by_id", tText), col("statistics.count_reopens", tInt),
	col("statistics.count_assignments", tInt), col("statistics.count_conversation_parts", tInt),
	col("conversation_parts.total_count", tInt),
	// Parts are an event log of varying shapes: kept whole, as JSON, in the
	// landing files only. No model reads them, and in current state they
	// were most of its bytes (1.1 GB at 1,000,000 contacts): merging them
	// alone took ferry 680 MB past DuckDB's memory limit, and every
	// fingerprint hashed them.
	{Name: "conversation_parts", Type: tJSON, Path: []string{"conversation_parts", "conversation_parts"}, LandingOnly: true},
	col("custom_attributes", tJSON),
}

// eventColumns are a contact's data events summarised by name (GET
// /events?summary=true): a row per contact and name, changed when its
// last event is.
var eventColumns = []extract.Column{
	col("contact_id", tText), col("event_name", tText), col("first_at", tTime), col("last_at", tTime), col("count", tInt),
}

var adminColumns = []extract.Column{col("name", tText), col("email", tText)}

var tagColumns = []extract.Column{col("name", tText)}

// Documented returns the documented columns of an Intercom object (custom
// attributes excluded), for creating the current state of an object that
// was never extracted.
func Documented(object string) []extract.Column {
	switch object {
	case "contacts":
		return contactColumns
	case "companies":
		return companyColumns
	case "conversations":
		return conversationColumns
	case "events":
		return eventColumns
	case "admins":
		return adminColumns
	case "tags":
		return tagColumns
	}
	return nil
}

// attributeType maps a data attribute's data_type to a column type.
func attributeType(dataType string) extract.Type {
	switch dataType {
	case "integer":
		return extract.Integer
	case "float":
		return extract.Number
	case "boolean":
		return extract.Boolean
	case "date", "datetime":
		return extract.Timestamp
	}
	return extract.String
}

// Schema returns the documented columns of the object, plus, for contacts
// and companies, one column per custom data attribute of the workspace.
func (s *Source) Schema(ctx context.Context) ([]extract.Column, error) {
	cols := append([]extract.Column(nil), Documented(s.Name)...)
	if cols == nil {
		return nil, fmt.Errorf("intercom object %q has no documented shape", s.Name)
	}
	model := map[string]string{"contacts": "contact", "companies": "company"}[s.Name]
	if model == "" {
		return cols, nil
	}
	attrs, err := s.Client.DataAttributes(ctx, model)
	if err != nil {
		return nil, fmt.Errorf("list %s data attributes: %w", model, err)
	}
	for _, a := range attrs {
		if !a.Custom {
			continue
		}
		name := a.FullName
		if name == "" {
			name = "custom_attributes." + a.Name
		}
		cols = append(cols, extract.Column{Name: name, Type: attributeType(a.DataType), Path: []string{"custom_attributes", a.Name}})
	}
	return cols, nil
}

// LandingOnly lists the columns of an object that stay in its landing
// files, out of current state.
func LandingOnly(object string) []string {
	var out []string
	for _, c := range Documented(object) {
		if c.LandingOnly {
			out = append(out, c.Name)
		}
	}
	return out
}

// Snapshot: admins and tags are read whole every run.
func (s *Source) Snapshot() bool { return IsSnapshot(s.Name) }

// IsSnapshot reports whether an Intercom object is read whole every run
// (small reference lists with no change time).
func IsSnapshot(object string) bool { return object == "admins" || object == "tags" }
