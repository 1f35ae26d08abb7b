package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const description = `openapi: 3.0.1
components:
  schemas:
    widget:
      type: object
      x-tags: [Widgets]
      required: [id, part]
      properties:
        id: {type: string}
        size: {type: integer, nullable: true, default: 1}
        part: {"$ref": "#/components/schemas/part"}
        spare: {"$ref": "#/components/schemas/absent"}
    part:
      type: object
      properties:
        kind: {type: string, enum: [bolt, nut]}
    unrelated:
      type: string
`

// An excerpt keeps the roots and what they reference, names the
// references it could not follow, and validates OpenAPI 3.0 schemas.
func TestOpenAPIExcerpt(t *testing.T) {
	out, err := OpenAPIExcerpt([]byte(description), "test-excerpt", "From a test.", "widget")
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	for _, want := range []string{"# From a test.\n", "# Referenced but absent from the description (left dangling): absent\n", "    widget:\n", "    part:\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("excerpt lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "unrelated") {
		t.Errorf("excerpt holds a schema nothing references:\n%s", text)
	}
	p := filepath.Join(t.TempDir(), "excerpt.yaml")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSchemas(p)
	if err != nil {
		t.Fatal(err)
	}
	const ref = "test-excerpt#/components/schemas/widget"
	for _, c := range []struct {
		v  map[string]any
		ok bool
	}{
		{map[string]any{"id": "w1", "part": map[string]any{"kind": "bolt"}}, true},
		{map[string]any{"id": "w1", "size": nil, "part": map[string]any{}}, true},
		{map[string]any{"id": "w1", "size": 2.5, "part": map[string]any{}}, false},
		{map[string]any{"id": "w1", "part": map[string]any{"kind": "screw"}}, false},
		{map[string]any{"id": "w1"}, false},
		{map[string]any{"id": "w1", "part": map[string]any{}, "spare": "x"}, false}, // the dangling reference
	} {
		if err := s.Validate(ref, c.v); (err == nil) != c.ok {
			t.Errorf("%v: error %v, want ok %v", c.v, err, c.ok)
		}
	}
}
