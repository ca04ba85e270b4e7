package dltcompat

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The comparison itself, on small DuckDB files written here (no dlt needed): what it must
// find, and what it must not report.

func duckFile(t *testing.T, stmts ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "w.duckdb")
	db, err := sql.Open("duckdb", f)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range append([]string{"CREATE SCHEMA s"}, stmts...) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return f
}

func compareKeys(t *testing.T, l, r string, o Options) ([]string, []Diff) {
	t.Helper()
	o.Schema = "s"
	diffs, err := Compare(context.Background(), l, r, o)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, d := range diffs {
		keys = append(keys, d.Key())
	}
	sort.Strings(keys)
	return keys, diffs
}

func TestCompare(t *testing.T) {
	parentChild := func(ids [3]string, names [3]string) []string {
		return []string{
			"CREATE TABLE s.orders (id BIGINT, name VARCHAR, _dlt_id VARCHAR NOT NULL, _dlt_load_id VARCHAR NOT NULL)",
			"INSERT INTO s.orders VALUES (1, '" + names[0] + "', '" + ids[0] + "', 'l1'), (2, '" + names[1] + "', '" + ids[1] + "', 'l1'), (3, '" + names[2] + "', '" + ids[2] + "', 'l1')",
			"CREATE TABLE s.orders__items (sku VARCHAR, _dlt_parent_id VARCHAR NOT NULL, _dlt_list_idx BIGINT NOT NULL, _dlt_id VARCHAR NOT NULL)",
			"INSERT INTO s.orders__items VALUES ('a', '" + ids[0] + "', 0, 'x1'), ('b', '" + ids[0] + "', 1, 'x2'), ('a', '" + ids[2] + "', 0, 'x3')",
		}
	}
	cases := []struct {
		name  string
		l, r  []string
		o     Options
		want  []string
		check func(t *testing.T, d []Diff)
	}{
		{
			name: "same rows, other ids, other order",
			l:    parentChild([3]string{"p1", "p2", "p3"}, [3]string{"x", "y", "z"}),
			r:    parentChild([3]string{"q3", "q1", "q2"}, [3]string{"x", "y", "z"}),
			o:    Options{Keys: map[string][]string{"orders": {"id"}}},
		},
		{
			name: "children matched through the parent's content when it has no key",
			l:    parentChild([3]string{"p1", "p2", "p3"}, [3]string{"x", "y", "z"}),
			r:    parentChild([3]string{"q1", "q2", "q3"}, [3]string{"x", "y", "z"}),
		},
		{
			name: "a child under another parent is a value difference of the child",
			l:    parentChild([3]string{"p1", "p2", "p3"}, [3]string{"x", "y", "z"}),
			r: append(parentChild([3]string{"p1", "p2", "p3"}, [3]string{"x", "y", "z"}),
				"UPDATE s.orders__items SET _dlt_parent_id = 'p2' WHERE _dlt_id = 'x3'"),
			o:    Options{Keys: map[string][]string{"orders": {"id"}}},
			want: []string{"orders__items rows"},
			check: func(t *testing.T, d []Diff) {
				if !strings.Contains(d[0].Detail, `only in dlt  : ["3/0"]`) || !strings.Contains(d[0].Detail, `only in dango: ["2/0"]`) {
					t.Errorf("detail should name the parent keys:\n%s", d[0].Detail)
				}
			},
		},
		{
			name: "a changed value is reported once, with its key",
			l:    parentChild([3]string{"p1", "p2", "p3"}, [3]string{"x", "y", "z"}),
			r:    parentChild([3]string{"p1", "p2", "p3"}, [3]string{"x", "Y", "z"}),
			o:    Options{Keys: map[string][]string{"orders": {"id"}}},
			want: []string{"orders.name value"},
			check: func(t *testing.T, d []Diff) {
				if !strings.Contains(d[0].Detail, `dlt   ["2"] "y"`) || !strings.Contains(d[0].Detail, `dango ["2"] "Y"`) {
					t.Errorf("detail:\n%s", d[0].Detail)
				}
			},
		},
		{
			name: "missing rows are one rows difference, not one per column",
			l:    parentChild([3]string{"p1", "p2", "p3"}, [3]string{"x", "y", "z"}),
			r: append(parentChild([3]string{"p1", "p2", "p3"}, [3]string{"x", "y", "z"}),
				"DELETE FROM s.orders WHERE id = 2"),
			o:    Options{Keys: map[string][]string{"orders": {"id"}}},
			want: []string{"orders rows"},
		},
		{
			name: "tables and columns missing, extra and of another type",
			l:    []string{"CREATE TABLE s.a (x INTEGER NOT NULL, y VARCHAR, z DOUBLE)", "CREATE TABLE s.gone (x INTEGER)"},
			r:    []string{"CREATE TABLE s.a (x INTEGER, w VARCHAR, z FLOAT)", "CREATE TABLE s.new (x INTEGER)"},
			want: []string{"a.w extra", "a.x type", "a.y missing", "a.z type", "gone missing", "new extra"},
		},
		{
			name: "values compared in dlt's type: a timestamp without its offset is another instant",
			l:    []string{"CREATE TABLE s.e (id INT, ts TIMESTAMPTZ)", "INSERT INTO s.e VALUES (1, '2024-01-14 08:00:00+00')"},
			r:    []string{"CREATE TABLE s.e (id INT, ts TIMESTAMP)", "INSERT INTO s.e VALUES (1, '2024-01-14 10:00:00')"},
			want: []string{"e.ts type", "e.ts value"},
		},
		{
			name: "the same instant in another type is only a type difference",
			l:    []string{"CREATE TABLE s.e (id INT, ts TIMESTAMPTZ, d VARCHAR)", "INSERT INTO s.e VALUES (1, '2024-01-14 08:00:00+00', '2024-01-02')"},
			r:    []string{"CREATE TABLE s.e (id INT, ts TIMESTAMP, d DATE)", "INSERT INTO s.e VALUES (1, '2024-01-14 08:00:00', '2024-01-02')"},
			want: []string{"e.d type", "e.ts type"},
		},
		{
			name: "JSON compared minified; NULLs equal; generated columns ignored",
			l:    []string{"CREATE TABLE s.j (doc JSON, n INT, _dlt_load_id VARCHAR)", `INSERT INTO s.j VALUES ('{"a": [1, 2]}', NULL, 'x')`},
			r:    []string{"CREATE TABLE s.j (doc JSON, n INT, _dlt_load_id VARCHAR)", `INSERT INTO s.j VALUES ('{"a":[1,2]}', NULL, 'y')`},
		},
		{
			name: "multisets: a duplicated row is a difference",
			l:    []string{"CREATE TABLE s.m (v INT)", "INSERT INTO s.m VALUES (1), (2)"},
			r:    []string{"CREATE TABLE s.m (v INT)", "INSERT INTO s.m VALUES (1), (1), (2)"},
			want: []string{"m rows", "m.v value"},
		},
		{
			name: "columns equal one by one but paired differently",
			l:    []string{"CREATE TABLE s.p (a INT, b INT)", "INSERT INTO s.p VALUES (1, 1), (2, 2)"},
			r:    []string{"CREATE TABLE s.p (a INT, b INT)", "INSERT INTO s.p VALUES (1, 2), (2, 1)"},
			want: []string{"p rows"},
		},
		{
			name: "dlt's system tables: columns compared, rows not",
			l:    []string{"CREATE TABLE s._dlt_loads (load_id VARCHAR NOT NULL, status BIGINT NOT NULL)", "INSERT INTO s._dlt_loads VALUES ('1', 0)"},
			r:    []string{"CREATE TABLE s._dlt_loads (load_id VARCHAR NOT NULL, status INTEGER NOT NULL)", "INSERT INTO s._dlt_loads VALUES ('2', 0), ('3', 0)"},
			want: []string{"_dlt_loads.status type"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, diffs := compareKeys(t, duckFile(t, c.l...), duckFile(t, c.r...), c.o)
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				var all []string
				for _, d := range diffs {
					all = append(all, d.String())
				}
				t.Fatalf("differences %v, want %v\n%s", got, c.want, strings.Join(all, "\n"))
			}
			if c.check != nil {
				c.check(t, diffs)
			}
		})
	}
}

func TestCompareNoSchema(t *testing.T) {
	// A dango run that wrote nothing: every dlt table is missing, nothing fails to open.
	l := duckFile(t, "CREATE TABLE s.a (x INT)")
	r := filepath.Join(t.TempDir(), "empty.duckdb")
	db, _ := sql.Open("duckdb", r)
	db.Exec("CREATE TABLE t (x INT)")
	db.Close()
	got, _ := compareKeys(t, l, r, Options{})
	if strings.Join(got, ",") != "a missing" {
		t.Fatalf("got %v", got)
	}
}

func TestParseDifferences(t *testing.T) {
	cases := map[string]bool{"rest_x": true, "csv_y": true}
	write := func(rows string) string {
		f := filepath.Join(t.TempDir(), "d.md")
		os.WriteFile(f, []byte("# title\n\nintro | with a pipe\n\n| case | what | dlt | dango | why |\n|---|---|---|---|---|\n"+rows+"\nafter the table\n| a | b |\n"), 0o644)
		return f
	}
	f := write("| rest_x | `posts.id type` | BIGINT | INTEGER | because |\n" +
		"| * | `*._dlt_extracted_at extra` | none | TIMESTAMPTZ | staging orders by it |\n" +
		"| - | dango sync prints more | – | – | free text, \\| escaped |\n" +
		"| csv_y | `_dango_* extra` | | | bookkeeping |")
	got, err := ParseDifferences(f, cases)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[0].Line != 7 || got[2].Why != "free text, | escaped" {
		t.Fatalf("parsed %+v", got)
	}
	match := []struct {
		row        int
		caseName   string
		key        string
		want, skip bool
	}{
		{0, "rest_x", "posts.id type", true, false},
		{0, "csv_y", "posts.id type", false, false},
		{0, "rest_x", "posts.id value", false, false},
		{0, "rest_x", "posts type", false, false},
		{1, "csv_y", "events__tags._dlt_extracted_at extra", true, false},
		{1, "csv_y", "events extra", false, false},
		{2, "rest_x", "dango sync prints more", false, false},
		{3, "csv_y", "_dango_loads extra", true, false},
		{3, "csv_y", "_dango_loads.x extra", false, false},
	}
	for _, m := range match {
		if g := got[m.row].Matches(m.caseName, m.key); g != m.want {
			t.Errorf("row %d matches %s %q = %v", m.row, m.caseName, m.key, g)
		}
	}
	v := Allowance{Case: "*", table: "t", column: "c*", kind: KindValue}
	if !v.SkipsValues("any", "t", "col") || v.SkipsValues("any", "t", "x") {
		t.Error("SkipsValues")
	}

	for rows, want := range map[string]string{
		"| rest_x | `posts.id typo` | a | b | c |":  "is not of the form",
		"| rest_z | `posts.id type` | a | b | c |":  `case "rest_z" is not a case`,
		"| rest_x | `posts.id type` | a | b |  |":   "why cell is empty",
		"| rest_x | `posts.id type` | a | b |":      "needs 5 cells",
		"| rest_x | `posts.i[d type` | a | b | c |": "bad pattern",
	} {
		if _, err := ParseDifferences(write(rows), cases); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", rows, err, want)
		}
	}
	if _, err := ParseDifferences(filepath.Join(t.TempDir(), "none.md"), cases); err == nil {
		t.Error("a missing file must fail")
	}
}

// TestDifferencesFile: the repository's table parses, and its rows name real cases.
func TestDifferencesFile(t *testing.T) {
	if _, err := ParseDifferences(differencesFile(), caseNames()); err != nil {
		t.Fatal(err)
	}
}
