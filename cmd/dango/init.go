package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/dangohq/dango/scaffold"
)

func newInitCmd(g *globals) *cobra.Command {
	var o scaffold.Options
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Create a new dango project (settings, secrets files, a dbt project)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Dir = "."
			if len(args) == 1 {
				o.Dir = args[0]
			}
			res, err := scaffold.Create(o)
			if errors.Is(err, scaffold.ErrExists) {
				return usageErr(err)
			}
			if err != nil {
				return failed(err)
			}
			abs, _ := filepath.Abs(o.Dir)
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "✓ Created dango project in %s (%d files)\n", abs, len(res.Written))
			for _, b := range res.BackedUp {
				fmt.Fprintf(out, "  kept your previous version as %s\n", b)
			}
			fmt.Fprintln(out)
			fmt.Fprintln(out, "Next steps:")
			if o.Dir != "." {
				fmt.Fprintf(out, "  cd %s\n", o.Dir)
			}
			if o.Example {
				fmt.Fprintln(out, "  dango sync          # load the sample data")
			} else {
				fmt.Fprintln(out, "  edit .dango/sources.yml   # add your sources")
				fmt.Fprintln(out, "  dango sync")
			}
			fmt.Fprintln(out, `  dango query "SELECT * FROM raw_sales_data.sales_data LIMIT 5"`)
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.Force, "force", false, "overwrite an existing project's settings files")
	cmd.Flags().BoolVar(&o.Example, "example", false, "add bundled sample data and sources (the demo)")
	return cmd
}
