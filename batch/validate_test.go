package batch

import (
	"strings"
	"testing"
	"time"
)

func TestParseTypeRendersFromTheParsedForm(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"VARCHAR", "VARCHAR"},
		{"varchar", "VARCHAR"},
		{"TEXT", "VARCHAR"},
		{"VARCHAR(255)", "VARCHAR"},
		{"INT", "INTEGER"},
		{"int8", "BIGINT"},
		{"TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE"},
		{"TIMESTAMP WITH TIME ZONE", "TIMESTAMP WITH TIME ZONE"},
		{"timestamp  with time zone", "TIMESTAMP WITH TIME ZONE"},
		{"TIME WITH TIME ZONE", "TIME WITH TIME ZONE"},
		{"TIMESTAMP_NS", "TIMESTAMP_NS"},
		{"DECIMAL", "DECIMAL(18,3)"},
		{"DECIMAL(38,9)", "DECIMAL(38,9)"},
		{"NUMERIC(5)", "DECIMAL(5,0)"},
		{"decimal(12, 4)", "DECIMAL(12,4)"},
		{"VARCHAR[]", "VARCHAR[]"},
		{"INTEGER[][]", "INTEGER[][]"},
		{"DOUBLE[3]", "DOUBLE[3]"},
		{"STRUCT(a INTEGER)", `STRUCT("a" INTEGER)`},
		{`STRUCT("b c" VARCHAR, d STRUCT(e DOUBLE))`, `STRUCT("b c" VARCHAR, "d" STRUCT("e" DOUBLE))`},
		{`STRUCT("say ""hi""" VARCHAR)`, `STRUCT("say ""hi""" VARCHAR)`},
		{`STRUCT("x'); DROP TABLE t; --" BIGINT)`, `STRUCT("x'); DROP TABLE t; --" BIGINT)`},
		{"STRUCT(id BIGINT, tags VARCHAR[])[]", `STRUCT("id" BIGINT, "tags" VARCHAR[])[]`},
		{"MAP(VARCHAR, BIGINT)", "MAP(VARCHAR, BIGINT)"},
		{"MAP(VARCHAR, STRUCT(a JSON))", `MAP(VARCHAR, STRUCT("a" JSON))`},
		{"STRUCT(Ünïcode VARCHAR)", `STRUCT("Ünïcode" VARCHAR)`},
	} {
		got, err := SQLType(tc.in)
		if err != nil {
			t.Errorf("SQLType(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("SQLType(%q) = %q, want %q", tc.in, got, tc.want)
		}
		// The rendering parses back to itself.
		if again, err := SQLType(got); err != nil || again != got {
			t.Errorf("SQLType(%q) = %q, %v; not a fixed point", got, again, err)
		}
	}
}

func TestParseTypeRejectsInjectionAndNonsense(t *testing.T) {
	deep := strings.Repeat("STRUCT(a ", 40) + "INTEGER" + strings.Repeat(")", 40)
	lists := "INTEGER" + strings.Repeat("[]", 40)
	for _, in := range []string{
		"",
		"VARCHAR); COPY (SELECT 1) TO '/tmp/x' --",
		"VARCHAR; DROP TABLE x",
		"VARCHAR -- comment",
		"VARCHAR /* x */",
		"INTEGER DEFAULT 1",
		"VARCHAR COLLATE nocase",
		"VARCHAR\x00",
		"VAR\x00CHAR",
		"STRUCT(\"a\x00\" INTEGER)",
		`STRUCT("a" INTEGER`,
		`STRUCT("a INTEGER)`,
		`STRUCT(a INTEGER, a VARCHAR)`,
		`STRUCT()`,
		"STRUCT(a INTEGER) AS x",
		"ENUM('a', 'b')",
		"UNION(a INTEGER)",
		"DECIMAL(39,0)",
		"DECIMAL(0,0)",
		"DECIMAL(5,6)",
		"DECIMAL(999999999999,1)",
		"DOUBLE[0]",
		"DOUBLE[-1]",
		"DOUBLE[99999999]",
		"MAP(VARCHAR)",
		"'VARCHAR'",
		`"VARCHAR"`,
		"VARCHAR(1); SELECT 1",
		"TIMESTAMP WITH TIME",
		"TIMESTAMP WITH TIME ZONE ZONE",
		"getenv('HOME')",
		deep,
		lists,
		"\xff\xfe",
		strings.Repeat("X", maxTypeLen+1),
	} {
		if got, err := SQLType(in); err == nil {
			t.Errorf("SQLType(%q) = %q, want an error", Short(in), got)
		} else if len(err.Error()) > 400 {
			t.Errorf("error for %s echoes too much: %d bytes", Short(in), len(err.Error()))
		}
	}
}

func TestOptionsAllowlist(t *testing.T) {
	ok := []struct {
		format string
		opts   map[string]any
		want   string
	}{
		{"csv", map[string]any{"header": true, "delim": ";", "skip": float64(2)}, ", delim = ';', header = true, skip = 2"},
		{"csv", map[string]any{"quote": "'"}, ", quote = ''''"},
		{"csv", map[string]any{"nullstr": []any{"", "NA"}}, ", nullstr = ['', 'NA']"},
		{"csv", map[string]any{"nullstr": "NA"}, ", nullstr = 'NA'"},
		{"csv", map[string]any{"types": map[string]any{"zip": "varchar", "n": "DECIMAL(10,2)"}}, ", types = {'n': 'DECIMAL(10,2)', 'zip': 'VARCHAR'}"},
		{"csv", map[string]any{"encoding": "latin-1", "sample_size": float64(-1)}, ", encoding = 'latin-1', sample_size = -1"},
		{"csv", map[string]any{"max_line_size": 2 << 20, "buffer_size": int64(8 << 20)}, ", buffer_size = 8388608, max_line_size = 2097152"},
		{"json", map[string]any{"format": "newline_delimited"}, ", format = 'newline_delimited'"},
		{"parquet", map[string]any{"union_by_name": true}, ", union_by_name = true"},
		{"parquet", nil, ""},
	}
	for _, tc := range ok {
		got, err := OptionsSQL(tc.format, tc.opts)
		if err != nil || got != tc.want {
			t.Errorf("OptionsSQL(%s, %v) = %q, %v; want %q", tc.format, tc.opts, got, err, tc.want)
		}
	}
	bad := []struct {
		format string
		opts   map[string]any
	}{
		{"csv", map[string]any{"header = true); COPY (SELECT 1) TO '/tmp/x' --": true}},
		{"csv", map[string]any{"filename": true}},           // not one dango uses
		{"csv", map[string]any{"compression": "gzip"}},      // not one dango uses
		{"json", map[string]any{"delim": ","}},              // a CSV option on JSON
		{"parquet", map[string]any{"format": "array"}},      // a JSON option on Parquet
		{"csv", map[string]any{"header": "true"}},           // wrong kind
		{"csv", map[string]any{"header": map[string]any{}}}, // wrong kind
		{"csv", map[string]any{"skip": 1.5}},                // not whole
		{"csv", map[string]any{"skip": float64(-3)}},        // out of range
		{"csv", map[string]any{"delim": "; COPY"}},          // too long for a delimiter
		{"csv", map[string]any{"delim": "\x00"}},            // NUL
		{"csv", map[string]any{"dateformat": strings.Repeat("%d", 200)}},
		{"csv", map[string]any{"encoding": "utf-8'); COPY x TO '/tmp/x"}},
		{"json", map[string]any{"format": "records"}},
		{"csv", map[string]any{"nullstr": []any{"a", 1.0}}},
		{"csv", map[string]any{"types": map[string]any{"zip": "VARCHAR); COPY (SELECT 1) TO '/tmp/x' --"}}},
		{"csv", map[string]any{"types": map[string]any{"a\x00": "VARCHAR"}}},
		{"csv", map[string]any{"types": "VARCHAR"}},
		{"xlsx", nil},
		{"csv'); --", nil},
	}
	for _, tc := range bad {
		if got, err := OptionsSQL(tc.format, tc.opts); err == nil {
			t.Errorf("OptionsSQL(%s, %v) = %q, want an error", tc.format, tc.opts, got)
		}
	}
}

func goodBatch() Batch {
	return Batch{Table: "items", ExtractedAt: time.Now(),
		Resource: Resource{Name: "items", Table: "items", Disposition: Append},
		Scan: &Scan{Format: "csv", Files: []string{"/p/.dango/spool/a.csv"},
			ReaderColumns: []ReaderColumn{{Name: "id", Type: "int8"}},
			Columns:       []Column{{Name: "id", Path: []string{"id"}, Type: "INT8"}}}}
}

func TestValidateBatch(t *testing.T) {
	b := goodBatch()
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	if b.Scan.Columns[0].Type != "BIGINT" || b.Scan.ReaderColumns[0].Type != "BIGINT" {
		t.Errorf("types not normalized: %+v %+v", b.Scan.Columns, b.Scan.ReaderColumns)
	}
	for name, mutate := range map[string]func(b *Batch){
		"table with quote": func(b *Batch) { b.Table = `items" ; DROP TABLE x; --` },
		"table upper":      func(b *Batch) { b.Table = "Items" },
		"table empty":      func(b *Batch) { b.Table = "" },
		"resource table":   func(b *Batch) { b.Resource.Table = "a.b" },
		"disposition":      func(b *Batch) { b.Resource.Disposition = "truncate" },
		"primary key NUL":  func(b *Batch) { b.Resource.PrimaryKey = []string{"id\x00"} },
		"cursor empty":     func(b *Batch) { b.Resource.Incremental = &Incremental{} },
		"start huge": func(b *Batch) {
			b.Resource.Incremental = &Incremental{CursorColumn: "id", Start: strings.Repeat("9", 1000)}
		},
		"column name":          func(b *Batch) { b.Scan.Columns[0].Name = `id" VARCHAR); COPY (SELECT 1) TO '/tmp/x' --` },
		"column system":        func(b *Batch) { b.Scan.Columns[0].Name = "_dlt_id" },
		"column twice":         func(b *Batch) { b.Scan.Columns = append(b.Scan.Columns, b.Scan.Columns[0]) },
		"column type":          func(b *Batch) { b.Scan.Columns[0].Type = "VARCHAR); COPY (SELECT 1) TO '/tmp/x' --" },
		"reader type":          func(b *Batch) { b.Scan.ReaderColumns[0].Type = "BIGINT'}); COPY (SELECT 1) TO '/tmp/x' --" },
		"reader name NUL":      func(b *Batch) { b.Scan.ReaderColumns[0].Name = "\x00" },
		"no path":              func(b *Batch) { b.Scan.Columns[0].Path = nil },
		"path NUL":             func(b *Batch) { b.Scan.Columns[0].Path = []string{"a\x00"} },
		"format":               func(b *Batch) { b.Scan.Format = "csv'); --" },
		"option":               func(b *Batch) { b.Scan.Options = map[string]any{"x) TO '/tmp/x": 1.0} },
		"relative file":        func(b *Batch) { b.Scan.Files = []string{"a.csv"} },
		"dotdot file":          func(b *Batch) { b.Scan.Files = []string{"/p/.dango/spool/../../etc/passwd"} },
		"glob file":            func(b *Batch) { b.Scan.Files = []string{"/p/.dango/spool/*"} },
		"url file":             func(b *Batch) { b.Scan.Files = []string{"https://evil.example/x.csv"} },
		"object traversal":     func(b *Batch) { b.Scan.Files = []string{ObjectPrefix + "../x"} },
		"labels without track": func(b *Batch) { b.Scan.Labels = []string{"a.csv"} },
		"track without labels": func(b *Batch) { b.Scan.Track = true },
		"whole without track":  func(b *Batch) { b.Scan.Whole = true },
		"whole of two files": func(b *Batch) {
			b.Scan.Track, b.Scan.Whole = true, true
			b.Scan.Files = append(b.Scan.Files, b.Scan.Files[0]+"2")
			b.Scan.Labels = []string{"a.csv", "b.csv"}
			b.Scan.Versions = make([]FileState, 2)
		},
		"NOT NULL not a bool": func(b *Batch) { b.Scan.Columns[0].Type = "BIGINT NOT NULL" },
	} {
		b := goodBatch()
		mutate(&b)
		if err := b.Validate(); err == nil {
			t.Errorf("%s: batch accepted", name)
		}
	}
}

func TestObjectNames(t *testing.T) {
	n := ObjectName("1.000001", 2, 3, "/data/my file (1).csv")
	if n != "1.000001/2/3-my_file__1_.csv" {
		t.Errorf("ObjectName = %q", n)
	}
	if err := ValidObjectName(n); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "a/b", "a/b/c/d", "../1/x", "1/../x", "1/1/x y", "1/1/\x00"} {
		if ValidObjectName(bad) == nil {
			t.Errorf("ValidObjectName(%q) accepted", bad)
		}
	}
}
