package loader_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/events"
)

// publish sends a message exactly as given (no fields filled in) on a subject.
func (h *harness) publish(subject string, m events.BatchMsg) {
	h.t.Helper()
	if err := h.bus.Publish(h.ctx, subject, m); err != nil {
		h.t.Fatal(err)
	}
}

// waitLoad returns the terminal event of one load, keeping others for later calls.
func (h *harness) waitLoad(stash map[string]events.Event, loadID string) events.Event {
	h.t.Helper()
	if e, ok := stash[loadID]; ok {
		delete(stash, loadID)
		return e
	}
	deadline := time.After(15 * time.Second)
	for {
		select {
		case e := <-h.events:
			if e.LoadID == loadID {
				return e
			}
			stash[e.LoadID] = e
		case <-deadline:
			h.t.Fatalf("no terminal event for load %s", loadID)
		}
	}
}

func writeCSV(t *testing.T, path string, n int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("id\n")
	for i := 0; i < n; i++ {
		fmt.Fprintln(&b, i)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestForgedBatchesAreRefused publishes batches an attacker (or a broken worker) could
// send: none may touch a file outside the spool, run SQL of its own, or commit anything, each
// fails its load with a clear error, and honest loads after each still commit.
func TestForgedBatchesAreRefused(t *testing.T) {
	h := start(t)
	spoolDir := filepath.Join(h.dir, ".dango", "spool")
	if err := os.MkdirAll(spoolDir, 0o755); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir() // not the project, not the spool
	victim := filepath.Join(outside, "victim.csv")
	writeCSV(t, victim, 3)
	marker := filepath.Join(outside, "pwned.csv")
	inject := "); COPY (SELECT 42) TO '" + marker + "' (FORMAT csv); --"
	link := filepath.Join(spoolDir, "table-1-link.csv")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(spoolDir, "dirlink")); err != nil {
		t.Fatal(err)
	}
	spooled := func(name string) string {
		p := filepath.Join(spoolDir, name)
		writeCSV(t, p, 2)
		return p
	}

	good := func() *batch.Batch { return h.scan("good.csv", 4) }
	tmp := func(file string) *batch.Batch {
		b := good()
		b.Scan.Files, b.Scan.Temporary = []string{file}, true
		return b
	}
	cases := []struct {
		name    string
		subject string // default: the source's subject
		source  string // default: src
		schema  string // default: raw_src
		batch   func() *batch.Batch
		want    string // in the sync.failed error
	}{
		{name: "temporary file outside the spool", batch: func() *batch.Batch { return tmp(victim) }, want: "temporary file"},
		{name: "symlink in the spool pointing out", batch: func() *batch.Batch { return tmp(link) }, want: "outside"},
		{name: "temporary file through a symlinked folder in the spool", batch: func() *batch.Batch {
			return tmp(filepath.Join(spoolDir, "dirlink", filepath.Base(victim)))
		}, want: "not inside the spool"},
		{name: "dotdot out of the spool", batch: func() *batch.Batch { return tmp(spoolDir + "/../../" + filepath.Base(victim)) }, want: "clean absolute path"},
		{name: "source file not in sources.yml", batch: func() *batch.Batch {
			b := good()
			b.Scan.Files = []string{victim}
			return b
		}, want: "does not match"},
		{name: "injected column type", batch: func() *batch.Batch {
			b := good()
			b.Scan.Columns[0].Type = "BIGINT" + inject
			return b
		}, want: "type"},
		{name: "injected reader type", batch: func() *batch.Batch {
			b := good()
			b.Scan.ReaderColumns = []batch.ReaderColumn{{Name: "id", Type: "BIGINT'}" + inject}}
			return b
		}, want: "type"},
		{name: "injected option key", batch: func() *batch.Batch {
			b := good()
			b.Scan.Options = map[string]any{"header = true" + inject: true}
			return b
		}, want: "reader option"},
		{name: "injected option value", batch: func() *batch.Batch {
			b := good()
			b.Scan.Options = map[string]any{"types": map[string]any{"id": "VARCHAR" + inject}}
			return b
		}, want: "type"},
		{name: "injected column name", batch: func() *batch.Batch {
			b := good()
			b.Scan.Columns[0].Name = `id" BIGINT` + inject
			return b
		}, want: "identifier"},
		{name: "injected table name", batch: func() *batch.Batch {
			b := good()
			b.Table = `t" (id BIGINT)` + inject
			return b
		}, want: "identifier"},
		{name: "injected path segment is only a name", batch: func() *batch.Batch {
			b := good()
			b.Scan.Columns[0].Path = []string{`id")` + inject}
			return b
		}, want: "load into"},
		{name: "injected incremental start is only a value", batch: func() *batch.Batch {
			b := good()
			b.Resource.Incremental = &batch.Incremental{CursorColumn: "id", Start: "1'" + inject}
			return b
		}, want: "does not fit"},
		{name: "another load's object", batch: func() *batch.Batch {
			b := good()
			b.Scan.Files = []string{events.ObjectPrefix + "9.000009/1/1-x.csv"}
			b.Scan.Digests = []string{"SHA-256=" + strings.Repeat("A", 43)}
			return b
		}, want: "does not belong"},
		{name: "schema not the source's", schema: "main", batch: good, want: "sources.yml loads it into raw_src"},
		{name: "source not in the project", source: "evil", schema: "raw_evil", batch: good, want: "not in this project"},
		{name: "subject of another source", subject: events.BatchSubject("other"), batch: good, want: "arrived on subject"},
	}
	stash := map[string]events.Event{}
	honest := 0
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src, schema, subject := "src", "raw_src", events.BatchSubject("src")
			if tc.source != "" {
				src, subject = tc.source, events.BatchSubject(tc.source)
			}
			if tc.schema != "" {
				schema = tc.schema
			}
			if tc.subject != "" {
				subject = tc.subject
			}
			forged := fmt.Sprintf("%d.%06d", 100+i, 1)
			// The load was assigned (a worker given this job forges what it sends): the
			// checks of the batch itself must catch it.
			h.assign(forged, "evil", src)
			m := events.BatchMsg{V: events.Version, RunID: "evil", LoadID: forged, Source: src, Schema: schema, Attempt: 1, Seq: 1, Batch: tc.batch()}
			h.publish(subject, m)
			h.publish(subject, events.BatchMsg{V: events.Version, RunID: "evil", LoadID: forged, Source: src, Schema: schema, Attempt: 1, Seq: 1, End: true})
			e := h.waitLoad(stash, forged)
			if e.Type != events.SyncFailed || !strings.Contains(e.Error, tc.want) {
				t.Errorf("forged load: event %s, error %q; want sync.failed mentioning %q", e.Type, e.Error, tc.want)
			}
			if len(e.Error) > 1000 {
				t.Errorf("error echoes %d bytes of the message", len(e.Error))
			}

			// The loader is not wedged: an honest load (a spooled temporary file) commits,
			// and its spool file is removed after the commit.
			id := fmt.Sprintf("%d.%06d", 200+i, 1)
			ok := h.scan("ok.csv", 5)
			ok.Scan.Files, ok.Scan.Temporary = []string{spooled(fmt.Sprintf("table-1-ok%d.csv", i))}, true
			h.send(events.BatchMsg{LoadID: id, Seq: 1, Batch: ok})
			h.send(events.BatchMsg{LoadID: id, Seq: 1, End: true})
			if e := h.waitLoad(stash, id); e.Type != events.SyncCompleted || e.Rows != 2 {
				t.Fatalf("honest load after the forged one: %+v", e)
			}
			honest++
			if _, err := os.Stat(ok.Scan.Files[0]); !os.IsNotExist(err) {
				t.Errorf("spooled file of a committed load not removed: %v", err)
			}

			if _, err := os.Stat(victim); err != nil {
				t.Fatalf("file outside the spool was touched: %v", err)
			}
			if _, err := os.Lstat(link); err != nil {
				t.Fatalf("symlink of a refused batch was removed: %v", err)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("SQL from the batch ran: it wrote " + marker)
			}
			if n := h.count("SELECT count(*) FROM raw_src._dlt_loads"); n != int64(honest) {
				t.Errorf("loads committed = %d, want %d (honest ones only)", n, honest)
			}
			if n := h.count("SELECT count(*) FROM raw_src.t"); n != int64(2*honest) {
				t.Errorf("rows = %d, want %d", n, 2*honest)
			}
		})
	}
	if n := h.count("SELECT count(*) FROM information_schema.schemata WHERE schema_name IN ('raw_evil', 'main_evil')"); n != 0 {
		t.Errorf("a forged batch created a schema")
	}
}

// TestFileSourceFilesMustBeConfigured checks the other allowed root: a file source's batch
// may name the files its configured glob matches, not a symlink in its folder pointing out.
func TestFileSourceFilesMustBeConfigured(t *testing.T) {
	h := start(t)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.csv")
	writeCSV(t, secret, 3)
	if err := os.Symlink(secret, filepath.Join(h.dir, "sneaky.csv")); err != nil {
		t.Fatal(err)
	}
	stash := map[string]events.Event{}

	b := h.scan("real.csv", 2) // h.dir/*.csv is the source's path
	b.Scan.Files = []string{filepath.Join(h.dir, "sneaky.csv")}
	h.send(events.BatchMsg{LoadID: "1.000001", Seq: 1, Batch: b})
	h.send(events.BatchMsg{LoadID: "1.000001", Seq: 1, End: true})
	if e := h.waitLoad(stash, "1.000001"); e.Type != events.SyncFailed || !strings.Contains(e.Error, "outside") {
		t.Fatalf("symlink out of the source's folder: %+v", e)
	}

	h.send(events.BatchMsg{LoadID: "1.000002", Seq: 1, Batch: h.scan("real.csv", 2)})
	h.send(events.BatchMsg{LoadID: "1.000002", Seq: 1, End: true})
	if e := h.waitLoad(stash, "1.000002"); e.Type != events.SyncCompleted || e.Rows != 2 {
		t.Fatalf("configured file: %+v", e)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "real.csv")); err != nil {
		t.Errorf("a source's own file was removed: %v", err)
	}
}

// TestMalformedBatchFailsItsLoad: a message that is JSON with a known load id but not a
// batch message fails that load instead of leaving it open.
func TestMalformedBatchFailsItsLoad(t *testing.T) {
	h := start(t)
	stash := map[string]events.Event{}
	if _, err := h.bus.JS.Publish(h.ctx, events.BatchSubject("src"),
		[]byte(`{"v":1,"load_id":"5.000001","source":"src","schema":"raw_src","attempt":1,"seq":1,"batch":{"table":"t","scan":"not a scan"}}`)); err != nil {
		t.Fatal(err)
	}
	if e := h.waitLoad(stash, "5.000001"); e.Type != events.SyncFailed || !strings.Contains(e.Error, "malformed") {
		t.Fatalf("malformed message: %+v", e)
	}
	h.send(events.BatchMsg{LoadID: "5.000002", Seq: 1, Batch: h.scan("a.csv", 3)})
	h.send(events.BatchMsg{LoadID: "5.000002", Seq: 1, End: true})
	if e := h.waitLoad(stash, "5.000002"); e.Type != events.SyncCompleted || e.Rows != 3 {
		t.Fatalf("honest load after it: %+v", e)
	}
}

// TestStaleAttemptDeletesOnlySpoolFiles: the leftovers of an earlier attempt are deleted, but
// only when they are spool files; a forged "stale" batch naming another file deletes nothing.
func TestStaleAttemptDeletesOnlySpoolFiles(t *testing.T) {
	h := start(t)
	stash := map[string]events.Event{}
	spoolDir := filepath.Join(h.dir, ".dango", "spool")
	os.MkdirAll(spoolDir, 0o755)
	victim := filepath.Join(t.TempDir(), "victim.csv")
	writeCSV(t, victim, 1)
	stale := filepath.Join(spoolDir, "table-1-stale.csv")
	writeCSV(t, stale, 1)

	h.send(events.BatchMsg{Attempt: 2, Seq: 1, Batch: h.scan("a.csv", 2)})
	forged := h.scan("b.csv", 1)
	forged.Scan.Files, forged.Scan.Temporary = []string{victim}, true
	h.send(events.BatchMsg{Attempt: 1, Seq: 1, Batch: forged})
	old := h.scan("c.csv", 1)
	old.Scan.Files, old.Scan.Temporary = []string{stale}, true
	h.send(events.BatchMsg{Attempt: 1, Seq: 2, Batch: old})
	h.send(events.BatchMsg{Attempt: 2, Seq: 1, End: true})
	if e := h.waitLoad(stash, "1.000001"); e.Type != events.SyncCompleted || e.Rows != 2 {
		t.Fatalf("event = %+v", e)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("a stale batch's file outside the spool was deleted: %v", err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a stale attempt's spool file was kept: %v", err)
	}
}

// TestUnassignedLoadsAreRefused: a worker identity may publish batches, but a load the
// dispatcher never queued — a made-up load id, or a real one claimed for another source or
// run — is refused, its failure announced to no run, and nothing of it committed.
func TestUnassignedLoadsAreRefused(t *testing.T) {
	h := start(t)
	stash := map[string]events.Event{}
	cases := []struct {
		name, load     string
		assignedRun    string // "" leaves the load unassigned
		assignedSource string
		want           string
	}{
		{"never queued", "300.000001", "", "", "never queued"},
		{"queued for another run", "300.000002", "run_other", "src", `not for source src of "run1"`},
		{"queued for another source", "300.000003", "run1", "other", "queued for source other"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.assignedRun != "" {
				h.assign(tc.load, tc.assignedRun, tc.assignedSource)
			}
			for _, m := range []events.BatchMsg{{Seq: 1, Batch: h.scan("evil.csv", 7)}, {Seq: 1, End: true}} {
				m.V, m.RunID, m.Source, m.Schema, m.LoadID, m.Attempt = events.Version, "run1", "src", "raw_src", tc.load, 1
				h.publish(events.BatchSubject("src"), m)
			}
			e := h.waitLoad(stash, tc.load)
			if e.Type != events.SyncFailed || !strings.Contains(e.Error, tc.want) {
				t.Fatalf("event %s, error %q; want sync.failed mentioning %q", e.Type, e.Error, tc.want)
			}
			if e.RunID != "" {
				t.Errorf("the refusal was announced to run %q, which did not queue the load", e.RunID)
			}
		})
	}
	// An assigned load still commits, and none of the refused rows is there.
	h.send(events.BatchMsg{LoadID: "300.000009", Seq: 1, Batch: h.scan("ok.csv", 3)})
	h.send(events.BatchMsg{LoadID: "300.000009", Seq: 1, End: true})
	if e := h.waitLoad(stash, "300.000009"); e.Type != events.SyncCompleted || e.Rows != 3 {
		t.Fatalf("an assigned load after the refused ones: %+v", e)
	}
	if got := h.count("SELECT count(*) FROM raw_src.t"); got != 3 {
		t.Errorf("raw_src.t holds %d rows, want the assigned load's 3", got)
	}
}

// TestOverwrittenSpoolObjectIsNotLoaded: every worker logs in as the same identity, so the bus
// cannot stop one worker from replacing another's object in the spool store (same name, new
// content). The writer loads a shipped file only if it hashes to the digest its batch
// announced: an honest shipment commits, an overwritten one fails its load, and a batch
// without a digest is refused.
func TestOverwrittenSpoolObjectIsNotLoaded(t *testing.T) {
	h := start(t)
	store, err := h.bus.SpoolStore(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	csvOf := func(n int) []byte {
		var b strings.Builder
		b.WriteString("id\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "%d\n", i)
		}
		return []byte(b.String())
	}
	ship := func(load string, n int) (*batch.Batch, string) {
		name := batch.ObjectName(load, 1, 1, "/x/a.csv")
		info, err := store.PutBytes(h.ctx, name, csvOf(n))
		if err != nil {
			t.Fatal(err)
		}
		b := h.scan("unused.csv", 1)
		b.Scan.Files, b.Scan.Digests, b.Scan.Temporary = []string{events.ObjectPrefix + name}, []string{info.Digest}, true
		return b, name
	}
	stash := map[string]events.Event{}
	cases := []struct {
		name, load string
		tamper     func(b *batch.Batch, object string)
		want       string // "" : commits
	}{
		{"as shipped", "400.000001", func(*batch.Batch, string) {}, ""},
		{"overwritten by another worker", "400.000002", func(_ *batch.Batch, object string) {
			if _, err := store.PutBytes(h.ctx, object, csvOf(50)); err != nil {
				t.Fatal(err)
			}
		}, "does not hold what its worker shipped"},
		{"meta rewritten to claim the old digest", "400.000003", func(b *batch.Batch, object string) {
			// Replace the content, then forge a meta with the announced digest over it.
			info, err := store.PutBytes(h.ctx, object, csvOf(50))
			if err != nil {
				t.Fatal(err)
			}
			meta, _ := json.Marshal(map[string]any{"name": object, "bucket": "dango_spool", "nuid": info.NUID,
				"size": info.Size, "chunks": info.Chunks, "digest": b.Scan.Digests[0]})
			hdr := nats.Header{}
			hdr.Set("Nats-Rollup", "sub")
			subj := "$O.dango_spool.M." + base64.URLEncoding.EncodeToString([]byte(object))
			if _, err := h.bus.JS.PublishMsg(h.ctx, &nats.Msg{Subject: subj, Header: hdr, Data: meta}); err != nil {
				t.Fatal(err)
			}
		}, "spool object"},
		{"no digest", "400.000004", func(b *batch.Batch, _ string) { b.Scan.Digests = nil }, "no valid SHA-256 digest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, object := ship(tc.load, 4)
			tc.tamper(b, object)
			h.send(events.BatchMsg{LoadID: tc.load, Seq: 1, Batch: b})
			h.send(events.BatchMsg{LoadID: tc.load, Seq: 1, End: true})
			e := h.waitLoad(stash, tc.load)
			switch {
			case tc.want == "" && (e.Type != events.SyncCompleted || e.Rows != 4):
				t.Fatalf("honest shipment: %+v", e)
			case tc.want != "" && (e.Type != events.SyncFailed || !strings.Contains(e.Error, tc.want)):
				t.Fatalf("event %s, error %q; want sync.failed mentioning %q", e.Type, e.Error, tc.want)
			}
		})
	}
	if got := h.count("SELECT count(*) FROM raw_src.t"); got != 4 {
		t.Errorf("raw_src.t holds %d rows, want only the honest shipment's 4", got)
	}
}
