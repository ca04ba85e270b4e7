// Command filesync benchmarks `dango sync` of a 2,000,000-row, 6-column CSV against DuckDB
// loading the same file by itself (CREATE TABLE … AS SELECT * FROM read_csv(…)), both as
// whole processes started from scratch, in the same run. It reports median wall time, peak
// RSS and the ratio, and exits 1 when a target is missed.
//
//	go run ./bench/filesync -dango bin/dango
package main

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

const (
	targetRatio = 1.3
	targetRSSMB = 600
)

func main() {
	// Re-exec mode: be the reference process.
	if len(os.Args) == 4 && os.Args[1] == "ctas" {
		if err := ctas(os.Args[2], os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	dangoBin := flag.String("dango", "bin/dango", "dango binary to measure")
	rows := flag.Int("rows", 2_000_000, "rows in the CSV")
	runs := flag.Int("runs", 3, "runs of each contender (median reported)")
	work := flag.String("work", "bench/work", "scratch folder")
	out := flag.String("out", "bench/out/filesync.json", "where to write the results")
	flag.Parse()

	bin, err := filepath.Abs(*dangoBin)
	check(err)
	self, err := os.Executable()
	check(err)
	check(os.MkdirAll(*work, 0o755))
	proj, _ := filepath.Abs(filepath.Join(*work, "filesync"))
	os.RemoveAll(proj)
	check(exec.Command(bin, "init", proj).Run())
	csvPath := filepath.Join(proj, "data", "orders.csv")
	size := generate(csvPath, *rows)
	check(os.WriteFile(filepath.Join(proj, ".dango", "sources.yml"),
		[]byte("version: 1\nsources:\n  - name: orders\n    type: csv\n    csv:\n      path: data/orders.csv\n"), 0o644))
	fmt.Printf("CSV: %d rows, 6 columns, %.1f MB; %d runs each, median\n\n", *rows, float64(size)/1e6, *runs)

	wh := filepath.Join(proj, "data", "warehouse.duckdb")
	ref := filepath.Join(proj, "data", "reference.duckdb")
	clean := func(p string) { os.Remove(p); os.Remove(p + ".wal") }

	type contender struct {
		name string
		cmd  func() *exec.Cmd
		file string
	}
	contenders := []contender{
		{"dango sync", func() *exec.Cmd {
			c := exec.Command(bin, "sync")
			c.Dir = proj
			c.Env = append(os.Environ(), "NO_COLOR=1")
			return c
		}, wh},
		{"duckdb CTAS (defaults)", func() *exec.Cmd { return exec.Command(self, "ctas", csvPath, ref) }, ref},
		{"duckdb CTAS (preserve_insertion_order=false)", func() *exec.Cmd { return exec.Command(self, "ctas", csvPath, ref+"?unordered") }, ref},
	}
	results := map[string]measure{}
	for _, c := range contenders {
		var ms []measure
		for i := 0; i < *runs; i++ {
			clean(c.file)
			m, err := run(c.cmd())
			check(err)
			ms = append(ms, m)
		}
		results[c.name] = median(ms)
	}
	// The dango run must have loaded every row.
	var n int64
	db, err := sql.Open("duckdb", wh+"?access_mode=read_only")
	check(err)
	check(db.QueryRow("SELECT count(*) FROM raw_orders.orders").Scan(&n))
	db.Close()
	if n != int64(*rows) {
		fmt.Printf("dango loaded %d rows, want %d\n", n, *rows)
		os.Exit(1)
	}

	d := results["dango sync"]
	refDefault := results["duckdb CTAS (defaults)"]
	refFast := results["duckdb CTAS (preserve_insertion_order=false)"]
	fmt.Printf("%-46s %9s %10s\n", "contender", "wall", "peak RSS")
	for _, c := range contenders {
		m := results[c.name]
		fmt.Printf("%-46s %8.3fs %7.0f MB\n", c.name, m.Wall.Seconds(), m.RSSMB)
	}
	ratio := d.Wall.Seconds() / refDefault.Wall.Seconds()
	ratioFast := d.Wall.Seconds() / refFast.Wall.Seconds()
	fmt.Printf("\nratio dango / DuckDB CTAS (defaults):            %.2f (target ≤ %.1f)\n", ratio, targetRatio)
	fmt.Printf("ratio dango / DuckDB CTAS (unordered, fastest):  %.2f\n", ratioFast)
	fmt.Printf("dango peak RSS: %.0f MB (target ≤ %d MB)\n", d.RSSMB, targetRSSMB)

	check(os.MkdirAll(filepath.Dir(*out), 0o755))
	js, _ := json.MarshalIndent(map[string]any{
		"rows": *rows, "csv_bytes": size, "runs": *runs,
		"dango_wall_s": d.Wall.Seconds(), "dango_rss_mb": d.RSSMB,
		"duckdb_ctas_wall_s": refDefault.Wall.Seconds(), "duckdb_ctas_rss_mb": refDefault.RSSMB,
		"duckdb_ctas_unordered_wall_s": refFast.Wall.Seconds(),
		"ratio":                        ratio, "ratio_vs_unordered": ratioFast,
		"target_ratio": targetRatio, "target_rss_mb": targetRSSMB,
		"measured_at": time.Now().UTC().Format(time.RFC3339),
	}, "", "  ")
	check(os.WriteFile(*out, js, 0o644))
	if ratio > targetRatio || d.RSSMB > targetRSSMB {
		fmt.Println("\nTARGET MISSED")
		os.Exit(1)
	}
	fmt.Println("\ntargets met")
}

type measure struct {
	Wall  time.Duration
	RSSMB float64
}

func run(c *exec.Cmd) (measure, error) {
	var stderr strings.Builder
	c.Stderr = &stderr
	start := time.Now()
	if err := c.Run(); err != nil {
		return measure{}, fmt.Errorf("%s: %v\n%s", c.Path, err, stderr.String())
	}
	wall := time.Since(start)
	ru := c.ProcessState.SysUsage().(*syscall.Rusage)
	return measure{Wall: wall, RSSMB: float64(ru.Maxrss) / 1024}, nil
}

func median(ms []measure) measure {
	sort.Slice(ms, func(i, j int) bool { return ms[i].Wall < ms[j].Wall })
	m := ms[len(ms)/2]
	for _, x := range ms { // report the worst memory seen
		if x.RSSMB > m.RSSMB {
			m.RSSMB = x.RSSMB
		}
	}
	return m
}

// ctas is the reference: open the file, load the CSV with DuckDB's own reader, close
// (which checkpoints), exactly what a user of DuckDB alone would run.
func ctas(csvPath, target string) error {
	unordered := strings.HasSuffix(target, "?unordered")
	target = strings.TrimSuffix(target, "?unordered")
	db, err := sql.Open("duckdb", target)
	if err != nil {
		return err
	}
	if unordered {
		if _, err := db.Exec("SET preserve_insertion_order = false"); err != nil {
			return err
		}
	}
	if _, err := db.Exec("CREATE TABLE orders AS SELECT * FROM read_csv('" + strings.ReplaceAll(csvPath, "'", "''") + "')"); err != nil {
		return err
	}
	return db.Close()
}

// generate writes a deterministic CSV of n rows with six typed columns.
func generate(path string, n int) int64 {
	check(os.MkdirAll(filepath.Dir(path), 0o755))
	f, err := os.Create(path)
	check(err)
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	statuses := []string{"paid", "pending", "refunded"}
	fmt.Fprintln(w, "Order ID,Customer Name,Amount,Quantity,Order Date,Status")
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, "%d,cust_%d,%.2f,%d,2024-%02d-%02d,%s\n", i, rng.IntN(50000), rng.Float64()*1000, 1+rng.IntN(20), 1+rng.IntN(12), 1+rng.IntN(28), statuses[i%3])
	}
	check(w.Flush())
	st, _ := f.Stat()
	check(f.Close())
	return st.Size()
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
