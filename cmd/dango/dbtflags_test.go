package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// plainProject is a dbt project with no .dango/: its own profiles.yml, whose duckdb paths are
// relative (to the working folder, as dbt-duckdb opens them).
var plainProject = map[string]string{
	"proj/dbt_project.yml": "name: plain\nversion: '1.0.0'\nconfig-version: 2\nprofile: plain\nmodels:\n  plain:\n    +materialized: table\n",
	"proj/profiles.yml": `plain:
  target: dev
  outputs:
    dev: {type: duckdb, path: dev.duckdb, threads: 1}
    other: {type: duckdb, path: other.duckdb, schema: analytics, threads: 1}
alt:
  target: main
  outputs:
    main: {type: duckdb, path: alt.duckdb, threads: 1}
`,
	"proj/seeds/people.csv":    "id,name,score\n1,Ada,1.5\n2,Bob,2\n",
	"proj/models/scores.sql":   "select id, score * 2 as doubled, '{{ target.name }}' as target_name from {{ ref('people') }}",
	"proj/models/tidy/top.sql": "select max(doubled) as best from {{ ref('scores') }}",
}

// duckdbTables reads every table in a DuckDB file as its columns with types and sorted rows.
func duckdbTables(t *testing.T, path string) map[string]string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	db, err := sql.Open("duckdb", path+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT table_schema, table_name, string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position)
		FROM information_schema.columns GROUP BY ALL`)
	if err != nil {
		t.Fatal(err)
	}
	type rel struct{ s, n, cols string }
	var rels []rel
	for rows.Next() {
		var r rel
		rows.Scan(&r.s, &r.n, &r.cols)
		rels = append(rels, r)
	}
	rows.Close()
	out := map[string]string{}
	for _, r := range rels {
		q, err := db.Query(fmt.Sprintf(`SELECT * FROM "%s"."%s"`, r.s, r.n))
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := q.Columns()
		var lines []string
		for q.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			q.Scan(ptrs...)
			lines = append(lines, fmt.Sprint(vals...))
		}
		q.Close()
		sort.Strings(lines)
		out[r.s+"."+r.n] = r.cols + " | " + strings.Join(lines, "; ")
	}
	return out
}

// TestPlainDBTProjectMatchesDBT runs dango's engine and dbt-core on a plain dbt project with
// dbt's location flags and environment variables, from the same working folders, and compares
// the DuckDB files each creates (where, which tables, column types, values).
func TestPlainDBTProjectMatchesDBT(t *testing.T) {
	dbtBin := dbtPath(t)
	cases := []struct {
		name  string
		cwd   string // inside the work folder
		args  []string
		env   []string // "DBT_PROFILES_DIR=<work>/proj" style; <work> is replaced
		files []string // duckdb files (relative to the work folder) to compare
	}{
		{"project and profiles dir flags", ".", []string{"build", "--project-dir", "proj", "--profiles-dir", "proj"}, nil, []string{"dev.duckdb"}},
		{"profiles.yml in the working folder", "proj", []string{"build"}, nil, []string{"proj/dev.duckdb"}},
		{"nested folder finds the project", "proj/models/tidy", []string{"seed"}, []string{"DBT_PROFILES_DIR=<work>/proj"}, []string{"proj/models/tidy/dev.duckdb"}},
		{"--target and DBT_PROFILES_DIR", ".", []string{"build", "--project-dir", "proj", "--target", "other"}, []string{"DBT_PROFILES_DIR=<work>/proj"}, []string{"other.duckdb", "dev.duckdb"}},
		{"-t", ".", []string{"run", "--project-dir", "proj", "-t", "other", "--profiles-dir", "proj", "--select", "people+"}, nil, []string{"other.duckdb"}},
		{"DBT_TARGET", "proj", []string{"seed"}, []string{"DBT_TARGET=other"}, []string{"proj/other.duckdb", "proj/dev.duckdb"}},
		{"--profile", "proj", []string{"build", "--profile", "alt"}, nil, []string{"proj/alt.duckdb", "proj/dev.duckdb"}},
		{"DBT_PROFILE", "proj", []string{"build"}, []string{"DBT_PROFILE=alt"}, []string{"proj/alt.duckdb"}},
		{"DBT_PROJECT_DIR", ".", []string{"build", "--profiles-dir", "proj"}, []string{"DBT_PROJECT_DIR=<work>/proj"}, []string{"dev.duckdb"}},
		{"unknown target", "proj", []string{"run", "--target", "nope"}, nil, []string{"proj/dev.duckdb"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir() // no ~/.dbt to fall back on
			var works [2]string
			for i := range works {
				works[i] = filepath.Join(t.TempDir(), "work")
				for rel, content := range plainProject {
					writeFile(t, works[i], rel, content)
				}
			}
			run := func(work, bin string, args []string) int {
				cmd := exec.Command(bin, args...)
				cmd.Dir = filepath.Join(work, c.cwd)
				cmd.Env = append(os.Environ(), "HOME="+home, "NO_COLOR=1")
				for _, e := range c.env {
					cmd.Env = append(cmd.Env, strings.ReplaceAll(e, "<work>", work))
				}
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				cmd.Run()
				t.Logf("%s %v:\n%s", filepath.Base(bin), args, out.String())
				return cmd.ProcessState.ExitCode()
			}
			codeA := run(works[0], dangoBin, c.args)
			codeB := run(works[1], dbtBin, c.args)
			if (codeA == 0) != (codeB == 0) {
				t.Errorf("exit codes: dango %d, dbt %d", codeA, codeB)
			}
			built := 0
			for _, f := range c.files {
				got, want := duckdbTables(t, filepath.Join(works[0], f)), duckdbTables(t, filepath.Join(works[1], f))
				built += len(want)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s:\n dango %v\n dbt   %v", f, got, want)
				}
			}
			if codeB == 0 && built == 0 {
				t.Errorf("dbt built nothing in %v", c.files)
			}
		})
	}
}
