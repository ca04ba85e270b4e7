package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// Differential tests: dango's engine against real dbt-core on the projects in testdata/dbt.

// dbtProject makes a dango project whose dbt/ folder is a copy of testdata/dbt/<name>.
func dbtProject(t *testing.T, name string) string {
	t.Helper()
	dir := newProject(t, "")
	os.RemoveAll(filepath.Join(dir, "dbt"))
	src, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "dbt", name))
	if out, err := exec.Command("cp", "-r", src, filepath.Join(dir, "dbt")).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v %s", name, err, out)
	}
	return dir
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

func dbtOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(dbtPath(t), append(args, "--profiles-dir", ".dango", "--project-dir", "dbt", "-q")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DANGO_FIXTURE_ENV=ci")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dbt %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestLsMatchesDBT(t *testing.T) {
	cases := map[string][]string{
		"jaffle": {"", "orders", "+orders", "orders+", "+customers", "stg_orders+", "@stg_payments", "tag:daily", "tag:customer",
			"marts.*", "staging", "path:models/staging", "config.materialized:table", "resource_type:model", "1+customers", "customers+1",
			"tag:daily,tag:finance", "stg_orders stg_payments", "raw_orders+", "file:orders.sql"},
		"graph": {"", "customer_metrics", "+customer_metrics", "customer_metrics+", "+customer_metrics+", "marts.*", "marts.finance.*",
			"marts.finance.*,marts.marketing.*", "tag:daily", "tag:finance,tag:daily", "source:shop+", "source:shop.customers+",
			"config.materialized:ephemeral", "config.schema:mkt", "intermediate", "@int_orders_by_customer", "2+revenue_dashboard",
			"graph_fixture.marts.marketing.*", "path:models/marts/finance", "tag:sh*", "tag:metrics", "resource_type:test",
			"stg_shop_customers", "source:shop.customers"},
		"resources": {"", "customer_totals+", "+revenue_by_day", "resource_type:unit_test"},
	}
	excludes := map[string][][2]string{
		"graph": {{"", "tag:slow"}, {"marts.*", "marts.finance.*"}, {"+revenue_dashboard", "segments"}},
	}
	for proj, sels := range cases {
		t.Run(proj, func(t *testing.T) {
			dir := dbtProject(t, proj)
			check := func(sel, exc string) {
				args := []string{"ls"} // every resource type, dbt's default selector output
				if sel != "" {
					args = append(args, "--select", sel)
				}
				if exc != "" {
					args = append(args, "--exclude", exc)
				}
				want := lines(dbtOut(t, dir, args...))
				r := dango(t, dir, args...)
				if r.code != 0 {
					t.Fatalf("dango %v: %+v", args, r)
				}
				got := lines(r.stdout)
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("select %q exclude %q:\n dango %v\n dbt   %v", sel, exc, got, want)
				}
			}
			for _, sel := range sels {
				check(sel, "")
			}
			for _, e := range excludes[proj] {
				check(e[0], e[1])
			}
			if proj != "resources" {
				return
			}
			for _, types := range [][]string{{"all"}, {"snapshot", "exposure", "saved_query"}, {"unit_test", "model"}} {
				var args []string
				for _, rt := range types {
					args = append(args, "--resource-type", rt)
				}
				want := lines(dbtOut(t, dir, append([]string{"ls"}, args...)...))
				r := dango(t, dir, append([]string{"ls"}, args...)...)
				if got := lines(r.stdout); r.code != 0 || strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("ls %v:\n dango %v (%+v)\n dbt   %v", args, got, r, want)
				}
			}
			if r := dango(t, dir, "ls", "--resource-type", "modle"); r.code != 2 || !strings.Contains(r.stderr, `--resource-type "modle": choose from`) {
				t.Errorf("misspelt resource type: %+v", r)
			}
			// Snapshots and unit tests are parsed, not executed: build says so, once.
			r := dango(t, dir, "build")
			want := "Warning: dango's engine parses but does not execute 1 snapshot (orders_snapshot) and 1 unit test (test_totals_sum) yet"
			if r.code != 0 || strings.Count(r.stderr, want) != 1 {
				t.Errorf("build of parsed-only resources: %+v", r)
			}
		})
	}
}

var spaceRE = regexp.MustCompile(`\s+`)

func normalize(s string) string { return strings.TrimSpace(spaceRE.ReplaceAllString(s, " ")) }

func TestCompileMatchesDBT(t *testing.T) {
	for _, proj := range []string{"jaffle", "graph", "resources"} {
		t.Run(proj, func(t *testing.T) {
			dir := dbtProject(t, proj)
			dbtOut(t, dir, "compile", "--target-path", "target_dbt")
			env := append(os.Environ(), "DANGO_FIXTURE_ENV=ci", "NO_COLOR=1")
			cmd := exec.Command(dangoBin, "compile")
			cmd.Dir, cmd.Env = dir, env
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("dango compile: %v\n%s", err, out)
			}
			ref := filepath.Join(dir, "dbt", "target_dbt", "compiled")
			n := 0
			filepath.Walk(ref, func(p string, info os.FileInfo, err error) error {
				if err != nil || info.IsDir() || !strings.HasSuffix(p, ".sql") {
					return err
				}
				rel, _ := filepath.Rel(ref, p)
				want, _ := os.ReadFile(p)
				got, err := os.ReadFile(filepath.Join(dir, "dbt", "target", "compiled", rel))
				if err != nil {
					t.Errorf("%s: dango did not compile it", rel)
					return nil
				}
				n++
				if normalize(string(got)) != normalize(string(want)) {
					t.Errorf("%s differs:\n--- dango\n%s\n--- dbt\n%s", rel, got, want)
				}
				return nil
			})
			if n == 0 {
				t.Fatal("no compiled files compared")
			}
		})
	}
}

func TestLsCommaHintAndManifest(t *testing.T) {
	dir := dbtProject(t, "graph")
	r := dango(t, dir, "ls", "--select", "marts.finance.*,marts.marketing.*")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "a comma intersects its parts") {
		t.Fatalf("comma hint: %+v", r)
	}
	r = dango(t, dir, "ls", "--select", "no_such_model")
	if r.code != 0 || !strings.Contains(r.stderr, "does not match any enabled nodes") {
		t.Fatalf("no match: %+v", r)
	}
	if r := dango(t, dir, "ls", "--select", "bogus:x"); r.code != 2 {
		t.Fatalf("bad method: %+v", r)
	}
	r = dango(t, dir, "compile", "--select", "+segments")
	if r.code != 0 || !strings.Contains(r.stdout, "Compiled 10 nodes to dbt/target/compiled/graph_fixture/") {
		t.Fatalf("compile: %+v", r)
	}
	data, err := os.ReadFile(filepath.Join(dir, "dbt", "target", "manifest.json"))
	if err != nil || !strings.Contains(string(data), `"model.graph_fixture.segments"`) || !strings.Contains(string(data), `"parent_map"`) {
		t.Fatalf("manifest: %v %.200s", err, data)
	}
	if _, err := os.Stat(filepath.Join(dir, "dbt/target/compiled/graph_fixture/models/marts/marketing/segments.sql")); err != nil {
		t.Fatal(err)
	}
}
