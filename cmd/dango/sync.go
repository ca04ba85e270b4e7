package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
	"github.com/dangohq/dango/dispatcher"
	"github.com/dangohq/dango/events"
	"github.com/dangohq/dango/humanize"
	"github.com/dangohq/dango/node"
	"github.com/dangohq/dango/service"
	"github.com/dangohq/dango/staging"
	"github.com/dangohq/dango/warehouse"
)

type syncFlags struct {
	sources     []string
	selects     []string
	workers     int
	fullRefresh bool
	yes         bool
	allowEmpty  bool
	startDate   string
	dryRun      bool
	wait        time.Duration
}

func newSyncCmd(g *globals) *cobra.Command {
	var f syncFlags
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Load enabled sources into the warehouse",
		Long: `Load every enabled source of .dango/sources.yml (or those named with --source) into the
DuckDB warehouse. Each source's load is one transaction: it lands whole or not at all.
One failing source does not stop the others; the exit code is 1 when any failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSync(cmd, g, f) },
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.sources, "source", "s", nil, "sync only this source (repeat, or separate names with commas)")
	fl.StringArrayVar(&f.selects, "select", nil, "sync only these resources (tables) of the selected sources (repeat, or comma-separated)")
	fl.IntVarP(&f.workers, "workers", "w", 4, "sources synced in parallel (and tables of one database source)")
	fl.BoolVar(&f.fullRefresh, "full-refresh", false, "drop the selected sources' tables and cursors and load everything again")
	fl.BoolVarP(&f.yes, "yes", "y", false, "do not ask for confirmation (--full-refresh)")
	fl.BoolVar(&f.allowEmpty, "allow-empty", false, "let replace or --full-refresh leave a table empty when the source returns no rows")
	fl.StringVar(&f.startDate, "start-date", "", "for incremental resources, start from this date (YYYY-MM-DD) instead of the stored cursor")
	fl.BoolVar(&f.dryRun, "dry-run", false, "show what would be synced, with estimates; change nothing")
	fl.DurationVar(&f.wait, "wait", 5*time.Minute, "how long to wait for another dango process that is writing the warehouse")
	return cmd
}

func runSync(cmd *cobra.Command, g *globals, f syncFlags) error {
	if f.workers < 1 {
		return usageErr(fmt.Errorf("--workers must be at least 1, got %d", f.workers))
	}
	if f.startDate != "" {
		if _, err := time.Parse("2006-01-02", f.startDate); err != nil {
			return usageErr(fmt.Errorf("--start-date %q: want YYYY-MM-DD", f.startDate))
		}
	}
	p, err := g.loadProject()
	if err != nil {
		return err
	}
	selected, err := dispatcher.SelectSources(p, splitList(f.sources))
	if err != nil {
		return usageErr(err)
	}
	resources := splitList(f.selects)
	if selected, err = dispatcher.SelectResources(p, connectors.Default, selected, resources); err != nil {
		return usageErr(err)
	}
	opts := events.SyncOptions{Resources: resources, FullRefresh: f.fullRefresh, AllowEmpty: f.allowEmpty, StartDate: f.startDate, Parallel: f.workers}
	out := cmd.OutOrStdout()
	ctx := cmd.Context()
	openOpts := waitOptions(f.wait)
	if f.dryRun {
		return dryRun(cmd, p, selected, opts, openOpts)
	}
	interactive := isTerminal(os.Stdin) && isTerminal(os.Stdout)
	if f.fullRefresh && !f.yes && !interactive {
		return usageErr(errors.New("--full-refresh drops and reloads data and needs confirmation: run it in a terminal, or pass --yes"))
	}

	if c := service.FindServer(p); c != nil {
		if f.dryRun {
			return usageErr(fmt.Errorf("dango serve is running for this project (%s): --dry-run needs the warehouse, which it holds; stop it first", c.Info.API))
		}
		if f.fullRefresh && !f.yes {
			return usageErr(fmt.Errorf("dango serve is running for this project (%s): confirm --full-refresh with --yes", c.Info.API))
		}
		return syncViaServer(cmd, c, selected, resources, f)
	}
	started := time.Now()
	openOpts.MemoryLimit = p.SyncMemory
	n, err := node.StartEmbedded(ctx, p, node.Options{Workers: f.workers, Registry: connectors.Default, Log: g.log, Open: openOpts})
	if err != nil {
		if ctx.Err() != nil {
			return silentExit(exitInterrupted)
		}
		return failed(err)
	}
	if f.fullRefresh {
		ok, err := confirmFullRefresh(cmd, n.Writer, selected, resources, !f.yes)
		if err != nil || !ok {
			n.Close()
			if err != nil {
				return failed(err)
			}
			fmt.Fprintln(out, "Aborted: nothing was changed.")
			return silentExit(exitFailed)
		}
	}
	names := make([]string, len(selected))
	for i, s := range selected {
		names[i] = s.Name
	}
	view := newSyncView(out, names, isTerminal(os.Stdout), colorEnabled(os.Stdout))
	view.begin()
	run, err := n.Dispatcher.Sync(ctx, selected, opts)
	if err != nil {
		view.stop()
		n.Close()
		return failed(err)
	}
	for e := range run.Events {
		view.handle(e)
	}
	view.stop()
	if ctx.Err() != nil {
		n.Close()
		view.interrupted()
		return silentExit(exitInterrupted)
	}
	ok := view.summary(time.Since(started))
	var genErr error
	if changed := view.schemaChanged(); p.AutoGenerate && len(changed) > 0 {
		// The chain's first link: the raw schema changed, so bring staging up to date (never
		// overwriting edited models). Read through the writer's own connection: this process
		// holds the warehouse.
		fmt.Fprintf(out, "\nauto_generate: the raw schema of %s changed; updating staging models\n", strings.Join(changed, ", "))
		gen := generator{out: out, p: p, pal: palette{on: colorEnabled(os.Stdout)}, quiet: true}
		if _, genErr = gen.run(ctx, n.Writer.DB(), changed, staging.Options{}, false, false); genErr == nil {
			fmt.Fprintln(out, "Staging models are up to date.")
		}
	}
	closeErr := n.Close()
	if closeErr != nil {
		return failed(closeErr)
	}
	if genErr != nil {
		return genErr
	}
	if !ok {
		return silentExit(exitFailed)
	}
	return nil
}

// syncViaServer submits the sync to the dango serve that holds the warehouse and shows its
// progress from the server's events, as a local sync would.
func syncViaServer(cmd *cobra.Command, c *service.Client, selected []config.Source, resources []string, f syncFlags) error {
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	names := make([]string, len(selected))
	for i, s := range selected {
		names[i] = s.Name
	}
	started := time.Now()
	req := map[string]any{"sources": names, "select": resources, "full_refresh": f.fullRefresh, "allow_empty": f.allowEmpty, "start_date": f.startDate}
	evs, id, closeNC, err := c.FollowSync(ctx, names, func() (string, error) { return c.Submit(ctx, "/api/v1/sync", req) })
	if err != nil {
		return serverErr(err)
	}
	defer closeNC()
	fmt.Fprintf(out, "Submitted to dango serve at %s (%s)\n", c.Info.API, id)
	view := newSyncView(out, names, isTerminal(os.Stdout), colorEnabled(os.Stdout))
	view.begin()
	for e := range evs {
		view.handle(e)
	}
	view.stop()
	if ctx.Err() != nil {
		fmt.Fprintf(out, "Stopped watching; the sync goes on in dango serve (GET %s/api/v1/runs/%s).\n", c.Info.API, id)
		return silentExit(exitInterrupted)
	}
	if !view.summary(time.Since(started)) {
		return silentExit(exitFailed)
	}
	return nil
}

// confirmFullRefresh prints what a full refresh will delete and, when ask is set, asks.
func confirmFullRefresh(cmd *cobra.Command, w *warehouse.Writer, sources []config.Source, resources []string, ask bool) (bool, error) {
	out := cmd.OutOrStdout()
	pal := palette{on: colorEnabled(os.Stdout)}
	fmt.Fprintln(out, pal.yellow("⚠ Full refresh mode enabled"))
	fmt.Fprintln(out, "This will DROP and RELOAD all data for selected sources.")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Sources to refresh:")
	for _, s := range sources {
		tables, err := connectors.Default.Resources(connectors.Job{Source: s, Resources: resources})
		if err != nil {
			return false, err
		}
		var rows int64
		for _, t := range tables {
			if len(resources) > 0 && !contains(resources, t) {
				continue
			}
			n, err := w.TableRowCount(cmd.Context(), s.Schema, t)
			if err != nil {
				return false, err
			}
			rows += n
		}
		fmt.Fprintf(out, "  - %s (%s rows will be deleted)\n", s.Name, humanize.Thousands(rows))
	}
	fmt.Fprintln(out)
	if !ask {
		return true, nil
	}
	ok := prompt(cmd.InOrStdin(), out, "Proceed? (y/N): ")
	fmt.Fprintln(out)
	return ok, nil
}

// prompt asks a yes/no question; anything but y or yes is no.
func prompt(in io.Reader, out io.Writer, q string) bool {
	fmt.Fprint(out, q)
	line, _ := bufio.NewReader(in).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// splitList flattens repeated and comma-separated flag values.
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
