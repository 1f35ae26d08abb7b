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
	Abandoned  int64 // notifications moved to failed/ after failing alone
	Writes     int64 // records written by batches

	// The inbox app (canvas.go) and its snapshot (panel.go).
	CanvasViews    int64            // canvases answered, initialize and submit
	CanvasSeconds  float64          // their total time to answer
	CanvasRejected map[string]int64 // requests refused, by reason
	LeadRequests   int64            // Create Lead clicks passed on
	LeadFailures   int64            // of which the callback failed
	PanelRefreshes int64            // snapshots built and swapped in
	PanelBusy      int64            // refreshes skipped: a sync held the warehouse
	PanelFailed    int64            // refreshes that failed otherwise
	PanelBuilt     time.Time        // when the snapshot answering views was built
	PanelBuildTime time.Duration    // how long building it took
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

func (m *Metrics) canvasReject(reason string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	if m.CanvasRejected == nil {
		m.CanvasRejected = map[string]int64{}
	}
	m.CanvasRejected[reason]++
	m.mu.Unlock()
}

func (m *Metrics) canvasServed(took time.Duration) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.CanvasViews++
	m.CanvasSeconds += took.Seconds()
	m.mu.Unlock()
}

// leadRequested counts a Create Lead request, or its failure.
func (m *Metrics) leadRequested(failed bool) {
	if m == nil {
		return
	}
	m.mu.Lock()
	if failed {
		m.LeadFailures++
	} else {
		m.LeadRequests++
	}
	m.mu.Unlock()
}

func (m *Metrics) panelRefreshed(took time.Duration) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.PanelRefreshes++
	m.PanelBuilt = time.Now()
	m.PanelBuildTime = took
	m.mu.Unlock()
}

func (m *Metrics) panelNotRefreshed(busy bool) {
	if m == nil {
		return
	}
	m.mu.Lock()
	if busy {
		m.PanelBusy++
	} else {
		m.PanelFailed++
	}
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
		{"ferry_webhook_notifications_abandoned_total", "Notifications moved to failed/ after failing alone; the schedule syncs their records.", m.Abandoned},
		{"ferry_writes_total", "Records written by webhook batches.", m.Writes},
	}
	counters = append(counters, []struct {
		name, help string
		v          int64
	}{
		{"ferry_canvas_views_total", "Inbox app canvases answered (initialize and submit).", m.CanvasViews},
		{"ferry_canvas_lead_requests_total", "Create Lead clicks passed on to the micro-sync.", m.LeadRequests},
		{"ferry_canvas_lead_requests_failed_total", "Create Lead clicks whose request failed.", m.LeadFailures},
		{"ferry_panel_refreshes_total", "Inbox panel snapshots built and swapped in.", m.PanelRefreshes},
		{"ferry_panel_refreshes_busy_total", "Panel refreshes skipped because a sync held the warehouse.", m.PanelBusy},
		{"ferry_panel_refreshes_failed_total", "Panel refreshes that failed for another reason.", m.PanelFailed},
	}...)
	rejected, reasons := sorted(m.Rejected)
	canvasRejected, canvasReasons := sorted(m.CanvasRejected)
	views, canvasSeconds, built, buildTime := m.CanvasViews, m.CanvasSeconds, m.PanelBuilt, m.PanelBuildTime
	m.mu.Unlock()
	for _, c := range counters {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", c.name, c.help, c.name, c.name, c.v)
	}
	fmt.Fprintf(w, "# HELP ferry_webhook_notifications_rejected_total Webhook deliveries refused, by reason.\n# TYPE ferry_webhook_notifications_rejected_total counter\n")
	for _, k := range reasons {
		fmt.Fprintf(w, "ferry_webhook_notifications_rejected_total{reason=%q} %d\n", k, rejected[k])
	}
	fmt.Fprintf(w, "# HELP ferry_canvas_requests_rejected_total Inbox app requests refused, by reason.\n# TYPE ferry_canvas_requests_rejected_total counter\n")
	for _, k := range canvasReasons {
		fmt.Fprintf(w, "ferry_canvas_requests_rejected_total{reason=%q} %d\n", k, canvasRejected[k])
	}
	fmt.Fprintf(w, "# HELP ferry_canvas_view_seconds Time to answer an inbox app request.\n# TYPE ferry_canvas_view_seconds summary\nferry_canvas_view_seconds_sum %g\nferry_canvas_view_seconds_count %d\n", canvasSeconds, views)
	if !built.IsZero() {
		fmt.Fprintf(w, "# HELP ferry_panel_snapshot_built_timestamp_seconds When the panel snapshot answering views was built.\n# TYPE ferry_panel_snapshot_built_timestamp_seconds gauge\nferry_panel_snapshot_built_timestamp_seconds %d\n", built.Unix())
		fmt.Fprintf(w, "# HELP ferry_panel_build_seconds How long building that snapshot took.\n# TYPE ferry_panel_build_seconds gauge\nferry_panel_build_seconds %g\n", buildTime.Seconds())
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

// sorted copies a by-reason map with its keys in order.
func sorted(m map[string]int64) (map[string]int64, []string) {
	keys := make([]string, 0, len(m))
	out := make(map[string]int64, len(m))
	for k, v := range m {
		keys = append(keys, k)
		out[k] = v
	}
	sort.Strings(keys)
	return out, keys
}
