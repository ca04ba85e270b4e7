package warehouse

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

// sandboxProject is a project folder with a warehouse (a table, a view over it, a view that
// reads a seed file), a secrets file and a CSV beside the warehouse file.
func sandboxProject(t *testing.T) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	os.MkdirAll(filepath.Join(dir, "data"), 0o755)
	os.MkdirAll(filepath.Join(dir, "seeds"), 0o755)
	for name, body := range map[string]string{
		".env":          "STRIPE_KEY=sk_live_secret\n",
		"seeds/x.csv":   "a\n1\n",
		"data/near.csv": "a\n2\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path = filepath.Join(dir, "data", "warehouse.duckdb")
	db, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE SCHEMA raw_sales",
		"CREATE TABLE raw_sales.orders AS SELECT range AS id, range * 10 AS amount FROM range(5)",
		"CREATE SCHEMA marts",
		"CREATE VIEW marts.totals AS SELECT sum(amount) AS total FROM raw_sales.orders",
		"CREATE VIEW marts.from_seed AS SELECT * FROM read_csv(" + quoteLit(filepath.Join(dir, "seeds", "x.csv")) + ")",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	return dir, path
}

func quoteLit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// TestReaderSandbox: the read-only session runs queries over the warehouse and refuses,
// with an error saying why, everything that would read or write a file, load code or change
// its settings; none of it leaves a file behind.
func TestReaderSandbox(t *testing.T) {
	dir, path := sandboxProject(t)
	t.Chdir(dir) // relative paths ('.env') resolve here
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := OpenReadOnly(ctx, path, OpenOptions{Wait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	out := filepath.Join(dir, "out")
	const (
		files    = "file access is disabled"
		settings = "settings are locked"
		readOnly = "read-only"
	)
	for _, tc := range []struct{ q, want string }{
		{"COPY (SELECT 1) TO " + quoteLit(out+".csv"), files},
		{"COPY raw_sales.orders TO 'out.parquet' (FORMAT parquet)", files},
		{"COPY raw_sales.orders FROM " + quoteLit(filepath.Join(dir, "data", "near.csv")), files},
		{"SELECT * FROM read_text('.env')", files},
		{"SELECT content FROM read_blob(" + quoteLit(filepath.Join(dir, ".env")) + ")", files},
		{"SELECT * FROM read_csv('/etc/passwd')", files},
		{"SELECT * FROM read_csv(" + quoteLit(filepath.Join(dir, "data", "near.csv")) + ")", files},
		{"SELECT * FROM 'data/near.csv'", files},
		{"SELECT * FROM read_parquet('/etc/passwd')", files},
		{"SELECT * FROM read_json('/etc/hostname')", files},
		{"SELECT * FROM glob('/etc/*')", files},
		{"SELECT * FROM glob('*')", files},
		{"SELECT * FROM sniff_csv('/etc/passwd')", files},
		{"ATTACH " + quoteLit(out+".duckdb") + " AS x", files},
		{"ATTACH ':memory:' AS m", files},
		{"DETACH warehouse", files},
		{"INSTALL httpfs", files},
		{"LOAD httpfs", files},
		{"LOAD json", files},
		{"LOAD " + quoteLit(out+".duckdb_extension"), files},
		{"EXPORT DATABASE " + quoteLit(out), files},
		{"SET enable_external_access = true", settings},
		{"SET GLOBAL enable_external_access = true", settings},
		{"SET lock_configuration = false", settings},
		{"RESET enable_external_access", settings},
		{"RESET lock_configuration", settings},
		{"SET allowed_directories = ['/']", settings},
		{"SET temp_directory = " + quoteLit(out), settings},
		{"SET autoload_known_extensions = true", settings},
		{"PRAGMA enable_profiling", settings},
		{"PRAGMA profiling_output = " + quoteLit(out+".prof"), settings},
		{"SET VARIABLE v = 1", settings},
		{"CALL enable_logging(storage = 'file', storage_path = " + quoteLit(out) + ")", settings},
		{"CREATE TABLE raw_sales.more (a INT)", readOnly},
		{"CREATE TEMP TABLE t AS SELECT 1", readOnly},
		{"DELETE FROM raw_sales.orders", readOnly},
		{"DROP TABLE raw_sales.orders", readOnly},
		{"UPDATE raw_sales.orders SET amount = 0", readOnly},
		// Several statements: the lockdown stops what the type check cannot see.
		{"SELECT 1; COPY (SELECT 1) TO " + quoteLit(out+"2.csv"), files},
		{"SELECT 1; SET enable_external_access = true", settings},
		{"SELECT 1; SELECT * FROM read_text('.env')", files},
		// A view that reads a file cannot be queried, and the error says what to do.
		{"SELECT * FROM marts.from_seed", "materialized='table'"},
	} {
		t.Run(tc.q, func(t *testing.T) {
			res, err := r.Query(ctx, tc.q, 0)
			if err == nil {
				t.Fatalf("ran: %v", res)
			}
			if !errors.Is(err, ErrQueryRefused) || !strings.HasPrefix(err.Error(), "dango query reads the warehouse only: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want ErrQueryRefused saying %q", err, tc.want)
			}
			if testing.Verbose() {
				t.Log(err)
			}
			if strings.Contains(err.Error(), "sk_live_secret") {
				t.Fatalf("the error shows the secret: %v", err)
			}
		})
	}
	// Nothing was written beside the project's own files.
	var got []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			got = append(got, rel)
		}
		return nil
	})
	want := []string{".env", "data/near.csv", "data/warehouse.duckdb", "data/warehouse.duckdb.lock", "seeds/x.csv"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("files after the attempts: %v, want %v", got, want)
	}

	// The settings held, and queries over the warehouse (views included) still work.
	for q, want := range map[string]string{
		"SELECT current_setting('enable_external_access')": "false",
		// DuckDB itself keeps its own files and the temp folder reachable; nothing else is.
		"SELECT len(current_setting('allowed_directories')) = 1 AND current_setting('allowed_directories')[1] LIKE '%dango-query-%'": "true",
		"SELECT bool_and(starts_with(p, " + quoteLit(path) + ")) FROM unnest(current_setting('allowed_paths')) t(p)":                 "true",
		"SELECT current_setting('lock_configuration')":                          "true",
		"SELECT current_setting('autoload_known_extensions')":                   "false",
		"SELECT current_setting('autoinstall_known_extensions')":                "false",
		"SELECT total FROM marts.totals":                                        "100",
		"SELECT count(*) FROM raw_sales.orders WHERE id < 3":                    "3",
		"WITH x AS (SELECT max(id) AS m FROM raw_sales.orders) SELECT m FROM x": "4",
		"SELECT count(*) FROM (SHOW ALL TABLES)":                                "3",
		"SELECT count(*) FROM (DESCRIBE raw_sales.orders)":                      "2",
		"SELECT count(*) FROM (SUMMARIZE raw_sales.orders)":                     "2",
		"SELECT count(*) FROM (PIVOT raw_sales.orders ON id USING sum(amount))": "1",
		"SELECT 1; SELECT 2": "2",
	} {
		res, err := r.Query(ctx, q, 0)
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		if len(res.Rows) != 1 || res.Rows[0][0] != want {
			t.Errorf("%s = %v, want %s", q, res.Rows, want)
		}
	}
	for _, q := range []string{"SHOW TABLES", "DESCRIBE marts.totals", "EXPLAIN SELECT * FROM marts.totals", "PRAGMA show_tables", "PIVOT raw_sales.orders ON id USING sum(amount)"} {
		if _, err := r.Query(ctx, q, 0); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
}

// TestReaderSandboxTempFolder: what DuckDB may spill goes to a private folder that Close
// removes (DuckDB keeps its temp folder writable with external access off).
func TestReaderSandboxTempFolder(t *testing.T) {
	_, path := sandboxProject(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := OpenReadOnly(ctx, path, OpenOptions{Wait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Query(ctx, "SELECT current_setting('temp_directory')", 0)
	if err != nil {
		t.Fatal(err)
	}
	tmp := res.Rows[0][0]
	if tmp == "" || strings.HasPrefix(tmp, filepath.Dir(path)) {
		t.Fatalf("temp_directory %q: want a private folder outside the project", tmp)
	}
	if st, err := os.Stat(tmp); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("temp folder %s: %v %v", tmp, st, err)
	}
	r.Close()
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp folder %s left after Close: %v", tmp, err)
	}
}
