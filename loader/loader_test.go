package loader_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/events"
	"github.com/dangohq/dango/loader"
	"github.com/dangohq/dango/warehouse"
)

type harness struct {
	t      *testing.T
	ctx    context.Context
	bus    *events.Bus
	w      *warehouse.Writer
	dir    string
	events chan events.Event
	stall  time.Duration
	stop   func() // stops the running loader and waits for it
	proj   *config.Project
}

func start(t *testing.T) *harness { return startWith(t, 0) }

// startWith starts a loader whose StallTimeout is stall (0: the default).
func startWith(t *testing.T, stall time.Duration) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	bus, err := events.StartEmbedded(ctx, events.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w, err := warehouse.Open(ctx, filepath.Join(dir, "w.duckdb"), warehouse.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ctx: ctx, bus: bus, w: w, dir: dir, events: make(chan events.Event, 100), stall: stall}
	bus.NC.Subscribe(events.AllEvents, func(m *nats.Msg) {
		var e events.Event
		if json.Unmarshal(m.Data, &e) == nil && e.Terminal() {
			h.events <- e
		}
	})
	bus.NC.Flush()
	h.proj = &config.Project{Root: dir, Sources: []config.Source{
		{Name: "src", Type: "csv", Schema: "raw_src", Settings: config.Values{"path": "*.csv"}},
	}}
	h.run()
	t.Cleanup(func() {
		h.stop()
		cancel()
		w.Close()
		bus.Close()
	})
	return h
}

// run starts a loader, as a writer process does at start.
func (h *harness) run() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(h.ctx)
	l := &loader.Loader{Bus: h.bus, Writer: h.w, Log: zerolog.Nop(), StallTimeout: h.stall, Project: h.proj}
	if err := l.Start(ctx); err != nil {
		h.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	h.stop = func() { cancel(); <-done }
}

// restart stops the loader and starts a new one, as a restarted writer process would: what
// the old one had not acknowledged is delivered to the new one.
func (h *harness) restart() {
	h.t.Helper()
	h.stop()
	h.run()
}

// scan writes a CSV of n rows and returns a batch that loads it.
func (h *harness) scan(name string, n int) *batch.Batch {
	p := filepath.Join(h.dir, name)
	f, _ := os.Create(p)
	fmt.Fprintln(f, "id")
	for i := 0; i < n; i++ {
		fmt.Fprintln(f, i)
	}
	f.Close()
	return &batch.Batch{Table: "t", Resource: batch.Resource{Name: "t", Table: "t", Disposition: batch.Append}, ExtractedAt: time.Now(), Scan: &batch.Scan{Format: "csv", Files: []string{p},
		Columns: []batch.Column{{Name: "id", Path: []string{"id"}, Type: "BIGINT"}}}}
}

func (h *harness) send(m events.BatchMsg) {
	h.t.Helper()
	m.V, m.RunID, m.Source, m.Schema = events.Version, "run1", "src", "raw_src"
	if m.LoadID == "" {
		m.LoadID = "1.000001"
	}
	if m.Attempt == 0 {
		m.Attempt = 1
	}
	h.assign(m.LoadID, m.RunID, m.Source)
	if err := h.bus.Publish(h.ctx, events.BatchSubject("src"), m); err != nil {
		h.t.Fatal(err)
	}
}

// assign records a load as the dispatcher does before queueing its job.
func (h *harness) assign(loadID, runID, source string) {
	h.t.Helper()
	kv, err := h.bus.Assignments(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	a, _ := json.Marshal(events.Assignment{RunID: runID, Source: source})
	if _, err := kv.Put(h.ctx, loadID, a); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) wait() events.Event {
	h.t.Helper()
	select {
	case e := <-h.events:
		return e
	case <-time.After(10 * time.Second):
		h.t.Fatal("no terminal event")
	}
	return events.Event{}
}

func (h *harness) count(q string) int64 {
	h.t.Helper()
	var n int64
	if err := h.w.DB().QueryRow(q).Scan(&n); err != nil {
		h.t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestDuplicateBatchAppliedOnce(t *testing.T) {
	h := start(t)
	b1, b2 := h.scan("a.csv", 5), h.scan("b.csv", 7)
	h.send(events.BatchMsg{Seq: 1, Batch: b1})
	h.send(events.BatchMsg{Seq: 1, Batch: b1}) // JetStream redelivery, or a publisher retry
	h.send(events.BatchMsg{Seq: 2, Batch: b2})
	h.send(events.BatchMsg{Seq: 2, End: true})
	e := h.wait()
	if e.Type != events.SyncCompleted || e.Rows != 12 {
		t.Fatalf("event = %+v", e)
	}
	if n := h.count("SELECT count(*) FROM raw_src.t"); n != 12 {
		t.Errorf("rows = %d, want 12", n)
	}
}

func TestRetriedAttemptDiscardsEarlierBatches(t *testing.T) {
	h := start(t)
	// Attempt 1 sent one batch and died; attempt 2 redoes the job from the start.
	h.send(events.BatchMsg{Attempt: 1, Seq: 1, Batch: h.scan("old.csv", 100)})
	time.Sleep(100 * time.Millisecond)
	h.send(events.BatchMsg{Attempt: 2, Seq: 1, Batch: h.scan("new.csv", 3)})
	h.send(events.BatchMsg{Attempt: 1, Seq: 2, Batch: h.scan("late.csv", 50)}) // a straggler of attempt 1
	h.send(events.BatchMsg{Attempt: 2, Seq: 1, End: true})
	e := h.wait()
	if e.Type != events.SyncCompleted || e.Rows != 3 {
		t.Fatalf("event = %+v", e)
	}
	if n := h.count("SELECT count(*) FROM raw_src.t"); n != 3 {
		t.Errorf("rows = %d, want 3 (only attempt 2)", n)
	}
	if n := h.count("SELECT count(*) FROM raw_src._dlt_loads"); n != 1 {
		t.Errorf("loads = %d", n)
	}
}

func TestEndMarkerBeforeLastBatch(t *testing.T) {
	h := start(t)
	h.send(events.BatchMsg{Seq: 2, End: true})
	h.send(events.BatchMsg{Seq: 2, Batch: h.scan("b.csv", 4)})
	select {
	case e := <-h.events:
		t.Fatalf("committed with a batch missing: %+v", e)
	case <-time.After(200 * time.Millisecond):
	}
	h.send(events.BatchMsg{Seq: 1, Batch: h.scan("a.csv", 6)})
	if e := h.wait(); e.Type != events.SyncCompleted || e.Rows != 10 {
		t.Fatalf("event = %+v", e)
	}
}

func TestAbortRollsBack(t *testing.T) {
	h := start(t)
	h.send(events.BatchMsg{Seq: 1, Batch: h.scan("a.csv", 6)})
	h.send(events.BatchMsg{Abort: "connector exploded"})
	e := h.wait()
	if e.Type != events.SyncFailed || e.Error != "connector exploded" {
		t.Fatalf("event = %+v", e)
	}
	if n := h.count("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw_src' AND table_name = 't'"); n != 0 {
		t.Error("aborted load left its table")
	}
}

func TestRedeliveryAfterCommitIsDropped(t *testing.T) {
	h := start(t)
	b := h.scan("a.csv", 2)
	h.send(events.BatchMsg{LoadID: "9.000001", Seq: 1, Batch: b})
	h.send(events.BatchMsg{LoadID: "9.000001", Seq: 1, End: true})
	h.wait()
	// The same load arrives again, e.g. a worker's publish was retried after a lost ack.
	h.send(events.BatchMsg{LoadID: "9.000001", Seq: 1, Batch: b})
	h.send(events.BatchMsg{LoadID: "9.000001", Seq: 1, End: true})
	// And a new load proves the loader is still working and ordered after the duplicate.
	h.send(events.BatchMsg{LoadID: "9.000002", Seq: 1, Batch: h.scan("c.csv", 1)})
	h.send(events.BatchMsg{LoadID: "9.000002", Seq: 1, End: true})
	if e := h.wait(); e.LoadID != "9.000002" {
		t.Fatalf("unexpected event for the duplicate load: %+v", e)
	}
	if n := h.count("SELECT count(*) FROM raw_src.t"); n != 3 {
		t.Errorf("rows = %d, want 3", n)
	}
}

func TestBadBatchFailsTheLoad(t *testing.T) {
	h := start(t)
	b := h.scan("a.csv", 2)
	b.Scan.Files = []string{filepath.Join(h.dir, "vanished.csv")}
	h.send(events.BatchMsg{Seq: 1, Batch: b})
	h.send(events.BatchMsg{Seq: 1, End: true})
	e := h.wait()
	if e.Type != events.SyncFailed || e.Error == "" {
		t.Fatalf("event = %+v", e)
	}
}
