package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/transform"
	"github.com/dangohq/dango/warehouse"
)

// selectFlags are the node-selection flags dbt commands share.
type selectFlags struct {
	selects, excludes, resourceTypes []string
	vars, target                     string
	places                           dbtPlaces
}

func (f *selectFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&f.selects, "select", "s", nil, "nodes to include (dbt's selector grammar; repeat for a union)")
	cmd.Flags().StringArrayVar(&f.excludes, "exclude", nil, "nodes to leave out")
	cmd.Flags().StringArrayVar(&f.resourceTypes, "resource-type", nil, "only these resource types: model, seed, test, source, snapshot, analysis, unit_test, exposure, semantic_model, metric, saved_query, all, default (repeatable)")
	cmd.Flags().StringVar(&f.vars, "vars", "", `variables as YAML or JSON: '{"year": 2024}'`)
	cmd.Flags().StringVarP(&f.target, "target", "t", "", "profile target (default: env DBT_TARGET, else the profile's)")
	f.places.add(cmd)
}

// loaded is a parsed dbt project with its graph and selection.
type loaded struct {
	p *config.Project
	*transform.Selected
}

func loadDBT(g *globals, f selectFlags) (*loaded, error) {
	h, err := g.resolveDBT(f)
	if err != nil {
		return nil, err
	}
	return loadDBTFor(h, f)
}

// loadDBTFor parses the dbt project of a dango project or a plain dbt project; for a plain one
// the warehouse is the profile's duckdb file.
func loadDBTFor(h *dbtHost, f selectFlags) (*loaded, error) {
	vars := map[string]any{}
	if f.vars != "" {
		if err := yaml.Unmarshal([]byte(f.vars), &vars); err != nil {
			return nil, usageErr(fmt.Errorf("--vars: not a YAML or JSON mapping: %v", err))
		}
	}
	o := h.Opts
	o.Vars = vars
	sel, err := transform.Open(h.P.DBTDir, o, f.selects, f.excludes, f.resourceTypes)
	if err != nil {
		return nil, usageErr(err)
	}
	for _, w := range sel.Sel.Warnings {
		fmt.Fprintln(os.Stderr, "Warning:", w)
	}
	if h.Plain {
		h.P.Warehouse = sel.E.P.Target.Path
	}
	return &loaded{p: h.P, Selected: sel}, nil
}

func newLsCmd(g *globals) *cobra.Command {
	var f selectFlags
	var output string
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the dbt project's nodes that a selection picks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch output {
			case "selector", "name", "path", "json":
			default:
				return usageErr(fmt.Errorf("--output must be selector, name, path or json, got %q", output))
			}
			l, err := loadDBT(g, f)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, id := range l.Sel.IDs {
				n := l.G.Nodes[id]
				if output != "json" {
					fmt.Fprintln(out, n.LsLine(output))
					continue
				}
				deps := n.DependsOn
				if deps == nil {
					deps = []string{}
				}
				b, _ := json.Marshal(map[string]any{"name": n.Name, "resource_type": n.ResourceType, "package_name": n.PackageName,
					"original_file_path": n.OriginalFilePath, "unique_id": n.UniqueID, "alias": n.Alias, "config": n.Config,
					"tags": n.Tags, "depends_on": map[string]any{"nodes": deps, "macros": []string{}}})
				fmt.Fprintln(out, string(b))
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "selector", "selector, name, path or json")
	return cmd
}

func newCompileCmd(g *globals) *cobra.Command {
	var f selectFlags
	var fullRefresh bool
	cmd := &cobra.Command{
		Use:   "compile",
		Short: "Render the dbt project's SQL to dbt/target/compiled and write dbt/target/manifest.json",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start := time.Now()
			if len(f.resourceTypes) == 0 { // dbt compile compiles analyses too
				f.resourceTypes = []string{"all"}
			}
			l, err := loadDBT(g, f)
			if err != nil {
				return err
			}
			l.E.FullRefresh = fullRefresh
			l.E.Command, l.E.Log = "compile", cmd.OutOrStdout()
			// is_incremental() needs to know which relations exist.
			r, err := warehouse.OpenReadOnly(cmd.Context(), l.p.Warehouse, waitOptions(time.Minute))
			switch {
			case err == nil:
				defer r.Close()
				exists, err := r.Relations(cmd.Context())
				if err != nil {
					return failed(err)
				}
				l.E.Exists = func(rel transform.Relation) bool { return exists[rel.Schema+"."+rel.Identifier] }
				l.E.DB = r.DB() // dbt compile runs introspective queries (execute is true)
			case !errors.Is(err, warehouse.ErrNoWarehouse):
				return failed(err)
			}
			if err := l.E.Compile(cmd.Context(), l.G, l.Sel.IDs); err != nil {
				return failed(err)
			}
			if err := l.E.CompileHooks(cmd.Context()); err != nil {
				return failed(err)
			}
			if err := l.E.Manifest(l.G); err != nil {
				return failed(err)
			}
			n := 0
			for _, id := range l.Sel.IDs {
				if t := l.G.Nodes[id].ResourceType; t == "model" || t == "test" {
					n++
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Compiled %d nodes to %s/compiled/%s/ in %.2fs\n", n,
				strings.TrimPrefix(l.E.P.Dir+"/"+l.E.P.TargetPath, l.p.Root+"/"), l.E.P.Name, time.Since(start).Seconds())
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&fullRefresh, "full-refresh", false, "compile incremental models as for a full refresh")
	return cmd
}

func newRunOperationCmd(g *globals) *cobra.Command {
	var f selectFlags
	var args string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "run-operation MACRO",
		Short: "Call a dbt macro against the warehouse (dbt run-operation), e.g. to grant or vacuum",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, pos []string) error {
			kw := map[string]any{}
			if args != "" {
				if err := yaml.Unmarshal([]byte(args), &kw); err != nil {
					return usageErr(fmt.Errorf("--args: not a YAML or JSON mapping: %v", err))
				}
			}
			l, err := loadDBT(g, f)
			if err != nil {
				return err
			}
			if l.p.Warehouse == ":memory:" {
				return usageErr(fmt.Errorf("profile %s target %s is an in-memory DuckDB: set path: in profiles.yml", l.E.P.Target.ProfileName, l.E.P.Target.Name))
			}
			w, err := warehouse.Open(cmd.Context(), l.p.Warehouse, waitOptions(wait))
			if err != nil {
				return failed(err)
			}
			defer w.Close()
			out := cmd.OutOrStdout()
			l.E.Command, l.E.Log = "run-operation", out
			if err := l.E.RunOperation(cmd.Context(), w.DB(), pos[0], kw); err != nil {
				if cmd.Context().Err() != nil {
					return silentExit(exitInterrupted)
				}
				return failed(fmt.Errorf("Encountered an error while running operation: %w", err))
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&args, "args", "", `the macro's keyword arguments as YAML or JSON: '{"role": "reporter"}'`)
	cmd.Flags().DurationVar(&wait, "wait", 5*time.Minute, "how long to wait while another dango process writes the warehouse")
	return cmd
}
