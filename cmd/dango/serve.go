package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
	"github.com/dangohq/dango/events"
	"github.com/dangohq/dango/node"
	"github.com/dangohq/dango/service"
	"github.com/dangohq/dango/worker"
)

func newServeCmd(g *globals) *cobra.Command {
	var listen, natsListen, natsURL string
	var workers int
	var jobTimeout, debounce time.Duration
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run dango as a service: HTTP API, webhooks, NATS for remote workers, the single writer",
		Long: `Run the dispatcher and the warehouse's single writer with an HTTP API (POST /api/v1/sync,
POST /api/v1/run, GET /api/v1/runs/{id}, GET /healthz, GET /metrics) and the webhooks of
.dango/project.yml (POST /hooks/{name}). NATS JetStream is embedded and listens for
` + "`dango worker`" + ` processes (its data kept in .dango/nats, so queued jobs survive a restart),
requiring a login: the users dango-serve, dango-worker and dango-trigger, with passwords
generated at the first start into .dango/nats-auth.json (mode 0600). Or --nats joins an
external server or cluster, logging in as the nats: block of .dango/project.yml says.

Every /api/v1 request needs a bearer token: the one generated at first start in
.dango/api_token (mode 0600; this project's CLI reads it; ` + "`dango token rotate`" + ` replaces it
at once), or the one named by api_token_env in .dango/project.yml. POSTs need
Content-Type: application/json; no cross-origin (CORS) request is allowed. /healthz and
/metrics answer without a token only on a loopback --listen address.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if workers < 0 {
				return usageErr(fmt.Errorf("--workers must be 0 or more, got %d", workers))
			}
			p, err := g.loadProject()
			if err != nil {
				return err
			}
			// The API always needs a token: the generated one (created at first start, 0600,
			// read by this project's CLI) or the api_token_env one.
			configured, err := p.APIToken()
			if err != nil {
				return usageErr(err)
			}
			if _, err := service.EnsureToken(p.Root); err != nil {
				return failed(err)
			}
			scheds, err := config.LoadSchedules(p)
			if err != nil {
				return usageErr(err)
			}
			hooks := map[string]service.Hook{}
			for _, h := range p.Webhooks {
				secret, err := p.WebhookSecret(h)
				if err != nil {
					return usageErr(err)
				}
				hooks[h.Name] = service.Hook{Secret: secret, Sync: h.Sync, Run: h.Run}
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return failed(fmt.Errorf("listen on %s: %w", listen, err))
			}
			ctx := cmd.Context()
			o := node.Options{Workers: workers, Registry: connectors.Default, Log: g.log, Open: waitOptions(time.Minute), JobTimeout: jobTimeout}
			o.Open.MemoryLimit = p.SyncMemory
			if natsURL != "" {
				o.NATSURL = natsURL
			} else {
				o.NATSListen, o.StoreDir = natsListen, filepath.Join(p.Root, ".dango", "nats")
			}
			n, err := node.Start(ctx, p, o)
			if err != nil {
				ln.Close()
				return failed(err)
			}
			svc := &service.Service{Project: p, Node: n, Registry: connectors.Default, Log: g.log, Parallel: max(workers, 1), Debounce: debounce}
			if err := svc.Start(); err != nil {
				n.Close()
				ln.Close()
				return failed(err)
			}
			svc.StartSchedules(scheds)
			api := &service.API{S: svc, Root: p.Root, Tokens: []string{configured}, Hooks: hooks, OpenProbes: loopbackListener(ln)}
			srv := &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second}
			out := cmd.OutOrStdout()
			where := n.Bus.ClientURL()
			if natsURL != "" {
				where = natsURL
			}
			if natsURL == "" {
				fmt.Fprintf(out, "dango serve: NATS credentials in %s (dango worker logs in as %s, triggers as %s)\n",
					node.AuthFile, events.UserName(events.RoleWorker), events.UserName(events.RoleTrigger))
			}
			fmt.Fprintf(out, "dango serve: API on http://%s, NATS on %s, %d local workers, %d schedules, %d webhooks (project %s)\n",
				ln.Addr(), where, workers, len(scheds), len(hooks), p.Name)
			fmt.Fprintf(out, "dango serve: the API needs the bearer token in %s (replace it with dango token rotate)\n", service.TokenFile)
			if natsURL == "" {
				where = n.Bus.ClientURL()
			}
			if err := service.WriteInfo(p, service.Info{API: "http://" + ln.Addr().String(), NATS: where, PID: os.Getpid()}); err != nil {
				return failed(err)
			}
			defer service.RemoveInfo(p)
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case <-ctx.Done():
			case err = <-errc:
			}
			fmt.Fprintln(out, "dango serve: stopping")
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			srv.Shutdown(sctx)
			cancel()
			svc.Close()
			n.Close()
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				return failed(err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8800", "HTTP address of the API and webhooks")
	cmd.Flags().StringVar(&natsListen, "nats-listen", "127.0.0.1:4222", "address of the embedded NATS server, for dango worker processes")
	cmd.Flags().StringVar(&natsURL, "nats", "", "use this external NATS server or cluster instead of embedding one")
	cmd.Flags().IntVarP(&workers, "workers", "w", 4, "connector workers in this process (0: only remote dango worker processes extract)")
	cmd.Flags().DurationVar(&jobTimeout, "job-timeout", worker.DefaultJobTimeout, "a job whose worker sends no heartbeat this long goes to another worker (give every process the same)")
	cmd.Flags().DurationVar(&debounce, "debounce", 2*time.Second, "auto_run: syncs finishing within this window share one run of the models downstream")
	return cmd
}

// loopbackListener reports whether the API listens on a loopback address only.
func loopbackListener(ln net.Listener) bool {
	a, ok := ln.Addr().(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}

func newWorkerCmd(g *globals) *cobra.Command {
	var natsURL, name string
	var workers int
	var jobTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Extract sources for a dango serve, pulling jobs from NATS",
		Long: `Run connector workers in this process: they pull sync jobs from the NATS server a dango serve
uses and send what they extract to its writer. The project folder must hold the same
.dango/sources.yml (and the secrets its sources name). A worker that dies mid-job has the job
redelivered to another.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if workers < 1 {
				return usageErr(fmt.Errorf("--workers must be at least 1, got %d", workers))
			}
			p, err := g.loadProject()
			if err != nil {
				return err
			}
			creds, blockURL, err := node.Credentials(p, events.RoleWorker)
			if err != nil {
				return usageErr(err)
			}
			if natsURL == "" {
				natsURL = blockURL
			}
			if natsURL == "" {
				return usageErr(errors.New("--nats is required (the URL dango serve printed, e.g. nats://127.0.0.1:4222), or set url in the nats: block of .dango/project.yml"))
			}
			if name == "" {
				host, _ := os.Hostname()
				name = fmt.Sprintf("%s/%d", host, os.Getpid())
			}
			ctx := cmd.Context()
			bus, err := events.Connect(ctx, natsURL, events.ConnectOptions{Name: "dango-worker " + name, Role: events.RoleWorker, Creds: creds})
			if err != nil {
				return failed(err)
			}
			defer bus.Close()
			pool := &worker.Pool{Bus: bus, Registry: connectors.Default, Project: p, Name: name, Log: g.log, Ship: true, JobTimeout: jobTimeout}
			if err := pool.Start(ctx); err != nil {
				return failed(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "dango worker %s: %d workers on %s\n", name, workers, natsURL)
			return pool.Run(ctx, workers)
		},
	}
	cmd.Flags().StringVar(&natsURL, "nats", "", "NATS URL of the dango serve (default: url in the nats: block of .dango/project.yml)")
	cmd.Flags().IntVarP(&workers, "workers", "w", 4, "jobs extracted at once")
	cmd.Flags().StringVar(&name, "name", "", "name in events and logs (default host/pid)")
	cmd.Flags().DurationVar(&jobTimeout, "job-timeout", worker.DefaultJobTimeout, "kept for compatibility: workers take the job timeout from dango serve's --job-timeout")
	return cmd
}

func newEventsCmd(g *globals) *cobra.Command {
	var natsURL string
	var sources []string
	var progress bool
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Tail the events of a running dango serve (syncs, generate, runs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// In a project, log in as its nats: block says, or with the credentials its
			// dango serve generated; elsewhere, as nobody.
			var creds events.Credentials
			if _, err := config.FindRoot(g.projectDir); err == nil {
				p, err := g.loadProjectForReading()
				if err != nil {
					return err
				}
				c, blockURL, err := node.Credentials(p, events.RoleTrigger)
				if err != nil {
					return usageErr(err)
				}
				creds = c
				if blockURL != "" && !cmd.Flags().Changed("nats") {
					natsURL = blockURL
				}
			}
			nc, err := events.Dial(natsURL, "dango events", events.RoleTrigger, creds)
			if err != nil {
				return failed(fmt.Errorf("connect to %s (is dango serve running?): %w", natsURL, err))
			}
			defer nc.Close()
			want := map[string]bool{}
			for _, s := range splitList(sources) {
				want[s] = true
			}
			out := cmd.OutOrStdout()
			ch := make(chan *nats.Msg, 1024)
			sub, err := nc.ChanSubscribe(events.AllEvents, ch)
			if err != nil {
				return failed(err)
			}
			defer sub.Unsubscribe()
			for {
				select {
				case <-cmd.Context().Done():
					return nil
				case m := <-ch:
					var e events.Event
					if json.Unmarshal(m.Data, &e) != nil || (len(want) > 0 && !want[e.Source]) || (e.Type == events.SyncProgress && !progress) {
						continue
					}
					fmt.Fprintln(out, formatEvent(e))
				}
			}
		},
	}
	cmd.Flags().StringVar(&natsURL, "nats", "nats://127.0.0.1:4222", "NATS URL of the dango serve")
	cmd.Flags().StringArrayVarP(&sources, "source", "s", nil, "only this source's events (repeat, or comma-separated)")
	cmd.Flags().BoolVar(&progress, "progress", false, "include sync.progress events")
	return cmd
}

// formatEvent renders an event as one line: time, type, source, what happened.
func formatEvent(e events.Event) string {
	b := strings.Builder{}
	fmt.Fprintf(&b, "[%s] %-18s", e.Time.Local().Format("15:04:05"), e.Type)
	if e.Source != "" {
		fmt.Fprintf(&b, " %s", e.Source)
	}
	if e.RunID != "" {
		fmt.Fprintf(&b, " (%s)", e.RunID)
	}
	switch {
	case e.Error != "":
		fmt.Fprintf(&b, ": %s", e.Error)
	case e.Message != "":
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Type == events.SyncCompleted {
		fmt.Fprintf(&b, " %d rows", e.Rows)
		if e.SchemaChanged {
			b.WriteString(", schema changed")
		}
	}
	return b.String()
}
