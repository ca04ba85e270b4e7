package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dangohq/dango/connectors"
	"github.com/dangohq/dango/dispatcher"
	"github.com/dangohq/dango/node"
)

func newSyncCmd(g *globals) *cobra.Command {
	var sources []string
	var workers int
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Load enabled sources into the warehouse",
		Long: `Load every enabled source of .dango/sources.yml (or those named with --source) into the
DuckDB warehouse. Each source's load is one transaction: it lands whole or not at all.
One failing source does not stop the others; the exit code is 1 when any failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if workers < 1 {
				return usageErr(fmt.Errorf("--workers must be at least 1, got %d", workers))
			}
			p, err := g.loadProject()
			if err != nil {
				return err
			}
			selected, err := dispatcher.SelectSources(p, splitList(sources))
			if err != nil {
				return usageErr(err)
			}
			ctx := cmd.Context()
			started := time.Now()
			n, err := node.StartEmbedded(ctx, p, node.Options{Workers: workers, Registry: connectors.Default, Log: g.log})
			if err != nil {
				return failed(err)
			}
			names := make([]string, len(selected))
			for i, s := range selected {
				names[i] = s.Name
			}
			view := newSyncView(cmd.OutOrStdout(), names, isTerminal(os.Stdout), colorEnabled(os.Stdout))
			view.begin()
			run, err := n.Dispatcher.Sync(ctx, selected)
			if err != nil {
				n.Close()
				return failed(err)
			}
			for e := range run.Events {
				view.handle(e)
			}
			view.stop()
			closeErr := n.Close()
			if ctx.Err() != nil {
				view.interrupted()
				return silentExit(exitInterrupted)
			}
			ok := view.summary(time.Since(started))
			if closeErr != nil {
				return failed(closeErr)
			}
			if !ok {
				return silentExit(exitFailed)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&sources, "source", "s", nil, "sync only this source (repeat, or separate names with commas)")
	cmd.Flags().IntVarP(&workers, "workers", "w", 4, "sources synced in parallel")
	return cmd
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
