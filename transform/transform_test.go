package transform

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// project writes a dbt project (files relative to dbt/) with a dango profile and loads it.
func project(t *testing.T, files map[string]string) (*Engine, *Graph, error) {
	t.Helper()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, ".dango"), 0o755)
	os.WriteFile(filepath.Join(root, ".dango", "profiles.yml"), []byte("dango:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: data/wh.duckdb\n      threads: 2\n"), 0o644)
	if _, ok := files["dbt_project.yml"]; !ok {
		files["dbt_project.yml"] = "name: proj\nprofile: dango\n"
	}
	for name, content := range files {
		p := filepath.Join(root, "dbt", name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	p, err := Load(filepath.Join(root, "dbt"), LoadOptions{RootDir: root})
	if err != nil {
		return nil, nil, err
	}
	e, err := NewEngine(p)
	if err != nil {
		return nil, nil, err
	}
	g, err := e.Parse()
	return e, g, err
}

func TestErrorsNameTheFile(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"unknown ref", map[string]string{"models/a.sql": "select * from {{ ref('nope') }}"},
			"models/a.sql: Model a (models/a.sql) depends on a node named 'nope' which was not found"},
		{"unknown source", map[string]string{"models/a.sql": "select * from {{ source('s', 't') }}"},
			"depends on a source named 's.t' which was not found"},
		{"missing var", map[string]string{"models/a.sql": "select {{ var('year') }}"}, "Required var 'year' not found"},
		{"raise", map[string]string{"models/a.sql": "{{ exceptions.raise_compiler_error('bad input') }}"}, "models/a.sql: Compilation Error in model a: bad input"},
		{"syntax", map[string]string{"models/a.sql": "select {{ 1 + }}"}, "models/a.sql"},
		{"cycle", map[string]string{"models/a.sql": "select * from {{ ref('b') }}", "models/b.sql": "select * from {{ ref('a') }}"}, "Found a cycle: model.proj."},
		{"packages not installed", map[string]string{"packages.yml": "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.3.0\n"},
			`packages.yml: dango found 1 package(s) specified in packages.yml, but only 0 package(s) installed in dbt_packages. Run "dango deps"`},
		{"bad packages.yml", map[string]string{"packages.yml": "packages:\n  - package: dbt-labs/dbt_utils\n"}, "packages.yml:2: dbt-labs/dbt_utils is missing the version"},
		{"bad hook", map[string]string{"dbt_project.yml": "name: proj\nprofile: dango\non-run-start: [{sql: \"select 1\"}]\n"}, "dbt_project.yml: on-run-start: each hook is SQL text"},
		{"duplicate model", map[string]string{"models/x/a.sql": "select 1", "models/y/a.sql": "select 2"}, "a model named a is also defined in"},
		{"wrong adapter", map[string]string{"dbt_project.yml": "name: proj\nprofile: nope\n"}, `no profile named "nope"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := project(t, c.files)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestConfigHierarchyAndNaming(t *testing.T) {
	e, g, err := project(t, map[string]string{
		"dbt_project.yml": `name: proj
profile: dango
models:
  proj:
    +tags: [all]
    marts:
      materialized: table
      +schema: marts
      finance:
        +tags: [fin]
`,
		"models/marts/finance/rev.sql":   "{{ config(alias='revenue', tags=['daily']) }}select {{ config.get('materialized') }} as m, '{{ this }}' as t",
		"models/marts/finance/props.yml": "version: 2\nmodels:\n  - name: rev\n    config:\n      tags: [yml]\n",
		"models/base.sql":                "select 1",
	})
	if err != nil {
		t.Fatal(err)
	}
	n := g.Nodes["model.proj.rev"]
	if n.Materialized() != "table" || n.Schema != "main_marts" || n.Alias != "revenue" || n.Database != "wh" {
		t.Errorf("rev: materialized %s schema %s alias %s db %s", n.Materialized(), n.Schema, n.Alias, n.Database)
	}
	if strings.Join(n.Tags, ",") != "all,fin,yml,daily" {
		t.Errorf("tags = %v", n.Tags)
	}
	if err := e.Compile(context.Background(), g, []string{"model.proj.rev"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(n.CompiledCode, `select table as m, '"wh"."main_marts"."revenue"' as t`) {
		t.Errorf("compiled: %s", n.CompiledCode)
	}
	if b := g.Nodes["model.proj.base"]; b.Schema != "main" || b.Materialized() != "view" {
		t.Errorf("base: %s %s", b.Schema, b.Materialized())
	}
}

func TestEphemeralInlinedIntoWith(t *testing.T) {
	e, g, err := project(t, map[string]string{
		"models/eph.sql":   "{{ config(materialized='ephemeral') }}select 1 as id",
		"models/eph2.sql":  "{{ config(materialized='ephemeral') }}select * from {{ ref('eph') }}",
		"models/final.sql": "-- note\nwith x as (select * from {{ ref('eph2') }}) select * from x",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Compile(context.Background(), g, []string{"model.proj.final"}); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(strings.Fields(g.Nodes["model.proj.final"].CompiledCode), " ")
	want := "-- note with __dbt__cte__eph as ( select 1 as id ), __dbt__cte__eph2 as ( select * from __dbt__cte__eph ), x as (select * from __dbt__cte__eph2) select * from x"
	if got != want {
		t.Fatalf("compiled:\n%s\nwant\n%s", got, want)
	}
}

func TestSelectorHintAndErrors(t *testing.T) {
	_, g, err := project(t, map[string]string{
		"models/marts/finance/a.sql":   "select 1",
		"models/marts/marketing/b.sql": "select 1",
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &Selector{G: g}
	sel, err := s.Select([]string{"marts.finance.*,marts.marketing.*"}, nil, nil)
	if err != nil || len(sel.IDs) != 0 || len(sel.Warnings) != 1 || !strings.Contains(sel.Warnings[0], `separate them with a space (--select "marts.finance.* marts.marketing.*")`) {
		t.Fatalf("sel = %+v, %v", sel, err)
	}
	sel, _ = s.Select([]string{"marts.finance.* marts.marketing.*"}, nil, nil)
	if len(sel.IDs) != 2 {
		t.Errorf("union = %v", sel.IDs)
	}
	sel, _ = s.Select([]string{"nothing_here"}, nil, nil)
	if len(sel.Warnings) != 1 || strings.Contains(sel.Warnings[0], "comma") {
		t.Errorf("no-match warning = %v", sel.Warnings)
	}
	for _, bad := range []string{"state:modified", "bogus:x", "source:a.b.c.d"} {
		if _, err := s.Select([]string{bad}, nil, nil); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestLoadErrorType(t *testing.T) {
	_, _, err := project(t, map[string]string{"dbt_project.yml": "name: [\n"})
	var le *LoadError
	if !errors.As(err, &le) || le.File != "dbt_project.yml" {
		t.Fatalf("err = %v", err)
	}
}
