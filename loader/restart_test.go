package loader_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

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
