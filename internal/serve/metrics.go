package serve

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Metrics are what /metrics exposes, in Prometheus' text format.
type Metrics struct {
	mu         sync.Mutex
	Received   int64            // notifications accepted (new or redelivered)
	Duplicates int64            // redelivered ones among them
	Rejected   map[string]int64 // by reason
	Processed  int64            // notifications whose batch committed
	Batches    int64
	Failed     int64 // batches that failed (their notifications stay pending)
	Writes     int64 // records written by batches
	// Pending reports the inbox's size and the oldest notification's age.
	Pending func() (int, time.Duration)
	// SalesforceCalls reports the Salesforce API calls of the last 24
	// hours, and the budget.
	SalesforceCalls func() (used, budget int)
}

func (m *Metrics) add(v *int64, n int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	*v += n
	m.mu.Unlock()
}

func (m *Metrics) reject(reason string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	if m.Rejected == nil {
		m.Rejected = map[string]int64{}
	}
	m.Rejected[reason]++
	m.mu.Unlock()
}

// ServeHTTP writes the metrics.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	m.write(w)
}

func (m *Metrics) write(w io.Writer) {
	m.mu.Lock()
	counters := []struct {
		name, help string
		v          int64
	}{
		{"ferry_webhook_notifications_received_total", "Webhook notifications accepted, new or redelivered.", m.Received},
		{"ferry_webhook_notifications_duplicate_total", "Redelivered notifications (deduplicated by id).", m.Duplicates},
		{"ferry_webhook_notifications_processed_total", "Notifications whose batch was synced and committed.", m.Processed},
		{"ferry_webhook_batches_total", "Batches synced.", m.Batches},
		{"ferry_webhook_batches_failed_total", "Batches that failed; their notifications stay pending.", m.Failed},
		{"ferry_writes_total", "Records written by webhook batches.", m.Writes},
	}
	reasons := make([]string, 0, len(m.Rejected))
	for k := range m.Rejected {
		reasons = append(reasons, k)
	}
	sort.Strings(reasons)
	rejected := map[string]int64{}
	for _, k := range reasons {
		rejected[k] = m.Rejected[k]
	}
	m.mu.Unlock()
	for _, c := range counters {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", c.name, c.help, c.name, c.name, c.v)
	}
	fmt.Fprintf(w, "# HELP ferry_webhook_notifications_rejected_total Webhook deliveries refused, by reason.\n# TYPE ferry_webhook_notifications_rejected_total counter\n")
	for _, k := range reasons {
		fmt.Fprintf(w, "ferry_webhook_notifications_rejected_total{reason=%q} %d\n", k, rejected[k])
	}
	if m.Pending != nil {
		n, lag := m.Pending()
		fmt.Fprintf(w, "# HELP ferry_webhook_pending Notifications stored and not yet synced.\n# TYPE ferry_webhook_pending gauge\nferry_webhook_pending %d\n", n)
		fmt.Fprintf(w, "# HELP ferry_webhook_lag_seconds Age of the oldest pending notification.\n# TYPE ferry_webhook_lag_seconds gauge\nferry_webhook_lag_seconds %g\n", lag.Seconds())
	}
	if m.SalesforceCalls != nil {
		used, budget := m.SalesforceCalls()
		fmt.Fprintf(w, "# HELP ferry_salesforce_api_calls_used Salesforce API calls ferry made in the last 24 hours.\n# TYPE ferry_salesforce_api_calls_used gauge\nferry_salesforce_api_calls_used %d\n", used)
		fmt.Fprintf(w, "# HELP ferry_salesforce_api_budget Salesforce API calls ferry may make in 24 hours.\n# TYPE ferry_salesforce_api_budget gauge\nferry_salesforce_api_budget %d\n", budget)
	}
}
