package service

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// metrics are the counters /metrics exposes in Prometheus' text format.
type metrics struct {
	mu          sync.Mutex
	jobs        map[string]int64 // sync jobs by outcome
	rows        int64
	durationSum float64
	durationN   int64
	runs        map[[2]string]int64 // (kind, status)
	running     int64
	modelNodes  int64
}

func (m *metrics) job(status string, rows int64, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.jobs == nil {
		m.jobs = map[string]int64{}
	}
	m.jobs[status]++
	m.rows += rows
	m.durationSum += d.Seconds()
	m.durationN++
}

func (m *metrics) run(kind, status string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runs == nil {
		m.runs = map[[2]string]int64{}
	}
	m.runs[[2]string{kind, status}]++
}

func (m *metrics) inProgress(d int64) {
	m.mu.Lock()
	m.running += d
	m.mu.Unlock()
}

func (m *metrics) models(n int) {
	m.mu.Lock()
	m.modelNodes += int64(n)
	m.mu.Unlock()
}

// write renders the metrics; queueDepth is the jobs waiting for (or held by) a worker,
// batches those waiting for the writer (-1 unknown).
func (m *metrics) write(w io.Writer, queueDepth, batches int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintln(w, "# HELP dango_sync_jobs_total Source syncs finished, by outcome.")
	fmt.Fprintln(w, "# TYPE dango_sync_jobs_total counter")
	for _, st := range []string{Success, Failed} {
		fmt.Fprintf(w, "dango_sync_jobs_total{status=%q} %d\n", st, m.jobs[st])
	}
	fmt.Fprintln(w, "# HELP dango_sync_failures_total Source syncs that failed.")
	fmt.Fprintln(w, "# TYPE dango_sync_failures_total counter")
	fmt.Fprintf(w, "dango_sync_failures_total %d\n", m.jobs[Failed])
	fmt.Fprintln(w, "# HELP dango_rows_loaded_total Rows committed to the warehouse by syncs.")
	fmt.Fprintln(w, "# TYPE dango_rows_loaded_total counter")
	fmt.Fprintf(w, "dango_rows_loaded_total %d\n", m.rows)
	fmt.Fprintln(w, "# HELP dango_sync_duration_seconds Time from a source's dispatch to its end.")
	fmt.Fprintln(w, "# TYPE dango_sync_duration_seconds summary")
	fmt.Fprintf(w, "dango_sync_duration_seconds_sum %g\n", m.durationSum)
	fmt.Fprintf(w, "dango_sync_duration_seconds_count %d\n", m.durationN)
	fmt.Fprintln(w, "# HELP dango_syncs_in_progress Source syncs dispatched and not finished.")
	fmt.Fprintln(w, "# TYPE dango_syncs_in_progress gauge")
	fmt.Fprintf(w, "dango_syncs_in_progress %d\n", m.running)
	fmt.Fprintln(w, "# HELP dango_queue_depth Sync jobs in the queue, not yet done by a worker.")
	fmt.Fprintln(w, "# TYPE dango_queue_depth gauge")
	fmt.Fprintf(w, "dango_queue_depth %d\n", queueDepth)
	fmt.Fprintln(w, "# HELP dango_batches_pending Extracted batches not yet committed by the writer.")
	fmt.Fprintln(w, "# TYPE dango_batches_pending gauge")
	fmt.Fprintf(w, "dango_batches_pending %d\n", batches)
	fmt.Fprintln(w, "# HELP dango_runs_total Runs (requests) finished, by kind and outcome.")
	fmt.Fprintln(w, "# TYPE dango_runs_total counter")
	keys := make([][2]string, 0, len(m.runs))
	for k := range m.runs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	for _, k := range keys {
		fmt.Fprintf(w, "dango_runs_total{kind=%q,status=%q} %d\n", k[0], k[1], m.runs[k])
	}
	fmt.Fprintln(w, "# HELP dango_model_nodes_total Model nodes executed by runs.")
	fmt.Fprintln(w, "# TYPE dango_model_nodes_total counter")
	fmt.Fprintf(w, "dango_model_nodes_total %d\n", m.modelNodes)
}
