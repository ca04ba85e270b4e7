// Package dispatcher turns requests — from the CLI, and later HTTP, schedules and NATS
// triggers — into jobs on the JetStream work queue, and follows a run's events until every
// job has finished. It does no I/O against sources.
package dispatcher

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/events"
)

// Dispatcher queues sync jobs for a project.
type Dispatcher struct {
	Bus     *events.Bus
	Project *config.Project
	State   StateReader // what the warehouse remembers; read at dispatch, sent with each job

	assignMu sync.Mutex
	assign   jetstream.KeyValue // the loads queued (events.AssignmentsBucket), opened once
}

// assignments opens the bucket of queued loads once.
func (d *Dispatcher) assignments(ctx context.Context) (jetstream.KeyValue, error) {
	d.assignMu.Lock()
	defer d.assignMu.Unlock()
	if d.assign == nil {
		kv, err := d.Bus.Assignments(ctx)
		if err != nil {
			return nil, err
		}
		d.assign = kv
	}
	return d.assign, nil
}

// StateReader reads a schema's cursors and file versions.
type StateReader interface {
	State(ctx context.Context, schema string) (batch.State, error)
}

// UnknownSourceError names a source that is not in sources.yml.
type UnknownSourceError struct {
	Name  string
	Known []string
}

func (e *UnknownSourceError) Error() string {
	if len(e.Known) == 0 {
		return fmt.Sprintf("unknown source %q: %s defines no sources", e.Name, config.SourcesFile)
	}
	return fmt.Sprintf("unknown source %q (known sources: %s)", e.Name, strings.Join(e.Known, ", "))
}

// SelectSources resolves source names (already split on commas) to a project's sources, in
// sources.yml order; no names means every enabled source.
func SelectSources(p *config.Project, names []string) ([]config.Source, error) {
	if len(names) == 0 {
		var out []config.Source
		for _, s := range p.Sources {
			if s.Enabled {
				out = append(out, s)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("no enabled sources in %s; add one (see the commented examples there)", config.SourcesFile)
		}
		return out, nil
	}
	want := map[string]bool{}
	for _, n := range names {
		if _, ok := p.Source(n); !ok {
			known := make([]string, 0, len(p.Sources))
			for _, s := range p.Sources {
				known = append(known, s.Name)
			}
			sort.Strings(known)
			return nil, &UnknownSourceError{Name: n, Known: known}
		}
		want[n] = true
	}
	var out []config.Source
	for _, s := range p.Sources {
		if want[s.Name] {
			if !s.Enabled {
				return nil, fmt.Errorf("source %q is disabled (enabled: false in %s)", s.Name, config.SourcesFile)
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// Run is a dispatched sync: its jobs and the stream of their events.
type Run struct {
	ID      string
	Sources []config.Source
	Events  <-chan events.Event // closed once every source has finished, or ctx ends
}

var (
	idMu   sync.Mutex
	lastID int64
)

// newLoadID returns a dlt-style load id ("1732590000.123456"), strictly increasing within
// this process so that loads of one run never share an id.
func newLoadID() string {
	idMu.Lock()
	defer idMu.Unlock()
	us := time.Now().UnixMicro()
	if us <= lastID {
		us = lastID + 1
	}
	lastID = us
	return fmt.Sprintf("%d.%06d", us/1_000_000, us%1_000_000)
}

// Follow forwards the events of one run arriving on raw (a subscription to events.AllEvents)
// until each of its sources has finished or ctx ends, then calls done and closes the channel.
func Follow(ctx context.Context, raw <-chan *nats.Msg, runID string, sources []string, done func()) <-chan events.Event {
	out := make(chan events.Event, 256)
	pending := map[string]bool{}
	for _, s := range sources {
		pending[s] = true
	}
	go func() {
		defer close(out)
		defer done()
		for len(pending) > 0 {
			select {
			case <-ctx.Done():
				return
			case m := <-raw:
				var e events.Event
				if json.Unmarshal(m.Data, &e) != nil || e.RunID != runID {
					continue
				}
				if e.Terminal() {
					delete(pending, e.Source)
				}
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

// NewRunID returns a fresh run id.
func NewRunID() string { return "run_" + strings.ReplaceAll(newLoadID(), ".", "") }

// Sync queues one job per selected source and returns the run whose events follow them.
func (d *Dispatcher) Sync(ctx context.Context, sources []config.Source, opts events.SyncOptions) (*Run, error) {
	return d.SyncRun(ctx, NewRunID(), sources, opts)
}

// SyncRun is Sync under a run id the caller chose (a service run spanning several dispatches).
func (d *Dispatcher) SyncRun(ctx context.Context, runID string, sources []config.Source, opts events.SyncOptions) (*Run, error) {
	states := make([]batch.State, len(sources))
	if d.State != nil {
		for i, s := range sources {
			st, err := d.State.State(ctx, s.Schema)
			if err != nil {
				return nil, fmt.Errorf("read the stored state of %s: %w", s.Name, err)
			}
			states[i] = st
		}
	}
	raw := make(chan *nats.Msg, 8192)
	sub, err := d.Bus.NC.ChanSubscribe(events.AllEvents, raw)
	if err != nil {
		return nil, err
	}
	if err := d.Bus.NC.Flush(); err != nil {
		sub.Unsubscribe()
		return nil, err
	}
	names := make([]string, len(sources))
	for i, s := range sources {
		names[i] = s.Name
	}
	assign, err := d.assignments(ctx)
	if err != nil {
		sub.Unsubscribe()
		return nil, err
	}
	run := &Run{ID: runID, Sources: sources, Events: Follow(ctx, raw, runID, names, func() { sub.Unsubscribe() })}
	for i, s := range sources {
		job := events.SyncJob{V: events.Version, RunID: runID, LoadID: newLoadID(), Source: s.Name, Queued: time.Now().UTC(),
			Options: opts, State: states[i]}
		// The writer loads only what was assigned here, so record it before the job exists.
		a, _ := json.Marshal(events.Assignment{RunID: runID, Source: s.Name})
		if _, err := assign.Put(ctx, job.LoadID, a); err != nil {
			return nil, fmt.Errorf("queue sync of %s: record its load: %w", s.Name, err)
		}
		if err := d.Bus.Publish(ctx, events.JobSubject(s.Name), job); err != nil {
			return nil, fmt.Errorf("queue sync of %s: %w", s.Name, err)
		}
	}
	return run, nil
}
