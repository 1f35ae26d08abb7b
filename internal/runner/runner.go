// Package runner runs ferry's stages against one data dir: extract into
// landing Parquet, build the models, plan and load, and commit state.
//
// State is committed once, at the end, in one transaction: the new
// watermarks, the last-synced snapshot and the run's outcome. A run that is
// killed at any point leaves the previous state in place; the next run
// re-extracts the same window (and everything the killed run wrote, since
// those writes changed the records), rebuilds the plan from what both
// systems now hold, and so converges on the same end state.
package runner

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/extract"
	intercomextract "github.com/ferry-sync/ferry/extract/intercom"
	salesforceextract "github.com/ferry-sync/ferry/extract/salesforce"
	"github.com/ferry-sync/ferry/internal/config"
	"github.com/ferry-sync/ferry/internal/datadir"
	"github.com/ferry-sync/ferry/internal/intercomapi"
	"github.com/ferry-sync/ferry/internal/lineage"
	"github.com/ferry-sync/ferry/internal/pipes"
	"github.com/ferry-sync/ferry/internal/salesforceapi"
	"github.com/ferry-sync/ferry/internal/state"
	"github.com/ferry-sync/ferry/load"
	intercomload "github.com/ferry-sync/ferry/load/intercom"
	salesforceload "github.com/ferry-sync/ferry/load/salesforce"
	"github.com/ferry-sync/ferry/transform"
)

// Stage selects what a command does.
type Stage uint8

// Stages.
const (
	Extract Stage = 1 << iota
	Transform
	Plan
	Load
	// Test runs the model tests (transform.Test) against the built models;
	// every command that transforms, plans or loads runs them too.
	Test
)

// Options configure one invocation.
type Options struct {
	Command    string
	Pipeline   *config.Pipeline
	DataDir    string
	Models     fs.FS
	ModelsRoot string
	Logger     *slog.Logger
	Out        io.Writer
	Now        func() time.Time
	HTTP       *http.Client
	Objects    []string // "system.object" to extract; empty = all configured
	// Targets, when set, makes the extraction read only these records of
	// these objects ("intercom.contacts" → ids), named by webhooks: no
	// other object is read, no watermark moves, no delete is looked for.
	Targets     map[string][]string
	FullRefresh bool
	// LeadRequests are people a teammate asked a Salesforce Lead for
	// (ferry serve's inbox app): recorded before the run's extraction,
	// they qualify for the lead-capture workflow whatever its rule. The
	// people should also be Targets, so that the run reads them.
	LeadRequests []LeadRequest
	// LockWait is how long to wait for the data dir while another
	// process holds it (a ferry serve batch holds it for seconds).
	LockWait time.Duration
	// Sweep looks for deletes by comparing ids now, for every sweepable
	// object extracted, whatever its sweep_every (deletes.go).
	Sweep bool
	Since time.Time
	// RebuildModels builds every model even when the inputs are those of
	// the published generation.
	RebuildModels bool
	// Select, when set, builds only the models it names
	// (transform.Select), each in full; the others keep their published
	// rows. Such a build is not recorded as the published plan's.
	Select string
	// Hook, when set, is called between steps with the step's name; tests
	// use it to simulate a crash at a precise point.
	Hook func(step string) error
	// Pipes, when ferry runs under Dagster, is told what the run did
	// (pipes.go); nil otherwise.
	Pipes *pipes.Session
	// Lineage, when set, receives the run's OpenLineage START and
	// COMPLETE or FAIL events (lineage.go).
	Lineage *lineage.Emitter
	// HandOff, when set, makes the run an extraction worker: DataDir is a
	// private copy of the committed state, and what it extracts is
	// handed off there instead of committed (handoff.go).
	HandOff datadir.HandOffs
	// FromHandOffs, when set, makes the run's extraction the merge of
	// the workers' hand-offs found there, instead of reading the APIs.
	FromHandOffs datadir.HandOffs
	// Remote, when the data dir is on object storage, is it; DataDir is
	// then its local working copy. The run takes its lock, restores its
	// committed state, and saves at the extraction's commit and at the
	// end (remote.go).
	Remote *datadir.Remote
}

// Summary describes a finished run.
type Summary struct {
	RunID     string           `json:"run_id"`
	Extracted map[string]int64 `json:"extracted"`
	Unchanged map[string]int64 `json:"unchanged,omitempty"` // rows read again (lookback) that current state already held, not landed
	Landed    int              `json:"landed"`              // landing files written: objects with a change
	Skipped   []string         `json:"skipped,omitempty"`   // "system.object" not due for a refresh (extract.<system>.<object>.every)
	Deleted   map[string]int64 `json:"deleted,omitempty"`   // tombstones landed for deletes no change feed showed (deletes.go)
	// DeletesUnchecked lists the objects whose search for deletes failed
	// this run ("system.object: error"); it is due again next run.
	DeletesUnchecked []string                 `json:"deletes_unchecked,omitempty"`
	Planned          []load.Line              `json:"planned"`
	Written          map[string]int           `json:"written"`
	Rejects          int                      `json:"rejects"`
	Gone             int                      `json:"gone,omitempty"` // writes that found their record deleted, archived or merged: recorded as deletes, not rejects
	Ambiguous        int                      `json:"ambiguous"`
	Requests         map[string]int           `json:"requests"`
	Stages           map[string]time.Duration `json:"stages"`
	Identity         map[string]int64         `json:"identity"`
	Files            map[string]string        `json:"files"`
	// Budget accounts for the run's Salesforce calls against the daily
	// budget, and lists the syncs it deferred (budget.go).
	Budget *BudgetReport `json:"budget,omitempty"`
	// Events is what reading Intercom data events costs
	// (workflows.onboarding_milestones), when they are read.
	Events *EventsReport `json:"events,omitempty"`
	// PeakRSSMiB is the process's peak resident memory (Linux VmHWM),
	// read when the run finishes.
	PeakRSSMiB int64 `json:"peak_rss_mib,omitempty"`
	// Tests are the model tests' results, when they ran.
	Tests []transform.TestResult `json:"tests,omitempty"`
	// ModelsChanged names the models whose SQL differs from the one the
	// published build was built from ("name (new)" for one it lacked).
	ModelsChanged []string                   `json:"models_changed,omitempty"`
	Watermark     map[string]state.Watermark `json:"-"`
}

// Idle reports whether the run had nothing to do: it extracted no change
// (landed nothing, found no delete), planned nothing and wrote nothing,
// and put nothing off (no sync deferred, no search for deletes failed).
func (s *Summary) Idle() bool {
	if s.Landed > 0 || len(s.DeletesUnchecked) > 0 || s.Budget != nil && len(s.Budget.Deferred) > 0 {
		return false
	}
	for _, l := range s.Planned {
		if l.Records > 0 {
			return false
		}
	}
	for _, n := range s.Deleted {
		if n > 0 {
			return false
		}
	}
	for _, n := range s.Written {
		if n > 0 {
			return false
		}
	}
	return s.Rejects == 0 && s.Gone == 0
}

// EventsReport is the cost of reading Intercom data events: a request per
// person of an Account in onboarding, each time extract.intercom.events is
// due.
type EventsReport struct {
	// People is how many people the next extraction reads the events of,
	// as this run's transform leaves them.
	People int `json:"people"`
	// Every is how often events are read ("" : every run).
	Every string `json:"every,omitempty"`
}

// ErrRejects matches a RejectsError.
var ErrRejects = errors.New("some records were rejected by a target")

// RejectsError reports a finished run whose targets refused some records.
type RejectsError struct {
	Count int
	Path  string
}

func (e *RejectsError) Error() string {
	return fmt.Sprintf("%d records were rejected; they are listed in %s and will be retried next run", e.Count, e.Path)
}

// Unwrap lets errors.Is(err, ErrRejects) match.
func (e *RejectsError) Unwrap() error { return ErrRejects }

type run struct {
	opt    Options
	st     *state.Store
	ic     *intercomapi.Client
	sf     *salesforceapi.Client
	id     string
	log    *slog.Logger
	sum    Summary
	wm     map[[2]string]extract.Watermark
	landed []landed
	plan   *load.Plan
	gone   []load.Gone // records the load found gone (deletes.go)
	// tallied is the Salesforce calls already in ferry.api_calls, and
	// extracted whether the extraction ended or the run has none
	// (budget.go).
	tallied   int
	extracted bool
	// What Dagster Pipes reports (pipes.go): each object's extraction,
	// each model's build time this run, which models syncs read.
	results  []extract.Result
	modelDur map[string]time.Duration
	feeds    map[string]string
	// handed is each extracted object's record, for a hand-off
	// (handoff.go).
	handed []handedObject
	// A targeted run's objects read from their watermark besides those
	// read by id (findCatchUp), and whether the run is reading back what
	// it wrote (readBack).
	catchUp     map[string]bool
	readingBack bool
	// lineage is the run id the landing files and current state record
	// for what is extracted now: the run's own, or while reading back a
	// targeted run's writes, an id numbered after it (readBack).
	lineage string
}

func (r *run) hook(step string) error {
	if r.opt.Hook != nil {
		return r.opt.Hook(step)
	}
	return nil
}

// Run executes the stages and commits state.
func Run(ctx context.Context, opt Options, stages Stage) (*Summary, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Out == nil {
		opt.Out = io.Discard
	}
	// The enabled shipped workflows' syncs join the declared ones.
	if opt.Models != nil {
		if err := opt.Pipeline.AddShipped(transform.ShippedSyncs(opt.Models, opt.ModelsRoot, opt.Pipeline)); err != nil {
			return nil, err
		}
	}
	ctx, release, err := datadir.Take(ctx, opt.DataDir, opt.Remote, "ferry "+opt.Command, opt.LockWait)
	if err != nil {
		return nil, fmt.Errorf("refusing to start: %w", err)
	}
	defer release()
	st, err := state.Open(ctx, opt.DataDir)
	if err != nil {
		return nil, err
	}
	if opt.Remote != nil {
		st.Journal = opt.Remote.Journal
	}
	closeState := sync.OnceFunc(func() { st.Close() })
	defer closeState()
	if err := st.LimitMemory(ctx, opt.DataDir, opt.Pipeline.Transform.MemoryLimit); err != nil {
		return nil, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	r := &run{opt: opt, st: st, id: id.String(), log: opt.Logger.With("run_id", id.String()), wm: map[[2]string]extract.Watermark{}}
	r.sum = Summary{RunID: r.id, Extracted: map[string]int64{}, Unchanged: map[string]int64{}, Deleted: map[string]int64{}, Written: map[string]int{}, Requests: map[string]int{},
		Stages: map[string]time.Duration{}, Identity: map[string]int64{}, Files: map[string]string{}}
	if _, err := st.DB.ExecContext(ctx, st.Stmt("InsertRun"), r.id, opt.Command, opt.Pipeline.Path, opt.Now().UTC()); err != nil {
		return nil, fmt.Errorf("record run: %w", err)
	}
	if _, err := st.DB.ExecContext(ctx, st.Stmt("NumberRun"), r.id); err != nil {
		return nil, fmt.Errorf("record run: %w", err)
	}
	lrun := opt.Lineage.Start(ctx, r.id, r.jobName(), opt.Now())
	err = r.execute(ctx, stages)
	r.finish(err)
	// On object storage the run commits by saving, before it reports
	// what it did: a run whose state did not reach the bucket failed.
	if serr := r.save(ctx, true); serr != nil {
		if err == nil || errors.Is(err, ErrRejects) {
			err = serr
		} else {
			r.log.Error("state not saved", "err", serr)
		}
	}
	r.reportPipes(ctx)
	inputs, outputs := r.lineageDatasets()
	// The alert and the lineage event go out once the data dir is free
	// again: a slow endpoint must not make the next scheduled run find it
	// locked. Lineage describes what the run did, whatever cancelled it.
	closeState()
	release()
	lrun.End(context.WithoutCancel(ctx), opt.Now(), err, inputs, outputs)
	r.alert(err)
	if err != nil && !errors.Is(err, ErrRejects) {
		return &r.sum, err
	}
	return &r.sum, err
}

// outcome is how a run ending with runErr is recorded.
func outcome(runErr error) (status string, code int, msg string) {
	var rej *RejectsError
	switch {
	case errors.As(runErr, &rej) || errors.Is(runErr, ErrRejects):
		return "rejects", 3, runErr.Error()
	case errors.Is(runErr, config.ErrInvalid):
		// Found in the pipeline file after it was read (a declared sync's
		// model or target): the CLI's exit code for a bad file.
		return "failed", 2, runErr.Error()
	case runErr != nil:
		return "failed", 1, runErr.Error()
	}
	return "succeeded", 0, ""
}

// writeSyncLog turns the run's staged plan records into its sync log,
// inside tx.
func (r *run) writeSyncLog(ctx context.Context, tx *sql.Tx) error {
	var staged int64
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM ferry.sync_log_staged WHERE run_id = $1", r.id).Scan(&staged); err != nil {
		return fmt.Errorf("sync log: %w", err)
	}
	// In parts of at most syncLogPart records (CommitSyncLog).
	parts := staged/syncLogPart + 1
	for part := range parts {
		if _, err := tx.ExecContext(ctx, r.st.Stmt("CommitSyncLog"), r.id, part, parts); err != nil {
			return fmt.Errorf("sync log: %w", err)
		}
	}
	for _, name := range []string{"ClearSyncLogStaged", "SyncLogView"} {
		if _, err := tx.ExecContext(ctx, r.st.Stmt(name)); err != nil {
			return fmt.Errorf("sync log: %w", err)
		}
	}
	return nil
}

// syncLogPart is about how many staged records one CommitSyncLog
// statement logs.
const syncLogPart = 250_000

// logUncommittedLoad writes the sync log of a run whose load stopped
// before its commit: the records it staged, with what the ledger says of
// them (the commit writes it otherwise).
func (r *run) logUncommittedLoad(ctx context.Context) error {
	var logged, staged int64
	if err := r.st.DB.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM ferry.sync_log WHERE run_id = $1), (SELECT count(*) FROM ferry.sync_log_staged WHERE run_id = $1)", r.id).Scan(&logged, &staged); err != nil {
		return err
	}
	if logged > 0 || staged == 0 {
		return nil
	}
	tx, err := r.st.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := r.writeSyncLog(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	path, err := r.exportSyncLog(ctx)
	if path != "" {
		r.sum.Files["sync_log"] = path
	}
	return err
}

// finish records the run's outcome with its whole summary. A run that
// committed recorded its outcome in the commit's transaction already;
// this adds what it learned since (requests, peak memory, exports).
func (r *run) finish(runErr error) {
	status, code, msg := outcome(runErr)
	r.sum.PeakRSSMiB, _ = peakRSSMiB()
	b, _ := json.Marshal(r.sum)
	// Record the outcome even when the run's context was cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stage := "load"
	if !r.extracted {
		stage = "extract"
	}
	if err := r.tally(ctx, stage); err != nil {
		r.log.Warn("the run's Salesforce calls were not tallied", "err", err)
	}
	if runErr != nil {
		if err := r.logUncommittedLoad(ctx); err != nil {
			r.log.Warn("the sync log of the stopped load was not written", "err", err)
		}
	}
	if _, err := r.st.DB.ExecContext(ctx, r.st.Stmt("FinishRun"), r.id, r.opt.Now().UTC(), status, code, string(b), msg); err != nil {
		r.log.Error("record run outcome", "err", err)
	}
}

func (r *run) execute(ctx context.Context, stages Stage) error {
	r.extracted = stages&Extract == 0 // calls before any extraction are the load's
	if stages&Load != 0 && stages&Transform == 0 {
		if err := r.planFresh(ctx); err != nil {
			return err
		}
	}
	needAPIs := stages&(Extract|Load) != 0
	if needAPIs {
		if err := r.connect(ctx); err != nil {
			return err
		}
		defer func() {
			r.sum.Requests["intercom"] = r.ic.Calls()
			r.sum.Requests["salesforce"] = r.sf.Calls()
		}()
	}
	if stages&Load != 0 {
		sink := r.sfSink(load.NewLedger(r.st, r.id, r.opt.Now))
		if err := sink.Resume(ctx); err != nil {
			return err
		}
	}
	if err := r.recordLeadRequests(ctx); err != nil {
		return err
	}
	if stages&Extract != 0 {
		extractFn := r.extract
		if r.opt.FromHandOffs != nil {
			extractFn = r.mergeHandOffs
		}
		if err := r.timed("extract", func() error { return extractFn(ctx) }); err != nil {
			return err
		}
		r.extracted = true
		if err := r.tally(ctx, "extract"); err != nil {
			return err
		}
		if err := r.hook("after-extract"); err != nil {
			return err
		}
	}
	if stages&Transform != 0 {
		if stages&Extract != 0 {
			// What the extract held (the versions its lookback compared
			// against: 250 MiB of Go heap for the 1,500,000 records a
			// converged run re-reads at 1,000,000 contacts) is garbage now;
			// without an allocation-heavy stage after it Go would not
			// collect it before the run ends.
			debug.FreeOSMemory()
			if err := r.st.Reopen(ctx); err != nil {
				return err
			}
		}
		if err := r.timed("transform", func() error { return r.transform(ctx) }); err != nil {
			return err
		}
	}
	if stages&(Transform|Plan|Load|Test) != 0 {
		if err := r.timed("test", func() error { return r.test(ctx, stages&Load != 0) }); err != nil {
			return err
		}
	}
	if stages&(Plan|Load) != 0 {
		debug.FreeOSMemory() // the plan is read with what Go no longer holds given back
		// And from here a DuckDB thread that allocated more than 16MB in a
		// task flushes what it cached when the task ends (the default is
		// 128MB): at 1,000,000 contacts the plan peaked at 914 MiB resident
		// with the default and 851 MiB with this, in the same time. Not for
		// the models: with it set from the start, sf_task_upserts ran out
		// of memory_limit in the echo or converged run at that scale.
		if _, err := r.st.DB.ExecContext(ctx, "SET GLOBAL allocator_flush_threshold = '16MB'"); err != nil {
			r.log.Debug("allocator_flush_threshold not set", "err", err)
		}
		var syncs []load.Source
		for _, s := range r.opt.Pipeline.Syncs {
			syncs = append(syncs, syncSource(s))
		}
		p, err := load.ReadPlan(ctx, r.st.DB, syncs...)
		if err != nil {
			return fmt.Errorf("%w (run `ferry transform` first)", err)
		}
		defer func() {
			if err := p.Close(); err != nil {
				r.log.Warn("plan not released", "err", err)
			}
		}()
		p.ChunkSize = r.opt.Pipeline.Load.ChunkRecords
		r.plan = p
		if r.sf != nil {
			if err := r.checkRequired(ctx); err != nil {
				return err
			}
			if err := r.checkValueMaps(ctx); err != nil {
				return err
			}
		}
		if err := r.checkSyncTargets(ctx); err != nil {
			return err
		}
		if err := r.deferForBudget(ctx, stages&Load != 0); err != nil {
			return err
		}
		r.sum.Planned = p.Summary()
		r.sum.Ambiguous = p.Ambiguous
		if _, ok := r.opt.Pipeline.Extract.Intercom["events"]; ok {
			people, err := r.onboardingPeople(ctx)
			if err != nil {
				return err
			}
			r.sum.Events = &EventsReport{People: len(people)}
			if every := r.opt.Pipeline.Every("intercom", "events"); every > 0 {
				r.sum.Events.Every = short(every)
			}
		}
		if err := r.identityCounts(ctx); err != nil {
			return err
		}
	}
	var loadErr error
	if stages&Load != 0 {
		loadErr = r.timed("load", func() error { return r.load(ctx) })
		if loadErr != nil && !errors.Is(loadErr, ErrRejects) {
			return loadErr
		}
		// The load's chunks and requests are garbage now, and the commit
		// gets DuckDB's whole memory_limit back.
		debug.FreeOSMemory()
		if err := r.hook("after-load"); err != nil {
			return err
		}
	}
	if err := r.timed("commit", func() error { return r.commit(ctx, stages, loadErr) }); err != nil {
		return err
	}
	if err := r.hook("after-commit"); err != nil {
		return err
	}
	if r.opt.Targets != nil && stages&Load != 0 {
		if err := r.readBack(ctx); err != nil {
			// The next scheduled run reads them as any change.
			r.log.Warn("what the batch wrote was not read back", "err", err)
		}
	}
	return loadErr
}

// readBack, after a targeted run's load, reads the records it wrote back
// from both systems by id into current state (watermarks unmoved), as
// the echo run of a schedule would: the next batch then plans from what
// the targets hold, and does not send this one's writes again.
func (r *run) readBack(ctx context.Context) error {
	rows, err := r.st.DB.QueryContext(ctx, `SELECT DISTINCT target, object, result_id FROM ferry.ledger
		WHERE run_id = $1 AND status = 'done' AND result_id IS NOT NULL ORDER BY ALL`, r.id)
	if err != nil {
		return err
	}
	targets := map[string][]string{}
	for rows.Next() {
		var target, object, id string
		if err := rows.Scan(&target, &object, &id); err != nil {
			rows.Close()
			return err
		}
		if target == "salesforce" || target == "intercom" && object == "contacts" {
			targets[target+"."+object] = append(targets[target+"."+object], id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(targets) == 0 {
		return err
	}
	// What is read back lands as a run numbered after this one: the
	// run's own build came before it, and the next incremental build
	// must see these records as changed (transform.Fingerprint.Changes).
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	if _, err := r.st.DB.ExecContext(ctx, r.st.Stmt("NumberRun"), id.String()); err != nil {
		return fmt.Errorf("number the read back: %w", err)
	}
	named, caught := r.opt.Targets, r.catchUp
	r.opt.Targets, r.catchUp, r.landed, r.handed, r.readingBack, r.lineage = targets, nil, nil, nil, true, id.String()
	defer func() { r.opt.Targets, r.catchUp, r.readingBack, r.lineage = named, caught, false, "" }()
	return r.extract(ctx)
}

// lineageID is the run id recorded with what is extracted now.
func (r *run) lineageID() string {
	if r.lineage != "" {
		return r.lineage
	}
	return r.id
}

// LeadRequest is a teammate's request for a person's Salesforce Lead.
type LeadRequest struct {
	ContactID string // Intercom contact id
	AdminID   string // Intercom admin id of the teammate
	At        time.Time
}

// recordLeadRequests keeps the run's lead requests in
// ferry.lead_requests; a request already there (a batch run again) stays
// as first recorded.
func (r *run) recordLeadRequests(ctx context.Context) error {
	for _, q := range r.opt.LeadRequests {
		if _, err := r.st.DB.ExecContext(ctx, `INSERT INTO ferry.lead_requests VALUES ($1, nullif($2, ''), $3, $4) ON CONFLICT DO NOTHING`,
			q.ContactID, q.AdminID, q.At, r.id); err != nil {
			return fmt.Errorf("record the Lead requested for Intercom contact %s: %w", q.ContactID, err)
		}
	}
	return nil
}

// findCatchUp, before a targeted run's extraction, finds the objects
// holding writes no extraction has read back yet (a scheduled run's, or
// a batch's to an object it cannot read back by id, such as Intercom
// companies), or a write an interrupted run may have made. The models
// would otherwise merge what ferry wrote with what the object held
// before, and take the stale side for a change to send back. Those
// objects are extracted as a scheduled run would (from their watermark,
// which moves); the others only for the records named.
func (r *run) findCatchUp(ctx context.Context) error {
	r.catchUp = map[string]bool{}
	for _, src := range r.configured() {
		o := [2]string{src.System(), src.Object()}
		var unread, interrupted int64
		if err := r.st.DB.QueryRowContext(ctx, r.st.Stmt("UnreadWrites"), o[0], o[1], r.id).Scan(&unread, &interrupted); err != nil {
			return fmt.Errorf("writes not read back from %s.%s: %w", o[0], o[1], err)
		}
		if unread > 0 || interrupted > 0 {
			r.catchUp[o[0]+"."+o[1]] = true
			r.log.Info("extracted from its watermark too: ferry wrote to it since it was last read", "source", o[0], "object", o[1], "writes", unread, "interrupted_runs", interrupted)
		}
	}
	return nil
}

// ErrPlanLoaded refuses to load a plan a load already wrote.
var ErrPlanLoaded = errors.New("the plan was already loaded")

// planFresh refuses a load without a transform when the published plan
// was already loaded: sending it again would repeat its onboarding
// messages and overwrite what changed in either system since it was
// computed. A load that failed before committing did not mark the plan,
// so it can be run again; what it wrote is in the ledger.
func (r *run) planFresh(ctx context.Context) error {
	var builder, loader sql.NullString
	var built sql.NullTime
	err := r.st.DB.QueryRowContext(ctx, r.st.Stmt("PlanLoaded")).Scan(&builder, &built, &loader)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // no build recorded (a rebuild forgot it); ReadPlan decides
	}
	if err != nil {
		return fmt.Errorf("check the plan: %w", err)
	}
	if loader.Valid {
		return fmt.Errorf("%w: the plan built by run %s at %s was loaded by run %s; run `ferry run` (or `ferry extract`, then `ferry transform`) to plan from what both systems hold now",
			ErrPlanLoaded, builder.String, built.Time.UTC().Format(time.RFC3339), loader.String)
	}
	return nil
}

func (r *run) timed(stage string, fn func() error) error {
	start := r.opt.Now()
	err := fn()
	r.sum.Stages[stage] = r.opt.Now().Sub(start)
	r.logStage(stage, r.sum.Stages[stage])
	return err
}

// peakRSSMiB reads the process's peak resident memory from /proc (Linux).
// Not getrusage: its ru_maxrss keeps the high-water mark of the process
// that started ferry, which an exec does not reset, so ferry started by a
// large parent would report the parent's size.
func peakRSSMiB() (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
				return kb / 1024, true
			}
		}
	}
	return 0, false
}

// logStage logs a finished stage with what memory holds after it: the Go
// heap, what Go has taken from the OS, DuckDB's buffers, and the process's
// peak resident size so far (where a run's memory goes).
func (r *run) logStage(stage string, took time.Duration) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var duck sql.NullInt64
	r.st.DB.QueryRow("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").Scan(&duck)
	const mib = 1 << 20
	attrs := []any{"stage", stage, "elapsed", took.Round(time.Millisecond), "go_heap_mib", ms.HeapInuse / mib, "go_sys_mib", ms.Sys / mib, "duckdb_mib", duck.Int64 / mib}
	if peak, ok := peakRSSMiB(); ok {
		attrs = append(attrs, "peak_rss_mib", peak)
	}
	r.log.Info("stage finished", attrs...)
	r.opt.Pipes.Log("INFO", fmt.Sprintf("ferry %s: %s finished in %s", r.opt.Command, stage, took.Round(time.Millisecond)))
}

// salesforceRules turns load.salesforce.assignment_rules and
// duplicate_rules into the client's rule headers.
func salesforceRules(p *config.Pipeline) salesforceapi.Rules {
	r := salesforceapi.Rules{Assign: map[string]string{}, AllowSave: p.Load.Salesforce.DuplicateRules.AllowSave}
	for obj, v := range p.Load.Salesforce.AssignmentRules {
		switch v {
		case "none":
		case "default":
			r.Assign[obj] = "TRUE"
		default:
			r.Assign[obj] = v
		}
	}
	return r
}

// connect builds both clients and proves both credentials work before
// anything is read or written.
func (r *run) connect(ctx context.Context) error {
	p := r.opt.Pipeline
	ic, err := intercomapi.New(intercomapi.Options{BaseURL: p.Connections.Intercom.BaseURL, Region: p.Connections.Intercom.Region,
		Token: p.Connections.Intercom.AccessToken, Version: p.Connections.Intercom.APIVersion, HTTP: r.opt.HTTP, Logger: r.log, Now: r.opt.Now})
	if err != nil {
		return fmt.Errorf("intercom: %w", err)
	}
	if _, err := ic.Me(ctx); err != nil {
		if errors.Is(err, intercomapi.ErrUnauthorized) {
			return fmt.Errorf("intercom: the access token was refused (connections.intercom.access_token in %s): %w", p.Path, err)
		}
		return fmt.Errorf("intercom: cannot reach %s: %w", p.Connections.Intercom.BaseURL, err)
	}
	s := p.Connections.Salesforce
	sf, err := salesforceapi.New(salesforceapi.Options{LoginURL: s.LoginURL, Flow: s.Auth, ClientID: s.ClientID, ClientSecret: s.ClientSecret,
		Username: s.Username, PrivateKeyFile: s.PrivateKeyFile, Audience: s.Audience, AccessToken: s.AccessToken, InstanceURL: s.InstanceURL,
		APIVersion: s.APIVersion, HTTP: r.opt.HTTP, Logger: r.log, Now: r.opt.Now,
		Budget: salesforceapi.Budget{MaxCalls: s.Budget.MaxCallsPerRun, MinRemaining: s.Budget.MinDailyRemaining},
		Rules:  salesforceRules(p)})
	if err != nil {
		return fmt.Errorf("salesforce: %w", err)
	}
	if err := sf.Authenticate(ctx); err != nil {
		if errors.Is(err, salesforceapi.ErrAuth) {
			return fmt.Errorf("salesforce: authentication (%s flow) was refused (connections.salesforce in %s): %w", s.Auth, p.Path, err)
		}
		return fmt.Errorf("salesforce: %w", err)
	}
	r.ic, r.sf = ic, sf
	return nil
}

func (r *run) selected(system, object string) bool {
	if r.opt.Targets != nil {
		return len(r.opt.Targets[system+"."+object]) > 0 || r.catchUp[system+"."+object]
	}
	if len(r.opt.Objects) == 0 {
		return true
	}
	for _, o := range r.opt.Objects {
		if strings.EqualFold(o, system+"."+object) {
			return true
		}
	}
	return false
}

// sources lists the configured sources the run selects, in a fixed
// order.
func (r *run) sources() []extract.Source {
	var out []extract.Source
	for _, src := range r.configured() {
		if r.selected(src.System(), src.Object()) {
			out = append(out, src)
		}
	}
	return out
}

// configured lists every source the pipeline file configures, in a fixed
// order.
func (r *run) configured() []extract.Source {
	p := r.opt.Pipeline
	var out []extract.Source
	for _, name := range config.IntercomObjects {
		if _, ok := p.Extract.Intercom[name]; ok {
			src := &intercomextract.Source{Client: r.ic, Name: name}
			if name == "events" {
				src.People = r.onboardingPeople
			}
			out = append(out, src)
		}
	}
	// Relationship paths the mappings read (Owner.Email) must be selected.
	extra := map[string][]string{}
	for _, f := range p.Sync.People.Fields {
		if strings.Contains(f.Salesforce, ".") {
			extra["Lead"] = append(extra["Lead"], f.Salesforce)
			extra["Contact"] = append(extra["Contact"], f.Salesforce)
		}
	}
	for _, f := range p.Sync.Companies.Fields {
		if strings.Contains(f.Salesforce, ".") {
			extra["Account"] = append(extra["Account"], f.Salesforce)
		}
	}
	for _, name := range config.SalesforceObjects {
		if o, ok := p.Extract.Salesforce[name]; ok {
			out = append(out, &salesforceextract.Source{Client: r.sf, Name: name, Extra: append(append([]string{}, o.Fields...), extra[name]...)})
		}
	}
	return out
}

func (r *run) extract(ctx context.Context) error {
	if r.opt.Targets != nil && !r.readingBack {
		if err := r.findCatchUp(ctx); err != nil {
			return err
		}
	}
	srcs := r.sources()
	if len(srcs) == 0 {
		return fmt.Errorf("nothing to extract: no configured object matches --object %s", strings.Join(r.opt.Objects, ","))
	}
	sfObjects := 0
	for _, s := range srcs {
		if s.System() == "salesforce" {
			sfObjects++
		}
	}
	if err := r.checkExtractBudget(ctx, sfObjects); err != nil {
		return err
	}
	if sfObjects > 0 {
		// describe + at least one page per object (+1 for /limits).
		if err := r.sf.Reserve(ctx, sfObjects*3); err != nil {
			return fmt.Errorf("salesforce: %w", err)
		}
	}
	landing := filepath.Join(r.opt.DataDir, "landing")
	upper := r.opt.Now().UTC().Add(-r.opt.Pipeline.Extract.UpperBoundLag.Duration).Truncate(time.Second)
	// The two systems are read at once, each object after the other: the
	// reads wait on different servers, and each system's own budget and
	// rate limit stay paced by its one client.
	results := make([]*extracted, len(srcs))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for _, system := range []string{"intercom", "salesforce"} {
		wg.Go(func() {
			for i, src := range srcs {
				if src.System() != system || ctx.Err() != nil {
					continue
				}
				res, err := r.extractSource(ctx, src, landing, upper)
				if err != nil {
					cancel(err)
					return
				}
				if r.opt.Targets != nil {
					results[i] = res
					continue
				}
				// Deletes are looked for on their own schedule, also
				// for an object whose extraction is not due. A failed
				// search stops nothing: what was extracted is right, and
				// the search is due again next run (its checks are not
				// advanced).
				res.deletes, res.deletesErr = r.findDeletes(ctx, src, res.res.File)
				if res.deletesErr != nil && ctx.Err() != nil {
					cancel(context.Cause(ctx))
					return
				}
				results[i] = res
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	for i, src := range srcs {
		for e := results[i]; e != nil; e = e.also {
			if err := r.record(ctx, src, e); err != nil {
				return err
			}
		}
	}
	var dels []objectDeletes
	for i, src := range srcs {
		if results[i] != nil {
			dels = append(dels, objectDeletes{src.System(), src.Object(), results[i].deletes})
		}
	}
	if r.opt.HandOff != nil {
		return r.handOff(ctx, dels)
	}
	if err := r.commitExtract(ctx, dels, nil); err != nil {
		return err
	}
	// What the extraction cost in API calls is not spent again by a
	// worker that takes over after this one dies.
	if r.sum.Landed > 0 || len(r.sum.Deleted) > 0 {
		return r.save(ctx, false)
	}
	return nil
}

// extracted is what reading one source gave.
type extracted struct {
	skipped    bool // not due (every:)
	mode       string
	window     extract.Window
	old        state.Watermark
	res        extract.Result
	deletes    *deleteSearch // nil: not looked for
	deletesErr error         // the search for deletes failed
	also       *extracted    // a second read of the object in this run (by id)
}

// extractSource reads src's window into a landing file; in a targeted
// run, the records named by id, and from the watermark too when src is
// caught up (findCatchUp).
func (r *run) extractSource(ctx context.Context, src extract.Source, landing string, upper time.Time) (*extracted, error) {
	key := src.System() + "." + src.Object()
	caughtUp := r.opt.Targets != nil && r.catchUp[key]
	e, err := r.extractOne(ctx, src, landing, upper, r.opt.Targets != nil && !caughtUp)
	if err != nil || !caughtUp || len(r.opt.Targets[key]) == 0 {
		return e, err
	}
	// Read from the watermark, an object stops at the window's upper
	// bound, behind now by the pipeline's lags: a record a notification
	// names may have changed since. It is read by id as well.
	e.also, err = r.extractOne(ctx, src, landing, upper, true)
	return e, err
}

// extractOne reads src's window, or with byID the records the run's
// Targets name, into a landing file.
func (r *run) extractOne(ctx context.Context, src extract.Source, landing string, upper time.Time, byID bool) (*extracted, error) {
	old, err := r.st.Watermark(ctx, r.st.DB, src.System(), src.Object())
	if err != nil {
		return nil, err
	}
	w := extract.Window{Upper: upper}
	key := src.System() + "." + src.Object()
	check := func(cols []extract.Column) error {
		return r.st.CheckColumns(ctx, r.id, src.System(), src.Object(), cols)
	}
	if byID {
		if t, ok := src.(extract.TargetedSource); !ok || !t.Targeted() {
			return nil, fmt.Errorf("%s cannot be read by id", key)
		}
		w.IDs = r.opt.Targets[key]
		res, err := extract.Run(ctx, src, w, landing, r.lineageID(), r.opt.Now, r.log, check)
		mode := "targeted"
		if r.readingBack {
			mode = "readback"
		}
		return &extracted{mode: mode, window: w, old: old, res: res}, err
	}
	if r.opt.Targets == nil {
		if skip, err := r.notDue(ctx, src); err != nil || skip {
			return &extracted{skipped: true}, err
		}
	}
	mode := "incremental"
	switch {
	case r.opt.FullRefresh:
		mode = "full_refresh"
	case !r.opt.Since.IsZero():
		mode, w.Lower = "since", r.opt.Since.UTC()
	case !old.TS.IsZero():
		w.Lower = old.TS.Add(-r.opt.Pipeline.Lookback(src.System(), src.Object()))
		// The lookback re-reads what earlier runs landed; versions
		// current state already holds are dropped, not landed again.
		// (--full-refresh and --since re-land everything they read.)
		if !extract.IsSnapshot(src) {
			have, n, err := r.st.Versions(ctx, src.System(), src.Object(), w.Lower)
			if err != nil {
				return nil, err
			}
			w.Have = have
			r.log.Debug("versions within the lookback", "source", src.System(), "object", src.Object(), "records", n)
		}
	}
	res, err := extract.Run(ctx, src, w, landing, r.lineageID(), r.opt.Now, r.log, check)
	if err != nil {
		return nil, err
	}
	// A snapshot equal to current state lands nothing, as a lookback's
	// re-read rows do not.
	if extract.IsSnapshot(src) && res.File != "" && mode == "incremental" {
		same, err := r.st.SnapshotUnchanged(ctx, src.System(), src.Object(), res.File)
		if err != nil {
			return nil, err
		}
		if same {
			if err := os.Remove(res.File); err != nil {
				return nil, fmt.Errorf("%s.%s: drop the unchanged snapshot: %w", src.System(), src.Object(), err)
			}
			res.File, res.Unchanged = "", res.Rows
		}
	}
	return &extracted{mode: mode, window: w, old: old, res: res}, nil
}

// record notes what extracting src gave in the run's summary, its landing
// files and its next watermark, and logs it in ferry.extracts.
func (r *run) record(ctx context.Context, src extract.Source, e *extracted) error {
	key := src.System() + "." + src.Object()
	if e.deletesErr != nil {
		r.log.Warn(fmt.Sprintf("%s: deletes not looked for: %v (due again next run)", src.Object(), e.deletesErr), "source", src.System(), "object", src.Object())
		r.sum.DeletesUnchecked = append(r.sum.DeletesUnchecked, key+": "+e.deletesErr.Error())
	}
	if e.skipped {
		r.sum.Skipped = append(r.sum.Skipped, key)
		return nil
	}
	res, w, old := e.res, e.window, e.old
	if res.File != "" {
		r.sum.Landed++
		r.landed = append(r.landed, landed{system: src.System(), object: src.Object(), file: res.File})
		r.sum.Files[key] = res.File
	}
	r.sum.Extracted[key] += res.Rows
	if e.deletes != nil {
		res.Requests += e.deletes.requests
	}
	r.results = append(r.results, res)
	if res.Unchanged > 0 {
		r.sum.Unchanged[key] = res.Unchanged
	}
	next := extract.Watermark{TS: old.TS, ID: old.ID}
	// A read by id says nothing of the records between the watermark and
	// the window's upper bound: the watermark stays.
	byID := e.mode == "targeted" || e.mode == "readback"
	if res.Max.After(next) && !byID {
		next = res.Max
	}
	// The source returned everything changed up to the window's upper
	// bound, so the watermark may stand there even when nothing
	// changed: a quiet object's next window starts at upper − lookback,
	// not at its last change − lookback, and a quiet run reads nothing.
	if up := (extract.Watermark{TS: w.Upper}); !extract.IsSnapshot(src) && up.After(next) && !byID {
		next = up
	}
	if !next.TS.IsZero() && !byID {
		r.wm[[2]string{src.System(), src.Object()}] = next
	}
	files, _ := json.Marshal([]string{res.File})
	var lower any
	if !w.Lower.IsZero() {
		lower = w.Lower
	}
	r.handed = append(r.handed, handedObject{System: src.System(), Object: src.Object(), Mode: e.mode, Lower: w.Lower, Upper: w.Upper, Rows: res.Rows, Unchanged: res.Unchanged, Requests: res.Requests, File: res.File})
	if _, err := r.st.DB.ExecContext(ctx, r.st.Stmt("InsertExtract"), r.id, src.System(), src.Object(), e.mode, lower, w.Upper, res.Rows, string(files), res.Requests); err != nil {
		return fmt.Errorf("record extract: %w", err)
	}
	return nil
}

// objectDeletes is what looking for one object's deletes gave (nil: not
// looked for).
type objectDeletes struct {
	system, object string
	search         *deleteSearch
}

// landed is one landing file of this run, to merge into current state.
type landed struct {
	system, object, file string
}

// commitExtract merges this run's landing files into current state and
// advances the watermarks, in one transaction: current state never lacks
// a row below a committed watermark, and a run killed before this point
// leaves both as they were (its landing files are re-read next run, and
// merging a version twice changes nothing).
func (r *run) commitExtract(ctx context.Context, dels []objectDeletes, also func(*sql.Tx) error) error {
	tx, err := r.st.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, l := range r.landed {
		if err := state.Merge(ctx, tx, r.lineageID(), l.system, l.object, l.file, ObjectKind(l.system, l.object)); err != nil {
			return err
		}
	}
	// Deletes found now or by loads since the last extraction land as
	// tombstones after the extraction, so each is compared with the
	// latest version held.
	for _, d := range dels {
		if err := r.recordDeletes(ctx, tx, d.system, d.object, d.search); err != nil {
			return err
		}
	}
	if also != nil {
		if err := also(tx); err != nil {
			return err
		}
	}
	if err := r.landTombstones(ctx, tx); err != nil {
		return err
	}
	now := r.opt.Now().UTC()
	keys := make([][2]string, 0, len(r.wm))
	for k := range r.wm {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	for _, k := range keys {
		w := r.wm[k]
		if _, err := tx.ExecContext(ctx, r.st.Stmt("UpsertWatermark"), k[0], k[1], w.TS, w.ID, r.id, now); err != nil {
			return fmt.Errorf("commit watermark %s.%s: %w", k[0], k[1], err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit extraction: %w", err)
	}
	return nil
}

// notDue reports whether src has an `every` refresh interval and was last
// extracted, by a run that succeeded, less than that long ago; such an
// object is skipped and keeps its watermark. --full-refresh, --since and
// --object ask for the object explicitly and are never skipped. Nor is an
// object ferry has written to since that extraction, or may have (a run
// since was killed before flushing its ledger): its landed copy would show
// ferry's own writes undone, which the field merge would take for a change
// made in the source system and write back.
func (r *run) notDue(ctx context.Context, src extract.Source) (bool, error) {
	every := r.opt.Pipeline.Every(src.System(), src.Object())
	if every <= 0 || r.opt.FullRefresh || !r.opt.Since.IsZero() || len(r.opt.Objects) > 0 {
		return false, nil
	}
	var last sql.NullTime
	var writes, interrupted int64
	if err := r.st.DB.QueryRowContext(ctx, r.st.Stmt("LastExtract"), src.System(), src.Object(), r.id).Scan(&last, &writes, &interrupted); err != nil {
		return false, fmt.Errorf("last extract of %s.%s: %w", src.System(), src.Object(), err)
	}
	age := r.opt.Now().Sub(last.Time)
	if !last.Valid || age >= every || writes > 0 || interrupted > 0 {
		return false, nil
	}
	r.log.Info(fmt.Sprintf("%s: refreshed %s ago, every %s: skipped", src.Object(), short(age), short(every)), "source", src.System(), "object", src.Object())
	return true, nil
}

// short renders a duration without trailing zero units: 12m, 1h, 1h5m.
func short(d time.Duration) string {
	s := d.Round(time.Second).String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}

// incrementalFloor is how many changed records always build incrementally,
// whatever their share.
const incrementalFloor = 50_000

// models reads the shipped models, those the pipeline's rules generate
// and those its syncs name, in build order.
func (r *run) models() ([]transform.Model, error) { return Models(r.opt) }

// Models reads the models a run of opt builds, in build order: the models
// tree's, those the pipeline's rules generate and those its syncs name.
// The enabled shipped workflows' syncs join the pipeline's.
func Models(opt Options) ([]transform.Model, error) {
	if err := opt.Pipeline.AddShipped(transform.ShippedSyncs(opt.Models, opt.ModelsRoot, opt.Pipeline)); err != nil {
		return nil, err
	}
	vars := transform.PipelineVars(opt.Pipeline)
	syncModels, err := transform.SyncModels(opt.Pipeline, vars)
	if err != nil {
		return nil, err
	}
	return transform.LoadVars(opt.Models, opt.ModelsRoot, vars, append(transform.RuleModels(opt.Pipeline), syncModels...)...)
}

// test runs the model tests against the built models and reports them. A
// failing test of a model a sync reads, directly or through the models it
// reads, stops a run that would load (loading is set) before any write:
// the load would carry what the test caught.
func (r *run) test(ctx context.Context, loading bool) error {
	models, err := r.models()
	if err != nil {
		return err
	}
	tests, err := transform.LoadTests(r.opt.Models, r.opt.ModelsRoot, transform.PipelineVars(r.opt.Pipeline), models)
	if err != nil {
		return err
	}
	results, err := transform.RunTests(ctx, r.st.DB, tests)
	if err != nil {
		return err
	}
	r.sum.Tests = results
	feeds := map[string]string{} // model -> a sync reading it
	r.feeds = feeds
	for _, s := range r.opt.Pipeline.Syncs {
		for m := range transform.Ancestors(models, s.ModelName()) {
			if _, ok := feeds[m]; !ok {
				feeds[m] = s.Name
			}
		}
	}
	var stop []transform.TestResult
	for _, res := range results {
		if res.Failures == 0 {
			continue
		}
		r.log.Warn("model test failed", "model", res.Model, "test", res.Name, "at", res.At, "failures", res.Failures, "sample", strings.Join(res.Sample, " | "))
		if _, ok := feeds[res.Model]; ok {
			stop = append(stop, res)
		}
	}
	if len(stop) == 0 || !loading {
		return nil
	}
	return &TestsError{Failed: stop, Syncs: feeds}
}

// ErrTests matches a TestsError.
var ErrTests = errors.New("a model test failed")

// TestsError stops a load: tests failed on models syncs read.
type TestsError struct {
	Failed []transform.TestResult
	Syncs  map[string]string // model -> a sync reading it
}

func (e *TestsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d model tests failed on models that syncs read; nothing was written:", len(e.Failed))
	for _, res := range e.Failed {
		fmt.Fprintf(&b, "\n  %s: model %s (read by sync %s), test %s: %d failing rows", res.At, res.Model, e.Syncs[res.Model], res.Name, res.Failures)
		for _, row := range res.Sample {
			fmt.Fprintf(&b, "\n    %s", row)
		}
	}
	return b.String()
}

func (e *TestsError) Unwrap() error { return ErrTests }

// sqlHash is a digest of a model's SQL (headers and comments aside).
func sqlHash(m transform.Model) string {
	h := sha256.Sum256([]byte(m.SQL))
	return hex.EncodeToString(h[:8])
}

// modelsChanged names the models whose SQL differs from the published
// build's, sorted; none when no build was recorded.
func (r *run) modelsChanged(ctx context.Context, models []transform.Model) ([]string, error) {
	rows, err := r.st.DB.QueryContext(ctx, "SELECT model, sql_hash FROM ferry.model_sql")
	if err != nil {
		return nil, fmt.Errorf("models built before: %w", err)
	}
	defer rows.Close()
	built := map[string]string{}
	for rows.Next() {
		var name, hash string
		if err := rows.Scan(&name, &hash); err != nil {
			return nil, err
		}
		built[name] = hash
	}
	if err := rows.Err(); err != nil || len(built) == 0 {
		return nil, err
	}
	var out []string
	for _, m := range models {
		switch h, ok := built[m.Name]; {
		case !ok:
			out = append(out, m.Name+" (new)")
		case h != sqlHash(m):
			out = append(out, m.Name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// modelRetried logs a model table built a second time because DuckDB ran
// out of memory_limit the first (transform.BuildOptions.Retried).
func (r *run) modelRetried(m transform.Model, err error) {
	r.log.Warn("model built again: DuckDB ran out of memory_limit (transform.memory_limit) the first time", "model", m.Name, "err", err)
}

// ErrSelect matches a --select naming no model.
var ErrSelect = errors.New("bad selection")

// buildSelected builds the models --select names, in full, keeping the
// others' published rows, and compiles the syncs. It records no model
// build: the next run's build compares its inputs with the last full one's.
func (r *run) buildSelected(ctx context.Context, models []transform.Model) error {
	only, err := transform.Select(models, r.opt.Select)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSelect, err)
	}
	took := map[string]time.Duration{}
	opt := transform.BuildOptions{Only: only, Retried: r.modelRetried, Took: func(m transform.Model, d time.Duration, _ bool) {
		took[m.Name] = d
		r.log.Debug("model built", "model", m.Name, "elapsed", d.Round(time.Millisecond))
	}}
	if err := transform.Build(ctx, r.st.DB, models, opt); err != nil {
		return err
	}
	if err := transform.CompileSyncs(ctx, r.st.DB, r.opt.Pipeline); err != nil {
		return err
	}
	// The published models no longer are the recorded build's: the next
	// build is a full one, and `ferry load` refuses this one's plan.
	if _, err := r.st.DB.ExecContext(ctx, "UPDATE ferry.model_builds SET inputs = '', structure = '', loaded_by = $1",
		"none: `ferry transform --select` (run "+r.id+") built some models only, which is no plan to load"); err != nil {
		return fmt.Errorf("record the selection: %w", err)
	}
	r.modelDur = took
	r.log.Info("selected models built", "select", r.opt.Select, "models", len(took))
	return nil
}

func (r *run) transform(ctx context.Context) error {
	if err := transform.Prepare(ctx, r.st.DB, filepath.Join(r.opt.DataDir, "landing"), r.opt.Pipeline); err != nil {
		return err
	}
	models, err := r.models()
	if err != nil {
		return err
	}
	if r.sum.ModelsChanged, err = r.modelsChanged(ctx, models); err != nil {
		return err
	}
	if r.opt.Select != "" {
		return r.buildSelected(ctx, models)
	}
	// The declared syncs' outbound views are compiled after the models,
	// whether or not these were built again (they read the models and
	// current state, and the pipeline file may have changed them), and
	// before the build is recorded: a build whose syncs do not compile is
	// not a plan `ferry load` may take.
	t0 := time.Now()
	fp, err := transform.Inputs(ctx, r.st.DB, models)
	if err != nil {
		return err
	}
	r.log.Debug("model inputs fingerprinted", "elapsed", time.Since(t0).Round(time.Millisecond))
	var lastInputs, lastStructure string
	var lastSeq sql.NullInt64
	if err := r.st.DB.QueryRowContext(ctx, r.st.Stmt("LastModelBuild")).Scan(&lastInputs, &lastStructure, &lastSeq); err != nil {
		return fmt.Errorf("last model build: %w", err)
	}
	published := transform.Published(ctx, r.st.DB, models)
	if fp.Inputs != "" && !r.opt.RebuildModels && lastInputs == fp.Inputs && published {
		r.log.Info("models up to date: nothing they read has changed since the last build", "models", len(models))
		return transform.CompileSyncs(ctx, r.st.DB, r.opt.Pipeline)
	}
	// A build follows the records that changed since the published one
	// unless what it cannot follow changed: the models, the settings, the
	// raw columns, or inputs it cannot fingerprint.
	opt := transform.BuildOptions{}
	full := ""
	switch {
	case r.opt.RebuildModels:
		full = "--rebuild-models"
	case fp.Inputs == "":
		full = "a model reads landing files, the clock or random values"
	case !published || !lastSeq.Valid:
		full = "no published build to start from"
	case lastStructure != fp.Structure:
		full = "the models, the pipeline's settings or the raw columns changed"
	}
	if full == "" {
		// An incremental build deletes and inserts the changed rows of the
		// published tables in place, in one transaction when it publishes:
		// past a share of the records, a full build (new tables) is both
		// cheaper and bounded. At 1,000,000 contacts, the run after the
		// echo run changed millions of ids and an incremental build ran out
		// of memory.
		changed, records, err := fp.Scope(ctx, r.st.DB, lastSeq.Int64)
		if err != nil {
			return err
		}
		if changed > max(records/10, incrementalFloor) {
			full = fmt.Sprintf("%d changed records of %d: more than a tenth", changed, records)
		}
	}
	if full == "" {
		opt.Changed = fp.Changes(lastSeq.Int64)
		landed, err := fp.Landed(ctx, r.st.DB, lastSeq.Int64)
		if err != nil {
			return err
		}
		// Objects read whole change as a whole (BuildOptions.Whole); models
		// whose inputs did not change are kept (BuildOptions.Unchanged).
		snapshots := map[string]bool{}
		for _, o := range transform.Objects() {
			snapshots["raw."+o.Table] = SnapshotObject(o.System, o.Object)
		}
		for t, l := range landed {
			if l && snapshots[t] {
				opt.Whole = append(opt.Whole, t)
			}
			if !l {
				opt.Unchanged = append(opt.Unchanged, t)
			}
		}
		sort.Strings(opt.Whole)
	} else {
		r.log.Info("building every model in full", "reason", full)
	}
	incremental, kept := 0, 0
	took := map[string]time.Duration{}
	opt.Took = func(m transform.Model, d time.Duration, inc bool) {
		if inc {
			incremental++
		}
		took[m.Name] = d
		r.log.Debug("model built", "model", m.Name, "elapsed", d.Round(time.Millisecond), "incremental", inc)
	}
	opt.Warn = func(err error) {
		r.log.Warn("models published, but old generations were not all dropped; the next build tries again", "err", err)
	}
	opt.Kept = func(m transform.Model) {
		kept++
		r.log.Debug("model kept: its inputs did not change", "model", m.Name)
	}
	opt.Retried = r.modelRetried
	if err := transform.Build(ctx, r.st.DB, models, opt); err != nil {
		return err
	}
	r.modelDur = took // published: what Dagster and lineage are told of
	if err := transform.CompileSyncs(ctx, r.st.DB, r.opt.Pipeline); err != nil {
		return err
	}
	tx, err := r.st.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "DELETE FROM ferry.model_builds"); err != nil {
		return fmt.Errorf("record model build: %w", err)
	}
	if _, err := tx.ExecContext(ctx, r.st.Stmt("RecordModelBuild"), fp.Inputs, r.id, r.opt.Now().UTC(), fp.Structure); err != nil {
		return fmt.Errorf("record model build: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM ferry.model_sql"); err != nil {
		return fmt.Errorf("record model build: %w", err)
	}
	for _, m := range models {
		if _, err := tx.ExecContext(ctx, "INSERT INTO ferry.model_sql VALUES ($1, $2)", m.Name, sqlHash(m)); err != nil {
			return fmt.Errorf("record model build: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record model build: %w", err)
	}
	r.log.Info("models built", "models", len(models)-kept, "incremental", incremental, "kept", kept)
	return nil
}

func (r *run) identityCounts(ctx context.Context) error {
	rows, err := r.st.DB.QueryContext(ctx, "SELECT metric, value FROM main.sync_summary")
	if err != nil {
		return fmt.Errorf("read sync_summary: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var v int64
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		r.sum.Identity[k] = v
	}
	return rows.Err()
}

func (r *run) sfSink(ledger *load.Ledger) *salesforceload.Sink {
	p := r.opt.Pipeline
	return &salesforceload.Sink{Client: r.sf, CollectionsMax: p.Load.Salesforce.CollectionsMax, BulkMaxBytes: p.Load.Salesforce.BulkMaxBytes, Poll: p.Load.Salesforce.PollInterval.Duration,
		SpoolDir: filepath.Join(r.opt.DataDir, "tmp"), Ledger: ledger, State: r.st, RunID: r.id, Now: r.opt.Now, Log: r.log, Hook: r.opt.Hook}
}

// loadMemoryShare divides transform.memory_limit for the load's writes.
const loadMemoryShare = 4

// load writes the plan, sync by sync. Records are read from the syncs'
// outbound views a chunk at a time and the ledger and rejects are saved
// after each chunk, so that memory holds one chunk whatever the plan's
// size. What stays in memory for a while: the ids a create's write_back
// sends (bounded by the creates). Records that refer to ones created
// earlier in the run find their ids in the ledger, a chunk at a time.
func (r *run) load(ctx context.Context) (err error) {
	p := r.opt.Pipeline
	plan := r.plan
	out := load.NewOutcome()
	out.KeepIDs = map[string]bool{} // none: the ledger has every id a later write needs
	// Records found gone are recorded as deletes in the run's commit,
	// whatever stopped the load.
	defer func() { r.gone = out.Gone; r.sum.Gone = len(out.Gone) }()
	// The plan's records, for the sync log the commit writes.
	if _, err := r.st.DB.ExecContext(ctx, r.st.Stmt("ClearSyncLogStaged")); err != nil {
		return fmt.Errorf("sync log: %w", err)
	}
	if err := plan.Stage(ctx, r.id); err != nil {
		return fmt.Errorf("sync log: %w", err)
	}
	// From here DuckDB reads the plan's chunks and appends the ledger:
	// a quarter of transform.memory_limit does, and the plan's table
	// spills (state.ShrinkMemory). The commit gets it all back.
	restore, err := r.st.ShrinkMemory(ctx, loadMemoryShare)
	if err != nil {
		// DuckDB could not give the memory back: the load goes on with it.
		r.log.Warn("the load keeps DuckDB's whole memory_limit", "err", err)
		restore = func(context.Context) error { return nil }
	}
	defer func() {
		rerr := restore(context.WithoutCancel(ctx))
		switch {
		case rerr == nil:
		case err != nil: // not joined: a run with rejects would go on to commit
			err = fmt.Errorf("%w (the load had stopped: %s)", rerr, err)
		default:
			err = rerr
		}
	}()
	ledger := load.NewLedger(r.st, r.id, r.opt.Now)
	// What is still buffered when the load stops early (an error, a
	// cancelled run) is appended all the same, and a failure to append it
	// fails the run: the ledger is what keeps a later run from writing
	// twice.
	defer func() {
		if ferr := ledger.Flush(context.WithoutCancel(ctx)); ferr != nil {
			// Not joined: a run with rejects would go on to commit.
			if err != nil {
				err = fmt.Errorf("ledger: %w (the load had stopped: %s)", ferr, err)
			} else {
				err = fmt.Errorf("ledger: %w", ferr)
			}
		}
	}()
	ic := &intercomload.Sink{Client: r.ic, Concurrency: p.Load.Intercom.MaxConcurrency, Ledger: ledger, Log: r.log,
		SearchLag: p.Load.Intercom.SearchLag.Duration, Now: r.opt.Now}
	sf := r.sfSink(ledger)
	unmapped, err := r.mappingRejects(ctx)
	if err != nil {
		return err
	}
	if plan.Writes() == 0 && len(unmapped) == 0 {
		r.log.Info("nothing to write: both systems agree")
		return nil
	}
	calls := 0
	for _, s := range p.Syncs {
		calls += r.syncCalls(s)
	}
	if err := r.sf.Reserve(ctx, calls+1); err != nil {
		return fmt.Errorf("salesforce: %w", err)
	}
	// The custom data attributes the writes name are created when missing,
	// for the syncs that ask for it (create_attributes).
	for _, s := range p.Syncs {
		if !s.CreateAttributes || plan.Count(syncSource(s), "") == 0 {
			continue
		}
		fields, err := r.syncFields(ctx, s)
		if err != nil {
			return err
		}
		attrs := map[string]string{}
		for _, f := range fields {
			if name, ok := strings.CutPrefix(f.Field, "custom_attributes."); ok {
				attrs[name] = cmp.Or(f.Type, "string")
			}
		}
		model := map[string]string{"contacts": "contact", "companies": "company"}[s.Object()]
		if err := ic.EnsureAttributes(ctx, model, attrs); err != nil {
			return fmt.Errorf("intercom: %w", err)
		}
	}
	rejects := 0
	// saved appends the ledger rows and rejects a chunk produced.
	saved := func() error {
		if err := ledger.Flush(ctx); err != nil {
			return err
		}
		out.ForgetIDs()
		rej := out.TakeRejects()
		rejects += len(rej)
		return load.SaveRejects(ctx, r.st, r.id, rej)
	}
	// each calls write with src's records of object chunk by chunk.
	each := func(src load.Source, object string, write func([]load.Record) error) error {
		for recs, err := range plan.Chunks(ctx, src, object) {
			if err != nil {
				return err
			}
			if err := write(recs); err != nil {
				return err
			}
			if err := saved(); err != nil {
				return err
			}
		}
		return nil
	}
	// The crash tests' step after-intercom-load: before the first
	// Salesforce write, the Intercom writes ahead of it done.
	intercomDone := false
	afterIntercom := func() error {
		if intercomDone {
			return nil
		}
		intercomDone = true
		return r.hook("after-intercom-load")
	}
	// sfEach writes src's records of obj: chunk by chunk through
	// Collections when there are few, else through Bulk jobs that span the
	// chunks (one per object and operation unless the CSV passes
	// bulk_max_bytes). prep, when set, prepares each chunk first.
	started := map[string]time.Time{} // "op object" -> its first Bulk job's creation (Salesforce's clock)
	sfEach := func(src load.Source, obj string, prep func([]load.Record) ([]load.Record, error)) error {
		if err := afterIntercom(); err != nil {
			return err
		}
		write := func(recs []load.Record) error {
			switch src.Op {
			case "update":
				return sf.Update(ctx, obj, recs, out)
			case "delete":
				return sf.Delete(ctx, obj, recs, out)
			}
			return sf.Upsert(ctx, obj, recs[0].Alt, recs, out)
		}
		if plan.Count(src, obj) <= p.Load.Salesforce.CollectionsMax {
			return each(src, obj, func(recs []load.Record) error {
				if prep != nil {
					var err error
					if recs, err = prep(recs); err != nil || len(recs) == 0 {
						return err
					}
				}
				return write(recs)
			})
		}
		fields, err := plan.Fields(ctx, src, obj)
		if err != nil {
			return err
		}
		var w *salesforceload.BulkWriter
		defer func() {
			if w != nil {
				w.Discard() // stopped early: what is spooled is not sent
			}
		}()
		for recs, err := range plan.Chunks(ctx, src, obj) {
			if err == nil && prep != nil {
				recs, err = prep(recs)
			}
			if err != nil {
				return err
			}
			if len(recs) == 0 {
				continue
			}
			if w == nil {
				key := "Id"
				if src.Op == "upsert" {
					key = recs[0].Alt
				}
				w = sf.Bulk(obj, src.Op, key, fields, out)
			}
			if err := w.Add(ctx, recs); err != nil {
				return err
			}
		}
		if w != nil {
			err := w.Close(ctx)
			started[src.Op+" "+obj] = w.Started()
			if w = nil; err != nil {
				return err
			}
		}
		return saved()
	}
	// The syncs, in order: ferry's own first (config.Pipeline.AddShipped),
	// so that a later one may name the records an earlier one creates.
	for _, s := range p.Syncs {
		src := syncSource(s)
		var err error
		switch {
		case s.System() == "intercom" && s.Object() == "contacts" && s.Operation == "create":
			err = each(src, "", func(recs []load.Record) error { return ic.CreateContacts(ctx, recs, out) })
			if err == nil && s.WriteBack != nil {
				if err = afterIntercom(); err == nil {
					err = r.writeBack(ctx, s, ledger, sf, out)
				}
				if err == nil {
					err = saved()
				}
			}
		case s.System() == "intercom" && s.Object() == "contact_companies":
			err = each(src, "", func(recs []load.Record) error {
				recs, err := resolvePending(ctx, recs, ledger, "intercom.contacts", false)
				if err != nil {
					return err
				}
				return ic.Attach(ctx, recs, out)
			})
		case s.System() == "intercom" && s.Object() == "contact_tags":
			err = each(src, "", func(recs []load.Record) error { return ic.TagContacts(ctx, recs, out) })
		case s.System() == "intercom" && s.Object() == "companies" && s.Operation == "update":
			err = each(src, "", func(recs []load.Record) error { return ic.UpdateCompanies(ctx, recs, out) })
		case s.System() == "intercom" && s.Object() == "companies":
			err = each(src, "", func(recs []load.Record) error { return ic.UpsertCompanies(ctx, recs, out) })
		case s.System() == "intercom" && s.Object() == "messages":
			err = each(src, "", func(recs []load.Record) error { return ic.SendMessages(ctx, recs, out) })
		case s.System() == "intercom" && s.Object() == "conversation_notes":
			err = each(src, "", func(recs []load.Record) error {
				recs, err := resolvePending(ctx, recs, ledger, "", true)
				if err != nil {
					return err
				}
				return ic.AddNotes(ctx, recs, out)
			})
		case s.System() == "salesforce":
			since := r.opt.Now()
			err = sfEach(src, s.Object(), func(recs []load.Record) ([]load.Record, error) {
				keyObject := ""
				if s.WriteOp() == "update" {
					keyObject = s.Object()
				}
				return resolvePending(ctx, recs, ledger, keyObject, false)
			})
			if err == nil && s.ReadBack {
				if t := started[src.Op+" "+s.Object()]; !t.IsZero() {
					since = t // Salesforce's clock: no margin for skew needed
				} else {
					since = since.Add(-readBackSkew) // ferry's clock
				}
				if err = r.syncBack(ctx, s, since, ledger, out, ic); err == nil {
					err = saved()
				}
			}
		default:
			err = each(src, "", func(recs []load.Record) error { return ic.UpdateContacts(ctx, recs, out) })
		}
		if err != nil {
			return fmt.Errorf("sync %s: %w", s.Name, err)
		}
	}
	if err := afterIntercom(); err != nil {
		return err
	}
	if len(unmapped) > 0 {
		r.log.Warn("values a value map cannot translate were not written; they are listed with the rejects", "fields", len(unmapped))
		if err := load.SaveRejects(ctx, r.st, r.id, unmapped); err != nil {
			return err
		}
		rejects += len(unmapped)
	}
	r.sum.Written = out.Written
	r.sum.Rejects = rejects
	if rejects == 0 {
		return nil
	}
	path, err := r.exportRejects(ctx)
	if err != nil {
		return err
	}
	r.sum.Files["rejects"] = path
	// Values a map cannot translate were never sent: the ratio is of the
	// writes the targets refused.
	if sent := rejects - len(unmapped); sent > 0 {
		if ratio := float64(sent) / float64(plan.Writes()); ratio > p.Load.MaxRejectRatio {
			return fmt.Errorf("%d of %d records rejected (%.0f%%), above load.max_reject_ratio %.0f%%; see %s", sent, plan.Writes(), ratio*100, p.Load.MaxRejectRatio*100, path)
		}
	}
	return &RejectsError{Count: rejects, Path: path}
}

// checkRequired fails the run before any write when the org requires a
// field on create that the plan never fills for an object it creates
// (Cases, Tasks, Leads): describe says createable, not nillable, not
// defaulted.
func (r *run) checkRequired(ctx context.Context) error {
	var problems []string
	type upsert struct {
		src load.Source
		obj string
	}
	var upserts []upsert
	for _, s := range r.opt.Pipeline.Syncs {
		if s.System() == "salesforce" && s.Creates() {
			src := syncSource(s)
			if r.plan.Count(src, s.Object()) > 0 {
				upserts = append(upserts, upsert{src, s.Object()})
			}
		}
	}
	for _, u := range upserts {
		obj := u.obj
		fields, err := r.plan.Fields(ctx, u.src, obj)
		if err != nil {
			return err
		}
		filled := map[string]bool{}
		for _, f := range fields {
			filled[strings.ToLower(f)] = true
		}
		d, err := r.sf.Describe(ctx, obj)
		if err != nil {
			return fmt.Errorf("salesforce: %w", err)
		}
		for _, f := range d.Fields {
			if f.Createable && !f.Nillable && !f.DefaultedOnCreate && !filled[strings.ToLower(f.Name)] {
				problems = append(problems, obj+"."+f.Name)
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("salesforce requires %s on create, which this pipeline does not fill; map them (for Cases: workflows.escalation.fields in %s) — nothing was written",
			strings.Join(problems, ", "), r.opt.Pipeline.Path)
	}
	return nil
}

// resolvePending puts in the ids of records created earlier in the run
// (by syncs that load before), where a record names one by reference:
//   - a field whose name ends in Id holding 'lead:<intercom id>' (a Lead
//     lead capture upserts) or 'ref:<Object>:<key>' (the record of Object
//     this run upserted under key: a Case of escalation, an Opportunity of a
//     sync declared earlier); 'ref:intercom.contacts:<key>' names the
//     Intercom contact a create made under key;
//   - with inText (the body of a note or message, whose sync names what it
//     writes), any text holding '{ref:<Object>:<key>}', replaced by that Id
//     (a link in a note); elsewhere, such text (a customer's words in a
//     Task's description, say) is written as it is;
//   - with keyObject (an update of that object, keyed by Id; or
//     intercom.contacts, for an attachment), the record's key itself.
//
// Records one of whose references was not created are left for the next
// run (the sync log says not_written).
func resolvePending(ctx context.Context, recs []load.Record, ledger *load.Ledger, keyObject string, inText bool) ([]load.Record, error) {
	keys := keyObject != ""
	wanted := map[string][]string{} // object -> keys
	for _, r := range recs {
		if keys {
			if refs, whole := refsIn(load.Change{Field: "Id", Value: &r.Key}); whole {
				wanted[refs[0].object] = append(wanted[refs[0].object], refs[0].key)
			}
		}
		for _, c := range r.Fields {
			refs, whole := refsIn(c)
			if !whole && !inText {
				continue
			}
			for _, ref := range refs {
				wanted[ref.object] = append(wanted[ref.object], ref.key)
			}
		}
	}
	if len(wanted) == 0 {
		return recs, nil
	}
	ids := map[string]map[string]string{}
	for obj, ks := range wanted {
		target, object := "salesforce", obj
		if o, ok := strings.CutPrefix(obj, "intercom."); ok {
			target, object = "intercom", o
		}
		got, err := ledger.ResultIDs(ctx, target, object, ks)
		if err != nil {
			return nil, err
		}
		ids[obj] = got
	}
	kept := recs[:0:0]
	for _, r := range recs {
		if keys {
			if refs, whole := refsIn(load.Change{Field: "Id", Value: &r.Key}); whole {
				// A key names a record of the object written.
				if r.Key = ids[refs[0].object][refs[0].key]; r.Key == "" || refs[0].object != keyObject {
					continue
				}
			}
		}
		ok := true
		fields := make([]load.Change, len(r.Fields))
		for i, c := range r.Fields {
			fields[i] = c
			if _, whole := refsIn(c); !whole && !inText {
				continue
			}
			if v, found := resolveRefs(c, ids); found {
				if v == nil {
					ok = false
					break
				}
				fields[i].Value = v
			}
		}
		if ok {
			r.Fields = fields
			kept = append(kept, r)
		}
	}
	return kept, nil
}

// ref names a record created earlier in the run: the record of object
// upserted under key.
type ref struct{ object, key string }

// textRefRe finds references in text: {ref:<Object>:<key>}.
var textRefRe = regexp.MustCompile(`\{ref:([A-Za-z][A-Za-z0-9_]*):([^{}\s]+)\}`)

// refsIn lists the references c holds: its whole value, in a field whose
// name ends in Id (whose values are Ids, never text), or braced ones
// inside any other text.
func refsIn(c load.Change) (refs []ref, whole bool) {
	if c.Value == nil {
		return nil, false
	}
	v := *c.Value
	if strings.HasSuffix(c.Field, "Id") {
		if k, ok := strings.CutPrefix(v, "lead:"); ok {
			return []ref{{"Lead", k}}, true
		}
		if rest, ok := strings.CutPrefix(v, "ref:"); ok {
			if object, key, ok := strings.Cut(rest, ":"); ok && object != "" && key != "" {
				return []ref{{object, key}}, true
			}
			return nil, false
		}
	}
	for _, m := range textRefRe.FindAllStringSubmatch(v, -1) {
		refs = append(refs, ref{m[1], m[2]})
	}
	return refs, false
}

// resolveRefs is c's value with its references replaced by their Ids from
// ids (object -> key -> Id), nil when one has none; found reports whether
// c holds any.
func resolveRefs(c load.Change, ids map[string]map[string]string) (value *string, found bool) {
	refs, whole := refsIn(c)
	if len(refs) == 0 {
		return nil, false
	}
	if whole {
		if id := ids[refs[0].object][refs[0].key]; id != "" {
			return &id, true
		}
		return nil, true
	}
	resolved := true
	v := textRefRe.ReplaceAllStringFunc(*c.Value, func(m string) string {
		sub := textRefRe.FindStringSubmatch(m)
		id := ids[sub[1]][sub[2]]
		resolved = resolved && id != ""
		return id
	})
	if !resolved {
		return nil, true
	}
	return &v, true
}

// syncBack reads the Salesforce-owned one-way fields of the records this
// run upserted (the owner Salesforce assigned, say) and writes them to the
// matching Intercom contacts in the same run, so that the next run finds
// both systems agreeing instead of echoing the create back. since is the
// earliest SystemModstamp the upserts can have given a record (by
// Salesforce's clock, or ferry's less a margin). The records are found in
// the ledger, and read once for the whole run: by when they changed where
// that costs fewer requests (one page per 2,000), by Id for those the
// window missed.
func (r *run) syncBack(ctx context.Context, s config.SyncSpec, since time.Time, ledger *load.Ledger, out *load.Outcome, ic *intercomload.Sink) error {
	object := s.Object()
	var fields []config.FieldMapping
	for _, f := range r.opt.Pipeline.Sync.People.Fields {
		if f.Direction == "to_intercom" {
			fields = append(fields, f)
		}
	}
	if len(fields) == 0 && !r.opt.Pipeline.Workflows.OwnerRouting.Enabled {
		return nil
	}
	n, err := ledger.RunResultCount(ctx, "salesforce", object, s.WriteOp())
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	routing := r.opt.Pipeline.Workflows.OwnerRouting.Enabled
	admins := map[string]string{} // lower-case email -> Intercom admin id
	if routing {
		list, err := r.ic.Admins(ctx)
		if err != nil {
			return fmt.Errorf("intercom: list admins: %w", err)
		}
		for _, a := range list {
			admins[strings.ToLower(a.Email)] = a.ID
		}
	}
	extField := s.Key.Field // its values are Intercom contact ids
	sel := []string{"Id", "Owner.Email", extField}
	for _, f := range fields {
		if f.Salesforce != "Owner.Email" && f.Salesforce != extField {
			sel = append(sel, f.Salesforce)
		}
	}
	// seen holds a digest of each Id read back: 8 bytes a record, where the
	// Ids themselves would take several times that at a million.
	seen := make(map[uint64]struct{}, n)
	digest := func(id string) uint64 { h := fnv.New64a(); h.Write([]byte(id)); return h.Sum64() }
	var pending []salesforceapi.Record // read, not yet matched with the ledger
	var updates []load.Record
	// settle keeps the pending records this run wrote (the ledger has
	// their key and the same Id) and writes their Intercom updates.
	settle := func() error {
		keys := make([]string, 0, len(pending))
		vals := make([]map[string]any, len(pending))
		for i, rec := range pending {
			if err := json.Unmarshal(rec.Raw, &vals[i]); err != nil {
				return fmt.Errorf("salesforce: read back created %s: %w", object, err)
			}
			if k := textAt(vals[i], extField); k != nil {
				keys = append(keys, *k)
			}
		}
		ids, err := ledger.ResultIDs(ctx, "salesforce", object, keys)
		if err != nil {
			return err
		}
		for i, rec := range pending {
			k := textAt(vals[i], extField)
			if k == nil || ids[*k] != rec.ID {
				continue // changed since, but not by these writes
			}
			d := digest(rec.ID)
			if _, dup := seen[d]; dup {
				continue
			}
			seen[d] = struct{}{}
			u := load.Record{Object: "contacts", Key: *k}
			for _, f := range fields {
				v := textAt(vals[i], f.Salesforce)
				if len(f.Values) > 0 && v != nil {
					// In Intercom's vocabulary; a value the map lacks is
					// written to neither side (the next run lists it).
					if v = intercomValue(f, *v); v == nil {
						continue
					}
				}
				u.Fields = append(u.Fields, load.Change{Field: f.Intercom, Value: v, Type: f.Type})
			}
			if email := textAt(vals[i], "Owner.Email"); routing && email != nil {
				if id, ok := admins[strings.ToLower(*email)]; ok {
					u.Fields = append(u.Fields, load.Change{Field: "owner_id", Value: &id, Type: "integer"})
				}
			}
			updates = append(updates, u)
		}
		pending = pending[:0]
		if err := ic.UpdateContacts(ctx, updates, out); err != nil {
			return err
		}
		updates = updates[:0]
		return ledger.Flush(ctx)
	}
	read := func(soql string) error {
		for page, err := range r.sf.Query(ctx, soql, false, 0, nil) {
			if err != nil {
				return fmt.Errorf("salesforce: read back created %s: %w", object, err)
			}
			pending = append(pending, page...)
			if len(pending) >= readBackSettle {
				if err := settle(); err != nil {
					return err
				}
			}
		}
		return settle()
	}
	cols := strings.Join(sel, ", ")
	where, err := r.readBackWindow(ctx, object, n, since)
	if err != nil {
		return err
	}
	if where != "" {
		if err := read(fmt.Sprintf("SELECT %s FROM %s WHERE %s", cols, object, where)); err != nil {
			return err
		}
	}
	// By Id what the window did not return (all of it when there was no
	// window; a clock far off Salesforce's would leave some out).
	var rest []string
	if len(seen) < n {
		if err := ledger.RunResults(ctx, "salesforce", object, s.WriteOp(), func(_, id string) error {
			if _, ok := seen[digest(id)]; !ok {
				rest = append(rest, salesforceapi.Quote(id))
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if where != "" {
		r.log.Debug("read back", "object", object, "records", n, "by_modstamp", n-len(rest), "by_id", len(rest))
	}
	for start := 0; start < len(rest); start += readBackPerList {
		if err := read(fmt.Sprintf("SELECT %s FROM %s WHERE Id IN (%s)", cols, object, strings.Join(rest[start:min(start+readBackPerList, len(rest))], ", "))); err != nil {
			return err
		}
	}
	return nil
}

// readBackSettle is how many records read back are matched with the
// ledger at a time (one query), and their Intercom updates written.
const readBackSettle = 10_000

// readBackSkew is how far before a write's start by ferry's clock the
// records it changed are looked for by SystemModstamp (Salesforce's): a
// margin for the two clocks to disagree. Records a Bulk job wrote are
// looked for from the job's creation, by Salesforce's clock, instead: the
// margin made the window return every Lead an update job had changed in
// the minute before (114 pages at 1,000,000 contacts).
const readBackSkew = time.Minute

// A list of Ids in a query must keep its URI within Salesforce's limit, so
// it holds 200; a query's page holds 2,000 records.
const readBackPerList, readBackPerPage = 200, 2000

// intercomValue is the Intercom value a field's value map gives a
// Salesforce value, nil when the map has none.
func intercomValue(f config.FieldMapping, sf string) *string {
	for ic, v := range f.Values {
		if v == sf {
			return &ic
		}
	}
	return nil
}

// readBackWindow returns the WHERE clause that finds n records written
// since by when they changed, or "" when one query per readBackPerList
// Ids costs less: the window also returns what
// other writers changed meanwhile, so its records are counted first, and
// the count is skipped when even the n records alone could not win.
func (r *run) readBackWindow(ctx context.Context, object string, n int, since time.Time) (string, error) {
	lists := (n + readBackPerList - 1) / readBackPerList
	cost := func(records int) int { return 1 + (records+readBackPerPage-1)/readBackPerPage } // the count, then the pages
	if cost(n) >= lists {
		return "", nil
	}
	where := "SystemModstamp >= " + since.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z")
	changed, err := r.sf.Count(ctx, "SELECT COUNT() FROM "+object+" WHERE "+where)
	if err != nil {
		return "", fmt.Errorf("salesforce: count changed %s: %w", object, err)
	}
	if cost(changed) >= lists {
		return "", nil
	}
	return where, nil
}

// textAt reads a dotted path from a decoded record as text (nil if absent).
func textAt(m map[string]any, path string) *string {
	var cur any = m
	for _, part := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[part]
	}
	if cur == nil {
		return nil
	}
	var s string
	switch v := cur.(type) {
	case string:
		s = v
	case float64:
		s = strconv.FormatFloat(v, 'f', -1, 64)
	default:
		s = fmt.Sprint(v)
	}
	return &s
}

// writeBack writes the Intercom id of each contact sync s created (or
// found, after a create whose answer was lost) this run to its write_back
// field, on the Salesforce record whose Id is the contact's key: the sync's
// own records, a plan chunk at a time, their ids from the ledger, sent in
// one write (a Bulk job when there are many).
func (r *run) writeBack(ctx context.Context, s config.SyncSpec, ledger *load.Ledger, sf *salesforceload.Sink, out *load.Outcome) error {
	_, obj, _ := strings.Cut(s.WriteBack.Target, ".")
	var links []load.Record
	for recs, err := range r.plan.Chunks(ctx, syncSource(s), "") {
		if err != nil {
			return err
		}
		keys := make([]string, len(recs))
		for i, rec := range recs {
			keys[i] = rec.Key
		}
		ids, err := ledger.ResultIDs(ctx, "intercom", s.Object(), keys)
		if err != nil {
			return err
		}
		for _, k := range keys { // in key order
			if id, ok := ids[k]; ok {
				links = append(links, load.Record{Object: obj, Key: k, Fields: []load.Change{{Field: s.WriteBack.Field, Value: &id, Type: "string"}}})
			}
		}
	}
	if len(links) == 0 {
		return nil
	}
	return sf.Update(ctx, obj, links, out)
}

func (r *run) exportRejects(ctx context.Context) (string, error) {
	dir := filepath.Join(r.opt.DataDir, "runs", r.id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "rejects.parquet")
	q := fmt.Sprintf("COPY (SELECT * FROM ferry.rejects WHERE run_id = '%s' ORDER BY target, object, record_key) TO '%s' (FORMAT parquet)",
		r.id, strings.ReplaceAll(path, "'", "''"))
	if _, err := r.st.DB.ExecContext(ctx, q); err != nil {
		return "", fmt.Errorf("write rejects file: %w", err)
	}
	return path, nil
}

// exportSyncLog writes the run's sync log as runs/<run>/sync_log.parquet
// ("" when the run planned nothing).
func (r *run) exportSyncLog(ctx context.Context) (string, error) {
	var n int64
	if err := r.st.DB.QueryRowContext(ctx, "SELECT count(*) FROM ferry.sync_log WHERE run_id = $1", r.id).Scan(&n); err != nil || n == 0 {
		return "", err
	}
	dir := filepath.Join(r.opt.DataDir, "runs", r.id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "sync_log.parquet")
	q := fmt.Sprintf("COPY (SELECT * FROM ferry.sync_log WHERE run_id = %s ORDER BY source, object, record_key) TO %s (FORMAT parquet)",
		state.QuoteString(r.id), state.QuoteString(path))
	if _, err := r.st.DB.ExecContext(ctx, q); err != nil {
		return "", fmt.Errorf("write the sync log file: %w", err)
	}
	return path, nil
}

// commit records the synced snapshot and health history in one
// transaction (watermarks were committed with current state, after
// extraction).
func (r *run) commit(ctx context.Context, stages Stage, loadErr error) error {
	if err := r.hook("before-commit"); err != nil {
		return err
	}
	// Only a run that loads appends the health it wrote to the history:
	// `plan` and `transform` write nothing, and ferry serve's batches,
	// seconds apart, leave the history to the schedule.
	health := false
	if stages&Load != 0 && r.opt.Targets == nil {
		var err error
		if health, err = r.hasModel(ctx, "account_health"); err != nil {
			return err
		}
	}
	tx, err := r.st.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := r.opt.Now().UTC()
	if stages&Load != 0 {
		if _, err := tx.ExecContext(ctx, r.st.Stmt("MarkPlanLoaded"), r.id); err != nil {
			return fmt.Errorf("commit: record the plan as loaded: %w", err)
		}
		if err := r.writeSyncLog(ctx, tx); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		if _, err := tx.ExecContext(ctx, r.st.Stmt("StageSnapshot"), r.id); err != nil {
			return fmt.Errorf("commit snapshot: %w", err)
		}
		for _, name := range []string{"DeleteSnapshotStaged", "InsertSnapshotStaged", "DropSnapshotStaged"} {
			if _, err := tx.ExecContext(ctx, r.st.Stmt(name)); err != nil {
				return fmt.Errorf("commit snapshot: %w", err)
			}
		}
	}
	if health {
		if _, err := tx.ExecContext(ctx, r.st.Stmt("CreateHealthHistory")); err != nil {
			return fmt.Errorf("account_health_history: %w", err)
		}
		if _, err := tx.ExecContext(ctx, r.st.Stmt("AppendHealthHistory"), r.id, now); err != nil {
			return fmt.Errorf("append account_health_history (did account_health change columns? rename the old history table): %w", err)
		}
	}
	// Records the load found gone become deletes the next extraction
	// lands (deletes.go).
	for _, g := range r.gone {
		if err := r.insertDeletion(ctx, tx, g.Target, g.Object, found{extract.Gone{ID: g.ID, At: g.At, Into: g.Into}, "write"}); err != nil {
			return err
		}
	}
	// The outcome commits with the state it describes.
	status, code, msg := outcome(loadErr)
	b, err := json.Marshal(r.sum)
	if err != nil {
		return fmt.Errorf("commit: run summary: %w", err)
	}
	if _, err := tx.ExecContext(ctx, r.st.Stmt("FinishRun"), r.id, now, status, code, string(b), msg); err != nil {
		return fmt.Errorf("commit: record the run's outcome: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit state: %w", err)
	}
	if stages&Load != 0 {
		path, err := r.exportSyncLog(ctx)
		if err != nil {
			return err
		}
		if path != "" {
			r.sum.Files["sync_log"] = path
		}
	}
	if health {
		path, err := r.export(ctx, "account_health")
		if err != nil {
			return err
		}
		r.sum.Files["account_health"] = path
		if path, err = r.exportHistory(ctx); err != nil {
			return err
		}
		r.sum.Files["account_health_history"] = path
	}
	return nil
}

// exportHistory writes each run of main.account_health_history not yet
// exported (ferry.history_exports) to
// <data-dir>/exports/account_health_history/<run_id>.parquet and returns
// this run's file ("" if the run added no rows). A run writes its own
// rows, not the whole history: rewriting one file of every run cost a
// scheduled run more with each run before it (205,000 accounts a run at
// 1,000,000 contacts, 63 ms a run's worth), and a data dir on object
// storage uploaded it all again. A run whose export failed after its
// commit is written by the next. The one file of the whole history that
// ferry wrote before goes once its runs have files of their own.
func (r *run) exportHistory(ctx context.Context) (string, error) {
	dir := filepath.Join(r.opt.DataDir, "exports", "account_health_history")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	rows, err := r.st.DB.QueryContext(ctx, r.st.Stmt("HistoryNotExported"))
	if err != nil {
		return "", fmt.Errorf("export account_health_history: %w", err)
	}
	var missing []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return "", fmt.Errorf("export account_health_history: %w", err)
		}
		missing = append(missing, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("export account_health_history: %w", err)
	}
	mine := ""
	for _, id := range missing {
		if strings.ContainsAny(id, `/\`) || id == "." || id == ".." {
			return "", fmt.Errorf("export account_health_history: run id %q is not a file name", id)
		}
		path := filepath.Join(dir, id+".parquet")
		q := "SELECT * FROM main.account_health_history WHERE run_id = " + state.QuoteString(id)
		if err := r.writeParquet(ctx, q, path); err != nil {
			return "", fmt.Errorf("export account_health_history: %w", err)
		}
		if _, err := r.st.DB.ExecContext(ctx, r.st.Stmt("HistoryExported"), id, r.opt.Now().UTC()); err != nil {
			return "", fmt.Errorf("export account_health_history: %w", err)
		}
		if id == r.id {
			mine = path
		}
	}
	if err := os.Remove(dir + ".parquet"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("export account_health_history: %w", err)
	}
	return mine, nil
}

// onboardingPeople lists the Intercom contacts whose data events are read
// (workflows.onboarding_milestones): the people of the Accounts with a
// Closed Won Opportunity closed in the last days, as the last transform saw
// them. Before the first transform there are none.
func (r *run) onboardingPeople(ctx context.Context) ([]string, error) {
	for _, m := range []string{"stg_salesforce__opportunities", "stg_salesforce__contacts", "int_people_identity"} {
		if ok, err := r.hasModel(ctx, m); !ok || err != nil {
			return nil, err
		}
	}
	since := r.opt.Now().UTC().AddDate(0, 0, -r.opt.Pipeline.OnboardingDays()).Format(time.DateOnly)
	rows, err := r.st.DB.QueryContext(ctx, r.st.Stmt("OnboardingPeople"), since)
	if err != nil {
		return nil, fmt.Errorf("people of accounts in onboarding: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func (r *run) hasModel(ctx context.Context, name string) (bool, error) {
	var n int
	if err := r.st.DB.QueryRowContext(ctx, "SELECT count(*) FROM duckdb_views() WHERE schema_name = 'main' AND view_name = $1", name).Scan(&n); err != nil {
		return false, fmt.Errorf("look for model %s: %w", name, err)
	}
	return n > 0, nil
}

// export writes main.<table> to <data-dir>/exports/<table>.parquet,
// replacing the previous file atomically.
func (r *run) export(ctx context.Context, table string) (string, error) {
	dir := filepath.Join(r.opt.DataDir, "exports")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, table+".parquet")
	// table is one of ferry's own names.
	if err := r.writeParquet(ctx, fmt.Sprintf("SELECT * FROM main.%q", table), path); err != nil {
		return "", fmt.Errorf("export %s: %w", table, err)
	}
	return path, nil
}

// writeParquet writes what query selects to path, replacing the file
// atomically (a reader sees the old file or the new, never part of one).
func (r *run) writeParquet(ctx context.Context, query, path string) error {
	tmp := path + ".tmp"
	if _, err := r.st.DB.ExecContext(ctx, fmt.Sprintf("COPY (%s) TO %s (FORMAT parquet)", query, state.QuoteString(tmp))); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// SnapshotObject reports whether an object is read whole every run, so
// that its latest extraction is its current state.
func SnapshotObject(system, object string) bool {
	return system == "intercom" && intercomextract.IsSnapshot(object)
}

// ObjectKind says how an object's landing files become its current state.
func ObjectKind(system, object string) state.Kind {
	k := state.Kind{Snapshot: SnapshotObject(system, object)}
	if system == "intercom" {
		k.LandingOnly = intercomextract.LandingOnly(object)
	}
	return k
}

// TableName is the current-state table of "system.object".
func TableName(systemObject string) string {
	sys, obj, _ := strings.Cut(systemObject, ".")
	return extract.TableName(sys, obj)
}
