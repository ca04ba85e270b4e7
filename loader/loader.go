// Package loader feeds the warehouse writer from JetStream: it is the one place where NATS
// meets DuckDB. Batches of a load are applied in one transaction on their own connection;
// the load commits when its end marker has arrived and every batch it announced has been
// applied, and only then are its messages acknowledged — so a crash at any point leaves
// either the whole load or none of it, and JetStream redelivers what was not committed.
package loader

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/events"
	"github.com/dangohq/dango/humanize"
	"github.com/dangohq/dango/spool"
	"github.com/dangohq/dango/warehouse"
)

// ConsumerName is the writer's durable consumer on the batches stream.
const ConsumerName = "dango-writer"

// Loader applies batches to a Writer.
type Loader struct {
	Bus    *events.Bus
	Writer *warehouse.Writer
	Log    zerolog.Logger
	// MaxLoads bounds how many loads run at once (0: no bound). The CLI sets it to --workers,
	// so `--workers 1` loads one source at a time, as users expect.
	MaxLoads int
	// SpoolDir is where files shipped by remote workers are downloaded (default: the
	// system's temporary folder).
	SpoolDir string
	// StallTimeout bounds how long a load whose end marker has arrived waits for batches it
	// announced but has not received (default DefaultStallTimeout). They can only be missing
	// when an earlier writer failed the load and acknowledged them before a restart: the load
	// then fails instead of holding its messages and its slot forever.
	StallTimeout time.Duration
	// Project is what batches are checked against (see trust.go): a batch of a source it does
	// not configure, or into another schema, is refused. Without it every batch is refused.
	Project *config.Project

	mu       sync.Mutex
	active   map[string]*inbox    // load id → its goroutine's inbox
	finished map[string]time.Time // load ids done recently: late messages are dropped
	wg       sync.WaitGroup
	cons     jetstream.Consumer
	slots    chan struct{}      // one token per running load when MaxLoads > 0
	failed   jetstream.KeyValue // loads failed by this or an earlier writer
	assigned jetstream.KeyValue // loads the dispatcher queued (the only ones loaded)
}

// DefaultStallTimeout is StallTimeout's default: after a restart every unacknowledged batch is
// delivered again at once, so a minute without any is conclusive.
const DefaultStallTimeout = time.Minute

// Start creates the writer's durable consumer; Run then consumes from it.
func (l *Loader) Start(ctx context.Context) error {
	l.active = map[string]*inbox{}
	l.finished = map[string]time.Time{}
	if l.MaxLoads > 0 {
		l.slots = make(chan struct{}, l.MaxLoads)
	}
	// This process holds the warehouse's writer lock, so no other loader is alive: batches a
	// crashed writer had received and not acked are delivered again now, not after AckWait.
	if err := l.Bus.JS.DeleteConsumer(ctx, events.StreamBatches, ConsumerName); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("writer consumer: %w", err)
	}
	cons, err := l.Bus.JS.CreateOrUpdateConsumer(ctx, events.StreamBatches, jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       2 * time.Minute,
		MaxAckPending: 100_000,
	})
	if err != nil {
		return fmt.Errorf("writer consumer: %w", err)
	}
	if l.failed, err = l.Bus.FailedLoads(ctx); err != nil {
		return err
	}
	if l.assigned, err = l.Bus.Assignments(ctx); err != nil {
		return err
	}
	if err := l.watchMaxDeliveries(ctx); err != nil {
		return err
	}
	l.cons = cons
	return nil
}

// Run consumes batches until ctx is cancelled; open loads are rolled back on return.
func (l *Loader) Run(ctx context.Context) error {
	if l.cons == nil {
		if err := l.Start(ctx); err != nil {
			return err
		}
	}
	cons := l.cons
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer func() {
		it.Stop()
		l.mu.Lock()
		for id, in := range l.active {
			close(in.ch)
			delete(l.active, id)
		}
		l.mu.Unlock()
		l.wg.Wait()
	}()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			l.Log.Warn().Err(err).Msg("pull batch")
			continue
		}
		l.route(ctx, msg)
	}
}

// route hands a message to its load's goroutine, starting one for a new load.
func (l *Loader) route(ctx context.Context, msg jetstream.Msg) {
	var head struct {
		LoadID string `json:"load_id"`
	}
	if err := json.Unmarshal(msg.Data(), &head); err != nil || head.LoadID == "" {
		l.Log.Error().Err(err).Msg("dropping malformed batch message")
		msg.Term()
		return
	}
	l.mu.Lock()
	if _, done := l.finished[head.LoadID]; done {
		l.mu.Unlock()
		l.drop(msg)
		return
	}
	in, ok := l.active[head.LoadID]
	if !ok {
		in = &inbox{ch: make(chan jetstream.Msg, 1024), done: make(chan struct{})}
		l.active[head.LoadID] = in
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.process(ctx, head.LoadID, in.ch)
			close(in.done)
			l.drainFinished(head.LoadID, in)
		}()
	}
	l.mu.Unlock()
	select {
	case in.ch <- msg:
		// The load may have ended just before the message was queued: with one sender (this
		// loop), draining here or in the load's goroutine after done closed misses none.
		select {
		case <-in.done:
			l.drainFinished(head.LoadID, in)
		default:
		}
	case <-in.done: // the load ended meanwhile: this is a late duplicate
		l.drop(msg)
	}
}

// drainFinished drops the messages still queued for a load that is over. A load that stopped
// because the writer is shutting down keeps them unacknowledged, for the next writer.
func (l *Loader) drainFinished(loadID string, in *inbox) {
	l.mu.Lock()
	_, over := l.finished[loadID]
	l.mu.Unlock()
	if !over {
		return
	}
	for {
		select {
		case m, ok := <-in.ch:
			if !ok {
				return
			}
			l.drop(m)
		default:
			return
		}
	}
}

// drop acknowledges a message of a load that is over (committed or failed), deleting the
// files it names that will now never be loaded.
func (l *Loader) drop(msg jetstream.Msg) {
	var m events.BatchMsg
	if json.Unmarshal(msg.Data(), &m) == nil {
		l.discard(&m)
	}
	msg.Ack()
}

// inbox is a load goroutine's queue; done closes when the goroutine returns.
type inbox struct {
	ch   chan jetstream.Msg
	done chan struct{}
}

func (l *Loader) markFinished(loadID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.active, loadID)
	now := time.Now()
	l.finished[loadID] = now
	for id, t := range l.finished {
		if now.Sub(t) > time.Hour {
			delete(l.finished, id)
		}
	}
}

// loadRun is the state of one load attempt.
type loadRun struct {
	attempt   int
	load      *warehouse.Load
	applied   int
	end       int // number of data batches announced by the end marker; -1 until it arrives
	rows      int64
	head      events.BatchMsg
	slot      bool             // holds one of the loader's slots
	resources []batch.Resource // from the end marker
	temp      []string         // spooled files to delete when the load is over
	objects   []string         // shipped files to delete from the object store then

	mu      sync.Mutex
	pending []jetstream.Msg // acked after commit or rollback
}

func (r *loadRun) hold(m jetstream.Msg) {
	r.mu.Lock()
	r.pending = append(r.pending, m)
	r.mu.Unlock()
}

func (r *loadRun) ackAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.pending {
		m.Ack()
	}
	r.pending = nil
}

// removeTemp deletes the spooled files of a load that is over.
func (r *loadRun) removeTemp() {
	for _, f := range r.temp {
		os.Remove(f)
	}
	r.temp = nil
}

// fetch downloads a scan's shipped files (from a worker on another machine) next to the
// writer and points the scan at the copies; the copies and, once the load is over, the
// objects are deleted. Spooled files of a local worker are only noted for deletion.
func (l *Loader) fetch(ctx context.Context, r *loadRun, sc *batch.Scan) error {
	for i, f := range sc.Files {
		name, shipped := strings.CutPrefix(f, events.ObjectPrefix)
		if !shipped {
			if sc.Temporary {
				r.temp = append(r.temp, f)
			}
			continue
		}
		store, err := l.Bus.SpoolStore(ctx)
		if err != nil {
			return err
		}
		dir := l.SpoolDir
		if dir == "" {
			dir = os.TempDir()
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		local, err := spool.Create(dir, "shipped", "-"+filepath.Base(name))
		if err != nil {
			return err
		}
		r.temp = append(r.temp, local.Name())
		want := ""
		if i < len(sc.Digests) {
			want = sc.Digests[i]
		}
		// Every worker shares one identity, so the bus cannot stop one from overwriting
		// another's object: what is loaded must hash to what the shipping worker announced.
		h := sha256.New()
		obj, err := store.Get(ctx, name)
		if err == nil {
			_, err = io.Copy(io.MultiWriter(local, h), obj)
			obj.Close()
		}
		if cerr := local.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("fetch %s from the spool object store: %w", name, err)
		}
		if got := "SHA-256=" + base64.URLEncoding.EncodeToString(h.Sum(nil)); strings.TrimRight(got, "=") != strings.TrimRight(want, "=") || want == "" {
			return fmt.Errorf("%w: spool object %s does not hold what its worker shipped (digest %s, announced %q): "+
				"it was replaced in the object store; nothing of the load was committed", ErrForged, name, got, batch.Short(want))
		}
		r.objects = append(r.objects, name)
		sc.Files[i] = local.Name()
	}
	sc.Digests = nil // every file is local now, and checked
	return nil
}

// discard deletes the files of a batch that will never be loaded (an abandoned attempt's).
func (l *Loader) discard(m *events.BatchMsg) {
	if m.Batch == nil || m.Batch.Scan == nil {
		return
	}
	if err := l.vetFiles(m); err != nil { // delete nothing a refused batch names
		l.Log.Warn().Err(err).Str("load", m.LoadID).Msg("not removing the files of a stale batch")
		return
	}
	r := &loadRun{}
	for _, f := range m.Batch.Scan.Files {
		if name, shipped := strings.CutPrefix(f, events.ObjectPrefix); shipped {
			r.objects = append(r.objects, name)
		} else if m.Batch.Scan.Temporary {
			r.temp = append(r.temp, f)
		}
	}
	r.removeTemp()
	l.removeObjects(r)
}

// removeObjects deletes a finished load's shipped files from the object store.
func (l *Loader) removeObjects(r *loadRun) {
	if len(r.objects) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if store, err := l.Bus.SpoolStore(ctx); err == nil {
		for _, name := range r.objects {
			store.Delete(ctx, name)
		}
	}
	r.objects = nil
}

func (r *loadRun) heartbeat() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.pending {
		m.InProgress()
	}
}

func (l *Loader) process(ctx context.Context, loadID string, inbox chan jetstream.Msg) {
	var cur *loadRun
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	stallAfter := l.StallTimeout
	if stallAfter <= 0 {
		stallAfter = DefaultStallTimeout
	}
	var stall <-chan time.Time // armed while the end marker waits for missing batches
	defer func() {
		if cur != nil && cur.load != nil {
			cur.load.Rollback() // shutdown: JetStream redelivers the unacked messages later
		}
		if cur != nil {
			l.release(cur)
		}
	}()
	for {
		var msg jetstream.Msg
		select {
		case <-tick.C:
			if cur != nil {
				cur.heartbeat()
			}
			continue
		case <-stall:
			l.fail(ctx, cur, fmt.Sprintf("load %s is incomplete: its end marker announced %d batches, %d arrived and no more came for %s "+
				"(an earlier writer failed or lost the rest); nothing of it was committed, sync the source again",
				loadID, cur.end, cur.applied, stallAfter))
			l.release(cur)
			cur = nil
			l.markFinished(loadID)
			return
		case m, ok := <-inbox:
			if !ok {
				return
			}
			msg = m
		}
		var m events.BatchMsg
		if err := json.Unmarshal(msg.Data(), &m); err != nil {
			// Malformed: the load it names fails, like a forged one (refuse acknowledges it).
			l.refuse(ctx, cur, &events.BatchMsg{LoadID: loadID, Source: m.Source, RunID: m.RunID, Attempt: m.Attempt},
				msg, fmt.Errorf("%w: malformed batch message: %v", ErrForged, err))
			cur = nil
			l.markFinished(loadID)
			return
		}
		if err := l.vetHeader(msg.Subject(), &m); err != nil {
			// The load this message claims to belong to fails: whatever it holds is rolled
			// back and acknowledged, so neither it nor the next run waits on it.
			l.refuse(ctx, cur, &m, msg, err)
			cur = nil
			l.markFinished(loadID)
			return
		}
		if cur == nil {
			if err := l.vetAssignment(ctx, &m); err != nil {
				// Nobody queued this load: fail it without a word to the run it names (it
				// may be a real one, whose real load goes on).
				m.RunID = ""
				l.refuse(ctx, nil, &m, msg, err)
				l.markFinished(loadID)
				return
			}
		}
		if cur != nil && m.Attempt < cur.attempt {
			l.discard(&m)
			msg.Ack() // a stale attempt's leftovers
			continue
		}
		if cur == nil || m.Attempt > cur.attempt {
			if cur != nil && cur.load != nil {
				cur.load.Rollback()
				cur.ackAll()
			}
			if cur != nil {
				cur.removeTemp()
				l.removeObjects(cur)
				l.release(cur)
			}
			if l.over(ctx, msg, &m) {
				cur = nil
				l.markFinished(loadID)
				return
			}
			cur = &loadRun{attempt: m.Attempt, end: -1, head: m}
		}
		cur.hold(msg)
		if !l.acquire(ctx, cur, tick.C) {
			return
		}
		if finished := l.step(ctx, cur, &m); finished {
			l.markFinished(loadID) // before release: no message of this load starts a new one
			l.release(cur)
			cur = nil
			return
		}
		stall = nil
		if cur.end >= 0 && cur.applied < cur.end {
			stall = time.After(stallAfter)
		}
	}
}

// over handles the first message of a load attempt whose load already ended before this
// writer saw it — committed, or failed by an earlier writer that was then restarted. Its end is
// announced again (the first announcement may have been lost with the crash, and a restarted
// server follows unfinished runs by these events), and the message is acknowledged.
func (l *Loader) over(ctx context.Context, msg jetstream.Msg, m *events.BatchMsg) bool {
	r := &loadRun{head: *m}
	if rows, done, err := l.Writer.CommittedLoad(ctx, m.Schema, m.LoadID); err == nil && done {
		l.emit(ctx, r, events.Event{Type: events.SyncCompleted, Rows: rows, Message: "committed before the writer restarted"})
		l.drop(msg)
		return true
	}
	if e, err := l.failed.Get(ctx, m.LoadID); err == nil {
		l.emit(ctx, r, events.Event{Type: events.SyncFailed, Error: string(e.Value())})
		l.drop(msg)
		return true
	}
	return false
}

// fail abandons a load: nothing of it is committed, its files are deleted, the failure is
// remembered (so batches arriving after a restart are dropped) and announced, and every
// message it holds is acknowledged.
func (l *Loader) fail(ctx context.Context, r *loadRun, reason string) {
	if r.load != nil {
		r.load.Rollback()
		r.load = nil
	}
	r.removeTemp()
	l.removeObjects(r)
	if _, err := l.failed.Put(context.WithoutCancel(ctx), r.head.LoadID, []byte(reason)); err != nil {
		l.Log.Warn().Err(err).Str("load", r.head.LoadID).Msg("could not record the failed load")
	}
	l.emit(ctx, r, events.Event{Type: events.SyncFailed, Error: reason, DurationMS: sinceMS(r.head.Start)})
	r.ackAll()
}

// refuse fails a load because of a message that did not pass vetHeader: the message and
// everything the load holds are acknowledged (a forged message redelivered would only be
// refused again), its spooled files removed, and sync.failed published for the load.
func (l *Loader) refuse(ctx context.Context, cur *loadRun, m *events.BatchMsg, msg jetstream.Msg, err error) {
	l.Log.Error().Err(err).Str("load", batch.Short(m.LoadID)).Str("source", batch.Short(m.Source)).
		Str("subject", batch.Short(msg.Subject())).Msg("refusing batch message; failing its load")
	if cur == nil {
		cur = &loadRun{attempt: m.Attempt, end: -1, head: *m}
		cur.head.Batch, cur.head.Resources = nil, nil
		if !sourceRE.MatchString(cur.head.Source) {
			cur.head.Source = "" // not a subject token: report on the project's subject
		}
	}
	cur.hold(msg)
	l.fail(ctx, cur, err.Error())
	l.release(cur)
}

// acquire takes a slot for the load before its first step, heartbeating its messages while it
// waits; it reports false when ctx ended.
func (l *Loader) acquire(ctx context.Context, r *loadRun, tick <-chan time.Time) bool {
	if l.slots == nil || r.slot {
		return true
	}
	for {
		select {
		case l.slots <- struct{}{}:
			r.slot = true
			return true
		case <-tick:
			r.heartbeat()
		case <-ctx.Done():
			return false
		}
	}
}

func (l *Loader) release(r *loadRun) {
	if r.slot {
		<-l.slots
		r.slot = false
	}
}

// step applies one message to the load; it reports whether the load is over.
func (l *Loader) step(ctx context.Context, r *loadRun, m *events.BatchMsg) bool {
	fail := func(reason string) bool {
		l.fail(ctx, r, reason)
		return true
	}
	switch {
	case m.Abort != "":
		return fail(m.Abort)
	case m.End:
		r.end = m.Seq
		r.resources = m.Resources
	case m.Batch != nil:
		if err := l.vetFiles(m); err != nil {
			l.Log.Error().Err(err).Str("load", m.LoadID).Str("source", m.Source).Msg("refusing batch; failing its load")
			return fail(err.Error())
		}
		if r.load == nil {
			ld, err := l.Writer.Begin(ctx, loadInfo(m))
			if err != nil {
				return fail(err.Error())
			}
			r.load = ld
		}
		if m.FullRefresh {
			prep, err := r.load.Prepare(ctx, m.Batch.Table, m.Batch.Resource)
			if err != nil {
				return fail(err.Error())
			}
			if prep.Dropped {
				l.emit(ctx, r, events.Event{Type: events.SyncLog, Message: fmt.Sprintf("Dropping %s.%s (%s rows)", m.Schema, m.Batch.Table, humanize.Thousands(prep.Rows))})
			}
		}
		if sc := m.Batch.Scan; sc != nil {
			if err := l.fetch(ctx, r, sc); err != nil {
				return fail(err.Error())
			}
		}
		if sc := m.Batch.Scan; sc != nil {
			l.emit(ctx, r, events.Event{Type: events.SyncProgress, Bytes: sc.Bytes,
				Message: fmt.Sprintf("loading %s into %s.%s", humanize.Bytes(sc.Bytes), m.Schema, m.Batch.Table)})
		}
		rows, dup, err := r.load.Apply(ctx, m.BatchID(), *m.Batch)
		if err != nil {
			if ctx.Err() != nil {
				return false // shutting down; the deferred rollback handles it
			}
			return fail(err.Error())
		}
		if !dup {
			r.applied++
			r.rows += rows
			if !m.Batch.Scan.Temporary { // API connectors report their own "Fetched 1,523 charges"
				l.emit(ctx, r, events.Event{Type: events.SyncLog, Message: "Loaded " + humanize.Count(rows, "row"), Rows: rows})
			} else if msg := keptMessage(m.Schema+"."+m.Batch.Table, m.Batch.Resource, m.Batch.Scan.Records, rows); msg != "" {
				l.emit(ctx, r, events.Event{Type: events.SyncLog, Message: msg})
			}
		}
	}
	if r.end < 0 || r.applied < r.end {
		return false
	}
	if r.load == nil { // a source with no data still records its load
		ld, err := l.Writer.Begin(ctx, loadInfo(&r.head))
		if err != nil {
			return fail(err.Error())
		}
		r.load = ld
	}
	for _, t := range r.load.Tables() {
		l.emit(ctx, r, events.Event{Type: events.SyncLog, Message: "Writing to " + t})
	}
	res, err := r.load.Commit(ctx, r.resources)
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		return fail(err.Error())
	}
	r.load = nil
	r.removeTemp()
	l.removeObjects(r)
	for _, c := range res.SchemaChanges {
		l.emit(ctx, r, events.Event{Type: events.SyncLog, Message: "Schema change: " + c.String()})
	}
	ev := events.Event{Type: events.SyncCompleted, Rows: res.Rows, DurationMS: sinceMS(r.head.Start), SchemaChanged: res.SchemaChanged()}
	for _, t := range res.Tables {
		ev.Tables = append(ev.Tables, events.TableRows{Table: t.Table, Rows: t.Rows})
	}
	l.emit(ctx, r, ev)
	r.ackAll()
	return true
}

func (l *Loader) emit(ctx context.Context, r *loadRun, e events.Event) {
	e.RunID, e.Source, e.LoadID = r.head.RunID, r.head.Source, r.head.LoadID
	if err := l.Bus.Emit(ctx, e); err != nil && ctx.Err() == nil {
		l.Log.Warn().Err(err).Str("event", e.Type).Msg("publish event")
	}
}

func loadInfo(m *events.BatchMsg) warehouse.LoadInfo {
	return warehouse.LoadInfo{LoadID: m.LoadID, Source: m.Source, Schema: m.Schema, Started: m.Start,
		FullRefresh: m.FullRefresh, AllowEmpty: m.AllowEmpty}
}

func sinceMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return time.Since(t).Milliseconds()
}

// keptMessage explains a batch whose rows written differ from the records the connector
// fetched, so the connector's count ("Loaded 2,000 orders") and the sync's ("337 rows") are
// never left to disagree: which rows the writer did not keep, and why.
func keptMessage(table string, res batch.Resource, fetched, written int64) string {
	if fetched <= 0 || written >= fetched {
		return ""
	}
	var why []string
	if res.Disposition == batch.Merge {
		why = append(why, "duplicates by primary key (the last one kept)")
	}
	if res.Incremental != nil {
		why = append(why, "already loaded at the stored cursor or before the start")
	}
	if len(why) == 0 {
		why = append(why, "already in the table")
	}
	verb := "were"
	if fetched-written == 1 {
		verb = "was"
	}
	return fmt.Sprintf("Kept %s of %s fetched rows in %s: %s %s %s",
		humanize.Thousands(written), humanize.Thousands(fetched), table, humanize.Thousands(fetched-written), verb, strings.Join(why, ", or "))
}

// watchMaxDeliveries fails the load of every job JetStream stops delivering because it was
// delivered MaxDeliver times without finishing (each worker that took it died or ran past
// its job timeout). Nobody else would ever announce its end, so its run would wait forever:
// the writer sends the load an abort (as the worker's next attempt would), which fails it
// the ordinary way, and removes the job from the queue.
func (l *Loader) watchMaxDeliveries(ctx context.Context) error {
	// Handled on the subscription's own goroutine, one advisory at a time.
	sub, err := l.Bus.NC.Subscribe(maxDeliveriesSubject, func(m *nats.Msg) { l.jobGaveUp(ctx, m.Data) })
	if err != nil {
		return fmt.Errorf("watch for jobs delivered too often: %w", err)
	}
	context.AfterFunc(ctx, func() { sub.Unsubscribe() })
	return nil
}

// maxDeliveriesSubject is JetStream's advisory for a message of the jobs stream that reached
// its consumer's MaxDeliver.
const maxDeliveriesSubject = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + events.StreamJobs + ".*"

func (l *Loader) jobGaveUp(ctx context.Context, data []byte) {
	var adv struct {
		StreamSeq  uint64 `json:"stream_seq"`
		Deliveries uint64 `json:"deliveries"`
	}
	if json.Unmarshal(data, &adv) != nil || adv.StreamSeq == 0 {
		return
	}
	st, err := l.Bus.JS.Stream(ctx, events.StreamJobs)
	if err != nil {
		return
	}
	raw, err := st.GetMsg(ctx, adv.StreamSeq)
	if err != nil {
		return // acknowledged meanwhile
	}
	var job events.SyncJob
	if json.Unmarshal(raw.Data, &job) == nil && l.Project != nil {
		if src, ok := l.Project.Source(job.Source); ok {
			abort := events.BatchMsg{V: events.Version, RunID: job.RunID, LoadID: job.LoadID, Source: job.Source, Schema: src.Schema,
				Attempt: int(min(adv.Deliveries, 999)) + 1,
				Abort: fmt.Sprintf("the sync job was delivered %d times and never finished (every worker that took it stopped or ran past its job timeout); "+
					"nothing of it was committed: check the workers' logs and sync again", adv.Deliveries)}
			if err := l.Bus.Publish(ctx, events.BatchSubject(job.Source), abort); err != nil {
				l.Log.Warn().Err(err).Str("load", job.LoadID).Msg("could not fail a job delivered too often")
				return // the job stays; the next advisory or a restart may succeed
			}
		}
	}
	l.Log.Warn().Str("load", batch.Short(job.LoadID)).Str("source", batch.Short(job.Source)).Uint64("deliveries", adv.Deliveries).
		Msg("a sync job was delivered too often without finishing; its load fails")
	if err := st.DeleteMsg(ctx, adv.StreamSeq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		l.Log.Warn().Err(err).Msg("could not remove a job delivered too often")
	}
}
