package warehouse

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/humanize"
	"github.com/dangohq/dango/naming"
)

// insert writes a batch's rows into its table, which prepare and ensureTable have made ready.
//
// A plain append is one INSERT … SELECT straight from the reader. Anything that needs to look
// at the incoming rows first — merge, incremental cursors, replacing a changed file's rows —
// reads them into a temporary stage table, trims it, and inserts from there.
func (l *Load) insert(ctx context.Context, b batch.Batch) (int64, error) {
	s, res := b.Scan, b.Resource
	target := naming.Quote(l.info.Schema) + "." + naming.Quote(b.Table)
	parentCols, lists := splitLists(s.Columns)
	var names, exprs []string
	for _, c := range parentCols {
		names = append(names, naming.Quote(c.Name))
		exprs = append(exprs, c.Expr())
	}
	if s.Track && !s.Whole {
		names = append(names, ColSourceFile)
		exprs = append(exprs, fileLabelExpr(s))
	}
	dataCols := append([]string(nil), names...)
	names = append(names, ColLoadID, ColID, ColExtractedAt)
	exprs = append(exprs, naming.Literal(l.info.LoadID), IDExpr,
		"TIMESTAMPTZ "+naming.Literal(b.ExtractedAt.UTC().Format("2006-01-02 15:04:05.999999Z07:00")))

	keys, err := resolveColumns(s.Columns, res.PrimaryKey, "primary_key", l.info.Schema+"."+b.Table)
	if err != nil {
		return 0, err
	}
	if res.Disposition == batch.Merge && len(keys) == 0 {
		return 0, fmt.Errorf("resource %s uses write_disposition merge but has no primary_key; set primary_key in sources.yml", res.Name)
	}
	reader, err := s.ReaderSQL()
	if err != nil {
		return 0, err
	}
	if res.Disposition != batch.Merge && res.Incremental == nil && len(s.Replaced) == 0 && len(lists) == 0 {
		r, err := l.tx.ExecContext(ctx, "INSERT INTO "+target+" ("+strings.Join(names, ", ")+") SELECT "+strings.Join(exprs, ", ")+" FROM "+reader)
		if err != nil {
			return 0, err
		}
		return r.RowsAffected()
	}

	// Staged path.
	types, err := l.columns(ctx, b.Table)
	if err != nil {
		return 0, err
	}
	var cursor, where string
	if inc := res.Incremental; inc != nil {
		cols, err := resolveColumns(s.Columns, []string{inc.CursorColumn}, "incremental.cursor_column", l.info.Schema+"."+b.Table)
		if err != nil {
			return 0, err
		}
		cursor = cols[0]
		// The cursor's type comes from the catalog; it is still re-rendered from its parsed
		// form, like every type the writer puts in SQL.
		t, err := batch.SQLType(types[cursor])
		if err != nil {
			return 0, fmt.Errorf("cursor column %s: %w", cursor, err)
		}
		types[cursor] = t
		if inc.Start != "" {
			var ok bool
			if err := l.tx.QueryRowContext(ctx, "SELECT TRY_CAST(? AS "+types[cursor]+") IS NOT NULL", inc.Start).Scan(&ok); err != nil || !ok {
				return 0, fmt.Errorf("incremental start %q does not fit cursor column %s (%s)", inc.Start, cursor, types[cursor])
			}
			where = " WHERE " + sourceExpr(s.Columns, cursor) + " >= CAST(" + naming.Literal(inc.Start) + " AS " + types[cursor] + ")"
		}
	}
	l.stage++
	stage := fmt.Sprintf("_dango_stage_%d", l.stage)
	selects := make([]string, len(names))
	for i := range names {
		selects[i] = exprs[i] + " AS " + names[i]
	}
	for _, c := range lists { // carried in the stage for the child tables, not in the parent
		selects = append(selects, c.Expr()+" AS "+listAlias(c))
	}
	ord := ""
	if res.Disposition == batch.Merge {
		// Rows of one batch that share a key: the one later in the file wins. Scan order is
		// only kept when this connection asks for it.
		if _, err := l.tx.ExecContext(ctx, "SET SESSION preserve_insertion_order = true"); err != nil {
			return 0, err
		}
		defer l.tx.ExecContext(context.WithoutCancel(ctx), "RESET SESSION preserve_insertion_order")
		ord = ", row_number() OVER () AS _dango_ord"
	}
	exec := func(q string, args ...any) (sql.Result, error) { return l.tx.ExecContext(ctx, q, args...) }
	if _, err := exec("CREATE TEMP TABLE " + stage + " AS SELECT " + strings.Join(selects, ", ") + ord + " FROM " + reader + where); err != nil {
		return 0, err
	}
	defer l.tx.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+stage)

	match := func(left, right string, cols []string) string {
		parts := make([]string, len(cols))
		for i, c := range cols {
			q := naming.Quote(c)
			parts[i] = left + "." + q + " IS NOT DISTINCT FROM " + right + "." + q
		}
		return strings.Join(parts, " AND ")
	}
	if cursor != "" {
		// Drop rows this table already holds: with a key, the same key at the same cursor;
		// without one, the same content. This is what makes the boundary row of the last
		// sync, and a --start-date backfill, load nothing twice.
		qc := naming.Quote(cursor)
		if len(keys) > 0 {
			if _, err := exec("DELETE FROM " + stage + " s USING " + target + " t WHERE " + match("s", "t", keys) + " AND s." + qc + " = t." + qc); err != nil {
				return 0, err
			}
			if res.Disposition == batch.Merge { // never overwrite a newer version with an older one
				if _, err := exec("DELETE FROM " + stage + " s USING " + target + " t WHERE " + match("s", "t", keys) + " AND t." + qc + " > s." + qc); err != nil {
					return 0, err
				}
			}
		} else {
			plain := make([]string, 0, len(dataCols))
			for _, c := range parentCols { // lists live in child tables, not in the target
				plain = append(plain, c.Name)
			}
			within := target
			if res.Incremental.Start != "" {
				within = "(SELECT * FROM " + target + " WHERE " + qc + " >= CAST(" + naming.Literal(res.Incremental.Start) + " AS " + types[cursor] + "))"
			}
			if _, err := exec("DELETE FROM " + stage + " s USING " + within + " t WHERE " + match("s", "t", plain)); err != nil {
				return 0, err
			}
		}
	}
	from := stage
	if res.Disposition == batch.Merge {
		var nulls int64
		conds := make([]string, len(keys))
		for i, k := range keys {
			conds[i] = naming.Quote(k) + " IS NULL"
		}
		if err := l.tx.QueryRowContext(ctx, "SELECT count(*) FROM "+stage+" WHERE "+strings.Join(conds, " OR ")).Scan(&nulls); err != nil {
			return 0, err
		}
		if nulls > 0 {
			verb := "have"
			if nulls == 1 {
				verb = "has"
			}
			return 0, fmt.Errorf("%s %s no value in primary key %s; merge needs every row keyed", humanize.Count(nulls, "row"), verb, strings.Join(keys, ", "))
		}
		quoted := make([]string, len(keys))
		for i, k := range keys {
			quoted[i] = naming.Quote(k)
		}
		from = stage + "_latest"
		if _, err := exec("CREATE TEMP TABLE " + from + " AS SELECT * FROM " + stage + " QUALIFY row_number() OVER (PARTITION BY " +
			strings.Join(quoted, ", ") + " ORDER BY " + ColExtractedAt + " DESC, _dango_ord DESC) = 1"); err != nil {
			return 0, err
		}
		defer l.tx.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+from)
		orphans, err := l.deleteChildren(ctx, b.Table, "SELECT t."+ColID+" FROM "+target+" t JOIN "+from+" s ON "+match("t", "s", keys))
		if err != nil {
			return 0, err
		}
		if _, err := exec("DELETE FROM " + target + " t USING " + from + " s WHERE " + match("t", "s", keys)); err != nil {
			return 0, err
		}
		l.deleted[b.Table] = true
		if err := orphans(); err != nil {
			return 0, err
		}
	}
	if len(s.Replaced) > 0 && s.Whole { // the one file of the source: its rows are the table's
		orphans, err := l.deleteChildren(ctx, b.Table, "SELECT "+ColID+" FROM "+target)
		if err != nil {
			return 0, err
		}
		if _, err := exec("DELETE FROM " + target); err != nil {
			return 0, err
		}
		l.deleted[b.Table] = true
		if err := orphans(); err != nil {
			return 0, err
		}
	} else if len(s.Replaced) > 0 {
		labels := make([]string, len(s.Replaced))
		for i, p := range s.Replaced {
			labels[i] = naming.Literal(p)
		}
		orphans, err := l.deleteChildren(ctx, b.Table, "SELECT "+ColID+" FROM "+target+" WHERE "+ColSourceFile+" IN ("+strings.Join(labels, ", ")+")")
		if err != nil {
			return 0, err
		}
		if _, err := exec("DELETE FROM " + target + " WHERE " + ColSourceFile + " IN (" + strings.Join(labels, ", ") + ")"); err != nil {
			return 0, err
		}
		l.deleted[b.Table] = true
		if err := orphans(); err != nil {
			return 0, err
		}
	}
	r, err := exec("INSERT INTO " + target + " (" + strings.Join(names, ", ") + ") SELECT " + strings.Join(names, ", ") + " FROM " + from)
	if err != nil {
		return 0, err
	}
	rows, _ := r.RowsAffected()
	for _, c := range lists {
		if err := l.insertChildren(ctx, b, b.Table, c, from, 0); err != nil {
			return 0, err
		}
	}
	if cursor != "" {
		if err := l.advanceCursor(ctx, res.Name, cursor, types[cursor], from); err != nil {
			return 0, err
		}
	}
	return rows, nil
}

// splitLists separates list-typed columns, which become child tables, from the others
// (inline lists among them).
func splitLists(cols []batch.Column) (plain, lists []batch.Column) {
	for _, c := range cols {
		if _, ok := batch.ListElement(c.Type); ok && !c.Inline {
			lists = append(lists, c)
		} else {
			plain = append(plain, c)
		}
	}
	return plain, lists
}

// fitExisting makes the columns of a JSON batch fit the table's existing columns as dlt
// fits values into a known schema: a column never changes type; a value of another type is
// coerced into it when dlt would ("123" into a bigint column), and goes to a variant column
// (<column>__v_<type>) otherwise. Variants nothing fills are left out later.
func fitExisting(existing map[string]string, cols []batch.Column) []batch.Column {
	refit := map[string]string{} // column → dlt type of its existing column
	for _, c := range cols {
		if c.Variant != "" || len(c.Children) > 0 {
			continue
		}
		old, ok := existing[c.Name]
		if !ok {
			continue
		}
		old = canonicalType(old)
		t := batch.DltType(old)
		if t == "" || old == canonicalType(c.Type) {
			continue
		}
		refit[c.Name] = t
	}
	if len(refit) == 0 {
		return cols
	}
	out := make([]batch.Column, 0, len(cols)+3*len(refit))
	for _, c := range cols {
		if c.Variant != "" {
			if _, ok := refit[strings.TrimSuffix(c.Name, "__v_"+c.Variant)]; ok {
				continue // replaced by the variants below
			}
			out = append(out, c)
			continue
		}
		t, ok := refit[c.Name]
		if !ok {
			out = append(out, c)
			continue
		}
		main := c
		main.Coerce, main.Variant, main.Type = t, "", batch.DltTypes[t]
		out = append(out, main)
		for _, v := range batch.VariantTypes {
			if v == t {
				continue
			}
			vc := main
			vc.Name, vc.Variant, vc.Type = c.Name+"__v_"+v, v, batch.DltTypes[v]
			out = append(out, vc)
		}
	}
	return out
}

// listAlias names a list column in a stage: a child table may share its name with a column
// (dlt's obj__a column beside the obj__a list's table).
func listAlias(c batch.Column) string { return naming.Quote("__list_" + c.Name) }

// childTable names the table of a list column, dlt's way: <table>__<column>.
func childTable(table string, c batch.Column) string { return table + "__" + c.Name }

// childColumns are a list's element columns: those the connector planned (Children), or
// else the element's fields flattened, one "value" column for scalars.
func childColumns(c batch.Column) []batch.Column {
	if len(c.Children) > 0 {
		return c.Children
	}
	elem, _ := batch.ListElement(c.Type)
	cols := batch.Flatten([]string{batch.ElemPath}, elem)
	batch.NameFrom(cols, 1)
	return cols
}

// Columns the writer adds to a child table: the parent row's _dlt_id, the element's
// position, and (merge) the root row's _dlt_id, as dlt adds them.
const (
	colParentID = "_dlt_parent_id"
	colListIdx  = "_dlt_list_idx"
	colRootID   = "_dlt_root_id"
)

// insertChildren writes one list column of the staged rows to its child table: a row per
// element, linked to its parent row's _dlt_id, with the element's position; lists inside the
// elements go on to their own tables the same way. A list that has no element in the batch
// creates no table.
func (l *Load) insertChildren(ctx context.Context, b batch.Batch, table string, list batch.Column, stage string, depth int) error {
	table = childTable(table, list)
	if err := l.prepare(ctx, table, b.Resource); err != nil {
		return err
	}
	l.children[table] = true
	cols, lists := splitLists(childColumns(list))
	if b.Scan.Format == "json" {
		existing, err := l.columns(ctx, table)
		if err != nil {
			return err
		}
		cols = fitExisting(existing, cols)
	}
	root := b.Resource.Disposition == batch.Merge
	rootExpr := ColID
	if depth > 0 && root {
		rootExpr = colRootID
	}
	var selects, names []string
	for _, c := range cols {
		selects = append(selects, c.Expr()+" AS "+naming.Quote(c.Name))
		names = append(names, naming.Quote(c.Name))
	}
	names = append(names, colParentID, colListIdx)
	selects = append(selects, colParentID, colListIdx)
	if root {
		names = append(names, colRootID)
		selects = append(selects, colRootID)
	}
	for _, c := range lists {
		selects = append(selects, c.Expr()+" AS "+listAlias(c))
	}
	q := listAlias(list)
	inner := "SELECT " + ColID + " AS " + colParentID + ", unnest(" + q + ") AS " + naming.Quote(batch.ElemPath) +
		", generate_subscripts(" + q + ", 1) - 1 AS " + colListIdx
	if root {
		inner += ", " + rootExpr + " AS " + colRootID
	}
	l.stage++
	child := fmt.Sprintf("_dango_stage_%d", l.stage)
	if _, err := l.tx.ExecContext(ctx, "CREATE TEMP TABLE "+child+" AS SELECT "+strings.Join(selects, ", ")+", "+IDExpr+" AS "+ColID+
		" FROM ("+inner+" FROM "+stage+")"); err != nil {
		return fmt.Errorf("child table %s: %w", table, err)
	}
	defer l.tx.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+child)
	var n int64
	if err := l.tx.QueryRowContext(ctx, "SELECT count(*) FROM "+child).Scan(&n); err != nil {
		return err
	}
	exists, err := l.hasTable(ctx, table)
	if err != nil {
		return err
	}
	if n == 0 && !exists {
		return nil // dlt creates no table for lists that never held an element
	}
	if cols, err = l.nonEmpty(ctx, child, cols, table); err != nil {
		return err
	}
	defs := append([]batch.Column(nil), cols...)
	defs = append(defs,
		batch.Column{Name: colParentID, Type: "VARCHAR", NotNull: true},
		batch.Column{Name: colListIdx, Type: "BIGINT", NotNull: true})
	if root {
		defs = append(defs, batch.Column{Name: colRootID, Type: "VARCHAR", NotNull: true})
	}
	if err := l.ensure(ctx, table, defs, true); err != nil {
		return err
	}
	names = names[:0]
	for _, c := range defs {
		names = append(names, naming.Quote(c.Name))
	}
	values := append(append([]string(nil), names...), ColID,
		"TIMESTAMPTZ "+naming.Literal(b.ExtractedAt.UTC().Format("2006-01-02 15:04:05.999999Z07:00")))
	names = append(names, ColID, ColExtractedAt)
	if now, err := l.columnsOf(ctx, table); err != nil {
		return err
	} else if _, ok := now[ColLoadID]; ok { // a child table dango made before it followed dlt
		names, values = append(names, ColLoadID), append(values, naming.Literal(l.info.LoadID))
	}
	res, err := l.tx.ExecContext(ctx, "INSERT INTO "+naming.Quote(l.info.Schema)+"."+naming.Quote(table)+" ("+strings.Join(names, ", ")+") SELECT "+
		strings.Join(values, ", ")+" FROM "+child)
	if err != nil {
		return fmt.Errorf("child table %s: %w", table, err)
	}
	rows, _ := res.RowsAffected()
	if _, seen := l.tables[table]; !seen {
		l.order = append(l.order, table)
	}
	l.tables[table] += rows
	for _, c := range lists {
		if err := l.insertChildren(ctx, b, table, c, child, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// nonEmpty leaves out the columns of a staged child table that no row fills and the table
// does not have yet: dlt creates a column at its first value (a list of nulls makes rows
// and no value column).
func (l *Load) nonEmpty(ctx context.Context, stage string, cols []batch.Column, table string) ([]batch.Column, error) {
	existing, err := l.columnsOf(ctx, table)
	if err != nil {
		return nil, err
	}
	var counts []string
	var idx []int
	for i, c := range cols {
		if _, ok := existing[c.Name]; ok {
			continue
		}
		counts = append(counts, "count("+naming.Quote(c.Name)+") > 0")
		idx = append(idx, i)
	}
	if len(counts) == 0 {
		return cols, nil
	}
	filled := make([]bool, len(counts))
	ptrs := make([]any, len(counts))
	for i := range filled {
		ptrs[i] = &filled[i]
	}
	if err := l.tx.QueryRowContext(ctx, "SELECT "+strings.Join(counts, ", ")+" FROM "+stage).Scan(ptrs...); err != nil {
		return nil, err
	}
	drop := map[int]bool{}
	for j, i := range idx {
		if !filled[j] {
			drop[i] = true
		}
	}
	out := make([]batch.Column, 0, len(cols))
	for i, c := range cols {
		if !drop[i] {
			out = append(out, c)
		}
	}
	return out, nil
}

// nonEmptyVariants leaves out the variant columns no row of from fills (dlt makes a variant
// column only for a value that did not coerce). staged says from holds the columns by name
// already; otherwise their expressions are evaluated on it (the reader).
func (l *Load) nonEmptyVariants(ctx context.Context, from string, cols []batch.Column, staged bool) ([]batch.Column, error) {
	var counts []string
	var idx []int
	for i, c := range cols {
		if c.Variant == "" {
			continue
		}
		e := c.Expr()
		if staged {
			e = naming.Quote(c.Name)
		}
		counts = append(counts, "count("+e+") > 0")
		idx = append(idx, i)
	}
	if len(counts) == 0 {
		return cols, nil
	}
	filled := make([]bool, len(counts))
	ptrs := make([]any, len(counts))
	for i := range filled {
		ptrs[i] = &filled[i]
	}
	if err := l.tx.QueryRowContext(ctx, "SELECT "+strings.Join(counts, ", ")+" FROM "+from).Scan(ptrs...); err != nil {
		return nil, err
	}
	drop := map[int]bool{}
	for j, i := range idx {
		if !filled[j] {
			drop[i] = true
		}
	}
	out := make([]batch.Column, 0, len(cols))
	for i, c := range cols {
		if !drop[i] {
			out = append(out, c)
		}
	}
	return out, nil
}

// childTable is a child table found in the catalog.
type childTableInfo struct {
	name string
	root bool // has _dlt_root_id
}

// childTables lists the child tables of table at every depth, as this transaction sees
// them: tables named <table>__… with a _dlt_parent_id column.
func (l *Load) childTables(ctx context.Context, table string) ([]childTableInfo, error) {
	rows, err := l.tx.QueryContext(ctx, `SELECT table_name, bool_or(column_name = '`+colRootID+`') FROM duckdb_columns()
		WHERE schema_name = ? AND starts_with(table_name, ?) GROUP BY table_name HAVING bool_or(column_name = '`+colParentID+`')`,
		l.info.Schema, table+"__")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var kids []childTableInfo
	for rows.Next() {
		var c childTableInfo
		if err := rows.Scan(&c.name, &c.root); err != nil {
			return nil, err
		}
		kids = append(kids, c)
	}
	return kids, rows.Err()
}

// deleteChildren removes, from every child table of table at every depth (those of lists
// this batch no longer holds included), the rows that belong to the parent rows parentIDs
// selects, before those parents are deleted: at once where the rows carry _dlt_root_id (merge
// tables, as dlt deletes them), and through the returned func, to call once the parents are
// gone, where they do not — their rows whose parent row no longer exists, table by table
// from the top.
func (l *Load) deleteChildren(ctx context.Context, table, parentIDs string) (func() error, error) {
	kids, err := l.childTables(ctx, table)
	if err != nil {
		return nil, err
	}
	// Parents before children: a child table's name extends its parent's.
	sort.Slice(kids, func(i, j int) bool { return len(kids[i].name) < len(kids[j].name) })
	q := func(t string) string { return naming.Quote(l.info.Schema) + "." + naming.Quote(t) }
	var rest []childTableInfo
	for _, c := range kids {
		if !c.root {
			rest = append(rest, c)
			continue
		}
		if _, err := l.tx.ExecContext(ctx, "DELETE FROM "+q(c.name)+" WHERE "+colRootID+" IN ("+parentIDs+")"); err != nil {
			return nil, err
		}
		l.deleted[c.name] = true
	}
	return func() error {
		for _, c := range rest {
			parent := table // the longest table whose name and "__" start this one's
			for _, p := range kids {
				if len(p.name) > len(parent) && strings.HasPrefix(c.name, p.name+"__") {
					parent = p.name
				}
			}
			if _, err := l.tx.ExecContext(ctx, "DELETE FROM "+q(c.name)+" c WHERE NOT EXISTS (SELECT 1 FROM "+q(parent)+" p WHERE p."+ColID+" = c."+colParentID+")"); err != nil {
				return err
			}
			l.deleted[c.name] = true
		}
		return nil
	}, nil
}

// advanceCursor moves the resource's cursor to the largest value loaded, never backwards (a
// backfill with --start-date loads older rows and keeps the cursor where it was).
func (l *Load) advanceCursor(ctx context.Context, resource, column, typ, stage string) error {
	prev, ok := l.cursors[resource]
	if !ok {
		var v sql.NullString
		err := l.tx.QueryRowContext(ctx, `SELECT cursor_value FROM `+naming.Quote(l.info.Schema)+`."_dango_state" WHERE resource = ?`, resource).Scan(&v)
		if err != nil && err != sql.ErrNoRows {
			return err
		}
		prev = cursorUpdate{column: column, value: v.String}
	}
	expr := "max(" + naming.Quote(column) + ")"
	if prev.value != "" {
		expr = "greatest(max(" + naming.Quote(column) + "), TRY_CAST(" + naming.Literal(prev.value) + " AS " + typ + "))"
	}
	// Timestamps are stored in ISO 8601, the form APIs take back as a parameter, truncated to
	// the second: the boundary is read again and deduplicated, so rounding down loses nothing.
	text := expr + "::VARCHAR"
	switch strings.ToUpper(typ) {
	case "TIMESTAMP WITH TIME ZONE":
		text = "strftime(" + expr + " AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ')"
	case "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS":
		text = "strftime(" + expr + ", '%Y-%m-%dT%H:%M:%S')"
	}
	q := "SELECT " + text + " FROM " + stage
	var v sql.NullString
	if err := l.tx.QueryRowContext(ctx, q).Scan(&v); err != nil {
		return err
	}
	if v.Valid {
		l.cursors[resource] = cursorUpdate{column: column, value: v.String}
	}
	return nil
}

// resolveColumns maps configured column names (as in the file, or already normalized) to the
// table's column names.
func resolveColumns(cols []batch.Column, want []string, key, table string) ([]string, error) {
	out := make([]string, 0, len(want))
	for _, w := range want {
		found := ""
		for _, c := range cols {
			if c.Name == w || c.Name == naming.Snake(w) || strings.Join(c.Path, ".") == w {
				found = c.Name
				break
			}
		}
		if found == "" {
			names := make([]string, len(cols))
			for i, c := range cols {
				names[i] = c.Name
			}
			return nil, fmt.Errorf("%s %q is not a column of %s (columns: %s)", key, w, table, strings.Join(names, ", "))
		}
		out = append(out, found)
	}
	return out, nil
}

// sourceExpr is the reader-side expression of a target column.
func sourceExpr(cols []batch.Column, name string) string {
	for _, c := range cols {
		if c.Name == name {
			return c.Expr()
		}
	}
	return naming.Quote(name)
}

// fileLabelExpr maps the reader's filename to the project-relative path the connector gave it.
func fileLabelExpr(s *batch.Scan) string {
	if len(s.Files) == 1 { // one file (of a folder or glob): a constant, no comparison per row
		return naming.Literal(s.Labels[0])
	}
	var b strings.Builder
	b.WriteString("CASE filename")
	for i, f := range s.Files {
		b.WriteString(" WHEN " + naming.Literal(f) + " THEN " + naming.Literal(s.Labels[i]))
	}
	b.WriteString(" ELSE filename END")
	return b.String()
}
