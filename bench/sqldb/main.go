// Command sqldb benchmarks replicating a 5,000,000-row, 8-column PostgreSQL table into DuckDB
// with `dango sync` against dlt's sql_database source (pyarrow backend) doing the same in the
// same run, both as whole processes: rows/s for each, the ratio, and peak RSS. Targets: dango
// at least 5× dlt's rows/s, within 500 MB.
//
// It needs a PostgreSQL server (DANGO_PG_URL; `make bench-sql` starts one with
// scripts/testdb.sh) and installs dlt from PyPI into a throwaway venv on first use.
//
//	go run ./bench/sqldb -dango bin/dango
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5"
)

// dltScript is the same replication written as a dlt user would.
const dltScript = `
import sys, dlt
from dlt.sources.sql_database import sql_database
url, path, work = sys.argv[1], sys.argv[2], sys.argv[3]
source = sql_database(credentials=url, schema="public", table_names=["bench_orders"], backend="pyarrow")
pipeline = dlt.pipeline(pipeline_name="bench", destination=dlt.destinations.duckdb(path), dataset_name="raw_pg", pipelines_dir=work)
print(pipeline.run(source, write_disposition="replace"))
`

func main() {
	dangoBin := flag.String("dango", "bin/dango", "dango binary")
	n := flag.Int("rows", 5_000_000, "rows in the table")
	work := flag.String("work", "bench/work", "scratch folder")
	out := flag.String("out", "bench/out/sqldb.json", "results file")
	skipDLT := flag.Bool("skip-dlt", false, "measure dango only")
	flag.Parse()
	pgURL := os.Getenv("DANGO_PG_URL")
	if pgURL == "" {
		fail(fmt.Errorf("DANGO_PG_URL is not set; run `make bench-sql`, which starts a server"))
	}
	bin, _ := filepath.Abs(*dangoBin)
	workDir, _ := filepath.Abs(filepath.Join(*work, "sqldb"))
	os.RemoveAll(workDir)
	check(os.MkdirAll(workDir, 0o755))

	fmt.Printf("creating %d rows in PostgreSQL…\n", *n)
	start := time.Now()
	check(fixture(pgURL, *n))
	fmt.Printf("  (%.1fs)\n", time.Since(start).Seconds())

	// dango
	proj := filepath.Join(workDir, "proj")
	check(exec.Command(bin, "init", proj).Run())
	check(os.WriteFile(filepath.Join(proj, ".dango", "sources.yml"), []byte(`version: 1
sources:
  - name: pg
    type: postgres
    postgres:
      credentials_env: DANGO_PG_URL
      table_names: [bench_orders]
`), 0o644))
	var dangoT []float64
	var dangoRSS int64
	for i := 0; i < 2; i++ {
		os.Remove(filepath.Join(proj, "data", "warehouse.duckdb"))
		d, rss := run(proj, bin, "sync")
		dangoT, dangoRSS = append(dangoT, d), max(dangoRSS, rss)
	}
	dangoRows := count(filepath.Join(proj, "data", "warehouse.duckdb"), "raw_pg.bench_orders")
	d := min(dangoT[0], dangoT[1])
	fmt.Printf("dango sync:              %6.2fs  %9.0f rows/s  peak RSS %4d MB\n", d, float64(*n)/d, dangoRSS>>20)
	res := map[string]any{"rows": *n, "dango_s": d, "dango_rss_mb": dangoRSS >> 20, "dango_rows_loaded": dangoRows}
	ok := dangoRows == int64(*n) && dangoRSS <= 500<<20
	if dangoRows != int64(*n) {
		fmt.Printf("dango loaded %d rows, want %d\n", dangoRows, *n)
	}

	if !*skipDLT {
		py, err := dltPython(filepath.Join(*work, "dltvenv"))
		check(err)
		script := filepath.Join(workDir, "dlt_bench.py")
		check(os.WriteFile(script, []byte(dltScript), 0o644))
		db := filepath.Join(workDir, "dlt.duckdb")
		// SQLAlchemy names the scheme postgresql, with the driver installed above.
		t, rss := run(workDir, py, script, strings.Replace(pgURL, "postgres://", "postgresql+psycopg2://", 1), db, filepath.Join(workDir, "dlt-pipelines"))
		dltRows := count(db, "raw_pg.bench_orders")
		fmt.Printf("dlt sql_database (pyarrow): %6.2fs  %9.0f rows/s  peak RSS %4d MB\n", t, float64(*n)/t, rss>>20)
		ratio := t / d
		fmt.Printf("dango is %.1f× dlt's rows/s (target ≥ 5×); dango peak RSS %d MB (target ≤ 500)\n", ratio, dangoRSS>>20)
		res["dlt_s"], res["dlt_rss_mb"], res["dlt_rows_loaded"], res["ratio"] = t, rss>>20, dltRows, ratio
		ok = ok && ratio >= 5 && dltRows == int64(*n)
	}
	check(os.MkdirAll(filepath.Dir(*out), 0o755))
	data, _ := json.MarshalIndent(res, "", "  ")
	check(os.WriteFile(*out, data, 0o644))
	if !ok {
		fmt.Println("TARGET MISSED")
		os.Exit(1)
	}
	fmt.Println("target met")
}

// fixture makes public.bench_orders hold n rows of 8 columns (kept when it already does).
func fixture(url string, n int) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var have int64
	if conn.QueryRow(ctx, "SELECT count(*) FROM bench_orders").Scan(&have) == nil && have == int64(n) {
		return nil
	}
	for _, q := range []string{
		"DROP TABLE IF EXISTS bench_orders",
		`CREATE TABLE bench_orders (id bigint PRIMARY KEY, customer_id integer NOT NULL, amount numeric(12,2),
			status text, note varchar(64), is_paid boolean, created_at timestamptz, updated_at timestamp)`,
		fmt.Sprintf(`INSERT INTO bench_orders SELECT g, g %% 100000, (g %% 100000) / 100.0,
			(ARRAY['new','paid','shipped','refunded'])[g %% 4 + 1], 'order ' || g, g %% 3 = 0,
			timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', timestamp '2024-01-01' + g * interval '2 seconds'
			FROM generate_series(1, %d) g`, n),
		"VACUUM ANALYZE bench_orders",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%.40s…: %w", q, err)
		}
	}
	return nil
}

// dltPython returns the venv's python with dlt installed, creating it on first use.
func dltPython(venv string) (string, error) {
	venv, _ = filepath.Abs(venv)
	py := filepath.Join(venv, "bin", "python")
	if exec.Command(py, "-c", "import dlt, pyarrow, psycopg2, sqlalchemy").Run() == nil {
		return py, nil
	}
	fmt.Println("installing dlt into", venv, "…")
	if out, err := exec.Command("python3", "-m", "venv", venv).CombinedOutput(); err != nil {
		return "", fmt.Errorf("venv: %v\n%s", err, out)
	}
	// duckdb pinned to the engine the Go driver bundles, as for the dbt reference.
	cmd := exec.Command(filepath.Join(venv, "bin", "pip"), "install", "--quiet", "--disable-pip-version-check",
		"dlt[duckdb]", "sqlalchemy", "pyarrow", "psycopg2-binary", "duckdb==1.5.6")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("pip install dlt: %v\n%s", err, out)
	}
	return py, nil
}

// run times a whole process and reports its peak RSS.
func run(dir, bin string, args ...string) (float64, int64) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	start := time.Now()
	outp, err := cmd.CombinedOutput()
	el := time.Since(start).Seconds()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s %v: %v\n%s", bin, args, err, outp)
		os.Exit(1)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return el, ru.Maxrss << 10
}

func count(path, table string) int64 {
	db, err := sql.Open("duckdb", path+"?access_mode=read_only")
	check(err)
	defer db.Close()
	var n int64
	if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		fmt.Fprintf(os.Stderr, "count %s in %s: %v\n", table, path, err)
		return -1
	}
	return n
}

func check(err error) {
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
