package dbtcompat

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sort"
	"strings"

	_ "github.com/duckdb/duckdb-go/v2" // the engine both sides write with (dbt's venv pins duckdb 1.5.6)
)

// Warehouse is what a side left in its DuckDB file: every relation outside the system
// schemas, with its kind, columns and rows.
type Warehouse struct {
	Relations map[string]*Relation // "schema.name"
}

// Relation is one table or view.
type Relation struct {
	Kind    string   // "BASE TABLE", "VIEW", …, as information_schema.tables says
	Columns []Column // in ordinal order
	Rows    []string // each row's values as text, joined; sorted (a multiset)
	RowsErr string   // why the rows could not be read (a view over a missing table, …)
}

// Column is a column's name and DuckDB type.
type Column struct{ Name, Type string }

// MaxRows bounds the rows read from one relation; past it only the count is compared.
const MaxRows = 200000

// ReadWarehouse reads file read-only.
func ReadWarehouse(ctx context.Context, file string) (*Warehouse, error) {
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("no warehouse file: %w", err)
	}
	db, err := sql.Open("duckdb", file+"?access_mode=read_only")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	w := &Warehouse{Relations: map[string]*Relation{}}
	rows, err := db.QueryContext(ctx, `SELECT table_schema, table_name, table_type FROM information_schema.tables
		WHERE table_catalog = current_database() AND table_schema NOT IN ('information_schema', 'pg_catalog')`)
	if err != nil {
		return nil, fmt.Errorf("list relations of %s: %w", file, err)
	}
	for rows.Next() {
		var s, n, k string
		if err := rows.Scan(&s, &n, &k); err != nil {
			rows.Close()
			return nil, err
		}
		w.Relations[s+"."+n] = &Relation{Kind: k}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	cols, err := db.QueryContext(ctx, `SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns
		WHERE table_catalog = current_database() ORDER BY table_schema, table_name, ordinal_position`)
	if err != nil {
		return nil, fmt.Errorf("list columns of %s: %w", file, err)
	}
	for cols.Next() {
		var s, n, c, ty string
		if err := cols.Scan(&s, &n, &c, &ty); err != nil {
			cols.Close()
			return nil, err
		}
		if r := w.Relations[s+"."+n]; r != nil {
			r.Columns = append(r.Columns, Column{c, ty})
		}
	}
	cols.Close()
	if err := cols.Err(); err != nil {
		return nil, err
	}
	for name, r := range w.Relations {
		s, n, _ := strings.Cut(name, ".")
		r.Rows, err = readRows(ctx, db, s, n, r.Columns)
		if err != nil {
			r.RowsErr = err.Error()
		}
	}
	return w, nil
}

// rowSep joins a row's values. It is the unit separator: values are compared as text, and
// one holding the separator itself would only split into a wrong column for the per-column
// report (the whole-row comparison stays exact).
const rowSep = "\x1f"

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// readRows reads a relation's rows with every value cast to text (NULL as ∅), columns in
// name order so that a column order difference is reported once, not as every row.
func readRows(ctx context.Context, db *sql.DB, schema, name string, cols []Column) ([]string, error) {
	if len(cols) == 0 {
		return nil, nil
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	sort.Strings(names)
	exprs := make([]string, len(names))
	for i, n := range names {
		exprs[i] = "coalesce(CAST(" + quoteIdent(n) + " AS VARCHAR), '∅')"
	}
	q := "SELECT " + strings.Join(exprs, ", ") + " FROM " + quoteIdent(schema) + "." + quoteIdent(name) + fmt.Sprintf(" LIMIT %d", MaxRows+1)
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	vals := make([]string, len(names))
	ptrs := make([]any, len(names))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, strings.Join(vals, rowSep))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}
