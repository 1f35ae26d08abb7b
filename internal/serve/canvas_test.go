package serve

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/internal/config"
	"github.com/ferry-sync/ferry/internal/duck"
	"github.com/ferry-sync/ferry/internal/runner"
	"github.com/ferry-sync/ferry/internal/state"
	"github.com/ferry-sync/ferry/internal/testenv"
	"github.com/ferry-sync/ferry/models"
)

// canvasBundle is a data dir synced from the emulators, a panel refreshed
// from its warehouse, and the inbox app answering from it.
type canvasBundle struct {
	emu       *testenv.Emulators
	pipeline  *config.Pipeline
	data      string
	warehouse string
	panel     *Panel
	metrics   *Metrics
	secret    []byte
	canvas    *Canvas
	admin     map[string]any // an Intercom admin, as the API has it

	mu      sync.Mutex
	leads   [][2]string // CreateLead calls: contact id, admin id
	leadErr error       // what CreateLead answers
}

func setupCanvas(t *testing.T) *canvasBundle {
	t.Helper()
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 300})
	data := t.TempDir()
	b := &canvasBundle{emu: emu, pipeline: testenv.Pipeline(t, emu.Env(nil)), data: data, warehouse: filepath.Join(data, "warehouse.duckdb"),
		metrics: &Metrics{}, secret: []byte("canvas-client-secret")}
	b.panel = &Panel{Dir: t.TempDir(), Metrics: b.metrics, Log: slog.New(slog.DiscardHandler)}
	t.Cleanup(func() { b.panel.Close() })
	b.canvas = &Canvas{Secret: b.secret, Panel: b.panel, Metrics: b.metrics, Log: slog.New(slog.DiscardHandler),
		CreateLead: func(ctx context.Context, contactID, adminID string) error {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.leads = append(b.leads, [2]string{contactID, adminID})
			return b.leadErr
		}}
	code, body := emu.ICDo(http.MethodGet, "/admins", nil)
	var admins struct {
		Admins []map[string]any `json:"admins"`
	}
	if err := json.Unmarshal(body, &admins); code != 200 || err != nil || len(admins.Admins) == 0 {
		t.Fatalf("list admins: %d %s", code, body)
	}
	b.admin = admins.Admins[0]
	b.run(t)
	return b
}

// run is one scheduled sync: extract, models, syncs. It runs on the
// emulators' clock, which the test moves past extract.upper_bound_lag
// after an edit so that the next run reads it, without waiting.
func (b *canvasBundle) run(t *testing.T) {
	t.Helper()
	b.emu.Clock.Advance(b.pipeline.Extract.UpperBoundLag.Duration + time.Second)
	opt := runner.Options{Command: "run", Pipeline: b.pipeline, DataDir: b.data, Models: models.FS, ModelsRoot: "models", Now: b.emu.Clock.Now}
	if _, err := runner.Run(t.Context(), opt, runner.Extract|runner.Transform|runner.Load); err != nil {
		t.Fatalf("sync: %v", err)
	}
}

// query reads the warehouse (read-only), every value as text.
func (b *canvasBundle) query(t *testing.T, q string, args ...any) [][]string {
	t.Helper()
	db, err := duck.Open(b.warehouse + "?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = v.String
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// contact is an Intercom contact as the API (the emulator) has it: what a
// Canvas Kit request carries.
func (b *canvasBundle) contact(t *testing.T, id string) map[string]any {
	t.Helper()
	code, body := b.emu.ICDo(http.MethodGet, "/contacts/"+id, nil)
	var c map[string]any
	if err := json.Unmarshal(body, &c); code != 200 || err != nil {
		t.Fatalf("get contact %s: %d %s", id, code, body)
	}
	return c
}

func (b *canvasBundle) initialize(contact map[string]any) map[string]any {
	return map[string]any{"workspace_id": "ws1", "workspace_region": "US", "admin": b.admin, "contact": contact,
		"conversation": map[string]any{"type": "conversation", "id": "1295"}}
}

func (b *canvasBundle) submit(contact map[string]any, componentID string, inputs map[string]any, current any) map[string]any {
	req := b.initialize(contact)
	req["component_id"] = componentID
	req["input_values"] = inputs
	req["current_canvas"] = current
	return req
}

// postCanvas sends body with sig as its X-Body-Signature.
func postCanvas(t *testing.T, h http.Handler, body []byte, sig string) (int, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/canvas", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Body-Signature", sig)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code, w.Body.Bytes()
}

// view posts a request to h and decodes the canvas answered.
func (b *canvasBundle) view(t *testing.T, h http.Handler, req map[string]any) (*shownCanvas, []byte) {
	t.Helper()
	body, _ := json.Marshal(req)
	code, resp := postCanvas(t, h, body, SignCanvas(b.secret, body))
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, resp)
	}
	var c shownCanvas
	if err := json.Unmarshal(resp, &c); err != nil {
		t.Fatalf("%v: %s", err, resp)
	}
	return &c, resp
}

// shownCanvas is a response, decoded for the assertions.
type shownCanvas struct {
	Canvas struct {
		Content struct {
			Components []struct {
				Type    string `json:"type"`
				ID      string `json:"id"`
				Text    string `json:"text"`
				Style   string `json:"style"`
				Label   string `json:"label"`
				Value   string `json:"value"`
				Options []struct {
					ID   string `json:"id"`
					Text string `json:"text"`
				} `json:"options"`
				Items []struct {
					Field    string `json:"field"`
					Value    string `json:"value"`
					ID       string `json:"id"`
					Title    string `json:"title"`
					Subtitle string `json:"subtitle"`
				} `json:"items"`
				Action *struct {
					Type string `json:"type"`
				} `json:"action"`
			} `json:"components"`
		} `json:"content"`
		StoredData map[string]any `json:"stored_data"`
	} `json:"canvas"`
}

// texts are the canvas's text components, as "style: text" (": text"
// for the default style).
func (c *shownCanvas) texts() []string {
	var out []string
	for _, comp := range c.Canvas.Content.Components {
		if comp.Type == "text" {
			out = append(out, comp.Style+": "+comp.Text)
		}
	}
	return out
}

// fields are the rows of its data-tables, as "field=value".
func (c *shownCanvas) fields() []string {
	var out []string
	for _, comp := range c.Canvas.Content.Components {
		if comp.Type == "data-table" {
			for _, it := range comp.Items {
				out = append(out, it.Field+"="+it.Value)
			}
		}
	}
	return out
}

func (c *shownCanvas) component(typ, id string) int {
	for i, comp := range c.Canvas.Content.Components {
		if comp.Type == typ && (id == "" || comp.ID == id) {
			return i
		}
	}
	return -1
}

func (b *canvasBundle) calls() [][2]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.leads)
}

// The inbox app against a warehouse a real sync built: what it shows of
// a Salesforce Contact, its Account, opportunities and Cases, of a Lead,
// of a person Salesforce does not know and of one never synced; switching
// opportunity; Create Lead; refusals; and the snapshot's refresh while a
// sync holds the warehouse. Views never call Salesforce.
func TestCanvas(t *testing.T) {
	t.Parallel()
	b := setupCanvas(t)

	// A Contact whose Account has several open opportunities.
	picked := b.query(t, `SELECT people.intercom_id, contacts.sf_id, contacts.account_id
FROM int_people_identity AS people
JOIN stg_salesforce__contacts AS contacts ON contacts.sf_id = people.sf_id
JOIN (SELECT account_id FROM stg_salesforce__opportunities WHERE NOT is_closed AND NOT is_deleted GROUP BY account_id HAVING count(*) >= 2) AS opps
    ON opps.account_id = contacts.account_id
WHERE people.sf_object = 'Contact' AND NOT contacts.is_deleted
ORDER BY people.intercom_id LIMIT 1`)
	if len(picked) == 0 {
		t.Fatal("the seed has no Contact whose Account has two open opportunities")
	}
	contactID, sfContact, accountID := picked[0][0], picked[0][1], picked[0][2]
	// Seven open Cases on the Account and a closed one, in Salesforce,
	// for the next run to extract.
	for i := range 8 {
		status := "New"
		if i == 7 {
			status = "Closed"
		}
		code, body := b.emu.SFDo(http.MethodPost, "/services/data/v62.0/sobjects/Case", map[string]any{"AccountId": accountID, "ContactId": sfContact,
			"Subject": fmt.Sprintf("Panel case %d", i), "Status": status, "Priority": "High", "Origin": "Web"})
		if code != 201 {
			t.Fatalf("create case: %d %s", code, body)
		}
	}
	b.run(t)
	if err := b.panel.Refresh(t.Context(), b.warehouse); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	sfBefore := b.emu.SFStats().TotalRequests

	want := b.query(t, `SELECT contacts.name, contacts.email, owners."Name", accounts.name, health.health_band, CAST(health.health_score AS BIGINT)
FROM stg_salesforce__contacts AS contacts
JOIN stg_salesforce__accounts AS accounts ON accounts.sf_id = contacts.account_id
JOIN account_health AS health ON health.account_id = accounts.sf_id
LEFT JOIN raw.salesforce__user AS owners ON owners.id = contacts.owner_id
WHERE contacts.sf_id = $1`, sfContact)[0]
	opps := b.query(t, `SELECT sf_id, name FROM stg_salesforce__opportunities
WHERE account_id = $1 AND NOT is_closed AND NOT is_deleted ORDER BY close_date, sf_id`, accountID)
	var openCases int
	fmt.Sscan(b.query(t, `SELECT count(*) FROM stg_salesforce__cases WHERE account_id = $1 AND NOT is_closed AND NOT is_deleted`, accountID)[0][0], &openCases)
	if openCases < 7 {
		t.Fatalf("%d open Cases on the Account after the run, want the 7 created at least", openCases)
	}
	contact := b.contact(t, contactID)
	var shown *shownCanvas

	t.Run("a Contact with an Account", func(t *testing.T) {
		c, raw := b.view(t, b.canvas.Initialize(), b.initialize(contact))
		validateCanvas(t, "initialize_response", raw)
		texts, fields := c.texts(), c.fields()
		for _, w := range []string{"header: " + mdEscape(want[0]), "header: " + mdEscape(want[3]), fmt.Sprintf(": **Open Cases (%d)**", openCases)} {
			if !slices.Contains(texts, w) {
				t.Errorf("no text %q in %q", w, texts)
			}
		}
		for _, w := range []string{"Salesforce=Contact", "Email=" + want[1], "Owner=" + want[2], "Health=" + want[5] + " (" + want[4] + ")", "Name=" + opps[0][1]} {
			if !slices.Contains(fields, w) {
				t.Errorf("no data-table row %q in %q", w, fields)
			}
		}
		sel := c.component("single-select", componentOpportunity)
		if sel < 0 {
			t.Fatalf("no opportunity single-select in %s", raw)
		}
		s := c.Canvas.Content.Components[sel]
		var ids []string
		for _, o := range s.Options {
			ids = append(ids, o.ID)
		}
		var wantIDs []string
		for _, o := range opps[:min(len(opps), maxOpportunities)] {
			wantIDs = append(wantIDs, o[0])
		}
		if !slices.Equal(ids, wantIDs) || s.Value != opps[0][0] || s.Action == nil || s.Action.Type != "submit" {
			t.Errorf("single-select offers %v (value %q, action %v), want %v with the first chosen and a submit action", ids, s.Value, s.Action, wantIDs)
		}
		l := c.component("list", "")
		if l < 0 || len(c.Canvas.Content.Components[l].Items) != maxCases {
			t.Fatalf("want a list of %d open Cases in %s", maxCases, raw)
		}
		for _, it := range c.Canvas.Content.Components[l].Items {
			if !strings.HasPrefix(it.Title, "Panel case ") || it.Title == "Panel case 7" {
				t.Errorf("listed Case %q: not one of the open ones created", it.Title)
			}
		}
		if w := fmt.Sprintf("muted: and %d more", openCases-maxCases); !slices.Contains(texts, w) {
			t.Errorf("no %q in %q", w, texts)
		}
		shown = c
	})

	t.Run("switching opportunity", func(t *testing.T) {
		if shown == nil {
			t.Fatal("no canvas to switch from: the view above failed")
		}
		current := map[string]any{"content": map[string]any{"components": []any{}}, "stored_data": shown.Canvas.StoredData}
		c, raw := b.view(t, b.canvas.Submit(), b.submit(contact, componentOpportunity, map[string]any{componentOpportunity: opps[1][0]}, current))
		validateCanvas(t, "submit_response", raw)
		if !slices.Contains(c.fields(), "Name="+opps[1][1]) || c.Canvas.StoredData[componentOpportunity] != opps[1][0] {
			t.Errorf("after choosing %s: rows %q, stored %v", opps[1][0], c.fields(), c.Canvas.StoredData)
		}
		if sel := c.component("single-select", componentOpportunity); sel < 0 || c.Canvas.Content.Components[sel].Value != opps[1][0] {
			t.Errorf("the single-select does not show the choice: %s", raw)
		}
		// The choice outlives a submit that does not carry it, through
		// stored_data (here in the OpenAPI description's wrapping).
		wrapped := map[string]any{"current_canvas": map[string]any{"content": map[string]any{"components": []any{}}, "stored_data": c.Canvas.StoredData}}
		again, _ := b.view(t, b.canvas.Submit(), b.submit(contact, "something_else", map[string]any{}, wrapped))
		if !slices.Contains(again.fields(), "Name="+opps[1][1]) {
			t.Errorf("the chosen opportunity was forgotten: %q", again.fields())
		}
	})

	t.Run("a Lead", func(t *testing.T) {
		lead := b.query(t, `SELECT people.intercom_id, leads."Email", leads."Company"
FROM int_people_identity AS people
JOIN raw.salesforce__lead AS leads ON leads.id = people.sf_id
WHERE people.sf_object = 'Lead' AND leads."Company" IS NOT NULL
ORDER BY people.intercom_id LIMIT 1`)
		if len(lead) == 0 {
			t.Fatal("no Intercom contact matched to a Lead")
		}
		c, raw := b.view(t, b.canvas.Initialize(), b.initialize(b.contact(t, lead[0][0])))
		validateCanvas(t, "initialize_response", raw)
		for _, w := range []string{"Salesforce=Lead", "Email=" + lead[0][1], "Company=" + lead[0][2]} {
			if !slices.Contains(c.fields(), w) {
				t.Errorf("no row %q in %q", w, c.fields())
			}
		}
		if c.component("button", componentCreateLead) >= 0 {
			t.Error("a Create Lead button for a person Salesforce has")
		}
	})

	unknown := b.query(t, `SELECT contacts.intercom_id FROM stg_intercom__contacts AS contacts
LEFT JOIN int_people_identity AS people ON people.intercom_id = contacts.intercom_id
WHERE people.intercom_id IS NULL AND NOT contacts.is_deleted
ORDER BY contacts.intercom_id LIMIT 1`)
	if len(unknown) == 0 {
		t.Fatal("every Intercom contact matches a Salesforce person")
	}
	unknownContact := b.contact(t, unknown[0][0])
	adminID := fmt.Sprint(b.admin["id"])

	t.Run("unknown to Salesforce", func(t *testing.T) {
		c, raw := b.view(t, b.canvas.Initialize(), b.initialize(unknownContact))
		validateCanvas(t, "initialize_response", raw)
		if !slices.ContainsFunc(c.texts(), func(s string) bool { return strings.Contains(s, "Not in Salesforce") }) {
			t.Errorf("does not say the person is not in Salesforce: %q", c.texts())
		}
		i := c.component("button", componentCreateLead)
		if i < 0 || c.Canvas.Content.Components[i].Action == nil || c.Canvas.Content.Components[i].Action.Type != "submit" {
			t.Fatalf("no Create Lead button with a submit action: %s", raw)
		}
		if len(b.calls()) != 0 {
			t.Fatal("a view called CreateLead")
		}
		c, raw = b.view(t, b.canvas.Submit(), b.submit(unknownContact, componentCreateLead, map[string]any{}, map[string]any{"content": map[string]any{"components": []any{}}}))
		validateCanvas(t, "submit_response", raw)
		if got := b.calls(); len(got) != 1 || got[0] != [2]string{unknown[0][0], adminID} {
			t.Errorf("CreateLead calls %v, want one for contact %s by admin %s", got, unknown[0][0], adminID)
		}
		if !slices.ContainsFunc(c.texts(), func(s string) bool { return strings.Contains(s, "Lead requested") }) {
			t.Errorf("does not say the Lead was requested: %q", c.texts())
		}

		b.mu.Lock()
		b.leadErr = errors.New("inbox full")
		b.mu.Unlock()
		c, raw = b.view(t, b.canvas.Submit(), b.submit(unknownContact, componentCreateLead, map[string]any{}, nil))
		validateCanvas(t, "submit_response", raw)
		if !slices.ContainsFunc(c.texts(), func(s string) bool { return strings.HasPrefix(s, "error: ") }) {
			t.Errorf("a failed request shows no error text: %q", c.texts())
		}
		b.mu.Lock()
		b.leadErr = nil
		b.mu.Unlock()

		// Without a way to create Leads, no button, and a stale click
		// calls nothing.
		noLeads := *b.canvas
		noLeads.CreateLead = nil
		before := len(b.calls())
		c, _ = b.view(t, noLeads.Initialize(), b.initialize(unknownContact))
		b.view(t, noLeads.Submit(), b.submit(unknownContact, componentCreateLead, map[string]any{}, nil))
		if c.component("button", "") >= 0 || len(b.calls()) != before {
			t.Errorf("without CreateLead: button %d, calls %d (was %d)", c.component("button", ""), len(b.calls()), before)
		}
	})

	t.Run("never synced", func(t *testing.T) {
		code, body := b.emu.ICDo(http.MethodPost, "/contacts", map[string]any{"role": "user", "email": "brand.new@canvas.example.com", "name": "Brand New"})
		var created map[string]any
		if err := json.Unmarshal(body, &created); code != 200 || err != nil {
			t.Fatalf("create contact: %d %s", code, body)
		}
		c, raw := b.view(t, b.canvas.Initialize(), b.initialize(created))
		validateCanvas(t, "initialize_response", raw)
		if !slices.ContainsFunc(c.texts(), func(s string) bool { return strings.Contains(s, "Not synced yet") }) {
			t.Errorf("does not say not synced yet: %s", raw)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		calls := len(b.calls())
		good, _ := json.Marshal(b.submit(unknownContact, componentCreateLead, map[string]any{}, nil))
		small := *b.canvas
		small.MaxBody = 1024
		big, _ := json.Marshal(b.initialize(map[string]any{"id": unknown[0][0], "name": strings.Repeat("x", 2000)}))
		noContact, _ := json.Marshal(map[string]any{"admin": b.admin, "conversation": map[string]any{"id": "1"}})
		noComponent, _ := json.Marshal(b.initialize(unknownContact))
		for _, c := range []struct {
			name   string
			h      http.Handler
			body   []byte
			sig    string
			status int
		}{
			{"no signature", b.canvas.Submit(), good, "", http.StatusUnauthorized},
			{"signed with another secret", b.canvas.Submit(), good, SignCanvas([]byte("other"), good), http.StatusUnauthorized},
			{"signature of another body", b.canvas.Submit(), good, SignCanvas(b.secret, noComponent), http.StatusUnauthorized},
			{"a webhook's sha1= signature", b.canvas.Submit(), good, Sign(b.secret, good), http.StatusUnauthorized},
			{"body too large", small.Initialize(), big, SignCanvas(b.secret, big), http.StatusRequestEntityTooLarge},
			{"not JSON", b.canvas.Initialize(), []byte("contact=1"), SignCanvas(b.secret, []byte("contact=1")), http.StatusBadRequest},
			{"a JSON array", b.canvas.Initialize(), []byte("[]"), SignCanvas(b.secret, []byte("[]")), http.StatusBadRequest},
			{"no contact", b.canvas.Initialize(), noContact, SignCanvas(b.secret, noContact), http.StatusBadRequest},
			{"submit without component_id", b.canvas.Submit(), noComponent, SignCanvas(b.secret, noComponent), http.StatusBadRequest},
		} {
			if code, body := postCanvas(t, c.h, c.body, c.sig); code != c.status {
				t.Errorf("%s: %d %s, want %d", c.name, code, body, c.status)
			}
		}
		w := httptest.NewRecorder()
		b.canvas.Initialize().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/canvas/initialize", nil))
		if w.Code != http.StatusMethodNotAllowed {
			t.Errorf("GET: %d", w.Code)
		}
		if len(b.calls()) != calls {
			t.Error("a refused request called CreateLead")
		}
		var out strings.Builder
		b.metrics.write(&out)
		for _, line := range []string{
			`ferry_canvas_requests_rejected_total{reason="signature"} 4`,
			`ferry_canvas_requests_rejected_total{reason="too_large"} 1`,
			`ferry_canvas_requests_rejected_total{reason="malformed"} 4`,
			`ferry_canvas_requests_rejected_total{reason="method"} 1`,
			"ferry_canvas_lead_requests_total 2",
			"ferry_canvas_lead_requests_failed_total 1",
			"ferry_panel_refreshes_total 1",
		} {
			if !strings.Contains(out.String(), line+"\n") {
				t.Errorf("metrics lack %q:\n%s", line, out.String())
			}
		}
	})

	// Every view so far read the snapshot only.
	if got := b.emu.SFStats().TotalRequests; got != sfBefore {
		t.Errorf("views made %d Salesforce requests", got-sfBefore)
	}

	t.Run("refresh", func(t *testing.T) {
		accountName := func() string {
			c, _ := b.view(t, b.canvas.Initialize(), b.initialize(contact))
			return c.texts()[1]
		}
		if err := b.panel.Refresh(t.Context(), b.warehouse); !errors.Is(err, ErrPanelUnchanged) {
			t.Errorf("refresh of an unchanged warehouse: %v, want ErrPanelUnchanged", err)
		}
		before := accountName()

		// A sync holding the warehouse: through this process's own
		// handle (ferry serve's micro-sync), another process's (a
		// scheduled ferry run), and the data dir's lock a run takes first.
		rw, err := duck.Open(b.warehouse)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rw.Exec("CREATE TABLE main.canvas_test_marker AS SELECT 1 AS x"); err != nil {
			t.Fatal(err)
		}
		if err := b.panel.Refresh(t.Context(), b.warehouse); !errors.Is(err, ErrPanelBusy) {
			t.Errorf("refresh while this process holds the warehouse: %v, want ErrPanelBusy", err)
		}
		rw.Close()
		holdWarehouse(t, b.warehouse, func() {
			if err := b.panel.Refresh(t.Context(), b.warehouse); !errors.Is(err, ErrPanelBusy) {
				t.Errorf("refresh while another process holds the warehouse: %v, want ErrPanelBusy", err)
			}
		})
		lock, err := state.Acquire(b.data)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.panel.Refresh(t.Context(), b.warehouse); !errors.Is(err, ErrPanelBusy) {
			t.Errorf("refresh while a run holds the data dir: %v, want ErrPanelBusy", err)
		}
		lock.Release()
		if got := accountName(); got != before {
			t.Errorf("after refusals the panel shows %q, want the previous snapshot's %q", got, before)
		}

		// Salesforce renames the Account; the panel shows it only once a
		// run has synced it and the panel has been refreshed, and a view
		// already reading the old snapshot finishes on it.
		if code, body := b.emu.SFDo(http.MethodPatch, "/services/data/v62.0/sobjects/Account/"+accountID, map[string]any{"Name": "Renamed For The Panel"}); code != 204 {
			t.Fatalf("rename account: %d %s", code, body)
		}
		b.run(t)
		if got := accountName(); got != before {
			t.Errorf("before the refresh the panel shows %q, want the snapshot's %q", got, before)
		}
		old := b.panel.acquire()
		swapped := make(chan struct{})
		b.panel.swapped = func() { close(swapped) }
		done := make(chan error, 1)
		go func() { done <- b.panel.Refresh(context.WithoutCancel(t.Context()), b.warehouse) }()
		select {
		case <-swapped:
		case err := <-done:
			old.readers.Done()
			t.Fatalf("refresh ended before swapping: %v", err)
		}
		if got := accountName(); got != "header: Renamed For The Panel" {
			t.Errorf("after the refresh the panel shows %q", got)
		}
		var n int
		if err := old.db.QueryRow("SELECT count(*) FROM people").Scan(&n); err != nil || n == 0 {
			t.Errorf("a view in flight lost its snapshot: %d rows, %v", n, err)
		}
		old.readers.Done()
		if err := <-done; err != nil {
			t.Fatalf("refresh: %v", err)
		}
		b.panel.swapped = nil
		if _, err := os.Stat(old.path); !os.IsNotExist(err) {
			t.Errorf("the replaced snapshot %s is still there: %v", old.path, err)
		}
		if files, _ := filepath.Glob(filepath.Join(b.panel.Dir, "panel-*")); len(files) != 1 {
			t.Errorf("snapshot files %v, want the current one only", files)
		}

		// A pipeline that does not build account_health (health
		// disabled) still gets a panel, without health.
		rw, err = duck.Open(b.warehouse)
		if err != nil {
			t.Fatal(err)
		}
		_, err = rw.Exec("DROP VIEW main.account_health")
		rw.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := b.panel.Refresh(t.Context(), b.warehouse); err != nil {
			t.Fatalf("refresh without account_health: %v", err)
		}
		c, _ := b.view(t, b.canvas.Initialize(), b.initialize(contact))
		if slices.ContainsFunc(c.fields(), func(f string) bool { return strings.HasPrefix(f, "Health=") }) || !slices.Contains(c.fields(), "Email="+want[1]) {
			t.Errorf("without account_health: %q", c.fields())
		}
	})

	t.Run("before the first refresh", func(t *testing.T) {
		fresh := *b.canvas
		fresh.Panel = &Panel{Dir: t.TempDir()}
		c, raw := b.view(t, fresh.Initialize(), b.initialize(contact))
		validateCanvas(t, "initialize_response", raw)
		if !slices.ContainsFunc(c.texts(), func(s string) bool { return strings.Contains(s, "not ready yet") }) {
			t.Errorf("does not say the details are not ready: %s", raw)
		}
	})
}

// holdWarehouse runs fn while another process holds the warehouse open
// for writing, as a scheduled `ferry run` does.
func holdWarehouse(t *testing.T, path string, fn func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "FERRY_TEST_HOLD_WAREHOUSE="+path)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "holding" {
		stdin.Close()
		cmd.Wait()
		t.Fatalf("helper process: %q", line)
	}
	fn()
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper process: %v", err)
	}
}

// TestMain runs the tests, or, in the process holdWarehouse starts,
// holds the warehouse open for writing until stdin closes.
func TestMain(m *testing.M) {
	if path := os.Getenv("FERRY_TEST_HOLD_WAREHOUSE"); path != "" {
		db, err := duck.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("holding")
		io.Copy(io.Discard, os.Stdin)
		db.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
