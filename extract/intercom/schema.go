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
	S, I, F, B, T, L, J = extract.String, extract.Integer, extract.Number, extract.Boolean, extract.Timestamp, extract.List, extract.JSON
	col                 = extract.Col
	list                = func(name, path string) extract.Column {
		return extract.Column{Name: name, Type: extract.List, Path: strings.Split(path, ".")}
	}
)

var contactColumns = []extract.Column{
	col("workspace_id", S), col("external_id", S), col("role", S), col("email", S), col("email_domain", S),
	col("phone", S), col("formatted_phone", S), col("name", S), col("avatar", J), col("owner_id", S),
	col("has_hard_bounced", B), col("marked_email_as_spam", B), col("unsubscribed_from_emails", B),
	col("created_at", T), col("signed_up_at", T), col("last_seen_at", T), col("last_replied_at", T),
	col("last_contacted_at", T), col("last_email_opened_at", T), col("last_email_clicked_at", T),
	col("language_override", S), col("browser", S), col("browser_version", S), col("browser_language", S), col("os", S),
	col("location.country", S), col("location.region", S), col("location.city", S),
	col("location.country_code", S), col("location.continent_code", S),
	col("android_app_name", S), col("android_app_version", S), col("android_device", S), col("android_os_version", S),
	col("android_sdk_version", S), col("android_last_seen_at", T),
	col("ios_app_name", S), col("ios_app_version", S), col("ios_device", S), col("ios_os_version", S),
	col("ios_sdk_version", S), col("ios_last_seen_at", T),
	list("tag_ids", "tags.data.*.id"), list("company_ids", "companies.data.*.id"), list("note_ids", "notes.data.*.id"),
	col("social_profiles", J),
}

var companyColumns = []extract.Column{
	col("company_id", S), col("app_id", S), col("name", S), col("website", S), col("industry", S),
	col("size", I), col("monthly_spend", F), col("session_count", I), col("user_count", I),
	col("plan.id", S), col("plan.name", S),
	col("created_at", T), col("remote_created_at", T), col("last_request_at", T),
	list("tag_ids", "tags.tags.*.id"), list("tag_names", "tags.tags.*.name"), list("segment_ids", "segments.segments.*.id"),
	list("note_ids", "notes.notes.*.id"),
}

var conversationColumns = []extract.Column{
	col("title", S), col("created_at", T), col("waiting_since", T), col("snoozed_until", T),
	col("open", B), col("state", S), col("read", B), col("priority", S),
	col("admin_assignee_id", S), col("team_assignee_id", S), col("ai_agent_participated", B),
	list("tag_ids", "tags.tags.*.id"), list("tag_names", "tags.tags.*.name"),
	list("contact_ids", "contacts.contacts.*.id"), list("teammate_ids", "teammates.teammates.*.id"),
	col("conversation_rating.rating", I), col("conversation_rating.remark", S), col("conversation_rating.created_at", T),
	col("source.type", S), col("source.id", S), col("source.delivered_as", S), col("source.subject", S),
	col("source.body", S), col("source.author.type", S), col("source.author.id", S), col("source.author.name", S),
	col("source.author.email", S), col("source.url", S), col("source.redacted", B), col("source.attachments", J),
	col("statistics.time_to_assignment", I), col("statistics.time_to_admin_reply", I),
	col("statistics.time_to_first_close", I), col("statistics.time_to_last_close", I),
	col("statistics.median_time_to_reply", I), col("statistics.first_contact_reply_at", T),
	col("statistics.first_assignment_at", T), col("statistics.first_admin_reply_at", T),
	col("statistics.first_close_at", T), col("statistics.last_assignment_at", T),
	col("statistics.last_assignment_admin_reply_at", T), col("statistics.last_contact_reply_at", T),
	col("statistics.last_admin_reply_at", T), col("statistics.last_close_at", T),
	col("statistics.last_closed_by_id", S), col("statistics.count_reopens", I),
	col("statistics.count_assignments", I), col("statistics.count_conversation_parts", I),
	col("conversation_parts.total_count", I),
	// Parts are an event log of varying shapes: kept whole, as JSON.
	{Name: "conversation_parts", Type: J, Path: []string{"conversation_parts", "conversation_parts"}},
	col("custom_attributes", J),
}

var adminColumns = []extract.Column{col("name", S), col("email", S)}

var tagColumns = []extract.Column{col("name", S)}

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

// Snapshot: admins and tags are read whole every run.
func (s *Source) Snapshot() bool { return IsSnapshot(s.Name) }

// IsSnapshot reports whether an Intercom object is read whole every run
// (small reference lists with no change time).
func IsSnapshot(object string) bool { return object == "admins" || object == "tags" }
