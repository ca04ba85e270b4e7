package warehouse

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/dangohq/dango/batch"
)

// DuckDB refuses to commit an ALTER TABLE of a table the same transaction deleted rows from
// ("another transaction has altered this table"). Every load that empties or deletes from a
// table and then changes its columns must still commit, with the rows and types it promises.
func TestSchemaChangeAfterDeleteCommits(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name        string
		disposition string
		key         []string
		first       string
		firstCols   []batch.Column
		// second load: two batches, the second one changes the columns
		b1, b2     string
		b1Cols     []batch.Column
		b2Cols     []batch.Column
		wantRows   int64
		wantTypes  map[string]string
		wantValues string // id=value pairs ordered by id
	}{
		{
			name: "replace gains a column and widens a type", disposition: batch.Replace,
			first: "id,n\n1,1\n2,2\n", firstCols: []batch.Column{col("id", "INTEGER"), col("n", "INTEGER")},
			b1: "id,n\n3,3\n", b1Cols: []batch.Column{col("id", "INTEGER"), col("n", "INTEGER")},
			b2: "id,n,extra\n4,5000000000,x\n", b2Cols: []batch.Column{col("id", "INTEGER"), col("n", "BIGINT"), col("extra", "VARCHAR")},
			wantRows: 2, wantTypes: map[string]string{"n": "BIGINT", "extra": "VARCHAR"}, wantValues: "3=3,4=5000000000",
		},
		{
			name: "replace whose only batch gains a column", disposition: batch.Replace,
			first: "id,n\n1,1\n", firstCols: []batch.Column{col("id", "INTEGER"), col("n", "INTEGER")},
			b1: "id,n,extra\n7,7,y\n", b1Cols: []batch.Column{col("id", "INTEGER"), col("n", "INTEGER"), col("extra", "VARCHAR")},
			wantRows: 1, wantTypes: map[string]string{"extra": "VARCHAR"}, wantValues: "7=7",
		},
		{
			name: "merge deletes old versions, then a batch widens", disposition: batch.Merge, key: []string{"id"},
			first: "id,n\n1,1\n2,2\n", firstCols: []batch.Column{col("id", "INTEGER"), col("n", "INTEGER")},
			b1: "id,n\n1,10\n", b1Cols: []batch.Column{col("id", "INTEGER"), col("n", "INTEGER")},
			b2: "id,n,extra\n2,9000000000,z\n", b2Cols: []batch.Column{col("id", "INTEGER"), col("n", "BIGINT"), col("extra", "VARCHAR")},
			wantRows: 2, wantTypes: map[string]string{"n": "BIGINT", "extra": "VARCHAR"}, wantValues: "1=10,2=9000000000",
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
			res := batch.Resource{Name: "items", Table: "items", Disposition: tc.disposition, PrimaryKey: tc.key}
			mk := func(name, content string, cols []batch.Column) batch.Batch {
				b := csvBatch(t, dir, name, content, cols...)
				b.Resource = res
				b.Scan.Options = map[string]any{"header": true}
				return b
			}
			load := func(id string, batches ...batch.Batch) error {
				ld, err := w.Begin(ctx, LoadInfo{LoadID: id, Source: "s", Schema: "raw_s"})
				if err != nil {
					return err
				}
				for i, b := range batches {
					if _, _, err := ld.Apply(ctx, fmt.Sprintf("%s/1/%d", id, i+1), b); err != nil {
						ld.Rollback()
						return err
					}
				}
				_, err = ld.Commit(ctx, []batch.Resource{res})
				return err
			}
			if err := load("1.1", mk("first.csv", tc.first, tc.firstCols)); err != nil {
				t.Fatal(err)
			}
			second := []batch.Batch{mk("b1.csv", tc.b1, tc.b1Cols)}
			if tc.b2 != "" {
				second = append(second, mk("b2.csv", tc.b2, tc.b2Cols))
			}
			if err := load("1.2", second...); err != nil {
				t.Fatalf("second load: %v", err)
			}
			if n := count(t, w, "SELECT count(*) FROM raw_s.items"); n != tc.wantRows {
				t.Errorf("rows = %d, want %d", n, tc.wantRows)
			}
			for c, want := range tc.wantTypes {
				var got string
				if err := w.DB().QueryRow("SELECT data_type FROM information_schema.columns WHERE table_schema='raw_s' AND table_name='items' AND column_name=?", c).Scan(&got); err != nil || got != want {
					t.Errorf("column %s: type %q (%v), want %s", c, got, err, want)
				}
			}
			var vals string
			if err := w.DB().QueryRow("SELECT string_agg(id || '=' || n, ',' ORDER BY id) FROM raw_s.items").Scan(&vals); err != nil || vals != tc.wantValues {
				t.Errorf("values %q (%v), want %q", vals, err, tc.wantValues)
			}
			// _dlt_load_id and _dlt_id keep their NOT NULL constraints through a rebuild, as in
			// dlt; _dlt_extracted_at, which dlt does not write, may be NULL.
			if n := count(t, w, "SELECT count(*) FROM information_schema.columns WHERE table_schema='raw_s' AND table_name='items' AND column_name IN ('_dlt_load_id', '_dlt_id') AND is_nullable='NO'"); n != 2 {
				t.Errorf("NOT NULL _dlt_load_id/_dlt_id after the load = %d, want 2", n)
			}
			if n := count(t, w, "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '_dango_rebuild_%'"); n != 0 {
				t.Errorf("a rebuild left %d helper tables", n)
			}
			// A third sync of the same shape still commits.
			if err := load("1.3", second...); err != nil {
				t.Fatalf("third load: %v", err)
			}
		})
	}
}
