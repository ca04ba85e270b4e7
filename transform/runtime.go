package transform

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/big"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/nikolalohinski/gonja/v2/exec"
)

// execState is what a session has while executing (dbt's execute = true): a connection to the
// warehouse, the results of named statements, and where log(info=True) prints. A session
// without one is parsing or compiling offline, and introspection answers as dbt's parser does
// (run_query → none, get_relation → none, get_columns_in_relation → []).
type execState struct {
	ctx     context.Context
	conn    execer
	results map[string]*stmtResult
	out     io.Writer
}

// newRuntimeSession is a session that executes: execute is true and introspection queries conn.
func (e *Engine) newRuntimeSession(ctx context.Context, conn execer) *session {
	s := &session{e: e, envs: map[string]*exec.Environment{}, rt: &execState{ctx: ctx, conn: conn, results: map[string]*stmtResult{}, out: e.Log}}
	s.env = s.envFor(e.P.Name)
	return s
}

func (s *session) executing() bool { return s.rt != nil }

// releaseTables forgets the tables run_query made for the render that finished.
func (s *session) releaseTables() {
	for _, t := range s.tables {
		t.release()
	}
	s.tables = nil
}

// ---- agate-like tables -------------------------------------------------------------------

// agateTable is what run_query and load_result(...).table return: rows (iterable, indexable,
// |length) with .columns, .column_names and .rows, as dbt's agate.Table.
type agateTable []*agateRow

type tableInfo struct {
	names []string
	types []string
}

// agateRow is one row: row[0], row['name'], iteration over its values.
type agateRow []any

// The column names of a table and a row live beside them (a slice type cannot carry fields
// and must stay a slice for gonja to iterate and measure it).
var (
	metaMu    sync.Mutex
	tableMeta = map[*agateTable]*tableInfo{}
	rowMeta   = map[*agateRow]*tableInfo{}
)

func newTable(info *tableInfo, rows [][]any) *agateTable {
	t := make(agateTable, len(rows))
	metaMu.Lock()
	for i, r := range rows {
		row := agateRow(r)
		t[i] = &row
		rowMeta[&row] = info
	}
	tableMeta[&t] = info
	metaMu.Unlock()
	return &t
}

// release forgets the metadata of a table once nothing renders with it any more.
func (t *agateTable) release() {
	metaMu.Lock()
	for _, r := range *t {
		delete(rowMeta, r)
	}
	delete(tableMeta, t)
	metaMu.Unlock()
}

func (t *agateTable) info() *tableInfo {
	metaMu.Lock()
	defer metaMu.Unlock()
	if i := tableMeta[t]; i != nil {
		return i
	}
	return &tableInfo{}
}

func (t *agateTable) String() string { return fmt.Sprintf("<agate.Table %d rows>", len(*t)) }

func (t *agateTable) GetAttribute(name string) (*exec.Value, bool) {
	info := t.info()
	switch name {
	case "columns":
		cols := make([]any, len(info.names))
		for i := range info.names {
			cols[i] = &agateColumn{t: t, i: i, name: info.names[i], typ: info.types[i]}
		}
		return exec.AsValue(cols), true
	case "column_names":
		return exec.AsValue(toAny(info.names)), true
	case "column_types":
		return exec.AsValue(toAny(info.types)), true
	case "rows":
		return exec.AsValue(t), true
	case "print_table", "print_csv", "print_json":
		return exec.AsValue(func(va *exec.VarArgs) string { return "" }), true
	}
	return exec.AsValue(nil), false
}

func (t *agateTable) GetItem(key any) (*exec.Value, bool) {
	i, ok := toIndex(key, len(*t))
	if !ok {
		return exec.AsValue(fmt.Errorf("table index %v out of range (%d rows)", key, len(*t))), false
	}
	return exec.AsValue((*t)[i]), true
}

func toIndex(key any, n int) (int, bool) {
	var i int
	switch k := key.(type) {
	case int:
		i = k
	case int64:
		i = int(k)
	case *exec.Value:
		if !k.IsInteger() {
			return 0, false
		}
		i = k.Integer()
	default:
		return 0, false
	}
	if i < 0 {
		i += n
	}
	return i, i >= 0 && i < n
}

func (r *agateRow) info() *tableInfo {
	metaMu.Lock()
	defer metaMu.Unlock()
	if i := rowMeta[r]; i != nil {
		return i
	}
	return &tableInfo{}
}

func (r *agateRow) String() string {
	parts := make([]string, len(*r))
	for i, v := range *r {
		parts[i] = pyRepr(v)
	}
	return "<agate.Row: (" + strings.Join(parts, ", ") + ")>"
}

func (r *agateRow) GetItem(key any) (*exec.Value, bool) {
	if v, ok := key.(*exec.Value); ok && v.IsString() {
		key = v.String()
	}
	if name, ok := key.(string); ok {
		for i, n := range r.info().names {
			if n == name {
				return exec.AsValue((*r)[i]), true
			}
		}
		return exec.AsValue(fmt.Errorf("row has no column %q", name)), false
	}
	i, ok := toIndex(key, len(*r))
	if !ok {
		return exec.AsValue(fmt.Errorf("row index %v out of range (%d columns)", key, len(*r))), false
	}
	return exec.AsValue((*r)[i]), true
}

func (r *agateRow) GetAttribute(name string) (*exec.Value, bool) {
	switch name {
	case "values":
		return exec.AsValue(func() []any { return []any(*r) }), true
	case "keys":
		return exec.AsValue(func() []any { return toAny(r.info().names) }), true
	case "items":
		return exec.AsValue(func() []any {
			out := make([]any, len(*r))
			for i, n := range r.info().names {
				out[i] = []any{n, (*r)[i]}
			}
			return out
		}), true
	case "dict":
		return exec.AsValue(func() map[string]any {
			out := map[string]any{}
			for i, n := range r.info().names {
				out[n] = (*r)[i]
			}
			return out
		}), true
	}
	for i, n := range r.info().names {
		if n == name {
			return exec.AsValue((*r)[i]), true
		}
	}
	return exec.AsValue(nil), false
}

type agateColumn struct {
	t    *agateTable
	i    int
	name string
	typ  string
}

func (c *agateColumn) String() string { return "<agate.Column " + c.name + ">" }

func (c *agateColumn) GetAttribute(name string) (*exec.Value, bool) {
	switch name {
	case "name":
		return exec.AsValue(c.name), true
	case "data_type":
		return exec.AsValue(c.typ), true
	case "index":
		return exec.AsValue(c.i), true
	case "values", "values_distinct", "values_without_nulls", "values_sorted":
		return exec.AsValue(func() []any {
			var out []any
			seen := map[string]bool{}
			for _, r := range *c.t {
				v := (*r)[c.i]
				switch name {
				case "values_without_nulls":
					if v == nil {
						continue
					}
				case "values_distinct":
					k := pyRepr(v)
					if seen[k] {
						continue
					}
					seen[k] = true
				}
				out = append(out, v)
			}
			if name == "values_sorted" {
				sort.SliceStable(out, func(i, j int) bool { return pyRepr(out[i]) < pyRepr(out[j]) })
			}
			if out == nil {
				out = []any{}
			}
			return out
		}), true
	}
	return exec.AsValue(nil), false
}

func (c *agateColumn) GetItem(key any) (*exec.Value, bool) {
	i, ok := toIndex(key, len(*c.t))
	if !ok {
		return exec.AsValue(fmt.Errorf("column index %v out of range", key)), false
	}
	return exec.AsValue((*(*c.t)[i])[c.i]), true
}

// ---- queries ------------------------------------------------------------------------------

// stmtResult is load_result(name): .response, .data (list of row tuples), .table.
type stmtResult struct {
	response map[string]any
	table    *agateTable
}

func (r *stmtResult) GetAttribute(name string) (*exec.Value, bool) {
	switch name {
	case "response":
		return exec.AsValue(r.response), true
	case "table":
		if r.table == nil {
			return exec.AsValue(nil), true
		}
		return exec.AsValue(r.table), true
	case "data":
		if r.table == nil {
			return exec.AsValue([]any{}), true
		}
		out := make([]any, len(*r.table))
		for i, row := range *r.table {
			out[i] = []any(*row)
		}
		return exec.AsValue(out), true
	case "keys":
		return exec.AsValue(func() []any { return []any{"response", "data", "table"} }), true
	}
	return exec.AsValue(nil), false
}

func (r *stmtResult) GetItem(key any) (*exec.Value, bool) {
	if v, ok := key.(*exec.Value); ok {
		key = v.String()
	}
	k, _ := key.(string)
	return r.GetAttribute(k)
}

// query runs SQL on the session's connection; with fetch it returns its rows as a table.
func (s *session) query(q string, fetch bool) (*stmtResult, error) {
	rt := s.rt
	if !fetch {
		res, err := rt.conn.ExecContext(rt.ctx, q)
		if err != nil {
			return nil, fmt.Errorf("Database Error\n  %s", cleanDBError(err))
		}
		n, _ := res.RowsAffected()
		return &stmtResult{response: map[string]any{"_message": "OK", "code": "OK", "rows_affected": n}}, nil
	}
	rows, err := rt.conn.QueryContext(rt.ctx, q)
	if err != nil {
		return nil, fmt.Errorf("Database Error\n  %s", cleanDBError(err))
	}
	defer rows.Close()
	cols, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	info := &tableInfo{}
	for _, c := range cols {
		info.names = append(info.names, c.Name())
		info.types = append(info.types, agateType(c.DatabaseTypeName()))
	}
	var data [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			vals[i] = jinjaValue(v, cols[i].DatabaseTypeName())
		}
		data = append(data, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("Database Error\n  %s", cleanDBError(err))
	}
	t := newTable(info, data)
	s.tables = append(s.tables, t)
	return &stmtResult{response: map[string]any{"_message": "OK", "code": "OK", "rows_affected": -1}, table: t}, nil
}

// agateType names a DuckDB type as agate's column type (what dbt's agate_helper infers).
func agateType(t string) string {
	t = strings.ToUpper(t)
	switch {
	case t == "BOOLEAN":
		return "Boolean"
	case strings.Contains(t, "INT") || strings.HasPrefix(t, "DECIMAL") || t == "DOUBLE" || t == "FLOAT" || t == "REAL":
		return "Number"
	case t == "DATE":
		return "Date"
	case strings.HasPrefix(t, "TIMESTAMP"):
		return "DateTime"
	}
	return "Text"
}

// jinjaValue turns a database value into what a template sees: numbers as int64 or float64,
// timestamps and dates as Python's str() prints them.
func jinjaValue(v any, dbType string) any {
	switch x := v.(type) {
	case nil, string, bool, int64, float64:
		return x
	case []byte:
		return string(x)
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		return int64(x)
	case float32:
		return float64(x)
	case *big.Int:
		if x.IsInt64() {
			return x.Int64()
		}
		f, _ := new(big.Float).SetInt(x).Float64()
		return f
	case duckdb.Decimal:
		if x.Scale == 0 && x.Value != nil && x.Value.IsInt64() {
			return x.Value.Int64()
		}
		return x.Float64()
	case time.Time:
		if strings.ToUpper(dbType) == "DATE" {
			return x.Format("2006-01-02")
		}
		if x.Nanosecond() != 0 {
			return x.Format("2006-01-02 15:04:05.000000")
		}
		return x.Format("2006-01-02 15:04:05")
	}
	return fmt.Sprint(v)
}

// runQuery is run_query(sql): a table while executing, none while parsing (as in dbt).
func (s *session) runQuery(q string) (any, error) {
	if !s.executing() {
		return nil, nil
	}
	r, err := s.query(q, true)
	if err != nil {
		return nil, s.fail(err)
	}
	return r.table, nil
}

// statement is {% call statement(name, fetch_result=True) %}sql{% endcall %}: while executing
// it runs the body and keeps the result for load_result(name); while parsing it does nothing.
func (s *session) statement(va *exec.VarArgs) (any, error) {
	if !s.executing() {
		return "", nil
	}
	name := ""
	if len(va.Args) > 0 && !va.Args[0].IsNil() {
		name = va.Args[0].String()
	} else if v, ok := va.KwArgs["name"]; ok && !v.IsNil() {
		name = v.String()
	}
	fetch := false
	if v, ok := va.KwArgs["fetch_result"]; ok {
		fetch = v.IsTrue()
	} else if len(va.Args) > 1 {
		fetch = va.Args[1].IsTrue()
	}
	c, ok := va.KwArgs["caller"]
	if !ok {
		return nil, s.fail(fmt.Errorf("statement() is a call block: {%% call statement('name') %%}sql{%% endcall %%}"))
	}
	f, ok := c.Interface().(func(*exec.VarArgs) *exec.Value)
	if !ok {
		return nil, s.fail(fmt.Errorf("statement(): caller is not callable"))
	}
	body := f(exec.NewVarArgs())
	if body.IsError() {
		return nil, fmt.Errorf("%v", body.Interface())
	}
	q := strings.TrimSpace(body.String())
	r, err := s.query(q, fetch)
	if err != nil {
		return nil, s.fail(err)
	}
	if name != "" {
		s.rt.results[name] = r
	}
	return "", nil
}

// loadResult is load_result(name): the named statement's result, none when it did not run.
func (s *session) loadResult(name string) any {
	if !s.executing() {
		return nil
	}
	if r, ok := s.rt.results[name]; ok {
		return r
	}
	return nil
}

// ---- columns and relations -----------------------------------------------------------------

// Column is a column of a relation as dbt-duckdb describes it (adapter.get_columns_in_relation).
type Column struct {
	Name      string
	Dtype     string
	CharSize  *int64
	Precision *int64
	Scale     *int64
}

var floatTypes = map[string]bool{"real": true, "float": true, "float4": true, "float8": true, "double": true}
var intTypes = map[string]bool{"tinyint": true, "smallint": true, "integer": true, "bigint": true, "hugeint": true, "utinyint": true,
	"usmallint": true, "uinteger": true, "ubigint": true, "int1": true, "int2": true, "int4": true, "int8": true, "short": true,
	"int": true, "signed": true, "long": true}

func (c *Column) isString() bool {
	switch strings.ToLower(c.Dtype) {
	case "text", "character varying", "character", "varchar":
		return true
	}
	return false
}
func (c *Column) isNumeric() bool {
	d := strings.ToLower(c.Dtype)
	return d == "numeric" || d == "decimal"
}
func (c *Column) isFloat() bool   { return floatTypes[strings.ToLower(c.Dtype)] }
func (c *Column) isInteger() bool { return intTypes[strings.ToLower(c.Dtype)] }
func (c *Column) stringSize() (int64, error) {
	if !c.isString() {
		return 0, fmt.Errorf("Called string_size() on non-string field!")
	}
	if c.Dtype == "text" || c.CharSize == nil {
		return 256, nil
	}
	return *c.CharSize, nil
}

// DataType is dbt's Column.data_type.
func (c *Column) DataType() string {
	switch {
	case c.isString():
		n, _ := c.stringSize()
		return fmt.Sprintf("character varying(%d)", n)
	case c.isNumeric() && c.Precision != nil && c.Scale != nil:
		return fmt.Sprintf("%s(%d,%d)", c.Dtype, *c.Precision, *c.Scale)
	}
	return c.Dtype
}

func (c *Column) String() string { return fmt.Sprintf("<Column %s (%s)>", c.Name, c.DataType()) }

func (c *Column) GetAttribute(name string) (*exec.Value, bool) {
	ptr := func(p *int64) *exec.Value {
		if p == nil {
			return exec.AsValue(nil)
		}
		return exec.AsValue(*p)
	}
	switch name {
	case "name", "column":
		return exec.AsValue(c.Name), true
	case "dtype":
		return exec.AsValue(c.Dtype), true
	case "data_type", "expanded_data_type":
		return exec.AsValue(c.DataType()), true
	case "quoted":
		return exec.AsValue(`"` + c.Name + `"`), true
	case "char_size":
		return ptr(c.CharSize), true
	case "numeric_precision":
		return ptr(c.Precision), true
	case "numeric_scale":
		return ptr(c.Scale), true
	case "is_string":
		return exec.AsValue(c.isString), true
	case "is_numeric":
		return exec.AsValue(c.isNumeric), true
	case "is_float":
		return exec.AsValue(c.isFloat), true
	case "is_integer":
		return exec.AsValue(c.isInteger), true
	case "is_number":
		return exec.AsValue(func() bool { return c.isInteger() || c.isNumeric() || c.isFloat() }), true
	case "string_size":
		return exec.AsValue(c.stringSize), true
	case "literal":
		return exec.AsValue(func(v any) string { return fmt.Sprintf("%v::%s", v, c.DataType()) }), true
	case "can_expand_to":
		return exec.AsValue(func(o *Column) bool {
			if !c.isString() || !o.isString() {
				return false
			}
			a, _ := c.stringSize()
			b, _ := o.stringSize()
			return b > a
		}), true
	}
	return exec.AsValue(nil), false
}

// relationArg reads a Relation a template passed (a Relation, this, or a ref()).
func relationArg(v *exec.Value) (Relation, bool) {
	switch x := v.Interface().(type) {
	case Relation:
		return x, true
	case *Relation:
		return *x, true
	case *thisProxy:
		return x.s.st.node.Relation(), true
	}
	return Relation{}, false
}

func (s *session) columnsIn(va *exec.VarArgs) (any, error) {
	if !s.executing() {
		return []any{}, nil
	}
	var arg *exec.Value
	if len(va.Args) > 0 {
		arg = va.Args[0]
	} else if v, ok := va.KwArgs["relation"]; ok {
		arg = v
	}
	if arg == nil {
		return nil, s.fail(fmt.Errorf("get_columns_in_relation() needs a relation"))
	}
	rel, ok := relationArg(arg)
	if !ok {
		return nil, s.fail(fmt.Errorf("get_columns_in_relation(): %v is not a relation", arg.Interface()))
	}
	cols, err := s.columns(rel)
	if err != nil {
		return nil, s.fail(err)
	}
	out := make([]any, len(cols))
	for i, c := range cols {
		out[i] = c
	}
	return out, nil
}

func (s *session) columns(rel Relation) ([]*Column, error) {
	if rel.bare {
		return nil, nil
	}
	q := `select column_name, data_type, character_maximum_length, numeric_precision, numeric_scale
from system.information_schema.columns where table_name = ?`
	args := []any{rel.Identifier}
	if rel.Schema != "" {
		q += ` and lower(table_schema) = lower(?)`
		args = append(args, rel.Schema)
	}
	if rel.Database != "" {
		q += ` and lower(table_catalog) = lower(?)`
		args = append(args, rel.Database)
	}
	rows, err := s.rt.conn.QueryContext(s.rt.ctx, q+` order by ordinal_position`, args...)
	if err != nil {
		return nil, fmt.Errorf("Database Error\n  %s", cleanDBError(err))
	}
	defer rows.Close()
	var out []*Column
	for rows.Next() {
		c := &Column{}
		var size, prec, scale sql.NullInt64
		if err := rows.Scan(&c.Name, &c.Dtype, &size, &prec, &scale); err != nil {
			return nil, err
		}
		if size.Valid {
			c.CharSize = &size.Int64
		}
		if prec.Valid {
			c.Precision = &prec.Int64
		}
		if scale.Valid {
			c.Scale = &scale.Int64
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// relationParts reads (database, schema, identifier) given positionally or by keyword.
func relationParts(va *exec.VarArgs) (db, schema, id string) {
	get := func(i int, k string) string {
		if v, ok := va.KwArgs[k]; ok && !v.IsNil() {
			return v.String()
		}
		if i < len(va.Args) && !va.Args[i].IsNil() {
			return va.Args[i].String()
		}
		return ""
	}
	return get(0, "database"), get(1, "schema"), get(2, "identifier")
}

// getRelation is adapter.get_relation(database, schema, identifier): the relation when it
// exists (with its type), else none; none while parsing, as in dbt.
func (s *session) getRelation(va *exec.VarArgs) (any, error) {
	if !s.executing() {
		return nil, nil
	}
	db, schema, id := relationParts(va)
	rel, err := s.lookup(db, schema, id)
	if err != nil || rel == nil {
		return nil, err
	}
	return *rel, nil
}

func (s *session) lookup(db, schema, id string) (*Relation, error) {
	rows, err := s.rt.conn.QueryContext(s.rt.ctx, `select table_catalog, table_schema, table_name, table_type from system.information_schema.tables
where lower(table_catalog) = lower(?) and lower(table_schema) = lower(?) and lower(table_name) = lower(?)`, db, schema, id)
	if err != nil {
		return nil, s.fail(fmt.Errorf("Database Error\n  %s", cleanDBError(err)))
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	var r Relation
	var typ string
	if err := rows.Scan(&r.Database, &r.Schema, &r.Identifier, &typ); err != nil {
		return nil, err
	}
	r.Type = "table"
	if typ == "VIEW" {
		r.Type = "view"
	}
	return &r, nil
}

func (s *session) loadRelation(v *exec.Value) (any, error) {
	if !s.executing() {
		return nil, nil
	}
	rel, ok := relationArg(v)
	if !ok {
		return nil, s.fail(fmt.Errorf("load_relation(): %v is not a relation", v.Interface()))
	}
	r, err := s.lookup(rel.Database, rel.Schema, rel.Identifier)
	if err != nil || r == nil {
		return nil, err
	}
	return *r, nil
}

// missingColumns is adapter.get_missing_columns(from, to): from's columns that to lacks.
func (s *session) missingColumns(from, to *exec.Value) (any, error) {
	if !s.executing() {
		return []any{}, nil
	}
	a, ok1 := relationArg(from)
	b, ok2 := relationArg(to)
	if !ok1 || !ok2 {
		return nil, s.fail(fmt.Errorf("get_missing_columns() takes two relations"))
	}
	fc, err := s.columns(a)
	if err != nil {
		return nil, s.fail(err)
	}
	tc, err := s.columns(b)
	if err != nil {
		return nil, s.fail(err)
	}
	have := map[string]bool{}
	for _, c := range tc {
		have[strings.ToLower(c.Name)] = true
	}
	out := []any{}
	for _, c := range fc {
		if !have[strings.ToLower(c.Name)] {
			out = append(out, c)
		}
	}
	return out, nil
}

// listRelations is adapter.list_relations_without_caching(schema_relation): the relations
// of a schema as Relations.
func (s *session) listRelations(v *exec.Value) (any, error) {
	if !s.executing() {
		return []any{}, nil
	}
	rel, ok := relationArg(v)
	if !ok {
		return nil, s.fail(fmt.Errorf("list_relations_without_caching(): %v is not a relation", v.Interface()))
	}
	rows, err := s.rt.conn.QueryContext(s.rt.ctx, `select table_catalog, table_schema, table_name, table_type from system.information_schema.tables
where lower(table_schema) = lower(?) and lower(table_catalog) = lower(?) order by table_name`, rel.Schema, rel.Database)
	if err != nil {
		return nil, s.fail(fmt.Errorf("Database Error\n  %s", cleanDBError(err)))
	}
	defer rows.Close()
	out := []any{}
	for rows.Next() {
		var r Relation
		var typ string
		if err := rows.Scan(&r.Database, &r.Schema, &r.Identifier, &typ); err != nil {
			return nil, err
		}
		r.Type = "table"
		if typ == "VIEW" {
			r.Type = "view"
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *session) schemaExists(va *exec.VarArgs) (any, error) {
	if !s.executing() {
		return false, nil
	}
	db, schema, _ := relationParts(va)
	var n int
	err := s.rt.conn.(interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}).QueryRowContext(s.rt.ctx, `select count(*) from system.information_schema.schemata where lower(catalog_name) = lower(?) and lower(schema_name) = lower(?)`, db, schema).Scan(&n)
	if err != nil {
		return nil, s.fail(fmt.Errorf("Database Error\n  %s", cleanDBError(err)))
	}
	return n > 0, nil
}

// createRelation is api.Relation.create(database=, schema=, identifier=, type=).
func createRelation(va *exec.VarArgs) Relation {
	db, schema, id := relationParts(va)
	r := Relation{Database: db, Schema: schema, Identifier: id}
	if v, ok := va.KwArgs["type"]; ok && !v.IsNil() {
		r.Type = v.String()
	}
	return r
}

// incorporate is relation.incorporate(path={...}, type=...).
func (r Relation) incorporate(va *exec.VarArgs) Relation {
	out := r
	if p, ok := va.KwArgs["path"]; ok {
		p.Iterate(func(_, _ int, k, v *exec.Value) bool {
			switch k.String() {
			case "database":
				out.Database = v.String()
			case "schema":
				out.Schema = v.String()
			case "identifier":
				out.Identifier = v.String()
			}
			return true
		}, func() {})
	}
	if t, ok := va.KwArgs["type"]; ok && !t.IsNil() {
		out.Type = t.String()
	}
	return out
}

// ---- graph ----------------------------------------------------------------------------------

// graphContext is the `graph` variable: empty while parsing (as dbt's parser sees it), every
// node, source and exposure while executing.
func (e *Engine) graphContext() map[string]any {
	e.graphOnce.Do(func() {
		nodes, sources := map[string]any{}, map[string]any{}
		others := map[string]map[string]any{"exposures": {}, "metrics": {}, "semantic_models": {}, "saved_queries": {}, "unit_tests": {}}
		if e.G != nil {
			for id, n := range e.G.Nodes {
				m := nodeMap(n)
				deps := n.DependsOn
				if deps == nil {
					deps = []string{}
				}
				m["depends_on"] = map[string]any{"nodes": toAny(deps), "macros": []any{}}
				m["columns"] = orEmpty(n.Columns)
				refs := []any{}
				for _, r := range n.Refs {
					refs = append(refs, map[string]any{"name": r[len(r)-1], "package": nil, "version": nil})
				}
				m["refs"] = refs
				srcs := []any{}
				for _, sr := range n.SourceRefs {
					srcs = append(srcs, toAny(sr))
				}
				m["sources"] = srcs
				if n.ResourceType == "source" {
					m["source_name"], m["identifier"] = n.SourceName, n.Identifier
					m["relation_name"] = n.Relation().String()
					sources[id] = m
					continue
				}
				if n.ResourceType == "model" || n.ResourceType == "seed" {
					m["relation_name"] = n.Relation().String()
				}
				if sec := manifestSection(n); sec != "nodes" {
					others[sec][id] = m
					continue
				}
				nodes[id] = m
			}
		}
		e.graph = map[string]any{"nodes": nodes, "sources": sources, "exposures": others["exposures"], "metrics": others["metrics"],
			"groups": map[string]any{}, "semantic_models": others["semantic_models"], "saved_queries": others["saved_queries"],
			"unit_tests": others["unit_tests"]}
	})
	return e.graph
}
