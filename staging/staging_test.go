package staging

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/dangohq/dango/config"
)

// raw builds a raw table where id 1 and 2 were each loaded three times with changes, the way
// three append syncs leave it.
func raw(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, q := range []string{
		`CREATE SCHEMA raw_shop`,
		`CREATE TABLE raw_shop.customers (id BIGINT, status VARCHAR, "group" VARCHAR, _dlt_load_id VARCHAR NOT NULL, _dlt_id VARCHAR NOT NULL, _dlt_extracted_at TIMESTAMPTZ)`,
		`INSERT INTO raw_shop.customers VALUES
			(1, 'new',     'a', '1.1', left(to_base64(uuid()::BLOB), 14), '2024-01-01 10:00:00+00'),
			(2, 'new',     'b', '1.1', left(to_base64(uuid()::BLOB), 14), '2024-01-01 10:00:00+00'),
			(1, 'active',  'a', '1.2', left(to_base64(uuid()::BLOB), 14), '2024-02-01 10:00:00+00'),
			(2, 'active',  'b', '1.2', left(to_base64(uuid()::BLOB), 14), '2024-02-01 10:00:00+00'),
			(1, 'churned', 'c', '1.3', left(to_base64(uuid()::BLOB), 14), '2024-03-01 10:00:00+00'),
			(2, 'active',  'b', '1.3', left(to_base64(uuid()::BLOB), 14), '2024-03-01 10:00:00+00')`,
		`CREATE TABLE raw_shop._dlt_loads (load_id VARCHAR)`, // metadata: skipped
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

var jinjaRE = regexp.MustCompile(`\{\{ source\('(\w+)', '(\w+)'\) \}\}`)

// compile does what dbt does to these models: drop the config call, resolve source().
func compile(sqlText string) string {
	s := strings.Replace(sqlText, "{{ config(materialized='view') }}", "", 1)
	return jinjaRE.ReplaceAllString(s, "raw_$1.$2")
}

func project(t *testing.T) *config.Project {
	return &config.Project{Root: t.TempDir(), Sources: []config.Source{{Name: "shop", Schema: "raw_shop"}}}
}

func model(t *testing.T, db *sql.DB, strategy string) File {
	t.Helper()
	srcs, err := Introspect(context.Background(), db, project(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) != 1 || len(srcs[0].Tables) != 1 || srcs[0].Tables[0].Name != "customers" {
		t.Fatalf("introspected %+v", srcs)
	}
	reserved, _ := ReservedWords(context.Background(), db)
	files := Render(srcs, Options{Override: strategy, Reserved: reserved})
	if len(files) != 3 || files[0].Name != "stg_shop_customers.sql" || files[1].Name != "_stg_shop__sources.yml" || files[2].Name != "_stg_shop__schema.yml" {
		t.Fatalf("files = %v", names(files))
	}
	return files[0]
}

func names(fs []File) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

func query(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestLatestOnly(t *testing.T) {
	db := raw(t)
	m := model(t, db, LatestOnly)
	body := string(m.Content)
	if !strings.Contains(body, `    "group",`) {
		t.Errorf("reserved word not quoted:\n%s", body)
	}
	if strings.Contains(body, "_dlt_id") {
		t.Errorf("_dlt_id selected:\n%s", body)
	}
	got := query(t, db, "SELECT id || ':' || status || ':' || \"group\" FROM ("+compile(body)+") ORDER BY id")
	if strings.Join(got, ",") != "1:churned:c,2:active:b" {
		t.Fatalf("latest_only = %v", got)
	}
}

func TestSCDType2(t *testing.T) {
	db := raw(t)
	m := model(t, db, SCDType2)
	q := compile(string(m.Content))
	got := query(t, db, "SELECT id || ':' || status || ':' || strftime(_valid_from, '%m') || '-' || coalesce(strftime(_valid_to, '%m'), 'now') || ':' || _is_current FROM ("+q+") ORDER BY id, _valid_from")
	want := "1:new:01-02:false,1:active:02-03:false,1:churned:03-now:true,2:new:01-02:false,2:active:02-03:false,2:active:03-now:true"
	if strings.Join(got, ",") != want {
		t.Fatalf("scd_type2 =\n%v\nwant\n%v", got, want)
	}
	// Contiguous validity and exactly one current version per id.
	bad := query(t, db, `WITH v AS (`+q+`) SELECT id::VARCHAR FROM v GROUP BY id
		HAVING count(*) FILTER (WHERE _is_current) <> 1 OR count(*) <> 3`)
	if len(bad) > 0 {
		t.Fatalf("ids with bad versions: %v", bad)
	}
	gaps := query(t, db, `WITH v AS (`+q+`) SELECT a.id::VARCHAR FROM v a WHERE a._valid_to IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM v b WHERE b.id = a.id AND b._valid_from = a._valid_to)`)
	if len(gaps) > 0 {
		t.Fatalf("gaps in validity: %v", gaps)
	}
}

func TestNoneAndFallback(t *testing.T) {
	db := raw(t)
	m := model(t, db, None)
	if got := query(t, db, "SELECT count(*)::VARCHAR FROM ("+compile(string(m.Content))+")"); got[0] != "6" {
		t.Fatalf("none = %v", got)
	}
	if _, err := db.Exec(`ALTER TABLE raw_shop.customers RENAME COLUMN id TO customer_ref`); err != nil {
		t.Fatal(err)
	}
	m = model(t, db, LatestOnly)
	if m.Strategy != None || !strings.Contains(m.Note, "falls back to none") {
		t.Fatalf("no key: strategy %s, note %q", m.Strategy, m.Note)
	}
}

func TestKeyFromConfig(t *testing.T) {
	db := raw(t)
	p := project(t)
	p.Sources[0].Defaults.PrimaryKey = []string{"status", "group"}
	p.Sources[0].Defaults.DedupStrategy = SCDType2
	srcs, _ := Introspect(context.Background(), db, p, nil)
	reserved, _ := ReservedWords(context.Background(), db)
	files := Render(srcs, Options{Reserved: reserved})
	if files[0].Strategy != SCDType2 || !strings.Contains(string(files[0].Content), `PARTITION BY status, "group" ORDER BY`) {
		t.Fatalf("model:\n%s", files[0].Content)
	}
	schema := string(files[2].Content)
	if strings.Contains(schema, "unique") {
		t.Errorf("unique test on a composite or versioned key:\n%s", schema)
	}
}

func TestPlanKeepsEditedFiles(t *testing.T) {
	dir := t.TempDir()
	f := File{Name: "stg_a.sql", Content: withHeader("--", "x", "select 1\n")}
	write := func(content string) {
		os.MkdirAll(filepath.Join(dir, Dir), 0o755)
		os.WriteFile(filepath.Join(dir, Dir, f.Name), []byte(content), 0o644)
	}
	action := func(force bool) Action {
		out, err := Plan([]File{f}, dir, force)
		if err != nil {
			t.Fatal(err)
		}
		return out[0].Action
	}
	if a := action(false); a != Created {
		t.Errorf("absent: %s", a)
	}
	write(string(f.Content))
	if a := action(false); a != Unchanged {
		t.Errorf("same: %s", a)
	}
	write(string(withHeader("--", "x", "select 0\n"))) // generated earlier, untouched
	if a := action(false); a != Updated {
		t.Errorf("pristine old version: %s", a)
	}
	edited := string(withHeader("--", "x", "select 0\n")) + "-- my change\n"
	write(edited)
	if a := action(false); a != KeptEdited {
		t.Errorf("edited: %s", a)
	}
	if a := action(true); a != Overwritten {
		t.Errorf("edited with force: %s", a)
	}
	write("select 42\n")
	if a := action(false); a != KeptForeign {
		t.Errorf("hand-written: %s", a)
	}
}
