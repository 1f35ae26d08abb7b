package config

import (
	"fmt"
	"net/url"
)

func (p *Pipeline) validateAlerts(probs *[]pathProblem) {
	a := &p.Alerts
	if a.WebhookURL == "" {
		if len(a.On) > 0 {
			*probs = append(*probs, pathProblem{"$.alerts.on", "alerts need a webhook_url"})
		}
		return
	}
	if u, err := url.Parse(a.WebhookURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		*probs = append(*probs, pathProblem{"$.alerts.webhook_url", "must be an http(s) URL"})
	}
	if len(a.On) == 0 {
		a.On = []string{"failed", "rejects", "deferred"}
	}
	for i, o := range a.On {
		if o != "failed" && o != "rejects" && o != "succeeded" && o != "deferred" {
			*probs = append(*probs, pathProblem{fmt.Sprintf("$.alerts.on[%d]", i), fmt.Sprintf("must be failed, rejects, deferred or succeeded, got %q", o)})
		}
	}
}
