package loader_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dangohq/dango/events"
	"github.com/dangohq/dango/spool"
)

// A failed load whose remaining batches reach a restarted writer must not start a load that
// can never complete: they are dropped (their files deleted), the failure is announced again,
// and the next load commits.
func TestFailedLoadLeftoversAfterRestart(t *testing.T) {
	h := startWith(t, 5*time.Second)
	bad := h.scan("a.csv", 2)
	bad.Scan.Files = []string{filepath.Join(h.dir, "vanished.csv")}
	h.send(events.BatchMsg{LoadID: "5.000001", Seq: 1, Batch: bad})
	if e := h.wait(); e.Type != events.SyncFailed {
		t.Fatalf("event = %+v", e)
	}
	h.restart()
	// The rest of the failed load arrives at the new writer: a spooled file and the end.
	late := h.scan("late.csv", 3)
	late.Scan.Temporary = true
	spooled := filepath.Join(spool.Dir(h.dir), "late.ndjson")
	if err := os.MkdirAll(filepath.Dir(spooled), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(late.Scan.Files[0], spooled); err != nil {
		t.Fatal(err)
	}
	late.Scan.Files[0] = spooled
	h.send(events.BatchMsg{LoadID: "5.000001", Seq: 2, Batch: late})
	h.send(events.BatchMsg{LoadID: "5.000001", Seq: 2, End: true})
	e := h.wait()
	if e.Type != events.SyncFailed || e.LoadID != "5.000001" || e.Error == "" {
		t.Fatalf("leftovers of the failed load: event = %+v, want its failure again", e)
	}
	h.send(events.BatchMsg{LoadID: "5.000002", Seq: 1, Batch: h.scan("ok.csv", 4)})
	h.send(events.BatchMsg{LoadID: "5.000002", Seq: 1, End: true})
	if e := h.wait(); e.Type != events.SyncCompleted || e.LoadID != "5.000002" || e.Rows != 4 {
		t.Fatalf("healthy load after the failed one: event = %+v", e)
	}
	if n := h.count("SELECT count(*) FROM raw_src.t"); n != 4 {
		t.Errorf("rows = %d, want 4 (nothing of the failed load)", n)
	}
	if _, err := os.Stat(late.Scan.Files[0]); !os.IsNotExist(err) {
		t.Errorf("the dropped batch's spooled file is still there (%v)", err)
	}
	h.waitPending(0)
}

// An end marker whose batches never all arrive fails the load after StallTimeout instead of
// holding its messages (and a load slot) forever.
func TestIncompleteLoadFailsAfterStall(t *testing.T) {
	h := startWith(t, 300*time.Millisecond)
	h.send(events.BatchMsg{LoadID: "6.000001", Seq: 2, Batch: h.scan("b.csv", 4)})
	h.send(events.BatchMsg{LoadID: "6.000001", Seq: 2, End: true}) // batch 1 was lost
	e := h.wait()
	if e.Type != events.SyncFailed || e.LoadID != "6.000001" {
		t.Fatalf("event = %+v", e)
	}
	if n := h.count("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw_src' AND table_name = 't'"); n != 0 {
		t.Error("the incomplete load left its table")
	}
	h.send(events.BatchMsg{LoadID: "6.000002", Seq: 1, Batch: h.scan("c.csv", 2)})
	h.send(events.BatchMsg{LoadID: "6.000002", Seq: 1, End: true})
	if e := h.wait(); e.Type != events.SyncCompleted || e.Rows != 2 {
		t.Fatalf("next load: event = %+v", e)
	}
	h.waitPending(0)
}

// A load that committed just before its writer was killed (its messages not yet acknowledged,
// its completion maybe never announced) is announced as completed by the restarted writer, so
// a restarted server's run that waits for it finishes.
func TestCommittedLoadAnnouncedAfterRestart(t *testing.T) {
	h := start(t)
	h.send(events.BatchMsg{LoadID: "7.000001", Seq: 1, Batch: h.scan("a.csv", 3)})
	h.send(events.BatchMsg{LoadID: "7.000001", Seq: 1, End: true})
	if e := h.wait(); e.Type != events.SyncCompleted {
		t.Fatalf("event = %+v", e)
	}
	h.restart()
	// JetStream redelivers what the killed writer had not acknowledged.
	h.send(events.BatchMsg{LoadID: "7.000001", Seq: 1, Batch: h.scan("a.csv", 3)})
	h.send(events.BatchMsg{LoadID: "7.000001", Seq: 1, End: true})
	e := h.wait()
	if e.Type != events.SyncCompleted || e.LoadID != "7.000001" || e.Rows != 3 {
		t.Fatalf("redelivered committed load: event = %+v, want its completion with 3 rows", e)
	}
	if n := h.count("SELECT count(*) FROM raw_src.t"); n != 3 {
		t.Errorf("rows = %d, want 3 (loaded once)", n)
	}
	h.waitPending(0)
}

// waitPending waits until the batches stream holds n messages (a work queue: acknowledged
// messages are removed).
func (h *harness) waitPending(n uint64) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := h.bus.JS.Stream(h.ctx, events.StreamBatches)
		if err != nil {
			h.t.Fatal(err)
		}
		info, err := st.Info(h.ctx)
		if err != nil {
			h.t.Fatal(err)
		}
		if info.State.Msgs == n {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("batches stream holds %d messages, want %d: the writer left some unacknowledged", info.State.Msgs, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestJobDeliveredTooOftenFailsItsLoad: a job whose every delivery ends without a result (the
// worker that took it crashed or ran past its job timeout, here: nak'd) stops being delivered
// at MaxDeliver. Nobody would announce its end and its run would wait forever: the writer
// fails its load (sync.failed for the run, saying why) and removes the job from the queue.
func TestJobDeliveredTooOftenFailsItsLoad(t *testing.T) {
	h := start(t)
	cons, err := h.bus.JS.CreateOrUpdateConsumer(h.ctx, events.StreamJobs, jetstream.ConsumerConfig{Durable: "dango-workers",
		AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 3, AckWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	h.assign("8.000001", "run1", "src")
	if err := h.bus.Publish(h.ctx, events.JobSubject("src"), events.SyncJob{V: events.Version, RunID: "run1", LoadID: "8.000001", Source: "src"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		msgs, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range msgs.Messages() {
			n++
			m.Nak() // a worker that gave up
		}
		if n != 1 {
			t.Fatalf("delivery %d: got %d jobs", i+1, n)
		}
	}
	// Workers keep pulling; the next pull finds the job used up (JetStream announces it then).
	if msgs, err := cons.Fetch(1, jetstream.FetchMaxWait(time.Second)); err == nil {
		for m := range msgs.Messages() {
			t.Errorf("job delivered a 4th time (%s)", m.Subject())
		}
	}
	e := h.wait()
	if e.Type != events.SyncFailed || e.RunID != "run1" || e.LoadID != "8.000001" || !strings.Contains(e.Error, "delivered 3 times") {
		t.Fatalf("event %+v, want sync.failed of run1 saying the job was delivered 3 times", e)
	}
	st, _ := h.bus.JS.Stream(h.ctx, events.StreamJobs)
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, err := st.Info(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job is still queued: %d messages", info.State.Msgs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
