package cli

import (
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/ferry-sync/ferry/internal/config"
	"github.com/ferry-sync/ferry/internal/lineage"
	"github.com/ferry-sync/ferry/internal/runner"
	"github.com/ferry-sync/ferry/models"
)

// pipelineFlags are shared by the pipeline commands.
type pipelineFlags struct {
	pipeline string
	dirFlags
	logFormat string
	logLevel  string
	modelsDir string
	// rebuildModels: set by the commands that build models.
	rebuildModels bool
	// selection: --select, of transform and models.
	selection string
}

// registerRebuild adds --rebuild-models to a command that builds models.
func (p *pipelineFlags) registerRebuild(fs *pflag.FlagSet) {
	fs.BoolVar(&p.rebuildModels, "rebuild-models", false, "rebuild every model from current state, even when nothing it reads has changed since the last build")
}

func (p *pipelineFlags) registerSelect(fs *pflag.FlagSet, what string) {
	fs.StringVar(&p.selection, "select", "", what+": model names or globs, comma-separated; model+ adds what depends on it, +model what it reads")
}

func newFlagSet(name, summary string, out io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: ferry %s [flags]\n\n%s\n\nFlags:\n%s", name, summary, fs.FlagUsages())
	}
	return fs
}

func (p *pipelineFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&p.pipeline, "pipeline", "pipelines/intercom_salesforce.yaml", "pipeline file")
	p.dirFlags.register(fs)
	fs.StringVar(&p.logFormat, "log-format", "text", "log format: text or json (logs go to stderr)")
	fs.StringVar(&p.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&p.modelsDir, "models-dir", "", "directory of SQL models (default: the models built into ferry)")
}

func (p *pipelineFlags) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(p.logLevel)); err != nil {
		return nil, &usageError{msg: "invalid --log-level " + p.logLevel, hint: "use debug, info, warn or error"}
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch p.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, &usageError{msg: "invalid --log-format " + p.logFormat, hint: "use text or json"}
}

func (p *pipelineFlags) models() (fs.FS, string) {
	if p.modelsDir != "" {
		return os.DirFS(p.modelsDir), p.modelsDir
	}
	return models.FS, "models"
}

// options loads the pipeline and builds runner options.
func (p *pipelineFlags) options(e *env, command string) (runner.Options, error) {
	log, err := p.logger(e.stderr)
	if err != nil {
		return runner.Options{}, err
	}
	getenv := e.getenv
	if command == "transform" || command == "compact" || command == "rebuild" || command == "test" || command == "models" {
		// Building models needs no API access: secrets may be unset.
		getenv = func(k string) string {
			if v := e.getenv(k); v != "" {
				return v
			}
			return "unset-" + k
		}
	}
	pl, err := config.Load(p.pipeline, getenv)
	if err != nil {
		return runner.Options{}, err
	}
	fsys, root := p.models()
	dir, remote, err := p.dirFlags.open(e.getenv, log)
	if err != nil {
		return runner.Options{}, err
	}
	lin, err := lineage.FromEnv(e.getenv, log)
	if err != nil {
		return runner.Options{}, &usageError{msg: err.Error()}
	}
	return runner.Options{Lineage: lin, Command: command, Pipeline: pl, DataDir: dir, Remote: remote, Models: fsys, ModelsRoot: root, RebuildModels: p.rebuildModels, Select: p.selection, LockWait: p.lockWait, Logger: log, Out: e.stdout, Now: time.Now,
		Hook: pauseAt(e.getenv("FERRY_TEST_PAUSE_AT"), log), Pipes: e.pipes}, nil
}

// extractFlags select what to extract and how far back.
type extractFlags struct {
	objects     []string
	fullRefresh bool
	sweep       bool
	since       string
	sinceT      time.Time
}

func (x *extractFlags) register(fs *pflag.FlagSet) {
	fs.StringSliceVar(&x.objects, "object", nil, "extract only these objects, e.g. salesforce.Lead,intercom.contacts (others keep their watermarks)")
	fs.BoolVar(&x.fullRefresh, "full-refresh", false, "ignore watermarks and extract everything (backfill)")
	fs.StringVar(&x.since, "since", "", "extract changes since this RFC 3339 time instead of the watermark (backfill)")
	fs.BoolVar(&x.sweep, "sweep", false, "look for deletes now: compare every live id of the sweepable objects (Intercom contacts and companies, Salesforce objects) with what ferry holds, whatever sweep_every says")
}

// check validates the flags before anything else is read.
func (x *extractFlags) check() error {
	if x.since == "" {
		return nil
	}
	if x.fullRefresh {
		return &usageError{msg: "--since and --full-refresh exclude each other"}
	}
	t, err := time.Parse(time.RFC3339, x.since)
	if err != nil {
		d, derr := time.Parse("2006-01-02", x.since)
		if derr != nil {
			return &usageError{msg: fmt.Sprintf("invalid --since %q", x.since), hint: "use RFC 3339 (2026-01-02T15:04:05Z) or a date (2026-01-02)"}
		}
		t = d
	}
	x.sinceT = t
	return nil
}

func (x *extractFlags) apply(o *runner.Options) {
	o.Objects, o.FullRefresh, o.Since, o.Sweep = x.objects, x.fullRefresh, x.sinceT, x.sweep
}

// pauseAt is a failpoint for crash tests: when FERRY_TEST_PAUSE_AT names a
// step (after-extract, bulk-job-closed, after-intercom-load, after-load,
// before-commit), the run logs "paused" there and blocks so that a test can
// kill the process at exactly that point.
func pauseAt(step string, log *slog.Logger) func(string) error {
	if step == "" {
		return nil
	}
	return func(s string) error {
		if s == step {
			log.Warn("paused", "step", s)
			time.Sleep(24 * time.Hour)
		}
		return nil
	}
}

// extractingCommand parses the flags of a command that extracts (run, plan,
// extract) and returns its runner options. more registers the command's
// own flags.
func extractingCommand(e *env, name, summary string, args []string, more func(*pflag.FlagSet)) (runner.Options, error) {
	var p pipelineFlags
	var x extractFlags
	fs := newFlagSet(name, summary, e.stdout)
	p.register(fs)
	x.register(fs)
	if name != "extract" {
		p.registerRebuild(fs)
	}
	if more != nil {
		more(fs)
	}
	if err := parse(fs, args); err != nil {
		return runner.Options{}, err
	}
	if err := x.check(); err != nil {
		return runner.Options{}, err
	}
	opt, err := p.options(e, name)
	if err != nil {
		return runner.Options{}, err
	}
	x.apply(&opt)
	return opt, nil
}

func checkOutput(output string) error {
	if output != "text" && output != "json" {
		return &usageError{msg: "invalid --output " + output, hint: "use text or json"}
	}
	return nil
}
