// Package worker runs connectors. A Pool of goroutines pulls sync jobs from the JetStream work
// queue, runs the source's connector, and publishes what it emits as batches for the writer —
// it never opens the warehouse. The same code serves the embedded CLI and `dango worker`
// processes on other machines; only where the NATS server lives differs.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
	"github.com/dangohq/dango/events"
	"github.com/dangohq/dango/naming"
	"github.com/dangohq/dango/spool"
)

// ConsumerName is the durable consumer all workers share.
const ConsumerName = events.WorkersConsumer

// DefaultJobTimeout is how long a job may go without its worker's heartbeat before JetStream
// gives it to another worker.
const DefaultJobTimeout = 30 * time.Second

// Pool runs N workers.
type Pool struct {
	Bus      *events.Bus
	Registry *connectors.Registry
	Project  *config.Project
	Name     string // identifies this pool in events and logs
	Log      zerolog.Logger
	// JobTimeout overrides DefaultJobTimeout (the consumer is shared: give every process the
	// same value). Heartbeats go out at a third of it.
	JobTimeout time.Duration
	// Ship sends the files a connector produced through the NATS object store, for a writer
	// on another machine (dango worker); an embedded pool shares the writer's disk.
	Ship bool

	cons jetstream.Consumer
}

// Start creates the shared durable consumer the workers pull from, after removing spool
// files that crashed processes left in the project. A pool whose bus may not set up the queue
// (a dango worker's identity) binds to the consumer serve created instead, waiting for it.
func (p *Pool) Start(ctx context.Context) error {
	if n := spool.Sweep(spool.Dir(p.Project.Root)); n > 0 {
		p.Log.Info().Int("files", n).Msg("removed spool files left by processes that are gone")
	}
	if !p.Bus.Admin() {
		return p.bind(ctx)
	}
	cons, err := p.Bus.JS.CreateOrUpdateConsumer(ctx, events.StreamJobs, jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       p.jobTimeout(),
		MaxDeliver:    5,
		MaxAckPending: 10_000,
	})
	if err != nil {
		return fmt.Errorf("worker consumer: %w", err)
	}
	p.cons = cons
	return nil
}

// bind finds the consumer serve created, polling until it exists (a worker may start first).
// Its AckWait, set by serve's --job-timeout, paces this pool's heartbeats.
func (p *Pool) bind(ctx context.Context) error {
	warned := false
	for {
		cons, err := p.Bus.JS.Consumer(ctx, events.StreamJobs, ConsumerName)
		if err == nil {
			p.cons = cons
			if ci := cons.CachedInfo(); ci != nil && ci.Config.AckWait > 0 {
				p.JobTimeout = ci.Config.AckWait
			}
			return nil
		}
		if !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("find the job queue on NATS: %w", err)
		}
		if !warned {
			p.Log.Warn().Msg("waiting for dango serve to set up the job queue on NATS")
			warned = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no job queue on NATS (is dango serve running?): %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (p *Pool) jobTimeout() time.Duration {
	if p.JobTimeout > 0 {
		return p.JobTimeout
	}
	return DefaultJobTimeout
}

// Run pulls and executes jobs with n concurrent workers until ctx is cancelled.
func (p *Pool) Run(ctx context.Context, n int) error {
	if n < 1 {
		return nil
	}
	if p.cons == nil {
		if err := p.Start(ctx); err != nil {
			return err
		}
	}
	cons := p.cons
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			p.loop(ctx, cons, id)
		}(fmt.Sprintf("%s/%d", p.Name, i+1))
	}
	wg.Wait()
	return nil
}

func (p *Pool) loop(ctx context.Context, cons jetstream.Consumer, id string) {
	it, err := cons.Messages(jetstream.PullMaxMessages(1))
	if err != nil {
		p.Log.Error().Err(err).Msg("worker cannot pull jobs")
		return
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			p.Log.Warn().Err(err).Msg("pull job")
			continue
		}
		p.handle(ctx, msg, id)
	}
}

func (p *Pool) handle(ctx context.Context, msg jetstream.Msg, workerID string) {
	var job events.SyncJob
	if err := json.Unmarshal(msg.Data(), &job); err != nil || job.Source == "" {
		p.Log.Error().Err(err).Str("subject", msg.Subject()).Msg("dropping malformed job")
		msg.Term()
		return
	}
	attempt := 1
	if md, err := msg.Metadata(); err == nil {
		attempt = int(md.NumDelivered)
	}
	em := &emitter{bus: p.Bus, ctx: ctx, job: job, attempt: attempt, start: time.Now().UTC(), worker: workerID, ship: p.Ship}
	src, ok := p.Project.Source(job.Source)
	if ok {
		em.schema = src.Schema
	}

	// Keep the job ours while it runs.
	hbCtx, stopHB := context.WithCancel(ctx)
	defer stopHB()
	go func() {
		t := time.NewTicker(p.jobTimeout() / 3)
		defer t.Stop()
		for {
			select {
			case <-hbCtx.Done():
				return
			case <-t.C:
				msg.InProgress()
			}
		}
	}()

	p.Bus.Emit(ctx, events.Event{Type: events.SyncStarted, RunID: job.RunID, Source: job.Source, LoadID: job.LoadID, Worker: workerID})
	// A connector's error may quote what a driver or server echoed (a DSN, a URL, a key):
	// it leaves this process only redacted, in the log and in the Abort the writer reports.
	err := config.RedactError(p.extract(ctx, src, ok, em))
	switch {
	case ctx.Err() != nil:
		// Shutting down: leave the job for another worker (or the next start); the writer
		// discards this attempt's batches when the job's next attempt arrives.
		msg.Nak()
		return
	case err != nil:
		p.Log.Debug().Err(err).Str("source", job.Source).Msg("extract failed")
		if perr := em.publish(events.BatchMsg{Abort: config.Redact(err.Error())}); perr != nil {
			msg.Nak()
			return
		}
	default:
		if perr := em.publish(events.BatchMsg{End: true, Seq: em.seq, Resources: em.declared(src, p.Project.Root)}); perr != nil {
			msg.Nak()
			return
		}
	}
	msg.Ack()
}

func (p *Pool) extract(ctx context.Context, src config.Source, known bool, em *emitter) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error in %s connector: %v", src.Type, r)
		}
	}()
	if !known {
		return fmt.Errorf("source %q is not in this worker's sources.yml", em.job.Source)
	}
	c, err := p.Registry.New(JobFor(em.job, src, p.Project.Root))
	if err != nil {
		return err
	}
	em.conn = c
	return c.Extract(ctx, em)
}

// JobFor builds the connector's view of a sync job.
func JobFor(job events.SyncJob, src config.Source, root string) connectors.Job {
	return connectors.Job{Source: src, ProjectRoot: root, Resources: job.Options.Resources,
		FullRefresh: job.Options.FullRefresh, StartDate: job.Options.StartDate, State: job.State, Parallel: job.Options.Parallel}
}

// declared lists the resources the job covered, as the writer needs them at the end: those
// that emitted batches as they said, the others as configuration plans them.
func (e *emitter) declared(src config.Source, root string) []batch.Resource {
	if e.conn == nil {
		return nil
	}
	job := JobFor(e.job, src, root)
	var out []batch.Resource
	for _, name := range e.conn.Resources() {
		if !job.Selected(name) {
			continue
		}
		if r, ok := e.emitted[name]; ok {
			out = append(out, r)
			continue
		}
		r, _ := job.Plan(name, naming.Snake(name), connectors.Defaults{})
		out = append(out, r)
	}
	return out
}

// emitter is what a connector sees: batches go to the writer's stream, words to events.
type emitter struct {
	ship     bool
	storeMu  sync.Mutex
	store    jetstream.ObjectStore // opened on the first shipment
	shipped  atomic.Int64          // files shipped, for unique object names
	bus      *events.Bus
	ctx      context.Context
	job      events.SyncJob
	schema   string
	attempt  int
	start    time.Time
	worker   string
	seq      int
	mu       sync.Mutex
	lastProg time.Time
	conn     connectors.Connector
	emitted  map[string]batch.Resource
}

func (e *emitter) publish(m events.BatchMsg) error {
	m.V, m.RunID, m.LoadID, m.Source, m.Schema = events.Version, e.job.RunID, e.job.LoadID, e.job.Source, e.schema
	m.Attempt, m.Start = e.attempt, e.start
	m.FullRefresh, m.AllowEmpty = e.job.Options.FullRefresh, e.job.Options.AllowEmpty
	return e.bus.Publish(e.ctx, events.BatchSubject(e.job.Source), m)
}

func (e *emitter) Emit(ctx context.Context, b batch.Batch) error {
	if err := b.Validate(); err != nil {
		return err
	}
	// Connectors may emit from several goroutines (a database's tables in parallel): batches
	// are numbered and published one at a time, so the writer sees them in sequence.
	// Uploads run before taking the lock, so parallel tables ship their files at once.
	if e.ship && b.Scan != nil {
		if err := e.shipFiles(ctx, b.Scan); err != nil {
			return err
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq++
	if e.emitted == nil {
		e.emitted = map[string]batch.Resource{}
	}
	e.emitted[b.Resource.Name] = b.Resource
	return e.publish(events.BatchMsg{Seq: e.seq, Batch: &b})
}

// shipFiles uploads a scan's files to the spool object store and points the scan at them.
// Spooled files are removed here once uploaded; a source's own files stay.
func (e *emitter) shipFiles(ctx context.Context, sc *batch.Scan) error {
	e.storeMu.Lock()
	if e.store == nil {
		st, err := e.bus.SpoolStore(ctx)
		if err != nil {
			e.storeMu.Unlock()
			return err
		}
		e.store = st
	}
	store := e.store
	e.storeMu.Unlock()
	sc.Digests = make([]string, len(sc.Files))
	for i, f := range sc.Files {
		// Unique per job attempt: a source's own files in different folders may share a name.
		name := batch.ObjectName(e.job.LoadID, e.attempt, e.shipped.Add(1), f)
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		info, err := store.Put(ctx, jetstream.ObjectMeta{Name: name}, fh)
		fh.Close()
		if err != nil {
			return fmt.Errorf("ship %s to the writer: %w", filepath.Base(f), err)
		}
		// The writer loads the object only if it still holds exactly this.
		sc.Digests[i] = info.Digest
		if sc.Temporary {
			os.Remove(f)
		}
		sc.Files[i] = events.ObjectPrefix + name
	}
	return nil
}

func (e *emitter) Logf(format string, args ...any) {
	e.bus.Emit(e.ctx, events.Event{Type: events.SyncLog, RunID: e.job.RunID, Source: e.job.Source, LoadID: e.job.LoadID,
		Message: fmt.Sprintf(format, args...), Worker: e.worker})
}

func (e *emitter) Progress(rows, bytes int64) {
	e.mu.Lock()
	if time.Since(e.lastProg) < 250*time.Millisecond {
		e.mu.Unlock()
		return
	}
	e.lastProg = time.Now()
	e.mu.Unlock()
	e.bus.Emit(e.ctx, events.Event{Type: events.SyncProgress, RunID: e.job.RunID, Source: e.job.Source, LoadID: e.job.LoadID,
		Rows: rows, Bytes: bytes, Worker: e.worker})
}
