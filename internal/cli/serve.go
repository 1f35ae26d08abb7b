package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/internal/datadir"
	"github.com/ferry-sync/ferry/internal/runner"
	"github.com/ferry-sync/ferry/internal/serve"
	"github.com/ferry-sync/ferry/internal/state"
)

// panelEvery is how often ferry serve looks for a warehouse changed by
// another process (the schedule's runs) to refresh the inbox app's
// snapshot from.
const panelEvery = 30 * time.Second

// serveCmd is `ferry serve`: the webhook receiver and the micro-syncs of
// what it receives, until interrupted.
func serveCmd(ctx context.Context, e *env, args []string) error {
	var p pipelineFlags
	var listen, inboxDir string
	var batchMax int
	var batchWait, maxAge time.Duration
	fs := newFlagSet("serve", "Receive Intercom's webhook notifications and sync the records they name within seconds, through the\n"+
		"same models and syncs as `ferry run` (which stays the safety net), and serve the Intercom inbox app (Canvas Kit)\n"+
		"from a snapshot of the warehouse. The app's client secret, which signs both, comes from INTERCOM_CLIENT_SECRET.\n"+
		"Endpoints: POST /webhooks/intercom, /canvas/initialize, /canvas/submit; GET /healthz, /readyz, /metrics.", e.stdout)
	p.register(fs)
	fs.StringVar(&listen, "listen", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&inboxDir, "inbox", "", "where notifications are kept until synced (default <data-dir>/webhooks; required with an s3:// data dir)")
	fs.IntVar(&batchMax, "batch-max", 1000, "notifications synced in one batch at most (a batch costs about the same for 1 or 1,000: a backlog drains in few)")
	fs.DurationVar(&batchWait, "batch-wait", 250*time.Millisecond, "how long a notification waits for others to be synced with it")
	fs.DurationVar(&maxAge, "max-age", 24*time.Hour, "refuse notifications created longer ago than this (a replayed delivery)")
	if err := parse(fs, args); err != nil {
		return err
	}
	opt, err := p.options(e, "serve")
	if err != nil {
		return err
	}
	secret := e.getenv("INTERCOM_CLIENT_SECRET")
	if secret == "" {
		return &usageError{msg: "INTERCOM_CLIENT_SECRET is not set", hint: "the Intercom app's client secret, which signs webhook notifications (ferry emulator prints the emulated one)"}
	}
	if inboxDir == "" {
		if opt.Remote != nil {
			return &usageError{msg: "--inbox is required with an s3:// data dir", hint: "a directory on a volume that outlives the process"}
		}
		inboxDir = filepath.Join(opt.DataDir, "webhooks")
	}
	inbox, err := serve.OpenInbox(inboxDir)
	if err != nil {
		return err
	}
	log := opt.Logger
	metrics := &serve.Metrics{Pending: func() (int, time.Duration) {
		n, lag, _ := inbox.Counts(time.Now())
		return n, lag
	}}
	var mu sync.Mutex
	var lastErr error
	batches := 0 // batches run
	// The Salesforce calls of the last 24 hours and the daily budget, as
	// the last batch accounted them (pipeline connections.salesforce.budget).
	var sfUsed, sfBudget int
	metrics.SalesforceCalls = func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return sfUsed, sfBudget
	}
	proc := &serve.Processor{Inbox: inbox, Max: batchMax, Wait: batchWait, Retry: 2 * time.Second, Metrics: metrics, Log: log,
		Run: func(ctx context.Context, w serve.Work) (int, error) {
			o := opt
			o.Targets = w.Targets
			// A scheduled run holding the data dir is waited for, as
			// briefly as it lasts.
			o.LockWait = time.Minute
			for _, l := range w.Leads {
				o.LeadRequests = append(o.LeadRequests, runner.LeadRequest{ContactID: l.ContactID, AdminID: l.AdminID, At: l.At})
			}
			sum, err := runner.Run(ctx, o, runner.Extract|runner.Transform|runner.Load)
			written := 0
			if sum != nil {
				for _, n := range sum.Written {
					written += n
				}
			}
			switch {
			case errors.Is(err, runner.ErrRejects):
				err = nil // rejects are recorded and retried by scheduled runs
			case errors.Is(err, state.ErrLocked), errors.Is(err, datadir.ErrLocked):
				err = fmt.Errorf("%w: %w", serve.ErrBusy, err)
			}
			mu.Lock()
			lastErr = err
			batches++
			if sum != nil && sum.Budget != nil {
				sfUsed, sfBudget = sum.Budget.UsedBefore+sum.Requests["salesforce"], sum.Budget.DailyCalls
			}
			mu.Unlock()
			return written, err
		}}
	recv := &serve.Receiver{Secret: []byte(secret), Inbox: inbox, MaxBody: serve.DefaultMaxBody, MaxAge: maxAge, Metrics: metrics, Log: log, Stored: proc.Wake}

	// The inbox app answers from a snapshot of the warehouse, refreshed
	// between batches: after one that ran, and every panelEvery to see
	// the schedule's runs (an unchanged warehouse is not copied again).
	panel := &serve.Panel{Dir: filepath.Join(inboxDir, "panel"), Metrics: metrics, Log: log}
	defer panel.Close()
	warehouse := filepath.Join(opt.DataDir, "warehouse.duckdb")
	var lastRefresh time.Time
	seen := -1 // the batches run when the snapshot was last refreshed
	proc.Idle = func(ctx context.Context) {
		mu.Lock()
		n := batches
		mu.Unlock()
		if n == seen && time.Since(lastRefresh) < panelEvery {
			return
		}
		seen, lastRefresh = n, time.Now()
		// Done notifications are kept for deduplication twice as long
		// as a delivery may be late (--max-age), then forgotten.
		if err := inbox.Prune(2*maxAge, time.Now()); err != nil {
			log.Warn("webhook inbox: prune", "err", err)
		}
		switch err := panel.Refresh(ctx, warehouse); {
		case err == nil, errors.Is(err, serve.ErrPanelUnchanged):
		case errors.Is(err, serve.ErrPanelBusy):
			log.Info("the inbox app's snapshot was not refreshed: a run holds the warehouse", "err", err)
			seen = -1 // try again at the next tick
		default:
			log.Warn("the inbox app's snapshot was not refreshed", "err", err)
		}
	}
	canvas := &serve.Canvas{Secret: []byte(secret), Panel: panel, Metrics: metrics, Log: log}
	if opt.Pipeline.Workflows.LeadCapture.Enabled {
		// "Create Lead" runs the lead-capture sync for that one person:
		// the request waits in the inbox like a notification.
		canvas.CreateLead = func(ctx context.Context, contactID, adminID string) error {
			if err := inbox.RequestLead(contactID, adminID, time.Now()); err != nil {
				return err
			}
			proc.Wake()
			return nil
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/webhooks/intercom", recv)
	mux.Handle("/canvas/initialize", canvas.Initialize())
	mux.Handle("/canvas/submit", canvas.Submit())
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		// Ready while notifications can be stored; a failing batch is
		// reported, not a reason to stop receiving.
		if _, err := inbox.Pending(1); err != nil {
			http.Error(w, "inbox: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if lastErr != nil {
			fmt.Fprintf(w, "ready; last batch failed: %v\n", lastErr)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	// Intercom waits 5 s for an answer; a sender slower than these
	// bounds holds no connection for long.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	procCtx, stopProc := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { proc.Loop(procCtx); close(done) }()
	proc.Wake() // what was pending at the last stop
	log.Info("serving", "listen", ln.Addr().String(), "inbox", inboxDir)
	fmt.Fprintf(e.stdout, "ferry serve: listening on http://%s (webhooks at /webhooks/intercom)\n", ln.Addr())
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		stopProc()
		<-done
		return err
	case <-ctx.Done():
	}
	// Graceful stop: no new notifications, then the batch in flight is
	// abandoned (a run stopped commits nothing half-way) and stays pending.
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(shut)
	stopProc()
	<-done
	log.Info("stopped")
	return nil
}
