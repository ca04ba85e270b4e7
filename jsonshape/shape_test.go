package jsonshape

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/dangohq/dango/batch"
)

// describe asks DuckDB for the columns of an NDJSON file typed from sample records.
func describe(t *testing.T, db *sql.DB, path string, sample int) []batch.ReaderColumn {
	t.Helper()
	rows, err := db.Query(fmt.Sprintf("DESCRIBE SELECT * FROM read_json('%s', format = 'newline_delimited', sample_size = %d)", path, sample))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []batch.ReaderColumn
	for rows.Next() {
		var name, typ string
		var a, b, c, d any
		if err := rows.Scan(&name, &typ, &a, &b, &c, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, batch.ReaderColumn{Name: name, Type: typ})
	}
	return out
}

// TestFitsAgainstDuckDB checks the package's promise on real DuckDB: when Fits accepts the
// columns typed from SampleSize records, they are exactly the columns typed from every
// record; and each kind of late change is caught.
func TestFitsAgainstDuckDB(t *testing.T) {
	const n = 3000 // > minSample, so late records are outside the sample
	uniform := func(i int) string {
		return fmt.Sprintf(`{"id": %d, "email": "u%d@example.com", "amount": %d.5, "paid": %t, "day": "2024-01-%02d", `+
			`"at": "2024-01-01T10:%02d:00Z", "naive": "2024-01-01 10:00:%02d.123", "addr": {"city": "Lisbon", "zip": "%d"}, `+
			`"tags": ["a", "b"], "items": [{"sku": "x", "qty": %d}], "note": null}`,
			i, i, i, i%2 == 0, i%28+1, i%60, i%60, 1000+i, i%7)
	}
	// fits: whether the columns typed from the first minSample records fit the shape.
	// bySample: the change is one Fits cannot see in those columns (a new ISO form, a value
	// in a null-only column); SampleSize must reach it instead.
	cases := []struct {
		name     string
		late     string // replaces record n-10; "" keeps the file uniform
		fits     bool
		bySample bool
	}{
		{"uniform records", "", true, false},
		{"a late top-level key", `{"id": 1, "late": "surprise"}`, false, false},
		{"a late nested key", `{"id": 1, "addr": {"city": "Porto", "street": "Rua"}}`, false, false},
		{"a late key inside a list of objects", `{"id": 1, "items": [{"sku": "y", "qty": 1, "price": 2.5}]}`, false, false},
		{"an integer column gets a fraction", `{"id": 1.5}`, false, false},
		{"an integer column gets a string", `{"id": "x1"}`, false, false},
		{"a date column gets text", `{"id": 1, "day": "soon"}`, false, false},
		{"a date column gets an impossible date", `{"id": 1, "day": "2024-02-30"}`, false, false},
		{"a timestamp column gets another ISO form", `{"id": 1, "at": "2024-01-01T10:00:00"}`, true, true},
		{"a null-only column gets a value", `{"id": 1, "note": "now set"}`, true, true},
		{"a struct column gets a scalar", `{"id": 1, "addr": "Lisbon"}`, false, false},
		{"a list gets a scalar", `{"id": 1, "tags": "a"}`, false, false},
		{"a double column gets an integer", `{"id": 1, "amount": 3}`, true, false},
		{"a text column gets a date", `{"id": 1, "email": "2024-01-01"}`, true, false},
		{"nulls anywhere", `{"id": null, "email": null, "addr": null, "tags": null, "items": [null]}`, true, false},
		{"fewer keys", `{"id": 7}`, true, false},
		{"a huge integer", `{"id": 123456789012345678901234567890}`, false, false},
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := t.TempDir()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var sb strings.Builder
			sh := &Shape{}
			for r := 0; r < n; r++ {
				line := uniform(r)
				if r == n-10 && tc.late != "" {
					line = tc.late
				}
				sb.WriteString(line + "\n")
				sh.Observe([]byte(line))
			}
			path := filepath.Join(dir, fmt.Sprintf("c%d.jsonl", i))
			if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			if (!tc.fits || tc.bySample) && sh.SampleSize() < n-9 {
				t.Errorf("SampleSize = %d, want it to reach the late record %d", sh.SampleSize(), n-10)
			}
			sampled := describe(t, db, path, minSample)
			if got := sh.Fits(sampled); got != tc.fits {
				t.Errorf("Fits(columns typed from %d records) = %v, want %v\n%v", minSample, got, tc.fits, sampled)
			}
			// What the loader does: type from SampleSize records, keep them when they fit.
			typed := describe(t, db, path, sh.SampleSize())
			full := describe(t, db, path, -1)
			if sh.Fits(typed) && !reflect.DeepEqual(typed, full) {
				t.Errorf("Fits accepted columns that differ from typing every record:\nsampled %v\nfull    %v", typed, full)
			}
			if !sh.Fits(typed) && tc.fits && !tc.bySample {
				t.Errorf("Fits rejected the columns typed from SampleSize (%d) records: %v", sh.SampleSize(), typed)
			}
		})
	}
}

func TestSampleSizeAndMerge(t *testing.T) {
	var whole, a, b Shape
	recs := []string{`{"a": 1}`, `{"a": 2}`, `{"a": 3, "b": "x"}`, `{"a": 4}`}
	for i, r := range recs {
		whole.Observe([]byte(r))
		if i < 2 {
			a.Observe([]byte(r))
		} else {
			b.Observe([]byte(r))
		}
	}
	if whole.last != 2 {
		t.Errorf("last growth = %d, want 2", whole.last)
	}
	a.Merge(&b)
	if a.Records() != 4 || a.last < 2 {
		t.Errorf("merged: %d records, last growth %d; want 4 and at least 2", a.Records(), a.last)
	}
	if !reflect.DeepEqual(a.root, whole.root) {
		t.Errorf("merged shape differs from observing in one go")
	}
	if whole.SampleSize() != minSample {
		t.Errorf("SampleSize = %d, want the floor %d", whole.SampleSize(), minSample)
	}
	var broken Shape
	broken.Observe([]byte(`{"a": `))
	if broken.Fits([]batch.ReaderColumn{{Name: "a", Type: "BIGINT"}}) {
		t.Error("a shape with a malformed record vouched for a schema")
	}
}

func TestStringKind(t *testing.T) {
	for s, want := range map[string]kind{
		"2024-01-31": kDate, "2024-02-29": kDate, "2023-02-29": kString, "2024-13-01": kString,
		"2024-01-31T10:00:00": kTSNaive, "2024-01-31 10:00:00.123456": kTSNaive,
		"2024-01-31T10:00:00Z": kTSZone, "2024-01-31T10:00:00.5+02:00": kTSZone, "2024-01-31T10:00:00+0200": kTSZone,
		"2024-01-31T10:00:00-03": kTSZone, "2024-01-31T10:00": kTSNaive, "2024-01-31 10:00": kTSNaive, "2024-01-31T10:00Z": kString,
		"2024-01-31T10:00:00+2": kString, "2024-01-31T10:00:00+02000": kString,
		"2024-01-31T24:00:00": kString, "hello": kString, "12345678901": kString, "2024-01-31x": kString,
	} {
		if got := stringKind([]byte(s)); got != want {
			t.Errorf("stringKind(%q) = %b, want %b", s, got, want)
		}
	}
}

func TestDepthLimit(t *testing.T) {
	nest := func(open, close string, n int) []byte {
		return []byte(strings.Repeat(open, n) + "1" + strings.Repeat(close, n))
	}
	cases := []struct {
		name  string
		rec   []byte
		limit int
		deep  bool
	}{
		{"objects at the default limit", nest(`{"a":`, "}", DefaultMaxDepth), 0, false},
		{"objects past the default limit", nest(`{"a":`, "}", DefaultMaxDepth+1), 0, true},
		{"10,000 levels of objects", nest(`{"a":`, "}", 10000), 0, true},
		{"10,000 levels of lists", append([]byte(`{"a":`), append(nest("[", "]", 10000), '}')...), 0, true},
		{"mixed, custom limit", nest(`{"a":[`, "]}", 3), 5, true},
		{"mixed within a custom limit", nest(`{"a":[`, "]}", 3), 6, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &Shape{MaxDepth: c.limit}
			end, err := s.ObserveAt(c.rec, 0)
			var de *DepthError
			if got := errors.As(err, &de); got != c.deep {
				t.Fatalf("err = %v, want a DepthError: %v", err, c.deep)
			}
			if c.deep {
				want := c.limit
				if want == 0 {
					want = DefaultMaxDepth
				}
				if de.Limit != want || !strings.Contains(err.Error(), "max_json_depth") {
					t.Fatalf("err = %v, want limit %d named", err, want)
				}
				if s.Fits(nil) {
					t.Fatal("a refused record leaves the shape vouching for a schema")
				}
			} else if end != len(c.rec) {
				t.Fatalf("ended at %d of %d", end, len(c.rec))
			}
		})
	}
	// Depth is tracked per record: many shallow records in a row never add up.
	s := &Shape{MaxDepth: 3}
	for i := 0; i < 100; i++ {
		if _, err := s.ObserveAt([]byte(`{"a":{"b":[1]}}`), 0); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
}

func TestCheckDepth(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		deep bool
	}{
		{`{"a": [1, {"b": 2}]}`, 3, false},
		{`{"a": [1, {"b": 2}]}`, 2, true},
		{`{"s": "[[[[[[\"{{{{"}`, 1, false}, // brackets inside strings do not count
		{`[[]][[]][[]]`, 2, false},          // depth is not cumulative
		{strings.Repeat("[", 10000) + strings.Repeat("]", 10000), 0, true},
		{strings.Repeat("[", DefaultMaxDepth) + strings.Repeat("]", DefaultMaxDepth), 0, false},
	}
	for _, c := range cases {
		err := CheckDepth([]byte(c.in), c.max)
		var de *DepthError
		if errors.As(err, &de) != c.deep {
			t.Errorf("CheckDepth(%.40q, %d) = %v, want deep %v", c.in, c.max, err, c.deep)
		}
	}
}
