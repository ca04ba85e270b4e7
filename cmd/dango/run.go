package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/dangohq/dango/humanize"
	"github.com/dangohq/dango/service"
	"github.com/dangohq/dango/transform"
	"github.com/dangohq/dango/warehouse"
)

// newExecCmd builds run, test, seed and build: the commands that execute the dbt project.
func newExecCmd(g *globals, command, short string) *cobra.Command {
	var f selectFlags
	var threads int
	var failFast, fullRefresh bool
	var wait time.Duration
	var engine string
	cmd := &cobra.Command{
		Use:   command,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if threads < 1 {
				return usageErr(fmt.Errorf("--threads must be at least 1, got %d", threads))
			}
			h, err := g.resolveDBT(f)
			if err != nil {
				return err
			}
			p := h.P
			if engine == "" {
				engine = p.Engine
			}
			switch engine {
			case "dango", "":
				if c := service.FindServer(p); c != nil && !h.Plain {
					return runViaServer(cmd, c, command, f, fullRefresh, threads, failFast)
				}
			case "dbt-core":
				profilesDir := ".dango"
				if h.Opts.ProfilesDir != "" {
					profilesDir = h.Opts.ProfilesDir
				}
				args := []string{command, "--profiles-dir", profilesDir, "--project-dir", relPath(p.Root, p.DBTDir), "--threads", fmt.Sprint(threads)}
				if h.Opts.Profile != "" {
					args = append(args, "--profile", h.Opts.Profile)
				}
				for _, s := range f.selects {
					args = append(args, "--select", s)
				}
				for _, s := range f.excludes {
					args = append(args, "--exclude", s)
				}
				if f.vars != "" {
					args = append(args, "--vars", f.vars)
				}
				if h.Opts.Target != "" {
					args = append(args, "--target", h.Opts.Target)
				}
				if fullRefresh {
					args = append(args, "--full-refresh")
				}
				if failFast {
					args = append(args, "--fail-fast")
				}
				return runDBTCore(cmd, p.Root, args)
			default:
				return usageErr(fmt.Errorf("--engine must be dango or dbt-core, got %q", engine))
			}
			start := time.Now()
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, "Running dbt...")
			l, err := loadDBTFor(h, f)
			if err != nil {
				return err
			}
			if l.p.Warehouse == ":memory:" {
				return usageErr(fmt.Errorf("profile %s target %s is an in-memory DuckDB: what dango %s builds would vanish; set path: in profiles.yml", l.E.P.Target.ProfileName, l.E.P.Target.Name, command))
			}
			l.E.FullRefresh = fullRefresh
			l.E.Command, l.E.Log = command, out
			ids := l.Executable(command)
			if w := transform.NotExecuted(l.G, l.Sel.IDs, command); w != "" {
				fmt.Fprintln(cmd.ErrOrStderr(), "Warning:", w)
			}
			w, err := warehouse.Open(cmd.Context(), l.p.Warehouse, waitOptions(wait))
			if err != nil {
				return failed(err)
			}
			defer w.Close()
			rep := &dbtLog{out: out, pal: palette{on: colorEnabled(os.Stdout)}}
			rep.line("Running with dango=%s", version)
			rep.line("Found %s", foundSummary(l.G))
			if len(ids) == 0 {
				rep.line("")
				rep.line("Nothing to do. Try checking your model configs and model specification args")
				return nil
			}
			rep.line("Concurrency: %d threads (target='%s')", threads, l.E.P.Target.Name)
			rep.line("")
			runner := &transform.Runner{E: l.E, G: l.G, DB: w.DB(), Threads: threads, FailFast: failFast, Report: rep}
			results, runErr := runner.Run(cmd.Context(), ids)
			elapsed := time.Since(start)
			if err := l.E.WriteRunResults(results, elapsed, command); err != nil {
				return failed(err)
			}
			if cmd.Context().Err() != nil {
				rep.line("")
				rep.line("Interrupted: models already built stay; the one running was rolled back.")
				return silentExit(exitInterrupted)
			}
			if runErr != nil {
				return failed(runErr)
			}
			return rep.summary(results, elapsed, l.p.Root, l.E.P)
		},
	}
	f.add(cmd)
	cmd.Flags().IntVar(&threads, "threads", 4, "nodes run in parallel, each on its own connection")
	cmd.Flags().BoolVarP(&failFast, "fail-fast", "x", false, "stop at the first failure")
	if command != "test" {
		cmd.Flags().BoolVar(&fullRefresh, "full-refresh", false, "rebuild incremental models (and reload seeds) from scratch")
	}
	cmd.Flags().DurationVar(&wait, "wait", 5*time.Minute, "how long to wait while another dango process writes the warehouse")
	cmd.Flags().StringVar(&engine, "engine", "", "dango (default, or engine: in .dango/project.yml) or dbt-core to run real dbt")
	return cmd
}

// runDBTCore runs real dbt with the project's profile, streaming its output and passing its
// exit code through.
func runDBTCore(cmd *cobra.Command, root string, args []string) error {
	bin := os.Getenv("DANGO_DBT")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("dbt"); err != nil {
			return usageErr(errors.New("--engine dbt-core: dbt is not installed (pip install dbt-core dbt-duckdb, or set DANGO_DBT to its path); dango's own engine needs neither"))
		}
	}
	c := exec.CommandContext(cmd.Context(), bin, args...)
	c.Dir, c.Stdout, c.Stderr, c.Stdin = root, cmd.OutOrStdout(), cmd.ErrOrStderr(), os.Stdin
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return silentExit(ee.ExitCode())
	}
	if err != nil {
		return failed(fmt.Errorf("run dbt: %w", err))
	}
	return nil
}

func relPath(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil {
		return r
	}
	return p
}

func foundSummary(g *transform.Graph) string {
	counts := map[string]int{}
	for _, n := range g.Nodes {
		counts[n.ResourceType]++
	}
	var parts []string
	for _, k := range []struct{ typ, noun string }{{"model", "model"}, {"test", "data test"}, {"seed", "seed"}, {"source", "source"}} {
		c := counts[k.typ]
		if c == 1 {
			parts = append(parts, "1 "+k.noun)
		} else {
			parts = append(parts, fmt.Sprintf("%d %ss", c, k.noun))
		}
	}
	return strings.Join(parts, ", ")
}

// dbtLog prints progress the way dbt does: "HH:MM:SS  1 of 3 START … [RUN]".
type dbtLog struct {
	out io.Writer
	pal palette
	mu  sync.Mutex
}

func (d *dbtLog) line(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// dotted pads a message with dots to dbt's width before its status.
func dotted(msg, status string) string {
	dots := 80 - len([]rune(msg)) - 1
	if dots < 3 {
		dots = 3
	}
	return msg + " " + strings.Repeat(".", dots) + " [" + status + "]"
}

func describe(n *transform.Node) string {
	rel := n.Schema + "." + n.Alias
	switch n.ResourceType {
	case "seed":
		return "seed file " + rel
	case "test":
		return "test " + n.Name
	}
	return "sql " + n.Materialized() + " model " + rel
}

func (d *dbtLog) Start(n *transform.Node, i, total int) {
	d.line("%s", dotted(fmt.Sprintf("%d of %d START %s", i, total, describe(n)), "RUN"))
}

func (d *dbtLog) Done(r transform.Result, total int) {
	n := r.Node
	secs := fmt.Sprintf("%.2fs", r.Duration().Seconds())
	switch r.Status {
	case transform.StatusSuccess:
		verb := "OK created"
		if n.ResourceType == "seed" {
			verb = "OK loaded"
		}
		status := "SUCCESS in " + secs
		if strings.HasPrefix(r.Message, "INSERT") || strings.HasPrefix(r.Message, "CREATE") {
			status = r.Message + " in " + secs
		}
		d.line("%s", d.pal.green(dotted(fmt.Sprintf("%d of %d %s %s", r.Index, total, verb, describe(n)), status)))
	case transform.StatusPass:
		d.line("%s", d.pal.green(dotted(fmt.Sprintf("%d of %d PASS %s", r.Index, total, n.Name), "PASS in "+secs)))
	case transform.StatusWarn:
		d.line("%s", d.pal.yellow(dotted(fmt.Sprintf("%d of %d WARN %d %s", r.Index, total, r.Failures, n.Name), fmt.Sprintf("WARN %d in %s", r.Failures, secs))))
	case transform.StatusFail:
		d.line("%s", d.pal.red(dotted(fmt.Sprintf("%d of %d FAIL %d %s", r.Index, total, r.Failures, n.Name), fmt.Sprintf("FAIL %d in %s", r.Failures, secs))))
	case transform.StatusError:
		verb := "ERROR creating " + describe(n)
		if n.ResourceType == "test" {
			verb = "ERROR " + n.Name
		}
		d.line("%s", d.pal.red(dotted(fmt.Sprintf("%d of %d %s", r.Index, total, verb), "ERROR in "+secs)))
	case transform.StatusSkipped:
		what := "relation " + n.Schema + "." + n.Alias
		if n.ResourceType == "test" {
			what = "test " + n.Name
		}
		d.line("%s", d.pal.yellow(dotted(fmt.Sprintf("%d of %d SKIP %s", r.Index, total, what), "SKIP")))
	}
}

// Hooks, HookStart and HookDone print on-run-start / on-run-end hooks as dbt does.
func (d *dbtLog) Hooks(kind string, n int) {
	if kind == "on-run-end" {
		d.line("")
	}
}

func (d *dbtLog) HookStart(n *transform.Node, i, total int) {
	d.line("%s", dotted(fmt.Sprintf("%d of %d START hook: %s", i, total, hookName(n, i)), "RUN"))
}

// hookName is dbt's name for the i-th hook of a run: package.on-run-start.(i-1).
func hookName(n *transform.Node, i int) string {
	kind := "on-run-start"
	if strings.Contains(n.Name, "-on-run-end-") {
		kind = "on-run-end"
	}
	return fmt.Sprintf("%s.%s.%d", n.PackageName, kind, i-1)
}

func (d *dbtLog) HookDone(r transform.Result, total int) {
	secs := fmt.Sprintf("%.2fs", r.Duration().Seconds())
	switch r.Status {
	case transform.StatusSuccess:
		d.line("%s", d.pal.green(dotted(fmt.Sprintf("%d of %d OK hook: %s", r.Index, total, r.Hook), "OK in "+secs)))
	case transform.StatusError:
		d.line("%s", d.pal.red(dotted(fmt.Sprintf("%d of %d ERROR hook: %s", r.Index, total, r.Hook), "ERROR in "+secs)))
	default:
		d.line("%s", d.pal.yellow(dotted(fmt.Sprintf("%d of %d SKIP hook: %s", r.Index, total, r.Hook), "SKIP")))
	}
	if r.Index == total && strings.Contains(r.Hook, ".on-run-start.") {
		d.line("")
	}
}

// summary prints dbt's closing lines and returns the exit status.
func (d *dbtLog) summary(results []transform.Result, elapsed time.Duration, root string, p *transform.Project) error {
	counts := map[string]int{}
	kinds := map[string]int{}
	for _, r := range results {
		counts[r.Status]++
		switch r.Node.ResourceType {
		case "model":
			kinds[r.Node.Materialized()]++
		case "test":
			kinds["test"]++
		case "seed":
			kinds["seed"]++
		case "operation":
			kinds["hook"]++
		}
	}
	var parts []string
	for _, k := range []struct{ key, one, many string }{{"view", "view", "views"}, {"table", "table", "tables"}, {"incremental", "incremental model", "incremental models"},
		{"hook", "project hook", "project hooks"}, {"seed", "seed", "seeds"}, {"test", "test", "tests"}} {
		switch c := kinds[k.key]; c {
		case 0:
		case 1:
			parts = append(parts, "1 "+k.one)
		default:
			parts = append(parts, fmt.Sprintf("%d %s", c, k.many))
		}
	}
	d.line("")
	d.line("Finished running %s in %.1fs.", strings.Join(parts, ", "), elapsed.Seconds())
	d.line("")
	errs := counts[transform.StatusError] + counts[transform.StatusFail]
	warns := counts[transform.StatusWarn]
	if errs == 0 {
		d.line("%s", d.pal.green("Completed successfully"))
	} else {
		d.line("%s", d.pal.red(fmt.Sprintf("Completed with %s and %s:", humanize.Count(int64(errs), "error"), humanize.Count(int64(warns), "warning"))))
		for _, r := range results {
			if r.Status != transform.StatusError && r.Status != transform.StatusFail {
				continue
			}
			n := r.Node
			d.line("")
			kind := "Runtime Error"
			if r.Status == transform.StatusFail {
				kind = "Failure"
			}
			d.line("  %s in %s %s (%s)", kind, n.ResourceType, n.Name, n.OriginalFilePath)
			for _, l := range strings.Split(r.Message, "\n") {
				d.line("    %s", l)
			}
			if n.CompiledPath != "" {
				d.line("    compiled code at %s", strings.TrimPrefix(p.Dir+"/"+n.CompiledPath, root+"/"))
			}
		}
	}
	d.line("")
	pass := counts[transform.StatusSuccess] + counts[transform.StatusPass]
	d.line("Done. PASS=%d WARN=%d ERROR=%d SKIP=%d TOTAL=%d", pass, warns, errs, counts[transform.StatusSkipped], len(results))
	if errs > 0 {
		return silentExit(exitFailed)
	}
	return nil
}

// runViaServer asks the dango serve holding the warehouse to run the models and reports what
// it did.
func runViaServer(cmd *cobra.Command, c *service.Client, command string, f selectFlags, fullRefresh bool, threads int, failFast bool) error {
	if command != "run" {
		return usageErr(fmt.Errorf("dango serve is running for this project (%s) and holds the warehouse: it runs models (dango run) for you; stop it for dango %s", c.Info.API, command))
	}
	if f.vars != "" || f.target != "" {
		return usageErr(fmt.Errorf("dango serve is running for this project (%s): --vars and --target are not passed to it; stop it to use them", c.Info.API))
	}
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	id, err := c.Submit(ctx, "/api/v1/run", map[string]any{"select": f.selects, "exclude": f.excludes, "full_refresh": fullRefresh,
		"threads": threads, "fail_fast": failFast})
	if err != nil {
		return serverErr(err)
	}
	fmt.Fprintf(out, "Submitted to dango serve at %s (%s)\n", c.Info.API, id)
	r, err := c.Wait(ctx, id)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(out, "Stopped watching; the run goes on in dango serve (GET %s/api/v1/runs/%s).\n", c.Info.API, id)
			return silentExit(exitInterrupted)
		}
		return failed(err)
	}
	if m := r.Models; m != nil {
		fmt.Fprintf(out, "Done. %d selected: %d OK, %d errors, %d skipped\n", m.Selected, m.Success, m.Error, m.Skipped)
	}
	for _, e := range r.Errors {
		fmt.Fprintln(out, "Error:", e)
	}
	if r.Status != "success" {
		return silentExit(exitFailed)
	}
	return nil
}

// serverErr gives a dango serve refusal exit code 2, like the same mistake made locally.
func serverErr(err error) error {
	var bad *service.BadRequest
	if errors.As(err, &bad) {
		return usageErr(err)
	}
	return failed(err)
}
