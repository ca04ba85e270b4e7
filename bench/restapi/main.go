// Command restapi benchmarks a rest_api sync of 200,000 records served by a local paginated
// API (100 per page, page-number pagination) against DuckDB's own read_json loading the same
// records from one NDJSON file, both as whole processes, in the same run. Target: dango within
// 2× of DuckDB's time (the server is in this process and answers from memory, so it is not
// the bottleneck).
//
//	go run ./bench/restapi -dango bin/dango
package main

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

func main() {
	if len(os.Args) == 5 && os.Args[1] == "readjson" {
		db, err := sql.Open("duckdb", os.Args[3])
		check(err)
		_, err = db.Exec("CREATE TABLE records AS SELECT * FROM read_json('" + strings.ReplaceAll(os.Args[2], "'", "''") + "', format = 'newline_delimited', sample_size = " + os.Args[4] + ")")
		check(err)
		check(db.Close())
		return
	}
	dangoBin := flag.String("dango", "bin/dango", "dango binary")
	n := flag.Int("records", 200_000, "records")
	per := flag.Int("page", 100, "records per page")
	work := flag.String("work", "bench/work", "scratch folder")
	out := flag.String("out", "bench/out/restapi.json", "results file")
	serve := flag.Bool("serve", false, "only set up the project and serve the API until interrupted (for profiling)")
	flag.Parse()
	bin, _ := filepath.Abs(*dangoBin)
	self, _ := os.Executable()
	dir, _ := filepath.Abs(filepath.Join(*work, "restapi"))
	os.RemoveAll(dir)
	check(exec.Command(bin, "init", dir).Run())

	// The records, as pages in memory and as one NDJSON file.
	pages := make([][]byte, 0, *n / *per + 1)
	nd, err := os.Create(filepath.Join(dir, "data", "records.ndjson"))
	check(err)
	w := bufio.NewWriter(nd)
	var page []map[string]any
	flush := func(last bool) {
		next := ""
		if !last {
			next = "more"
		}
		b, _ := json.Marshal(map[string]any{"data": page, "has_next": next != ""})
		pages = append(pages, b)
		page = nil
	}
	for i := 1; i <= *n; i++ {
		rec := map[string]any{"id": i, "email": fmt.Sprintf("user%d@example.com", i), "plan": []string{"free", "pro", "team"}[i%3],
			"amount": float64(i%10000) / 100, "created_at": time.Unix(1700000000+int64(i)*60, 0).UTC().Format(time.RFC3339),
			"address": map[string]any{"city": "Lisbon", "zip": strconv.Itoa(1000 + i%9000)}}
		b, _ := json.Marshal(rec)
		w.Write(b)
		w.WriteByte('\n')
		page = append(page, rec)
		if len(page) == *per {
			flush(i == *n)
		}
	}
	if len(page) > 0 {
		flush(true)
	}
	check(w.Flush())
	check(nd.Close())
	st, _ := os.Stat(filepath.Join(dir, "data", "records.ndjson"))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	go http.Serve(l, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		p, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if p < 1 {
			p = 1
		}
		rw.Header().Set("Content-Type", "application/json")
		if p > len(pages) {
			rw.Write([]byte(`{"data": []}`))
			return
		}
		rw.Write(pages[p-1])
	}))
	check(os.WriteFile(filepath.Join(dir, ".dango", "sources.yml"), []byte(fmt.Sprintf(`version: 1
sources:
  - name: api
    type: rest_api
    rest_api:
      base_url: http://%s
      resources:
        - name: records
          path: /records
          data_selector: data
          paginator: {type: page_number, base_page: 1, total_path: null}
`, l.Addr())), 0o644))

	if *serve {
		fmt.Printf("serving %s; project in %s\n", l.Addr(), dir)
		select {}
	}
	var dangoT, duckT, fullT []float64
	for i := 0; i < 3; i++ {
		os.Remove(filepath.Join(dir, "data", "warehouse.duckdb"))
		dangoT = append(dangoT, timeIt(dir, bin, "sync"))
		ref := filepath.Join(dir, "data", "ref.duckdb")
		os.Remove(ref)
		duckT = append(duckT, timeIt(dir, self, "readjson", filepath.Join(dir, "data", "records.ndjson"), ref, "20480"))
		os.Remove(ref)
		fullT = append(fullT, timeIt(dir, self, "readjson", filepath.Join(dir, "data", "records.ndjson"), ref, "-1"))
	}
	var got int64
	db, err := sql.Open("duckdb", filepath.Join(dir, "data", "warehouse.duckdb")+"?access_mode=read_only")
	check(err)
	check(db.QueryRow("SELECT count(DISTINCT id) FROM raw_api.records").Scan(&got))
	db.Close()
	if got != int64(*n) {
		fmt.Printf("dango loaded %d distinct records, want %d\n", got, *n)
		os.Exit(1)
	}
	d, r, full := median(dangoT), median(duckT), median(fullT)
	fmt.Printf("%d records, %d per page (%d requests), NDJSON %.1f MB\n", *n, *per, len(pages), float64(st.Size())/1e6)
	fmt.Printf("dango sync (rest_api):      %.2fs  %8.0f records/s\n", d, float64(*n)/d)
	fmt.Printf("duckdb read_json (1 file):  %.2fs  %8.0f records/s  (default type sample: drops fields first seen late)\n", r, float64(*n)/r)
	fmt.Printf("duckdb read_json, every record typed (sample_size=-1): %.2fs\n", full)
	fmt.Printf("ratio: %.2f (target ≤ 2); against the every-record reference: %.2f\n", d/r, d/full)
	check(os.MkdirAll(filepath.Dir(*out), 0o755))
	data, _ := json.MarshalIndent(map[string]any{"records": *n, "per_page": *per, "dango_s": d, "duckdb_s": r, "duckdb_full_sample_s": full, "ratio": d / r, "ratio_full_sample": d / full}, "", "  ")
	check(os.WriteFile(*out, data, 0o644))
	if d/r > 2 {
		fmt.Println("TARGET MISSED")
		os.Exit(1)
	}
	fmt.Println("target met")
}

func median(v []float64) float64 {
	a := append([]float64(nil), v...)
	for i := range a {
		for j := i + 1; j < len(a); j++ {
			if a[j] < a[i] {
				a[i], a[j] = a[j], a[i]
			}
		}
	}
	return a[len(a)/2]
}

func timeIt(dir, bin string, args ...string) float64 {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	start := time.Now()
	outp, err := cmd.CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s %v: %v\n%s", bin, args, err, outp)
		os.Exit(1)
	}
	return time.Since(start).Seconds()
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
