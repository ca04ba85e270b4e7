package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
)

// execSQL runs statements on a project's warehouse file directly (no dango process holds it).
func execSQL(t *testing.T, dir string, stmts ...string) {
	t.Helper()
	p := filepath.Join(dir, "data", "warehouse.duckdb")
	os.MkdirAll(filepath.Dir(p), 0o755)
	db, err := sql.Open("duckdb", p)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// snapshot reads every relation outside the raw and metadata schemas as sorted text rows.
func snapshot(t *testing.T, dir string) map[string][]string {
	t.Helper()
	db, err := sql.Open("duckdb", filepath.Join(dir, "data", "warehouse.duckdb")+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema NOT LIKE 'raw%' AND table_name NOT LIKE '%__dbt_%'`)
	if err != nil {
		t.Fatal(err)
	}
	var rels []string
	for rows.Next() {
		var s, n string
		rows.Scan(&s, &n)
		rels = append(rels, `"`+s+`"."`+n+`"`)
	}
	rows.Close()
	out := map[string][]string{}
	for _, rel := range rels {
		r, err := db.Query("SELECT * FROM " + rel)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		cols, _ := r.Columns()
		var lines []string
		for r.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			r.Scan(ptrs...)
			parts := make([]string, len(vals))
			for i, v := range vals {
				parts[i] = fmt.Sprint(v)
			}
			lines = append(lines, strings.Join(parts, "|"))
		}
		r.Close()
		sort.Strings(lines)
		out[rel] = append([]string{strings.Join(cols, "|")}, lines...)
	}
	return out
}

// outcomes reads run_results.json as unique id → status.
func outcomes(t *testing.T, dir string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "dbt", "target", "run_results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rr struct {
		Results []struct {
			Status   string `json:"status"`
			UniqueID string `json:"unique_id"`
		} `json:"results"`
	}
	if err := json.Unmarshal(data, &rr); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rr.Results {
		out[r.UniqueID] = r.Status
	}
	return out
}

func compareSnapshots(t *testing.T, step string, dango, dbt map[string][]string) {
	t.Helper()
	if len(dbt) == 0 {
		t.Fatalf("%s: dbt built nothing", step)
	}
	for rel, want := range dbt {
		got, ok := dango[rel]
		if !ok {
			t.Errorf("%s: dango did not build %s", step, rel)
			continue
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: %s differs\n--- dango\n%s\n--- dbt\n%s", step, rel, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	for rel := range dango {
		if _, ok := dbt[rel]; !ok {
			t.Errorf("%s: dango built %s, dbt did not", step, rel)
		}
	}
}

var shopSource = []string{
	`CREATE SCHEMA IF NOT EXISTS raw_shop`,
	`CREATE TABLE raw_shop.orders (id INTEGER, customer_id INTEGER, amount DOUBLE, country VARCHAR, ordered_at TIMESTAMP)`,
	`CREATE TABLE raw_shop.customer_records (id INTEGER, email VARCHAR)`,
	`INSERT INTO raw_shop.customer_records VALUES (1, 'A@x.io'), (2, 'b@x.io'), (3, 'C@x.io')`,
	`INSERT INTO raw_shop.orders VALUES (1, 1, 10.555, 'DE', '2023-02-01 10:00'), (2, 1, 20, 'FR', '2023-03-01'), (3, 2, 99.999, 'US', '2023-04-01'),
		(4, 3, 250, 'PT', '2024-01-05'), (5, 3, 1, 'DE', '2023-12-31 23:59')`,
}

func TestRunMatchesDBT(t *testing.T) {
	dbtBin := dbtPath(t)
	t.Setenv("DANGO_FIXTURE_ENV", "ci")
	type step struct {
		name     string
		sql      []string
		dangoCmd []string
		dbtCmd   []string
	}
	projects := map[string][]step{
		"jaffle": {{name: "build", dangoCmd: []string{"build"}, dbtCmd: []string{"build"}}},
		"graph": {
			{name: "build", sql: shopSource, dangoCmd: []string{"build"}, dbtCmd: []string{"build"}},
			{name: "incremental run", sql: []string{
				`INSERT INTO raw_shop.orders VALUES (6, 2, 5, 'FR', '2024-02-01'), (7, 1, 7.5, 'DE', '2024-03-01')`,
				`UPDATE raw_shop.orders SET amount = 11, ordered_at = '2024-03-02' WHERE id = 1`,
			}, dangoCmd: []string{"run"}, dbtCmd: []string{"run"}},
			{name: "full refresh", sql: []string{`DELETE FROM raw_shop.orders WHERE id = 2`},
				dangoCmd: []string{"run", "--full-refresh"}, dbtCmd: []string{"run", "--full-refresh"}},
		},
	}
	for proj, steps := range projects {
		t.Run(proj, func(t *testing.T) {
			a, b := dbtProject(t, proj), dbtProject(t, proj)
			for _, s := range steps {
				if len(s.sql) > 0 {
					execSQL(t, a, s.sql...)
					execSQL(t, b, s.sql...)
				}
				r := dango(t, a, s.dangoCmd...)
				if r.code != 0 && r.code != 1 {
					t.Fatalf("%s: dango %v: %+v", s.name, s.dangoCmd, r)
				}
				cmd := exec.Command(dbtBin, append(s.dbtCmd, "--profiles-dir", ".dango", "--project-dir", "dbt", "-q")...)
				cmd.Dir = b
				cmd.Env = append(os.Environ(), "DANGO_FIXTURE_ENV=ci")
				out, _ := cmd.CombinedOutput()
				if cmd.ProcessState.ExitCode() != r.code {
					t.Errorf("%s: exit codes differ: dango %d, dbt %d\n%s\n%s", s.name, r.code, cmd.ProcessState.ExitCode(), r.stdout, out)
				}
				compareSnapshots(t, s.name, snapshot(t, a), snapshot(t, b))
				da, db := outcomes(t, a), outcomes(t, b)
				for id, st := range db {
					if da[id] != st {
						t.Errorf("%s: %s: dango %q, dbt %q", s.name, id, da[id], st)
					}
				}
				if len(da) != len(db) {
					t.Errorf("%s: dango ran %d nodes, dbt %d", s.name, len(da), len(db))
				}
			}
		})
	}
}
