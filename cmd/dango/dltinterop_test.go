package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// dltPythonForTest is the dlt 1.31 venv's python (DANGO_DLT_PYTHON, default the project's);
// the interop tests skip without it.
func dltPythonForTest(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs real dlt; skipped under -short")
	}
	if p := os.Getenv("DANGO_DLT_PYTHON"); p != "" {
		return p
	}
	for _, p := range []string{"../../.venv-dlt/bin/python", "/work/main/.venv-dlt/bin/python"} {
		if abs, _ := filepath.Abs(p); fileExists(abs) {
			return abs
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI must provide dlt's python (DANGO_DLT_PYTHON)")
	}
	t.Skip("dlt not installed (set DANGO_DLT_PYTHON)")
	return ""
}

// runDltScript runs a dlt script in the project folder, with the warehouse path and a fresh
// pipelines dir (as a dlt user on a new machine: everything is restored from the warehouse).
func runDltScript(t *testing.T, dir, script string) string {
	t.Helper()
	py := dltPythonForTest(t)
	f := filepath.Join(t.TempDir(), "script.py")
	if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, f)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DLT_DATA_DIR="+t.TempDir(), "WAREHOUSE="+filepath.Join(dir, "data", "warehouse.duckdb"),
		"RUNTIME__LOG_LEVEL=WARNING", "DLT_TELEMETRY_DISABLED=1", "RUNTIME__DLTHUB_TELEMETRY=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dlt script: %v\n%s", err, out)
	}
	return string(out)
}

const dltPrelude = `
import os, json, dlt
from dlt.common.schema.utils import generate_version_hash
wh = os.environ["WAREHOUSE"]
# Rows are read through the dataset's own SQL client. (Its relation API — ds["t"].fetchall(),
# select/order_by — fails in this venv for dlt's own tables too: sqlglot 30 removed an argument
# dlt 1.31's lineage passes, "qualify() got an unexpected keyword argument 'infer_schema'".)
def q(ds, sql):
    return ds(sql, _execute_raw_query=True).fetchall()
def pipe():
    return dlt.pipeline(pipeline_name="shop", destination=dlt.destinations.duckdb(wh), dataset_name="raw_shop")
`

// TestDltInteropDangoFirst: dango loads a table; a dlt pipeline named like the source, on the
// same file and dataset, restores state and schema from the warehouse (whose stored schema
// hash is dlt's own), sees dango's tables through pipeline.dataset(), appends and merges into
// the table; dango syncs again on top.
func TestDltInteropDangoFirst(t *testing.T) {
	dltPythonForTest(t)
	dir := newProject(t, "version: 1\nsources:\n  - name: shop\n    type: json\n    write_disposition: merge\n    primary_key: id\n    json: {path: data/orders.jsonl}\n")
	writeFile(t, dir, "data/orders.jsonl", `{"id": 1, "Status": "new", "reactions": {"+1": 3, "-1": 1}, "tags": [{"t": "a"}, {"t": "b"}]}`+"\n"+`{"id": 2, "Status": "new", "reactions": {"+1": 0, "-1": 2}, "tags": [{"t": "c"}]}`+"\n")
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("sync: %+v", r)
	}
	out := runDltScript(t, dir, dltPrelude+`
import duckdb
con = duckdb.connect(wh)
row = con.sql("select schema, version_hash from raw_shop._dlt_version where schema_name = 'shop' order by inserted_at desc limit 1").fetchone()
con.close()
stored = json.loads(row[0])
assert generate_version_hash(stored) == row[1] == stored["version_hash"], "version hash is not dlt's"
p = pipe()
p.sync_destination()
assert p.default_schema_name == "shop", p.default_schema_name
cols = p.default_schema.get_table_columns("shop")
print("COLUMNS", ",".join(cols))
ds = p.dataset()
print("TABLES", ",".join(sorted(t for t in ds.schema.data_table_names())))
assert "shop" in ds.tables, ds.tables
print("ROWS", q(ds, "select id, status, reactions__x1, reactions___1 from shop order by id"))
# append, then merge on id
p.run([{"id": 3, "Status": "dlt-appended", "reactions": {"+1": 7, "-1": 0}, "tags": [{"t": "d"}]}], table_name="shop", write_disposition="append")
p.run([{"id": 1, "Status": "dlt-merged", "reactions": {"+1": 4, "-1": 1}}], table_name="shop", write_disposition="merge", primary_key="id")
print("AFTER", q(pipe().dataset(), "select id, status from shop order by id"))
print("CHILD", q(pipe().dataset(), "select p.id, c.t from shop__tags c join shop p on c._dlt_parent_id = p._dlt_id order by p.id, c._dlt_list_idx"))
`)
	for _, want := range []string{
		"COLUMNS id,status,reactions__x1,reactions___1,_dlt_load_id,_dlt_id,_dlt_extracted_at",
		"TABLES shop,shop__tags",
		// dlt's merge of id 1 (no tags) removed its child rows through dango's _dlt_root_id.
		"CHILD [(2, 'c'), (3, 'd')]",
		"ROWS [(1, 'new', 3, 1), (2, 'new', 0, 2)]",
		"AFTER [(1, 'dlt-merged'), (2, 'new'), (3, 'dlt-appended')]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dlt output lacks %q:\n%s", want, out)
		}
	}
	// dango again: merges on id over what dlt wrote.
	writeFile(t, dir, "data/orders.jsonl", `{"id": 2, "Status": "dango-again", "reactions": {"+1": 0, "-1": 2}}`+"\n"+`{"id": 4, "Status": "dango-new", "reactions": {"+1": 1, "-1": 1}}`+"\n")
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("second sync: %+v", r)
	}
	if got := scalar(t, dir, "SELECT string_agg(id || '=' || status, ',' ORDER BY id) FROM raw_shop.shop"); got != "1=dlt-merged,2=dango-again,3=dlt-appended,4=dango-new" {
		t.Errorf("after dango's second sync: %s", got)
	}
	if got := scalar(t, dir, "SELECT count(DISTINCT _dlt_id) = count(*) AND bool_and(length(_dlt_id) = 14) FROM raw_shop.shop"); got != "true" {
		t.Errorf("_dlt_id not unique 14-character text ids: %s", got)
	}
	// And dlt once more sees dango's newest rows.
	out = runDltScript(t, dir, dltPrelude+`
print("FINAL", q(pipe().dataset(), "select id, status from shop order by id"))
`)
	if !strings.Contains(out, "FINAL [(1, 'dlt-merged'), (2, 'dango-again'), (3, 'dlt-appended'), (4, 'dango-new')]") {
		t.Errorf("dlt's view after dango's second sync:\n%s", out)
	}
}

// TestDltInteropDltFirst: dlt creates the dataset and table; dango syncs into it (same column
// names, text ids), and dlt reads both its own rows and dango's.
func TestDltInteropDltFirst(t *testing.T) {
	dltPythonForTest(t)
	dir := newProject(t, "version: 1\nsources:\n  - name: shop\n    type: json\n    write_disposition: merge\n    primary_key: id\n    json: {path: data/orders.jsonl}\n")
	os.MkdirAll(filepath.Join(dir, "data"), 0o755)
	runDltScript(t, dir, dltPrelude+`
pipe().run([{"id": 1, "Status": "from-dlt", "reactions": {"+1": 5, "-1": 0}}], table_name="shop", write_disposition="merge", primary_key="id")
`)
	writeFile(t, dir, "data/orders.jsonl", `{"id": 1, "Status": "dango-merged", "reactions": {"+1": 6, "-1": 0}}`+"\n"+`{"id": 2, "Status": "dango-new", "reactions": {"+1": 0, "-1": 9}}`+"\n")
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("sync into dlt's table: %+v", r)
	}
	if got := scalar(t, dir, "SELECT string_agg(id || '=' || status || '/' || reactions__x1 || '/' || reactions___1, ',' ORDER BY id) FROM raw_shop.shop"); got != "1=dango-merged/6/0,2=dango-new/0/9" {
		t.Errorf("after dango synced into dlt's table: %s", got)
	}
	if got := scalar(t, dir, "SELECT count(*) FROM duckdb_columns() WHERE schema_name = 'raw_shop' AND table_name = 'shop' AND column_name LIKE 'reactions%'"); got != "2" {
		t.Errorf("reactions columns = %s, want dlt's two (dango must use dlt's names)", got)
	}
	out := runDltScript(t, dir, dltPrelude+`
p = pipe()
p.run([{"id": 3, "Status": "dlt-again", "reactions": {"+1": 1, "-1": 1}}], table_name="shop", write_disposition="merge", primary_key="id")
print("ROWS", q(p.dataset(), "select id, status from shop order by id"))
`)
	if !strings.Contains(out, "ROWS [(1, 'dango-merged'), (2, 'dango-new'), (3, 'dlt-again')]") {
		t.Errorf("dlt after dango:\n%s", out)
	}
}

// TestDltColumnNamesOfMessyKeys: dango and dlt load the same NDJSON records, whose keys are
// the kind real sources send (symbols, non-ASCII, camelCase, leading digits and underscores,
// trailing "$", nested objects), and make the same column names, character for character.
func TestDltColumnNamesOfMessyKeys(t *testing.T) {
	dltPythonForTest(t)
	keys := []string{"Order ID", "customerName", "HTTPRequest", "Amount ($)", "2024 revenue", "e-mail address",
		"_private", "__typename", "Straße", "Größe (cm)", "名前", "price*qty", "user@domain", "a|b", "value$",
		"% Complete", "Phone #", "x-request-id", "IPv4Address", "trailing_", "a--b__c", "C++", "@odata.etag",
		"Q1 2024", "Número de teléfono"}
	var rec strings.Builder
	rec.WriteString(`{"id": 1`)
	for i, k := range keys {
		fmt.Fprintf(&rec, ", %q: %d", k, i)
	}
	rec.WriteString(`, "reactions": {"+1": 1, "-1": 2, "totalCount": 3}, "Nested Obj": {"innerKey": "v", "Ünï": "w"}}`)
	dir := newProject(t, "version: 1\nsources:\n  - name: shop\n    type: json\n    json: {path: data/orders.jsonl}\n")
	writeFile(t, dir, "data/orders.jsonl", rec.String()+"\n")
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("sync: %+v", r)
	}
	dangoCols := scalar(t, dir, "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM duckdb_columns() WHERE schema_name = 'raw_shop' AND table_name = 'shop' AND column_name NOT LIKE '\\_dlt\\_%' ESCAPE '\\'")
	writeFile(t, dir, "rec.json", rec.String())
	out := runDltScript(t, dir, `
import json, dlt, duckdb, os
rec = json.load(open("rec.json"))
p = dlt.pipeline(pipeline_name="names", destination=dlt.destinations.duckdb("dlt_names.duckdb"), dataset_name="d")
p.run([rec], table_name="shop")
c = duckdb.connect("dlt_names.duckdb")
cols = [r[0] for r in c.sql("select column_name from duckdb_columns() where schema_name = 'd' and table_name = 'shop' and column_name not like '\\_dlt\\_%' escape '\\' order by column_name").fetchall()]
print("COLS " + ",".join(cols))
`)
	var dltCols string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "COLS ") {
			dltCols = strings.TrimPrefix(line, "COLS ")
		}
	}
	if dltCols == "" {
		t.Fatalf("no columns from dlt:\n%s", out)
	}
	t.Logf("columns: %s", dangoCols)
	if dangoCols != dltCols {
		t.Errorf("column names differ\n dango: %s\n   dlt: %s", dangoCols, dltCols)
	}
}
