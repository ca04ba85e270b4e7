// Package batch defines the unit of data that travels from a connector, through JetStream, to
// the warehouse writer. It is the contract between the two sides: connectors build batches
// without knowing DuckDB's tables, and the writer loads them without knowing where they came
// from.
//
// A Scan batch hands the writer a set of files that DuckDB's own readers parse (read_csv,
// read_json, read_parquet): the fastest way to load a file is not to move its rows through Go
// at all. Connectors that produce rows themselves (APIs, databases) will add a rows form.
package batch

import (
	"fmt"
	"strings"
	"time"

	"github.com/dangohq/dango/naming"
)

// Batch is one unit of data for one table of one load.
type Batch struct {
	Table       string    `json:"table"` // normalized target table name
	Resource    Resource  `json:"resource"`
	ExtractedAt time.Time `json:"extracted_at"`
	Scan        *Scan     `json:"scan,omitempty"`
}

// Write dispositions.
const (
	Append  = "append"
	Replace = "replace"
	Merge   = "merge"
)

// Resource is one named stream of a source and how its rows land in its table.
type Resource struct {
	Name        string       `json:"name"`
	Table       string       `json:"table"`
	Disposition string       `json:"disposition"`           // append, replace or merge
	PrimaryKey  []string     `json:"primary_key,omitempty"` // as configured; the writer normalizes
	Incremental *Incremental `json:"incremental,omitempty"`
}

// Incremental restricts a load to rows whose cursor is at or past Start. Rows that were
// already loaded (same key and cursor, or the same content when there is no key) are
// dropped by the writer, which also stores the new cursor in the load's transaction.
type Incremental struct {
	CursorColumn string `json:"cursor_column"`   // as configured; the writer normalizes
	Start        string `json:"start,omitempty"` // "" loads everything
}

// State is what the warehouse remembers of a source between syncs; the dispatcher reads it
// and hands it to the connector with the job.
type State struct {
	Cursors map[string]string               `json:"cursors,omitempty"` // resource → last cursor, as text
	Files   map[string]map[string]FileState `json:"files,omitempty"`   // resource → project-relative path → state
}

// FileState identifies the version of a file that was loaded.
type FileState struct {
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
}

// Same reports whether two states describe the same file version.
func (f FileState) Same(o FileState) bool { return f.Size == o.Size && f.ModTime.Equal(o.ModTime) }

// Scan is a set of files to be read by DuckDB's reader for Format.
type Scan struct {
	Format  string         `json:"format"` // csv, json, parquet
	Files   []string       `json:"files"`  // absolute paths
	Options map[string]any `json:"options,omitempty"`
	// ReaderColumns, when set, declares the reader's columns and types in order (rendered as
	// columns = {...}), so the writer reads exactly what the connector described.
	ReaderColumns []ReaderColumn `json:"reader_columns,omitempty"`
	// Columns maps what the reader yields to the table's columns, in order.
	Columns []Column `json:"columns"`
	Bytes   int64    `json:"bytes"` // total size of Files
	// Records is how many records the connector wrote to Files, when it counted them (0:
	// not counted), so the writer can say how many it kept and why the rest were not.
	Records int64 `json:"records,omitempty"`
	// Track, when set, records which file each row came from (column _dango_source_file,
	// project-relative) and the version of every file loaded, so later syncs skip unchanged
	// files and replace the rows of changed ones. Labels are the project-relative paths of
	// Files, in the same order; Replaced lists those whose earlier rows are to be deleted.
	Track bool `json:"track,omitempty"`
	// Whole, with Track, is a source of one file: its table holds only that file's rows, so
	// no _dango_source_file column is added (the table stays as dlt makes it, and loads as
	// fast as the file alone) and replacing the file's rows deletes the table's earlier rows.
	Whole bool `json:"whole,omitempty"`
	// Temporary marks files a connector spooled for this load (API pages as NDJSON): the
	// writer's side deletes them once the load is committed or abandoned.
	Temporary bool        `json:"temporary,omitempty"`
	Labels    []string    `json:"labels,omitempty"`
	Versions  []FileState `json:"versions,omitempty"`
	Replaced  []string    `json:"replaced,omitempty"`
	// Digests holds, for each of Files shipped through the spool object store, the SHA-256
	// of what the worker uploaded ("SHA-256=<base64url>", as the object store writes it); ""
	// for a local file. The writer loads an object only if its content has this digest, so
	// an object overwritten in the store by anyone else is never loaded.
	Digests []string `json:"digests,omitempty"`
}

// ReaderColumn is a column as the file names it, with the type to read it as.
type ReaderColumn struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Column is one target column and where its value comes from.
type Column struct {
	Name string   `json:"name"` // normalized warehouse column name
	Path []string `json:"path"` // field path in the reader's output: ["customer"] or ["address","city"]
	Type string   `json:"type"` // DuckDB type name
	// Inline keeps a list-typed column as a DuckDB LIST in its table (a database's array
	// column) instead of a child table (JSON lists, dlt's convention).
	Inline bool `json:"inline,omitempty"`
	// Coerce, when set to a dlt data type (see DltTypes), makes the column take the values
	// that dlt would coerce into that type: "123" into bigint, 2 into double, anything into
	// text. The values are JSON (FromJSON), or typed ones the writer fits to a table's type.
	Coerce string `json:"coerce,omitempty"`
	// Variant, when set to a dlt data type, makes the column dlt's variant column
	// (<column>__v_<type>): it takes the values of that kind that did not coerce into Coerce.
	Variant string `json:"variant,omitempty"`
	// Children, for a list column, are the columns of its child table: paths start at the
	// element ("__elem"), and lists among them are child tables of the child table.
	Children []Column `json:"children,omitempty"`
	// FromJSON says the reader yields Path as JSON (a field holding values of several kinds):
	// JSONPath names the keys below it, a list column takes the values that are arrays.
	FromJSON bool     `json:"from_json,omitempty"`
	JSONPath []string `json:"json_path,omitempty"`
	// NotNull creates the column NOT NULL (a database column's constraint, as dlt keeps it).
	NotNull bool `json:"not_null,omitempty"`
}

// ElemPath is the first path segment of a child table's columns: the list element.
const ElemPath = "__elem"

// DltTypes maps dlt's data types of JSON values to the DuckDB type of their column.
var DltTypes = map[string]string{
	"bigint": "BIGINT", "double": "DOUBLE", "text": "VARCHAR", "bool": "BOOLEAN", "timestamp": "TIMESTAMP WITH TIME ZONE",
	"json": "JSON", // objects and lists past max_table_nesting
	"date": "DATE", // ISO dates, where a source types them (Google Sheets)
}

// DltType is the dlt data type of a column of DuckDB type t, "" for types dlt does not give
// JSON values.
func DltType(t string) string {
	for d, dt := range DltTypes {
		if dt == t {
			return d
		}
	}
	switch t {
	case "TIMESTAMPTZ":
		return "timestamp"
	case "BOOL":
		return "bool"
	}
	return ""
}

// VariantTypes are the dlt types a variant column can have, in the order tried.
var VariantTypes = []string{"bigint", "double", "text", "bool", "json"}

// jsonTypes are the json_type() names of the values of each dlt type.
var jsonTypes = map[string]string{
	"bigint": "'BIGINT', 'UBIGINT'", "double": "'DOUBLE'", "text": "'VARCHAR'", "bool": "'BOOLEAN'", "json": "'OBJECT', 'ARRAY'",
}

// ReaderSQL renders the DuckDB table function call that reads the scan's files, e.g.
// read_csv(['/a.csv','/b.csv'], header = true, union_by_name = true). Options are checked
// against the format's allowlist and reader column types re-rendered from their parsed form.
func (s *Scan) ReaderSQL() (string, error) {
	if _, ok := readerOptions[s.Format]; !ok {
		return "", fmt.Errorf("unknown reader format %s (csv, json or parquet)", Short(s.Format))
	}
	opts, err := OptionsSQL(s.Format, s.Options)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("read_")
	b.WriteString(s.Format) // one of the allowlist's keys, checked above
	b.WriteString("([")
	for i, f := range s.Files {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(naming.Literal(f))
	}
	b.WriteString("]")
	b.WriteString(opts)
	if len(s.ReaderColumns) > 0 {
		b.WriteString(", columns = {")
		for i, c := range s.ReaderColumns {
			if i > 0 {
				b.WriteString(", ")
			}
			t, err := SQLType(c.Type)
			if err != nil {
				return "", fmt.Errorf("reader column %s: %w", Short(c.Name), err)
			}
			b.WriteString(naming.Literal(c.Name) + ": " + naming.Literal(t))
		}
		b.WriteString("}")
	}
	b.WriteString(")")
	return b.String(), nil
}

// Expr renders the SQL expression that reads the column from the reader's output.
func (c Column) Expr() string {
	e := naming.Quote(c.Path[0])
	for _, p := range c.Path[1:] {
		e = "struct_extract(" + e + ", " + naming.Literal(p) + ")"
	}
	if len(c.JSONPath) > 0 {
		var p strings.Builder
		for _, k := range c.JSONPath { // a JSON Pointer: no key can break out of it
			p.WriteString("/" + strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"))
		}
		e = "json_extract(" + e + ", " + naming.Literal(p.String()) + ")"
	}
	if c.Coerce != "" && !c.FromJSON {
		// A typed value coerced into a column of another type (an existing table's).
		e = "to_json(" + e + ")"
	}
	switch {
	case c.FromJSON && c.Coerce == "" && strings.HasSuffix(c.Type, "[]"):
		return "CASE WHEN json_type(" + e + ") = 'ARRAY' THEN TRY_CAST(" + e + " AS JSON[]) END"
	case c.Variant != "":
		return "CASE WHEN " + kindSQL(e, c.Variant) + " AND (" + coerceSQL(e, c.Coerce) + ") IS NULL THEN " +
			variantSQL(e, c.Variant) + " END"
	case c.Coerce != "":
		return coerceSQL(e, c.Coerce)
	}
	return e
}

// kindSQL is true when the JSON value x is of dlt type typ. An integer beyond 64 bits is a
// double, as jsonshape types it (DuckDB's UBIGINT holds small ones too).
func kindSQL(x, typ string) string {
	switch typ {
	case "bigint":
		return "(json_type(" + x + ") IN ('BIGINT', 'UBIGINT') AND TRY_CAST(" + x + " AS BIGINT) IS NOT NULL)"
	case "double":
		return "(json_type(" + x + ") = 'DOUBLE' OR (json_type(" + x + ") = 'UBIGINT' AND TRY_CAST(" + x + " AS BIGINT) IS NULL))"
	}
	return "json_type(" + x + ") IN (" + jsonTypes[typ] + ")"
}

// coerceSQL reads the JSON value x (every cast a TRY_CAST: DuckDB may evaluate a CASE
// branch for rows that do not take it) as dlt coerces a value into a column of type to, NULL
// where dlt would not (the value then goes to a variant column).
func coerceSQL(x, to string) string {
	str := "json_extract_string(" + x + ", '$')"
	num := "json_type(" + x + ") IN ('BIGINT', 'UBIGINT', 'DOUBLE')"
	switch to {
	case "bigint":
		return "CASE WHEN json_type(" + x + ") IN ('BIGINT', 'UBIGINT') THEN TRY_CAST(" + x + " AS BIGINT)" +
			" WHEN json_type(" + x + ") = 'DOUBLE' AND TRY_CAST(" + x + " AS DOUBLE) % 1 = 0 THEN TRY_CAST(TRY_CAST(" + x + " AS DOUBLE) AS BIGINT)" +
			" WHEN json_type(" + x + ") = 'VARCHAR' AND regexp_full_match(trim(" + str + "), '[+-]?[0-9]+(_[0-9]+)*') THEN TRY_CAST(trim(" + str + ") AS BIGINT) END"
	case "double":
		return "CASE WHEN " + num + " THEN TRY_CAST(" + x + " AS DOUBLE) WHEN json_type(" + x + ") = 'VARCHAR' THEN TRY_CAST(trim(" + str + ") AS DOUBLE) END"
	case "text":
		return "CASE WHEN json_type(" + x + ") = 'VARCHAR' THEN " + str +
			" WHEN json_type(" + x + ") = 'BOOLEAN' THEN CASE WHEN TRY_CAST(" + x + " AS BOOLEAN) THEN 'True' ELSE 'False' END" +
			" WHEN " + num + " THEN TRY_CAST(" + x + " AS VARCHAR) END"
	case "bool":
		return "CASE WHEN json_type(" + x + ") = 'BOOLEAN' THEN TRY_CAST(" + x + " AS BOOLEAN) WHEN " + num + " THEN TRY_CAST(" + x + " AS DOUBLE) <> 0" +
			" WHEN json_type(" + x + ") = 'VARCHAR' THEN CASE WHEN lower(" + str + ") IN ('yes', 'true', 't', 'y', '1') THEN true" +
			" WHEN lower(" + str + ") IN ('no', 'false', 'f', 'n', '0') THEN false END END"
	case "json":
		return "CASE WHEN json_type(" + x + ") IN ('OBJECT', 'ARRAY') THEN " + x + " END"
	case "date":
		return "CASE WHEN json_type(" + x + ") = 'VARCHAR' THEN TRY_CAST(" + str + " AS DATE) END"
	case "timestamp":
		return "CASE WHEN json_type(" + x + ") = 'VARCHAR' THEN TRY_CAST(" + str + " AS TIMESTAMP WITH TIME ZONE)" +
			" WHEN " + num + " THEN to_timestamp(TRY_CAST(" + x + " AS DOUBLE)) END"
	}
	return "NULL"
}

// variantSQL reads the JSON value x, of dlt type typ, as that type.
func variantSQL(x, typ string) string {
	switch typ {
	case "text":
		return "json_extract_string(" + x + ", '$')"
	case "bigint":
		return "TRY_CAST(" + x + " AS BIGINT)"
	case "double":
		return "TRY_CAST(" + x + " AS DOUBLE)"
	case "bool":
		return "TRY_CAST(" + x + " AS BOOLEAN)"
	case "json":
		return x
	}
	return "NULL"
}
