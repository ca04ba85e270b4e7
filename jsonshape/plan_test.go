package jsonshape

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dangohq/dango/batch"
)

// colDesc renders a planned column as name:type, with what it takes when it coerces
// (coerce=…), the kind a variant takes (variant=…), and a list's child columns in braces.
func colDesc(c batch.Column) string {
	s := c.Name + ":" + c.Type
	if c.Coerce != "" {
		s += " coerce=" + c.Coerce
	}
	if c.Variant != "" {
		s += " variant=" + c.Variant
	}
	if len(c.Children) > 0 {
		var kids []string
		for _, k := range c.Children {
			kids = append(kids, colDesc(k))
		}
		s += " {" + strings.Join(kids, ", ") + "}"
	}
	return s
}

// TestPlan checks, case by case, the tables Plan makes of records: DuckDB describes the
// records as the loader has it do, the shape observes them, and Plan decides. The expected
// columns are dlt 1.31's for the same records (cmd/dango's TestJSONTypesMatchDlt loads such
// records with dlt itself and compares every table, type and value).
func TestPlan(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cases := []struct {
		name    string
		records []string
		nesting int
		want    []string
	}{
		{"timestamps with a zone, naive ones, dates, times and UUIDs",
			[]string{`{"a": "2024-01-14T10:00:00+02:00", "b": "2024-01-14 10:00:00", "c": "2024-01-14", "d": "10:00:00", "e": "6f1c1e2a-1b2c-4d5e-8f90-123456789abc"}`},
			0, []string{"a:TIMESTAMP WITH TIME ZONE", "b:TIMESTAMP WITH TIME ZONE", "c:VARCHAR", "d:VARCHAR", "e:VARCHAR"}},
		{"a field null in every record makes no column",
			[]string{`{"id": 1, "x": null, "o": {"y": null}}`, `{"id": 2, "x": null}`},
			0, []string{"id:BIGINT"}},
		{"the first value types the column; others coerce or go to variants",
			[]string{`{"n": 1, "f": 1.5, "s": "a"}`, `{"n": "abc", "f": 2, "s": 3}`, `{"n": 2.5}`},
			0, []string{"n:BIGINT coerce=bigint", "n__v_double:DOUBLE coerce=bigint variant=double", "n__v_text:VARCHAR coerce=bigint variant=text",
				"f:DOUBLE", "s:VARCHAR coerce=text"}},
		{"a timestamp column takes dates, not other text",
			[]string{`{"t": "2024-01-14T10:00:00Z"}`, `{"t": "2024-01-15"}`, `{"t": "soon"}`},
			0, []string{"t:TIMESTAMP WITH TIME ZONE coerce=timestamp", "t__v_text:VARCHAR coerce=timestamp variant=text"}},
		{"lists at every depth are child tables; empty ones none",
			[]string{`{"l": [{"k": 1, "sub": [{"z": [1, 2]}]}], "e": [], "s": ["a"]}`},
			0, []string{`l:STRUCT("k" BIGINT, "sub" STRUCT("z" BIGINT[])[])[] {k:BIGINT, sub:STRUCT("z" BIGINT[])[] {z:BIGINT[] {value:BIGINT}}}`, "s:VARCHAR[] {value:VARCHAR}"}},
		{"a list of nulls still makes rows (the writer leaves the empty value column out)",
			[]string{`{"l": [null, null]}`},
			0, []string{"l:JSON[] {value:JSON}"}},
		{"a list of lists: the inner lists are rows of <table>__list",
			[]string{`{"g": [[1, 2], [3]]}`},
			0, []string{"g:BIGINT[][] {list:BIGINT[] {value:BIGINT}}"}},
		{"an object in some records and a scalar in others",
			[]string{`{"m": 1}`, `{"m": {"x": 1}}`},
			0, []string{"m:BIGINT coerce=bigint", "m__x:BIGINT coerce=bigint"}},
		{"max_table_nesting 1: nested objects below the first level stay JSON",
			[]string{`{"o": {"a": 1, "b": {"c": 1}}, "l": [{"k": {"j": 1}}]}`},
			1, []string{"o__a:BIGINT", "o__b:JSON", `l:STRUCT("k" JSON)[] {k:JSON}`}},
		{"max_table_nesting 0: every object and list stays JSON",
			[]string{`{"o": {"a": 1}, "l": [1], "e": []}`},
			NoNesting, []string{"o:JSON", "l:JSON", "e:JSON"}},
		{"past the limit a scalar column holds objects in a __v_json variant",
			[]string{`{"m": 1}`, `{"m": {"x": 1}}`},
			NoNesting, []string{"m:BIGINT coerce=bigint", "m__v_json:JSON coerce=bigint variant=json"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r.ndjson")
			if err := os.WriteFile(path, []byte(strings.Join(tc.records, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			var s Shape
			for _, r := range tc.records {
				s.Observe([]byte(r))
			}
			_, cols := s.Plan(describe(t, db, path, -1), tc.nesting)
			var got []string
			for _, c := range cols {
				got = append(got, colDesc(c))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}
