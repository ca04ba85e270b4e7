package main

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The end-to-end tests build the real binary once and run it on temporary projects.
var dangoBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dango-e2e-*")
	if err != nil {
		panic(err)
	}
	dangoBin = filepath.Join(dir, "dango")
	out, err := exec.Command("go", "build", "-o", dangoBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build dango: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func dango(t *testing.T, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(dangoBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{so.String(), se.String(), code}
}

// newProject runs `dango init` in a fresh folder and replaces sources.yml.
func newProject(t *testing.T, sources string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "proj")
	if r := dango(t, filepath.Dir(dir), "init", "proj"); r.code != 0 {
		t.Fatalf("init: %+v", r)
	}
	if sources != "" {
		writeFile(t, dir, ".dango/sources.yml", sources)
	}
	return dir
}

func writeFile(t *testing.T, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// scalar runs a query through `dango query` and returns the single value.
func scalar(t *testing.T, dir, q string) string {
	t.Helper()
	r := dango(t, dir, "query", "--format", "csv", q)
	if r.code != 0 {
		t.Fatalf("query %q: %+v", q, r)
	}
	recs, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil || len(recs) != 2 || len(recs[1]) != 1 {
		t.Fatalf("query %q: want one value, got %q", q, r.stdout)
	}
	return recs[1][0]
}

func csvRows(n int) string {
	var b strings.Builder
	b.WriteString("Order ID,Customer,Amount\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%d,c%d,%d.50\n", i, i%97, i%1000)
	}
	return b.String()
}

const ts = `\[\d\d:\d\d:\d\d\] `

func TestSyncCSVExactRowsAndLoads(t *testing.T) {
	dir := newProject(t, "version: 1\nsources:\n  - name: sales_data\n    type: csv\n    csv:\n      path: data/sales.csv\n")
	writeFile(t, dir, "data/sales.csv", csvRows(5432))
	r := dango(t, dir, "sync")
	if r.code != 0 {
		t.Fatalf("sync: %+v", r)
	}
	want := []string{
		ts + `Starting sync for sales_data$`,
		ts + `Reading CSV: data/sales.csv$`,
		ts + `Loaded 5,432 rows$`,
		ts + `Writing to raw_sales_data.sales_data$`,
		ts + `✓ Sync complete \(5,432 rows in \d+\.\ds\)$`,
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("output:\n%s", r.stdout)
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(lines[i]) {
			t.Errorf("line %d = %q, want /%s/", i+1, lines[i], re)
		}
	}
	if got := scalar(t, dir, "SELECT count(*) FROM raw_sales_data.sales_data"); got != "5432" {
		t.Errorf("rows = %s", got)
	}
	cols := scalar(t, dir, "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema='raw_sales_data' AND table_name='sales_data'")
	if cols != "order_id,customer,amount,_dlt_load_id,_dlt_id,_dlt_extracted_at" {
		t.Errorf("columns = %s", cols)
	}
	if got := scalar(t, dir, "SELECT count(*) FROM raw_sales_data._dlt_loads WHERE status = 0"); got != "1" {
		t.Errorf("_dlt_loads = %s", got)
	}
	// A second sync of the unchanged file loads nothing and says so; the load is recorded.
	r = dango(t, dir, "sync")
	if r.code != 0 || !strings.Contains(r.stdout, "Skipping data/sales.csv: unchanged since the last sync (nothing to load)") {
		t.Fatalf("second sync: %+v", r)
	}
	if got := scalar(t, dir, "SELECT count(*) || '/' || count(DISTINCT _dlt_load_id) || '/' || count(DISTINCT _dlt_id) FROM raw_sales_data.sales_data"); got != "5432/1/5432" {
		t.Errorf("after second sync rows/loads/ids = %s", got)
	}
	if got := scalar(t, dir, "SELECT count(*) FROM raw_sales_data._dlt_loads WHERE status = 0"); got != "2" {
		t.Errorf("_dlt_loads after second sync = %s", got)
	}
	list := dango(t, dir, "source", "list")
	if list.code != 0 || !regexp.MustCompile(`sales_data\s+csv\s+yes\s+raw_sales_data\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+0\n`).MatchString(list.stdout) {
		t.Errorf("source list:\n%s", list.stdout)
	}
}

func TestOneFailingSourceDoesNotStopOthers(t *testing.T) {
	dir := newProject(t, `version: 1
sources:
  - name: good
    type: csv
    csv: {path: data/good.csv}
  - name: broken
    type: csv
    csv: {path: data/missing.csv}
`)
	writeFile(t, dir, "data/good.csv", csvRows(10))
	r := dango(t, dir, "sync")
	if r.code != 1 {
		t.Fatalf("exit = %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"Starting sync for 2 sources...",
		"Syncing good (1/2)",
		"Syncing broken (2/2)",
		"✗ Sync failed for broken\nfile not found: data/missing.csv",
		"Total rows: 10\n",
		"Success: 1/2 sources\n",
		"Failed: 1/2 sources\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if got := scalar(t, dir, "SELECT count(*) FROM raw_good.good"); got != "10" {
		t.Errorf("good rows = %s", got)
	}
}

func TestBadConfigurationExits2AndWritesNothing(t *testing.T) {
	cases := []struct {
		name, sources, want string
	}{
		{"bad indentation", "version: 1\nsources:\n  - name: a\n    type: csv\n   csv:\n      path: x.csv\n", ".dango/sources.yml:5: invalid YAML"},
		{"unknown key", "version: 1\nsources:\n  - name: a\n    type: csv\n    csv:\n      path: x.csv\n      delimeter: ';'\n", `.dango/sources.yml:7: sources[0].csv: unknown key "delimeter"`},
		{"missing env", "version: 1\nsources:\n  - name: a\n    type: csv\n    description_env: DANGO_E2E_UNSET\n    csv: {path: x.csv}\n", `.dango/sources.yml:5: sources[0].description_env: environment variable DANGO_E2E_UNSET is not set`},
		{"duplicate", "version: 1\nsources:\n  - name: a\n    type: csv\n    csv: {path: x.csv}\n  - name: a\n    type: csv\n    csv: {path: y.csv}\n", `.dango/sources.yml:6: sources[1].name: duplicate source name "a"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := newProject(t, c.sources)
			r := dango(t, dir, "sync")
			if r.code != 2 {
				t.Fatalf("exit = %d, want 2: %+v", r.code, r)
			}
			msg := strings.TrimSpace(r.stderr)
			if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, c.want) {
				t.Errorf("stderr = %q, want one line containing %q", msg, c.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "data", "warehouse.duckdb")); err == nil {
				t.Error("a warehouse was created")
			}
		})
	}
}

func TestEnvVariables(t *testing.T) {
	dir := newProject(t, "version: 1\nsources:\n  - name: a\n    type: csv\n    csv:\n      path_env: DANGO_E2E_SALES_PATH\n")
	r := dango(t, dir, "sync")
	if r.code != 2 || strings.TrimSpace(r.stderr) != "Error: .dango/sources.yml:6: sources[0].csv.path_env: environment variable DANGO_E2E_SALES_PATH is not set (looked in the environment, .env and .dlt/secrets.toml)" {
		t.Fatalf("missing variable: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "warehouse.duckdb")); err == nil {
		t.Error("a warehouse was created")
	}
	writeFile(t, dir, "data/a.csv", csvRows(7))
	writeFile(t, dir, ".env", "DANGO_E2E_SALES_PATH=data/a.csv\n")
	if r := dango(t, dir, "sync"); r.code != 0 || !strings.Contains(r.stdout, "7 rows") {
		t.Fatalf("variable from .env: %+v", r)
	}
}

func TestSourceSelection(t *testing.T) {
	dir := newProject(t, `version: 1
sources:
  - name: a
    type: csv
    csv: {path: data/a.csv}
  - name: b
    type: csv
    csv: {path: data/b.csv}
  - name: c
    type: csv
    enabled: false
    csv: {path: data/c.csv}
`)
	for _, n := range []string{"a", "b", "c"} {
		writeFile(t, dir, "data/"+n+".csv", csvRows(3))
	}
	r := dango(t, dir, "sync", "--source", "b")
	if r.code != 0 || !strings.Contains(r.stdout, "Starting sync for b\n") {
		t.Fatalf("--source b: %+v", r)
	}
	r = dango(t, dir, "sync", "--source", "a", "--source", "b")
	if r.code != 0 || !strings.Contains(r.stdout, "Success: 2/2 sources") {
		t.Fatalf("--source a --source b: %+v", r)
	}
	r = dango(t, dir, "sync", "--source", "a,b", "--workers", "1")
	if r.code != 0 || !strings.Contains(r.stdout, "Success: 2/2 sources") {
		t.Fatalf(`--source "a,b": %+v`, r)
	}
	if got := scalar(t, dir, "SELECT count(*) FROM raw_b._dlt_loads"); got != "3" {
		t.Errorf("b loads = %s", got)
	}
	r = dango(t, dir, "sync", "--source", "zz")
	if r.code != 2 || !strings.Contains(r.stderr, `unknown source "zz" (known sources: a, b, c)`) {
		t.Fatalf("unknown source: %+v", r)
	}
	r = dango(t, dir, "sync")
	if r.code != 0 || !strings.Contains(r.stdout, "Success: 2/2 sources") {
		t.Fatalf("disabled source synced by default: %+v", r)
	}
	if r := dango(t, dir, "sync", "--workers", "0"); r.code != 2 {
		t.Errorf("--workers 0: %+v", r)
	}
}

// startSync starts `dango sync` and returns once its output shows the load is under way.
func startSync(t *testing.T, dir string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(dangoBin, "sync")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "Reading CSV") {
			return cmd, sc
		}
	}
	t.Fatal("sync ended before reading")
	return nil, nil
}

func bigProject(t *testing.T) string {
	dir := newProject(t, "version: 1\nsources:\n  - name: big\n    type: csv\n    csv: {path: data/big.csv}\n")
	writeFile(t, dir, "data/big.csv", csvRows(3_000_000))
	return dir
}

func assertNoPartialLoad(t *testing.T, dir string) {
	t.Helper()
	if got := scalar(t, dir, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw_big' AND table_name = 'big'"); got != "0" {
		t.Errorf("the interrupted load left table raw_big.big (%s)", got)
	}
	if got := scalar(t, dir, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw_big' AND table_name = '_dlt_loads'"); got == "1" {
		if n := scalar(t, dir, "SELECT count(*) FROM raw_big._dlt_loads"); n != "0" {
			t.Errorf("_dlt_loads has %s rows after an interrupted load", n)
		}
	}
}

func TestKilledSyncLeavesNoPartialLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 3M-row file")
	}
	dir := bigProject(t)
	cmd, _ := startSync(t, dir)
	time.Sleep(300 * time.Millisecond) // inside the INSERT
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(dir, "data", "warehouse.duckdb")); err == nil {
		assertNoPartialLoad(t, dir)
	}
	// The next sync recovers and loads everything exactly once.
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("sync after kill: %+v", r)
	}
	if got := scalar(t, dir, "SELECT count(*) || '/' || count(DISTINCT _dlt_load_id) FROM raw_big.big"); got != "3000000/1" {
		t.Errorf("rows/loads after recovery = %s", got)
	}
}

func TestInterruptedSyncRollsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 3M-row file")
	}
	dir := bigProject(t)
	cmd, sc := startSync(t, dir)
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	var rest []string
	for sc.Scan() {
		rest = append(rest, sc.Text())
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("exit: %v, output %q", err, rest)
	}
	if !strings.Contains(strings.Join(rest, "\n"), "Sync interrupted") {
		t.Errorf("output after Ctrl-C: %q", rest)
	}
	assertNoPartialLoad(t, dir)
}

func TestInitAndDemo(t *testing.T) {
	parent := t.TempDir()
	r := dango(t, parent, "init", "--example", "demo")
	if r.code != 0 {
		t.Fatalf("init: %+v", r)
	}
	dir := filepath.Join(parent, "demo")
	for _, f := range []string{".dango/project.yml", ".dango/sources.yml", ".dango/profiles.yml", ".dlt/secrets.toml", ".env", ".gitignore",
		"dbt/dbt_project.yml", "dbt/macros/generate_schema_name.sql", "dbt/models/staging", "dbt/models/intermediate", "dbt/models/marts", "dbt/seeds", "dbt/tests", "data/sales.csv"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	if st, _ := os.Stat(filepath.Join(dir, ".env")); st != nil && st.Mode().Perm() != 0o600 {
		t.Errorf(".env mode = %v", st.Mode().Perm())
	}
	gi, _ := os.ReadFile(filepath.Join(dir, ".gitignore"))
	for _, want := range []string{".env", ".dlt/secrets.toml", "data/", ".dango/spool/"} {
		if !strings.Contains(string(gi), want) {
			t.Errorf(".gitignore lacks %s", want)
		}
	}
	if r := dango(t, parent, "init", "demo"); r.code != 2 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("init over a project: %+v", r)
	}
	if r := dango(t, parent, "init", "--force", "demo"); r.code != 0 || !strings.Contains(r.stdout, "kept your previous version as .dango/sources.yml.bak") {
		t.Errorf("init --force: %+v", r)
	}
	if bak, _ := os.ReadFile(filepath.Join(dir, ".dango/sources.yml.bak")); !strings.Contains(string(bak), "name: sales_data") {
		t.Errorf("backup lacks the example sources: %s", bak)
	}
	if r := dango(t, parent, "init", "--force", "--example", "demo"); r.code != 0 {
		t.Errorf("init --force --example: %+v", r)
	}
	r = dango(t, dir, "sync")
	if r.code != 0 {
		t.Fatalf("demo sync: %+v", r)
	}
	for _, re := range []string{
		`(?m)^` + ts + `Starting sync for 3 sources\.\.\.\n\n` + ts + `Syncing sales_data \(1/3\)$`,
		`(?m)^` + ts + `Loaded 5,432 rows$`,
		`(?m)^` + ts + `Writing to raw_sales_data\.sales_data$`,
		`(?m)^──+\n✓ All syncs complete!\n\nTotal rows: 9,532\nTotal duration: \d+\.\ds\nSuccess: 3/3 sources\nFailed: 0/3 sources\n──+$`,
	} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Errorf("demo output does not match /%s/:\n%s", re, r.stdout)
		}
	}
	if got := scalar(t, dir, "SELECT count(*) FROM raw_customers.customers WHERE address__city IS NOT NULL"); got != "500" {
		t.Errorf("flattened customers = %s", got)
	}
	if got := scalar(t, dir, "SELECT count(*) || '/' || count(referrer) FROM raw_web_events.web_events"); got != "3600/1200" {
		t.Errorf("web_events rows/referrers = %s", got)
	}
	// query is read-only
	if r := dango(t, dir, "query", "DELETE FROM raw_customers.customers"); r.code != 1 || !strings.Contains(r.stderr, "read-only") {
		t.Errorf("write through query: %+v", r)
	}
	if got := scalar(t, dir, "SELECT count(*) FROM raw_customers.customers"); got != "500" {
		t.Errorf("customers after refused delete = %s", got)
	}
}

func TestRealDBTAcceptsTheProject(t *testing.T) {
	dbt := dbtPath(t)
	dir := newProject(t, "version: 1\nsources:\n  - name: sales_data\n    type: csv\n    csv: {path: data/sales.csv}\n")
	writeFile(t, dir, "data/sales.csv", csvRows(20))
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("sync: %+v", r)
	}
	writeFile(t, dir, "dbt/models/staging/_sources.yml", "version: 2\nsources:\n  - name: sales_data\n    schema: raw_sales_data\n    tables:\n      - name: sales_data\n")
	writeFile(t, dir, "dbt/models/staging/stg_sales.sql", "select order_id, amount from {{ source('sales_data', 'sales_data') }}\n")
	writeFile(t, dir, "dbt/models/marts/order_totals.sql", "select count(*) as orders, sum(amount) as total from {{ ref('stg_sales') }}\n")
	cmd := exec.Command(dbt, "run", "--profiles-dir", ".dango", "--project-dir", "dbt")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dbt run: %v\n%s", err, out)
	}
	if got := scalar(t, dir, "SELECT table_type FROM information_schema.tables WHERE table_schema = 'staging' AND table_name = 'stg_sales'"); got != "VIEW" {
		t.Errorf("staging.stg_sales is %s", got)
	}
	if got := scalar(t, dir, "SELECT orders FROM marts.order_totals"); got != strconv.Itoa(20) {
		t.Errorf("marts.order_totals orders = %s", got)
	}
}

// TestReadingNeedsNoSourceSecrets: querying the warehouse or listing dbt nodes works without a
// source's credentials; syncing still refuses to start without them.
func TestReadingNeedsNoSourceSecrets(t *testing.T) {
	dir := newProject(t, "version: 1\nsources:\n  - name: pay\n    type: stripe\n    stripe:\n      stripe_secret_key_env: NOT_SET_ANYWHERE\n")
	db, err := sql.Open("duckdb", filepath.Join(dir, "data", "warehouse.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE answers AS SELECT 42 AS answer"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if r := dango(t, dir, "query", "--format", "csv", "SELECT answer FROM answers"); r.code != 0 || !strings.Contains(r.stdout, "42") {
		t.Errorf("query without the source's secret: %+v", r)
	}
	if r := dango(t, dir, "ls"); r.code != 0 {
		t.Errorf("ls without the source's secret: %+v", r)
	}
	if r := dango(t, dir, "source", "list"); r.code != 0 {
		t.Errorf("source list without the source's secret: %+v", r)
	}
	if r := dango(t, dir, "sync"); r.code != 2 || !strings.Contains(r.stderr, "NOT_SET_ANYWHERE is not set") {
		t.Errorf("sync without the source's secret: %+v", r)
	}
}
