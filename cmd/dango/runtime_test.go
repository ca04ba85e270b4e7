package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestRuntimeMatchesDBT runs testdata/dbt/runtime — run_query, statement blocks, load_result,
// adapter introspection of models built earlier in the run, graph.nodes, pre/post hooks,
// on-run-start/on-run-end with results — under real dbt-core and under dango, then compares
// what each built, the SQL each compiled, the node statuses and a run-operation.
func TestRuntimeMatchesDBT(t *testing.T) {
	dbt := dbtPath(t)
	ref, got := dbtProject(t, "runtime"), dbtProject(t, "runtime")
	dbtOut(t, ref, "build")
	if r := dango(t, got, "build"); r.code != 0 {
		t.Fatalf("dango build: %+v", r)
	}
	tables := []string{"audit", "by_status", "biggest", "wide", "relations"}
	for _, tbl := range tables {
		q := "select * from main." + tbl + " order by all"
		if w, g := queryCSV(t, ref, q), queryCSV(t, got, q); w != g {
			t.Errorf("%s differs:\n--- dango\n%s\n--- dbt\n%s", tbl, g, w)
		}
	}
	compareCompiled(t, ref, got)
	if w, g := nodeStatuses(t, ref), nodeStatuses(t, got); w != g {
		t.Errorf("run_results statuses differ:\n dango %s\n dbt   %s", g, w)
	}

	// dbt compile executes introspective queries too: with the tables built, both agree.
	dbtOut(t, ref, "compile")
	if r := dango(t, got, "compile"); r.code != 0 {
		t.Fatalf("dango compile: %+v", r)
	}
	compareCompiled(t, ref, got)

	// run-operation: the macro runs its statements and prints its log(info=True).
	cmd := exec.Command(dbt, "run-operation", "record", "--args", "{tag: op1}", "--profiles-dir", ".dango", "--project-dir", "dbt")
	cmd.Dir = ref
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "recorded op1") {
		t.Fatalf("dbt run-operation: %v\n%s", err, out)
	}
	r := dango(t, got, "run-operation", "record", "--args", "{tag: op1}")
	if r.code != 0 || !strings.Contains(r.stdout, "recorded op1") {
		t.Fatalf("dango run-operation: %+v", r)
	}
	q := "select * from main.audit where event = 'op'"
	if w, g := queryCSV(t, ref, q), queryCSV(t, got, q); w != g || !strings.Contains(g, "op1") {
		t.Errorf("run-operation rows:\n dango %s\n dbt   %s", g, w)
	}
	if r := dango(t, got, "run-operation", "no_such_macro"); r.code != 1 || !strings.Contains(r.stderr, "could not find a macro") {
		t.Errorf("unknown macro: %+v", r)
	}
	if r := dango(t, got, "run-operation", "record; drop table x"); r.code != 1 || !strings.Contains(r.stderr, "not a macro name") {
		t.Errorf("bad macro name: %+v", r)
	}
}

func queryCSV(t *testing.T, dir, q string) string {
	t.Helper()
	r := dango(t, dir, "query", "--format", "csv", q)
	if r.code != 0 {
		t.Fatalf("query %s: %+v", q, r)
	}
	return r.stdout
}

// compareCompiled checks that every SQL file dbt compiled, dango compiled the same way.
func compareCompiled(t *testing.T, ref, got string) {
	t.Helper()
	base := filepath.Join(ref, "dbt", "target", "compiled")
	n := 0
	filepath.Walk(base, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(p, ".sql") {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		want, _ := os.ReadFile(p)
		have, err := os.ReadFile(filepath.Join(got, "dbt", "target", "compiled", rel))
		if err != nil {
			t.Errorf("%s: dango did not compile it", rel)
			return nil
		}
		n++
		if normalize(string(have)) != normalize(string(want)) {
			t.Errorf("%s differs:\n--- dango\n%s\n--- dbt\n%s", rel, have, want)
		}
		return nil
	})
	if n < 5 {
		t.Fatalf("only %d compiled files compared", n)
	}
}

// nodeStatuses lists unique_id=status from run_results.json, sorted.
func nodeStatuses(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "dbt", "target", "run_results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Results []struct {
			UniqueID string `json:"unique_id"`
			Status   string `json:"status"`
			Thread   string `json:"thread_id"`
		} `json:"results"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range doc.Results {
		thread := "node"
		if r.Thread == "main" {
			thread = "main"
		}
		out = append(out, r.UniqueID+"="+r.Status+"@"+thread)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}
