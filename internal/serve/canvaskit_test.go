package serve

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/testenv"
)

// The Canvas Kit schemas are published only in Intercom's official OpenAPI
// description, descriptions/2.11/api.intercom.io.yaml of
// github.com/intercom/Intercom-OpenAPI (the other versions have none; see
// docs/research/intercom-canvas-kit-and-webhooks.md). Like the whole
// description the emulator is checked against (../shared/api), the
// excerpt the tests validate canvases with is kept beside the repository,
// never copied into it: at $FERRY_CANVAS_KIT_SPEC, else
// ../shared/api/canvas-kit-2.11.yaml. Without it the schema checks skip
// (and say so); the rest of the tests run. Write it from a copy of the
// description with
//
//	go test ./internal/serve -run '^TestCanvasKitExcerpt$' \
//	  -canvas-kit-from=<api.intercom.io.yaml> -canvas-kit-commit=<commit>
var (
	canvasKitFrom   = flag.String("canvas-kit-from", "", "write the Canvas Kit excerpt from this copy of Intercom-OpenAPI's descriptions/2.11/api.intercom.io.yaml")
	canvasKitCommit = flag.String("canvas-kit-commit", "", "the Intercom-OpenAPI commit that copy is from (named in the excerpt's header)")
)

// canvasKitID is the excerpt's $id, which schema references start from.
const canvasKitID = "intercom-openapi-2.11-canvas-kit"

// canvasKitRoots are the schemas the excerpt starts from; it holds them and
// every schema they reference (canvas, content, component and each
// component, actions, event, current canvas, context, and the request
// objects: admin, contact, conversation).
var canvasKitRoots = []string{"initialize_request", "initialize_response", "submit_request", "submit_response"}

func canvasKitPath() string {
	if p := os.Getenv("FERRY_CANVAS_KIT_SPEC"); p != "" {
		return p
	}
	return filepath.Join(testenv.Root(), "..", "shared", "api", "canvas-kit-2.11.yaml")
}

const canvasKitHeader = `Canvas Kit schemas excerpted from Intercom's official OpenAPI description:
repository https://github.com/intercom/Intercom-OpenAPI, file descriptions/2.11/api.intercom.io.yaml,
commit %s. Copied mechanically (ferry's internal/serve TestCanvasKitExcerpt with testenv.OpenAPIExcerpt),
content unchanged, keys re-ordered by the YAML encoder: %s
and every schema they reference.

The Intercom-OpenAPI repository's license:

MIT License

Copyright (c) 2022 Intercom, Inc.

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.`

// TestCanvasKitExcerpt writes the excerpt when -canvas-kit-from is given.
func TestCanvasKitExcerpt(t *testing.T) {
	if *canvasKitFrom == "" {
		t.Skip("no -canvas-kit-from: the excerpt is not rewritten")
	}
	if len(*canvasKitCommit) != 40 {
		t.Fatal("-canvas-kit-commit must be the 40-hex-digit commit of the description")
	}
	b, err := os.ReadFile(*canvasKitFrom)
	if err != nil {
		t.Fatal(err)
	}
	header := fmt.Sprintf(canvasKitHeader, *canvasKitCommit, strings.Join(canvasKitRoots, ", "))
	out, err := testenv.OpenAPIExcerpt(b, canvasKitID, header, canvasKitRoots...)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(canvasKitPath()), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(canvasKitPath(), out, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", canvasKitPath(), len(out))
}

// canvasKitSchemas loads the excerpt; it skips the calling (sub)test when
// the excerpt is not beside the repository.
func canvasKitSchemas(t *testing.T) *testenv.Schemas {
	t.Helper()
	if _, err := os.Stat(canvasKitPath()); os.IsNotExist(err) {
		t.Skipf("Canvas Kit schemas not found at %s (see canvaskit_test.go to write them): canvases not validated against Intercom's description", canvasKitPath())
	}
	s, err := testenv.LoadSchemas(canvasKitPath())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// validateCanvas checks a response body against a schema of the excerpt
// (initialize_response or submit_response).
func validateCanvas(t *testing.T, schema string, body []byte) {
	t.Helper()
	t.Run("spec "+schema, func(t *testing.T) {
		s := canvasKitSchemas(t)
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(canvasKitID+"#/components/schemas/"+schema, v); err != nil {
			t.Errorf("response is not a valid %s: %v\n%s", schema, err, body)
		}
	})
}
