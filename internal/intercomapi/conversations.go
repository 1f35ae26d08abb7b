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

// Conversation is a conversation as search returns it (no parts), with
// its raw JSON.
type Conversation struct {
	ID        string
	UpdatedAt int64
	Raw       json.RawMessage
}

// UnmarshalJSON keeps a copy of the raw object.
func (c *Conversation) UnmarshalJSON(b []byte) error {
	var v struct {
		ID        string `json:"id"`
		UpdatedAt int64  `json:"updated_at"`
	}
	raw, err := keepRaw(b, "conversation", &v, &v.ID)
	if err != nil {
		return err
	}
	*c = Conversation{ID: v.ID, UpdatedAt: v.UpdatedAt, Raw: raw}
	return nil
}

// SearchConversations pages through POST /conversations/search. Its date
// filters compare exact seconds.
func (c *Client) SearchConversations(ctx context.Context, q Filter, perPage int, total *int) iter.Seq2[[]Conversation, error] {
	return func(yield func([]Conversation, error) bool) {
		if perPage <= 0 || perPage > 150 {
			perPage = 150
		}
		after := ""
		for {
			pg := map[string]any{"per_page": perPage}
			if after != "" {
				pg["starting_after"] = after
			}
			var p struct {
				Conversations []Conversation `json:"conversations"`
				TotalCount    int            `json:"total_count"`
				Pages         *struct {
					Next *struct {
						StartingAfter string `json:"starting_after"`
					} `json:"next"`
				} `json:"pages"`
			}
			if err := c.do(ctx, http.MethodPost, "/conversations/search", nil, map[string]any{"query": q, "pagination": pg}, &p); err != nil {
				yield(nil, fmt.Errorf("search conversations: %w", err))
				return
			}
			if total != nil && after == "" {
				*total = p.TotalCount
			}
			if !yield(p.Conversations, nil) {
				return
			}
			if p.Pages == nil || p.Pages.Next == nil || p.Pages.Next.StartingAfter == "" || len(p.Conversations) == 0 {
				return
			}
			after = p.Pages.Next.StartingAfter
		}
	}
}

// GetConversation fetches one conversation with its parts (Intercom returns
// the 500 most recent).
func (c *Client) GetConversation(ctx context.Context, id string) (json.RawMessage, error) {
	var raw json.RawMessage
	err := c.do(ctx, http.MethodGet, "/conversations/"+url.PathEscape(id), nil, nil, &raw)
	return raw, err
}

// Tag is a workspace tag.
type Tag struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Tags lists the workspace's tags.
func (c *Client) Tags(ctx context.Context) ([]Tag, error) {
	var out struct {
		Data []Tag `json:"data"`
	}
	err := c.do(ctx, http.MethodGet, "/tags", nil, nil, &out)
	return out.Data, err
}

// TagContacts creates the tag if needed and tags (or, with untag, untags)
// the contacts. Idempotent.
func (c *Client) TagContacts(ctx context.Context, name string, contactIDs []string, untag bool) (Tag, error) {
	users := make([]map[string]any, len(contactIDs))
	for i, id := range contactIDs {
		users[i] = map[string]any{"id": id}
		if untag {
			users[i]["untag"] = true
		}
	}
	var t Tag
	err := c.do(ctx, http.MethodPost, "/tags", nil, map[string]any{"name": name, "users": users}, &t)
	return t, err
}

// SendMessage sends an admin-initiated message. Not idempotent: every call
// sends a message, so it is never retried on ambiguous failures.
func (c *Client) SendMessage(ctx context.Context, adminID, contactID, messageType, subject, body string) (string, error) {
	req := map[string]any{"message_type": messageType, "body": body, "from": map[string]any{"type": "admin", "id": adminID},
		"to": map[string]any{"type": "user", "id": contactID}}
	if subject != "" {
		req["subject"], req["template"] = subject, "plain"
	}
	var out struct {
		ID string `json:"id"`
	}
	err := c.do(httpx.NoReplay(ctx), http.MethodPost, "/messages", nil, req, &out)
	return out.ID, err
}

// Part is one part of a conversation.
type Part struct {
	ID       string `json:"id"`
	PartType string `json:"part_type"`
	Body     string `json:"body"`
	Author   struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"author"`
}

// AddNote adds an admin's note to a conversation (POST
// /conversations/{id}/reply, message_type note) and returns the new part's
// id. Every call adds a note: it is not retried once sent.
func (c *Client) AddNote(ctx context.Context, conversationID, adminID, body string) (string, error) {
	req := map[string]any{"message_type": "note", "type": "admin", "admin_id": adminID, "body": body}
	var out struct {
		Parts struct {
			Parts []Part `json:"conversation_parts"`
		} `json:"conversation_parts"`
	}
	err := c.do(httpx.NoReplay(ctx), http.MethodPost, "/conversations/"+url.PathEscape(conversationID)+"/reply", nil, req, &out)
	if err != nil {
		return "", err
	}
	// The answer lists the conversation's parts, the newest last.
	for i := len(out.Parts.Parts) - 1; i >= 0; i-- {
		if p := out.Parts.Parts[i]; p.PartType == "note" {
			return p.ID, nil
		}
	}
	return "", nil
}

// Parts reads a conversation's parts (GET /conversations/{id}: its 500
// most recent).
func (c *Client) Parts(ctx context.Context, conversationID string) ([]Part, error) {
	var out struct {
		Parts struct {
			Parts []Part `json:"conversation_parts"`
		} `json:"conversation_parts"`
	}
	err := c.do(ctx, http.MethodGet, "/conversations/"+url.PathEscape(conversationID), nil, nil, &out)
	return out.Parts.Parts, err
}

// EventSummary is what a contact's data events of one name come to: the
// first and last time, and how many (GET /events?summary=true, which
// counts events of any age).
type EventSummary struct {
	Name  string `json:"name"`
	First string `json:"first"`
	Last  string `json:"last"`
	Count int    `json:"count"`
}

// EventSummaries reads a contact's data events summarised by name: one
// request, however many events.
func (c *Client) EventSummaries(ctx context.Context, contactID string) ([]EventSummary, error) {
	q := url.Values{"type": {"user"}, "intercom_user_id": {contactID}, "summary": {"true"}}
	var out struct {
		Events []EventSummary `json:"events"`
	}
	err := c.do(ctx, http.MethodGet, "/events", q, nil, &out)
	return out.Events, err
}
