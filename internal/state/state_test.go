package state_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-sync/ferry/internal/testenv"
)

func TestLimitMemory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := testenv.OpenStore(t, dir)
	if err := st.LimitMemory(t.Context(), dir, "300MB"); err != nil {
		t.Fatal(err)
	}
	// Every pooled connection sees the settings, not just the one that set them.
	conns := make([]interface{ Close() error }, 0, 3)
	for range 3 {
		c, err := st.DB.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var limit, tmp string
		if err := c.QueryRowContext(t.Context(), "SELECT current_setting('memory_limit'), current_setting('temp_directory')").Scan(&limit, &tmp); err != nil {
			t.Fatal(err)
		}
		if limit != "286.1 MiB" || tmp != filepath.Join(dir, "tmp") {
			t.Fatalf("memory_limit %q, temp_directory %q", limit, tmp)
		}
	}
	for _, c := range conns {
		c.Close()
	}
	if fi, err := os.Stat(filepath.Join(dir, "tmp")); err != nil || !fi.IsDir() {
		t.Fatalf("temp directory not created: %v", err)
	}
	if err := st.LimitMemory(t.Context(), dir, "lots"); err == nil {
		t.Fatal("a limit DuckDB cannot parse was accepted")
	}
}

func TestShrinkMemory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := testenv.OpenStore(t, dir)
	limit := func() string {
		var s string
		if err := st.DB.QueryRowContext(t.Context(), "SELECT current_setting('memory_limit')").Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, c := range []struct {
		limit        string
		div          int64
		shrunk, full string
	}{
		{"2GiB", 4, "512.0 MiB", "2.0 GiB"},
		{"1.5GB", 4, "357.6 MiB", "1.3 GiB"},
		{"512MB", 4, "122.0 MiB", "488.2 MiB"},
		{"512 mb", 2, "244.1 MiB", "488.2 MiB"},
	} {
		if err := st.LimitMemory(t.Context(), dir, c.limit); err != nil {
			t.Fatal(err)
		}
		restore, err := st.ShrinkMemory(t.Context(), c.div)
		if err != nil {
			t.Fatalf("%s: %v", c.limit, err)
		}
		if got := limit(); got != c.shrunk {
			t.Errorf("%s / %d: memory_limit %q, want %q", c.limit, c.div, got, c.shrunk)
		}
		if err := restore(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := limit(); got != c.full {
			t.Errorf("%s restored: memory_limit %q, want %q", c.limit, got, c.full)
		}
	}
}
