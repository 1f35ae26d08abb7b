package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/ferry-sync/ferry/internal/datadir"
	"github.com/ferry-sync/ferry/internal/duck"
	"github.com/ferry-sync/ferry/internal/report"
)

// reportCmd writes the health report: one HTML page that opens without a
// network, from the warehouse opened read-only.
func reportCmd(ctx context.Context, e *env, args []string) error {
	var d dirFlags
	var out string
	var accounts int
	fs := newFlagSet("report", "Write customer health as one self-contained HTML page (no network needed to open it): the score\ndistribution, the bands over time, the accounts that changed band since the previous run, and the\ncomponents of the lowest-scoring accounts. Reads the warehouse without changing it.", e.stdout)
	d.register(fs)
	fs.StringVar(&out, "out", "", "the HTML file to write (default <data-dir>/exports/report.html; with an s3:// data dir, in its local cache)")
	fs.IntVar(&accounts, "accounts", report.DefaultAccounts, "detail the components of this many lowest-scoring accounts, and list as many of those that changed band")
	if err := parse(fs, args); err != nil {
		return err
	}
	if accounts < 0 || accounts > maxReportAccounts {
		return &usageError{msg: fmt.Sprintf("invalid --accounts %d", accounts), hint: fmt.Sprintf("use 0 to %d: the page details each, and stays small enough to open", maxReportAccounts)}
	}
	dir, remote, err := d.open(e.getenv, nil)
	if err != nil {
		return err
	}
	if out == "" {
		out = filepath.Join(dir, "exports", "report.html")
	}
	r, err := gatherReport(ctx, dir, remote, d.lockWait, report.Options{Accounts: accounts, Now: time.Now()})
	if err != nil {
		return err
	}
	if err := report.WriteFile(out, r); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s: %d accounts (%d detailed, %d left out), runs in the history: %d\n", out, r.Accounts.Total(), len(r.Lowest), r.LeftOut(), r.TotalRuns)
	return nil
}

// gatherReport reads the report's figures from the warehouse in dir,
// opened read-only under the data dir's lock (on object storage, the
// committed one, restored into dir).
func gatherReport(ctx context.Context, dir string, remote *datadir.Remote, wait time.Duration, opt report.Options) (*report.Report, error) {
	path := filepath.Join(dir, "warehouse.duckdb")
	if _, err := os.Stat(dir); remote == nil && errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no warehouse at %s: run `ferry run` (or `ferry transform`) first", path)
	}
	ctx, done, err := claim(ctx, dir, remote, "report", wait)
	if err != nil {
		return nil, lockError(err)
	}
	defer done(false)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no warehouse at %s: run `ferry run` (or `ferry transform`) first", path)
	}
	db, err := duck.Open(path + "?access_mode=read_only")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return report.Gather(ctx, db, opt)
}

// maxReportAccounts bounds --accounts.
const maxReportAccounts = 5000
