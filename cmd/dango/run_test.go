package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestRunErrorSkipsDependents(t *testing.T) {
	dir := dbtProject(t, "jaffle")
	if r := dango(t, dir, "seed"); r.code != 0 {
		t.Fatalf("seed: %+v", r)
	}
	// Break stg_orders: orders and customers depend on it, stg_customers does not.
	writeFile(t, dir, "dbt/models/staging/stg_orders.sql", "select no_such_column from {{ ref('raw_orders') }}\n")
	r := dango(t, dir, "run", "--threads", "1")
	if r.code != 1 {
		t.Fatalf("exit %d\n%s", r.code, r.stdout)
	}
	for _, re := range []string{
		`\d\d:\d\d:\d\d  Running with dango=`,
		`\d of 5 ERROR creating sql view model main\.stg_orders \.+ \[ERROR in \d+\.\d\ds\]`,
		`\d of 5 SKIP relation main\.orders \.+ \[SKIP\]`,
		`\d of 5 SKIP relation main\.customers \.+ \[SKIP\]`,
		`\d of 5 OK created sql view model main\.stg_customers \.+ \[SUCCESS in \d+\.\d\ds\]`,
		`Runtime Error in model stg_orders \(models/staging/stg_orders\.sql\)\n\d\d:\d\d:\d\d      Binder Error: Referenced column "no_such_column" not found`,
		`compiled code at dbt/target/compiled/jaffle/models/staging/stg_orders\.sql`,
		`Done\. PASS=2 WARN=0 ERROR=1 SKIP=2 TOTAL=5`,
	} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Errorf("output lacks /%s/:\n%s", re, r.stdout)
		}
	}
	if got := scalar(t, dir, "SELECT count(*) FROM main.stg_customers"); got != "3" {
		t.Errorf("independent model not built: %s", got)
	}
	// --fail-fast: nothing starts after the first failure.
	r = dango(t, dir, "run", "--threads", "1", "--fail-fast")
	if r.code != 1 || strings.Contains(r.stdout, "OK created") && strings.Index(r.stdout, "OK created") > strings.Index(r.stdout, "ERROR creating") {
		t.Fatalf("--fail-fast:\n%s", r.stdout)
	}
	data, err := os.ReadFile(filepath.Join(dir, "dbt/target/run_results.json"))
	if err != nil || !strings.Contains(string(data), `"status": "error"`) || !strings.Contains(string(data), "run-results/v6.json") {
		t.Fatalf("run_results.json: %v %.300s", err, data)
	}
}

func TestRunSpecSelections(t *testing.T) {
	dir := dbtProject(t, "jaffle")
	if r := dango(t, dir, "build"); r.code != 0 {
		t.Fatalf("build: %+v", r)
	}
	cases := map[string]string{
		"customers":                        "customers",
		"+customers":                       "customers,orders,stg_customers,stg_orders,stg_payments",
		"stg_orders+":                      "customers,orders,stg_orders",
		"+orders+":                         "customers,orders,stg_orders,stg_payments",
		"marts.*":                          "customers,orders",
		"tag:daily --exclude tag:customer": "orders",
	}
	re := regexp.MustCompile(`OK created sql \w+ model main\.(\w+)`)
	for sel, want := range cases {
		args := append([]string{"run", "--select"}, strings.Fields(sel)...)
		r := dango(t, dir, args...)
		if r.code != 0 {
			t.Fatalf("%s: %+v", sel, r)
		}
		var got []string
		for _, m := range re.FindAllStringSubmatch(r.stdout, -1) {
			got = append(got, m[1])
		}
		if strings.Join(sortStrings(got), ",") != want {
			t.Errorf("run --select %s built %v, want %s", sel, got, want)
		}
	}
	if r := dango(t, dir, "run", "--select", "nothing_like_this"); r.code != 0 || !strings.Contains(r.stdout, "Nothing to do") {
		t.Errorf("empty selection: %+v", r)
	}
}

func sortStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestEngineDBTCore(t *testing.T) {
	dbt := dbtPath(t)
	dir := dbtProject(t, "jaffle")
	t.Setenv("DANGO_DBT", dbt)
	r := dango(t, dir, "build", "--engine", "dbt-core", "--select", "+stg_orders")
	if r.code != 0 || !strings.Contains(r.stdout, "Running with dbt=") {
		t.Fatalf("dbt-core engine: %+v", r)
	}
	writeFile(t, dir, ".dango/project.yml", "engine: dbt-core\n")
	if r := dango(t, dir, "run", "--select", "stg_orders"); r.code != 0 || !strings.Contains(r.stdout, "Running with dbt=") {
		t.Fatalf("engine from project.yml: %+v", r)
	}
	t.Setenv("DANGO_DBT", "")
	t.Setenv("PATH", "/nonexistent")
	if r := dango(t, dir, "run"); r.code != 2 || !strings.Contains(r.stderr, "dbt is not installed") {
		t.Fatalf("missing dbt: %+v", r)
	}
}

func TestBuildFailingTestSkipsDownstream(t *testing.T) {
	dir := dbtProject(t, "jaffle")
	// orders has a 'returned' status the test no longer accepts: the test fails, and customers,
	// built from orders, is skipped.
	schema := filepath.Join(dir, "dbt/models/marts/schema.yml")
	data, _ := os.ReadFile(schema)
	os.WriteFile(schema, []byte(strings.Replace(string(data), ", 'returned'", "", 1)), 0o644)
	r := dango(t, dir, "build", "--threads", "2")
	if r.code != 1 {
		t.Fatalf("exit %d:\n%s", r.code, r.stdout)
	}
	for _, re := range []string{
		`FAIL 1 accepted_values_orders_status__placed__shipped__completed__return_pending \.+ \[FAIL 1 in`,
		`SKIP relation main\.customers \.+ \[SKIP\]`,
		`OK created sql table model main\.orders`,
		`Failure in test accepted_values_orders_status__placed__shipped__completed__return_pending \(models/marts/schema\.yml\)`,
		`Got 1 result, configured to fail if !=0`,
	} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Errorf("output lacks /%s/:\n%s", re, r.stdout)
		}
	}
}
