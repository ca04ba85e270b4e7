package warehouse

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/dangohq/dango/batch"
)

// TestDltVersionAndStateRows: the first load stores dlt's schema (version 1) and pipeline state;
// a load that changes no table stores neither again and reports the same schema hash in
// _dlt_loads; a new column stores schema version 2 with the old hash in previous_hashes.
// (That dlt itself reads these rows is TestDltInterop* in cmd/dango.)
func TestDltVersionAndStateRows(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := Open(ctx, filepath.Join(dir, "w.duckdb"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	load := func(id, content string, cols ...batch.Column) {
		t.Helper()
		b := csvBatch(t, dir, id+".csv", content, cols...)
		ld, err := w.Begin(ctx, LoadInfo{LoadID: id, Source: "s", Schema: "raw_s"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := ld.Apply(ctx, id+"/1/1", b); err != nil {
			t.Fatal(err)
		}
		if _, err := ld.Commit(ctx, []batch.Resource{b.Resource}); err != nil {
			t.Fatal(err)
		}
	}
	load("100.1", "id,name\n1,a\n", col("id", "BIGINT"), col("name", "VARCHAR"))
	load("100.2", "id,name\n2,b\n", col("id", "BIGINT"), col("name", "VARCHAR"))
	if n := count(t, w, `SELECT count(*) FROM raw_s._dlt_version WHERE schema_name = 's' AND version = 1 AND engine_version = 11`); n != 1 {
		t.Fatalf("_dlt_version rows after two loads with the same columns = %d, want 1", n)
	}
	if n := count(t, w, `SELECT count(DISTINCT schema_version_hash) FROM raw_s._dlt_loads WHERE schema_version_hash = (SELECT version_hash FROM raw_s._dlt_version)`); n != 1 {
		t.Errorf("_dlt_loads do not carry the stored schema's hash")
	}
	if n := count(t, w, `SELECT count(*) FROM raw_s._dlt_pipeline_state WHERE pipeline_name = 's' AND version = 1 AND engine_version = 4 AND _dlt_load_id = '100.1' AND length(_dlt_id) = 14`); n != 1 {
		t.Fatalf("_dlt_pipeline_state rows = %d, want one, from the first load", n)
	}
	load("100.3", "id,name,extra\n3,c,x\n", col("id", "BIGINT"), col("name", "VARCHAR"), col("extra", "VARCHAR"))
	var doc string
	var version int64
	if err := w.DB().QueryRow(`SELECT version, schema FROM raw_s._dlt_version ORDER BY inserted_at DESC LIMIT 1`).Scan(&version, &doc); err != nil {
		t.Fatal(err)
	}
	var first string
	w.DB().QueryRow(`SELECT version_hash FROM raw_s._dlt_version WHERE version = 1`).Scan(&first)
	var schema struct {
		Name           string   `json:"name"`
		PreviousHashes []string `json:"previous_hashes"`
		Tables         map[string]struct {
			WriteDisposition string                    `json:"write_disposition"`
			Columns          map[string]map[string]any `json:"columns"`
		} `json:"tables"`
	}
	if err := json.Unmarshal([]byte(doc), &schema); err != nil {
		t.Fatal(err)
	}
	items := schema.Tables["items"]
	if version != 2 || schema.Name != "s" || len(schema.PreviousHashes) != 1 || schema.PreviousHashes[0] != first {
		t.Errorf("schema version %d name %q previous %v (first %s)", version, schema.Name, schema.PreviousHashes, first)
	}
	if items.WriteDisposition != "append" || items.Columns["extra"]["data_type"] != "text" || items.Columns["id"]["data_type"] != "bigint" ||
		items.Columns["_dlt_id"]["unique"] != true || items.Columns["_dlt_id"]["row_key"] != true {
		t.Errorf("items in the stored schema: %+v", items)
	}
	for _, tn := range []string{"_dlt_version", "_dlt_loads", "_dlt_pipeline_state"} {
		if _, ok := schema.Tables[tn]; !ok {
			t.Errorf("stored schema lacks dlt's table %s", tn)
		}
	}
	if _, ok := schema.Tables["_dango_batches"]; ok {
		t.Error("dango's own tables are in dlt's schema")
	}
	if n := count(t, w, `SELECT count(*) FROM raw_s._dlt_pipeline_state`); n != 1 {
		t.Errorf("state rows after a schema change = %d; the state did not change", n)
	}
}
