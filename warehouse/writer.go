package warehouse

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/duckerr"
	"github.com/dangohq/dango/naming"
)

// Columns every raw table carries (the dlt-compatible contract in DESIGN.md).
//
// _dlt_id is text, as in dlt, so a dlt pipeline can append to or merge into a table dango
// made and dango into one dlt made: IDExpr is 14 characters of base64 like dlt's ids (dlt
// encodes 10 random bytes; dango takes the first 84 bits of a random UUID, of which 78 are
// random). Tables from older dango with a UUID _dlt_id are migrated to VARCHAR by their next
// load (the UUIDs keep their text form), recorded as a widen_type schema change.
const (
	ColLoadID      = "_dlt_load_id"
	ColID          = "_dlt_id"
	ColExtractedAt = "_dlt_extracted_at"
	// ColParentID links a child-table row to its parent row's _dlt_id.
	ColParentID = "_dlt_parent_id"
	// ColRootID links a merge resource's child-table row to its root row's _dlt_id.
	ColRootID = "_dlt_root_id"
	// ColSourceFile names the file a row came from, in tables of folder and glob sources.
	ColSourceFile = "_dango_source_file"
	// IDExpr makes one row's _dlt_id.
	IDExpr = "left(to_base64(uuid()::BLOB), 14)"
)

// BlockSize is the storage block size of a warehouse file dango creates (an existing file keeps
// its own; DuckDB 1.2 and later read either). DuckDB's default of 256 KB gives every table at
// least a block per column segment: a raw layer of a thousand small sources (7,000 tables with
// their metadata) took 1.2 GB for 60,000 rows; 64 KB blocks hold it in 390 MB, and a 2M-row
// load measured as fast and 5% larger. 16 KB blocks (200 MB) made that load 20-30% slower.
const BlockSize = 64 << 10

// ErrLocked means another process holds the warehouse file.
var ErrLocked = errors.New("warehouse is in use by another process")

// Writer owns the DuckDB file.
type Writer struct {
	db   *sql.DB
	Path string
	ddl  sync.Mutex // serialises schema-level DDL shared between loads
	lock *FileLock
}

var lockRE = regexp.MustCompile(`Conflicting lock is held in (.*?) \(PID (\d+)\)`)

// OpenOptions say how long to wait for another writer and what to tell the user meanwhile.
type OpenOptions struct {
	Wait   time.Duration
	OnWait func(Holder)
	// MemoryLimit, when set, is DuckDB's memory_limit for this writer ("256MB"): loads
	// stream from files, and DuckDB otherwise keeps up to 80% of RAM in its buffers.
	MemoryLimit string
}

// Open opens (creating if needed) the warehouse file for writing, first taking the writer
// lock — waiting up to o.Wait for another dango process to finish with it.
func Open(ctx context.Context, path string, o OpenOptions) (*Writer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create warehouse folder: %w", err)
	}
	lock, err := AcquireLock(ctx, path, LockOptions{Exclusive: true, Wait: o.Wait, Command: CommandLine(), OnWait: o.OnWait})
	if err != nil {
		return nil, err
	}
	db, err := openDB(ctx, path, false)
	if err != nil {
		lock.Release()
		return nil, err
	}
	// Raw tables promise no row order (neither does dlt). Without the promise DuckDB appends
	// in parallel and writes row groups straight to the file, which measured 2.2 s → 1.05 s for
	// a 2M-row CSV load including the checkpoint at close.
	// Timestamps without a zone (JSON's "2024-01-14T10:00:00") are UTC, as dlt reads them,
	// whatever the machine's zone: DuckDB otherwise casts them in the local one.
	if _, err := db.ExecContext(ctx, "SET GLOBAL TimeZone = 'UTC'"); err != nil {
		db.Close()
		lock.Release()
		return nil, fmt.Errorf("configure warehouse: %w", err)
	}
	if _, err := db.ExecContext(ctx, "SET preserve_insertion_order = false"); err != nil {
		db.Close()
		lock.Release()
		return nil, fmt.Errorf("configure warehouse: %w", err)
	}
	if o.MemoryLimit != "" {
		if _, err := db.ExecContext(ctx, "SET memory_limit = "+naming.Literal(o.MemoryLimit)); err != nil {
			db.Close()
			lock.Release()
			return nil, fmt.Errorf("memory limit %q (sync_memory_limit in .dango/project.yml): %w", o.MemoryLimit, duckerr.Clean(err))
		}
	}
	return &Writer{db: db, Path: path, lock: lock}, nil
}

func openDB(ctx context.Context, path string, readOnly bool) (*sql.DB, error) {
	dsn := path
	if readOnly {
		dsn += "?access_mode=read_only"
	} else {
		dsn += "?default_block_size=" + strconv.Itoa(BlockSize)
	}
	connector, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return nil, wrapOpenError(path, err)
	}
	db := sql.OpenDB(connector)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, wrapOpenError(path, err)
	}
	return db, nil
}

func wrapOpenError(path string, err error) error {
	if m := lockRE.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("%w: %s is locked by PID %s (%s); wait for it to finish or stop it", ErrLocked, path, m[2], m[1])
	}
	if strings.Contains(err.Error(), "Could not set lock") {
		return fmt.Errorf("%w: %s: %v", ErrLocked, path, err)
	}
	return fmt.Errorf("open warehouse %s: %w", path, err)
}

// Close checkpoints and closes the file, then releases the writer lock.
func (w *Writer) Close() error {
	err := w.db.Close()
	if w.lock != nil {
		w.lock.Release()
	}
	return err
}

// DB exposes the database for read queries by the owning process.
func (w *Writer) DB() *sql.DB { return w.db }

// LoadInfo identifies a load and the run options that change how it writes.
type LoadInfo struct {
	LoadID      string
	Source      string
	Schema      string
	Started     time.Time // when extraction began, for throughput stats
	FullRefresh bool      // drop each table before its first batch and forget its cursor
	AllowEmpty  bool      // let replace or full refresh leave a previously non-empty table empty
}

// Load is one open transaction applying one source's batches.
type Load struct {
	w       *Writer
	info    LoadInfo
	conn    *sql.Conn
	tx      *sql.Tx
	applied map[string]bool
	cols    map[string]map[string]string // tables looked up or changed by this load (see columnsOf)
	ddl     bool                         // the load created, altered or dropped a table
	batches []appliedBatch
	tables  map[string]int64
	order   []string
	done    bool

	prepared map[string]bool // tables already dropped/truncated as the load requires
	existed  map[string]bool // tables a full refresh found (and dropped)
	children map[string]bool // child tables (lists): they may legitimately empty
	created  []string        // tables this load created
	// deleted marks tables this transaction deleted rows from: DuckDB refuses to commit an
	// ALTER TABLE of such a table ("another transaction has altered this table"), so their
	// schema changes rebuild the table instead (see ensureTable).
	deleted map[string]bool
	// strict: the NOT NULL columns among those dlt does not write (see relaxable) of tables
	// an older dango made; they keep a dlt pipeline from appending.
	strict  map[string][]string
	before  map[string]int64        // rows a replaced table had, for empty protection
	cursors map[string]cursorUpdate // resource → cursor after this load
	files   []fileRecord
	changes []SchemaChange
	bytes   int64
	stage   int
}

type appliedBatch struct {
	id, table string
	rows      int64
}

type cursorUpdate struct{ column, value string }

type fileRecord struct {
	resource, path string
	state          batch.FileState
}

// Result describes a committed load.
type Result struct {
	LoadID        string
	Rows          int64
	Tables        []TableRows // in the order first written
	SchemaChanges []SchemaChange
	Created       []string // tables the load created (new to the raw layer)
	Dropped       []string // tables dropped by a full refresh
}

// SchemaChanged reports whether the raw layer's shape changed: a table created, a column
// added or widened. Staging models may need regenerating.
func (r Result) SchemaChanged() bool { return len(r.SchemaChanges) > 0 || len(r.Created) > 0 }

// TableRowCount counts a table's rows; a missing table has none.
func (w *Writer) TableRowCount(ctx context.Context, schema, table string) (int64, error) {
	return tableRowCount(ctx, w.db, schema, table)
}

// TableRows is the rows a load wrote to one table.
type TableRows struct {
	Table string // schema.table
	Rows  int64
}

// Begin opens a load. The caller must Commit or Rollback it.
func (w *Writer) Begin(ctx context.Context, info LoadInfo) (*Load, error) {
	if err := batch.ValidName(info.Schema); err != nil {
		return nil, fmt.Errorf("load %s: schema: %w", batch.Short(info.LoadID), err)
	}
	if err := w.ensureSchema(ctx, info.Schema); err != nil {
		return nil, err
	}
	conn, err := w.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &Load{w: w, info: info, conn: conn, tx: tx, applied: map[string]bool{}, tables: map[string]int64{}, cols: map[string]map[string]string{},
		prepared: map[string]bool{}, existed: map[string]bool{}, children: map[string]bool{}, deleted: map[string]bool{}, strict: map[string][]string{}, before: map[string]int64{}, cursors: map[string]cursorUpdate{}}, nil
}

// ensureSchema creates the schema and its metadata tables, outside any load's transaction so
// that concurrent loads into one schema never conflict on them.
func (w *Writer) ensureSchema(ctx context.Context, schema string) error {
	w.ddl.Lock()
	defer w.ddl.Unlock()
	s := naming.Quote(schema)
	stmts := []string{"CREATE SCHEMA IF NOT EXISTS " + s}
	for _, t := range append(metaTables, dltMetaTables...) {
		stmts = append(stmts, "CREATE TABLE IF NOT EXISTS "+s+"."+t)
	}
	for _, q := range stmts {
		if _, err := w.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("prepare schema %s: %w", schema, err)
		}
	}
	return nil
}

// Apply loads one batch inside the load's transaction. A batch id already applied — in this
// load or committed earlier — is skipped and reported with dup=true.
func (l *Load) Apply(ctx context.Context, batchID string, b batch.Batch) (rows int64, dup bool, err error) {
	if l.done {
		return 0, false, errors.New("load already finished")
	}
	if err := b.Validate(); err != nil {
		return 0, false, err
	}
	if l.applied[batchID] {
		return 0, true, nil
	}
	sc := *b.Scan // fitted below to this table: the caller's batch stays as it came
	b.Scan = &sc
	if b.Scan.Format == "json" {
		existing, err := l.columns(ctx, b.Table)
		if err != nil {
			return 0, false, err
		}
		b.Scan.Columns = fitExisting(existing, b.Scan.Columns)
	}
	if reader, err := b.Scan.ReaderSQL(); err == nil {
		// dlt makes a variant column only for a value that did not coerce.
		if b.Scan.Columns, err = l.nonEmptyVariants(ctx, reader, b.Scan.Columns, false); err != nil {
			return 0, false, fmt.Errorf("load into %s.%s: %w", l.info.Schema, b.Table, duckerr.Clean(err))
		}
	}
	var n int
	if err := l.tx.QueryRowContext(ctx, `SELECT count(*) FROM `+naming.Quote(l.info.Schema)+`."_dango_batches" WHERE batch_id = ?`, batchID).Scan(&n); err != nil {
		return 0, false, err
	}
	if n > 0 {
		return 0, true, nil
	}
	if err := l.prepare(ctx, b.Table, b.Resource); err != nil {
		return 0, false, err
	}
	cols, _ := splitLists(b.Scan.Columns)
	if b.Scan.Track && !b.Scan.Whole {
		cols = append(cols, batch.Column{Name: ColSourceFile, Path: []string{"filename"}, Type: "VARCHAR"})
	}
	// A primary key's columns are NOT NULL, as dlt creates them (applies to new tables only).
	if keys, err := resolveColumns(cols, b.Resource.PrimaryKey, "primary_key", l.info.Schema+"."+b.Table); err == nil && len(keys) > 0 {
		cols = append([]batch.Column(nil), cols...)
		for i := range cols {
			if slices.Contains(keys, cols[i].Name) {
				cols[i].NotNull = true
			}
		}
	}
	if err := l.ensureTable(ctx, b.Table, cols); err != nil {
		return 0, false, err
	}
	rows, err = l.insert(ctx, b)
	if err != nil {
		return 0, false, fmt.Errorf("load into %s.%s: %w", l.info.Schema, b.Table, duckerr.Clean(err))
	}
	l.applied[batchID] = true
	l.batches = append(l.batches, appliedBatch{id: batchID, table: b.Table, rows: rows})
	if _, seen := l.tables[b.Table]; !seen {
		l.order = append(l.order, b.Table)
	}
	l.tables[b.Table] += rows
	l.bytes += b.Scan.Bytes
	if b.Scan.Track {
		for i, label := range b.Scan.Labels {
			l.files = append(l.files, fileRecord{resource: b.Resource.Name, path: label, state: b.Scan.Versions[i]})
		}
	}
	return rows, false, nil
}

// Prepared says what Prepare did to a table.
type Prepared struct {
	Dropped bool  // a full refresh dropped the existing table
	Rows    int64 // rows it had
}

// Prepare does, once per table and load, what the load's mode asks before rows arrive: a full
// refresh drops the table and forgets the resource's cursor and files; replace empties it.
// Apply calls it too; calling it first lets the caller report what happened.
func (l *Load) Prepare(ctx context.Context, table string, res batch.Resource) (Prepared, error) {
	if l.prepared[table] {
		return Prepared{}, nil
	}
	err := l.prepare(ctx, table, res)
	return Prepared{Dropped: l.info.FullRefresh && l.existed[table], Rows: l.before[table]}, err
}

func (l *Load) prepare(ctx context.Context, table string, res batch.Resource) error {
	if l.prepared[table] {
		return nil
	}
	l.prepared[table] = true
	qt := naming.Quote(l.info.Schema) + "." + naming.Quote(table)
	switch {
	case l.info.FullRefresh:
		exists, err := l.hasTable(ctx, table)
		if err != nil {
			return err
		}
		l.existed[table] = exists
		n, err := l.rowCount(ctx, table)
		if err != nil {
			return err
		}
		l.before[table] = n
		if _, err := l.tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+qt); err != nil {
			return duckerr.Clean(err)
		}
		l.changed(table, nil)
		s := naming.Quote(l.info.Schema)
		for _, meta := range []string{"_dango_state", "_dango_files"} {
			if _, err := l.tx.ExecContext(ctx, `DELETE FROM `+s+`."`+meta+`" WHERE resource = ?`, res.Name); err != nil {
				return err
			}
		}
	case res.Disposition == batch.Replace:
		n, err := l.rowCount(ctx, table)
		if err != nil {
			return err
		}
		l.before[table] = n
		if n > 0 {
			// Emptied by drop and re-create rather than DELETE: the table stays alterable in
			// this transaction (new columns, wider types), and its old row groups are freed
			// whole at the next checkpoint instead of lingering as deleted rows.
			if err := l.recreate(ctx, table, nil, false); err != nil {
				return err
			}
		}
		if _, err := l.tx.ExecContext(ctx, `DELETE FROM `+naming.Quote(l.info.Schema)+`."_dango_files" WHERE resource = ?`, res.Name); err != nil {
			return err
		}
	}
	if (l.info.FullRefresh || res.Disposition == batch.Replace) && !l.children[table] && (l.existed[table] || l.before[table] > 0) {
		// The table's child tables go with it, those of lists this load no longer holds too,
		// as dlt replaces a table's whole chain. (Only a table that had rows can have them:
		// the catalog is not listed for the others.)
		kids, err := l.childTables(ctx, table)
		if err != nil {
			return err
		}
		for _, k := range kids {
			l.children[k.name] = true
			if err := l.prepare(ctx, k.name, res); err != nil {
				return err
			}
		}
	}
	return nil
}

// ensureTable creates the table or evolves it: missing columns are added, columns whose
// incoming type is wider are widened, and an incompatible type fails the load.
func (l *Load) ensureTable(ctx context.Context, table string, cols []batch.Column) error {
	return l.ensure(ctx, table, cols, false)
}

// ensure is ensureTable; a child table (child) is created without _dlt_load_id, as dlt
// creates its nested tables (their rows belong to the load of their root row).
func (l *Load) ensure(ctx context.Context, table string, cols []batch.Column, child bool) error {
	existing, err := l.columns(ctx, table)
	if err != nil {
		return err
	}
	qt := naming.Quote(l.info.Schema) + "." + naming.Quote(table)
	full := l.info.Schema + "." + table
	if len(existing) == 0 {
		defs := make([]string, 0, len(cols)+3)
		for _, c := range cols {
			def := naming.Quote(c.Name) + " " + c.Type
			if c.NotNull {
				def += " NOT NULL"
			}
			defs = append(defs, def)
		}
		if !child {
			defs = append(defs, ColLoadID+" VARCHAR NOT NULL") // dlt writes no _dlt_load_id in child rows
		}
		defs = append(defs, ColID+" VARCHAR NOT NULL", ColExtractedAt+" TIMESTAMP WITH TIME ZONE")
		if _, err := l.tx.ExecContext(ctx, "CREATE TABLE "+qt+" ("+strings.Join(defs, ", ")+")"); err != nil {
			return duckerr.Clean(err)
		}
		now := map[string]string{ColID: "VARCHAR", ColExtractedAt: "TIMESTAMP WITH TIME ZONE"}
		if !child {
			now[ColLoadID] = "VARCHAR"
		}
		for _, c := range cols {
			now[c.Name] = c.Type
		}
		l.changed(table, now)
		l.created = append(l.created, full)
		return nil
	}
	before := make(map[string]bool, len(existing))
	for c := range existing {
		before[c] = true
	}
	// Plan first: what to add, what to widen.
	type change struct {
		col     batch.Column
		old, to string // old "" adds the column
	}
	var plan []change
	// Tables from older dango hold UUID ids; text ids are what dlt and this dango write.
	for _, id := range []string{ColID, ColParentID} {
		if strings.EqualFold(existing[id], "UUID") {
			plan = append(plan, change{col: batch.Column{Name: id}, old: existing[id], to: "VARCHAR"})
			existing[id] = "VARCHAR"
			if id == ColID {
				// Its child tables' links must become text with it, or comparing a new id
				// with a child's UUID would fail — even when this load brings no child rows.
				if err := l.migrateChildren(ctx, table); err != nil {
					return err
				}
			}
		}
	}
	// A table dlt made has no _dlt_extracted_at; rows dlt wrote keep it NULL.
	if _, ok := existing[ColExtractedAt]; !ok {
		plan = append(plan, change{col: batch.Column{Name: ColExtractedAt}, to: "TIMESTAMP WITH TIME ZONE"})
		existing[ColExtractedAt] = "TIMESTAMP WITH TIME ZONE"
	}
	for _, c := range cols {
		old, ok := existing[c.Name]
		if !ok {
			plan = append(plan, change{col: c, to: c.Type})
			existing[c.Name] = c.Type
			continue
		}
		to, ok := widen(old, c.Type)
		if !ok {
			return &TypeChangeError{Table: full, Column: c.Name, Old: old, New: c.Type}
		}
		if !strings.EqualFold(to, old) {
			plan = append(plan, change{col: c, old: old, to: to})
			existing[c.Name] = to
		}
	}
	l.noteRenames(full, cols, before)
	if relax := relaxable(l.strict[table], existing); len(relax) > 0 {
		// Rows a dlt pipeline appends carry no _dlt_extracted_at, and its child rows no
		// _dlt_load_id.
		if l.deleted[table] {
			if err := l.recreate(ctx, table, nil, true); err != nil {
				return fmt.Errorf("let %s.%s be NULL: %w", full, strings.Join(relax, ", "), err)
			}
		} else {
			for _, c := range relax {
				if _, err := l.tx.ExecContext(ctx, "ALTER TABLE "+qt+" ALTER COLUMN "+c+" DROP NOT NULL"); err != nil {
					return fmt.Errorf("let %s.%s be NULL: %w", full, c, duckerr.Clean(err))
				}
			}
		}
		for _, c := range relax {
			l.changes = append(l.changes, SchemaChange{Table: full, Column: c, Change: "drop_not_null", OldType: existing[c], NewType: existing[c]})
		}
		delete(l.strict, table)
		l.ddl = true
	}
	if len(plan) == 0 {
		return nil
	}
	if l.deleted[table] {
		set := make([]colType, len(plan))
		for i, ch := range plan {
			set[i] = colType{ch.col.Name, ch.to}
		}
		if err := l.recreate(ctx, table, set, true); err != nil {
			return fmt.Errorf("change the columns of %s: %w", full, err)
		}
	} else {
		for _, ch := range plan {
			q := "ALTER TABLE " + qt + " ADD COLUMN " + naming.Quote(ch.col.Name) + " " + ch.to
			if ch.old != "" {
				q = "ALTER TABLE " + qt + " ALTER COLUMN " + naming.Quote(ch.col.Name) + " TYPE " + ch.to
			}
			if _, err := l.tx.ExecContext(ctx, q); err != nil {
				if ch.old == "" {
					return fmt.Errorf("add column %s to %s: %w", ch.col.Name, full, duckerr.Clean(err))
				}
				return fmt.Errorf("widen %s.%s from %s to %s: %w", full, ch.col.Name, ch.old, ch.to, duckerr.Clean(err))
			}
		}
	}
	for _, ch := range plan {
		if ch.old == "" {
			l.changes = append(l.changes, SchemaChange{Table: full, Column: ch.col.Name, Change: "add_column", NewType: ch.to})
		} else {
			l.changes = append(l.changes, SchemaChange{Table: full, Column: ch.col.Name, Change: "widen_type", OldType: ch.old, NewType: ch.to})
		}
	}
	l.changed(table, existing)
	return nil
}

// noteRenames tells, once, where dlt's names moved a key an older dango stored under another
// name: a column this load adds whose old-style name is a column of the table. The old column
// keeps its rows; if another key now has the old name, that column holds that key from now on.
func (l *Load) noteRenames(table string, cols []batch.Column, before map[string]bool) {
	incoming := make(map[string]batch.Column, len(cols))
	for _, c := range cols {
		incoming[c.Name] = c
	}
	for _, c := range cols {
		if before[c.Name] || len(c.Path) == 0 {
			continue
		}
		segs := make([]string, 0, len(c.Path))
		for _, p := range c.Path {
			if p != "__elem" {
				segs = append(segs, naming.LegacySnake(p))
			}
		}
		old := strings.Join(segs, naming.PathSeparator)
		if old == c.Name || !before[old] {
			continue
		}
		note := SchemaChange{Table: table, Column: c.Name, Change: "renamed", OldType: old, NewType: c.Type, Key: strings.Join(c.Path, ".")}
		if o, ok := incoming[old]; ok {
			note.Reused = strings.Join(o.Path, ".")
		}
		l.changes = append(l.changes, note)
	}
}

// relaxable are the columns of notNull that must accept NULL for dlt to write the table:
// _dlt_extracted_at everywhere, _dlt_load_id in child tables (those with _dlt_parent_id).
func relaxable(notNull []string, cols map[string]string) []string {
	_, child := cols[ColParentID]
	var out []string
	for _, c := range notNull {
		if c == ColExtractedAt || (c == ColLoadID && child) {
			out = append(out, c)
		}
	}
	return out
}

// migrateChildren turns the UUID id columns of a table's child tables into VARCHAR.
func (l *Load) migrateChildren(ctx context.Context, table string) error {
	like := strings.NewReplacer(`\`, `\\`, "_", `\_`, "%", `\%`).Replace(table+"__") + "%"
	rows, err := l.tx.QueryContext(ctx, `SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name LIKE ? ESCAPE '\'
		AND column_name IN ('`+ColID+`', '`+ColParentID+`', '`+ColRootID+`') AND data_type = 'UUID' ORDER BY table_name, column_index`, l.info.Schema, like)
	if err != nil {
		return duckerr.Clean(err)
	}
	byTable := map[string][]string{}
	var order []string
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			rows.Close()
			return err
		}
		if _, ok := byTable[t]; !ok {
			order = append(order, t)
		}
		byTable[t] = append(byTable[t], c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, t := range order {
		cols, err := l.columns(ctx, t)
		if err != nil {
			return err
		}
		qt := naming.Quote(l.info.Schema) + "." + naming.Quote(t)
		if l.deleted[t] {
			set := make([]colType, 0, len(byTable[t]))
			for _, c := range byTable[t] {
				set = append(set, colType{c, "VARCHAR"})
			}
			if err := l.recreate(ctx, t, set, true); err != nil {
				return fmt.Errorf("make the ids of %s.%s text: %w", l.info.Schema, t, err)
			}
		}
		for _, c := range byTable[t] {
			if !l.deleted[t] {
				if _, err := l.tx.ExecContext(ctx, "ALTER TABLE "+qt+" ALTER COLUMN "+naming.Quote(c)+" TYPE VARCHAR"); err != nil {
					return fmt.Errorf("make %s.%s.%s text: %w", l.info.Schema, t, c, duckerr.Clean(err))
				}
			}
			l.changes = append(l.changes, SchemaChange{Table: l.info.Schema + "." + t, Column: c, Change: "widen_type", OldType: "UUID", NewType: "VARCHAR"})
			if cols != nil {
				cols[c] = "VARCHAR"
			}
		}
		l.changed(t, cols)
	}
	return nil
}

// colType is a column and its type.
type colType struct{ name, typ string }

// recreate replaces a table, inside the load's transaction, by one with the same columns in the
// same order — types taken from set where it names a column, the columns of set that the table
// lacks added at the end — and, when keep is true, the rows it holds now. It is how a load
// empties a replaced table, and how it changes the columns of a table it already deleted rows
// from, which DuckDB cannot ALTER and commit in the same transaction.
func (l *Load) recreate(ctx context.Context, table string, set []colType, keep bool) error {
	types := make(map[string]string, len(set))
	for _, c := range set {
		types[c.name] = c.typ
	}
	qt := naming.Quote(l.info.Schema) + "." + naming.Quote(table)
	// Columns dlt does not write may be NULL (see relaxable).
	var child bool
	if err := l.tx.QueryRowContext(ctx, "SELECT count(*) > 0 FROM (DESCRIBE "+qt+") WHERE column_name = '"+ColParentID+"'").Scan(&child); err != nil {
		return duckerr.Clean(err)
	}
	rows, err := l.tx.QueryContext(ctx, "SELECT column_name, column_type, \"null\" FROM (DESCRIBE "+qt+")")
	if err != nil {
		return duckerr.Clean(err)
	}
	var defs, names, exprs []string
	seen := map[string]bool{}
	for rows.Next() {
		var name, typ, null string
		if err := rows.Scan(&name, &typ, &null); err != nil {
			rows.Close()
			return err
		}
		seen[name] = true
		q := naming.Quote(name)
		if to, ok := types[name]; ok && !strings.EqualFold(to, typ) {
			typ = to
			exprs = append(exprs, "CAST("+q+" AS "+to+")")
		} else {
			exprs = append(exprs, q)
		}
		names = append(names, q)
		def := q + " " + typ
		if null == "NO" && !(name == ColExtractedAt || (name == ColLoadID && child)) {
			def += " NOT NULL"
		}
		defs = append(defs, def)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range set {
		if !seen[c.name] {
			defs = append(defs, naming.Quote(c.name)+" "+c.typ)
		}
	}
	tmp := naming.Quote(l.info.Schema) + "." + naming.Quote("_dango_rebuild_"+table)
	stmts := []string{"CREATE TABLE " + tmp + " (" + strings.Join(defs, ", ") + ")"}
	if keep {
		stmts = append(stmts, "INSERT INTO "+tmp+" ("+strings.Join(names, ", ")+") SELECT "+strings.Join(exprs, ", ")+" FROM "+qt)
	}
	stmts = append(stmts, "DROP TABLE "+qt, "ALTER TABLE "+tmp+" RENAME TO "+naming.Quote(table))
	for _, q := range stmts {
		if _, err := l.tx.ExecContext(ctx, q); err != nil {
			return duckerr.Clean(err)
		}
	}
	// A table created in this transaction can be altered again.
	delete(l.deleted, table)
	return nil
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// Commit records the load and makes everything visible at once. resources are those the job
// covered: a replaced (or fully refreshed) resource that produced no batch is emptied too,
// and no replace may empty a non-empty table unless the load allows it.
func (l *Load) Commit(ctx context.Context, resources []batch.Resource) (Result, error) {
	if l.done {
		return Result{}, errors.New("load already finished")
	}
	defer l.finish()
	fail := func(err error) (Result, error) {
		l.tx.Rollback()
		return Result{}, err
	}
	for _, r := range resources {
		if err := r.Validate(); err != nil {
			return fail(fmt.Errorf("load %s: end marker: %w", l.info.LoadID, err))
		}
		if l.info.FullRefresh || r.Disposition == batch.Replace {
			if err := l.prepare(ctx, r.Table, r); err != nil {
				return fail(err)
			}
		}
	}
	if err := l.checkNotEmptied(ctx); err != nil {
		return fail(err)
	}
	s := naming.Quote(l.info.Schema)
	now := time.Now().UTC()
	var total int64
	for _, b := range l.batches {
		total += b.rows
		if _, err := l.tx.ExecContext(ctx, `INSERT INTO `+s+`."_dango_batches" VALUES (?, ?, ?, ?, ?)`, b.id, l.info.LoadID, b.table, b.rows, now); err != nil {
			return fail(err)
		}
	}
	for res, c := range l.cursors {
		if _, err := l.tx.ExecContext(ctx, `DELETE FROM `+s+`."_dango_state" WHERE resource = ?`, res); err != nil {
			return fail(err)
		}
		if _, err := l.tx.ExecContext(ctx, `INSERT INTO `+s+`."_dango_state" VALUES (?, ?, ?, ?, ?)`, res, c.column, c.value, l.info.LoadID, now); err != nil {
			return fail(err)
		}
	}
	for _, f := range l.files {
		if _, err := l.tx.ExecContext(ctx, `DELETE FROM `+s+`."_dango_files" WHERE resource = ? AND path = ?`, f.resource, f.path); err != nil {
			return fail(err)
		}
		if _, err := l.tx.ExecContext(ctx, `INSERT INTO `+s+`."_dango_files" VALUES (?, ?, ?, ?, ?)`, f.resource, f.path, f.state.Size, f.state.ModTime, l.info.LoadID); err != nil {
			return fail(err)
		}
	}
	for _, c := range l.changes {
		if _, err := l.tx.ExecContext(ctx, `INSERT INTO `+s+`."_dango_schema_changes" VALUES (?, ?, ?, ?, ?, ?, ?)`,
			now, l.info.LoadID, c.Table, c.Column, c.Change, nullIfEmpty(c.OldType), c.NewType); err != nil {
			return fail(err)
		}
	}
	var started any
	if !l.info.Started.IsZero() {
		started = l.info.Started
	}
	if _, err := l.tx.ExecContext(ctx, `INSERT INTO `+s+`."_dango_loads" VALUES (?, ?, ?, ?, ?, ?)`, l.info.LoadID, l.info.Source, started, now, total, l.bytes); err != nil {
		return fail(err)
	}
	hash, err := l.writeDltSchema(ctx, resources, now)
	if err != nil {
		return fail(fmt.Errorf("load %s: dlt schema: %w", l.info.LoadID, err))
	}
	if err := l.writeDltState(ctx, now); err != nil {
		return fail(fmt.Errorf("load %s: dlt pipeline state: %w", l.info.LoadID, err))
	}
	if _, err := l.tx.ExecContext(ctx, `INSERT INTO `+s+`."_dlt_loads" VALUES (?, ?, 0, ?, ?)`, l.info.LoadID, l.info.Source, now, hash); err != nil {
		return fail(err)
	}
	if err := l.tx.Commit(); err != nil {
		return Result{}, fmt.Errorf("commit load %s: %w", l.info.LoadID, duckerr.Clean(err))
	}
	res := Result{LoadID: l.info.LoadID, SchemaChanges: l.changes, Created: l.created, Rows: total}
	for _, t := range l.order {
		res.Tables = append(res.Tables, TableRows{Table: l.info.Schema + "." + t, Rows: l.tables[t]})
	}
	for t, existed := range l.existed {
		if existed {
			res.Dropped = append(res.Dropped, l.info.Schema+"."+t)
		}
	}
	sort.Strings(res.Dropped)
	return res, nil
}

// EmptiedError is a replace or full refresh that would leave a non-empty table empty.
type EmptiedError struct {
	Table string
	Rows  int64
}

func (e *EmptiedError) Error() string {
	return fmt.Sprintf("refusing to replace %s (%d rows) with nothing: the source returned no rows, so the old data is kept; "+
		"if emptying it is intended, sync again with --allow-empty", e.Table, e.Rows)
}

func (l *Load) checkNotEmptied(ctx context.Context) error {
	if l.info.AllowEmpty {
		return nil
	}
	tables := make([]string, 0, len(l.before))
	for t := range l.before {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, t := range tables {
		if l.before[t] == 0 || l.children[t] {
			continue
		}
		now, err := l.rowCount(ctx, t)
		if err != nil {
			return err
		}
		if now == 0 {
			return &EmptiedError{Table: l.info.Schema + "." + t, Rows: l.before[t]}
		}
	}
	return nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Rollback abandons the load; nothing it applied becomes visible. Safe to call after Commit.
func (l *Load) Rollback() {
	if l.done {
		return
	}
	l.tx.Rollback()
	l.finish()
}

func (l *Load) finish() {
	l.done = true
	l.conn.Close()
}

// Tables lists schema.table for every table the load has written so far.
func (l *Load) Tables() []string {
	out := make([]string, len(l.order))
	for i, t := range l.order {
		out[i] = l.info.Schema + "." + t
	}
	return out
}

// columnsOf returns a table's columns (name → type), nil when it does not exist. Listing
// DuckDB's catalog costs time in proportion to every table of the warehouse (~15 ms with a
// thousand sources, several times per load), so a load looks tables up by name instead —
// through the writer's own connection, outside the load's transaction, where a missing name
// is a harmless error — and tracks what its own DDL changes.
func (l *Load) columnsOf(ctx context.Context, table string) (map[string]string, error) {
	if cols, ok := l.cols[table]; ok {
		return cols, nil
	}
	rows, err := l.w.db.QueryContext(ctx, `SELECT column_name, column_type, "null" FROM (DESCRIBE `+naming.Quote(l.info.Schema)+"."+naming.Quote(table)+`)`)
	if missing(err) {
		l.cols[table] = nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols := map[string]string{}
	for rows.Next() {
		var c, t, null string
		if err := rows.Scan(&c, &t, &null); err != nil {
			return nil, err
		}
		cols[c] = t
		if (c == ColExtractedAt || c == ColLoadID) && null == "NO" {
			l.strict[table] = append(l.strict[table], c)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	l.cols[table] = cols
	return cols, nil
}

// changed records the load's own DDL on a table: its columns now (nil: dropped).
func (l *Load) changed(table string, cols map[string]string) {
	l.cols[table] = cols
	l.ddl = true
}

func (l *Load) hasTable(ctx context.Context, table string) (bool, error) {
	cols, err := l.columnsOf(ctx, table)
	return cols != nil, err
}

// columns returns column name → type of a table, empty when it does not exist.
func (l *Load) columns(ctx context.Context, table string) (map[string]string, error) {
	cols, err := l.columnsOf(ctx, table)
	out := map[string]string{}
	for c, t := range cols {
		out[c] = t
	}
	return out, err
}

func (l *Load) rowCount(ctx context.Context, table string) (int64, error) {
	if ok, err := l.hasTable(ctx, table); err != nil || !ok {
		return 0, err
	}
	var n int64
	err := l.tx.QueryRowContext(ctx, `SELECT count(*) FROM `+naming.Quote(l.info.Schema)+"."+naming.Quote(table)).Scan(&n)
	return n, err
}

// LoadCommitted reports whether a load id is already recorded in a schema's _dlt_loads.
func (w *Writer) LoadCommitted(ctx context.Context, schema, loadID string) (bool, error) {
	_, ok, err := w.CommittedLoad(ctx, schema, loadID)
	return ok, err
}

// CommittedLoad reports whether a load id is recorded in a schema's _dlt_loads, and the rows
// it committed (from _dango_loads).
func (w *Writer) CommittedLoad(ctx context.Context, schema, loadID string) (rows int64, ok bool, err error) {
	var n int
	err = w.db.QueryRowContext(ctx, `SELECT count(*) FROM `+naming.Quote(schema)+`."_dlt_loads" WHERE load_id = ?`, loadID).Scan(&n)
	if missing(err) || (err == nil && n == 0) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	var r sql.NullInt64
	if err := w.db.QueryRowContext(ctx, `SELECT sum("rows") FROM `+naming.Quote(schema)+`."_dango_loads" WHERE load_id = ?`, loadID).Scan(&r); err != nil && !missing(err) {
		return 0, true, err
	}
	return r.Int64, true, nil
}
