// Package file is the connector family for files on disk: CSV, JSON (arrays or
// newline-delimited) and Parquet.
//
// It lets DuckDB's own readers do the parsing: the connector resolves the files, asks an
// in-memory DuckDB what columns the reader yields (so names can be normalized to snake_case
// and nested objects flattened) and emits one Scan batch. The writer then runs the same reader
// inside the load's transaction, which is as fast as DuckDB loading the file by itself.
package file

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	_ "github.com/duckdb/duckdb-go/v2" // the in-memory sniffer

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
	"github.com/dangohq/dango/duckerr"
	"github.com/dangohq/dango/humanize"
	"github.com/dangohq/dango/jsonshape"
)

var maxFilesField = config.Field{Name: "max_files", Kind: config.Int, Default: int64(DefaultMaxFiles),
	Doc: "Most files the path may match; more is an error (a glob over the wrong folder, a symlink farm)."}

var pathField = config.Field{Name: "path", Kind: config.String, Required: true,
	Doc:     "A file, a folder (every matching file below it, unioned by column name) or a glob (`data/*.csv`, `data/**/*.csv`), relative to the project root.",
	Example: "data/sales.csv"}

// format describes one file type.
type format struct {
	name    string   // reader suffix: read_<name>
	label   string   // for messages: "CSV"
	exts    []string // extensions a folder scan picks up
	options func(v config.Values) map[string]any
}

var formats = []struct {
	format
	spec config.Spec
}{
	{
		format: format{name: "csv", label: "CSV", exts: []string{".csv", ".tsv", ".txt"}, options: csvOptions},
		spec: config.Spec{Type: "csv", Summary: "Delimited text files, parsed by DuckDB's CSV reader (dialect and types detected; quoted newlines and a UTF-8 BOM handled).",
			Fields: []config.Field{pathField, maxFilesField,
				{Name: "delimiter", Kind: config.String, Doc: "Column separator; detected when unset.", Example: ";"},
				{Name: "quote", Kind: config.String, Doc: "Quote character; detected when unset."},
				{Name: "escape", Kind: config.String, Doc: "Escape character inside quotes; detected when unset."},
				{Name: "header", Kind: config.Bool, Doc: "Whether the first line names the columns; detected when unset."},
				{Name: "encoding", Kind: config.String, Default: "utf-8", Enum: []string{"utf-8", "utf-16", "latin-1"}, Doc: "Text encoding of the files."},
				{Name: "skip_rows", Kind: config.Int, Doc: "Lines to skip at the top of each file."},
				{Name: "null_values", Kind: config.StringList, Doc: "Strings read as NULL.", Example: "['', 'NA']"},
				{Name: "date_format", Kind: config.String, Doc: "strptime format for dates, e.g. %d/%m/%Y."},
				{Name: "timestamp_format", Kind: config.String, Doc: "strptime format for timestamps."},
				{Name: "decimal_separator", Kind: config.String, Doc: "Decimal separator of numbers (`,` for 3,14); `.` when unset."},
				{Name: "comment", Kind: config.String, Doc: "Lines starting with this character are skipped."},
				{Name: "all_varchar", Kind: config.Bool, Default: false, Doc: "Load every column as text instead of detecting types."},
				{Name: "column_types", Kind: config.Map, Doc: "Force DuckDB types for some columns (by their name in the file).", Example: "{zip: VARCHAR}"},
			}},
	},
	{
		format: format{name: "json", label: "JSON", exts: []string{".json", ".jsonl", ".ndjson"}, options: jsonOptions},
		spec: config.Spec{Type: "json", Summary: "JSON files: an array of objects or newline-delimited objects (NDJSON), parsed by DuckDB's JSON reader. Nested objects flatten into parent__child columns.",
			Fields: []config.Field{pathField, maxFilesField,
				{Name: "format", Kind: config.String, Default: "auto", Enum: []string{"auto", "newline_delimited", "array"}, Doc: "Layout of the files; detected when auto."},
				{Name: "max_json_depth", Kind: config.Int, Default: int64(jsonshape.DefaultMaxDepth), Doc: "Deepest nesting of objects and lists accepted; deeper files are refused before DuckDB reads them."},
				{Name: "max_object_size", Kind: config.String, Default: "16MiB", Doc: "Largest single record (an NDJSON line, an element of a top-level list) accepted."},
				{Name: "max_table_nesting", Kind: config.Int, Default: int64(jsonshape.DefaultMaxNesting), Doc: "dlt's max_table_nesting: how many levels of nested objects flatten into columns and lists into child tables; deeper values load as JSON (0: every object and list stays JSON)."},
			}},
	},
	{
		format: format{name: "parquet", label: "Parquet", exts: []string{".parquet", ".pq"}, options: func(config.Values) map[string]any { return nil }},
		spec: config.Spec{Type: "parquet", Summary: "Parquet files, read by DuckDB's Parquet reader. Nested structs flatten into parent__child columns.",
			Fields: []config.Field{pathField, maxFilesField}},
	},
}

func init() {
	for _, f := range formats {
		f := f
		connectors.Default.Register(connectors.Registration{Spec: f.spec, New: func(job connectors.Job) (connectors.Connector, error) {
			return &connector{format: f.format, job: job}, nil
		}})
	}
}

func csvOptions(v config.Values) map[string]any {
	o := map[string]any{}
	set := func(key, opt string) {
		if v.Has(key) {
			o[opt] = v[key]
		}
	}
	set("delimiter", "delim")
	set("quote", "quote")
	set("escape", "escape")
	set("header", "header")
	set("skip_rows", "skip")
	set("null_values", "nullstr")
	set("date_format", "dateformat")
	set("timestamp_format", "timestampformat")
	set("decimal_separator", "decimal_separator")
	set("comment", "comment")
	if enc := v.String("encoding"); enc != "" && enc != "utf-8" {
		o["encoding"] = enc
	}
	if v.Bool("all_varchar") {
		o["all_varchar"] = true
	}
	if m, ok := v["column_types"].(map[string]any); ok && len(m) > 0 {
		o["types"] = m
	}
	return o
}

func jsonOptions(v config.Values) map[string]any {
	if f := v.String("format"); f != "" && f != "auto" {
		return map[string]any{"format": f}
	}
	return nil
}

type connector struct {
	format
	job connectors.Job
}

func (c *connector) Resources() []string { return []string{c.job.Source.Name} }

// multi reports whether the path names a folder or a glob: such sources remember which file
// versions they loaded.
func (c *connector) multi(pattern string) bool {
	if strings.ContainsAny(pattern, "*?[{") {
		return true
	}
	st, err := os.Stat(c.abs(pattern))
	return err == nil && st.IsDir()
}

func (c *connector) abs(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.job.ProjectRoot, p)
}

// plan is what a sync of this source will read.
type plan struct {
	pattern   string
	resource  batch.Resource
	mode      connectors.Mode
	scan      *batch.Scan
	all       int              // files found
	changed   int              // of scan.Files, those loaded before in another version
	unchanged int              // skipped
	empty     []string         // files left out because they hold no rows (0 bytes, or only a header)
	emptyWhy  string           // what "no rows" means for the format
	emptied   []string         // of those, files loaded before in another version: their earlier rows stay
	single    bool             // the path names one file (not a folder or a glob)
	whole     bool             // every file is read, whatever was loaded before (replace, --full-refresh, --start-date)
	shape     *jsonshape.Shape // JSON: what the records hold
}

func (c *connector) plan(ctx context.Context) (*plan, error) {
	res := c.job.Source.Name
	p := &plan{pattern: c.job.Source.Settings.String("path")}
	p.resource, p.mode = c.job.Plan(res, res, connectors.Defaults{})
	files, _, err := c.resolve(p.pattern)
	if err != nil {
		return nil, err
	}
	p.all = len(files)
	scan := &batch.Scan{Format: c.name, Options: c.options(c.job.Source.Settings)}
	p.scan = scan
	var maxDepth int
	var maxObject int64
	if c.name == "json" {
		if maxDepth, maxObject, err = c.jsonLimits(); err != nil {
			return nil, err
		}
		if maxObject != duckDBObjectSize { // let DuckDB read every record the check lets through
			if scan.Options == nil {
				scan.Options = map[string]any{}
			}
			scan.Options["maximum_object_size"] = maxObject
		}
	}
	// Every file source remembers the versions of the files it loaded, a single file as much
	// as a folder: an unchanged file is skipped, a changed one replaces its own rows (their
	// _dango_source_file names it). A table replaced whole, --full-refresh and --start-date
	// (a backfill) read every file again. For an incremental or merge resource a changed file
	// is read again and its cursor or primary key decides what loads: its earlier rows stay.
	scan.Track = true
	p.single = !c.multi(p.pattern)
	backfill := c.job.StartDate != "" && p.resource.Incremental != nil
	skip := p.resource.Disposition != batch.Replace && !c.job.FullRefresh && !backfill
	replaceChanged := p.resource.Incremental == nil && p.resource.Disposition == batch.Append
	prev := c.job.State.Files[res]
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		label := c.relPath(f)
		v := batch.FileState{Size: st.Size(), ModTime: st.ModTime().UTC().Truncate(time.Microsecond)}
		if old, seen := prev[label]; seen && skip {
			if old.Same(v) {
				p.unchanged++
				continue
			}
			if replaceChanged {
				scan.Replaced = append(scan.Replaced, label)
			}
			p.changed++
		}
		scan.Files = append(scan.Files, f)
		scan.Labels = append(scan.Labels, label)
		scan.Versions = append(scan.Versions, v)
		scan.Bytes += v.Size
	}
	p.whole = !skip
	scan.Whole = p.single
	if c.name == "json" {
		p.shape = &jsonshape.Shape{MaxDepth: maxDepth, MaxNesting: jsonshape.Nesting(int(c.job.Source.Settings.Int("max_table_nesting")))}
		if err := checkJSON(ctx, scan.Files, c.relPath, maxDepth, maxObject, p.shape); err != nil {
			return nil, err
		}
	}
	// After the JSON bounds check: DuckDB is never handed a file the check refuses.
	if c.name == "csv" || c.name == "json" {
		p.emptyWhy = "empty, or only a header"
		if c.name == "json" {
			p.emptyWhy = "empty, or no records"
		}
		if err := dropEmpty(ctx, p, prev); err != nil {
			return nil, err
		}
	}
	if len(scan.Files) > 1 {
		if scan.Options == nil {
			scan.Options = map[string]any{}
		}
		scan.Options["union_by_name"] = true
	}
	p.scan = scan
	return p, nil
}

// emptyProbe is the size up to which a file is checked for holding no rows: a CSV file with
// only a header is small.
const emptyProbe = 64 << 10

// dropEmpty leaves out of the scan the CSV and JSON files that hold no rows: a 0-byte file
// (which DuckDB would read as one column0, or one json column), a CSV header alone, a JSON
// `[]`. Like dlt, they load nothing and create no table or column.
func dropEmpty(ctx context.Context, p *plan, prev map[string]batch.FileState) error {
	scan := p.scan
	keep := 0
	for i, f := range scan.Files {
		empty := scan.Versions[i].Size == 0
		if !empty && scan.Versions[i].Size <= emptyProbe {
			probe := &batch.Scan{Format: scan.Format, Files: []string{f}, Options: scan.Options}
			reader, err := probe.ReaderSQL()
			if err != nil {
				return err
			}
			db, err := scratch()
			if err != nil {
				return err
			}
			var n int64
			if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+reader).Scan(&n); err != nil {
				return fmt.Errorf("%s: %w", scan.Labels[i], duckerr.Clean(err))
			}
			empty = n == 0
		}
		if empty {
			label := scan.Labels[i]
			p.empty = append(p.empty, label)
			if _, seen := prev[label]; seen {
				p.emptied = append(p.emptied, label)
			}
			scan.Bytes -= scan.Versions[i].Size
			continue
		}
		scan.Files[keep], scan.Labels[keep], scan.Versions[keep] = f, scan.Labels[i], scan.Versions[i]
		keep++
	}
	if len(p.empty) == 0 {
		return nil
	}
	scan.Files, scan.Labels, scan.Versions = scan.Files[:keep], scan.Labels[:keep], scan.Versions[:keep]
	gone := map[string]bool{}
	for _, l := range p.empty {
		gone[l] = true
	}
	replaced := scan.Replaced[:0]
	for _, l := range scan.Replaced {
		if !gone[l] {
			replaced = append(replaced, l)
		}
	}
	scan.Replaced = replaced
	changed := 0
	for _, l := range scan.Labels {
		if _, seen := prev[l]; seen && !p.whole {
			changed++
		}
	}
	p.changed = changed
	return nil
}

// emptyNote says which files hold no rows.
func (p *plan) emptyNote() string {
	if len(p.empty) == 0 {
		return ""
	}
	s := fmt.Sprintf("%s holds no rows (%s): nothing loaded from it", p.empty[0], p.emptyWhy)
	if len(p.empty) > 1 {
		s = fmt.Sprintf("%d files hold no rows (%s): nothing loaded from them", len(p.empty), p.emptyWhy)
	}
	if len(p.emptied) > 0 {
		s += fmt.Sprintf("; the rows loaded earlier from %s stay", strings.Join(p.emptied, ", "))
	}
	return s
}

// relPath is a file's path as the user knows it: relative to the project root when inside it.
func (c *connector) relPath(f string) string {
	if r, err := filepath.Rel(c.job.ProjectRoot, f); err == nil && !strings.HasPrefix(r, "..") {
		return filepath.ToSlash(r)
	}
	return f
}

func (c *connector) Extract(ctx context.Context, out connectors.Emitter) error {
	res := c.job.Source.Name
	if !c.job.Selected(res) {
		return nil
	}
	p, err := c.plan(ctx)
	if err != nil {
		return err
	}
	if p.mode.Incremental {
		connectors.LogMode(out, res, p.mode)
	}
	scan := p.scan
	if n := p.emptyNote(); n != "" {
		out.Logf("%s", n)
	}
	switch {
	case len(scan.Files) == 0 && len(p.empty) > 0 && p.unchanged == 0:
		return nil
	case len(scan.Files) == 0 && p.single:
		out.Logf("Skipping %s: unchanged since the last sync (nothing to load)", p.pattern)
		return nil
	case len(scan.Files) == 0:
		out.Logf("No new or changed files in %s (%d unchanged)", p.pattern, p.unchanged)
		return nil
	case p.single:
		msg := fmt.Sprintf("Reading %s: %s", c.format.label, p.pattern)
		switch {
		case p.changed > 0 && len(scan.Replaced) > 0:
			msg += " (changed since the last sync: replaces its earlier rows)"
		case p.changed > 0 && p.resource.Disposition == batch.Merge && !p.mode.Incremental:
			msg += " (changed since the last sync: merged on the primary key)"
		case p.changed > 0:
			msg += " (changed since the last sync)"
		}
		out.Logf("%s", msg)
	default:
		msg := fmt.Sprintf("Reading %s: %s (%d files, %s)", c.format.label, p.pattern, len(scan.Files), humanize.Bytes(scan.Bytes))
		if p.unchanged > 0 || p.changed > 0 {
			msg = fmt.Sprintf("Reading %s: %s (%d new, %d changed, %d unchanged files skipped; %s)", c.format.label, p.pattern,
				len(scan.Files)-p.changed, p.changed, p.unchanged, humanize.Bytes(scan.Bytes))
		}
		out.Logf("%s", msg)
	}
	extractedAt := time.Now().UTC()
	cols, err := describe(ctx, scan, c.name == "csv" && len(scan.Files) == 1, p.shape)
	if err != nil {
		return fmt.Errorf("%s: %w", p.pattern, err)
	}
	scan.Columns = cols
	return out.Emit(ctx, batch.Batch{Table: res, Resource: p.resource, ExtractedAt: extractedAt, Scan: scan})
}

// Estimate counts the rows a sync would load (only new or changed files; for an incremental
// resource, only rows at or past its start).
func (c *connector) Estimate(ctx context.Context) ([]connectors.Estimate, error) {
	res := c.job.Source.Name
	if !c.job.Selected(res) {
		return nil, nil
	}
	p, err := c.plan(ctx)
	if err != nil {
		return nil, err
	}
	e := connectors.Estimate{Resource: res, Label: p.pattern, Bytes: p.scan.Bytes, Mode: p.mode}
	e.Action, e.Note = p.describe()
	if n := p.emptyNote(); n != "" && !p.single {
		if e.Note != "" {
			e.Note += "; "
		}
		e.Note += n
	}
	if len(p.scan.Files) == 0 {
		return []connectors.Estimate{e}, nil
	}
	n, err := countRows(ctx, p.scan, p.resource)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.pattern, err)
	}
	e.Rows = n
	return []connectors.Estimate{e}, nil
}

// describe says what a sync will do with the files, for the dry run: the action (in place of
// the mode, for a resource that is not incremental) and a note.
func (p *plan) describe() (action, note string) {
	inc := p.mode.Incremental
	newFiles := len(p.scan.Files) - p.changed
	switch {
	case p.single && len(p.empty) > 0:
		note := p.emptyWhy + ": nothing to load"
		if len(p.emptied) > 0 {
			note += "; its earlier rows stay"
		}
		if inc {
			return "", note
		}
		return note, ""
	case p.whole:
		return "", "" // the mode says it: full refresh, or incremental from the start date
	case p.single && p.unchanged > 0:
		if inc {
			return "", "unchanged since the last sync, skipped"
		}
		return "unchanged since the last sync, skipped", ""
	case p.single && p.changed > 0:
		if inc {
			return "", "changed since the last sync"
		}
		if len(p.scan.Replaced) == 0 {
			return "changed since the last sync, merged on the primary key", ""
		}
		return "changed since the last sync, replaces its earlier rows", ""
	case p.single:
		if inc {
			return "", ""
		}
		return "new file", ""
	case p.unchanged > 0 || p.changed > 0:
		if p.unchanged > 0 {
			note = fmt.Sprintf("%d unchanged files skipped", p.unchanged)
		}
		if inc {
			return "", note
		}
		return fmt.Sprintf("%d new, %d changed files", newFiles, p.changed), note
	case inc:
		return "", ""
	}
	return humanize.Count(int64(newFiles), "new file"), ""
}

// resolve turns the configured path into a sorted list of files and their total size.
func (c *connector) resolve(pattern string) ([]string, int64, error) {
	abs := c.abs(pattern)
	var files []string
	maxFiles := int(c.job.Source.Settings.Int("max_files"))
	if maxFiles <= 0 {
		maxFiles = DefaultMaxFiles
	}
	if strings.ContainsAny(pattern, "*?[{") {
		matches, err := globFiles(context.Background(), abs, pattern, maxFiles)
		if err != nil {
			if errors.Is(err, doublestar.ErrBadPattern) {
				return nil, 0, fmt.Errorf("path %q is not a valid glob: %w", pattern, err)
			}
			return nil, 0, err
		}
		files = matches
		if len(files) == 0 {
			return nil, 0, fmt.Errorf("no files match %s", pattern)
		}
	} else {
		st, err := os.Stat(abs)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, fmt.Errorf("file not found: %s", pattern)
		}
		if err != nil {
			return nil, 0, err
		}
		if !st.IsDir() {
			files = []string{abs}
		} else {
			err := filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if strings.HasPrefix(d.Name(), ".") && p != abs {
					if d.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
				if !d.IsDir() && c.matchesExt(d.Name()) {
					if len(files) == maxFiles {
						return tooManyFiles(pattern, maxFiles)
					}
					files = append(files, p)
				}
				return nil
			})
			if err != nil {
				return nil, 0, err
			}
			if len(files) == 0 {
				return nil, 0, fmt.Errorf("folder %s has no %s files (%s)", pattern, c.label, strings.Join(c.exts, ", "))
			}
		}
	}
	sort.Strings(files)
	var size int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return nil, 0, err
		}
		size += st.Size()
	}
	return files, size, nil
}

func (c *connector) matchesExt(name string) bool {
	name = strings.ToLower(name)
	for _, comp := range []string{".gz", ".zst"} {
		name = strings.TrimSuffix(name, comp)
	}
	for _, e := range c.exts {
		if strings.HasSuffix(name, e) {
			return true
		}
	}
	return false
}

// DescribeShaped maps what a JSON scan's reader yields to warehouse columns (names
// normalized, structs flattened), for a file whose records' shape the connector recorded
// while writing it: DuckDB types the file from the leading records that hold every key and
// kind, and when that schema fits the shape it is kept; otherwise every record is typed.
func DescribeShaped(ctx context.Context, scan *batch.Scan, shape *jsonshape.Shape) ([]batch.Column, error) {
	return describe(ctx, scan, false, shape)
}

// scratch is the in-memory DuckDB that describes files, opened once per process: opening one
// per file cost ~18 ms, which a project with a thousand sources felt.
var scratch = sync.OnceValues(func() (*sql.DB, error) { return sql.Open("duckdb", "") })

// describe asks an in-memory DuckDB what the reader yields and maps it to warehouse columns:
// names normalized, structs flattened into parent__child.
//
// For a single CSV file it runs DuckDB's sniffer once and pins the detected dialect and types
// in the scan (auto_detect = false), so the writer neither sniffs again nor can read the file
// differently from what was described here.
func describe(ctx context.Context, scan *batch.Scan, pinCSV bool, shape *jsonshape.Shape) ([]batch.Column, error) {
	db, err := scratch()
	if err != nil {
		return nil, err
	}
	if pinCSV {
		if err := pinCSVDialect(ctx, db, scan); err != nil {
			return nil, err
		}
	}
	if scan.Format == "json" && len(scan.ReaderColumns) == 0 {
		// DuckDB detects JSON fields from a sample and silently drops a field that first
		// appears later; detect from every record instead, then pin the result so the writer
		// reads exactly these columns without detecting again.
		if scan.Options == nil {
			scan.Options = map[string]any{}
		}
		var pinned []batch.ReaderColumn
		if shape != nil && shape.Records() > 0 {
			scan.Options["sample_size"] = shape.SampleSize()
			sampled, err := readerColumns(ctx, db, scan)
			if err == nil && shape.Fits(sampled) {
				pinned = sampled
			}
		}
		if pinned == nil {
			scan.Options["sample_size"] = -1
			var err error
			if pinned, err = readerColumns(ctx, db, scan); err != nil {
				return nil, err
			}
		}
		delete(scan.Options, "sample_size")
		scan.ReaderColumns = pinned
		if shape != nil && shape.Records() > 0 {
			// Typed as dlt types the records: see jsonshape.Plan.
			reader, cols := shape.Plan(pinned, shape.MaxNesting)
			if len(cols) == 0 {
				return nil, fmt.Errorf("no columns found: every field is null in every record")
			}
			scan.ReaderColumns = reader
			return cols, nil
		}
	}
	top := scan.ReaderColumns
	if len(top) == 0 || scan.Format != "json" {
		var err error
		if top, err = readerColumns(ctx, db, scan); err != nil {
			return nil, err
		}
	}
	var raw []batch.Column
	for _, c := range top {
		raw = append(raw, batch.Flatten([]string{c.Name}, c.Type)...)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("no columns found")
	}
	batch.NameFrom(raw, 0)
	return raw, nil
}

// readerColumns describes the reader's top-level columns.
func readerColumns(ctx context.Context, db *sql.DB, scan *batch.Scan) ([]batch.ReaderColumn, error) {
	reader, err := scan.ReaderSQL()
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, "DESCRIBE SELECT * FROM "+reader)
	if err != nil {
		return nil, duckerr.Clean(err)
	}
	defer rows.Close()
	names, _ := rows.Columns()
	var out []batch.ReaderColumn
	for rows.Next() {
		vals := make([]any, len(names))
		ptrs := make([]any, len(names))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, batch.ReaderColumn{Name: fmt.Sprint(vals[0]), Type: fmt.Sprint(vals[1])})
	}
	return out, rows.Err()
}
