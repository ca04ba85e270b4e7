package warehouse

import (
	"context"
	"database/sql"
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

// Reader is a read-only view of the warehouse, for commands that never write.
type Reader struct {
	db   *sql.DB
	lock *FileLock
}

// OpenReadOnly opens the file read-only, waiting up to o.Wait for a writer to finish (DuckDB
// lets readers in only when no process writes).
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
	return &Reader{db: db, lock: lock}, nil
}

// DB exposes the read-only database for introspection.
func (r *Reader) DB() *sql.DB { return r.db }

// Close closes the reader and releases its lock.
func (r *Reader) Close() error {
	err := r.db.Close()
	r.lock.Release()
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

// Query runs SQL and renders every value as text (NULL as "NULL"). The database is opened
// read-only, so statements that write fail with DuckDB's own message.
func (r *Reader) Query(ctx context.Context, q string, limit int) (*QueryResult, error) {
	rows, err := r.db.QueryContext(ctx, q)
	if err != nil {
		return nil, duckerr.Clean(err)
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
	return res, duckerr.Clean(rows.Err())
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
