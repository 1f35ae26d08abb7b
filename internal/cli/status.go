package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/ferry-sync/ferry/internal/state"
)

func statusCmd(ctx context.Context, e *env, args []string) error {
	var p pipelineFlags
	var n int
	fs := newFlagSet("status", "Show each object's watermark and the most recent runs with their outcome.", e.stdout)
	p.register(fs)
	fs.IntVar(&n, "runs", 10, "how many recent runs to show")
	if err := parse(fs, args); err != nil {
		return err
	}
	dir, remote, err := p.dir(e)
	if err != nil {
		return err
	}
	ctx, done, err := claim(ctx, dir, remote, "status", p.lockWait)
	if err != nil {
		return fmt.Errorf("cannot read state while a run is in progress: %w", err)
	}
	defer done(false)
	st, err := state.Open(ctx, dir)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(e.stdout, "data dir %s (warehouse %s)\n\nwatermarks:\n", p.dataDir, filepath.Join(dir, "warehouse.duckdb"))
	rows, err := st.DB.QueryContext(ctx, st.Stmt("ListWatermarks"))
	if err != nil {
		return err
	}
	count := 0
	for rows.Next() {
		var sys, obj, id, run string
		var ts, upd time.Time
		if err := rows.Scan(&sys, &obj, &ts, &id, &run, &upd); err != nil {
			rows.Close()
			return err
		}
		count++
		fmt.Fprintf(e.stdout, "  %-10s %-22s %s  last id %-24s (run %s)\n", sys, obj, ts.UTC().Format(time.RFC3339), id, run)
	}
	rows.Close()
	if count == 0 {
		fmt.Fprintln(e.stdout, "  none yet: the next run extracts everything")
	}
	fmt.Fprintln(e.stdout, "\nrecent runs:")
	rows, err = st.DB.QueryContext(ctx, st.Stmt("ListRuns"), n)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, cmd, status, summary, errMsg string
		var started time.Time
		var finished *time.Time
		var code *int
		if err := rows.Scan(&id, &cmd, &started, &finished, &status, &code, &summary, &errMsg); err != nil {
			return err
		}
		dur := "running"
		if finished != nil {
			dur = finished.Sub(started).Round(time.Millisecond).String()
		}
		fmt.Fprintf(e.stdout, "  %s  %-9s %-9s %s  %s\n", id, cmd, status, started.UTC().Format(time.RFC3339), dur)
		if errMsg != "" {
			fmt.Fprintf(e.stdout, "      %s\n", errMsg)
		}
	}
	return rows.Err()
}
