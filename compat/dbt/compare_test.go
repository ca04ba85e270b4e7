package dbtcompat

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

const tableHead = "# x\n\n| project | what | dbt | dango | why |\n|---|---|---|---|---|\n"

func TestParseDifferences(t *testing.T) {
	projects := map[string]bool{"dbt_utils": true}
	for _, c := range []struct {
		name, rows, err string
		n               int
	}{
		{"empty table", "", "", 0},
		{"rows", "| dbt_utils | `status test.dbt_utils_integration_tests.*` | error | fail | x |\n| * | `type *.*.id` | a | b | y |\n| - | free text | a | b | z |\n", "", 3},
		{"unknown project", "| dbt_util | `status x` | a | b | y |\n", `project "dbt_util" is not a package`, 0},
		{"unknown kind", "| * | `colour x` | a | b | y |\n", "is not of the form", 0},
		{"no subject", "| * | `status` | a | b | y |\n", "is not of the form", 0},
		{"no why", "| * | `status x` | a | b | |\n", "why cell is empty", 0},
		{"four cells", "| * | `status x` | a | b |\n", "needs 5 cells", 0},
		{"bad pattern", "| * | `status [x` | a | b | y |\n", "bad pattern", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "d.md")
			writeFile(t, f, tableHead+c.rows+"\nafter the table | not a row\n")
			got, err := ParseDifferences(f, projects)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil || len(got) != c.n {
				t.Fatalf("got %d rows, %v; want %d", len(got), err, c.n)
			}
		})
	}
	f := filepath.Join(t.TempDir(), "d.md")
	writeFile(t, f, "# no table\n")
	if _, err := ParseDifferences(f, projects); err == nil || !strings.Contains(err.Error(), "no table with the header") {
		t.Fatalf("a file without the table: %v", err)
	}
}

func TestAllowanceMatches(t *testing.T) {
	a := Allowance{Project: "dbt_utils", kind: KindStatus, pattern: "test.dbt_utils_integration_tests.*"}
	star := Allowance{Project: "*", kind: KindType, pattern: "main.*.id"}
	off := Allowance{Project: "-", kind: KindType, pattern: "*"}
	for _, c := range []struct {
		a    Allowance
		p    string
		key  string
		want bool
	}{
		{a, "dbt_utils", "status test.dbt_utils_integration_tests.t1", true},
		{a, "dbt_date", "status test.dbt_utils_integration_tests.t1", false},
		{a, "dbt_utils", "sql test.dbt_utils_integration_tests.t1", false},
		{a, "dbt_utils", "status model.dbt_utils_integration_tests.m", false},
		{star, "dbt_date", "type main.t.id", true},
		{star, "dbt_date", "type main.t.name", false},
		{off, "dbt_date", "type main.t.id", false},
	} {
		if got := c.a.Matches(c.p, c.key); got != c.want {
			t.Errorf("%+v Matches(%q, %q) = %v, want %v", c.a, c.p, c.key, got, c.want)
		}
	}
}

func side(tool string) *Result {
	r := &Result{Tool: tool, Nodes: map[string]string{}, Statuses: map[string]string{}, Compiled: map[string]string{}, CompiledByID: map[string]string{},
		WH: &Warehouse{Relations: map[string]*Relation{}}}
	for _, s := range Steps {
		r.Steps = append(r.Steps, StepResult{Name: s.Name})
	}
	return r
}

func keys(ds []Difference) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Key)
	}
	return out
}

func TestCompare(t *testing.T) {
	rel := func(kind string, rows []string, cols ...string) *Relation {
		r := &Relation{Kind: kind, Rows: rows}
		for i := 0; i+1 < len(cols); i += 2 {
			r.Columns = append(r.Columns, Column{cols[i], cols[i+1]})
		}
		return r
	}
	for _, c := range []struct {
		name string
		edit func(ref, got *Result)
		want []string
	}{
		{"same", func(ref, got *Result) {
			for _, r := range []*Result{ref, got} {
				r.Nodes["model.p.a"] = "model"
				r.Statuses["model.p.a"] = "success"
				r.Compiled["p/models/a.sql"] = "select 1"
				r.WH.Relations["main.a"] = rel("BASE TABLE", []string{"1"}, "x", "INTEGER")
			}
		}, nil},
		{"step exit", func(ref, got *Result) { got.Steps[1].Code = 2 }, []string{"step build"}},
		{"nodes", func(ref, got *Result) { ref.Nodes["model.p.a"] = "model"; got.Nodes["model.p.b"] = "model" },
			[]string{"node-extra model.p.b", "node-missing model.p.a"}},
		{"status", func(ref, got *Result) {
			ref.Statuses["test.p.t"], got.Statuses["test.p.t"] = "fail", "pass"
			ref.Statuses["model.p.a"] = "error"
		}, []string{"status model.p.a", "status test.p.t"}},
		{"sql", func(ref, got *Result) {
			ref.Compiled["a.sql"], got.Compiled["a.sql"] = "select 1", "select 2" // file contents: not compared
			ref.Compiled["b.sql"], got.Compiled["c.sql"] = "x", "y"
			ref.CompiledByID["model.p.a"], got.CompiledByID["model.p.a"] = "select 1", "select 2"
			ref.CompiledByID["model.p.b"], got.CompiledByID["model.p.b"] = "select 1", "select 1"
			ref.CompiledByID["test.p.t"] = "select 3"
		}, []string{"sql model.p.a", "sql test.p.t", "sql-extra c.sql", "sql-missing b.sql"}},
		{"relations", func(ref, got *Result) {
			ref.WH.Relations["main.a"] = rel("BASE TABLE", nil)
			got.WH.Relations["main.b"] = rel("VIEW", nil)
			ref.WH.Relations["main.c"], got.WH.Relations["main.c"] = rel("BASE TABLE", nil), rel("VIEW", nil)
		}, []string{"relation-type main.c", "table-extra main.b", "table-missing main.a"}},
		{"columns", func(ref, got *Result) {
			ref.WH.Relations["main.a"] = rel("BASE TABLE", nil, "x", "INTEGER", "y", "VARCHAR")
			got.WH.Relations["main.a"] = rel("BASE TABLE", nil, "x", "BIGINT", "z", "VARCHAR")
		}, []string{"column-extra main.a.z", "column-missing main.a.y", "type main.a.x"}},
		{"column order and a column's values", func(ref, got *Result) {
			ref.WH.Relations["main.a"] = rel("BASE TABLE", []string{"1\x1fa", "2\x1fb"}, "x", "INTEGER", "y", "VARCHAR")
			got.WH.Relations["main.a"] = rel("BASE TABLE", []string{"1\x1fa", "2\x1fc"}, "y", "VARCHAR", "x", "INTEGER")
		}, []string{"column-order main.a", "value main.a.y"}},
		{"values that pair up otherwise", func(ref, got *Result) {
			ref.WH.Relations["main.a"] = rel("BASE TABLE", []string{"1\x1fa", "2\x1fb"}, "x", "INTEGER", "y", "VARCHAR")
			got.WH.Relations["main.a"] = rel("BASE TABLE", []string{"1\x1fb", "2\x1fa"}, "x", "INTEGER", "y", "VARCHAR")
		}, []string{"rows main.a"}},
		{"one side's rows unreadable", func(ref, got *Result) {
			ref.WH.Relations["main.v"] = rel("VIEW", []string{"1"}, "x", "INTEGER")
			got.WH.Relations["main.v"] = rel("VIEW", nil, "x", "INTEGER")
			got.WH.Relations["main.v"].RowsErr = "Catalog Error"
		}, []string{"rows main.v"}},
		{"a duplicated row is a difference", func(ref, got *Result) {
			ref.WH.Relations["main.a"] = rel("BASE TABLE", []string{"1"}, "x", "INTEGER")
			got.WH.Relations["main.a"] = rel("BASE TABLE", []string{"1", "1"}, "x", "INTEGER")
		}, []string{"rows main.a"}},
		{"the same rows in another order are the same", func(ref, got *Result) {
			ref.WH.Relations["main.a"] = rel("BASE TABLE", []string{"1", "2"}, "x", "INTEGER")
			got.WH.Relations["main.a"] = rel("BASE TABLE", []string{"1", "2"}, "x", "INTEGER")
		}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			ref, got := side("dbt"), side("dango")
			c.edit(ref, got)
			if k := keys(Compare(ref, got)); !reflect.DeepEqual(k, c.want) {
				t.Fatalf("differences %q, want %q", k, c.want)
			}
		})
	}
}

func TestJudgeAndSummary(t *testing.T) {
	ds := []Difference{{Key: "status test.p.a", DBT: "fail", Dango: "pass"}, {Key: "status test.p.b"}, {Key: "sql x.sql"}}
	allow := []Allowance{{Line: 7, Project: "p", kind: KindStatus, pattern: "test.p.a"}, {Line: 9, Project: "p", kind: KindSQL, pattern: "nothing"}}
	j := Judge("p", ds, allow)
	if len(j.Allowed) != 1 || len(j.Unexpected) != 2 || !j.Used[7] || j.Used[9] {
		t.Fatalf("judged %+v", j)
	}
	s := Summary(ds, 1)
	for _, want := range []string{"status: 2", "test.p.a", "dbt:   fail", "… 1 more", "sql: 1"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
}

func TestNormalizeAndParse(t *testing.T) {
	if got := NormalizeSQL("\n  select\t1,\n\n   2  \n"); got != "select 1, 2" {
		t.Errorf("NormalizeSQL = %q", got)
	}
	ls := "\x1b[0m10:24:38  Running with dbt=1.9.11\n{\"name\": \"a\", \"resource_type\": \"model\", \"unique_id\": \"model.p.a\"}\n" +
		"10:24:39  {\"resource_type\": \"seed\", \"unique_id\": \"seed.p.s\"}\nnot json {\n"
	if got := parseLs(ls); !reflect.DeepEqual(got, map[string]string{"model.p.a": "model", "seed.p.s": "seed"}) {
		t.Errorf("parseLs = %v", got)
	}
	out := "10:00:00  Running\n\x1b[31m10:00:01  Compilation Error in model a (models/a.sql)\x1b[0m\n" +
		"10:00:02  Done. PASS=1 WARN=0 ERROR=1 SKIP=0 TOTAL=2\nError: unknown command \"deps\"\nError: unknown command \"deps\"\n"
	want := []string{"Compilation Error in model a (models/a.sql)", `Error: unknown command "deps"`}
	if got := errorLines(out, 3); !reflect.DeepEqual(got, want) {
		t.Errorf("errorLines = %q, want %q", got, want)
	}
}

func TestPrepareRewritesHubDeps(t *testing.T) {
	corpus := t.TempDir()
	writeFile(t, filepath.Join(corpus, "a", "dbt_project.yml"), "name: a\n")
	writeFile(t, filepath.Join(corpus, "a", "packages.yml"), "packages:\n  - package: org/b\n    version: [\">=0.1.0\"]\n  - package: org/other\n    version: 1.0.0\n")
	writeFile(t, filepath.Join(corpus, "a", "integration_tests", "packages.yml"), "packages:\n  - local: ../\n")
	writeFile(t, filepath.Join(corpus, "b", "dbt_project.yml"), "name: b\n")
	root := filepath.Join(t.TempDir(), "side")
	l, err := Prepare(corpus, root, Case{Pkg: "a", LocalDeps: map[string]string{"org/b": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(root, "a", "packages.yml"))
	if !strings.Contains(string(data), "local: "+filepath.Join(root, "b")) || !strings.Contains(string(data), "package: org/other") || strings.Contains(string(data), "org/b") {
		t.Errorf("rewritten packages.yml:\n%s", data)
	}
	data, _ = os.ReadFile(filepath.Join(root, "a", "integration_tests", "packages.yml"))
	if string(data) != "packages:\n  - local: ../\n" {
		t.Errorf("integration_tests/packages.yml changed:\n%s", data)
	}
	prof, _ := os.ReadFile(filepath.Join(l.ProfileDir, "profiles.yml"))
	if !strings.Contains(string(prof), "path: "+l.Warehouse) || !strings.Contains(string(prof), "type: duckdb") {
		t.Errorf("profiles.yml:\n%s", prof)
	}
	if _, err := os.Stat(filepath.Join(root, "b", "dbt_project.yml")); err != nil {
		t.Errorf("dependency not copied: %v", err)
	}
	if _, err := Prepare(corpus, filepath.Join(t.TempDir(), "x"), Case{Pkg: "a", LocalDeps: map[string]string{"org/c": "b"}}); err == nil || !strings.Contains(err.Error(), "no `package: org/c` entry") {
		t.Errorf("a rewrite that finds nothing: %v", err)
	}
}

func TestReadWarehouse(t *testing.T) {
	file := filepath.Join(t.TempDir(), "warehouse.duckdb")
	db, err := sql.Open("duckdb", file)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE SCHEMA s`,
		`CREATE TABLE s."we""ird" (id INTEGER, name VARCHAR, ts TIMESTAMP)`,
		`INSERT INTO s."we""ird" VALUES (2, 'b', NULL), (1, 'a', TIMESTAMP '2024-01-02 03:04:05')`,
		`CREATE TABLE main.gone (x INTEGER)`,
		`CREATE VIEW main.v AS SELECT x + 1 AS y FROM main.gone`,
		`CREATE VIEW main.broken AS SELECT * FROM main.gone`,
		`DROP TABLE main.gone`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	w, err := ReadWarehouse(context.Background(), file)
	if err != nil {
		t.Fatal(err)
	}
	r := w.Relations[`s.we"ird`]
	if r == nil || r.Kind != "BASE TABLE" {
		t.Fatalf("relations %v", w.Relations)
	}
	if want := []Column{{"id", "INTEGER"}, {"name", "VARCHAR"}, {"ts", "TIMESTAMP"}}; !reflect.DeepEqual(r.Columns, want) {
		t.Errorf("columns %v, want %v", r.Columns, want)
	}
	// values in column-name order (id, name, ts), rows sorted
	if want := []string{"1\x1fa\x1f2024-01-02 03:04:05", "2\x1fb\x1f∅"}; !reflect.DeepEqual(r.Rows, want) {
		t.Errorf("rows %q, want %q", r.Rows, want)
	}
	if v := w.Relations["main.broken"]; v == nil || v.Kind != "VIEW" || v.RowsErr == "" {
		t.Errorf("a view over a dropped table: %+v", v)
	}
	if _, err := ReadWarehouse(context.Background(), filepath.Join(t.TempDir(), "none.duckdb")); err == nil {
		t.Error("a missing file reads")
	}
}
