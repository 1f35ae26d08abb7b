package intercomapi

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"

	"github.com/ferry-sync/ferry/internal/httpx"
)

// Contact is an Intercom contact: the fields ferry reads directly, plus the
// whole object as received (Raw) for landing.
type Contact struct {
	ID         string
	Role       string
	Email      string
	ExternalID string
	UpdatedAt  int64
	Raw        json.RawMessage
}

// UnmarshalJSON keeps a copy of the raw object.
func (c *Contact) UnmarshalJSON(b []byte) error {
	var v struct {
		ID         string  `json:"id"`
		Role       string  `json:"role"`
		Email      *string `json:"email"`
		ExternalID *string `json:"external_id"`
		UpdatedAt  int64   `json:"updated_at"`
	}
	raw, err := keepRaw(b, "contact", &v, &v.ID)
	if err != nil {
		return err
	}
	*c = Contact{ID: v.ID, Role: v.Role, UpdatedAt: v.UpdatedAt, Raw: raw}
	if v.Email != nil {
		c.Email = *v.Email
	}
	if v.ExternalID != nil {
		c.ExternalID = *v.ExternalID
	}
	return nil
}

// keepRaw decodes the fields ferry reads from b into fields, refuses an
// object without an id, and returns a copy of b for landing.
func keepRaw(b []byte, kind string, fields any, id *string) (json.RawMessage, error) {
	if err := json.Unmarshal(b, fields); err != nil {
		return nil, err
	}
	if *id == "" {
		return nil, fmt.Errorf("%s without id", kind)
	}
	return append(json.RawMessage(nil), b...), nil
}

// Company is an Intercom company with its raw JSON.
type Company struct {
	ID        string
	CompanyID string
	UpdatedAt int64
	Raw       json.RawMessage
}

// UnmarshalJSON keeps a copy of the raw object.
func (c *Company) UnmarshalJSON(b []byte) error {
	var v struct {
		ID        string `json:"id"`
		CompanyID string `json:"company_id"`
		UpdatedAt int64  `json:"updated_at"`
	}
	raw, err := keepRaw(b, "company", &v, &v.ID)
	if err != nil {
		return err
	}
	*c = Company{ID: v.ID, CompanyID: v.CompanyID, UpdatedAt: v.UpdatedAt, Raw: raw}
	return nil
}

// Filter is a search query node: either a comparison (Field, Operator,
// Value) or a group (Operator AND/OR, Filters).
type Filter struct {
	Field    string
	Operator string
	Value    any
	Filters  []Filter
}

// MarshalJSON renders the search grammar.
func (f Filter) MarshalJSON() ([]byte, error) {
	if f.Operator == "AND" || f.Operator == "OR" {
		return json.Marshal(map[string]any{"operator": f.Operator, "value": f.Filters})
	}
	return json.Marshal(map[string]any{"field": f.Field, "operator": f.Operator, "value": f.Value})
}

// And, Or and Cmp build filters.
func And(fs ...Filter) Filter { return Filter{Operator: "AND", Filters: fs} }

// Or groups filters with OR.
func Or(fs ...Filter) Filter { return Filter{Operator: "OR", Filters: fs} }

// Cmp compares a field with a value.
func Cmp(field, op string, v any) Filter { return Filter{Field: field, Operator: op, Value: v} }

// Search is a contact search request.
type Search struct {
	Query     Filter
	PerPage   int    // ≤150
	SortField string // empty: server default
	Ascending bool
}

type page[T any] struct {
	Data       []T `json:"data"`
	TotalCount int `json:"total_count"`
	Pages      *struct {
		Next *struct {
			StartingAfter string `json:"starting_after"`
		} `json:"next"`
	} `json:"pages"`
}

// SearchContacts pages through POST /contacts/search, one page per step.
// The total count is reported on the first page through total (when non-nil).
func (c *Client) SearchContacts(ctx context.Context, s Search, total *int) iter.Seq2[[]Contact, error] {
	return func(yield func([]Contact, error) bool) {
		if s.PerPage == 0 {
			s.PerPage = 150
		}
		if s.PerPage > 150 {
			yield(nil, fmt.Errorf("intercomapi: per_page %d exceeds 150", s.PerPage))
			return
		}
		after := ""
		for {
			body := map[string]any{"query": s.Query, "pagination": map[string]any{"per_page": s.PerPage}}
			if after != "" {
				body["pagination"].(map[string]any)["starting_after"] = after
			}
			if s.SortField != "" {
				order := "descending"
				if s.Ascending {
					order = "ascending"
				}
				body["sort"] = map[string]any{"field": s.SortField, "order": order}
			}
			var p page[Contact]
			if err := c.do(ctx, http.MethodPost, "/contacts/search", nil, body, &p); err != nil {
				yield(nil, fmt.Errorf("search contacts: %w", err))
				return
			}
			if total != nil && after == "" {
				*total = p.TotalCount
			}
			if !yield(p.Data, nil) {
				return
			}
			if p.Pages == nil || p.Pages.Next == nil || p.Pages.Next.StartingAfter == "" || len(p.Data) == 0 {
				return
			}
			after = p.Pages.Next.StartingAfter
		}
	}
}

// ScrollCompanies pages through GET /companies/scroll until the empty page.
// Only one scroll may be open per workspace; callers must not issue other
// company requests that depend on the scroll while it runs.
func (c *Client) ScrollCompanies(ctx context.Context) iter.Seq2[[]Company, error] {
	return func(yield func([]Company, error) bool) {
		param := ""
		for {
			q := url.Values{}
			if param != "" {
				q.Set("scroll_param", param)
			}
			var p struct {
				Data        []Company `json:"data"`
				ScrollParam string    `json:"scroll_param"`
			}
			if err := c.do(ctx, http.MethodGet, "/companies/scroll", q, nil, &p); err != nil {
				yield(nil, fmt.Errorf("scroll companies: %w", err))
				return
			}
			if len(p.Data) == 0 {
				return
			}
			if !yield(p.Data, nil) {
				return
			}
			param = p.ScrollParam
		}
	}
}

// CreateContact creates a contact. It is not retried on ambiguous failures;
// a duplicate answers *ConflictError carrying the existing contact's id.
func (c *Client) CreateContact(ctx context.Context, fields map[string]any) (Contact, error) {
	var out Contact
	err := c.do(httpx.NoReplay(ctx), http.MethodPost, "/contacts", nil, fields, &out)
	return out, err
}

// UpdateContact applies a partial update to contact id.
func (c *Client) UpdateContact(ctx context.Context, id string, fields map[string]any) (Contact, error) {
	var out Contact
	err := c.do(ctx, http.MethodPut, "/contacts/"+url.PathEscape(id), nil, fields, &out)
	return out, err
}

// GetContact fetches one contact.
func (c *Client) GetContact(ctx context.Context, id string) (Contact, error) {
	var out Contact
	err := c.do(ctx, http.MethodGet, "/contacts/"+url.PathEscape(id), nil, nil, &out)
	return out, err
}

// UpdateCompany updates a company by its Intercom id.
func (c *Client) UpdateCompany(ctx context.Context, id string, fields map[string]any) (Company, error) {
	var out Company
	err := c.do(ctx, http.MethodPut, "/companies/"+url.PathEscape(id), nil, fields, &out)
	return out, err
}

// UpsertCompany creates the company whose company_id fields name, or
// updates it when Intercom has one: the documented create-or-update.
func (c *Client) UpsertCompany(ctx context.Context, fields map[string]any) (Company, error) {
	var out Company
	err := c.do(ctx, http.MethodPost, "/companies", nil, fields, &out)
	return out, err
}

// AttachCompany attaches contact to the company with Intercom id companyID.
func (c *Client) AttachCompany(ctx context.Context, contactID, companyID string) error {
	return c.do(ctx, http.MethodPost, "/contacts/"+url.PathEscape(contactID)+"/companies", nil, map[string]any{"id": companyID}, nil)
}
