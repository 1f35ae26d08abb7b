package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/pflag"

	"github.com/ferry-sync/ferry/internal/datadir"
	"github.com/ferry-sync/ferry/internal/state"
)

// dirFlags say where a data dir is: a local path, or s3://bucket/prefix
// worked on in a local cache.
type dirFlags struct {
	dataDir  string
	cacheDir string
	lockTTL  time.Duration
	lockWait time.Duration
}

func (d *dirFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&d.dataDir, "data-dir", ".ferry", "data directory: landing Parquet, DuckDB warehouse and state; or s3://bucket/prefix on S3-compatible storage (AWS_* environment variables; AWS_ENDPOINT_URL_S3 for a server other than AWS)")
	fs.StringVar(&d.cacheDir, "cache-dir", "", "with an s3:// data dir: the local working copy (default: the user's cache dir, ferry/s3/<bucket>/<prefix>)")
	fs.DurationVar(&d.lockTTL, "lock-ttl", datadir.DefaultLockTTL, "with an s3:// data dir: how long the pipeline's lock stands unrenewed before another worker may take it over (its holder renews it every third of that)")
	fs.DurationVar(&d.lockWait, "lock-wait", 0, "while another ferry process holds the data dir, wait up to this long for it instead of failing at once (beside ferry serve, whose batches hold it for seconds: 1m)")
}

// open resolves the flags: the local directory ferry works in, and the
// remote data dir when there is one.
func (d *dirFlags) open(getenv func(string) string, log *slog.Logger) (string, *datadir.Remote, error) {
	if !datadir.IsRemote(d.dataDir) {
		return d.dataDir, nil, nil
	}
	if d.lockTTL < time.Second {
		return "", nil, &usageError{msg: fmt.Sprintf("--lock-ttl %s is too short", d.lockTTL), hint: "use a second or more"}
	}
	r, err := datadir.Open(d.dataDir, d.cacheDir, getenv, log)
	if err != nil {
		return "", nil, &usageError{msg: "--data-dir " + d.dataDir + ": " + err.Error()}
	}
	r.LockTTL = d.lockTTL
	return r.Cache, r, nil
}

// dir resolves a pipeline command's data dir flags, logging as its
// --log-format and --log-level say.
func (p *pipelineFlags) dir(e *env) (string, *datadir.Remote, error) {
	log, err := p.logger(e.stderr)
	if err != nil {
		return "", nil, err
	}
	return p.dirFlags.open(e.getenv, log)
}

// claim takes a data dir for a command that is not a run (datadir.Take).
// done(commit) saves the state first when commit is set and the dir is
// remote, then lets the locks go.
func claim(ctx context.Context, dir string, remote *datadir.Remote, command string, wait time.Duration) (context.Context, func(commit bool) error, error) {
	ctx, release, err := datadir.Take(ctx, dir, remote, "ferry "+command, wait)
	if err != nil {
		return ctx, nil, err
	}
	return ctx, func(commit bool) error {
		var err error
		if commit && remote != nil {
			err = remote.Save(context.WithoutCancel(ctx), "", true)
		}
		release()
		return err
	}, nil
}

// lockError explains a failure to take a data dir for reading: a run
// holding it, or anything else (the bucket unreachable, credentials).
func lockError(err error) error {
	if errors.Is(err, state.ErrLocked) || errors.Is(err, datadir.ErrLocked) {
		return fmt.Errorf("cannot read the warehouse while a run is in progress: %w", err)
	}
	return err
}
