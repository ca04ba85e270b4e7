// Package service is what `dango serve` adds to a node: runs requested over HTTP (and by
// webhooks), tracked until they finish, one sync of a source at a time, and metrics.
//
// A run is a user's request: sync some sources (and perhaps run the models downstream of
// them afterwards), or run models. Each source's sync goes to the node's dispatcher — which
// reads the source's stored state when it queues the job — only once the previous sync of
// that source has finished, so two requests for one source never load from the same cursor.
package service

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
	"github.com/dangohq/dango/dispatcher"
	"github.com/dangohq/dango/events"
	"github.com/dangohq/dango/node"
)

// Run statuses.
const (
	Queued  = "queued"
	Running = "running"
	Success = "success"
	Partial = "partial"
	Failed  = "failed"
)

// Run is one request and what became of it.
type Run struct {
	ID       string         `json:"run_id"`
	Kind     string         `json:"kind"` // sync or run
	Status   string         `json:"status"`
	Trigger  string         `json:"trigger"` // api, webhook:<name>
	Queued   time.Time      `json:"queued_at"`
	Started  *time.Time     `json:"started_at,omitempty"`
	Finished *time.Time     `json:"finished_at,omitempty"`
	Sources  []SourceResult `json:"sources,omitempty"`
	Models   *ModelResults  `json:"models,omitempty"`
	Errors   []string       `json:"errors,omitempty"`

	done chan struct{} // closed when it has finished
}

// SourceResult is one source's sync within a run.
type SourceResult struct {
	Source     string `json:"source"`
	Status     string `json:"status"`
	Rows       int64  `json:"rows"`
	DurationMS int64  `json:"duration_ms,omitempty"`
	Error      string `json:"error,omitempty"`
}

// ModelResults counts a model run's nodes by outcome.
type ModelResults struct {
	Selected int `json:"selected"`
	Success  int `json:"success"`
	Error    int `json:"error"`
	Skipped  int `json:"skipped"`
}

// SyncRequest is POST /api/v1/sync's body: the CLI's flags.
type SyncRequest struct {
	Sources     []string `json:"sources"`
	Select      []string `json:"select"`
	FullRefresh bool     `json:"full_refresh"`
	AllowEmpty  bool     `json:"allow_empty"`
	StartDate   string   `json:"start_date"`
	// Generate regenerates the synced sources' staging models afterwards (edited ones kept).
	Generate bool `json:"generate"`
	// Run runs the models downstream of the synced sources afterwards (source:<name>+).
	Run bool `json:"run"`
}

// RunRequest is POST /api/v1/run's body: dango run's flags.
type RunRequest struct {
	Select      []string `json:"select"`
	Exclude     []string `json:"exclude"`
	FullRefresh bool     `json:"full_refresh"`
	Threads     int      `json:"threads"`   // default 4
	FailFast    bool     `json:"fail_fast"` // stop at the first failure
}

// Service tracks runs on a node.
type Service struct {
	Project  *config.Project
	Node     *node.Node
	Registry *connectors.Registry
	Log      zerolog.Logger
	Parallel int // tables of one source read at once (like sync --workers)
	// Debounce is how long auto_run waits for more syncs to finish before one run covers them.
	Debounce time.Duration

	mu      sync.Mutex
	runs    map[string]*Run
	order   []string                 // run ids, oldest first (bounded)
	busy    map[string]chan struct{} // per source: held while it syncs
	models  sync.Mutex               // one model run at a time
	metrics metrics
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc

	kv         jetstream.KeyValue // run records (see persist.go)
	subs       []*nats.Subscription
	pendingRun map[string]bool // sources waiting for the debounced auto_run
	debounce   *time.Timer
}

const keepRuns = 1000

// Start prepares the service and listens for upstream triggers; Close waits for its runs.
func (s *Service) Start() error {
	s.runs, s.busy = map[string]*Run{}, map[string]chan struct{}{}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.openRuns(s.ctx); err != nil {
		return fmt.Errorf("run records: %w", err)
	}
	if err := s.recover(s.ctx); err != nil {
		return fmt.Errorf("recover the runs of the previous server: %w", err)
	}
	return s.listenTriggers()
}

// Close stops listening, cancels what is running and waits for it.
func (s *Service) Close() {
	for _, sub := range s.subs {
		sub.Unsubscribe()
	}
	s.mu.Lock()
	if s.debounce != nil {
		s.debounce.Stop()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// Get returns a copy of a run.
func (s *Service) Get(id string) (Run, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[id]
	if !ok {
		return s.load(id)
	}
	c := *r
	c.Sources = append([]SourceResult(nil), r.Sources...)
	c.Errors = append([]string(nil), r.Errors...)
	if r.Models != nil {
		m := *r.Models
		c.Models = &m
	}
	return c, true
}

// Done is closed when the run has finished (nil for an unknown run).
func (s *Service) Done(id string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.runs[id]; ok {
		return r.done
	}
	return nil
}

func (s *Service) add(r *Run) {
	r.done = make(chan struct{})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs[r.ID] = r
	s.save(r)
	s.order = append(s.order, r.ID)
	for len(s.order) > keepRuns {
		if old := s.runs[s.order[0]]; old != nil && old.Finished != nil {
			delete(s.runs, s.order[0])
		}
		s.order = s.order[1:]
	}
}

func (s *Service) update(r *Run, f func(*Run)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(r)
	s.save(r)
}

// BadRequest is a request the service refuses before queueing anything.
type BadRequest struct{ Err error }

func (e *BadRequest) Error() string { return e.Err.Error() }
func (e *BadRequest) Unwrap() error { return e.Err }

// SubmitSync validates a sync request, records the run as queued and starts it.
func (s *Service) SubmitSync(req SyncRequest, trigger string) (*Run, error) {
	sources, err := dispatcher.SelectSources(s.Project, req.Sources)
	if err != nil {
		return nil, &BadRequest{err}
	}
	if sources, err = dispatcher.SelectResources(s.Project, s.Registry, sources, req.Select); err != nil {
		return nil, &BadRequest{err}
	}
	if len(sources) == 0 {
		return nil, &BadRequest{errors.New("no enabled sources to sync")}
	}
	if req.StartDate != "" {
		if _, err := time.Parse("2006-01-02", req.StartDate); err != nil {
			return nil, &BadRequest{fmt.Errorf("start_date %q: want YYYY-MM-DD", req.StartDate)}
		}
	}
	r := &Run{ID: dispatcher.NewRunID(), Kind: "sync", Status: Queued, Trigger: trigger, Queued: time.Now().UTC()}
	for _, src := range sources {
		r.Sources = append(r.Sources, SourceResult{Source: src.Name, Status: Queued})
	}
	s.add(r)
	opts := events.SyncOptions{Resources: req.Select, FullRefresh: req.FullRefresh, AllowEmpty: req.AllowEmpty,
		StartDate: req.StartDate, Parallel: max(s.Parallel, 1)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.syncAll(r, sources, opts, req)
	}()
	return r, nil
}

// syncAll syncs the run's sources concurrently, each after any earlier sync of it.
func (s *Service) syncAll(r *Run, sources []config.Source, opts events.SyncOptions, req SyncRequest) {
	var wg sync.WaitGroup
	for i, src := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.syncOne(r, i, src, opts)
		}()
	}
	wg.Wait()
	ok, bad := s.tally(r)
	if req.Generate && ok > 0 && s.ctx.Err() == nil {
		for _, sr := range r.Sources {
			if sr.Status != Success {
				continue
			}
			if _, err := s.Generate(sr.Source); err != nil {
				bad++
				s.update(r, func(r *Run) { r.Errors = append(r.Errors, "generate "+sr.Source+": "+err.Error()) })
			}
		}
	}
	if req.Run && ok > 0 && s.ctx.Err() == nil {
		var sel []string
		for _, sr := range r.Sources {
			if sr.Status == Success {
				sel = append(sel, "source:"+sr.Source+"+")
			}
		}
		if err := s.runModels(r, RunRequest{Select: sel}); err != nil {
			bad++
			s.update(r, func(r *Run) { r.Errors = append(r.Errors, "run: "+err.Error()) })
		}
	}
	s.finish(r, ok, bad)
}

// tally counts the run's sources that succeeded and failed, and records the failures' errors.
func (s *Service) tally(r *Run) (ok, bad int) {
	s.update(r, func(r *Run) {
		for _, sr := range r.Sources {
			if sr.Status == Success {
				ok++
			} else {
				bad++
				r.Errors = append(r.Errors, sr.Source+": "+sr.Error)
			}
		}
	})
	return ok, bad
}

func (s *Service) finish(r *Run, ok, bad int) {
	now := time.Now().UTC()
	defer close(r.done)
	s.update(r, func(r *Run) {
		r.Finished = &now
		switch {
		case bad == 0:
			r.Status = Success
		case ok == 0:
			r.Status = Failed
		default:
			r.Status = Partial
		}
	})
	s.metrics.run(r.Kind, r.Status)
	if r.Kind == "run" {
		e := events.Event{Type: events.RunCompleted, RunID: r.ID, Message: r.Trigger}
		if r.Status != Success {
			e.Type, e.Error = events.RunFailed, strings.Join(r.Errors, "; ")
		}
		if r.Models != nil {
			e.Rows = int64(r.Models.Success)
		}
		s.Node.Bus.Emit(context.Background(), e)
	}
}

// lock waits until no other sync of the source runs, and takes its turn.
func (s *Service) lock(ctx context.Context, source string) (func(), error) {
	for {
		s.mu.Lock()
		ch, held := s.busy[source]
		if !held {
			ch = make(chan struct{})
			s.busy[source] = ch
			s.mu.Unlock()
			return func() {
				s.mu.Lock()
				delete(s.busy, source)
				s.mu.Unlock()
				close(ch)
			}, nil
		}
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (s *Service) syncOne(r *Run, i int, src config.Source, opts events.SyncOptions) {
	setResult := func(f func(*SourceResult)) { s.update(r, func(r *Run) { f(&r.Sources[i]) }) }
	unlock, err := s.lock(s.ctx, src.Name)
	if err != nil {
		setResult(func(sr *SourceResult) { sr.Status, sr.Error = Failed, "service stopped before the sync started" })
		return
	}
	defer unlock()
	now := time.Now().UTC()
	s.update(r, func(r *Run) {
		if r.Started == nil {
			r.Started, r.Status = &now, Running
		}
		r.Sources[i].Status = Running
	})
	s.metrics.inProgress(1)
	defer s.metrics.inProgress(-1)
	dr, err := s.Node.Dispatcher.SyncRun(s.ctx, r.ID, []config.Source{src}, opts)
	if err != nil {
		setResult(func(sr *SourceResult) { sr.Status, sr.Error = Failed, err.Error() })
		s.metrics.job(Failed, 0, time.Since(now))
		return
	}
	for e := range dr.Events {
		if e.Source != src.Name {
			continue // the run's other sources, dispatched on their own
		}
		switch e.Type {
		case events.SyncCompleted:
			setResult(func(sr *SourceResult) { sr.Status, sr.Rows, sr.DurationMS = Success, e.Rows, e.DurationMS })
			s.metrics.job(Success, e.Rows, time.Since(now))
			s.afterSync(src.Name, e.SchemaChanged)
		case events.SyncFailed:
			setResult(func(sr *SourceResult) { sr.Status, sr.Error, sr.DurationMS = Failed, e.Error, e.DurationMS })
			s.metrics.job(Failed, 0, time.Since(now))
		}
	}
	s.update(r, func(r *Run) {
		if r.Sources[i].Status == Running {
			r.Sources[i].Status, r.Sources[i].Error = Failed, "service stopped during the sync; the job stays queued and completes on restart"
		}
	})
}

// SubmitRun records a model run and starts it.
func (s *Service) SubmitRun(req RunRequest, trigger string) (*Run, error) {
	if _, err := s.loadModels(req); err != nil {
		return nil, &BadRequest{err}
	}
	r := &Run{ID: dispatcher.NewRunID(), Kind: "run", Status: Queued, Trigger: trigger, Queued: time.Now().UTC()}
	s.add(r)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.runModels(r, req); err != nil {
			s.update(r, func(r *Run) { r.Errors = append(r.Errors, err.Error()) })
			s.finish(r, 0, 1)
			return
		}
		s.finish(r, 1, 0)
	}()
	return r, nil
}

// Runs lists the ids of known runs, newest first: this server's and, from their records,
// earlier servers'.
func (s *Service) Runs() []string {
	s.mu.Lock()
	ids := map[string]bool{}
	for id := range s.runs {
		ids[id] = true
	}
	kv := s.kv
	s.mu.Unlock()
	if kv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if keys, err := kv.Keys(ctx); err == nil {
			for _, k := range keys {
				ids[k] = true
			}
		}
		cancel()
	}
	out := make([]string, 0, len(ids))
	for id := range ids {
		out = append(out, id)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out
}
