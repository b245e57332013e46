package server

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// metrics counts what the server does, for /metrics in Prometheus's text format.
// Labels are routes (patterns, never raw paths) and status codes, so nothing a client
// sends becomes a label.
type metrics struct {
	mu       sync.Mutex
	requests map[reqKey]*histogram

	pushes, pushChanges, pushRejected atomic.Int64
	pulls, pulledRecords              atomic.Int64
	reconciles, fetches               atomic.Int64
	enrolments, reregistrations       atomic.Int64
	rateLimited, authFailures         atomic.Int64
}

type reqKey struct {
	route string
	code  int
}

var latencyBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

type histogram struct {
	counts []uint64 // per bucket, not cumulative
	sum    float64
	n      uint64
}

func newMetrics() *metrics { return &metrics{requests: map[reqKey]*histogram{}} }

func (m *metrics) observe(route string, code int, d time.Duration) {
	if route == "" {
		route = "other"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.requests[reqKey{route, code}]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(latencyBuckets))}
		m.requests[reqKey{route, code}] = h
	}
	s := d.Seconds()
	for i, le := range latencyBuckets {
		if s <= le {
			h.counts[i]++
			break
		}
	}
	h.sum += s
	h.n++
}

// write renders the metrics. gauges are read by the caller (devices, tenants).
func (m *metrics) write(w io.Writer, gauges map[string]float64) {
	m.mu.Lock()
	keys := make([]reqKey, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b reqKey) int {
		if c := strings.Compare(a.route, b.route); c != 0 {
			return c
		}
		return a.code - b.code
	})
	var b strings.Builder
	b.WriteString("# HELP fieldforms_http_requests_total HTTP requests by route and status code.\n# TYPE fieldforms_http_requests_total counter\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "fieldforms_http_requests_total{route=%q,code=\"%d\"} %d\n", k.route, k.code, m.requests[k].n)
	}
	b.WriteString("# HELP fieldforms_http_request_duration_seconds HTTP request latency by route and status code.\n# TYPE fieldforms_http_request_duration_seconds histogram\n")
	for _, k := range keys {
		h := m.requests[k]
		var cum uint64
		for i, le := range latencyBuckets {
			cum += h.counts[i]
			fmt.Fprintf(&b, "fieldforms_http_request_duration_seconds_bucket{route=%q,code=\"%d\",le=\"%s\"} %d\n", k.route, k.code, strconv.FormatFloat(le, 'g', -1, 64), cum)
		}
		fmt.Fprintf(&b, "fieldforms_http_request_duration_seconds_bucket{route=%q,code=\"%d\",le=\"+Inf\"} %d\n", k.route, k.code, h.n)
		fmt.Fprintf(&b, "fieldforms_http_request_duration_seconds_sum{route=%q,code=\"%d\"} %s\n", k.route, k.code, strconv.FormatFloat(h.sum, 'g', -1, 64))
		fmt.Fprintf(&b, "fieldforms_http_request_duration_seconds_count{route=%q,code=\"%d\"} %d\n", k.route, k.code, h.n)
	}
	m.mu.Unlock()
	counter := func(name, help string, v int64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	counter("fieldforms_pushes_total", "Push requests answered.", m.pushes.Load())
	counter("fieldforms_push_changes_total", "Changes received in pushes.", m.pushChanges.Load())
	counter("fieldforms_push_rejected_total", "Changes refused in pushes.", m.pushRejected.Load())
	counter("fieldforms_pulls_total", "Pull requests answered.", m.pulls.Load())
	counter("fieldforms_pulled_records_total", "Records sent in pulls.", m.pulledRecords.Load())
	counter("fieldforms_reconciles_total", "Reconcile requests answered.", m.reconciles.Load())
	counter("fieldforms_fetches_total", "Record fetch requests answered.", m.fetches.Load())
	counter("fieldforms_enrolments_total", "Devices enrolled.", m.enrolments.Load())
	counter("fieldforms_reregistrations_total", "Devices recognised by their credential after the registry lost them.", m.reregistrations.Load())
	counter("fieldforms_rate_limited_total", "Requests refused by the rate limit.", m.rateLimited.Load())
	counter("fieldforms_auth_failures_total", "Requests refused for a missing or bad credential.", m.authFailures.Load())
	names := make([]string, 0, len(gauges))
	for k := range gauges {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(&b, "# TYPE %s gauge\n%s %s\n", name, name, strconv.FormatFloat(gauges[name], 'g', -1, 64))
	}
	io.WriteString(w, b.String())
}
