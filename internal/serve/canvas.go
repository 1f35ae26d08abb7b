package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Canvas is the inbox app: Intercom's Canvas Kit calls it when a teammate
// opens a conversation with the app in its details panel (initialize) and
// when they use a component of the app (submit), and shows the canvas it
// answers. It answers from the Panel's snapshot only, never from
// Salesforce: a view costs no Salesforce API call, and works while a sync
// holds the warehouse.
//
// Both endpoints answer:
//   - 405 for anything but POST;
//   - 413 for a body over MaxBody;
//   - 401 when X-Body-Signature is not the lowercase hex HMAC-SHA256 of
//     the raw body keyed with the app's client secret (compared in
//     constant time);
//   - 400 for a body that is not a Canvas Kit request: a JSON object with
//     the contact (or customer) and the admin, and for submit the
//     component_id;
//   - 200 with a canvas otherwise, including for a person ferry has not
//     synced yet and when no snapshot is ready.
type Canvas struct {
	Secret []byte
	Panel  *Panel
	// CreateLead, when set, is called when a teammate asks for a
	// Salesforce Lead for an Intercom contact no Lead or Contact matches,
	// with the ids of the contact and of the teammate. The view waits for
	// it, so it should queue the work (ferry serve's micro-sync) and
	// return. When nil, the panel offers no Create Lead button.
	CreateLead func(ctx context.Context, contactID, adminID string) error
	MaxBody    int64
	Metrics    *Metrics
	Log        *slog.Logger
}

// DefaultCanvasMaxBody bounds a Canvas Kit request's body. The request
// carries the conversation object, whose parts can be long.
const DefaultCanvasMaxBody = 4 << 20

// Component ids the app gives its interactive components, which submit
// requests name.
const (
	componentCreateLead  = "create_lead"
	componentOpportunity = "opportunity"
)

// SignCanvas is the X-Body-Signature of body under secret.
func SignCanvas(secret, body []byte) string { return bodySignature.sign(secret, body) }

// Initialize is the handler of the initialize URL.
func (h *Canvas) Initialize() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, false) })
}

// Submit is the handler of the submit URL.
func (h *Canvas) Submit() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, true) })
}

// canvasRequest is what ferry reads of an initialize or submit request.
// The person viewed arrives as contact, or (in older descriptions of
// submit) as customer.
type canvasRequest struct {
	Admin         *intercomObject `json:"admin"`
	Contact       *intercomObject `json:"contact"`
	Customer      *intercomObject `json:"customer"`
	Conversation  *intercomObject `json:"conversation"`
	CurrentCanvas *currentCanvas  `json:"current_canvas"`
	ComponentID   string          `json:"component_id"`
	InputValues   map[string]any  `json:"input_values"`
}

type intercomObject struct {
	ID flexID `json:"id"`
}

// flexID is an Intercom id, a string in the current descriptions; a
// number is taken too, as older API versions sent some ids as integers.
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("id is neither a string nor a number: %s", b)
	}
	*f = flexID(n.String())
	return nil
}

// currentCanvas is the canvas the teammate saw. The reference documents it
// as a canvas object; the OpenAPI description wraps that in another
// current_canvas key. Both are read.
type currentCanvas struct {
	StoredData map[string]any `json:"stored_data"`
	Wrapped    *struct {
		StoredData map[string]any `json:"stored_data"`
	} `json:"current_canvas"`
}

func (c *currentCanvas) stored(key string) string {
	if c == nil {
		return ""
	}
	if v, ok := c.StoredData[key].(string); ok {
		return v
	}
	if c.Wrapped != nil {
		if v, ok := c.Wrapped.StoredData[key].(string); ok {
			return v
		}
	}
	return ""
}

func (h *Canvas) serve(w http.ResponseWriter, r *http.Request, submit bool) {
	start := time.Now()
	max := h.MaxBody
	if max <= 0 {
		max = DefaultCanvasMaxBody
	}
	body, ok := readSigned(w, r, max, bodySignature, h.Secret, h.reject)
	if !ok {
		return
	}
	var req canvasRequest
	if err := json.Unmarshal(body, &req); err != nil {
		h.reject(w, http.StatusBadRequest, "malformed", "not a Canvas Kit request: "+err.Error())
		return
	}
	contact := req.Contact
	if contact == nil || contact.ID == "" {
		contact = req.Customer
	}
	switch {
	case contact == nil || contact.ID == "":
		h.reject(w, http.StatusBadRequest, "malformed", "no contact with an id")
		return
	case req.Admin == nil || req.Admin.ID == "":
		h.reject(w, http.StatusBadRequest, "malformed", "no admin with an id")
		return
	case submit && req.ComponentID == "":
		h.reject(w, http.StatusBadRequest, "malformed", "a submit request without a component_id")
		return
	}
	resp := h.view(r.Context(), string(contact.ID), string(req.Admin.ID), &req, submit)
	h.Metrics.canvasServed(time.Since(start))
	writeJSON(w, http.StatusOK, resp)
}

func (h *Canvas) reject(w http.ResponseWriter, status int, reason, msg string) {
	h.Metrics.canvasReject(reason)
	if h.Log != nil {
		h.Log.Warn("canvas request rejected", "status", status, "reason", reason, "detail", msg)
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

// view builds the canvas for one request.
func (h *Canvas) view(ctx context.Context, contactID, adminID string, req *canvasRequest, submit bool) canvasResponse {
	p, err := h.Panel.lookup(ctx, contactID)
	switch {
	case errors.Is(err, errNoSnapshot):
		return canvas(nil, text("Salesforce details are not ready yet: ferry is still reading its warehouse. Reopen the app in a minute.", "muted"))
	case err != nil:
		h.log().Error("canvas lookup failed", "contact", contactID, "err", err)
		return canvas(nil, text("Could not read ferry's copy of Salesforce. Try again in a moment.", "error"))
	}
	matched := p != nil && p.Object != ""
	if submit && req.ComponentID == componentCreateLead && !matched && h.CreateLead != nil {
		return h.createLead(ctx, contactID, adminID, p)
	}
	// The opportunity shown: the one just chosen, else the one shown
	// before (every submit carries the select's value, and stored_data
	// keeps it across submits of other components).
	chosen, _ := req.InputValues[componentOpportunity].(string)
	if chosen == "" {
		chosen = req.CurrentCanvas.stored(componentOpportunity)
	}
	return h.render(p, chosen)
}

func (h *Canvas) createLead(ctx context.Context, contactID, adminID string, p *person) canvasResponse {
	h.Metrics.leadRequested(false)
	if err := h.CreateLead(ctx, contactID, adminID); err != nil {
		h.Metrics.leadRequested(true)
		h.log().Error("create lead request failed", "contact", contactID, "admin", adminID, "err", err)
		comps := append(personHeader(p), text("Could not request the Lead. Try again in a moment.", "error"))
		comps = append(comps, createLeadButton())
		return canvas(nil, comps...)
	}
	h.log().Info("create lead requested", "contact", contactID, "admin", adminID)
	comps := append(personHeader(p), text("Lead requested. It will appear here shortly, once ferry has created it in Salesforce.", ""))
	return canvas(nil, comps...)
}

func (h *Canvas) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

// render lays out what the snapshot knows of a person.
func (h *Canvas) render(p *person, chosen string) canvasResponse {
	if p == nil {
		return canvas(nil, text("Not synced yet: ferry has no record of this person. Their Salesforce details show here after the next sync.", "muted"))
	}
	comps := personHeader(p)
	if p.Object == "" {
		comps = append(comps, text("Not in Salesforce: no Lead or Contact matches this person.", ""))
		if h.CreateLead != nil {
			comps = append(comps, createLeadButton())
		}
		return canvas(nil, append(comps, asOf(p))...)
	}
	rows := [][2]string{{"Salesforce", p.Object}, {"Email", p.Email}, {"Owner", p.Owner}}
	if p.Object == "Lead" {
		rows = append(rows, [2]string{"Company", p.Company}, [2]string{"Status", p.Status})
	}
	comps = append(comps, table(rows...))
	var stored map[string]string
	if a := p.Account; a != nil {
		website := a.Website
		if website == "" {
			website = a.Domain
		}
		health := ""
		if a.HealthScore.Valid {
			health = strconv.FormatFloat(a.HealthScore.Float64, 'f', -1, 64) + " (" + a.HealthBand + ")"
		}
		comps = append(comps, divider(), text(mdEscape(or(a.Name, "Account")), "header"),
			table([2]string{"Website", website}, [2]string{"Owner", a.Owner}, [2]string{"Country", a.Country}, [2]string{"Health", health}))
		var opp []any
		opp, stored = opportunities(a, p.Opportunities, chosen)
		comps = append(comps, divider())
		comps = append(comps, opp...)
		comps = append(comps, divider())
		comps = append(comps, cases(a, p.Cases)...)
	}
	return canvas(stored, append(comps, asOf(p))...)
}

// personHeader names the person: as Salesforce has them when matched.
func personHeader(p *person) []any {
	if p == nil {
		return nil
	}
	name := or(p.Name, p.IntercomName, p.Email, p.IntercomEmail, "This person")
	return []any{text(mdEscape(name), "header")}
}

func createLeadButton() any {
	return button{Type: "button", ID: componentCreateLead, Label: "Create Lead", Action: action{Type: "submit"}}
}

// opportunities shows an Account's open opportunities: the chosen one in
// full, and a single-select to switch when there are several. It returns
// the choice to keep in stored_data.
func opportunities(a *account, opps []opportunity, chosen string) ([]any, map[string]string) {
	if len(opps) == 0 {
		return []any{text("No open opportunities.", "muted")}, nil
	}
	shown := opps[0]
	for _, o := range opps {
		if o.ID == chosen {
			shown = o
		}
	}
	var comps []any
	if len(opps) == 1 {
		comps = append(comps, text("**Open opportunity**", ""))
	} else {
		sel := singleSelect{Type: "single-select", ID: componentOpportunity, Label: fmt.Sprintf("Open opportunities (%d)", a.OpenOpportunities),
			Value: shown.ID, Action: &action{Type: "submit"}}
		for _, o := range opps {
			sel.Options = append(sel.Options, option{Type: "option", ID: o.ID, Text: or(o.Name, o.ID)})
		}
		comps = append(comps, sel)
	}
	closeDate, amount := "", ""
	if shown.CloseDate.Valid {
		closeDate = shown.CloseDate.Time.Format(time.DateOnly)
	}
	if shown.Amount.Valid {
		amount = formatAmount(shown.Amount.Float64)
	}
	comps = append(comps, table([2]string{"Name", shown.Name}, [2]string{"Stage", shown.Stage}, [2]string{"Close date", closeDate},
		[2]string{"Amount", amount}, [2]string{"Owner", shown.Owner}))
	if more := a.OpenOpportunities - len(opps); more > 0 {
		comps = append(comps, text(fmt.Sprintf("and %d more in Salesforce", more), "muted"))
	}
	return comps, map[string]string{componentOpportunity: shown.ID}
}

// cases lists an Account's open Cases, the newest first, and counts the
// ones not listed.
func cases(a *account, cs []supportCase) []any {
	if len(cs) == 0 {
		return []any{text("No open Cases.", "muted")}
	}
	l := list{Type: "list"}
	for _, c := range cs {
		sub := c.Status
		if c.Number != "" {
			sub = "#" + c.Number + " · " + sub
		}
		l.Items = append(l.Items, listItem{Type: "item", ID: c.ID, Title: or(c.Subject, "(no subject)"), Subtitle: sub, TertiaryText: c.Priority})
	}
	comps := []any{text(fmt.Sprintf("**Open Cases (%d)**", a.OpenCases), ""), l}
	if more := a.OpenCases - len(cs); more > 0 {
		comps = append(comps, text(fmt.Sprintf("and %d more", more), "muted"))
	}
	return comps
}

// asOf says how fresh the panel is: it shows the warehouse as of the last
// sync before the snapshot, not Salesforce now.
func asOf(p *person) any {
	if p.AsOf.IsZero() {
		return text("From ferry's copy of Salesforce.", "muted")
	}
	return text("From ferry's copy of Salesforce as of "+p.AsOf.UTC().Format("2006-01-02 15:04")+" UTC.", "muted")
}

// formatAmount writes an amount with thousands separators. The currency
// is the org's, which ferry does not extract.
func formatAmount(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	whole, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(whole, "-")
	whole = strings.TrimPrefix(whole, "-")
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	out := b.String()
	if frac != "" {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}

// mdEscape keeps Salesforce text literal in a text component, which
// renders Markdown (links and bold).
func mdEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `_`, `\_`, `[`, `\[`, `]`, `\]`, "`", "\\`").Replace(s)
}

func or(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// The response and its components, as the Canvas Kit reference and
// Intercom's OpenAPI description (2.11) define them.
type canvasResponse struct {
	Canvas canvasObject `json:"canvas"`
}

type canvasObject struct {
	Content    canvasContent     `json:"content"`
	StoredData map[string]string `json:"stored_data,omitempty"`
}

type canvasContent struct {
	Components []any `json:"components"`
}

func canvas(stored map[string]string, comps ...any) canvasResponse {
	if comps == nil {
		comps = []any{}
	}
	return canvasResponse{Canvas: canvasObject{Content: canvasContent{Components: comps}, StoredData: stored}}
}

type textComponent struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Style string `json:"style,omitempty"`
}

func text(s, style string) any { return textComponent{Type: "text", Text: s, Style: style} }

type dataTable struct {
	Type  string       `json:"type"`
	Items []fieldValue `json:"items"`
}

type fieldValue struct {
	Type  string `json:"type"`
	Field string `json:"field"`
	Value string `json:"value"`
}

// table is a data-table of the rows that have a value.
func table(rows ...[2]string) any {
	t := dataTable{Type: "data-table", Items: []fieldValue{}}
	for _, r := range rows {
		if r[1] != "" {
			t.Items = append(t.Items, fieldValue{Type: "field-value", Field: r[0], Value: r[1]})
		}
	}
	return t
}

type dividerComponent struct {
	Type string `json:"type"`
}

func divider() any { return dividerComponent{Type: "divider"} }

type action struct {
	Type string `json:"type"`
}

type button struct {
	Type   string `json:"type"`
	ID     string `json:"id"`
	Label  string `json:"label"`
	Action action `json:"action"`
}

type singleSelect struct {
	Type    string   `json:"type"`
	ID      string   `json:"id"`
	Label   string   `json:"label"`
	Value   string   `json:"value,omitempty"`
	Options []option `json:"options"`
	Action  *action  `json:"action,omitempty"`
}

type option struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Text string `json:"text"`
}

type list struct {
	Type  string     `json:"type"`
	Items []listItem `json:"items"`
}

type listItem struct {
	Type         string `json:"type"`
	ID           string `json:"id"`
	Title        string `json:"title"`
	Subtitle     string `json:"subtitle,omitempty"`
	TertiaryText string `json:"tertiary_text,omitempty"`
}
