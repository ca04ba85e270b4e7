package warehouse

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/dangohq/dango/batch"
)

func csvBatch(t *testing.T, dir, name, content string, cols ...batch.Column) batch.Batch {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return batch.Batch{Table: "items", Resource: batch.Resource{Name: "items", Table: "items", Disposition: batch.Append}, ExtractedAt: time.Now(), Scan: &batch.Scan{Format: "csv", Files: []string{p}, Columns: cols}}
}

func col(name, typ string) batch.Column {
	return batch.Column{Name: name, Path: []string{name}, Type: typ}
}

func count(t *testing.T, w *Writer, q string) int64 {
	t.Helper()
	var n int64
	if err := w.DB().QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestLoadCommitRollbackAndDedup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := Open(ctx, filepath.Join(dir, "sub", "w.duckdb"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	b := csvBatch(t, dir, "a.csv", "id,name\n1,a\n2,b\n3,c\n", col("id", "BIGINT"), col("name", "VARCHAR"))

	// A rolled-back load leaves nothing, not even the table.
	ld, err := w.Begin(ctx, LoadInfo{LoadID: "100.1", Source: "s", Schema: "raw_s"})
	if err != nil {
		t.Fatal(err)
	}
	if n, _, err := ld.Apply(ctx, "100.1/1/1", b); err != nil || n != 3 {
		t.Fatalf("apply = %d, %v", n, err)
	}
	ld.Rollback()
	if n := count(t, w, `SELECT count(*) FROM information_schema.tables WHERE table_schema='raw_s' AND table_name='items'`); n != 0 {
		t.Fatal("rolled-back load left its table")
	}

	// A committed load: rows, the three _dlt columns, one _dlt_loads row with status 0.
	ld, _ = w.Begin(ctx, LoadInfo{LoadID: "100.2", Source: "s", Schema: "raw_s"})
	ld.Apply(ctx, "100.2/1/1", b)
	if _, dup, _ := ld.Apply(ctx, "100.2/1/1", b); !dup {
		t.Error("same batch id twice in one load was applied twice")
	}
	res, err := ld.Commit(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 3 || len(res.Tables) != 1 || res.Tables[0].Table != "raw_s.items" {
		t.Errorf("result = %+v", res)
	}
	if n := count(t, w, `SELECT count(*) FROM raw_s.items WHERE _dlt_load_id = '100.2' AND _dlt_id IS NOT NULL AND _dlt_extracted_at IS NOT NULL`); n != 3 {
		t.Errorf("rows with _dlt columns = %d", n)
	}
	if n := count(t, w, `SELECT count(DISTINCT _dlt_id) FROM raw_s.items`); n != 3 {
		t.Errorf("distinct _dlt_id = %d", n)
	}
	if n := count(t, w, `SELECT count(*) FROM raw_s._dlt_loads WHERE load_id = '100.2' AND status = 0 AND schema_name = 's'`); n != 1 {
		t.Errorf("_dlt_loads rows = %d", n)
	}
	if ok, _ := w.LoadCommitted(ctx, "raw_s", "100.2"); !ok {
		t.Error("LoadCommitted = false after commit")
	}

	// A redelivered batch (same id) in a later load is recognised and dropped.
	ld, _ = w.Begin(ctx, LoadInfo{LoadID: "100.3", Source: "s", Schema: "raw_s"})
	if n, dup, err := ld.Apply(ctx, "100.2/1/1", b); err != nil || !dup || n != 0 {
		t.Errorf("redelivered batch: n=%d dup=%v err=%v", n, dup, err)
	}
	// New columns are added; old rows read NULL there.
	b2 := csvBatch(t, dir, "b.csv", "id,name,extra\n4,d,x\n", col("id", "BIGINT"), col("name", "VARCHAR"), col("extra", "VARCHAR"))
	if _, _, err := ld.Apply(ctx, "100.3/1/1", b2); err != nil {
		t.Fatal(err)
	}
	if _, err := ld.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n := count(t, w, `SELECT count(*) FROM raw_s.items`); n != 4 {
		t.Errorf("rows after second load = %d", n)
	}
	if n := count(t, w, `SELECT count(extra) FROM raw_s.items`); n != 1 {
		t.Errorf("extra filled = %d", n)
	}
}

func TestConcurrentLoadsIntoOneSchema(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := Open(ctx, filepath.Join(dir, "w.duckdb"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			b := csvBatch(t, dir, "c"+string(rune('a'+i))+".csv", "id\n1\n2\n", col("id", "BIGINT"))
			b.Table = "t" + string(rune('a'+i))
			ld, err := w.Begin(ctx, LoadInfo{LoadID: "200." + string(rune('a'+i)), Source: b.Table, Schema: "raw_shared"})
			if err != nil {
				errs <- err
				return
			}
			if _, _, err := ld.Apply(ctx, "x/1/1", b); err != nil {
				ld.Rollback()
				errs <- err
				return
			}
			if _, err := ld.Commit(ctx, nil); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := count(t, w, `SELECT count(*) FROM raw_shared._dlt_loads`); n != 8 {
		t.Errorf("loads = %d, want 8", n)
	}
}

func TestBadDataFailsCleanly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, _ := Open(ctx, filepath.Join(dir, "w.duckdb"), OpenOptions{})
	defer w.Close()
	// The column is declared BIGINT but a value is not a number: the load must fail whole.
	p := filepath.Join(dir, "bad.csv")
	os.WriteFile(p, []byte("id\n1\nnot-a-number\n"), 0o644)
	b := batch.Batch{Table: "t", Resource: batch.Resource{Name: "t", Table: "t", Disposition: batch.Append}, ExtractedAt: time.Now(), Scan: &batch.Scan{Format: "csv", Files: []string{p},
		Options: map[string]any{"auto_detect": false, "header": true}, ReaderColumns: []batch.ReaderColumn{{Name: "id", Type: "BIGINT"}},
		Columns: []batch.Column{col("id", "BIGINT")}}}
	ld, _ := w.Begin(ctx, LoadInfo{LoadID: "1.1", Source: "t", Schema: "raw_t"})
	_, _, err := ld.Apply(ctx, "1.1/1/1", b)
	if err == nil {
		t.Fatal("want a conversion error")
	}
	ld.Rollback()
	if n := count(t, w, `SELECT count(*) FROM raw_t._dlt_loads`); n != 0 {
		t.Errorf("failed load recorded: %d", n)
	}
}

func TestFormatValue(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{nil, "NULL"},
		{[]any{int32(1), int32(2)}, "[1,2]"},
		{map[string]any{"b": []any{true}, "a": int64(1)}, `{"a":1,"b":[true]}`},
		{duckdb.Interval{Months: 14, Days: 3, Micros: 14706789000}, "1 year 2 months 3 days 04:05:06.789"},
		{duckdb.Interval{Micros: -5400000000}, "-01:30:00"},
		{duckdb.Interval{}, "00:00:00"},
		{duckdb.Interval{Days: 1}, "1 day"},
	} {
		if got := formatValue(tc.v); got != tc.want {
			t.Errorf("formatValue(%#v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

// TestApplyRefusesForgedBatch: the writer validates every batch itself, whoever sent it, and
// an injected type or option never reaches DuckDB (it would write the marker file).
func TestApplyRefusesForgedBatch(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := Open(ctx, filepath.Join(dir, "w.duckdb"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	marker := filepath.Join(dir, "pwned.csv")
	inject := "); COPY (SELECT 1) TO '" + marker + "' (FORMAT csv); --"
	for name, mutate := range map[string]func(b *batch.Batch){
		"column type": func(b *batch.Batch) { b.Scan.Columns[0].Type = "BIGINT" + inject },
		"reader type": func(b *batch.Batch) {
			b.Scan.ReaderColumns = []batch.ReaderColumn{{Name: "id", Type: "BIGINT'}" + inject}}
		},
		"option key":   func(b *batch.Batch) { b.Scan.Options = map[string]any{"header = true" + inject: true} },
		"option value": func(b *batch.Batch) { b.Scan.Options = map[string]any{"delim": "'" + inject} },
		"column name":  func(b *batch.Batch) { b.Scan.Columns[0].Name = `id" BIGINT` + inject },
		"table":        func(b *batch.Batch) { b.Table = `t" (id BIGINT)` + inject },
		"format":       func(b *batch.Batch) { b.Scan.Format = "csv(['/etc/passwd'])" + inject },
	} {
		b := csvBatch(t, dir, "a.csv", "id\n1\n", col("id", "BIGINT"))
		mutate(&b)
		ld, err := w.Begin(ctx, LoadInfo{LoadID: "1.1", Source: "s", Schema: "raw_s"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := ld.Apply(ctx, "1.1/1/1", b); err == nil {
			t.Errorf("%s: forged batch applied", name)
		}
		ld.Rollback()
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("%s: injected SQL ran", name)
		}
	}
	if _, err := w.Begin(ctx, LoadInfo{LoadID: "1.2", Source: "s", Schema: `raw_s"; COPY (SELECT 1) TO '` + marker + `'; --`}); err == nil {
		t.Error("forged schema accepted")
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("injected SQL ran")
	}
}
