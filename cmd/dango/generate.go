package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/staging"
	"github.com/dangohq/dango/warehouse"
)

func newGenerateCmd(g *globals) *cobra.Command {
	var sources []string
	var strategy string
	var force, yes bool
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Write dbt staging models for the raw tables",
		Long: `Introspect the raw layer and write, for every raw table, a staging model
(dbt/models/staging/stg_<source>_<table>.sql) that deduplicates it, plus dbt sources and
schema YAML per source. Files dango generated and nobody edited are brought up to date;
edited files are kept unless --force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch strategy {
			case "", staging.LatestOnly, staging.SCDType2, staging.None:
			default:
				return usageErr(fmt.Errorf("--dedup-strategy must be latest_only, scd_type2 or none, got %q", strategy))
			}
			p, err := g.loadProject()
			if err != nil {
				return err
			}
			only := splitList(sources)
			for _, n := range only {
				if _, ok := p.Source(n); !ok {
					return usageErr(fmt.Errorf("unknown source %q (known sources: %s)", n, sourceNames(p)))
				}
			}
			if force && !yes && !(isTerminal(os.Stdin) && isTerminal(os.Stdout)) {
				return usageErr(errors.New("--force overwrites edited models and needs confirmation: run it in a terminal, or pass --yes"))
			}
			r, err := warehouse.OpenReadOnly(cmd.Context(), p.Warehouse, waitOptions(wait))
			if err != nil {
				return failed(err)
			}
			defer r.Close()
			gen := generator{out: cmd.OutOrStdout(), in: cmd.InOrStdin(), p: p, pal: palette{on: colorEnabled(os.Stdout)}}
			_, err = gen.run(cmd.Context(), r.DB(), only, staging.Options{Override: strategy}, force, !yes)
			return err
		},
	}
	cmd.Flags().StringArrayVarP(&sources, "source", "s", nil, "only this source (repeat, or comma-separated)")
	cmd.Flags().StringVar(&strategy, "dedup-strategy", "", "latest_only, scd_type2 or none, for every model (default: each source's dedup_strategy, else latest_only)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite models even where they were edited")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation (--force)")
	cmd.Flags().DurationVar(&wait, "wait", 5*time.Minute, "how long to wait while another dango process writes the warehouse")
	return cmd
}

type generator struct {
	out   io.Writer
	in    io.Reader
	p     *config.Project
	pal   palette
	quiet bool // after a sync: no header, just what changed
}

// run introspects, renders, asks (force), writes and reports. It returns the models written.
func (g generator) run(ctx context.Context, db *sql.DB, only []string, o staging.Options, force, ask bool) (int, error) {
	out := g.out
	one := len(only) == 1
	if !g.quiet {
		if one {
			src, _ := g.p.Source(only[0])
			fmt.Fprintf(out, "Generating staging models for %s...\n", only[0])
			fmt.Fprintf(out, "Introspecting %s.* tables...\n\n", src.Schema)
		} else {
			fmt.Fprintln(out, "Generating staging models...")
			fmt.Fprintln(out, "Introspecting raw layer...")
			fmt.Fprintln(out)
		}
	}
	reserved, err := staging.ReservedWords(ctx, db)
	if err != nil {
		return 0, failed(err)
	}
	o.Reserved = reserved
	sources, err := staging.Introspect(ctx, db, g.p, only)
	if err != nil {
		return 0, failed(err)
	}
	if len(sources) == 0 {
		return 0, failed(errors.New("no raw tables found: run `dango sync` first"))
	}
	if !one && !g.quiet {
		fmt.Fprintln(out, "Found sources:")
		for _, s := range sources {
			names := make([]string, len(s.Tables))
			for i, t := range s.Tables {
				names[i] = t.Name
			}
			noun := "tables"
			if len(names) == 1 {
				noun = "table"
			}
			fmt.Fprintf(out, "  - %s (%d %s: %s)\n", s.Name, len(names), noun, strings.Join(names, ", "))
		}
		fmt.Fprintln(out)
	}
	outcomes, err := staging.Plan(staging.Render(sources, o), g.p.DBTDir, force)
	if err != nil {
		return 0, failed(err)
	}
	if force {
		var over []string
		for _, oc := range outcomes {
			if oc.Action == staging.Overwritten {
				over = append(over, g.rel(oc.Path))
			}
		}
		if len(over) > 0 {
			fmt.Fprintln(out, g.pal.yellow("⚠ Force mode enabled"))
			fmt.Fprintln(out, "This will OVERWRITE existing staging models:")
			for _, f := range over {
				fmt.Fprintf(out, "  - %s\n", f)
			}
			fmt.Fprintln(out)
			fmt.Fprintln(out, "Manual edits to these files will be lost!")
			fmt.Fprintln(out)
			if ask && !prompt(g.in, out, "Proceed? (y/N): ") {
				fmt.Fprintln(out, "Aborted: nothing was written.")
				return 0, silentExit(exitFailed)
			}
			if ask {
				fmt.Fprintln(out)
			}
		}
	}
	if !one && !g.quiet {
		fmt.Fprintln(out, "Generating models...")
		fmt.Fprintln(out)
	}
	if err := staging.Write(outcomes); err != nil {
		return 0, failed(err)
	}
	models, kept := 0, 0
	lastKind := ""
	for _, oc := range outcomes {
		if g.quiet && !oc.Writes() && oc.Action != staging.KeptEdited {
			continue
		}
		if !one && !g.quiet && lastKind != "" && oc.Kind != lastKind {
			fmt.Fprintln(out)
		}
		lastKind = oc.Kind
		detail := ""
		if oc.Kind == "model" && !one {
			detail = fmt.Sprintf(" (%d columns, %s)", oc.Columns, oc.Strategy)
		}
		switch {
		case oc.Writes():
			if oc.Kind == "model" {
				models++
			}
			verb := "Generated"
			if oc.Action == staging.Updated {
				verb = "Updated"
			}
			fmt.Fprintf(out, "%s %s%s\n", g.pal.green("✓ "+verb), oc.Name, detail)
		case oc.Action == staging.Unchanged:
			fmt.Fprintf(out, "%s %s is up to date\n", g.pal.green("✓"), oc.Name)
		default:
			kept++
			fmt.Fprintf(out, "%s %s (%s; --force regenerates it)\n", g.pal.yellow("⚠ Kept"), oc.Name, oc.Action)
		}
		if oc.Note != "" {
			fmt.Fprintf(out, "  %s\n", oc.Note)
		}
	}
	if g.quiet {
		return models, nil
	}
	fmt.Fprintln(out)
	noun := "models"
	if models == 1 {
		noun = "model"
	}
	if one {
		fmt.Fprintf(out, "%d %s created.\n", models, noun)
	} else {
		fmt.Fprintf(out, "%d %s created in %s/\n", models, noun, g.rel(filepath.Join(g.p.DBTDir, staging.Dir)))
	}
	switch {
	case kept == 1:
		fmt.Fprintln(out, "1 edited file kept as it is.")
	case kept > 1:
		fmt.Fprintf(out, "%d edited files kept as they are.\n", kept)
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Next step:")
	fmt.Fprintln(out, "  dango run  # Materialize staging models")
	return models, nil
}

func (g generator) rel(p string) string {
	if r, err := filepath.Rel(g.p.Root, p); err == nil {
		return filepath.ToSlash(r)
	}
	return p
}

func sourceNames(p *config.Project) string {
	names := make([]string, len(p.Sources))
	for i, s := range p.Sources {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}
