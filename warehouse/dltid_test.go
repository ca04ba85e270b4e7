package warehouse

import (
	"context"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/dangohq/dango/batch"
)

var dltIDRE = regexp.MustCompile(`^[A-Za-z0-9+/]{14}$`)

func columnType(t *testing.T, w *Writer, schema, table, column string) string {
	t.Helper()
	var typ string
	if err := w.DB().QueryRow(`SELECT data_type FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? AND column_name = ?`, schema, table, column).Scan(&typ); err != nil {
		t.Fatalf("%s.%s.%s: %v", schema, table, column, err)
	}
	return typ
}

// TestDltIDIsText: _dlt_id is VARCHAR holding 14 base64 characters, like dlt's, unique per row;
// a child table's _dlt_parent_id is text too.
func TestDltIDIsText(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := Open(ctx, filepath.Join(dir, "w.duckdb"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	b := csvBatch(t, dir, "a.csv", "id,name\n1,a\n2,b\n3,c\n", col("id", "BIGINT"), col("name", "VARCHAR"))
	ld, _ := w.Begin(ctx, LoadInfo{LoadID: "100.1", Source: "s", Schema: "raw_s"})
	if _, _, err := ld.Apply(ctx, "100.1/1/1", b); err != nil {
		t.Fatal(err)
	}
	if _, err := ld.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if typ := columnType(t, w, "raw_s", "items", ColID); typ != "VARCHAR" {
		t.Fatalf("_dlt_id is %s, want VARCHAR as dlt makes it", typ)
	}
	rows, err := w.DB().Query(`SELECT _dlt_id FROM raw_s.items`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		if !dltIDRE.MatchString(id) {
			t.Errorf("_dlt_id %q is not 14 base64 characters like dlt's", id)
		}
		if seen[id] {
			t.Errorf("_dlt_id %q twice", id)
		}
		seen[id] = true
	}
	if len(seen) != 3 {
		t.Errorf("%d ids for 3 rows", len(seen))
	}
}

// TestUUIDIDsMigrate: a table an older dango made, with UUID _dlt_id, keeps loading: its next
// load turns the column into VARCHAR (old ids keep their text form), records the change, and
// the new rows get text ids; _dlt_extracted_at loses its NOT NULL so dlt can append.
func TestUUIDIDsMigrate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := Open(ctx, filepath.Join(dir, "w.duckdb"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, q := range []string{
		`CREATE SCHEMA raw_s`,
		`CREATE TABLE raw_s.items (id BIGINT, name VARCHAR, _dlt_load_id VARCHAR NOT NULL, _dlt_id UUID NOT NULL, _dlt_extracted_at TIMESTAMP WITH TIME ZONE NOT NULL)`,
		`INSERT INTO raw_s.items VALUES (1, 'old', '99.1', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', now())`,
	} {
		if _, err := w.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	b := csvBatch(t, dir, "a.csv", "id,name\n2,b\n", col("id", "BIGINT"), col("name", "VARCHAR"))
	ld, _ := w.Begin(ctx, LoadInfo{LoadID: "100.1", Source: "s", Schema: "raw_s"})
	if _, _, err := ld.Apply(ctx, "100.1/1/1", b); err != nil {
		t.Fatal(err)
	}
	res, err := ld.Commit(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if typ := columnType(t, w, "raw_s", "items", ColID); typ != "VARCHAR" {
		t.Fatalf("_dlt_id is still %s", typ)
	}
	var old, fresh string
	w.DB().QueryRow(`SELECT _dlt_id FROM raw_s.items WHERE id = 1`).Scan(&old)
	w.DB().QueryRow(`SELECT _dlt_id FROM raw_s.items WHERE id = 2`).Scan(&fresh)
	if old != "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" || !dltIDRE.MatchString(fresh) {
		t.Errorf("ids after migration: old %q, new %q", old, fresh)
	}
	found := false
	for _, c := range res.SchemaChanges {
		found = found || (c.Column == ColID && c.OldType == "UUID" && c.NewType == "VARCHAR")
	}
	if !found {
		t.Errorf("migration not reported: %+v", res.SchemaChanges)
	}
	if n := count(t, w, `SELECT count(*) FROM raw_s._dango_schema_changes WHERE column_name = '_dlt_id' AND old_type = 'UUID' AND new_type = 'VARCHAR'`); n != 1 {
		t.Errorf("_dango_schema_changes rows for the migration = %d", n)
	}
	if n := count(t, w, `SELECT count(*) FROM duckdb_columns() WHERE schema_name = 'raw_s' AND table_name = 'items' AND column_name = '_dlt_id' AND NOT is_nullable`); n != 1 {
		t.Error("_dlt_id lost NOT NULL in the migration")
	}
	if n := count(t, w, `SELECT count(*) FROM duckdb_columns() WHERE schema_name = 'raw_s' AND table_name = 'items' AND column_name = '_dlt_extracted_at' AND is_nullable`); n != 1 {
		t.Error("_dlt_extracted_at is still NOT NULL: dlt pipelines, which do not write it, could not append")
	}
}

// TestUUIDChildLinksMigrateWithParent: when a parent table's UUID ids become text, its child
// tables' links do too in the same load, even if that load brings no child rows; a later
// merge that replaces children then compares text with text.
func TestUUIDChildLinksMigrateWithParent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := Open(ctx, filepath.Join(dir, "w.duckdb"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, q := range []string{
		`CREATE SCHEMA raw_s`,
		`CREATE TABLE raw_s.items (id BIGINT, name VARCHAR, _dlt_load_id VARCHAR NOT NULL, _dlt_id UUID NOT NULL, _dlt_extracted_at TIMESTAMP WITH TIME ZONE NOT NULL)`,
		`CREATE TABLE raw_s.items__tags (value VARCHAR, _dlt_parent_id UUID, _dlt_list_idx BIGINT, _dlt_load_id VARCHAR NOT NULL, _dlt_id UUID NOT NULL, _dlt_extracted_at TIMESTAMP WITH TIME ZONE NOT NULL)`,
		`CREATE TABLE raw_s.itemsxtags (_dlt_id UUID NOT NULL)`, // not a child: "_" in LIKE is escaped
		`INSERT INTO raw_s.items VALUES (1, 'old', '99.1', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', now())`,
		`INSERT INTO raw_s.items__tags VALUES ('t', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 0, '99.1', uuid(), now())`,
	} {
		if _, err := w.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	b := csvBatch(t, dir, "a.csv", "id,name\n2,b\n", col("id", "BIGINT"), col("name", "VARCHAR"))
	ld, _ := w.Begin(ctx, LoadInfo{LoadID: "100.1", Source: "s", Schema: "raw_s"})
	if _, _, err := ld.Apply(ctx, "100.1/1/1", b); err != nil {
		t.Fatal(err)
	}
	if _, err := ld.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{ColParentID, ColID} {
		if typ := columnType(t, w, "raw_s", "items__tags", c); typ != "VARCHAR" {
			t.Errorf("items__tags.%s is %s after its parent's migration", c, typ)
		}
	}
	if typ := columnType(t, w, "raw_s", "itemsxtags", ColID); typ != "UUID" {
		t.Errorf("itemsxtags (not a child) was migrated: %s", typ)
	}
	if n := count(t, w, `SELECT count(*) FROM raw_s.items__tags c JOIN raw_s.items p ON c._dlt_parent_id = p._dlt_id`); n != 1 {
		t.Errorf("child rows still linked to their parent = %d, want 1", n)
	}
}

// TestRenamedByDltNamesIsReported: a table an older dango made holds GitHub-style "+1" in "_1"
// (its old name) and "-1" in "_1_2"; with dlt's names "+1" is "x1" and "-1" is "_1". The load
// that adds "x1" says so once, and that "_1" holds "-1" from then on.
func TestRenamedByDltNamesIsReported(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := Open(ctx, filepath.Join(dir, "w.duckdb"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, q := range []string{
		`CREATE SCHEMA raw_s`,
		`CREATE TABLE raw_s.items (id BIGINT, _1 BIGINT, _1_2 BIGINT, _dlt_load_id VARCHAR NOT NULL, _dlt_id VARCHAR NOT NULL, _dlt_extracted_at TIMESTAMP WITH TIME ZONE)`,
	} {
		if _, err := w.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	plus := batch.Column{Name: "x1", Path: []string{"+1"}, Type: "BIGINT"}
	minus := batch.Column{Name: "_1", Path: []string{"-1"}, Type: "BIGINT"}
	var notes []string
	for i, id := range []string{"100.1", "100.2"} {
		b := csvBatch(t, dir, id+".csv", "id,+1,-1\n1,5,2\n", col("id", "BIGINT"), plus, minus)
		ld, _ := w.Begin(ctx, LoadInfo{LoadID: id, Source: "s", Schema: "raw_s"})
		if _, _, err := ld.Apply(ctx, id+"/1/1", b); err != nil {
			t.Fatal(err)
		}
		res, err := ld.Commit(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range res.SchemaChanges {
			if c.Change == "renamed" {
				notes = append(notes, c.String())
			}
		}
		if i == 0 && len(notes) != 1 {
			t.Fatalf("first load's rename notes: %q", notes)
		}
	}
	want := "raw_s.items: +1 now loads into x1 (dlt's name); older dango loaded it into _1, which keeps the earlier rows and from now on holds -1 (dango sync --full-refresh reloads the table under the new names)"
	if len(notes) != 1 || notes[0] != want {
		t.Errorf("rename notes over two loads: %q\nwant once: %q", notes, want)
	}
	if n := count(t, w, `SELECT count(*) FROM raw_s.items WHERE x1 = 5 AND _1 = 2`); n != 2 {
		t.Errorf("rows with +1 in x1 and -1 in _1 = %d, want 2", n)
	}
	if n := count(t, w, `SELECT count(*) FROM raw_s._dango_schema_changes WHERE change = 'renamed' AND column_name = 'x1' AND old_type = '_1'`); n != 1 {
		t.Errorf("_dango_schema_changes rename rows = %d", n)
	}
}
