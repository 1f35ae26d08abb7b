package serve

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/ferry-sync/ferry/internal/testenv"
)

// canvasKitSchemas loads testdata/intercom/canvas-kit.schema.json: the
// documented shapes of Canvas Kit responses and components (required
// fields, types, allowed values; sources in the file and in
// docs/research/intercom-canvas-kit-and-webhooks.md). Intercom publishes
// them as JSON schemas only in its OpenAPI description 2.11, which is not
// among the descriptions beside this repository (../shared/api); the file
// is ferry's transcription of the documentation, and refuses any field or
// component the documentation does not list.
func canvasKitSchemas(t *testing.T) *testenv.Schemas {
	t.Helper()
	s, err := testenv.LoadSchemas(filepath.Join(testenv.Root(), "testdata", "intercom", "canvas-kit.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// validateCanvas checks a response body against a response schema
// (initialize_response or submit_response).
func validateCanvas(t *testing.T, schema string, body []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	if err := canvasKitSchemas(t).Validate("ferry-canvas-kit#/$defs/"+schema, v); err != nil {
		t.Errorf("response is not a valid %s: %v\n%s", schema, err, body)
	}
}

// TestCanvasKitSchema: the schema the responses are validated against
// refuses what the documentation does not allow, so a passing response
// means something.
func TestCanvasKitSchema(t *testing.T) {
	s := canvasKitSchemas(t)
	valid := `{"canvas":{"content":{"components":[{"type":"text","text":"**Acme**","style":"header"},{"type":"data-table","items":[{"type":"field-value","field":"Owner","value":"Ann"}]},{"type":"single-select","id":"opportunity","options":[{"type":"option","id":"a","text":"A"},{"type":"option","id":"b","text":"B"}],"action":{"type":"submit"}},{"type":"button","id":"create_lead","label":"Create Lead","action":{"type":"submit"}}]},"stored_data":{"opportunity":"a"}}}`
	var v any
	if err := json.Unmarshal([]byte(valid), &v); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate("ferry-canvas-kit#/$defs/initialize_response", v); err != nil {
		t.Fatalf("a documented canvas is refused: %v", err)
	}
	for name, bad := range map[string]string{
		"no canvas":                 `{}`,
		"no content":                `{"canvas":{"stored_data":{}}}`,
		"unknown component":         `{"canvas":{"content":{"components":[{"type":"chart","id":"x"}]}}}`,
		"text without text":         `{"canvas":{"content":{"components":[{"type":"text"}]}}}`,
		"text style not documented": `{"canvas":{"content":{"components":[{"type":"text","text":"x","style":"bold"}]}}}`,
		"button without action":     `{"canvas":{"content":{"components":[{"type":"button","id":"b","label":"B"}]}}}`,
		"sheet action in the Inbox": `{"canvas":{"content":{"components":[{"type":"button","id":"b","label":"B","action":{"type":"sheet","url":"https://x"}}]}}}`,
		"one option":                `{"canvas":{"content":{"components":[{"type":"single-select","id":"s","options":[{"type":"option","id":"a","text":"A"}]}]}}}`,
		"table value not a string":  `{"canvas":{"content":{"components":[{"type":"data-table","items":[{"type":"field-value","field":"Amount","value":12}]}]}}}`,
		"undocumented field":        `{"canvas":{"content":{"components":[{"type":"divider","color":"red"}]}}}`,
		"event not completed":       `{"canvas":{"content":{"components":[]}},"event":{"type":"done"}}`,
	} {
		if err := json.Unmarshal([]byte(bad), &v); err != nil {
			t.Fatal(err)
		}
		ref := "ferry-canvas-kit#/$defs/initialize_response"
		if name == "event not completed" {
			ref = "ferry-canvas-kit#/$defs/submit_response"
		}
		if err := s.Validate(ref, v); err == nil {
			t.Errorf("%s: accepted %s", name, bad)
		}
	}
}
