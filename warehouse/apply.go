package warehouse

import (
	"context"
	"database/sql"
	"fmt"
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
	exprs = append(exprs, naming.Literal(l.info.LoadID), "uuid()",
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
		selects = append(selects, c.Expr()+" AS "+naming.Quote(c.Name))
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
			for _, c := range s.Columns {
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
		if err := l.deleteChildren(ctx, b.Table, lists, "SELECT t."+ColID+" FROM "+target+" t JOIN "+from+" s ON "+match("t", "s", keys)); err != nil {
			return 0, err
		}
		if _, err := exec("DELETE FROM " + target + " t USING " + from + " s WHERE " + match("t", "s", keys)); err != nil {
			return 0, err
		}
		l.deleted[b.Table] = true
	}
	if len(s.Replaced) > 0 && s.Whole { // the one file of the source: its rows are the table's
		if err := l.deleteChildren(ctx, b.Table, lists, "SELECT "+ColID+" FROM "+target); err != nil {
			return 0, err
		}
		if _, err := exec("DELETE FROM " + target); err != nil {
			return 0, err
		}
		l.deleted[b.Table] = true
	} else if len(s.Replaced) > 0 {
		labels := make([]string, len(s.Replaced))
		for i, p := range s.Replaced {
			labels[i] = naming.Literal(p)
		}
		if err := l.deleteChildren(ctx, b.Table, lists, "SELECT "+ColID+" FROM "+target+" WHERE "+ColSourceFile+" IN ("+strings.Join(labels, ", ")+")"); err != nil {
			return 0, err
		}
		if _, err := exec("DELETE FROM " + target + " WHERE " + ColSourceFile + " IN (" + strings.Join(labels, ", ") + ")"); err != nil {
			return 0, err
		}
		l.deleted[b.Table] = true
	}
	r, err := exec("INSERT INTO " + target + " (" + strings.Join(names, ", ") + ") SELECT " + strings.Join(names, ", ") + " FROM " + from)
	if err != nil {
		return 0, err
	}
	rows, _ := r.RowsAffected()
	for _, c := range lists {
		if err := l.insertChildren(ctx, b, c, from); err != nil {
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

// childTable names the table of a list column, dlt's way: <table>__<column>.
func childTable(table string, c batch.Column) string { return table + "__" + c.Name }

// childColumns are a list's element fields (flattened when the elements are objects, one
// "value" column otherwise) and the link to the parent row and the element's position.
func childColumns(c batch.Column) []batch.Column {
	elem, _ := batch.ListElement(c.Type)
	cols := batch.Flatten([]string{"__elem"}, elem)
	batch.NameFrom(cols, 1)
	return append(cols,
		batch.Column{Name: "_dlt_parent_id", Path: []string{"_dlt_parent_id"}, Type: "UUID"},
		batch.Column{Name: "_dlt_list_idx", Path: []string{"_dlt_list_idx"}, Type: "BIGINT"})
}

// insertChildren writes one list column of the staged rows to its child table: a row per
// element, linked to its parent row's _dlt_id, with the element's position.
func (l *Load) insertChildren(ctx context.Context, b batch.Batch, list batch.Column, stage string) error {
	table := childTable(b.Table, list)
	cols := childColumns(list)
	if err := l.prepare(ctx, table, b.Resource); err != nil {
		return err
	}
	l.children[table] = true
	if err := l.ensureTable(ctx, table, cols); err != nil {
		return err
	}
	names := make([]string, 0, len(cols)+3)
	exprs := make([]string, 0, len(cols)+3)
	for _, c := range cols {
		names = append(names, naming.Quote(c.Name))
		exprs = append(exprs, c.Expr())
	}
	names = append(names, ColLoadID, ColID, ColExtractedAt)
	exprs = append(exprs, naming.Literal(l.info.LoadID), "uuid()",
		"TIMESTAMPTZ "+naming.Literal(b.ExtractedAt.UTC().Format("2006-01-02 15:04:05.999999Z07:00")))
	q := naming.Quote(list.Name)
	res, err := l.tx.ExecContext(ctx, "INSERT INTO "+naming.Quote(l.info.Schema)+"."+naming.Quote(table)+" ("+strings.Join(names, ", ")+") SELECT "+
		strings.Join(exprs, ", ")+" FROM (SELECT "+ColID+" AS _dlt_parent_id, unnest("+q+") AS \"__elem\", generate_subscripts("+q+", 1) - 1 AS _dlt_list_idx FROM "+stage+")")
	if err != nil {
		return fmt.Errorf("child table %s: %w", table, err)
	}
	n, _ := res.RowsAffected()
	if _, seen := l.tables[table]; !seen {
		l.order = append(l.order, table)
	}
	l.tables[table] += n
	return nil
}

// deleteChildren removes the child rows of the parent rows parentIDs selects, before those
// parents are replaced (merge, a changed file).
func (l *Load) deleteChildren(ctx context.Context, table string, lists []batch.Column, parentIDs string) error {
	for _, c := range lists {
		ok, err := l.hasTable(ctx, childTable(table, c))
		if err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		if _, err := l.tx.ExecContext(ctx, "DELETE FROM "+naming.Quote(l.info.Schema)+"."+naming.Quote(childTable(table, c))+
			" WHERE _dlt_parent_id IN ("+parentIDs+")"); err != nil {
			return err
		}
		l.deleted[childTable(table, c)] = true
	}
	return nil
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
