package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Alert delivery: after the run's outcome is recorded (so it never holds up
// the commit), a run whose status the pipeline's alerts.on names is posted
// as JSON to alerts.webhook_url. The body has Slack's `text` field, which
// Slack-compatible receivers show, and the summary for anything else. A
// failed delivery is retried (alertAttempts, with a growing pause) and
// then logged; it never changes the run's exit status.

const alertAttempts = 3

// alertTimeout bounds one delivery attempt: with the pauses, a webhook
// that never answers holds the process about 15 s.
const alertTimeout = 4 * time.Second

type alertBody struct {
	Text     string   `json:"text"`
	RunID    string   `json:"run_id"`
	Pipeline string   `json:"pipeline"`
	Command  string   `json:"command"`
	Status   string   `json:"status"`
	ExitCode int      `json:"exit_code"`
	Error    string   `json:"error,omitempty"`
	Rejects  int      `json:"rejects"`
	Summary  *Summary `json:"summary"`
}

// alert posts the run's outcome when the pipeline asks for it.
func (r *run) alert(runErr error) {
	a := r.opt.Pipeline.Alerts
	status, code, msg := outcome(runErr)
	var deferred []string
	if r.sum.Budget != nil && r.opt.Command != "plan" {
		for _, d := range r.sum.Budget.Deferred {
			deferred = append(deferred, d.Sync)
		}
	}
	if a.WebhookURL == "" || !(slices.Contains(a.On, status) || len(deferred) > 0 && slices.Contains(a.On, "deferred")) {
		return
	}
	text := fmt.Sprintf("ferry %s %s (pipeline %s): %s", r.opt.Command, r.id, r.opt.Pipeline.Name, status)
	if msg != "" {
		text += ": " + msg
	}
	if len(deferred) > 0 {
		text += fmt.Sprintf("; deferred by the daily Salesforce API budget: %s", strings.Join(deferred, ", "))
	}
	b, err := json.Marshal(alertBody{Text: text, RunID: r.id, Pipeline: r.opt.Pipeline.Name, Command: r.opt.Command, Status: status,
		ExitCode: code, Error: msg, Rejects: r.sum.Rejects, Summary: &r.sum})
	if err != nil {
		r.log.Warn("alert not sent", "err", err)
		return
	}
	var last error
	for attempt := 1; attempt <= alertAttempts; attempt++ {
		if attempt > 1 {
			time.Sleep(time.Duration(attempt-1) * time.Second)
		}
		if last = post(a.WebhookURL, b); last == nil {
			r.log.Info("alert sent", "status", status, "attempts", attempt)
			return
		}
	}
	// The URL is a secret for some receivers (Slack's): it is not logged.
	var ue *url.Error
	if errors.As(last, &ue) {
		last = ue.Err
	}
	r.log.Warn("alert not delivered", "attempts", alertAttempts, "err", last)
}

func post(url string, body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), alertTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}
