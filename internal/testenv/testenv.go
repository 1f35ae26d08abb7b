// Package testenv holds helpers shared by tests across packages.
package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/config"
	"github.com/ferry-sync/ferry/internal/state"
)

// OpenStore opens the state store in dir (a temporary one when empty),
// closed when the test ends.
func OpenStore(t testing.TB, dir string) *state.Store {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	st, err := state.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Root is the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Env is a fake environment for the example pipeline.
func Env(vars map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		switch {
		case k == "INTERCOM_BASE_URL" || k == "SALESFORCE_LOGIN_URL":
			return "http://127.0.0.1:1"
		case strings.HasPrefix(k, "DAGSTER_PIPES_") || strings.HasPrefix(k, "OPENLINEAGE"):
			return "" // optional integrations: off unless a test sets them
		}
		return "x-" + k
	}
}

// Pipeline loads pipelines/intercom_salesforce.yaml with env.
func Pipeline(t testing.TB, env func(string) string) *config.Pipeline {
	t.Helper()
	p, err := config.Load(filepath.Join(Root(), "pipelines", "intercom_salesforce.yaml"), env)
	if err != nil {
		t.Fatalf("load example pipeline: %v", err)
	}
	return p
}

// WriteFile writes a file under dir and returns its path.
func WriteFile(t testing.TB, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
