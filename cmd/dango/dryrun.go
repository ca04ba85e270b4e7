package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
	"github.com/dangohq/dango/dispatcher"
	"github.com/dangohq/dango/events"
	"github.com/dangohq/dango/humanize"
	"github.com/dangohq/dango/warehouse"
)

// dryRun prints what a sync would do. It opens the warehouse read-only (if it exists at all),
// so the file stays byte-for-byte as it was.
func dryRun(cmd *cobra.Command, p *config.Project, sources []config.Source, opts events.SyncOptions, o warehouse.OpenOptions) error {
	out := cmd.OutOrStdout()
	var state dispatcher.StateReader
	var rates dispatcher.RateReader
	r, err := warehouse.OpenReadOnly(cmd.Context(), p.Warehouse, o)
	switch {
	case err == nil:
		defer r.Close()
		state, rates = r, r
	case !errors.Is(err, warehouse.ErrNoWarehouse):
		return failed(err)
	}
	fmt.Fprintln(out, "DRY RUN MODE - No data will be modified")
	fmt.Fprintln(out)
	if opts.FullRefresh {
		fmt.Fprintln(out, "(--full-refresh: stored cursors and file versions are ignored)")
		fmt.Fprintln(out)
	}
	plans := dispatcher.Plan(cmd.Context(), p, connectors.Default, sources, opts, state, rates)
	noun := "sources"
	if len(plans) == 1 {
		noun = "source"
	}
	fmt.Fprintf(out, "Would sync %d %s:\n\n", len(plans), noun)
	var total int64
	var totalTime time.Duration
	unknown, failures := false, 0
	for i, sp := range plans {
		fmt.Fprintf(out, "%d. %s\n", i+1, sp.Source.Name)
		if sp.Err != nil {
			failures++
			fmt.Fprintf(out, "   ✗ cannot estimate: %v\n\n", sp.Err)
			continue
		}
		if sp.Resources == nil {
			fmt.Fprintf(out, "   - (%s sources cannot estimate without fetching)\n\n", sp.Source.Type)
			unknown = true
			continue
		}
		for _, r := range sp.Resources {
			fmt.Fprintf(out, "   - %s: %s\n", r.Label, describeEstimate(r))
		}
		if sp.Rows < 0 {
			unknown = true
			fmt.Fprintln(out, "   Estimated: unknown")
		} else {
			fmt.Fprintf(out, "   Estimated: %s rows, %s\n", humanize.Thousands(sp.Rows), approx(sp.Time))
			total += sp.Rows
			totalTime += sp.Time
		}
		fmt.Fprintln(out)
	}
	more := ""
	if unknown {
		more = " (plus sources that cannot estimate)"
	}
	fmt.Fprintf(out, "Total estimated: %s rows, %s%s\n\n", humanize.Thousands(total), approx(totalTime), more)
	fmt.Fprintln(out, "No data was modified.")
	if failures > 0 {
		return silentExit(exitFailed)
	}
	return nil
}

func describeEstimate(e connectors.Estimate) string {
	rows := humanize.Thousands(e.Rows)
	var s string
	switch {
	case e.Mode.Incremental && e.Mode.From != "":
		s = fmt.Sprintf("~%s new rows (since %s)", rows, e.Mode.Since())
	case e.Mode.Incremental:
		s = fmt.Sprintf("%s rows (incremental, first sync)", rows)
	case e.Action != "":
		s = fmt.Sprintf("%s rows (%s)", rows, e.Action)
	case e.Note != "":
		s = fmt.Sprintf("%s rows (new and changed files)", rows)
	default:
		s = fmt.Sprintf("%s rows (full refresh)", rows)
	}
	if e.Note != "" {
		s += "; " + e.Note
	}
	if e.Mode.Overrides != "" {
		s += "; overriding default " + e.Mode.Show(e.Mode.Overrides)
	}
	return s
}

// approx formats an estimated duration the way the spec does: ~30s.
func approx(d time.Duration) string {
	switch {
	case d <= 0:
		return "~0s"
	case d < time.Second:
		return "<1s"
	case d < time.Minute:
		return fmt.Sprintf("~%ds", int(d.Round(time.Second).Seconds()))
	}
	return "~" + d.Round(time.Second).String()
}
