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
	// Track, when set, records which file each row came from (column _dango_source_file,
	// project-relative) and the version of every file loaded, so later syncs skip unchanged
	// files and replace the rows of changed ones. Labels are the project-relative paths of
	// Files, in the same order; Replaced lists those whose earlier rows are to be deleted.
	Track bool `json:"track,omitempty"`
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
	return e
}
