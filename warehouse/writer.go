package warehouse

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/duckerr"
	"github.com/dangohq/dango/naming"
)

// Columns every raw table carries (the dlt-compatible contract in DESIGN.md). _dlt_id is
// DuckDB's UUID type: unique like dlt's text ids, 16 bytes instead of a random string, which
// measured +40% load time on a 2M-row CSV as VARCHAR. It compares with text literals.
const (
	ColLoadID      = "_dlt_load_id"
	ColID          = "_dlt_id"
	ColExtractedAt = "_dlt_extracted_at"
)

// ErrLocked means another process holds the warehouse file.
var ErrLocked = errors.New("warehouse is in use by another process")

// Writer owns the DuckDB file.
type Writer struct {
	db   *sql.DB
	Path string
	ddl  sync.Mutex // serialises schema-level DDL shared between loads
}

var lockRE = regexp.MustCompile(`Conflicting lock is held in (.*?) \(PID (\d+)\)`)

// Open opens (creating if needed) the warehouse file for writing.
func Open(ctx context.Context, path string) (*Writer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create warehouse folder: %w", err)
	}
	db, err := openDB(ctx, path, false)
	if err != nil {
		return nil, err
	}
	// Raw tables promise no row order (neither does dlt). Without the promise DuckDB appends
	// in parallel and writes row groups straight to the file, which measured 2.2 s → 1.05 s for
	// a 2M-row CSV load including the checkpoint at close.
	if _, err := db.ExecContext(ctx, "SET preserve_insertion_order = false"); err != nil {
		db.Close()
		return nil, fmt.Errorf("configure warehouse: %w", err)
	}
	return &Writer{db: db, Path: path}, nil
}

func openDB(ctx context.Context, path string, readOnly bool) (*sql.DB, error) {
	dsn := path
	if readOnly {
		dsn += "?access_mode=read_only"
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

// Close checkpoints and closes the file.
func (w *Writer) Close() error { return w.db.Close() }

// DB exposes the database for read queries by the owning process.
func (w *Writer) DB() *sql.DB { return w.db }

// LoadInfo identifies a load.
type LoadInfo struct {
	LoadID string
	Source string
	Schema string
}

// Load is one open transaction applying one source's batches.
type Load struct {
	w       *Writer
	info    LoadInfo
	conn    *sql.Conn
	tx      *sql.Tx
	applied map[string]bool
	batches []appliedBatch
	tables  map[string]int64
	order   []string
	done    bool
}

type appliedBatch struct {
	id, table string
	rows      int64
}

// Result describes a committed load.
type Result struct {
	LoadID string
	Rows   int64
	Tables []TableRows // in the order first written
}

// TableRows is the rows a load wrote to one table.
type TableRows struct {
	Table string // schema.table
	Rows  int64
}

// Begin opens a load. The caller must Commit or Rollback it.
func (w *Writer) Begin(ctx context.Context, info LoadInfo) (*Load, error) {
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
	return &Load{w: w, info: info, conn: conn, tx: tx, applied: map[string]bool{}, tables: map[string]int64{}}, nil
}

// ensureSchema creates the schema and its metadata tables, outside any load's transaction so
// that concurrent loads into one schema never conflict on them.
func (w *Writer) ensureSchema(ctx context.Context, schema string) error {
	w.ddl.Lock()
	defer w.ddl.Unlock()
	s := naming.Quote(schema)
	stmts := []string{
		"CREATE SCHEMA IF NOT EXISTS " + s,
		"CREATE TABLE IF NOT EXISTS " + s + `."_dlt_loads" (load_id VARCHAR NOT NULL, schema_name VARCHAR, status BIGINT NOT NULL, inserted_at TIMESTAMP WITH TIME ZONE NOT NULL, schema_version_hash VARCHAR)`,
		"CREATE TABLE IF NOT EXISTS " + s + `."_dango_batches" (batch_id VARCHAR NOT NULL, load_id VARCHAR NOT NULL, table_name VARCHAR NOT NULL, "rows" BIGINT NOT NULL, committed_at TIMESTAMP WITH TIME ZONE NOT NULL)`,
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
	var n int
	if err := l.tx.QueryRowContext(ctx, `SELECT count(*) FROM `+naming.Quote(l.info.Schema)+`."_dango_batches" WHERE batch_id = ?`, batchID).Scan(&n); err != nil {
		return 0, false, err
	}
	if n > 0 {
		return 0, true, nil
	}
	table := naming.Quote(l.info.Schema) + "." + naming.Quote(b.Table)
	if err := l.ensureTable(ctx, b.Table, b.Scan.Columns); err != nil {
		return 0, false, err
	}
	var cols, exprs []string
	for _, c := range b.Scan.Columns {
		cols = append(cols, naming.Quote(c.Name))
		exprs = append(exprs, c.Expr())
	}
	cols = append(cols, ColLoadID, ColID, ColExtractedAt)
	exprs = append(exprs, naming.Literal(l.info.LoadID), "uuid()",
		"TIMESTAMPTZ "+naming.Literal(b.ExtractedAt.UTC().Format("2006-01-02 15:04:05.999999Z07:00")))
	q := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") SELECT " + strings.Join(exprs, ", ") + " FROM " + b.Scan.ReaderSQL()
	res, err := l.tx.ExecContext(ctx, q)
	if err != nil {
		return 0, false, duckerr.Clean(err)
	}
	rows, _ = res.RowsAffected()
	l.applied[batchID] = true
	l.batches = append(l.batches, appliedBatch{id: batchID, table: b.Table, rows: rows})
	if _, seen := l.tables[b.Table]; !seen {
		l.order = append(l.order, b.Table)
	}
	l.tables[b.Table] += rows
	return rows, false, nil
}

// ensureTable creates the table or adds the columns it lacks.
func (l *Load) ensureTable(ctx context.Context, table string, cols []batch.Column) error {
	existing, err := tableColumns(ctx, l.tx, l.info.Schema, table)
	if err != nil {
		return err
	}
	qt := naming.Quote(l.info.Schema) + "." + naming.Quote(table)
	if len(existing) == 0 {
		defs := make([]string, 0, len(cols)+3)
		for _, c := range cols {
			defs = append(defs, naming.Quote(c.Name)+" "+c.Type)
		}
		defs = append(defs, ColLoadID+" VARCHAR NOT NULL", ColID+" UUID NOT NULL", ColExtractedAt+" TIMESTAMP WITH TIME ZONE NOT NULL")
		_, err := l.tx.ExecContext(ctx, "CREATE TABLE "+qt+" ("+strings.Join(defs, ", ")+")")
		return duckerr.Clean(err)
	}
	for _, c := range cols {
		if _, ok := existing[c.Name]; ok {
			continue
		}
		if _, err := l.tx.ExecContext(ctx, "ALTER TABLE "+qt+" ADD COLUMN "+naming.Quote(c.Name)+" "+c.Type); err != nil {
			return fmt.Errorf("add column %s to %s.%s: %w", c.Name, l.info.Schema, table, duckerr.Clean(err))
		}
	}
	return nil
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// tableColumns returns column name → type of a table, empty when it does not exist.
func tableColumns(ctx context.Context, q querier, schema, table string) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ?`, schema, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var n, t string
		if err := rows.Scan(&n, &t); err != nil {
			return nil, err
		}
		out[n] = t
	}
	return out, rows.Err()
}

// Commit records the load and its batches and makes everything visible at once.
func (l *Load) Commit(ctx context.Context) (Result, error) {
	if l.done {
		return Result{}, errors.New("load already finished")
	}
	defer l.finish()
	s := naming.Quote(l.info.Schema)
	now := time.Now().UTC()
	for _, b := range l.batches {
		if _, err := l.tx.ExecContext(ctx, `INSERT INTO `+s+`."_dango_batches" VALUES (?, ?, ?, ?, ?)`, b.id, l.info.LoadID, b.table, b.rows, now); err != nil {
			l.tx.Rollback()
			return Result{}, err
		}
	}
	hash, err := schemaHash(ctx, l.tx, l.info.Schema)
	if err != nil {
		l.tx.Rollback()
		return Result{}, err
	}
	if _, err := l.tx.ExecContext(ctx, `INSERT INTO `+s+`."_dlt_loads" VALUES (?, ?, 0, ?, ?)`, l.info.LoadID, l.info.Source, now, hash); err != nil {
		l.tx.Rollback()
		return Result{}, err
	}
	if err := l.tx.Commit(); err != nil {
		return Result{}, fmt.Errorf("commit load %s: %w", l.info.LoadID, duckerr.Clean(err))
	}
	res := Result{LoadID: l.info.LoadID}
	for _, t := range l.order {
		res.Tables = append(res.Tables, TableRows{Table: l.info.Schema + "." + t, Rows: l.tables[t]})
		res.Rows += l.tables[t]
	}
	return res, nil
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

// schemaHash fingerprints the data tables' columns, like dlt's schema_version_hash.
func schemaHash(ctx context.Context, q querier, schema string) (string, error) {
	rows, err := q.QueryContext(ctx, `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name NOT LIKE '\_dlt\_%' ESCAPE '\' AND table_name NOT LIKE '\_dango\_%' ESCAPE '\'`, schema)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var parts []string
	for rows.Next() {
		var t, c, d string
		if err := rows.Scan(&t, &c, &d); err != nil {
			return "", err
		}
		parts = append(parts, t+"."+c+" "+d)
	}
	sort.Strings(parts)
	sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
	return hex.EncodeToString(sum[:16]), rows.Err()
}

// LoadCommitted reports whether a load id is already recorded in a schema's _dlt_loads.
func (w *Writer) LoadCommitted(ctx context.Context, schema, loadID string) (bool, error) {
	var n int
	err := w.db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = '_dlt_loads'`, schema).Scan(&n)
	if err != nil || n == 0 {
		return false, err
	}
	err = w.db.QueryRowContext(ctx, `SELECT count(*) FROM `+naming.Quote(schema)+`."_dlt_loads" WHERE load_id = ?`, loadID).Scan(&n)
	return n > 0, err
}

// Tables lists schema.table for every table the load has written so far.
func (l *Load) Tables() []string {
	out := make([]string, len(l.order))
	for i, t := range l.order {
		out[i] = l.info.Schema + "." + t
	}
	return out
}
