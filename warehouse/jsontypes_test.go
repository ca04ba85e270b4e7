package warehouse

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dangohq/dango/batch"
)

// jsonLoad is one load of an NDJSON file as a connector describes it.
type jsonLoad struct {
	data   string
	reader []batch.ReaderColumn
	cols   []batch.Column
}

func jcol(name, typ string, path ...string) batch.Column {
	if len(path) == 0 {
		path = []string{name}
	}
	return batch.Column{Name: name, Path: path, Type: typ}
}

// coerced is a column the reader yields as JSON, taking the values that coerce into dlt type
// to; variant makes it the variant column of kind v.
func coerced(name, to, v string, path ...string) batch.Column {
	c := jcol(name, batch.DltTypes[to], path...)
	c.Coerce, c.FromJSON = to, true
	if v != "" {
		c.Name, c.Variant, c.Type = name+"__v_"+v, v, batch.DltTypes[v]
	}
	return c
}

// TestJSONBatches applies JSON batches the way jsonshape plans them and checks what the
// tables hold: dlt's coercions and variant columns, within a load and across loads, child
// tables at every depth, no table for a list without elements, merge cleaning nested rows,
// and naive timestamps read as UTC.
func TestJSONBatches(t *testing.T) {
	ctx := context.Background()
	list := func(name, typ string, children ...batch.Column) batch.Column {
		c := jcol(name, typ)
		c.Children = children
		return c
	}
	cases := []struct {
		name        string
		disposition string
		key         []string
		loads       []jsonLoad
		want        map[string]string // query → result
	}{
		{
			name: "values that do not coerce go to variant columns; empty variants are not created",
			loads: []jsonLoad{{
				data:   `{"n": 1}` + "\n" + `{"n": "123"}` + "\n" + `{"n": "12.5"}` + "\n" + `{"n": 3.0}` + "\n" + `{"n": true}` + "\n",
				reader: []batch.ReaderColumn{{Name: "n", Type: "JSON"}},
				cols: []batch.Column{coerced("n", "bigint", ""), coerced("n", "bigint", "double"), coerced("n", "bigint", "text"),
					coerced("n", "bigint", "bool")},
			}},
			want: map[string]string{
				"SELECT string_agg(coalesce(n::VARCHAR, '-'), ',' ORDER BY n NULLS LAST) FROM raw.items":                     "1,3,123,-,-",
				"SELECT string_agg(n__v_text, ',') FROM raw.items":                                                           "12.5",
				"SELECT string_agg(n__v_bool::VARCHAR, ',') FROM raw.items":                                                  "true",
				"SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'n__v_double'": "0",
			},
		},
		{
			name: "an integer beyond 64 bits in a bigint column goes to the double variant",
			loads: []jsonLoad{{
				data:   `{"n": 1}` + "\n" + `{"n": 18446744073709551615}` + "\n",
				reader: []batch.ReaderColumn{{Name: "n", Type: "JSON"}},
				cols:   []batch.Column{coerced("n", "bigint", ""), coerced("n", "bigint", "double")},
			}},
			want: map[string]string{
				"SELECT count(n) || '/' || count(n__v_double) || '/' || max(n__v_double) FROM raw.items": "1/1/1.8446744073709552e+19",
			},
		},
		{
			name: "a column keeps its type in later loads: text into bool coerces, other text is a variant",
			loads: []jsonLoad{
				{data: `{"id": 1, "b": true}` + "\n", reader: []batch.ReaderColumn{{Name: "id", Type: "BIGINT"}, {Name: "b", Type: "BOOLEAN"}},
					cols: []batch.Column{jcol("id", "BIGINT"), jcol("b", "BOOLEAN")}},
				{data: `{"id": 2, "b": "no"}` + "\n" + `{"id": 3, "b": "maybe"}` + "\n", reader: []batch.ReaderColumn{{Name: "id", Type: "BIGINT"}, {Name: "b", Type: "VARCHAR"}},
					cols: []batch.Column{jcol("id", "BIGINT"), jcol("b", "VARCHAR")}},
			},
			want: map[string]string{
				"SELECT data_type FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'b'": "BOOLEAN",
				"SELECT string_agg(id || '=' || coalesce(b::VARCHAR, b__v_text), ',' ORDER BY id) FROM raw.items":   "1=true,2=false,3=maybe",
			},
		},
		{
			name: "naive ISO timestamps are UTC, zoned ones at their instant",
			loads: []jsonLoad{{
				data:   `{"t": "2024-01-14T10:00:00"}` + "\n" + `{"t": "2024-01-14T10:00:00+02:00"}` + "\n",
				reader: []batch.ReaderColumn{{Name: "t", Type: "TIMESTAMP WITH TIME ZONE"}},
				cols:   []batch.Column{jcol("t", "TIMESTAMP WITH TIME ZONE")},
			}},
			want: map[string]string{
				"SELECT string_agg(strftime(t AT TIME ZONE 'UTC', '%H:%M'), ',' ORDER BY t) FROM raw.items": "08:00,10:00",
			},
		},
		{
			name: "lists inside list elements reach their own tables; a list without elements makes none",
			loads: []jsonLoad{{
				data: `{"id": 1, "l": [{"k": 1, "sub": [{"z": 1}, {"z": 2}]}], "e": []}` + "\n" + `{"id": 2, "l": [], "e": []}` + "\n",
				reader: []batch.ReaderColumn{{Name: "id", Type: "BIGINT"}, {Name: "l", Type: "STRUCT(k BIGINT, sub STRUCT(z BIGINT)[])[]"},
					{Name: "e", Type: "BIGINT[]"}},
				cols: []batch.Column{jcol("id", "BIGINT"),
					list("l", "STRUCT(k BIGINT, sub STRUCT(z BIGINT)[])[]", jcol("k", "BIGINT", "__elem", "k"),
						batch.Column{Name: "sub", Path: []string{"__elem", "sub"}, Type: "STRUCT(z BIGINT)[]", Children: []batch.Column{jcol("z", "BIGINT", "__elem", "z")}}),
					list("e", "BIGINT[]", jcol("value", "BIGINT", "__elem"))},
			}},
			want: map[string]string{
				"SELECT count(*) FROM raw.items__l": "1",
				"SELECT string_agg(z::VARCHAR, ',' ORDER BY z) FROM raw.items__l__sub s JOIN raw.items__l l ON s._dlt_parent_id = l._dlt_id JOIN raw.items i ON l._dlt_parent_id = i._dlt_id WHERE i.id = 1": "1,2",
				"SELECT count(*) FROM information_schema.tables WHERE table_name = 'items__e'":                                                                                                               "0",
			},
		},
		{
			name: "replace empties the child tables of lists the new load no longer holds", disposition: batch.Replace,
			loads: []jsonLoad{
				{data: `{"id": 1, "m": [7, 8]}` + "\n", reader: []batch.ReaderColumn{{Name: "id", Type: "BIGINT"}, {Name: "m", Type: "BIGINT[]"}},
					cols: []batch.Column{jcol("id", "BIGINT"), list("m", "BIGINT[]", jcol("value", "BIGINT", "__elem"))}},
				{data: `{"id": 2}` + "\n", reader: []batch.ReaderColumn{{Name: "id", Type: "BIGINT"}}, cols: []batch.Column{jcol("id", "BIGINT")}},
			},
			want: map[string]string{
				"SELECT count(*) || '/' || max(id) FROM raw.items": "1/2",
				"SELECT count(*) FROM raw.items__m":                "0",
			},
		},
		{
			name: "merge replaces a row's nested rows at every depth, also of lists the new batch lacks", disposition: batch.Merge, key: []string{"id"},
			loads: []jsonLoad{
				{data: `{"id": 1, "l": [{"sub": [{"z": 1}]}], "m": [7]}` + "\n" + `{"id": 2, "l": [{"sub": [{"z": 2}]}], "m": [8]}` + "\n",
					reader: []batch.ReaderColumn{{Name: "id", Type: "BIGINT"}, {Name: "l", Type: "STRUCT(sub STRUCT(z BIGINT)[])[]"}, {Name: "m", Type: "BIGINT[]"}},
					cols: []batch.Column{jcol("id", "BIGINT"),
						list("l", "STRUCT(sub STRUCT(z BIGINT)[])[]",
							batch.Column{Name: "sub", Path: []string{"__elem", "sub"}, Type: "STRUCT(z BIGINT)[]", Children: []batch.Column{jcol("z", "BIGINT", "__elem", "z")}}),
						list("m", "BIGINT[]", jcol("value", "BIGINT", "__elem"))}},
				{data: `{"id": 1}` + "\n", reader: []batch.ReaderColumn{{Name: "id", Type: "BIGINT"}}, cols: []batch.Column{jcol("id", "BIGINT")}},
			},
			want: map[string]string{
				"SELECT string_agg(z::VARCHAR, ',') FROM raw.items__l__sub":                                                           "2",
				"SELECT string_agg(value::VARCHAR, ',') FROM raw.items__m":                                                            "8",
				"SELECT count(*) FROM raw.items__l__sub s JOIN raw.items i ON s._dlt_root_id = i._dlt_id WHERE i.id = 2":              "1",
				"SELECT count(*) FROM information_schema.columns WHERE table_name = 'items__l__sub' AND column_name = '_dlt_load_id'": "0",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w, err := Open(ctx, filepath.Join(dir, "w.duckdb"), OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			disp := tc.disposition
			if disp == "" {
				disp = batch.Append
			}
			res := batch.Resource{Name: "items", Table: "items", Disposition: disp, PrimaryKey: tc.key}
			for i, ld := range tc.loads {
				p := filepath.Join(dir, fmt.Sprintf("l%d.ndjson", i))
				if err := os.WriteFile(p, []byte(ld.data), 0o644); err != nil {
					t.Fatal(err)
				}
				b := batch.Batch{Table: "items", Resource: res, ExtractedAt: time.Now(), Scan: &batch.Scan{Format: "json",
					Files: []string{p}, Options: map[string]any{"format": "newline_delimited"}, ReaderColumns: ld.reader, Columns: ld.cols}}
				l, err := w.Begin(ctx, LoadInfo{LoadID: fmt.Sprintf("load%d", i), Source: "s", Schema: "raw"})
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := l.Apply(ctx, fmt.Sprintf("b%d", i), b); err != nil {
					l.Rollback()
					t.Fatalf("load %d: %v", i, err)
				}
				if _, err := l.Commit(ctx, []batch.Resource{res}); err != nil {
					t.Fatalf("load %d: %v", i, err)
				}
			}
			for q, want := range tc.want {
				var got string
				if err := w.DB().QueryRow(q).Scan(&got); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				if strings.TrimSpace(got) != want {
					t.Errorf("%s = %q, want %q", q, got, want)
				}
			}
		})
	}
}
