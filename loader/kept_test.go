package loader_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/events"
	"github.com/dangohq/dango/spool"
)

// TestFetchedAndKeptRowsAgree loads connector batches (spooled records, counted) where the
// writer keeps fewer rows than were fetched: the sync's log says how many were fetched, how
// many kept and why, so the connector's count and the sync's total never disagree unsaid.
func TestFetchedAndKeptRowsAgree(t *testing.T) {
	cases := []struct {
		name        string
		disposition string
		ids         []int
		want        string // "" : no line
		rows        int64
	}{
		{"merge with duplicate keys", batch.Merge, []int{1, 2, 3, 1, 2, 3, 4}, "Kept 4 of 7 fetched rows in raw_src.t: 3 were duplicates by primary key (the last one kept)", 4},
		{"all kept", batch.Merge, []int{1, 2, 3}, "", 3},
		{"append", batch.Append, []int{1, 1}, "", 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := start(t)
			var mu sync.Mutex
			var logs []string
			sub, err := h.bus.NC.Subscribe(events.AllEvents, func(m *nats.Msg) {
				var e events.Event
				if json.Unmarshal(m.Data, &e) == nil && e.Type == events.SyncLog {
					mu.Lock()
					logs = append(logs, e.Message)
					mu.Unlock()
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			h.bus.NC.Flush()
			f, err := spool.Create(spool.Dir(h.dir), "page", ".jsonl")
			if err != nil {
				t.Fatal(err)
			}
			for i, id := range c.ids {
				fmt.Fprintf(f, "{\"id\": %d, \"v\": %d}\n", id, i)
			}
			f.Close()
			p := f.Name()
			bt := &batch.Batch{Table: "t", ExtractedAt: time.Now(),
				Resource: batch.Resource{Name: "t", Table: "t", Disposition: c.disposition, PrimaryKey: []string{"id"}},
				Scan: &batch.Scan{Format: "json", Files: []string{p}, Options: map[string]any{"format": "newline_delimited"}, Temporary: true,
					Records: int64(len(c.ids)), Columns: []batch.Column{{Name: "id", Path: []string{"id"}, Type: "BIGINT"}, {Name: "v", Path: []string{"v"}, Type: "BIGINT"}}}}
			h.send(events.BatchMsg{Seq: 1, Batch: bt})
			h.send(events.BatchMsg{Seq: 1, End: true})
			e := h.wait()
			if e.Type != events.SyncCompleted || e.Rows != c.rows {
				t.Fatalf("event = %+v, want %d rows", e, c.rows)
			}
			h.bus.NC.Flush()
			time.Sleep(100 * time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			all := strings.Join(logs, "\n")
			if c.want == "" && strings.Contains(all, "Kept ") || c.want != "" && !strings.Contains(all, c.want) {
				t.Fatalf("log:\n%s\nwant %q", all, c.want)
			}
		})
	}
}
