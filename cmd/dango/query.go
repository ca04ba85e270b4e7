package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/dangohq/dango/warehouse"
)

func newQueryCmd(g *globals) *cobra.Command {
	var format string
	var limit int
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   `query "SQL"`,
		Short: "Run read-only SQL on the warehouse and print the result",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "csv" && format != "json" {
				return usageErr(fmt.Errorf("--format must be table, csv or json, got %q", format))
			}
			p, err := g.loadProjectForReading()
			if err != nil {
				return err
			}
			r, err := warehouse.OpenReadOnly(cmd.Context(), p.Warehouse, waitOptions(wait))
			if err != nil {
				return failed(err)
			}
			defer r.Close()
			res, err := r.Query(cmd.Context(), args[0], limit)
			if err != nil {
				return failed(err)
			}
			// The warehouse's data is printed as it is (`query --format csv > file` is an
			// export): the redaction of dango's own messages does not rewrite it.
			var out io.Writer = os.Stdout
			switch format {
			case "csv":
				w := csv.NewWriter(out)
				w.Write(res.Columns)
				w.WriteAll(res.Rows)
				return w.Error()
			case "json":
				recs := make([]map[string]string, len(res.Rows))
				for i, row := range res.Rows {
					recs[i] = map[string]string{}
					for j, c := range res.Columns {
						recs[i][c] = row[j]
					}
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(recs)
			}
			printTable(out, res)
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, csv or json")
	cmd.Flags().IntVar(&limit, "limit", 1000, "print at most this many rows (0: all)")
	cmd.Flags().DurationVar(&wait, "wait", 5*time.Minute, "how long to wait while another dango process writes the warehouse")
	return cmd
}

// printTable draws a boxed table like the duckdb CLI does.
func printTable(out io.Writer, res *warehouse.QueryResult) {
	w := make([]int, len(res.Columns))
	for i, c := range res.Columns {
		w[i] = utf8.RuneCountInString(c)
	}
	for _, r := range res.Rows {
		for i, c := range r {
			if n := utf8.RuneCountInString(c); n > w[i] {
				w[i] = n
			}
		}
	}
	line := func(l, m, r string) {
		parts := make([]string, len(w))
		for i, n := range w {
			parts[i] = strings.Repeat("─", n+2)
		}
		fmt.Fprintln(out, l+strings.Join(parts, m)+r)
	}
	row := func(cells []string) {
		parts := make([]string, len(cells))
		for i, c := range cells {
			parts[i] = " " + c + strings.Repeat(" ", w[i]-utf8.RuneCountInString(c)) + " "
		}
		fmt.Fprintln(out, "│"+strings.Join(parts, "│")+"│")
	}
	line("┌", "┬", "┐")
	row(res.Columns)
	line("├", "┼", "┤")
	for _, r := range res.Rows {
		row(r)
	}
	line("└", "┴", "┘")
	noun := "rows"
	if len(res.Rows) == 1 {
		noun = "row"
	}
	fmt.Fprintf(out, "%d %s\n", len(res.Rows), noun)
}
