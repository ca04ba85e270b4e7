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

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/config"
)

// Connector extracts one source's data.
type Connector interface {
	// Extract reads the source and hands its data to out. It returns when all data has been
	// emitted, or with the first error; a cancelled ctx must stop it promptly.
	Extract(ctx context.Context, out Emitter) error
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

// Job is what a connector is built for: one source of a project.
type Job struct {
	Source      config.Source
	ProjectRoot string // absolute; relative paths in the config resolve against it
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
