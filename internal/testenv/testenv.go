// Package testenv holds helpers shared by tests across packages.
package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/ferry-sync/ferry/internal/config"
)

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
		switch k {
		case "INTERCOM_BASE_URL", "SALESFORCE_LOGIN_URL":
			return "http://127.0.0.1:1"
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
