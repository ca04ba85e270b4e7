package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
	"github.com/dangohq/dango/humanize"
	"github.com/dangohq/dango/warehouse"
)

func newSourceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "source", Short: "Inspect sources"}
	wait := 5 * time.Minute
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List sources with their last sync",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := g.loadProjectForReading()
			if err != nil {
				return err
			}
			if len(p.Sources) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "No sources yet: add one to %s.\n", config.SourcesFile)
				return nil
			}
			r, err := warehouse.OpenReadOnly(cmd.Context(), p.Warehouse, waitOptions(wait))
			if err != nil && !errors.Is(err, warehouse.ErrNoWarehouse) {
				return failed(err)
			}
			if r != nil {
				defer r.Close()
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tTYPE\tENABLED\tSCHEMA\tLAST SYNC\tROWS")
			for _, s := range p.Sources {
				last, rows := "never", "-"
				if r != nil {
					sum, err := r.Summary(cmd.Context(), s.Schema)
					if err != nil {
						return failed(fmt.Errorf("read load history of %s: %w", s.Name, err))
					}
					if !sum.LastLoad.IsZero() {
						last = sum.LastLoad.Local().Format("2006-01-02 15:04:05")
						rows = humanize.Thousands(sum.LastRows)
					}
				}
				enabled := "yes"
				if !s.Enabled {
					enabled = "no"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Type, enabled, s.Schema, last, rows)
			}
			return tw.Flush()
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "types",
		Short: "Print every source type and its keys (the sources.yml reference)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, "### Keys of every source\n\n| key | kind | default | description |\n|---|---|---|---|")
			common := config.Spec{Fields: config.CommonSourceFields()}
			md := common.Markdown()
			fmt.Fprint(out, md[strings.Index(md, "|---|---|---|---|\n")+len("|---|---|---|---|\n"):])
			fmt.Fprintln(out)
			for _, t := range connectors.Default.Types() {
				spec, _ := connectors.Default.Spec(t)
				fmt.Fprintln(out, spec.Markdown())
			}
			return nil
		},
	})
	return cmd
}
