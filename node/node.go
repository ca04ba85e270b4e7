// Package node assembles a running dango: the bus, the single writer and its loader, the
// worker pool and the dispatcher. The embedded node is what `dango sync` runs in one process;
// `dango serve` (later) is the same parts with listeners.
package node

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
	"github.com/dangohq/dango/dispatcher"
	"github.com/dangohq/dango/events"
	"github.com/dangohq/dango/loader"
	"github.com/dangohq/dango/spool"
	"github.com/dangohq/dango/warehouse"
	"github.com/dangohq/dango/worker"
)

// Options configure a node.
type Options struct {
	Workers  int
	Registry *connectors.Registry
	Log      zerolog.Logger
	Open     warehouse.OpenOptions // how long to wait for another writer

	// Where NATS lives: NATSURL joins an external server or cluster (logging in as the
	// serve identity, see Credentials); otherwise an embedded server starts, listening on
	// NATSListen (HOST:PORT) when set — with the users of AuthFile, generated at the first
	// start — keeping JetStream data in StoreDir when set (else in memory).
	NATSURL    string
	NATSListen string
	StoreDir   string
	JobTimeout time.Duration // see worker.Pool.JobTimeout
}

// Node is a running embedded dango.
type Node struct {
	Bus        *events.Bus
	Writer     *warehouse.Writer
	Dispatcher *dispatcher.Dispatcher

	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
}

// StartEmbedded opens the warehouse (failing fast if another process holds it), starts an
// in-process NATS server without a listener, the loader and the workers.
func StartEmbedded(ctx context.Context, p *config.Project, o Options) (*Node, error) {
	o.NATSURL, o.NATSListen, o.StoreDir = "", "", ""
	return Start(ctx, p, o)
}

// Start opens the warehouse, brings up NATS as o says, and starts the loader and o.Workers
// local workers (none when 0: remote `dango worker` processes do the extracting).
func Start(ctx context.Context, p *config.Project, o Options) (*Node, error) {
	w, err := warehouse.Open(ctx, p.Warehouse, o.Open)
	if err != nil {
		return nil, err
	}
	bus, err := startBus(ctx, p, o)
	if err != nil {
		w.Close()
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	n := &Node{Bus: bus, Writer: w, Dispatcher: &dispatcher.Dispatcher{Bus: bus, Project: p, State: w}, cancel: cancel}
	maxLoads := o.Workers
	if maxLoads < 1 {
		maxLoads = 4 // remote workers only: loads still overlap
	}
	ld := &loader.Loader{Bus: bus, Writer: w, Log: o.Log, MaxLoads: maxLoads, SpoolDir: spool.Dir(p.Root), Project: p}
	pool := &worker.Pool{Bus: bus, Registry: o.Registry, Project: p, Name: "local", Log: o.Log, JobTimeout: o.JobTimeout}
	if err := errors.Join(ld.Start(ctx), pool.Start(ctx)); err != nil {
		cancel()
		bus.Close()
		w.Close()
		return nil, err
	}
	n.goRun(func() error { return ld.Run(bg) })
	if o.Workers > 0 {
		n.goRun(func() error { return pool.Run(bg, o.Workers) })
	}
	return n, nil
}

// startBus joins or starts NATS with authentication: a listener never goes without it.
func startBus(ctx context.Context, p *config.Project, o Options) (*events.Bus, error) {
	if o.NATSURL != "" {
		c, _, err := Credentials(p, events.RoleServe)
		if err != nil {
			return nil, err
		}
		if c.Empty() {
			o.Log.Warn().Str("nats", o.NATSURL).Msg("joining NATS without credentials: whoever reaches that server can queue runs and send batches; set the nats: block of .dango/project.yml and the server's deploy/nats/auth.conf")
		}
		return events.Connect(ctx, o.NATSURL, events.ConnectOptions{Name: "dango-serve", Role: events.RoleServe, Creds: c})
	}
	eo := events.EmbeddedOptions{Listen: o.NATSListen, StoreDir: o.StoreDir}
	if o.NATSListen != "" {
		a, err := events.LoadOrCreateAuth(AuthPath(p))
		if err != nil {
			return nil, err
		}
		for _, u := range a.Users {
			config.RegisterSecret(u.Password)
		}
		eo.Auth, eo.TLS = a, serverTLS(p)
	}
	return events.StartEmbedded(ctx, eo)
}

func (n *Node) goRun(f func() error) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := f(); err != nil {
			n.mu.Lock()
			n.errs = append(n.errs, err)
			n.mu.Unlock()
		}
	}()
}

// Close stops the workers and the loader (rolling back any open load), checkpoints and
// closes the warehouse, and stops the bus.
func (n *Node) Close() error {
	n.cancel()
	n.wg.Wait()
	err := n.Writer.Close()
	n.Bus.Close()
	n.mu.Lock()
	defer n.mu.Unlock()
	return errors.Join(append(n.errs, err)...)
}
