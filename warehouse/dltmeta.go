package warehouse

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/sha3"
	"database/sql"
	"encoding/base64"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/naming"
)

// dlt keeps, beside _dlt_loads, the schema it loaded with (_dlt_version, one row per schema
// version, the schema as JSON) and the pipeline's state (_dlt_pipeline_state, compressed JSON,
// one row per state version, tied to a load). dango writes both in dlt 1.31's formats, so that
// a dlt pipeline named like the source, with dataset_name raw_<source> and the same DuckDB
// file, restores its state and schema from the warehouse, and pipeline.dataset() sees dango's
// tables. A load writes a new row only when the content changed.
const (
	dltSchemaEngine = 11 // dlt 1.31's SCHEMA_ENGINE_VERSION
	dltStateEngine  = 4  // dlt 1.31's PIPELINE_STATE_ENGINE_VERSION
)

var dltMetaTables = []string{
	`"_dlt_version" (version BIGINT NOT NULL, engine_version BIGINT NOT NULL, inserted_at TIMESTAMP WITH TIME ZONE NOT NULL, schema_name VARCHAR NOT NULL, version_hash VARCHAR NOT NULL, schema VARCHAR NOT NULL)`,
	`"_dlt_pipeline_state" (version BIGINT NOT NULL, engine_version BIGINT NOT NULL, pipeline_name VARCHAR NOT NULL, state VARCHAR NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL, version_hash VARCHAR, _dlt_load_id VARCHAR NOT NULL, _dlt_id VARCHAR NOT NULL)`,
}

func dltCol(name, typ string, nullable bool) member {
	return member{name, object{{"name", name}, {"data_type", typ}, {"nullable", nullable}}}
}

// dltOwnTables are dlt's definitions of its three tables in a stored schema.
func dltOwnTables() []member {
	return []member{
		{"_dlt_version", object{{"name", "_dlt_version"}, {"columns", object{
			dltCol("version", "bigint", false), dltCol("engine_version", "bigint", false), dltCol("inserted_at", "timestamp", false),
			dltCol("schema_name", "text", false), dltCol("version_hash", "text", false), dltCol("schema", "text", false)}},
			{"write_disposition", "skip"}, {"resource", "_dlt_version"}}},
		{"_dlt_loads", object{{"name", "_dlt_loads"}, {"columns", object{
			{"load_id", object{{"name", "load_id"}, {"data_type", "text"}, {"nullable", false}, {"precision", 64}}},
			dltCol("schema_name", "text", true), dltCol("status", "bigint", false), dltCol("inserted_at", "timestamp", false),
			dltCol("schema_version_hash", "text", true)}},
			{"write_disposition", "skip"}, {"resource", "_dlt_loads"}}},
		{"_dlt_pipeline_state", object{{"columns", object{
			dltCol("version", "bigint", false), dltCol("engine_version", "bigint", false), dltCol("pipeline_name", "text", false),
			dltCol("state", "text", false), dltCol("created_at", "timestamp", false), dltCol("version_hash", "text", true),
			dltCol("_dlt_load_id", "text", false),
			{"_dlt_id", object{{"name", "_dlt_id"}, {"data_type", "text"}, {"nullable", false}, {"unique", true}, {"row_key", true}}}}},
			{"write_disposition", "append"}, {"file_format", "preferred"}, {"name", "_dlt_pipeline_state"}, {"resource", "_dlt_pipeline_state"},
			{"x-normalizer", object{{"seen-data", true}}}}},
	}
}

// dltSettings are the schema-wide hints dlt's relational normalizer puts in a new schema.
func dltSettings() object {
	return object{
		{"detections", []any{"iso_timestamp"}},
		{"default_hints", object{
			{"not_null", []any{"_dlt_id", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_load_id"}},
			{"parent_key", []any{"_dlt_parent_id"}},
			{"root_key", []any{"_dlt_root_id"}},
			{"unique", []any{"_dlt_id"}},
			{"row_key", []any{"_dlt_id"}},
		}},
	}
}

// dltType maps a DuckDB column type to dlt's data type and hints, as dlt's DuckDB type mapper
// reads them back. Nested types dango keeps (STRUCT, lists, MAP) are json to dlt.
func dltType(t string, precision, scale sql.NullInt64) object {
	u := strings.ToUpper(t)
	switch {
	case strings.HasSuffix(u, "[]") || strings.HasPrefix(u, "STRUCT") || strings.HasPrefix(u, "MAP") || u == "JSON" || strings.HasPrefix(u, "UNION"):
		return object{{"data_type", "json"}}
	case strings.HasPrefix(u, "DECIMAL"):
		if precision.Int64 == 38 && scale.Int64 == 0 {
			return object{{"data_type", "wei"}, {"precision", precision.Int64}, {"scale", scale.Int64}}
		}
		return object{{"data_type", "decimal"}, {"precision", precision.Int64}, {"scale", scale.Int64}}
	}
	switch u {
	case "VARCHAR", "UUID":
		return object{{"data_type", "text"}}
	case "DOUBLE", "FLOAT", "REAL":
		return object{{"data_type", "double"}}
	case "BOOLEAN":
		return object{{"data_type", "bool"}}
	case "DATE":
		return object{{"data_type", "date"}}
	case "TIMESTAMP WITH TIME ZONE":
		return object{{"data_type", "timestamp"}}
	case "TIMESTAMP":
		return object{{"data_type", "timestamp"}, {"timezone", false}, {"precision", 6}}
	case "TIMESTAMP_S":
		return object{{"data_type", "timestamp"}, {"timezone", false}, {"precision", 0}}
	case "TIMESTAMP_MS":
		return object{{"data_type", "timestamp"}, {"timezone", false}, {"precision", 3}}
	case "TIMESTAMP_NS":
		return object{{"data_type", "timestamp"}, {"timezone", false}, {"precision", 9}}
	case "TIME", "TIME WITH TIME ZONE":
		return object{{"data_type", "time"}}
	case "BLOB":
		return object{{"data_type", "binary"}}
	case "BIGINT":
		return object{{"data_type", "bigint"}}
	case "TINYINT":
		return object{{"data_type", "bigint"}, {"precision", 8}}
	case "SMALLINT", "UTINYINT":
		return object{{"data_type", "bigint"}, {"precision", 16}}
	case "INTEGER", "USMALLINT":
		return object{{"data_type", "bigint"}, {"precision", 32}}
	case "UINTEGER":
		return object{{"data_type", "bigint"}, {"precision", 64}}
	case "HUGEINT", "UBIGINT", "UHUGEINT":
		return object{{"data_type", "bigint"}, {"precision", 128}}
	}
	return object{{"data_type", "text"}}
}

type catColumn struct {
	name, typ        string
	nullable         bool
	precision, scale sql.NullInt64
}

// dltSchemaHash is dlt's version hash of a stored schema: SHA3-256 over the schema without its
// version fields, keys sorted, then each table's name (in name order) and its column names in
// table order.
func dltSchemaHash(s object) string {
	c := append(object(nil), s...)
	for _, k := range []string{"version", "version_hash", "imported_version_hash", "previous_hashes"} {
		c.del(k)
	}
	var b bytes.Buffer
	encodeJSON(&b, c, true)
	h := sha3.New256()
	h.Write(b.Bytes())
	tables := c.obj("tables")
	names := make([]string, 0, len(tables))
	for _, m := range tables {
		names = append(names, m.Key)
	}
	sort.Strings(names)
	for _, tn := range names {
		h.Write([]byte(tn))
		t, _ := tables.get(tn)
		tob, _ := t.(object)
		for _, cm := range tob.obj("columns") {
			h.Write([]byte(cm.Key))
		}
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// writeDltSchema stores the schema of the raw dataset in _dlt_version when it changed and
// returns its version hash (dlt's schema_version_hash of the load). The newest stored schema
// of the same name — dango's or one a dlt pipeline wrote — is the base: its hints and settings
// are kept, its tables and columns brought in line with the catalog.
func (l *Load) writeDltSchema(ctx context.Context, resources []batch.Resource, now time.Time) (string, error) {
	s := naming.Quote(l.info.Schema)
	name := l.info.Source
	var prevVersion int64
	var prevHash, prevJSON string
	err := l.tx.QueryRowContext(ctx, `SELECT version, version_hash, schema FROM `+s+`."_dlt_version" WHERE schema_name = ? ORDER BY inserted_at DESC LIMIT 1`, name).
		Scan(&prevVersion, &prevHash, &prevJSON)
	if err != nil && err != sql.ErrNoRows {
		return "", err
	}
	if prevHash != "" && !l.ddl {
		return prevHash, nil // no table changed: the stored schema still describes the dataset
	}
	var prev object
	if prevJSON != "" {
		v, err := decodeOrdered([]byte(prevJSON))
		if err != nil {
			return "", fmt.Errorf("read the stored dlt schema %s in %s._dlt_version: %w", name, l.info.Schema, err)
		}
		prev, _ = v.(object)
	}

	rows, err := l.tx.QueryContext(ctx, `SELECT table_name, column_name, data_type, is_nullable, numeric_precision, numeric_scale
		FROM duckdb_columns() WHERE schema_name = ? ORDER BY table_name, column_index`, l.info.Schema)
	if err != nil {
		return "", err
	}
	cat := map[string][]catColumn{}
	var tableNames []string
	for rows.Next() {
		var t string
		var c catColumn
		if err := rows.Scan(&t, &c.name, &c.typ, &c.nullable, &c.precision, &c.scale); err != nil {
			rows.Close()
			return "", err
		}
		if strings.HasPrefix(t, "_dlt_") || strings.HasPrefix(t, "_dango_") {
			continue
		}
		if _, ok := cat[t]; !ok {
			tableNames = append(tableNames, t)
		}
		cat[t] = append(cat[t], c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", err
	}
	byTable := map[string]batch.Resource{}
	for _, r := range resources {
		byTable[r.Table] = r
	}

	prevTables := prev.obj("tables")
	tables := object(dltOwnTables())
	for _, t := range tableNames {
		var tob object
		if v, ok := prevTables.get(t); ok {
			tob, _ = v.(object)
			tob = append(object(nil), tob...)
		}
		prevCols := tob.obj("columns")
		var cols object
		for _, c := range cat[t] {
			var cob object
			if v, ok := prevCols.get(c.name); ok {
				cob, _ = v.(object)
				cob = append(object(nil), cob...)
				for _, k := range []string{"data_type", "precision", "scale", "timezone"} {
					cob.del(k)
				}
			} else {
				cob = object{{"name", c.name}}
			}
			for _, m := range dltType(c.typ, c.precision, c.scale) {
				cob.set(m.Key, m.Val)
			}
			cob.set("nullable", c.nullable)
			switch c.name {
			case ColID:
				cob.set("unique", true)
				cob.set("row_key", true)
			case ColParentID:
				cob.set("parent_key", true)
			case ColRootID:
				cob.set("root_key", true)
			}
			cols = append(cols, member{c.name, cob})
		}
		// Columns with hints only (no data type yet) are dlt's; they are kept.
		for _, m := range prevCols {
			if cob, ok := m.Val.(object); ok {
				if _, typed := cob.get("data_type"); !typed {
					if _, dup := cols.get(m.Key); !dup {
						cols = append(cols, m)
					}
				}
			}
		}
		if tob == nil {
			tob = object{{"name", t}}
		}
		tob.set("columns", cols)
		parent := parentTable(t, cat)
		if parent != "" {
			tob.set("parent", parent)
			tob.del("write_disposition")
		} else if r, ok := byTable[t]; ok {
			tob.set("write_disposition", r.Disposition)
			if len(r.PrimaryKey) > 0 {
				for _, k := range r.PrimaryKey {
					for _, cand := range []string{k, naming.Snake(k)} {
						if v, ok := cols.get(cand); ok {
							cob := v.(object)
							cob.set("primary_key", true)
							cols.set(cand, cob)
							break
						}
					}
				}
			}
		} else if _, ok := tob.get("write_disposition"); !ok {
			tob.set("write_disposition", batch.Append)
		}
		if _, ok := tob.get("resource"); !ok && parent == "" {
			tob.set("resource", t)
		}
		tob.set("x-normalizer", object{{"seen-data", true}})
		tables = append(tables, member{t, tob})
	}

	doc := object{{"version", prevVersion + 1}, {"version_hash", ""}, {"engine_version", dltSchemaEngine}, {"name", name}, {"tables", tables}}
	if v, ok := prev.get("settings"); ok {
		doc.set("settings", v)
	} else {
		doc.set("settings", dltSettings())
	}
	if v, ok := prev.get("normalizers"); ok {
		doc.set("normalizers", v)
	} else {
		doc.set("normalizers", object{{"names", "snake_case"}, {"json", object{{"module", "dlt.common.normalizers.json.relational"}}}})
	}
	hash := dltSchemaHash(doc)
	if hash == prevHash {
		return prevHash, nil
	}
	previous := []any{}
	if prevHash != "" {
		previous = append(previous, prevHash)
		if v, ok := prev.get("previous_hashes"); ok {
			if a, ok := v.([]any); ok {
				for _, h := range a {
					if len(previous) < 10 && h != prevHash {
						previous = append(previous, h)
					}
				}
			}
		}
	}
	doc.set("version_hash", hash)
	doc.set("previous_hashes", previous)
	var b bytes.Buffer
	encodeJSON(&b, doc, false)
	if _, err := l.tx.ExecContext(ctx, `INSERT INTO `+s+`."_dlt_version" VALUES (?, ?, ?, ?, ?, ?)`,
		prevVersion+1, dltSchemaEngine, now, name, hash, b.String()); err != nil {
		return "", err
	}
	return hash, nil
}

// parentTable is the table a child table (one with _dlt_parent_id) hangs from: the longest
// "__"-separated prefix of its name that is a table.
func parentTable(t string, cat map[string][]catColumn) string {
	child := false
	for _, c := range cat[t] {
		child = child || c.name == ColParentID
	}
	if !child {
		return ""
	}
	for i := strings.LastIndex(t, naming.PathSeparator); i > 0; i = strings.LastIndex(t[:i], naming.PathSeparator) {
		if _, ok := cat[t[:i]]; ok {
			return t[:i]
		}
	}
	return ""
}

// writeDltState stores the pipeline state dlt restores for a pipeline named like the source:
// its name, dataset and schema. Keys a dlt pipeline added to the newest stored state (its
// sources' state, for one) are kept. A row is written only when the state changed.
func (l *Load) writeDltState(ctx context.Context, now time.Time) error {
	s := naming.Quote(l.info.Schema)
	name := l.info.Source
	var prevVersion int64
	var prevState string
	err := l.tx.QueryRowContext(ctx, `SELECT s.version, s.state FROM `+s+`."_dlt_pipeline_state" AS s JOIN `+s+
		`."_dlt_loads" AS l ON l.load_id = s._dlt_load_id WHERE s.pipeline_name = ? AND l.status = 0 ORDER BY l.load_id DESC LIMIT 1`, name).
		Scan(&prevVersion, &prevState)
	if err != nil && err != sql.ErrNoRows {
		return err
	}
	state := object{}
	if prevState != "" {
		raw, err := decompressState(prevState)
		if err != nil {
			return fmt.Errorf("read the stored dlt pipeline state %s in %s._dlt_pipeline_state: %w", name, l.info.Schema, err)
		}
		v, err := decodeOrdered(raw)
		if err != nil {
			return fmt.Errorf("read the stored dlt pipeline state %s in %s._dlt_pipeline_state: %w", name, l.info.Schema, err)
		}
		state, _ = v.(object)
	}
	prevHash, _ := state.get("_version_hash")
	state.set("_state_version", prevVersion)
	state.set("_state_engine_version", dltStateEngine)
	state.set("dataset_name", l.info.Schema)
	if v, ok := state.get("default_schema_name"); !ok || v == nil {
		state.set("default_schema_name", name)
	}
	names := []any{}
	if v, ok := state.get("schema_names"); ok {
		names, _ = v.([]any)
	}
	has := false
	for _, n := range names {
		has = has || n == name
	}
	if !has {
		names = append(names, name)
	}
	state.set("schema_names", names)
	state.set("pipeline_name", name)
	state.set("destination_type", "dlt.destinations.duckdb")
	if _, ok := state.get("destination_name"); !ok {
		state.set("destination_name", nil)
	}
	// dlt's state hash: SHA3-256 over the state without its version fields, keys sorted.
	c := append(object(nil), state...)
	for _, k := range []string{"_state_version", "_state_engine_version", "_version_hash", "_local"} {
		c.del(k)
	}
	var b bytes.Buffer
	encodeJSON(&b, c, true)
	sum := sha3.Sum256(b.Bytes())
	hash := base64.StdEncoding.EncodeToString(sum[:])
	if hash == prevHash {
		return nil
	}
	state.set("_state_version", prevVersion+1)
	state.set("_version_hash", hash)
	b.Reset()
	encodeJSON(&b, state, false)
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	zw.Write(b.Bytes())
	zw.Close()
	_, err = l.tx.ExecContext(ctx, `INSERT INTO `+s+`."_dlt_pipeline_state" VALUES (?, ?, ?, ?, ?, ?, ?, `+IDExpr+`)`,
		prevVersion+1, dltStateEngine, name, base64.StdEncoding.EncodeToString(z.Bytes()), now, hash, l.info.LoadID)
	return err
}

func decompressState(s string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return []byte(s), nil // dlt also accepts uncompressed JSON
	}
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return io.ReadAll(zr)
}
