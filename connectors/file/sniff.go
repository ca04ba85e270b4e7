package file

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/duckerr"
	"github.com/dangohq/dango/naming"
)

// pinCSVDialect runs sniff_csv with the user's options and rewrites the scan to read with the
// detected dialect and column types and auto-detection off.
func pinCSVDialect(ctx context.Context, db *sql.DB, scan *batch.Scan) error {
	optSQL, err := batch.OptionsSQL("csv", scan.Options)
	if err != nil {
		return err
	}
	q := `SELECT Delimiter, Quote, Escape, NewLineDelimiter, Comment, SkipRows, HasHeader, Columns, DateFormat, TimestampFormat
		FROM sniff_csv(` + naming.Literal(scan.Files[0]) + optSQL + `)`
	var delim, quote, escape, newline, comment string
	var skip int64
	var header bool
	var cols any
	var dateFmt, tsFmt sql.NullString
	if err := db.QueryRowContext(ctx, q).Scan(&delim, &quote, &escape, &newline, &comment, &skip, &header, &cols, &dateFmt, &tsFmt); err != nil {
		return duckerr.Clean(err)
	}
	list, ok := cols.([]any)
	if !ok || len(list) == 0 {
		return fmt.Errorf("no columns found")
	}
	var rc []batch.ReaderColumn
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return fmt.Errorf("unexpected sniffer output %T", item)
		}
		rc = append(rc, batch.ReaderColumn{Name: fmt.Sprint(m["name"]), Type: fmt.Sprint(m["type"])})
	}
	opts := map[string]any{}
	for _, k := range []string{"encoding", "nullstr", "decimal_separator"} { // kept as the user set them
		if v, ok := scan.Options[k]; ok {
			opts[k] = v
		}
	}
	opts["auto_detect"] = false
	opts["delim"], opts["new_line"], opts["skip"], opts["header"] = delim, newline, skip, header
	// The sniffer says "(empty)" when its sample had no quote, escape or comment character.
	// Then DuckDB's defaults apply (RFC 4180 quoting): a file with no quotes parses the same,
	// and one whose first quoted field lies past the sample still parses correctly.
	for opt, v := range map[string]string{"quote": quote, "escape": escape, "comment": comment} {
		if v != "(empty)" && v != "" {
			opts[opt] = v
		}
	}
	if dateFmt.Valid && dateFmt.String != "" {
		opts["dateformat"] = dateFmt.String
	}
	if tsFmt.Valid && tsFmt.String != "" {
		opts["timestampformat"] = tsFmt.String
	}
	scan.Options = opts
	scan.ReaderColumns = rc
	return nil
}

// countRows counts what the scan would load, for dry runs: DuckDB reads the files once.
func countRows(ctx context.Context, scan *batch.Scan, res batch.Resource) (int64, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	where := ""
	if inc := res.Incremental; inc != nil && inc.Start != "" {
		cols, err := describe(ctx, scan, false, nil)
		if err != nil {
			return 0, err
		}
		var cursor *batch.Column
		for i, c := range cols {
			if c.Name == inc.CursorColumn || c.Name == naming.Snake(inc.CursorColumn) {
				cursor = &cols[i]
			}
		}
		if cursor == nil {
			return 0, fmt.Errorf("incremental.cursor_column %q is not a column of the files", inc.CursorColumn)
		}
		where = " WHERE " + cursor.Expr() + " >= TRY_CAST(" + naming.Literal(inc.Start) + " AS " + cursor.Type + ")"
	}
	reader, err := scan.ReaderSQL()
	if err != nil {
		return 0, err
	}
	var n int64
	err = db.QueryRowContext(ctx, "SELECT count(*) FROM "+reader+where).Scan(&n)
	return n, duckerr.Clean(err)
}
