package main

import (
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// seedCorpus is a dbt project of seeds that exercise dbt's agate type inference: every
// type test, null strings, values agate reads differently from DuckDB's sniffer, configs
// (column_types in dbt_project.yml and in YAML, delimiter, quote_columns) and loads that fail.
var seedCorpus = map[string]string{
	"dbt_project.yml": `name: seeds_fixture
version: "1.0.0"
config-version: 2
profile: dango
seeds:
  seeds_fixture:
    typed_in_project:
      +column_types: {id: varchar, amount: "decimal(10,2)"}
    semicolons:
      +delimiter: ";"
    unquoted:
      +quote_columns: false
models:
  seeds_fixture:
    +materialized: table
`,
	"seeds/properties.yml": `version: 2
seeds:
  - name: typed_in_yaml
    config:
      column_types:
        code: text
        happened: date
`,
	"seeds/ints.csv":             "id,n\n1,10\n2,-20\n3,+30\n",
	"seeds/floats.csv":           "x,y\n1.5,2\n2.25,3\n",
	"seeds/point_zero.csv":       "x\n1.0\n2.00\n3\n",
	"seeds/scientific.csv":       "x,y\n1e3,2.5e-1\n2E2,1e1\n",
	"seeds/leading_zeros.csv":    "code\n007\n0042\n",
	"seeds/nulls.csv":            "a,b,c\n1,,x\nnull,NULL,\n3, ,na\n",
	"seeds/null_words.csv":       "w\nna\nn/a\nnone\n.\nNULL\n",
	"seeds/booleans.csv":         "b,c\ntrue,TRUE\nFalse,false\n, \n",
	"seeds/booleans_null.csv":    "b\ntrue\nnull\n",
	"seeds/yes_no.csv":           "b\nyes\nno\n",
	"seeds/zero_one.csv":         "b\n1\n0\n",
	"seeds/dates.csv":            "d\n2024-01-05\n2024-1-5\n2023-12-31\n",
	"seeds/bad_date.csv":         "d\n2024-02-30\n2024-01-01\n",
	"seeds/datetimes.csv":        "t\n2024-01-05 10:00:00\n2024-01-05 23:59:59\n",
	"seeds/iso.csv":              "t\n2024-01-05T10:00:00\n2024-01-05T10:00:00.123\n2024-01-05T10:00\n",
	"seeds/date_and_time.csv":    "t\n2024-01-05\n2024-01-05 10:00:00\n",
	"seeds/text.csv":             "name,note\nAda,\"hello, world\"\nBob,\"quote \"\"q\"\"\"\n",
	"seeds/empty.csv":            "a,b,c\n",
	"seeds/empty_column.csv":     "a,b\n1,\n2,\n",
	"seeds/names.csv":            "a,,a,A b\n1,2,3,4\n",
	"seeds/bom.csv":              "\uFEFFid,v\n1,x\n",
	"seeds/whitespace.csv":       "n,t\n 5 , x \n6,y\n",
	"seeds/typed_in_project.csv": "id,amount\n001,1.5\n002,2\n",
	"seeds/typed_in_yaml.csv":    "code,happened\n10,2024-01-05\n20,2024-02-05\n",
	"seeds/semicolons.csv":       "a;b\n1;x,y\n2;z\n",
	"seeds/unquoted.csv":         "Id,Name\n1,a\n",
	"seeds/percent.csv":          "p\n5%\n10%\n",
	"seeds/big.csv":              "n\n12345678901234567890\n",
	"models/casts.sql": `select cast(1 as integer) as i, cast(1 as bigint) as bi, 1.5::decimal(10,2) as d, 2.5::double as f,
  'x' as t, date '2024-01-05' as dt, timestamp '2024-01-05 10:00:00' as ts, true as b, [1, 2] as l,
  {'k': 1} as s, cast(3 as smallint) as si, uuid '00000000-0000-0000-0000-000000000001' as u`,
	"models/from_seeds.sql": `select f.x * 2 as x2, i.id, d.d, b.b from {{ ref('floats') }} f, {{ ref('ints') }} i, {{ ref('dates') }} d, {{ ref('booleans') }} b`,
}

// columnTypes reads every table's columns and DuckDB types outside the raw schemas.
func columnTypes(t *testing.T, dir string) map[string]string {
	t.Helper()
	db, err := sql.Open("duckdb", filepath.Join(dir, "data", "warehouse.duckdb")+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT table_schema || '.' || table_name, string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position)
		FROM information_schema.columns WHERE table_schema NOT LIKE 'raw%' GROUP BY ALL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var rel, cols string
		rows.Scan(&rel, &cols)
		out[rel] = cols
	}
	return out
}

func seedProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := newProject(t, "")
	os.RemoveAll(filepath.Join(dir, "dbt"))
	for rel, content := range files {
		writeFile(t, dir, filepath.Join("dbt", rel), content)
	}
	return dir
}

func TestSeedsMatchDBT(t *testing.T) {
	dbtBin := dbtPath(t)
	a, b := seedProject(t, seedCorpus), seedProject(t, seedCorpus)
	steps := []struct {
		name string
		edit map[string]string // files rewritten in both projects before the step
		args []string
	}{
		{name: "build", args: []string{"build"}},
		// An existing seed table is truncated and keeps its column types; --full-refresh and
		// +full_refresh recreate it with the new file's.
		{name: "reseed changed files", edit: map[string]string{"seeds/ints.csv": "id,n\n4,1.5\n", "seeds/floats.csv": "x,y\n7,8\n"}, args: []string{"seed"}},
		{name: "full refresh", edit: map[string]string{"seeds/ints.csv": "id,n\n5,2.5\n"}, args: []string{"seed", "--full-refresh"}},
	}
	for _, s := range steps {
		for rel, content := range s.edit {
			writeFile(t, a, filepath.Join("dbt", rel), content)
			writeFile(t, b, filepath.Join("dbt", rel), content)
		}
		r := dango(t, a, s.args...)
		cmd := exec.Command(dbtBin, append(s.args, "--profiles-dir", ".dango", "--project-dir", "dbt", "-q")...)
		cmd.Dir = b
		out, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != r.code {
			t.Errorf("%s: exit codes differ: dango %d, dbt %d\n%s%s\n%s", s.name, r.code, cmd.ProcessState.ExitCode(), r.stdout, r.stderr, out)
		}
		ta, tb := columnTypes(t, a), columnTypes(t, b)
		if len(tb) < 20 {
			t.Fatalf("%s: dbt built only %d tables: %v\n%s", s.name, len(tb), tb, out)
		}
		for rel, want := range tb {
			if ta[rel] != want {
				t.Errorf("%s: %s columns:\n dango %s\n dbt   %s", s.name, rel, ta[rel], want)
			}
		}
		for rel := range ta {
			if _, ok := tb[rel]; !ok {
				t.Errorf("%s: dango built %s, dbt did not", s.name, rel)
			}
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
		if strings.Contains(r.stderr, "panic") {
			t.Fatal(r.stderr)
		}
	}
}
