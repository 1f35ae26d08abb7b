package state_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/state"
	"github.com/ferry-sync/ferry/internal/testenv"
)

// TestMerge_KeepsEachRecordsLatestVersion: a landing file that holds a
// record more than once (a page re-read within one extraction) merges its
// latest version: the newest updated_at, and among equal ones the row
// written last; a version older than current state's changes nothing.
// Rebuild from the same files agrees.
func TestMerge_KeepsEachRecordsLatestVersion(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := testenv.OpenStore(t, dir)
	landing := filepath.Join(dir, "landing")
	write := func(run string, rows ...string) string {
		t.Helper()
		path := filepath.Join(landing, "source=intercom", "object=contacts", "run="+run, "part-00000.parquet")
		q := fmt.Sprintf(`COPY (SELECT * FROM (VALUES %s) AS v(_run_id, _extracted_at, id, updated_at, is_deleted, name)) TO %s (FORMAT parquet)`,
			strings.Join(rows, ", "), state.QuoteString(path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := st.DB.Exec(q); err != nil {
			t.Fatal(err)
		}
		return path
	}
	row := func(run, id, updated, name string) string {
		return fmt.Sprintf("('%s', TIMESTAMPTZ '2026-01-01 00:00:00+00', '%s', TIMESTAMPTZ '%s', false, '%s')", run, id, updated, name)
	}
	first := write("r1",
		row("r1", "a", "2026-01-01 10:00:00+00", "a-new"),
		row("r1", "a", "2026-01-01 09:00:00+00", "a-old"),
		row("r1", "b", "2026-01-01 09:00:00+00", "b-first"),
		row("r1", "b", "2026-01-01 09:00:00+00", "b-last"),
		row("r1", "c", "2026-01-01 08:00:00+00", "c"),
	)
	second := write("r2",
		row("r2", "a", "2026-01-01 09:30:00+00", "a-stale"), // older than state holds
		row("r2", "c", "2026-01-01 11:00:00+00", "c-newer"),
		row("r2", "c", "2026-01-01 11:00:00+00", "c-newest"),
	)
	for i, f := range []string{first, second} {
		tx, err := st.DB.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if err := state.Merge(t.Context(), tx, fmt.Sprintf("r%d", i+1), "intercom", "contacts", f, state.Kind{}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	want := "a=a-new b=b-last c=c-newest"
	names := func() string {
		t.Helper()
		var got string
		if err := st.DB.QueryRow(`SELECT string_agg(id || '=' || name, ' ' ORDER BY id) FROM raw.intercom__contacts`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := names(); got != want {
		t.Fatalf("merged current state %q, want %q", got, want)
	}
	if _, err := st.Rebuild(t.Context(), landing, func(string, string) state.Kind { return state.Kind{} }); err != nil {
		t.Fatal(err)
	}
	if got := names(); got != want {
		t.Fatalf("rebuilt current state %q, want %q", got, want)
	}
}
