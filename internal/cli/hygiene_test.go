package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/testenv"
)

// TestGitignore_CoversWhatRunsWrite: the directories ferry, `ferry
// emulator`, `make demo` and `make bench` write by default (warehouse,
// landing files, journals, the emulator's private key and credentials)
// are ignored, so nothing a run writes can be committed by accident.
func TestGitignore_CoversWhatRunsWrite(t *testing.T) {
	t.Parallel()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(testenv.Root(), name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	ignored := map[string]bool{}
	for line := range strings.Lines(read(".gitignore")) {
		ignored[strings.Trim(strings.TrimSpace(line), "/")] = true
	}
	demo := regexp.MustCompile(`(?m)^DEMO_DIR\s*\?=\s*(\S+)`).FindStringSubmatch(read("Makefile"))
	if demo == nil {
		t.Fatal("Makefile sets no DEMO_DIR")
	}
	for _, dir := range []string{".ferry", ".ferry-emulator", demo[1], "bench"} {
		if !ignored[dir] {
			t.Errorf("%s is written by default and not in .gitignore", dir)
		}
	}
	for _, flagDefault := range []struct{ file, dir string }{
		{"internal/cli/datadir.go", `"data-dir", ".ferry"`}, {"internal/cli/emulator.go", `"dir", ".ferry-emulator"`},
	} {
		if !strings.Contains(read(flagDefault.file), flagDefault.dir) {
			t.Errorf("%s no longer defaults to %s: update this test and .gitignore", flagDefault.file, flagDefault.dir)
		}
	}
}
