package main

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// End-to-end tests of issue 3's sync semantics, run on the built binary.

func TestFolderSourceLoadsOnlyNewAndChangedFiles(t *testing.T) {
	dir := newProject(t, "version: 1\nsources:\n  - name: events\n    type: csv\n    csv: {path: data/events/}\n")
	writeFile(t, dir, "data/events/2024-01-01.csv", "id,kind\n1,a\n2,b\n")
	writeFile(t, dir, "data/events/2024-01-02.csv", "id,kind\n3,c\n")
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("first sync: %+v", r)
	}
	if got := scalar(t, dir, "SELECT count(*) FROM raw_events.events"); got != "3" {
		t.Fatalf("rows = %s", got)
	}
	// A new file: only its rows load.
	writeFile(t, dir, "data/events/2024-01-03.csv", "id,kind\n4,d\n5,e\n")
	r := dango(t, dir, "sync")
	if r.code != 0 || !strings.Contains(r.stdout, "(1 new, 0 changed, 2 unchanged files skipped;") || !strings.Contains(r.stdout, "Loaded 2 rows") {
		t.Fatalf("second sync: %+v", r)
	}
	if got := scalar(t, dir, "SELECT count(*) || '/' || count(DISTINCT id) FROM raw_events.events"); got != "5/5" {
		t.Fatalf("rows/ids after new file = %s", got)
	}
	// Nothing new: nothing loads, the sync still succeeds.
	r = dango(t, dir, "sync")
	if r.code != 0 || !strings.Contains(r.stdout, "No new or changed files in data/events/ (3 unchanged)") {
		t.Fatalf("third sync: %+v", r)
	}
	// A changed file: its old rows are replaced by its new content.
	time.Sleep(10 * time.Millisecond)
	writeFile(t, dir, "data/events/2024-01-01.csv", "id,kind\n1,a2\n2,b2\n6,f\n")
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("sync after change: %+v", r)
	}
	if got := scalar(t, dir, "SELECT string_agg(id || kind, ',' ORDER BY id) FROM raw_events.events"); got != "1a2,2b2,3c,4d,5e,6f" {
		t.Fatalf("rows after a changed file = %s", got)
	}
	if got := scalar(t, dir, "SELECT count(DISTINCT _dango_source_file) FROM raw_events.events"); got != "3" {
		t.Errorf("source files = %s", got)
	}
}

const incSources = `version: 1
sources:
  - name: orders
    type: csv
    primary_key: id
    incremental:
      cursor_column: updated_at
      initial_value: "2024-03-01"
    csv: {path: data/orders.csv}
`

func TestIncrementalCursorAndStartDate(t *testing.T) {
	dir := newProject(t, incSources)
	writeFile(t, dir, "data/orders.csv", "id,amount,updated_at\n1,10,2024-01-15\n2,20,2024-02-20\n3,30,2024-03-01\n4,40,2024-03-05\n")
	r := dango(t, dir, "sync")
	if r.code != 0 || !strings.Contains(r.stdout, "Fetching orders (incremental from 2024-03-01)") {
		t.Fatalf("first sync: %+v", r)
	}
	if got := scalar(t, dir, "SELECT string_agg(id::VARCHAR, ',' ORDER BY id) FROM raw_orders.orders"); got != "3,4" {
		t.Fatalf("first sync loaded %s, want rows from the initial value on", got)
	}
	if got := scalar(t, dir, "SELECT cursor_value FROM raw_orders._dango_state WHERE resource = 'orders'"); got != "2024-03-05" {
		t.Fatalf("cursor = %s", got)
	}
	// New rows arrive (the file is an export that grows); the boundary row 4 is in it again.
	writeFile(t, dir, "data/orders.csv", "id,amount,updated_at\n1,10,2024-01-15\n2,20,2024-02-20\n3,30,2024-03-01\n4,40,2024-03-05\n5,50,2024-03-05\n6,60,2024-04-01\n")
	r = dango(t, dir, "sync")
	if r.code != 0 || !strings.Contains(r.stdout, "Fetching orders (incremental from 2024-03-05)") || !strings.Contains(r.stdout, "Loaded 2 rows") {
		t.Fatalf("second sync: %+v", r)
	}
	if got := scalar(t, dir, "SELECT string_agg(id::VARCHAR, ',' ORDER BY id) FROM raw_orders.orders"); got != "3,4,5,6" {
		t.Fatalf("after second sync: %s", got)
	}
	// Backfill: --start-date reaches back; existing rows are not duplicated, the cursor stays.
	r = dango(t, dir, "sync", "--start-date", "2024-01-01")
	if r.code != 0 || !strings.Contains(r.stdout, "Fetching orders (incremental from 2024-01-01)\n           Overriding default: 2024-04-01") {
		t.Fatalf("backfill: %+v", r)
	}
	if got := scalar(t, dir, "SELECT string_agg(id::VARCHAR, ',' ORDER BY id) FROM raw_orders.orders"); got != "1,2,3,4,5,6" {
		t.Fatalf("after backfill: %s", got)
	}
	if got := scalar(t, dir, "SELECT cursor_value FROM raw_orders._dango_state"); got != "2024-04-01" {
		t.Fatalf("cursor moved by the backfill: %s", got)
	}
	if r := dango(t, dir, "sync", "--start-date", "01/02/2024"); r.code != 2 {
		t.Errorf("bad --start-date: %+v", r)
	}
}

func TestCursorNeverAheadOfDataAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 3M-row file")
	}
	dir := newProject(t, "version: 1\nsources:\n  - name: big\n    type: csv\n    incremental: {cursor_column: Order ID}\n    csv: {path: data/big.csv}\n")
	writeFile(t, dir, "data/big.csv", csvRows(3_000_000))
	cmd, _ := startSync(t, dir)
	time.Sleep(500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	// Whatever the kill interrupted, the cursor and the rows agree.
	agree := func() {
		t.Helper()
		state := scalar(t, dir, "SELECT count(*) FROM information_schema.tables WHERE table_schema='raw_big' AND table_name='_dango_state'")
		if state == "0" {
			return
		}
		cur := scalar(t, dir, "SELECT coalesce(max(cursor_value), 'none') FROM raw_big._dango_state")
		data := "none"
		if scalar(t, dir, "SELECT count(*) FROM information_schema.tables WHERE table_schema='raw_big' AND table_name='big'") == "1" {
			data = scalar(t, dir, "SELECT coalesce(max(order_id)::VARCHAR, 'none') FROM raw_big.big")
		}
		if cur != data {
			t.Fatalf("cursor %s but data max %s", cur, data)
		}
	}
	agree()
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("rerun: %+v", r)
	}
	agree()
	if got := scalar(t, dir, "SELECT count(*) || '/' || count(DISTINCT order_id) FROM raw_big.big"); got != "3000000/3000000" {
		t.Fatalf("rows/distinct after rerun = %s", got)
	}
}

func TestMergeKeepsLatestPerKey(t *testing.T) {
	dir := newProject(t, "version: 1\nsources:\n  - name: customers\n    type: csv\n    write_disposition: merge\n    primary_key: [id]\n    csv: {path: data/c.csv}\n")
	writeFile(t, dir, "data/c.csv", "id,name\n1,ann\n2,bob\n2,bobby\n3,cy\n")
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("%+v", r)
	}
	if got := scalar(t, dir, "SELECT string_agg(id || name, ',' ORDER BY id) FROM raw_customers.customers"); got != "1ann,2bobby,3cy" {
		t.Fatalf("after first merge: %s (later row in the file must win)", got)
	}
	writeFile(t, dir, "data/c.csv", "id,name\n2,robert\n4,dee\n")
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("%+v", r)
	}
	if got := scalar(t, dir, "SELECT string_agg(id || name, ',' ORDER BY id) || '/' || count(*) || '/' || count(DISTINCT id) FROM raw_customers.customers"); got != "1ann,2robert,3cy,4dee/4/4" {
		t.Fatalf("after second merge: %s", got)
	}
	writeFile(t, dir, "data/c.csv", "id,name\n,nobody\n")
	r := dango(t, dir, "sync")
	if r.code != 1 || !strings.Contains(r.stdout, "1 row has no value in primary key id") {
		t.Fatalf("null key: %+v", r)
	}
	dir2 := newProject(t, "version: 1\nsources:\n  - name: x\n    type: csv\n    write_disposition: merge\n    csv: {path: data/x.csv}\n")
	writeFile(t, dir2, "data/x.csv", "id\n1\n")
	if r := dango(t, dir2, "sync"); r.code != 1 || !strings.Contains(r.stdout, "merge but has no primary_key") {
		t.Fatalf("merge without key: %+v", r)
	}
}

func TestFullRefreshAndEmptyProtection(t *testing.T) {
	dir := newProject(t, `version: 1
sources:
  - name: sales
    type: csv
    incremental: {cursor_column: id}
    csv: {path: data/s.csv}
  - name: snapshot
    type: csv
    write_disposition: replace
    csv: {path: data/snap.csv}
`)
	writeFile(t, dir, "data/s.csv", "id,v\n1,a\n2,b\n")
	writeFile(t, dir, "data/snap.csv", "k\nx\ny\n")
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("%+v", r)
	}
	// No terminal and no --yes: refuse, change nothing.
	r := dango(t, dir, "sync", "--full-refresh")
	if r.code != 2 || !strings.Contains(r.stderr, "needs confirmation") {
		t.Fatalf("full refresh without -y: %+v", r)
	}
	// Replace with the same data twice keeps one copy.
	if r := dango(t, dir, "sync", "--source", "snapshot"); r.code != 0 {
		t.Fatalf("%+v", r)
	}
	if got := scalar(t, dir, "SELECT count(*) FROM raw_snapshot.snapshot"); got != "2" {
		t.Fatalf("replace kept %s rows", got)
	}
	// Replace with an empty source fails that source and keeps the old rows.
	writeFile(t, dir, "data/snap.csv", "k\n")
	r = dango(t, dir, "sync")
	if r.code != 1 || !strings.Contains(r.stdout, "✗ Sync failed for snapshot\nrefusing to replace raw_snapshot.snapshot (2 rows) with nothing") || !strings.Contains(r.stdout, "Success: 1/2 sources") {
		t.Fatalf("empty replace: %+v", r)
	}
	if got := scalar(t, dir, "SELECT count(*) FROM raw_snapshot.snapshot"); got != "2" {
		t.Fatalf("old rows lost: %s", got)
	}
	if r := dango(t, dir, "sync", "--source", "snapshot", "--allow-empty"); r.code != 0 {
		t.Fatalf("--allow-empty: %+v", r)
	}
	if got := scalar(t, dir, "SELECT count(*) FROM raw_snapshot.snapshot"); got != "0" {
		t.Fatalf("--allow-empty left %s rows", got)
	}
	// Full refresh with -y drops, reloads and resets the cursor.
	writeFile(t, dir, "data/s.csv", "id,v\n1,a\n2,b\n3,c\n")
	r = dango(t, dir, "sync", "--source", "sales", "--full-refresh", "-y")
	for _, want := range []string{"⚠ Full refresh mode enabled", "  - sales (2 rows will be deleted)", "Dropping raw_sales.sales (2 rows)", "Fetching sales (incremental, first sync: everything)", "Loaded 3 rows"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("full refresh output lacks %q:\n%s", want, r.stdout)
		}
	}
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	if got := scalar(t, dir, "SELECT count(*) || '/' || count(DISTINCT _dlt_load_id) FROM raw_sales.sales"); got != "3/1" {
		t.Fatalf("after full refresh rows/loads = %s", got)
	}
	if got := scalar(t, dir, "SELECT cursor_value FROM raw_sales._dango_state"); got != "3" {
		t.Fatalf("cursor after full refresh = %s", got)
	}
	// A full refresh whose source is now empty is refused too.
	writeFile(t, dir, "data/s.csv", "id,v\n")
	r = dango(t, dir, "sync", "--source", "sales", "--full-refresh", "-y")
	if r.code != 1 || !strings.Contains(r.stdout, "refusing to replace raw_sales.sales (3 rows)") {
		t.Fatalf("empty full refresh: %+v", r)
	}
	if got := scalar(t, dir, "SELECT count(*) FROM raw_sales.sales"); got != "3" {
		t.Fatalf("rows after a refused full refresh = %s", got)
	}
}

func TestSelectResources(t *testing.T) {
	dir := newProject(t, "version: 1\nsources:\n  - name: a\n    type: csv\n    csv: {path: data/a.csv}\n  - name: b\n    type: csv\n    csv: {path: data/b.csv}\n")
	writeFile(t, dir, "data/a.csv", "x\n1\n")
	writeFile(t, dir, "data/b.csv", "x\n1\n")
	r := dango(t, dir, "sync", "--select", "b")
	if r.code != 0 || !strings.Contains(r.stdout, "Starting sync for b\n") {
		t.Fatalf("--select b: %+v", r)
	}
	r = dango(t, dir, "sync", "--source", "a", "--select", "nope")
	if r.code != 2 || !strings.Contains(r.stderr, `unknown resource "nope" for --select (resources of the selected sources: a)`) {
		t.Fatalf("unknown resource: %+v", r)
	}
	writeFile(t, dir, ".dango/sources.yml", "version: 1\nsources:\n  - name: a\n    type: csv\n    resources:\n      charges: {write_disposition: replace}\n    csv: {path: data/a.csv}\n")
	r = dango(t, dir, "sync")
	if r.code != 2 || !strings.Contains(r.stderr, `.dango/sources.yml:6: source a has no resource "charges" (its resources: a)`) {
		t.Fatalf("unknown resource in config: %+v", r)
	}
}

func fileHash(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		return "absent"
	}
	return fmt.Sprintf("%x", sha256.Sum256(data))
}

func TestDryRunChangesNothing(t *testing.T) {
	dir := newProject(t, incSources+`  - name: events
    type: csv
    csv: {path: data/events/}
`)
	writeFile(t, dir, "data/orders.csv", "id,amount,updated_at\n1,10,2024-01-15\n3,30,2024-03-01\n4,40,2024-03-05\n")
	writeFile(t, dir, "data/events/a.csv", "id\n1\n2\n")
	wh := filepath.Join(dir, "data", "warehouse.duckdb")
	// No warehouse yet: the dry run must not create one.
	r := dango(t, dir, "sync", "--dry-run")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	for _, want := range []string{
		"DRY RUN MODE - No data will be modified\n\nWould sync 2 sources:\n\n1. orders\n   - data/orders.csv: ~2 new rows (since 2024-03-01)\n   Estimated: 2 rows, ",
		"2. events\n   - data/events/: 2 rows (1 new file)\n",
		"Total estimated: 4 rows, ",
		"\nNo data was modified.\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, r.stdout)
		}
	}
	if fileHash(t, wh) != "absent" {
		t.Fatal("a dry run created the warehouse")
	}
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("%+v", r)
	}
	writeFile(t, dir, "data/events/b.csv", "id\n3\n")
	before := fileHash(t, wh)
	r = dango(t, dir, "sync", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "data/events/: 1 rows (1 new, 0 changed files); 1 unchanged files skipped") ||
		!strings.Contains(r.stdout, "data/orders.csv: ~0 new rows (since 2024-03-05); unchanged since the last sync, skipped") {
		t.Fatalf("second dry run: %+v", r)
	}
	if after := fileHash(t, wh); after != before {
		t.Fatal("the dry run changed the warehouse file")
	}
}

func TestSchemaEvolution(t *testing.T) {
	dir := newProject(t, "version: 1\nsources:\n  - name: p\n    type: csv\n    csv: {path: data/p/}\n")
	writeFile(t, dir, "data/p/1.csv", "id,code\n1,100\n2,200\n")
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("%+v", r)
	}
	// A new column, and code turns from integer to text.
	writeFile(t, dir, "data/p/2.csv", "id,code,color\n3,A-7,red\n")
	r := dango(t, dir, "sync")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	for _, want := range []string{"Schema change: added column raw_p.p.color (VARCHAR)", "Schema change: widened raw_p.p.code from BIGINT to VARCHAR"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if got := scalar(t, dir, "SELECT string_agg(id || ':' || code || ':' || coalesce(color, '-'), ',' ORDER BY id) FROM raw_p.p"); got != "1:100:-,2:200:-,3:A-7:red" {
		t.Fatalf("rows = %s", got)
	}
	if got := scalar(t, dir, "SELECT count(*) FROM raw_p._dango_schema_changes"); got != "2" {
		t.Fatalf("recorded changes = %s", got)
	}
	// An incompatible change fails the source, naming table, column and types; data kept.
	writeFile(t, dir, ".dango/sources.yml", "version: 1\nsources:\n  - name: p\n    type: csv\n    csv: {path: data/p/, column_types: {id: DATE}}\n")
	writeFile(t, dir, "data/p/3.csv", "id,code\n2024-01-01,x\n")
	r = dango(t, dir, "sync")
	if r.code != 1 || !strings.Contains(r.stdout, "raw_p.p: column id changed type from BIGINT to DATE") {
		t.Fatalf("incompatible change: %+v", r)
	}
	if got := scalar(t, dir, "SELECT count(*) FROM raw_p.p"); got != "3" {
		t.Fatalf("rows after a failed load = %s", got)
	}
}

func TestConcurrentSyncsWaitForEachOther(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 1M-row file")
	}
	dir := newProject(t, "version: 1\nsources:\n  - name: big\n    type: csv\n    csv: {path: data/big.csv}\n")
	writeFile(t, dir, "data/big.csv", csvRows(1_000_000))
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 150 * time.Millisecond)
			cmd := exec.Command(dangoBin, "sync")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "NO_COLOR=1")
			var so, se bytes.Buffer
			cmd.Stdout, cmd.Stderr = &so, &se
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			results[i] = result{so.String(), se.String(), code}
		}(i)
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Fatalf("sync %d: %+v", i, r)
		}
	}
	waited := results[0].stderr + results[1].stderr
	if !strings.Contains(waited, "Waiting for the warehouse: it is in use by PID ") || !strings.Contains(waited, "(dango sync, since ") {
		t.Errorf("neither sync said it waited: %q", waited)
	}
	// The file did not change between the two syncs: the one that waited skips it (a single
	// file is tracked like a folder's files) instead of loading it again.
	if got := scalar(t, dir, "SELECT count(*) || '/' || count(DISTINCT _dlt_load_id) FROM raw_big.big"); got != "1000000/1" {
		t.Fatalf("rows/loads = %s", got)
	}
	if out := results[0].stdout + results[1].stdout; !strings.Contains(out, "unchanged since the last sync") {
		t.Errorf("the second sync did not say the file was unchanged: %q", out)
	}
	// A short --wait gives up clearly while another process writes (the file "changed", so
	// that sync reads it again).
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(filepath.Join(dir, "data", "big.csv"), later, later); err != nil {
		t.Fatal(err)
	}
	cmd, _ := startSync(t, dir)
	defer cmd.Wait()
	r := dango(t, dir, "sync", "--wait", "100ms")
	if r.code != 1 || !strings.Contains(r.stderr, "the warehouse is busy: held by PID") || !strings.Contains(r.stderr, "use --wait to wait longer") {
		t.Errorf("--wait 100ms: %+v", r)
	}
}

func TestDltNativeForm(t *testing.T) {
	dir := newProject(t, `version: '1.0'
sources:
  - name: exports
    type: dlt_native
    dlt_native:
      source_module: filesystem
      source_function: read_csv
      function_kwargs:
        bucket_url: data/exports
        file_glob: "*.csv"
        incremental:
          cursor_column: updated_at
          initial_value: "2024-02-01"
`)
	writeFile(t, dir, "data/exports/a.csv", "id,updated_at\n1,2024-01-05\n2,2024-02-03\n")
	r := dango(t, dir, "sync")
	if r.code != 0 || !strings.Contains(r.stdout, "Fetching exports (incremental from 2024-02-01)") || !strings.Contains(r.stdout, "Loaded 1 row\n") {
		t.Fatalf("%+v", r)
	}
	writeFile(t, dir, ".dango/sources.yml", "version: 1\nsources:\n  - name: db\n    type: dlt_native\n    dlt_native: {source_module: mongodb}\n")
	if r := dango(t, dir, "sync"); r.code != 2 || !strings.Contains(r.stderr, `dlt_native source_module "mongodb" is not supported`) {
		t.Fatalf("unsupported module: %+v", r)
	}
}

func TestJSONListsBecomeChildTables(t *testing.T) {
	dir := newProject(t, "version: 1\nsources:\n  - name: shop\n    type: json\n    write_disposition: merge\n    primary_key: id\n    json: {path: data/orders.jsonl}\n")
	writeFile(t, dir, "data/orders.jsonl", `{"id": 1, "items": [{"sku": "A", "qty": 2, "meta": {"color": "red"}}, {"sku": "B", "qty": 1, "meta": {"color": "blue"}}], "tags": ["gift", "rush"]}
{"id": 2, "items": [{"sku": "C", "qty": 5, "meta": {"color": "green"}}], "tags": []}
{"id": 3, "items": null, "tags": ["bulk"]}
`)
	r := dango(t, dir, "sync")
	if r.code != 0 || !strings.Contains(r.stdout, "Writing to raw_shop.shop__items") || !strings.Contains(r.stdout, "(3 rows in") {
		t.Fatalf("sync: %+v", r)
	}
	if cols := scalar(t, dir, "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema='raw_shop' AND table_name='shop'"); strings.Contains(cols, "items") || strings.Contains(cols, "tags") {
		t.Errorf("list columns left in the parent: %s", cols)
	}
	got := scalar(t, dir, `SELECT string_agg(p.id || ':' || c._dlt_list_idx || ':' || c.sku || ':' || c.qty || ':' || c.meta__color, ',' ORDER BY p.id, c._dlt_list_idx)
		FROM raw_shop.shop p JOIN raw_shop.shop__items c ON c._dlt_parent_id = p._dlt_id`)
	if got != "1:0:A:2:red,1:1:B:1:blue,2:0:C:5:green" {
		t.Errorf("items = %s", got)
	}
	if got := scalar(t, dir, `SELECT string_agg(p.id || ':' || c.value, ',' ORDER BY p.id, c._dlt_list_idx) FROM raw_shop.shop p JOIN raw_shop.shop__tags c ON c._dlt_parent_id = p._dlt_id`); got != "1:gift,1:rush,3:bulk" {
		t.Errorf("tags = %s", got)
	}
	// Merge: order 1 changes; its old children go with its old version.
	writeFile(t, dir, "data/orders.jsonl", `{"id": 1, "items": [{"sku": "Z", "qty": 9, "meta": {"color": "black"}}], "tags": ["changed"]}
`)
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("second sync: %+v", r)
	}
	if got := scalar(t, dir, `SELECT string_agg(p.id || ':' || c.sku, ',' ORDER BY p.id, c._dlt_list_idx) FROM raw_shop.shop p JOIN raw_shop.shop__items c ON c._dlt_parent_id = p._dlt_id`); got != "1:Z,2:C" {
		t.Errorf("items after merge = %s", got)
	}
	if got := scalar(t, dir, "SELECT count(*) FROM raw_shop.shop__items WHERE _dlt_parent_id NOT IN (SELECT _dlt_id FROM raw_shop.shop)"); got != "0" {
		t.Errorf("orphaned child rows: %s", got)
	}
	if got := scalar(t, dir, "SELECT count(*) FROM raw_shop.shop__tags"); got != "2" {
		t.Errorf("tags after merge = %s rows, want 2 (changed, bulk)", got)
	}
}

// TestSingleFileSourcesBehaveLikeFolders: a source naming one file remembers the version it
// loaded, as folder sources do — unchanged it is skipped (and the dry run says so), changed it
// replaces its own rows — for every file format.
func TestSingleFileSourcesBehaveLikeFolders(t *testing.T) {
	type version struct{ content, want string }
	cases := []struct {
		typ, file string
		v1, v2    version
	}{
		{"csv", "data/s.csv", version{"id,name\n1,a\n2,b\n", "1a,2b"}, version{"id,name\n1,a2\n3,c\n4,d\n", "1a2,3c,4d"}},
		{"json", "data/s.jsonl", version{"{\"id\":1,\"name\":\"a\"}\n{\"id\":2,\"name\":\"b\"}\n", "1a,2b"},
			version{"{\"id\":1,\"name\":\"a2\"}\n{\"id\":3,\"name\":\"c\"}\n{\"id\":4,\"name\":\"d\"}\n", "1a2,3c,4d"}},
		{"parquet", "data/s.parquet", version{"SELECT * FROM (VALUES (1, 'a'), (2, 'b')) t(id, name)", "1a,2b"},
			version{"SELECT * FROM (VALUES (1, 'a2'), (3, 'c'), (4, 'd')) t(id, name)", "1a2,3c,4d"}},
	}
	for _, c := range cases {
		t.Run(c.typ, func(t *testing.T) {
			dir := newProject(t, fmt.Sprintf("version: 1\nsources:\n  - name: s\n    type: %s\n    %s: {path: %s}\n", c.typ, c.typ, c.file))
			put := func(v version) {
				if c.typ == "parquet" {
					writeParquet(t, filepath.Join(dir, c.file), v.content)
				} else {
					writeFile(t, dir, c.file, v.content)
				}
			}
			rows := func() string {
				return scalar(t, dir, "SELECT string_agg(id || name, ',' ORDER BY id) FROM raw_s.s")
			}
			dry := func(want string) {
				t.Helper()
				if r := dango(t, dir, "sync", "--dry-run"); r.code != 0 || !strings.Contains(r.stdout, "   - "+c.file+": "+want+"\n") {
					t.Fatalf("dry run, want %q: %+v", want, r)
				}
			}
			put(c.v1)
			dry("2 rows (new file)")
			if r := dango(t, dir, "sync"); r.code != 0 || !strings.Contains(r.stdout, "Loaded 2 rows") {
				t.Fatalf("first sync: %+v", r)
			}
			for i := 0; i < 3; i++ { // unchanged: nothing loads, every time
				dry("0 rows (unchanged since the last sync, skipped)")
				r := dango(t, dir, "sync")
				if r.code != 0 || !strings.Contains(r.stdout, "Skipping "+c.file+": unchanged since the last sync (nothing to load)") || strings.Contains(r.stdout, "Loaded") {
					t.Fatalf("sync of the unchanged file: %+v", r)
				}
			}
			if got := rows(); got != c.v1.want {
				t.Fatalf("after unchanged syncs: %s, want %s", got, c.v1.want)
			}
			time.Sleep(10 * time.Millisecond)
			put(c.v2)
			dry("3 rows (changed since the last sync, replaces its earlier rows)")
			r := dango(t, dir, "sync")
			if r.code != 0 || !strings.Contains(r.stdout, "(changed since the last sync: replaces its earlier rows)") || !strings.Contains(r.stdout, "Loaded 3 rows") {
				t.Fatalf("sync of the changed file: %+v", r)
			}
			if got := rows(); got != c.v2.want {
				t.Fatalf("after the change: %s, want %s", got, c.v2.want)
			}
			// The table is the file's alone: no _dango_source_file column (as dlt makes it).
			if got := scalar(t, dir, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'raw_s' AND table_name = 's' AND column_name = '_dango_source_file'"); got != "0" {
				t.Errorf("a single-file table has _dango_source_file")
			}
			// --full-refresh reads it again, whole.
			if r := dango(t, dir, "sync", "--full-refresh", "--yes"); r.code != 0 || !strings.Contains(r.stdout, "Loaded 3 rows") {
				t.Fatalf("full refresh: %+v", r)
			}
			if got := rows(); got != c.v2.want {
				t.Fatalf("after the full refresh: %s, want %s", got, c.v2.want)
			}
		})
	}
}

// TestEmptyFilesLoadNothing: like dlt, a 0-byte CSV or JSON file, a CSV with only a header
// or a JSON file with no records loads no rows and creates no table (DuckDB alone would make
// a column0 or json table, or one of the header's columns); a folder's empty files add no
// columns.
func TestEmptyFilesLoadNothing(t *testing.T) {
	cases := []struct{ name, typ, ext, content, why, row string }{
		{"csv zero bytes", "csv", "csv", "", "empty, or only a header", "id,kind\n1,x\n"},
		{"csv header only", "csv", "csv", "id,name\n", "empty, or only a header", "id,kind\n1,x\n"},
		{"csv header only, CRLF", "csv", "csv", "id,name\r\n", "empty, or only a header", "id,kind\n1,x\n"},
		{"json zero bytes", "json", "jsonl", "", "empty, or no records", `{"id": 1, "kind": "x"}` + "\n"},
		{"json empty array", "json", "json", "[]", "empty, or no records", `[{"id": 1, "kind": "x"}]`},
		{"json blank lines", "json", "jsonl", "\n\n", "empty, or no records", `{"id": 1, "kind": "x"}` + "\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := newProject(t, fmt.Sprintf("version: 1\nsources:\n  - name: s\n    type: %[1]s\n    %[1]s: {path: data/s.%[2]s}\n  - name: f\n    type: %[1]s\n    %[1]s: {path: data/f/}\n", c.typ, c.ext))
			writeFile(t, dir, "data/s."+c.ext, c.content)
			writeFile(t, dir, "data/f/a."+c.ext, c.row)
			writeFile(t, dir, "data/f/b."+c.ext, c.content)
			if r := dango(t, dir, "sync", "--dry-run"); r.code != 0 || !strings.Contains(r.stdout, "data/s."+c.ext+": 0 rows ("+c.why+": nothing to load)") {
				t.Fatalf("dry run: %+v", r)
			}
			r := dango(t, dir, "sync")
			if r.code != 0 || !strings.Contains(r.stdout, "data/s."+c.ext+" holds no rows ("+c.why+"): nothing loaded from it") ||
				!strings.Contains(r.stdout, "data/f/b."+c.ext+" holds no rows") {
				t.Fatalf("sync: %+v", r)
			}
			if got := scalar(t, dir, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw_s' AND table_name = 's'"); got != "0" {
				t.Errorf("a table was created for the empty file")
			}
			if got := scalar(t, dir, "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'raw_f' AND table_name = 'f' AND column_name NOT LIKE '\\_d%' ESCAPE '\\'"); got != "id,kind" {
				t.Errorf("folder table columns = %s", got)
			}
		})
	}
}

// writeParquet writes the rows of a query to a Parquet file with an in-memory DuckDB.
func writeParquet(t *testing.T, path, query string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("COPY (" + query + ") TO '" + strings.ReplaceAll(path, "'", "''") + "' (FORMAT parquet)"); err != nil {
		t.Fatal(err)
	}
}

// TestDLTNativeReaderArguments: dlt's filesystem readers take arguments (pandas' for
// read_csv, DuckDB's for read_csv_duckdb); those that change the data are honoured, the ones
// that only change how dlt reads are accepted, any other is an error at its line. Expected
// rows are what dlt 1.31 (with pandas 2) loads from the same files with the same arguments.
func TestDLTNativeReaderArguments(t *testing.T) {
	latin := "id;name;amount;note\n1;Zo\xe9;3,5;NA\n2;Bob;4,25;ok\n3;n/a;1;\n"
	cases := []struct {
		name, fn, file, content string
		kwargs                  []string // lines under function_kwargs, as dlt's reader takes them
		want                    string   // id:name:amount:note, ordered by id
	}{
		{"pandas sep, encoding, decimal, default NA", "read_csv", "a.csv", latin,
			[]string{`sep: ";"`, "encoding: latin-1", `decimal: ","`, "chunksize: 500"}, "1:Zoé:3.5:-,2:Bob:4.25:ok,3:-:1.0:-"},
		{"pandas keep_default_na false, own na_values", "read_csv", "a.csv", latin,
			[]string{`sep: ";"`, "encoding: latin1", `decimal: ","`, "keep_default_na: false", `na_values: ["ok"]`}, "1:Zoé:3.5:NA,2:Bob:4.25:-,3:n/a:1.0:"},
		{"pandas header line and skiprows", "read_csv", "a.csv", "junk line\nid,name,amount,note\n1,a,2,x\n",
			[]string{"header: 1"}, "1:a:2.0:x"},
		{"duckdb delimiter, decimal, nullstr", "read_csv_duckdb", "a.csv", "id|name|amount|note\n1|a|1,5|-\n2|b|2,0|y\n",
			[]string{`delimiter: "|"`, `decimal: ","`, `na_values: "-"`, "chunk_size: 100"}, "1:a:1.5:-,2:b:2.0:y"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := newProject(t, fmt.Sprintf(`version: 1
sources:
  - name: ex
    type: dlt_native
    dlt_native:
      source_module: filesystem
      source_function: %s
      function_kwargs:
        bucket_url: data/ex
        file_glob: "*.csv"
        %s
`, c.fn, strings.Join(c.kwargs, "\n        ")))
			writeFile(t, dir, "data/ex/"+c.file, c.content)
			if r := dango(t, dir, "sync"); r.code != 0 {
				t.Fatalf("sync: %+v", r)
			}
			got := scalar(t, dir, `SELECT string_agg(id || ':' || coalesce(name, '-') || ':' || coalesce(amount::DOUBLE::VARCHAR, '-') || ':' || coalesce(note, '-'), ',' ORDER BY id) FROM raw_ex.ex`)
			if got != c.want {
				t.Errorf("rows = %s, want %s", got, c.want)
			}
		})
	}
	bad := []struct{ fn, kwarg, want string }{
		{"read_csv", `sepp: ";"`, `.dango/sources.yml:10: function_kwargs.sepp: "sepp" is not an argument dango takes for filesystem read_csv`},
		{"read_csv", `sep: "\\s+"`, `.dango/sources.yml:10: function_kwargs.sep: want one character, got "\\s+"`},
		{"read_csv", `encoding: cp1252`, `.dango/sources.yml:10: function_kwargs.encoding: encoding "cp1252" is not supported`},
		{"read_csv", `usecols: [id]`, `.dango/sources.yml:10: function_kwargs.usecols: "usecols" is not an argument`},
		{"read_jsonl", `sep: ","`, `.dango/sources.yml:10: function_kwargs.sep: "sep" is not an argument dango takes for filesystem read_jsonl`},
		{"read_csv_duckdb", `filename: true`, `function_kwargs.filename: "filename" is not an argument`},
		{"read_csv_duckdb", `nullstr: "-"`, `function_kwargs.nullstr: "nullstr" is not an argument`}, // DuckDB's SQL name; Python's is na_values
	}
	for _, c := range bad {
		dir := newProject(t, fmt.Sprintf("version: 1\nsources:\n  - name: ex\n    type: dlt_native\n    dlt_native:\n      source_module: filesystem\n      source_function: %s\n      function_kwargs:\n        bucket_url: data/ex\n        %s\n", c.fn, c.kwarg))
		writeFile(t, dir, "data/ex/a.csv", "id\n1\n")
		if r := dango(t, dir, "sync"); r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s %s: want exit 2 and %q: %+v", c.fn, c.kwarg, c.want, r)
		}
	}
	dir := newProject(t, "version: 1\nsources:\n  - name: db\n    type: dlt_native\n    dlt_native:\n      source_module: sql_database\n      function_kwargs:\n        credentials: postgresql://u:p@127.0.0.1:1/db\n        reflection_levl: full\n")
	if r := dango(t, dir, "sync"); r.code != 2 || !strings.Contains(r.stderr, `.dango/sources.yml:9: function_kwargs.reflection_levl: "reflection_levl" is not an argument dango takes for sql_database`) {
		t.Errorf("misspelt sql_database argument: %+v", r)
	}
}
