package main

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

// dltPython is the Python of a venv with dlt 1.31 and duckdb (the engine's version).
func dltPython(t *testing.T) string {
	t.Helper()
	py := os.Getenv("DANGO_DLT_PYTHON")
	if py == "" {
		if p, _ := filepath.Abs(filepath.Join("..", "..", ".venv-dlt", "bin", "python")); p != "" {
			if _, err := os.Stat(p); err == nil {
				py = p
			}
		}
	}
	if py == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must provide dlt (set DANGO_DLT_PYTHON to a python with dlt 1.31)")
		}
		t.Skip("dlt not installed; set DANGO_DLT_PYTHON to a python with dlt 1.31")
	}
	return py
}

// dltLoad loads each NDJSON file with dlt (one run per file) into a new DuckDB file.
func dltLoad(t *testing.T, py, disposition, pk, nesting string, files []string) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "dlt.duckdb")
	script, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "dlt", "load_ndjson.py"))
	args := append([]string{script, db, "raw", "items", disposition, pk, nesting}, files...)
	if out, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		t.Fatalf("dlt: %v\n%s", err, out)
	}
	return db
}

// tableDump is a table as the comparison sees it: its columns with their types (dlt's own id
// columns by name only: dango's ids are UUIDs) and its rows, each keyed by where it sits —
// the root row's id, then the list index at every level down — with its values as text.
type tableDump struct {
	cols map[string]string
	rows []string
}

// idColumns are compared by name only.
var idColumns = map[string]bool{"_dlt_id": true, "_dlt_parent_id": true, "_dlt_root_id": true, "_dlt_load_id": true}

func dumpWarehouse(t *testing.T, path, schema string) map[string]tableDump {
	t.Helper()
	db, err := sql.Open("duckdb", path+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables []string
	rows, err := db.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_name NOT LIKE '\_dlt%' ESCAPE '\' AND table_name NOT LIKE '\_dango%' ESCAPE '\'`, schema)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	// A child table's name extends its parent's: shorter names first sees parents first.
	sort.Slice(tables, func(i, j int) bool { return len(tables[i]) < len(tables[j]) })
	where := map[string]string{} // _dlt_id → lineage
	out := map[string]tableDump{}
	for _, table := range tables {
		d := tableDump{cols: map[string]string{}}
		var names []string
		rows, err := db.Query(`SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position`, schema, table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var n, typ string
			rows.Scan(&n, &typ)
			switch {
			case n == "_dlt_extracted_at" || n == "_dango_source_file": // dango's own (DESIGN.md)
				continue
			case idColumns[n]:
				typ = "(id)"
			}
			d.cols[n] = typ
			names = append(names, n)
		}
		rows.Close()
		sel := make([]string, len(names))
		for i, n := range names {
			sel[i] = `CAST("` + n + `" AS VARCHAR)`
		}
		rows, err = db.Query(`SELECT ` + strings.Join(sel, ", ") + ` FROM "` + schema + `"."` + table + `"`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			vals := make([]sql.NullString, len(names))
			ptrs := make([]any, len(names))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			v := map[string]sql.NullString{}
			for i, n := range names {
				v[n] = vals[i]
			}
			lineage := "id=" + v["id"].String
			if p := v["_dlt_parent_id"]; p.Valid {
				lineage = where[p.String] + "/" + v["_dlt_list_idx"].String
			}
			where[v["_dlt_id"].String] = lineage
			parts := []string{lineage}
			if r := v["_dlt_root_id"]; r.Valid {
				root := strings.SplitN(lineage, "/", 2)[0]
				parts = append(parts, "root_ok="+strconv.FormatBool(where[r.String] == root))
			}
			for _, n := range names {
				if idColumns[n] || n == "_dlt_list_idx" || !v[n].Valid {
					continue
				}
				parts = append(parts, n+"="+v[n].String)
			}
			sort.Strings(parts[1:])
			d.rows = append(d.rows, strings.Join(parts, " "))
		}
		rows.Close()
		sort.Strings(d.rows)
		out[table] = d
	}
	return out
}

// compareWarehouses reports every table, column, type and row that differs.
func compareWarehouses(t *testing.T, dlt, dango map[string]tableDump) {
	t.Helper()
	for name, want := range dlt {
		got, ok := dango[name]
		if !ok {
			t.Errorf("table %s: dlt has it, dango does not (dlt's columns %v)", name, want.cols)
			continue
		}
		for c, typ := range want.cols {
			if got.cols[c] != typ {
				t.Errorf("%s.%s: dlt %q, dango %q", name, c, typ, got.cols[c])
			}
		}
		for c, typ := range got.cols {
			if _, ok := want.cols[c]; !ok {
				t.Errorf("%s.%s (%s): dango has it, dlt does not", name, c, typ)
			}
		}
		if strings.Join(want.rows, "\n") != strings.Join(got.rows, "\n") {
			t.Errorf("%s rows differ\ndlt:\n  %s\ndango:\n  %s", name, strings.Join(want.rows, "\n  "), strings.Join(got.rows, "\n  "))
		}
	}
	for name := range dango {
		if _, ok := dlt[name]; !ok {
			t.Errorf("table %s: dango has it, dlt does not", name)
		}
	}
}

// typesFirst is one load's worth of JSON shapes whose types dlt decides: timestamps with and
// without a zone, dates and times (text to dlt), UUIDs, fields null in every record, values
// of mixed kinds (coerced or variant columns), objects inside list elements, lists three
// levels deep, lists of lists, of scalars of mixed kinds, of nulls only, and lists that never
// hold anything.
const typesFirst = `{"id": 1, "ts": "2024-01-14T10:00:00+02:00", "tsz": "2024-01-14T10:00:00Z", "ist": "2024-07-01T09:30:00.5+05:30", "naive": "2024-01-14T10:00:00", "naive_sp": "2024-01-14 10:00:00", "d": "2024-01-14", "t": "10:00:00", "u": "6f1c1e2a-1b2c-4d5e-8f90-123456789abc", "draft": null, "never": null, "mixed": 1, "f": 1.5, "s2i": 5, "flag": true, "obj": {"a": 1, "b": {"c": "x", "gone": null}, "items": [{"q": 1}]}, "lst": [{"k": 1, "o": {"p": "deep"}, "sub": [{"z": 1, "subsub": [1, 2]}, {"z": 2}]}], "tags": ["a", "b"], "empty": [], "grid": [[1, 2], [3]], "name": "Zoë", "forms": "2024-01-14T10:00", "nulls": [null, null]}
{"id": 2, "ts": "2024-01-14T23:30:00-05:00", "tsz": "2024-01-15T00:00:00.123Z", "ist": "2024-07-01T09:30:00+05:30", "naive": "2024-01-14 11:00:00", "naive_sp": "2024-01-14T10:00:00", "d": "2024-02-30", "t": "25:00", "u": "not-a-uuid", "draft": null, "never": null, "mixed": "abc", "f": 2, "s2i": "123", "flag": "yes", "obj": {"a": "text", "b": {"c": "y"}, "items": []}, "lst": [], "tags": [], "empty": [], "grid": [], "name": "plain", "forms": "2024-01-14T10:00:00+0200"}
{"id": 3, "ts": null, "draft": true, "mixed": 2.5, "f": "x", "s2i": "12.5", "flag": 0, "obj": {"a": [1, 2]}, "lst": [{"k": "v", "sub": [{"z": "s", "subsub": [[1], [2, 3]]}]}], "tags": [1, "c", null], "late_list": [{"m": 1.0}, {"m": 2}], "forms": "2024-01-14 10:00:00.123456-03"}
{"id": 4, "mixed": {"x": 1}, "draft": false, "s2i": 7.0, "flag": "nope", "neg": -1, "ts": "2024-06-01T00:00:00+00:00", "f": 3}
`

// typesLater are the next loads: a field null so far gets values (dlt creates it then, with
// the type of its first value), and values of other kinds meet columns that already exist.
var typesLater = []string{
	`{"id": 5, "never": "now a value", "draft": "no", "ts": "2024-03-01T12:00:00+01:00", "s2i": "99", "f": "1e3", "lst": [{"k": 7, "sub": [{"z": 9, "subsub": [5]}]}]}
`,
	`{"id": 6, "never": 12, "draft": 1, "ts": "not a time", "mixed": false, "tags": [true], "empty": [{"finally": 1}]}
`,
}

// TestJSONTypesMatchDlt loads the same NDJSON files with dlt 1.31 and with dango (a folder
// source, a file per sync) and compares every table, column name, type and value.
func TestJSONTypesMatchDlt(t *testing.T) {
	py := dltPython(t)
	cases := []struct {
		name, disposition, pk, nesting string
		files                          []string
	}{
		{name: "one load", disposition: "append", files: []string{typesFirst}},
		{name: "values appear in later loads", disposition: "append", files: append([]string{typesFirst}, typesLater...)},
		{name: "merge replaces nested rows", disposition: "merge", pk: "id", files: []string{typesFirst,
			`{"id": 1, "lst": [{"k": 2, "sub": [{"z": 5, "subsub": [7, 8, 9]}]}], "tags": ["only"], "ts": "2024-02-01T00:00:00-08:00"}
{"id": 3, "lst": [], "tags": ["x", "y"]}
`}},
		{name: "max_table_nesting 0", disposition: "append", nesting: "0", files: []string{typesFirst}},
		{name: "max_table_nesting 1", disposition: "append", nesting: "1", files: []string{typesFirst}},
		{name: "max_table_nesting 2", disposition: "append", nesting: "2", files: append([]string{typesFirst}, typesLater...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := t.TempDir()
			var paths []string
			for i, f := range tc.files {
				p := filepath.Join(src, fmt.Sprintf("part%d.ndjson", i))
				if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
					t.Fatal(err)
				}
				paths = append(paths, p)
			}
			want := dumpWarehouse(t, dltLoad(t, py, tc.disposition, tc.pk, tc.nesting, paths), "raw")

			opts := ""
			if tc.pk != "" {
				opts += "\n    primary_key: " + tc.pk
			}
			nesting := ""
			if tc.nesting != "" {
				nesting = ", max_table_nesting: " + tc.nesting
			}
			dir := newProject(t, fmt.Sprintf("version: 1\nsources:\n  - name: items\n    type: json\n    write_disposition: %s%s\n    json: {path: data/items%s}\n",
				tc.disposition, opts, nesting))
			for i, f := range tc.files {
				writeFile(t, dir, fmt.Sprintf("data/items/part%d.ndjson", i), f)
				if r := dango(t, dir, "sync"); r.code != 0 {
					t.Fatalf("sync %d: %+v", i+1, r)
				}
			}
			compareWarehouses(t, want, dumpWarehouse(t, filepath.Join(dir, "data", "warehouse.duckdb"), "raw_items"))
		})
	}
}

// TestAPIRecordsTypesMatchDlt serves the same records from a REST API: dango's rest_api
// source spools and shapes them on the way, and must land what dlt makes of the records.
func TestAPIRecordsTypesMatchDlt(t *testing.T) {
	py := dltPython(t)
	pages := append([]string{typesFirst}, typesLater...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := strconv.Atoi(r.URL.Query().Get("page"))
		var recs []string
		if p >= 1 && p <= len(pages) {
			for _, l := range strings.Split(strings.TrimSpace(pages[p-1]), "\n") {
				recs = append(recs, l)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"data": [%s]}`, strings.Join(recs, ","))
	}))
	defer srv.Close()
	// dlt normalizes the records of every page as one load: so does the comparison.
	all := filepath.Join(t.TempDir(), "all.ndjson")
	if err := os.WriteFile(all, []byte(strings.Join(pages, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	want := dumpWarehouse(t, dltLoad(t, py, "append", "", "", []string{all}), "raw")
	dir := newProject(t, fmt.Sprintf(`version: 1
sources:
  - name: items
    type: rest_api
    rest_api:
      base_url: %s
      resources:
        - name: items
          path: /items
          data_selector: data
          paginator: {type: page_number, base_page: 1, total_path: null}
`, srv.URL))
	start := time.Now()
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("sync: %+v", r)
	}
	t.Logf("dango sync took %s", time.Since(start))
	compareWarehouses(t, want, dumpWarehouse(t, filepath.Join(dir, "data", "warehouse.duckdb"), "raw_items"))
}
