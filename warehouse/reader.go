package warehouse

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/dangohq/dango/duckerr"
	"github.com/dangohq/dango/naming"
)

// ErrNoWarehouse means the warehouse file does not exist yet.
var ErrNoWarehouse = errors.New("no warehouse yet; run `dango sync` first")

// Reader is a read-only view of the warehouse, for commands that never write. Its session
// cannot touch the machine: DuckDB's external access is off (no file read or written but the
// warehouse itself, no ATTACH, INSTALL or LOAD of extensions), extensions are never
// autoloaded or autoinstalled, and the configuration is locked so no SET, RESET or PRAGMA
// turns any of that back on. What DuckDB spills goes to a private temporary folder that
// Close removes.
type Reader struct {
	db   *sql.DB
	lock *FileLock
	tmp  string
}

// ErrQueryRefused marks a statement a read-only session refuses: it would read or write
// files, change settings, or change the warehouse.
var ErrQueryRefused = errors.New("dango query reads the warehouse only")

// OpenReadOnly opens the file read-only, waiting up to o.Wait for a writer to finish (DuckDB
// lets readers in only when no process writes), and locks the session down (see Reader).
func OpenReadOnly(ctx context.Context, path string, o OpenOptions) (*Reader, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (%s)", ErrNoWarehouse, path)
	}
	lock, err := AcquireLock(ctx, path, LockOptions{Wait: o.Wait, OnWait: o.OnWait})
	if err != nil {
		return nil, err
	}
	db, err := openDB(ctx, path, true)
	if err != nil {
		lock.Release()
		return nil, err
	}
	r := &Reader{db: db, lock: lock}
	if err := r.sandbox(ctx); err != nil {
		r.Close()
		return nil, fmt.Errorf("open warehouse %s read-only: lock the session down: %w", path, err)
	}
	return r, nil
}

// sandbox applies the read-only session's settings. They are global to the database
// instance, so every connection of the pool has them; lock_configuration comes last.
func (r *Reader) sandbox(ctx context.Context) error {
	tmp, err := os.MkdirTemp("", "dango-query-*")
	if err != nil {
		return fmt.Errorf("create a temporary folder for DuckDB: %w", err)
	}
	r.tmp = tmp
	for _, q := range []string{
		"SET GLOBAL autoinstall_known_extensions = false",
		"SET GLOBAL autoload_known_extensions = false",
		"SET GLOBAL allow_community_extensions = false",
		// Nothing beyond the warehouse (and the temp folder below) stays reachable.
		"SET GLOBAL allowed_directories = []",
		"SET GLOBAL allowed_paths = []",
		// DuckDB keeps its temp folder reachable with external access off: make it ours.
		"SET GLOBAL temp_directory = " + naming.Literal(tmp),
		"SET GLOBAL enable_external_access = false",
		"SET GLOBAL lock_configuration = true",
	} {
		if _, err := r.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// DB exposes the read-only database for introspection.
func (r *Reader) DB() *sql.DB { return r.db }

// Close closes the reader and releases its lock.
func (r *Reader) Close() error {
	err := r.db.Close()
	r.lock.Release()
	if r.tmp != "" {
		os.RemoveAll(r.tmp)
	}
	return err
}

// LoadSummary is what `dango source list` shows of a schema's loads.
type LoadSummary struct {
	Loads    int
	LastLoad time.Time // zero when never loaded
	LastRows int64     // rows of the last load
}

// Summary reads a schema's load history; a schema never loaded returns the zero summary.
func (r *Reader) Summary(ctx context.Context, schema string) (LoadSummary, error) {
	var s LoadSummary
	var n int
	if err := r.db.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name IN ('_dlt_loads', '_dango_batches')`, schema).Scan(&n); err != nil || n < 2 {
		return s, err
	}
	q := naming.Quote(schema)
	var last sql.NullTime
	var lastID sql.NullString
	err := r.db.QueryRowContext(ctx, `SELECT count(*), max(inserted_at), arg_max(load_id, inserted_at) FROM `+q+`."_dlt_loads" WHERE status = 0`).Scan(&s.Loads, &last, &lastID)
	if err != nil {
		return s, err
	}
	if last.Valid {
		s.LastLoad = last.Time
	}
	if lastID.Valid {
		err = r.db.QueryRowContext(ctx, `SELECT coalesce(sum("rows"), 0) FROM `+q+`."_dango_batches" WHERE load_id = ?`, lastID.String).Scan(&s.LastRows)
	}
	return s, err
}

// QueryResult is a query's output as text cells.
type QueryResult struct {
	Columns []string
	Rows    [][]string
}

// Query runs SQL and renders every value as text (NULL as "NULL"). Only queries run: a
// single statement that is not a SELECT (SHOW, DESCRIBE, SUMMARIZE, VALUES, PIVOT and
// PRAGMA show_tables are SELECTs to DuckDB) or EXPLAIN is refused before it runs, and what
// the session's lockdown stops (reading a file, changing a setting) fails with an
// ErrQueryRefused that says why.
func (r *Reader) Query(ctx context.Context, q string, limit int) (*QueryResult, error) {
	conn, err := r.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := checkStatement(conn, q); err != nil {
		return nil, err
	}
	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		return nil, refused(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	types, _ := rows.ColumnTypes()
	res := &QueryResult{Columns: cols}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if limit > 0 && len(res.Rows) >= limit {
			break
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			if b, ok := v.([]byte); ok && len(b) == 16 && i < len(types) && types[i].DatabaseTypeName() == "UUID" {
				row[i] = fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
				continue
			}
			row[i] = formatValue(v)
		}
		res.Rows = append(res.Rows, row)
	}
	return res, refused(rows.Err())
}

// statementKinds names the statement types a query session refuses, by why.
var statementKinds = map[duckdb.StmtType]string{
	duckdb.STATEMENT_TYPE_COPY:        "COPY",
	duckdb.STATEMENT_TYPE_EXPORT:      "EXPORT DATABASE",
	duckdb.STATEMENT_TYPE_ATTACH:      "ATTACH",
	duckdb.STATEMENT_TYPE_DETACH:      "DETACH",
	duckdb.STATEMENT_TYPE_LOAD:        "INSTALL and LOAD",
	duckdb.STATEMENT_TYPE_EXTENSION:   "extension",
	duckdb.STATEMENT_TYPE_SET:         "SET, RESET and PRAGMA",
	duckdb.STATEMENT_TYPE_PRAGMA:      "PRAGMA",
	duckdb.STATEMENT_TYPE_CALL:        "CALL",
	duckdb.STATEMENT_TYPE_PREPARE:     "PREPARE",
	duckdb.STATEMENT_TYPE_EXECUTE:     "EXECUTE",
	duckdb.STATEMENT_TYPE_TRANSACTION: "transaction",
	duckdb.STATEMENT_TYPE_INSERT:      "INSERT",
	duckdb.STATEMENT_TYPE_UPDATE:      "UPDATE",
	duckdb.STATEMENT_TYPE_DELETE:      "DELETE",
	duckdb.STATEMENT_TYPE_CREATE:      "CREATE",
	duckdb.STATEMENT_TYPE_CREATE_FUNC: "CREATE",
	duckdb.STATEMENT_TYPE_ALTER:       "ALTER",
	duckdb.STATEMENT_TYPE_DROP:        "DROP",
	duckdb.STATEMENT_TYPE_ANALYZE:     "ANALYZE",
	duckdb.STATEMENT_TYPE_VACUUM:      "VACUUM",
}

// checkStatement refuses a single statement that is not a query, by its type as DuckDB
// parses it (not by its text). A statement DuckDB cannot prepare alone (several statements,
// or a PIVOT that DuckDB expands into two) runs under the session's lockdown only, which is
// what stops it from touching the machine; this check adds a clear refusal of the harmless
// rest (LOAD of a built-in extension, SET VARIABLE, CREATE TEMP TABLE).
func checkStatement(conn *sql.Conn, q string) error {
	var typ duckdb.StmtType
	err := conn.Raw(func(dc any) error {
		c, ok := dc.(driver.Conn)
		if !ok {
			return errors.New("not a database/sql driver connection")
		}
		st, err := c.Prepare(q)
		if err != nil {
			return err
		}
		defer st.Close()
		ds, ok := st.(*duckdb.Stmt)
		if !ok {
			return errors.New("not a DuckDB statement")
		}
		typ, err = ds.StatementType()
		return err
	})
	if err != nil {
		return nil // running it reports the same error, or it is several statements
	}
	switch typ {
	case duckdb.STATEMENT_TYPE_SELECT, duckdb.STATEMENT_TYPE_EXPLAIN:
		return nil
	}
	kind := statementKinds[typ]
	switch typ {
	case duckdb.STATEMENT_TYPE_COPY, duckdb.STATEMENT_TYPE_EXPORT, duckdb.STATEMENT_TYPE_ATTACH,
		duckdb.STATEMENT_TYPE_DETACH, duckdb.STATEMENT_TYPE_LOAD, duckdb.STATEMENT_TYPE_EXTENSION:
		return fmt.Errorf("%w: file access is disabled (%s statements are refused); export with `dango query --format csv > file`", ErrQueryRefused, kind)
	case duckdb.STATEMENT_TYPE_SET, duckdb.STATEMENT_TYPE_PRAGMA, duckdb.STATEMENT_TYPE_CALL:
		return fmt.Errorf("%w: settings are locked (%s statements are refused); use SELECT, e.g. SELECT * FROM duckdb_settings()", ErrQueryRefused, kind)
	case duckdb.STATEMENT_TYPE_INVALID:
		return nil
	}
	if kind == "" {
		kind = fmt.Sprintf("type %d", typ)
	}
	return fmt.Errorf("%w: it is read-only (%s statements are refused); change data with dango sync or dbt models (dango run)", ErrQueryRefused, kind)
}

// refused explains the errors of the session's lockdown; others are only tidied.
func refused(err error) error {
	err = duckerr.Clean(err)
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "Permission Error"):
		return fmt.Errorf("%w: file access is disabled (%s). If a view reads files (e.g. a dbt model selecting from read_csv('seeds/x.csv')), dango query cannot read it: make it a table model (materialized='table') or a dbt seed and dango run it", ErrQueryRefused, msg)
	case strings.Contains(msg, "the configuration has been locked"):
		return fmt.Errorf("%w: settings are locked (%s)", ErrQueryRefused, msg)
	case strings.Contains(msg, "read-only mode"):
		return fmt.Errorf("%w: it is read-only (%s); change data with dango sync or dbt models (dango run)", ErrQueryRefused, msg)
	}
	return err
}

func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return fmt.Sprintf("%x", x)
	case time.Time:
		if x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 && x.Nanosecond() == 0 && x.Location() == time.UTC {
			return x.Format("2006-01-02")
		}
		return x.Format("2006-01-02 15:04:05.999999-07")
	case float64:
		return fmt.Sprint(x)
	case map[string]any, []any, duckdb.Map:
		// JSON, LIST, STRUCT and MAP values print as JSON, not as Go's rendering of maps.
		if m, ok := x.(duckdb.Map); ok {
			obj := make(map[string]any, len(m))
			for k, val := range m {
				obj[fmt.Sprint(k)] = val
			}
			x = obj
		}
		if b, err := json.Marshal(x); err == nil {
			return string(b)
		}
		return fmt.Sprint(x)
	case duckdb.Interval:
		return formatInterval(x)
	default:
		if s, ok := v.(fmt.Stringer); ok {
			return s.String()
		}
		return fmt.Sprint(x)
	}
}

// formatInterval renders an interval as DuckDB does: "1 year 2 months 3 days 04:05:06.789".
func formatInterval(iv duckdb.Interval) string {
	var parts []string
	unit := func(n int64, one string) {
		if n == 0 {
			return
		}
		s := fmt.Sprintf("%d %s", n, one)
		if n != 1 && n != -1 {
			s += "s"
		}
		parts = append(parts, s)
	}
	unit(int64(iv.Months/12), "year")
	unit(int64(iv.Months%12), "month")
	unit(int64(iv.Days), "day")
	if us := iv.Micros; us != 0 || len(parts) == 0 {
		sign := ""
		if us < 0 {
			sign, us = "-", -us
		}
		t := fmt.Sprintf("%s%02d:%02d:%02d", sign, us/3_600_000_000, us/60_000_000%60, us/1_000_000%60)
		if frac := us % 1_000_000; frac != 0 {
			t += strings.TrimRight(fmt.Sprintf(".%06d", frac), "0")
		}
		parts = append(parts, t)
	}
	return strings.Join(parts, " ")
}

// Relations lists the warehouse's tables and views as schema.name.
func (r *Reader) Relations(ctx context.Context) (map[string]bool, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT table_schema, table_name FROM information_schema.tables`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var s, t string
		if err := rows.Scan(&s, &t); err != nil {
			return nil, err
		}
		out[s+"."+t] = true
	}
	return out, rows.Err()
}
