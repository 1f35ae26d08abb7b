// Package lineage emits OpenLineage run events (spec 2-0-2): one START
// when a run begins and one COMPLETE or FAIL when it ends, naming the
// datasets it read and wrote. It is configured from the environment, as
// OpenLineage's own clients are:
//   - OPENLINEAGE_URL: the HTTP transport, POSTing each event to
//     <url>/api/v1/lineage (OPENLINEAGE_ENDPOINT overrides the path;
//     OPENLINEAGE_API_KEY is sent as a bearer token);
//   - OPENLINEAGE__TRANSPORT__TYPE=file with
//     OPENLINEAGE__TRANSPORT__LOG_FILE_PATH: one event per line, appended;
//   - OPENLINEAGE_NAMESPACE: the job's namespace (default ferry);
//   - OPENLINEAGE_PARENT_ID: <namespace>/<name>/<run id> of the run that
//     started ferry (Airflow's lineage_parent_id macro), sent as the parent
//     run facet.
//
// Delivery never fails a run: an event that cannot be delivered, after a
// retry, is logged and dropped.
package lineage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

// The specification versions the events and facets follow.
const (
	SchemaURL       = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
	ParentSchemaURL = "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet"
	Producer        = "https://github.com/ferry-sync/ferry"
)

// Dataset names a dataset: its namespace (where it lives) and name.
type Dataset struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// Emitter sends a run's events. A nil Emitter sends nothing.
type Emitter struct {
	Namespace string
	url, key  string
	file      string
	parent    *parent
	client    *http.Client
	log       *slog.Logger
	mu        sync.Mutex
}

type parent struct{ namespace, name, runID string }

// FromEnv returns an emitter when getenv configures a transport, nil
// otherwise. A file transport without its path is an error.
func FromEnv(getenv func(string) string, log *slog.Logger) (*Emitter, error) {
	e := &Emitter{Namespace: getenv("OPENLINEAGE_NAMESPACE"), log: log, client: &http.Client{Timeout: 5 * time.Second}}
	if e.Namespace == "" {
		e.Namespace = "ferry"
	}
	switch {
	case getenv("OPENLINEAGE_URL") != "":
		endpoint := getenv("OPENLINEAGE_ENDPOINT")
		if endpoint == "" {
			endpoint = "api/v1/lineage"
		}
		e.url = strings.TrimRight(getenv("OPENLINEAGE_URL"), "/") + "/" + strings.TrimLeft(endpoint, "/")
		e.key = getenv("OPENLINEAGE_API_KEY")
	case strings.EqualFold(getenv("OPENLINEAGE__TRANSPORT__TYPE"), "file"):
		if e.file = getenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH"); e.file == "" {
			return nil, errors.New("openlineage: OPENLINEAGE__TRANSPORT__TYPE=file needs OPENLINEAGE__TRANSPORT__LOG_FILE_PATH")
		}
	default:
		return nil, nil
	}
	if p := getenv("OPENLINEAGE_PARENT_ID"); p != "" {
		i, j := strings.Index(p, "/"), strings.LastIndex(p, "/")
		if i <= 0 || j <= i+1 || j == len(p)-1 || !uuidRe.MatchString(p[j+1:]) {
			// Lineage never stops a run: the events go without a parent.
			log.Warn("openlineage: OPENLINEAGE_PARENT_ID is not <namespace>/<name>/<run id (a UUID)>; events are sent without a parent", "value", p)
		} else {
			e.parent = &parent{p[:i], p[i+1 : j], p[j+1:]}
		}
	}
	return e, nil
}

var uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Run is one run's events.
type Run struct {
	e        *Emitter
	id, name string
}

// Start sends START for run id of job name and returns the run, nil for
// a nil emitter.
func (e *Emitter) Start(ctx context.Context, id, name string, at time.Time) *Run {
	if e == nil {
		return nil
	}
	r := &Run{e: e, id: id, name: name}
	r.send(ctx, "START", at, nil, nil)
	return r
}

// End sends COMPLETE, or FAIL when runErr is set, with the datasets the
// run read and wrote.
func (r *Run) End(ctx context.Context, at time.Time, runErr error, inputs, outputs []Dataset) {
	if r == nil {
		return
	}
	typ := "COMPLETE"
	if runErr != nil {
		typ = "FAIL"
	}
	r.send(ctx, typ, at, inputs, outputs)
}

func (r *Run) send(ctx context.Context, eventType string, at time.Time, inputs, outputs []Dataset) {
	run := map[string]any{"runId": r.id}
	if p := r.e.parent; p != nil {
		run["facets"] = map[string]any{"parent": map[string]any{
			"_producer": Producer, "_schemaURL": ParentSchemaURL,
			"run": map[string]any{"runId": p.runID},
			"job": map[string]any{"namespace": p.namespace, "name": p.name},
		}}
	}
	event := map[string]any{
		"eventType": eventType,
		"eventTime": at.UTC().Format(time.RFC3339Nano),
		"producer":  Producer,
		"schemaURL": SchemaURL,
		"run":       run,
		"job":       map[string]any{"namespace": r.e.Namespace, "name": r.name},
		"inputs":    nonNil(inputs),
		"outputs":   nonNil(outputs),
	}
	b, err := json.Marshal(event)
	if err == nil {
		err = r.e.deliver(ctx, b)
	}
	if err != nil {
		r.e.log.Warn("openlineage: event not delivered; the run goes on", "event", eventType, "err", err)
	}
}

func nonNil(d []Dataset) []Dataset {
	if d == nil {
		return []Dataset{}
	}
	return d
}

// deliver writes one event, trying an HTTP delivery twice.
func (e *Emitter) deliver(ctx context.Context, b []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.file != "" {
		f, err := os.OpenFile(e.file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		_, err = f.Write(append(b, '\n'))
		return errors.Join(err, f.Close())
	}
	var err error
	for attempt := range 2 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			case <-time.After(time.Second):
			}
		}
		if err = e.post(ctx, b); err == nil {
			return nil
		}
	}
	return err
}

func (e *Emitter) post(ctx context.Context, b []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if e.key != "" {
		req.Header.Set("Authorization", "Bearer "+e.key)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", e.url, resp.Status)
	}
	return nil
}
