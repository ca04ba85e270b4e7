package file_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
	_ "github.com/dangohq/dango/connectors/file"
)

type capture struct {
	batches []batch.Batch
	logs    []string
}

func (c *capture) Emit(_ context.Context, b batch.Batch) error {
	c.batches = append(c.batches, b)
	return nil
}
func (c *capture) Logf(f string, a ...any) { c.logs = append(c.logs, fmt.Sprintf(f, a...)) }
func (c *capture) Progress(int64, int64)   {}

// extract runs a source of the given type and settings in dir and returns its one batch.
func extract(t *testing.T, dir, typ string, settings config.Values) (batch.Batch, *capture, error) {
	t.Helper()
	spec, ok := connectors.Default.Spec(typ)
	if !ok {
		t.Fatalf("type %s not registered", typ)
	}
	for _, f := range spec.Fields { // defaults, as config would fill them
		if _, set := settings[f.Name]; !set && f.Default != nil {
			settings[f.Name] = f.Default
		}
	}
	c, err := connectors.Default.New(connectors.Job{Source: config.Source{Name: "src", Type: typ, Settings: settings}, ProjectRoot: dir})
	if err != nil {
		t.Fatal(err)
	}
	cap := &capture{}
	err = c.Extract(context.Background(), cap)
	if err != nil {
		return batch.Batch{}, cap, err
	}
	if len(cap.batches) != 1 {
		t.Fatalf("want 1 batch, got %d", len(cap.batches))
	}
	return cap.batches[0], cap, nil
}

// read runs the batch's column expressions over its reader in DuckDB, as the writer does.
func read(t *testing.T, b batch.Batch) []map[string]string {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var exprs []string
	for _, c := range b.Scan.Columns {
		exprs = append(exprs, c.Expr()+"::VARCHAR")
	}
	reader, err := b.Scan.ReaderSQL()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query("SELECT " + strings.Join(exprs, ", ") + " FROM " + reader)
	if err != nil {
		t.Fatalf("read: %v\n%s", err, reader)
	}
	defer rows.Close()
	var out []map[string]string
	for rows.Next() {
		vals := make([]sql.NullString, len(exprs))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for i, c := range b.Scan.Columns {
			if vals[i].Valid {
				m[c.Name] = vals[i].String
			} else {
				m[c.Name] = "NULL"
			}
		}
		out = append(out, m)
	}
	return out
}

func write(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	p := filepath.Join(dir, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func colNames(b batch.Batch) string {
	var n []string
	for _, c := range b.Scan.Columns {
		n = append(n, c.Name)
	}
	return strings.Join(n, ",")
}

func TestFormats(t *testing.T) {
	cases := []struct {
		name     string
		files    map[string][]byte
		typ      string
		settings config.Values
		cols     string
		rows     int
		check    map[int]map[string]string // row index → column → value
		log      string
	}{
		{
			name:     "csv with BOM, semicolons, quoted newline, header names normalized",
			files:    map[string][]byte{"in.csv": []byte("\xEF\xBB\xBFOrder ID;Customer Name;Note\n1;Ann;\"two\nlines\"\n2;Bob;\"say \"\"hi\"\"\"\n")},
			typ:      "csv",
			settings: config.Values{"path": "in.csv", "delimiter": ";"},
			cols:     "order_id,customer_name,note",
			rows:     2,
			check:    map[int]map[string]string{0: {"order_id": "1", "note": "two\nlines"}, 1: {"note": `say "hi"`}},
			log:      "Reading CSV: in.csv",
		},
		{
			name:     "csv latin-1",
			files:    map[string][]byte{"l1.csv": []byte("name,city\nM\xfcller,K\xf6ln\n")},
			typ:      "csv",
			settings: config.Values{"path": "l1.csv", "encoding": "latin-1"},
			cols:     "name,city",
			rows:     1,
			check:    map[int]map[string]string{0: {"name": "Müller", "city": "Köln"}},
		},
		{
			name:     "csv without header, null values",
			files:    map[string][]byte{"nh.csv": []byte("1,NA\n2,x\n")},
			typ:      "csv",
			settings: config.Values{"path": "nh.csv", "header": false, "null_values": []string{"NA"}},
			cols:     "column0,column1",
			rows:     2,
			check:    map[int]map[string]string{0: {"column1": "NULL"}, 1: {"column1": "x"}},
		},
		{
			name:     "csv quoted field after the sniff sample",
			files:    map[string][]byte{"late.csv": []byte("id,v\n" + strings.Repeat("1,a\n", 30000) + "2,\"b,c\"\n")},
			typ:      "csv",
			settings: config.Values{"path": "late.csv"},
			cols:     "id,v",
			rows:     30001,
			check:    map[int]map[string]string{30000: {"v": "b,c"}},
		},
		{
			name:     "csv column_types, date_format",
			files:    map[string][]byte{"t.csv": []byte("zip,day\n01234,31/12/2024\n")},
			typ:      "csv",
			settings: config.Values{"path": "t.csv", "column_types": map[string]any{"zip": "VARCHAR"}, "date_format": "%d/%m/%Y"},
			cols:     "zip,day",
			rows:     1,
			check:    map[int]map[string]string{0: {"zip": "01234", "day": "2024-12-31"}},
		},
		{
			name:     "csv all_varchar",
			files:    map[string][]byte{"v.csv": []byte("n\n007\n")},
			typ:      "csv",
			settings: config.Values{"path": "v.csv", "all_varchar": true},
			cols:     "n",
			rows:     1,
			check:    map[int]map[string]string{0: {"n": "007"}},
		},
		{
			name: "folder of csv files unioned by name, other files ignored",
			files: map[string][]byte{
				"d/a.csv":       []byte("id,name\n1,a\n"),
				"d/sub/b.csv":   []byte("id,name,extra\n2,b,x\n"),
				"d/readme.md":   []byte("not data"),
				"d/.hidden.csv": []byte("id\n99\n"),
			},
			typ:      "csv",
			settings: config.Values{"path": "d"},
			cols:     "id,name,extra",
			rows:     2,
			log:      "Reading CSV: d (2 files",
		},
		{
			name:     "glob with **",
			files:    map[string][]byte{"g/x/1.csv": []byte("a\n1\n"), "g/y/z/2.csv": []byte("a\n2\n"), "g/3.txt": []byte("a\n3\n")},
			typ:      "csv",
			settings: config.Values{"path": "g/**/*.csv"},
			cols:     "a",
			rows:     2,
		},
		{
			name:     "ndjson with nested objects flattened",
			files:    map[string][]byte{"e.jsonl": []byte(`{"id":1,"userName":"a","address":{"city":"Lyon","geo":{"lat":1.5}}}` + "\n" + `{"id":2,"userName":"b","address":{"city":"Oslo","geo":{"lat":2}}}` + "\n")},
			typ:      "json",
			settings: config.Values{"path": "e.jsonl"},
			cols:     "id,user_name,address__city,address__geo__lat",
			rows:     2,
			check:    map[int]map[string]string{1: {"address__city": "Oslo", "address__geo__lat": "2.0"}},
			log:      "Reading JSON: e.jsonl",
		},
		{
			name:     "ndjson field first seen after the type-detection sample",
			files:    map[string][]byte{"late.jsonl": []byte(strings.Repeat(`{"id": 1}`+"\n", 25000) + `{"id": 2, "late_field": "surprise"}` + "\n")},
			typ:      "json",
			settings: config.Values{"path": "late.jsonl"},
			cols:     "id,late_field",
			rows:     25001,
			check:    map[int]map[string]string{25000: {"late_field": "surprise"}},
		},
		{
			name:     "json array",
			files:    map[string][]byte{"a.json": []byte(`[{"id": 1, "tags": ["x","y"]}, {"id": 2, "tags": []}]`)},
			typ:      "json",
			settings: config.Values{"path": "a.json", "format": "array"},
			cols:     "id,tags",
			rows:     2,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range c.files {
				write(t, dir, name, data)
			}
			b, cap, err := extract(t, dir, c.typ, c.settings)
			if err != nil {
				t.Fatal(err)
			}
			if b.Table != "src" {
				t.Errorf("table = %q", b.Table)
			}
			if got := colNames(b); got != c.cols {
				t.Errorf("columns = %s, want %s", got, c.cols)
			}
			rows := read(t, b)
			if len(rows) != c.rows {
				t.Fatalf("rows = %d, want %d", len(rows), c.rows)
			}
			for i, want := range c.check {
				for col, v := range want {
					if rows[i][col] != v {
						t.Errorf("row %d %s = %q, want %q", i, col, rows[i][col], v)
					}
				}
			}
			if c.log != "" && (len(cap.logs) == 0 || !strings.HasPrefix(cap.logs[0], c.log)) {
				t.Errorf("logs = %q, want prefix %q", cap.logs, c.log)
			}
		})
	}
}

func TestParquet(t *testing.T) {
	dir := t.TempDir()
	db, _ := sql.Open("duckdb", "")
	defer db.Close()
	p := filepath.Join(dir, "p.parquet")
	if _, err := db.Exec(fmt.Sprintf(`COPY (SELECT i AS "Item ID", {'kind': 'k' || i, 'size': i * 2} AS meta, 1.5::DECIMAL(10,2) AS price FROM range(3) t(i)) TO '%s' (FORMAT parquet)`, p)); err != nil {
		t.Fatal(err)
	}
	b, _, err := extract(t, dir, "parquet", config.Values{"path": "p.parquet"})
	if err != nil {
		t.Fatal(err)
	}
	if got := colNames(b); got != "item_id,meta__kind,meta__size,price" {
		t.Fatalf("columns = %s", got)
	}
	if b.Scan.Columns[3].Type != "DECIMAL(10,2)" {
		t.Errorf("price type = %s", b.Scan.Columns[3].Type)
	}
	rows := read(t, b)
	if len(rows) != 3 || rows[2]["meta__kind"] != "k2" || rows[2]["meta__size"] != "4" {
		t.Fatalf("rows = %v", rows)
	}
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "empty/readme.md", []byte("x"))
	write(t, dir, "broken.json", []byte(`{"id": 1,`))
	cases := []struct {
		typ, path, want string
	}{
		{"csv", "data/missing.csv", "file not found: data/missing.csv"},
		{"csv", "empty", "folder empty has no CSV files"},
		{"csv", "nothing/*.csv", "no files match nothing/*.csv"},
		{"json", "broken.json", "broken.json:"},
	}
	for _, c := range cases {
		_, _, err := extract(t, dir, c.typ, config.Values{"path": c.path})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: err = %v, want %q", c.typ, c.path, err, c.want)
		}
	}
}
