// Package connectors defines what a source connector is and keeps the registry of them.
//
// A connector sees only its validated configuration and an Emitter: it never opens the
// warehouse or talks to NATS. Each connector family registers itself (in its package's init)
// with a config.Spec, so one declaration validates sources.yml, fills defaults and documents
// the type (`dango source types`).
package connectors

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/config"
)

// Connector extracts one source's data.
type Connector interface {
	// Resources names the source's resources (its tables), from configuration alone.
	Resources() []string
	// Extract reads the selected resources and hands their data to out. It returns when all
	// data has been emitted, or with the first error; a cancelled ctx must stop it promptly.
	Extract(ctx context.Context, out Emitter) error
}

// Lister is implemented by connectors whose resources are found by asking the source (a
// database's tables, when the configuration does not list them); Registry.Resources prefers
// it to Resources.
type Lister interface {
	ListResources(ctx context.Context) ([]string, error)
}

// Estimator is implemented by connectors that can say cheaply what a sync would load, for
// `dango sync --dry-run`.
type Estimator interface {
	Estimate(ctx context.Context) ([]Estimate, error)
}

// Estimate is what a sync of one resource would load.
type Estimate struct {
	Resource string
	Label    string // what the user recognises: the resource, or a file path
	Rows     int64  // -1 when unknown
	Bytes    int64  // to read; 0 when unknown
	Mode     Mode
	Note     string // e.g. "3 unchanged files skipped"
	// Action, when set, says what the sync will do in place of the mode ("new file",
	// "unchanged since the last sync, skipped"); the mode's "full refresh" would be wrong.
	Action string
}

// Emitter receives what a connector produces.
type Emitter interface {
	// Emit hands over one batch; it returns once the batch is safely queued.
	Emit(ctx context.Context, b batch.Batch) error
	// Logf reports a step to the user ("Reading CSV: data/sales.csv").
	Logf(format string, args ...any)
	// Progress reports cumulative rows and bytes extracted so far.
	Progress(rows, bytes int64)
}

// Job is what a connector is built for: one source of a project, the run's options, and what
// the warehouse remembers of the source.
type Job struct {
	Source      config.Source
	ProjectRoot string   // absolute; relative paths in the config resolve against it
	Resources   []string // selected resources; empty means all
	FullRefresh bool     // start over: ignore stored cursors and file versions
	StartDate   string   // overrides stored cursors and initial values (YYYY-MM-DD)
	State       batch.State
	Parallel    int // how many resources may be extracted at once (0 or 1: one at a time)
	// ShowCursor, when set, turns a cursor value as stored and sent to the source (Stripe's
	// unix seconds) into the form the console shows (an ISO date).
	ShowCursor func(string) string
}

// Selected reports whether the job covers a resource.
func (j Job) Selected(resource string) bool {
	if len(j.Resources) == 0 {
		return true
	}
	for _, r := range j.Resources {
		if r == resource {
			return true
		}
	}
	return false
}

// Mode says how a resource is fetched, for the console: "incremental from 2024-11-01" or
// "full refresh".
type Mode struct {
	Incremental bool
	From        string // the start value ("" = from the beginning)
	Overrides   string // the default --start-date replaced, if any
	show        func(string) string
}

// Since is the start value as the console shows it.
func (m Mode) Since() string { return m.Show(m.From) }

// Show formats a cursor value for the console (see Job.ShowCursor).
func (m Mode) Show(v string) string {
	if m.show == nil || v == "" {
		return v
	}
	return m.show(v)
}

func (m Mode) String() string {
	switch {
	case !m.Incremental:
		return "full refresh"
	case m.From == "":
		return "incremental, first sync: everything"
	}
	return "incremental from " + m.Since()
}

// Defaults are what a connector knows of a resource before configuration overrides it.
type Defaults struct {
	Disposition string
	PrimaryKey  []string
}

// Plan resolves how a resource loads in this job: sources.yml (resource over source) over the
// connector's defaults, and where an incremental resource starts.
func (j Job) Plan(resource, table string, d Defaults) (batch.Resource, Mode) {
	rc := j.Source.Resource(resource)
	r := batch.Resource{Name: resource, Table: table, Disposition: rc.WriteDisposition, PrimaryKey: rc.PrimaryKey}
	if r.Disposition == "" {
		r.Disposition = d.Disposition
	}
	if r.Disposition == "" {
		r.Disposition = batch.Append
	}
	if r.PrimaryKey == nil {
		r.PrimaryKey = d.PrimaryKey
	}
	m := Mode{show: j.ShowCursor}
	if inc := rc.Incremental; inc != nil {
		m.Incremental = true
		def := inc.InitialValue
		if stored, ok := j.State.Cursors[resource]; ok && !j.FullRefresh {
			def = stored
		}
		m.From = def
		if j.StartDate != "" {
			m.From = j.StartDate
			if def != j.StartDate {
				m.Overrides = def
			}
		}
		r.Incremental = &batch.Incremental{CursorColumn: inc.CursorColumn, Start: m.From}
	}
	return r, m
}

// LogMode prints the spec's "Fetching X (incremental from …)" line, with the
// "Overriding default" continuation when --start-date replaced a stored value.
func LogMode(out Emitter, label string, m Mode) {
	msg := fmt.Sprintf("Fetching %s (%s)", label, m)
	if m.Overrides != "" {
		msg += "\nOverriding default: " + m.Show(m.Overrides)
	}
	out.Logf("%s", msg)
}

// Factory builds a connector for a job.
type Factory func(job Job) (Connector, error)

// Registration is one source type.
type Registration struct {
	Spec config.Spec
	New  Factory
}

// Registry maps source types to their registrations. It implements config.Specs.
type Registry struct {
	mu    sync.RWMutex
	types map[string]Registration
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{types: map[string]Registration{}} }

// Default is the registry the built-in connectors register with.
var Default = NewRegistry()

// Register adds a source type; registering a type twice is a programming error.
func (r *Registry) Register(reg Registration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.types[reg.Spec.Type]; dup {
		panic("connectors: type registered twice: " + reg.Spec.Type)
	}
	r.types[reg.Spec.Type] = reg
}

// Spec returns the spec of a type.
func (r *Registry) Spec(typ string) (*config.Spec, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	reg, ok := r.types[typ]
	if !ok {
		return nil, false
	}
	return &reg.Spec, true
}

// Types lists the registered types, sorted.
func (r *Registry) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.types))
	for t := range r.types {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Resources lists a source's resources without extracting anything.
func (r *Registry) Resources(job Job) ([]string, error) {
	c, err := r.New(job)
	if err != nil {
		return nil, err
	}
	if l, ok := c.(Lister); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return l.ListResources(ctx)
	}
	return c.Resources(), nil
}

// New builds the connector for a job.
func (r *Registry) New(job Job) (Connector, error) {
	r.mu.RLock()
	reg, ok := r.types[job.Source.Type]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("source %s: unknown type %q", job.Source.Name, job.Source.Type)
	}
	return reg.New(job)
}
