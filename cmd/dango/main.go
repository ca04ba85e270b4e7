// Command dango loads sources into a DuckDB warehouse and runs dbt transformations.
// This package holds flags, prompts and console output only; the work lives in the packages
// it calls.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
	_ "github.com/dangohq/dango/connectors/all"
	"github.com/dangohq/dango/warehouse"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1   // the command ran and something in it failed
	exitUsage       = 2   // it could not start: bad flags, bad configuration
	exitInterrupted = 130 // Ctrl-C
)

// exitError carries an exit code; its message (if any) has been printed already or is printed
// by main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func usageErr(err error) error  { return &exitError{code: exitUsage, err: err} }
func failed(err error) error    { return &exitError{code: exitFailed, err: err} }
func silentExit(code int) error { return &exitError{code: code} }

var version = "dev"

type globals struct {
	cpuProfile string
	projectDir string
	verbose    bool
	logJSON    bool
	log        zerolog.Logger
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) (code int) {
	// No panic reaches the user as a Go trace (whose message could quote a credential): it
	// ends the command with a redacted one-line error.
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintln(os.Stderr, "Error: internal error (a bug in dango; please report it):", config.Redact(fmt.Sprint(r)))
			code = exitFailed
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A write past the file-size limit (ulimit -f, RLIMIT_FSIZE) would kill the process with
	// SIGXFSZ in the middle of a load; ignored, the write fails with EFBIG instead and the load
	// rolls back with an error that says so, like a full disk (ENOSPC).
	signal.Ignore(syscall.SIGXFSZ)
	g := &globals{}
	root := &cobra.Command{
		Use:           "dango",
		Short:         "Load sources into a DuckDB warehouse and run dbt transformations",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if g.cpuProfile != "" {
				f, err := os.Create(g.cpuProfile)
				if err != nil {
					return usageErr(err)
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					return usageErr(err)
				}
			}
			level := zerolog.WarnLevel
			if g.verbose {
				level = zerolog.DebugLevel
			}
			// Logs quote errors from drivers and servers: they are redacted on the way out.
			logOut := config.RedactWriter(os.Stderr)
			if g.logJSON {
				g.log = zerolog.New(logOut).Level(level).With().Timestamp().Logger()
			} else {
				g.log = zerolog.New(zerolog.ConsoleWriter{Out: logOut, NoColor: !colorEnabled(os.Stderr)}).Level(level).With().Timestamp().Logger()
			}
			return nil
		},
	}
	root.PersistentFlags().StringVarP(&g.projectDir, "project", "p", ".", "project folder (or any folder inside it)")
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "debug logging on stderr")
	root.PersistentFlags().BoolVar(&g.logJSON, "log-json", false, "log as JSON lines instead of console text")
	root.PersistentFlags().StringVar(&g.cpuProfile, "cpuprofile", "", "write a Go CPU profile here (for performance reports)")
	root.PersistentFlags().MarkHidden("cpuprofile")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
	root.AddCommand(newInitCmd(g), newSyncCmd(g), newGenerateCmd(g), newLsCmd(g), newCompileCmd(g),
		newExecCmd(g, "run", "Build the dbt project's models in the warehouse"),
		newExecCmd(g, "test", "Run the dbt project's data tests"),
		newExecCmd(g, "seed", "Load the dbt project's seed CSV files"),
		newExecCmd(g, "build", "Seed, run and test in dependency order; a failing test skips what depends on it"), newSourceCmd(g), newQueryCmd(g),
		newServeCmd(g), newWorkerCmd(g), newEventsCmd(g), newTokenCmd(g), newDepsCmd(g), newRunOperationCmd(g))
	// Everything commands print passes through redaction (sync blocks, dry-run estimates,
	// errors from connectors).
	root.SetOut(config.RedactWriter(os.Stdout))
	root.SetErr(config.RedactWriter(os.Stderr))
	root.SetArgs(args)
	defer func() {
		if g.cpuProfile != "" {
			pprof.StopCPUProfile()
		}
	}()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "Error:", config.Redact(ee.err.Error()))
		}
		return ee.code
	}
	// cobra's own errors (unknown command, bad args) are usage errors.
	fmt.Fprintln(os.Stderr, "Error:", config.Redact(err.Error()))
	return exitUsage
}

// waitOptions makes readers wait for a writer, telling the user why nothing happens.
func waitOptions(wait time.Duration) warehouse.OpenOptions {
	return warehouse.OpenOptions{Wait: wait, OnWait: func(h warehouse.Holder) {
		fmt.Fprintf(os.Stderr, "Waiting for the warehouse: it is in use by %s...\n", h)
	}}
}

// loadProject finds and validates the project; any problem is a usage error (exit 2).
func (g *globals) loadProject() (*config.Project, error) {
	return g.loadWith(config.Load)
}

// loadProjectForReading is loadProject for commands that never contact a source: missing
// source secrets are no error there.
func (g *globals) loadProjectForReading() (*config.Project, error) {
	return g.loadWith(config.LoadForReading)
}

func (g *globals) loadWith(load func(string, config.Specs) (*config.Project, error)) (*config.Project, error) {
	root, err := config.FindRoot(g.projectDir)
	if err != nil {
		return nil, usageErr(err)
	}
	p, err := load(root, connectors.Default)
	if err != nil {
		return nil, usageErr(err)
	}
	return p, nil
}
