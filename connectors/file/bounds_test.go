package file_test

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/config"
)

// bounded runs extract, failing the test if it does not return within limit (these cases
// never ended before their bounds existed).
func bounded(t *testing.T, limit time.Duration, dir, typ string, s config.Values) (batch.Batch, error) {
	t.Helper()
	type result struct {
		b   batch.Batch
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, _, err := extract(t, dir, typ, s)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-time.After(limit):
		t.Fatalf("still running after %s", limit)
		return batch.Batch{}, nil
	}
}

func TestGlobSurvivesSymlinkLoops(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "data/a/x.csv", []byte("id\n1\n"))
	write(t, dir, "data/a/deeper/y.csv", []byte("id\n2\n"))
	for link, target := range map[string]string{
		"data/a/up":        "..",        // back to data: a loop
		"data/a/deeper/me": ".",         // to itself
		"data/b":           "a",         // the same folder under another name: read once
		"data/dangling":    "nowhere/x", // broken link: ignored
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, pattern := range []string{"data/**/*.csv", "data/**", "**/*.csv"} {
		t.Run(pattern, func(t *testing.T) {
			b, err := bounded(t, 20*time.Second, dir, "csv", config.Values{"path": pattern})
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Scan.Files) != 2 {
				t.Fatalf("files = %v, want x.csv and y.csv once each", b.Scan.Files)
			}
		})
	}
}

func TestMaxFiles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a", "b", "c", "d"} {
		write(t, dir, "many/sub/"+f+".csv", []byte("id\n1\n"))
	}
	for _, path := range []string{"many/**/*.csv", "many/sub/*.csv", "many"} {
		t.Run(path, func(t *testing.T) {
			_, err := bounded(t, 20*time.Second, dir, "csv", config.Values{"path": path, "max_files": int64(3)})
			if err == nil || !strings.Contains(err.Error(), "path "+path+" matches more than 3 files (max_files)") {
				t.Fatalf("err = %v", err)
			}
			if _, err := bounded(t, 20*time.Second, dir, "csv", config.Values{"path": path, "max_files": int64(4)}); err != nil {
				t.Fatalf("4 files with max_files 4: %v", err)
			}
		})
	}
}

func TestJSONFileBounds(t *testing.T) {
	dir := t.TempDir()
	deep := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"id": 1}` + "\n" + deep + "\n"))
	zw.Close()
	write(t, dir, "deep.jsonl", []byte(`{"id": 1}`+"\n"+deep+"\n"))
	write(t, dir, "deep_array.json", []byte(`[{"id": 1}, `+deep+`]`))
	write(t, dir, "deep_lists.json", []byte(`[{"x": `+strings.Repeat("[", 10000)+strings.Repeat("]", 10000)+`}]`))
	write(t, dir, "deep.jsonl.gz", gz.Bytes())
	write(t, dir, "strings.jsonl", []byte(`{"s": "`+strings.Repeat(`{[\"`, 5000)+`"}`+"\n"))
	write(t, dir, "four.jsonl", []byte(`{"a": {"b": {"c": {"d": 1}}}}`+"\n"))
	write(t, dir, "wide.jsonl", []byte(`{"id": 1}`+"\n"+`{"pad": "`+strings.Repeat("x", 3000)+`"}`+"\n"))
	cases := []struct {
		path  string
		extra config.Values
		want  string // "" loads
	}{
		{"deep.jsonl", nil, "file deep.jsonl: JSON nested deeper than 256 levels"},
		{"deep_array.json", nil, "file deep_array.json: JSON nested deeper than 256 levels"},
		{"deep_lists.json", nil, "file deep_lists.json: JSON nested deeper than 256 levels"},
		{"deep.jsonl.gz", nil, "file deep.jsonl.gz: JSON nested deeper than 256 levels"},
		{"*.jsonl", nil, "file deep.jsonl: JSON nested deeper than 256 levels"},
		{"strings.jsonl", nil, ""}, // brackets inside strings do not count
		{"four.jsonl", config.Values{"max_json_depth": int64(3)}, "file four.jsonl: JSON nested deeper than 3 levels at byte 18 (max_json_depth)"},
		{"four.jsonl", config.Values{"max_json_depth": int64(4)}, ""},
		{"wide.jsonl", config.Values{"max_object_size": "1KB"}, "file wide.jsonl: a JSON record starting at byte 10 is larger than 1.0 kB (max_object_size)"},
		{"wide.jsonl", config.Values{"max_object_size": "4KB"}, ""},
	}
	for _, c := range cases {
		t.Run(c.path+c.want, func(t *testing.T) {
			s := config.Values{"path": c.path}
			for k, v := range c.extra {
				s[k] = v
			}
			start := time.Now()
			_, err := bounded(t, 20*time.Second, dir, "json", s)
			switch {
			case c.want == "" && err != nil:
				t.Fatal(err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

// A record above DuckDB's own 16 MiB default loads when max_object_size allows it: the
// limit is handed to DuckDB's reader too.
func TestJSONMaxObjectSizeReachesDuckDB(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	for i := 0; i < 3; i++ {
		b.WriteString(`{"id": 1, "pad": "` + strings.Repeat("x", 100) + `"}` + "\n")
	}
	b.WriteString(`{"id": 2, "pad": "` + strings.Repeat("y", 17<<20) + `"}` + "\n")
	write(t, dir, "big.jsonl", b.Bytes())
	_, err := bounded(t, 60*time.Second, dir, "json", config.Values{"path": "big.jsonl"})
	if err == nil || !strings.Contains(err.Error(), "larger than 16.8 MB (max_object_size)") {
		t.Fatalf("default limit: err = %v", err)
	}
	got, err := bounded(t, 60*time.Second, dir, "json", config.Values{"path": "big.jsonl", "max_object_size": "32MB"})
	if err != nil {
		t.Fatal(err)
	}
	if rows := read(t, got); len(rows) != 4 {
		t.Fatalf("rows = %d", len(rows))
	}
}
