package warehouse

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/naming"
)

// Metadata tables in every raw schema. _dlt_loads is dlt's; the _dango_ tables are ours.
var metaTables = []string{
	`"_dlt_loads" (load_id VARCHAR NOT NULL, schema_name VARCHAR, status BIGINT NOT NULL, inserted_at TIMESTAMP WITH TIME ZONE NOT NULL, schema_version_hash VARCHAR)`,
	// Batch ids applied, for effectively-once delivery.
	`"_dango_batches" (batch_id VARCHAR NOT NULL, load_id VARCHAR NOT NULL, table_name VARCHAR NOT NULL, "rows" BIGINT NOT NULL, committed_at TIMESTAMP WITH TIME ZONE NOT NULL)`,
	// One row per completed load: what it took, for `source list` and dry-run estimates.
	`"_dango_loads" (load_id VARCHAR NOT NULL, source VARCHAR NOT NULL, started_at TIMESTAMP WITH TIME ZONE, finished_at TIMESTAMP WITH TIME ZONE NOT NULL, "rows" BIGINT NOT NULL, bytes BIGINT NOT NULL)`,
	// Incremental cursors, committed with the rows they describe.
	`"_dango_state" (resource VARCHAR NOT NULL, cursor_column VARCHAR NOT NULL, cursor_value VARCHAR NOT NULL, load_id VARCHAR NOT NULL, updated_at TIMESTAMP WITH TIME ZONE NOT NULL)`,
	// File versions loaded by folder and glob sources.
	`"_dango_files" (resource VARCHAR NOT NULL, path VARCHAR NOT NULL, size BIGINT NOT NULL, mtime TIMESTAMP WITH TIME ZONE NOT NULL, load_id VARCHAR NOT NULL)`,
	// Every column a load added or widened.
	`"_dango_schema_changes" (changed_at TIMESTAMP WITH TIME ZONE NOT NULL, load_id VARCHAR NOT NULL, table_name VARCHAR NOT NULL, column_name VARCHAR NOT NULL, change VARCHAR NOT NULL, old_type VARCHAR, new_type VARCHAR NOT NULL)`,
}

// hasTable reports whether a table exists. The catalog functions are used rather than
// information_schema, whose views cost time in proportion to every table of the warehouse:
// with a thousand sources that made each load ~200 ms slower.
func hasTable(ctx context.Context, q querier, schema, table string) (bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT 1 FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?`, schema, table)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	return rows.Next(), rows.Err()
}

// missing reports an error about a table or schema that does not exist. Outside a
// transaction, asking and failing is the cheap existence test: looking a name up is
// constant time, while listing the catalog grows with every table of the warehouse.
func missing(err error) bool {
	return err != nil && strings.Contains(err.Error(), "Catalog Error") && strings.Contains(err.Error(), "does not exist")
}

// readState loads a schema's cursors and file versions; a schema never loaded has none. q
// must not be a transaction (see missing).
func readState(ctx context.Context, q querier, schema string) (batch.State, error) {
	st := batch.State{Cursors: map[string]string{}, Files: map[string]map[string]batch.FileState{}}
	s := naming.Quote(schema)
	rows, err := q.QueryContext(ctx, `SELECT resource, cursor_value FROM `+s+`."_dango_state"`)
	if missing(err) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	for rows.Next() {
		var r, v string
		if err := rows.Scan(&r, &v); err != nil {
			rows.Close()
			return st, err
		}
		st.Cursors[r] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, err
	}
	rows, err = q.QueryContext(ctx, `SELECT resource, path, size, mtime FROM `+s+`."_dango_files"`)
	if missing(err) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	defer rows.Close()
	for rows.Next() {
		var r, p string
		var fs batch.FileState
		if err := rows.Scan(&r, &p, &fs.Size, &fs.ModTime); err != nil {
			return st, err
		}
		if st.Files[r] == nil {
			st.Files[r] = map[string]batch.FileState{}
		}
		fs.ModTime = fs.ModTime.UTC()
		st.Files[r][p] = fs
	}
	return st, rows.Err()
}

// State returns what the warehouse remembers of a schema: cursors and file versions.
func (w *Writer) State(ctx context.Context, schema string) (batch.State, error) {
	return readState(ctx, w.db, schema)
}

// State reads the same through a read-only handle.
func (r *Reader) State(ctx context.Context, schema string) (batch.State, error) {
	return readState(ctx, r.db, schema)
}

// LastRate is the throughput of a source's last completed load.
type LastRate struct {
	Rows     int64
	Duration time.Duration
}

func lastRate(ctx context.Context, q querier, schema, source string) (LastRate, error) {
	var lr LastRate
	rows, err := q.QueryContext(ctx, `SELECT "rows", epoch_ms(finished_at) - epoch_ms(started_at) FROM `+naming.Quote(schema)+
		`."_dango_loads" WHERE source = ? AND started_at IS NOT NULL ORDER BY finished_at DESC LIMIT 1`, source)
	if missing(err) {
		return lr, nil
	}
	if err != nil {
		return lr, err
	}
	defer rows.Close()
	if rows.Next() {
		var ms sql.NullInt64
		if err := rows.Scan(&lr.Rows, &ms); err != nil {
			return lr, err
		}
		lr.Duration = time.Duration(ms.Int64) * time.Millisecond
	}
	return lr, rows.Err()
}

// LastRate reads the rows and duration of a source's last load (zero when there is none).
func (r *Reader) LastRate(ctx context.Context, schema, source string) (int64, time.Duration, error) {
	lr, err := lastRate(ctx, r.db, schema, source)
	return lr.Rows, lr.Duration, err
}

// TableRowCount counts a table's rows; a missing table has none.
func (r *Reader) TableRowCount(ctx context.Context, schema, table string) (int64, error) {
	return tableRowCount(ctx, r.db, schema, table)
}

func tableRowCount(ctx context.Context, q querier, schema, table string) (int64, error) {
	if ok, err := hasTable(ctx, q, schema, table); err != nil || !ok {
		return 0, err
	}
	rows, err := q.QueryContext(ctx, `SELECT count(*) FROM `+naming.Quote(schema)+"."+naming.Quote(table))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n int64
	if rows.Next() {
		err = rows.Scan(&n)
	}
	return n, err
}
