package dltcompat

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	_ "github.com/duckdb/duckdb-go/v2" // the engine both files were written with

	"github.com/dangohq/dango/naming"
)

// Diff is one difference between dlt's and dango's output for a schema.
type Diff struct {
	Table, Column, Kind string
	DLT, Dango          string // what each side has: a type, a row count, a count of values
	Detail              string // the first differing rows, one per line
}

// Key is the difference's key in docs/dlt-differences.md.
func (d Diff) Key() string {
	if d.Column == "" {
		return d.Table + " " + d.Kind
	}
	return d.Table + "." + d.Column + " " + d.Kind
}

func (d Diff) String() string {
	s := fmt.Sprintf("%s: dlt %s, dango %s", d.Key(), d.DLT, d.Dango)
	if d.Detail != "" {
		s += "\n" + d.Detail
	}
	return s
}

// Options say how to compare one schema.
type Options struct {
	Schema string
	// Keys are natural key columns of top-level tables. A child table's rows are keyed by
	// their parent's key and _dlt_list_idx, so children are matched through their parent
	// rather than by generated ids. A top-level table without a key is compared column by
	// column as multisets, and its children are keyed by the parent's whole content.
	Keys map[string][]string
	// SkipValues names columns whose values may differ (an allowed difference): they are
	// still compared, but left out of the content keys of tables without a natural key.
	SkipValues func(table, column string) bool
	Samples    int // differing values shown per direction; default 5
}

// Columns generated per load or per row, never compared as values: ids are random, load
// ids and times differ from run to run. Their names and types are compared.
var generated = map[string]bool{"_dlt_load_id": true, "_dlt_id": true, "_dlt_parent_id": true, "_dlt_root_id": true, "_dlt_extracted_at": true}

type col struct{ name, typ string } // typ is DuckDB's type name, with " NOT NULL" when it is

type side struct {
	alias  string // l (dlt) or r (dango)
	tables map[string][]col
}

func (s *side) typeOf(table, column string) string {
	for _, c := range s.tables[table] {
		if c.name == column {
			return c.typ
		}
	}
	return ""
}

// parent finds the table a child table hangs from: the longest prefix before a "__" that
// is a table of the same side, for a table with _dlt_parent_id.
func (s *side) parent(table string) string {
	if s.typeOf(table, "_dlt_parent_id") == "" {
		return ""
	}
	for i := strings.LastIndex(table, "__"); i > 0; i = strings.LastIndex(table[:i], "__") {
		if _, ok := s.tables[table[:i]]; ok {
			return table[:i]
		}
	}
	return ""
}

// Compare opens both DuckDB files read-only and lists every difference in o.Schema: tables,
// columns with their types, row counts and values.
func Compare(ctx context.Context, dltFile, dangoFile string, o Options) ([]Diff, error) {
	if o.Samples == 0 {
		o.Samples = 5
	}
	if o.SkipValues == nil {
		o.SkipValues = func(string, string) bool { return false }
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("open DuckDB: %w", err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx) // temp tables live on one connection
	if err != nil {
		return nil, fmt.Errorf("open DuckDB: %w", err)
	}
	defer conn.Close()
	for _, q := range []string{
		"SET TimeZone = 'UTC'",
		"ATTACH " + naming.Literal(dltFile) + " AS l (READ_ONLY)",
		"ATTACH " + naming.Literal(dangoFile) + " AS r (READ_ONLY)",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	c := &comparer{ctx: ctx, conn: conn, o: o}
	l, err := c.load("l")
	if err != nil {
		return nil, err
	}
	r, err := c.load("r")
	if err != nil {
		return nil, err
	}
	c.l, c.r = l, r
	var diffs []Diff
	names := union(keys(l.tables), keys(r.tables))
	var common []string
	for _, t := range names {
		_, inL := l.tables[t]
		_, inR := r.tables[t]
		switch {
		case !inR:
			diffs = append(diffs, Diff{Table: t, Kind: KindMissing, DLT: "has it", Dango: "does not"})
		case !inL:
			diffs = append(diffs, Diff{Table: t, Kind: KindExtra, DLT: "does not", Dango: "has it"})
		default:
			common = append(common, t)
		}
	}
	for _, t := range common {
		diffs = append(diffs, columnDiffs(t, l.tables[t], r.tables[t])...)
	}
	// Parents before children, so a child can join its parent's keyed rows.
	sort.SliceStable(common, func(i, j int) bool { return strings.Count(common[i], "__") < strings.Count(common[j], "__") })
	for _, t := range common {
		if strings.HasPrefix(t, "_dlt_") {
			continue // dlt's system tables: their names and columns are compared, their rows are per run
		}
		d, err := c.values(t)
		if err != nil {
			return nil, fmt.Errorf("compare the rows of %s: %w", t, err)
		}
		diffs = append(diffs, d...)
	}
	return diffs, nil
}

type comparer struct {
	ctx   context.Context
	conn  *sql.Conn
	o     Options
	l, r  *side
	built map[string]*keyed // table → its keyed copies (both sides)
	n     int
}

type keyed struct {
	l, r  string   // temp tables with __id, __key and c0…cn
	cols  []string // column names behind c0…cn
	byKey bool     // whether __key identifies rows (a natural key or a parent's), or is content
}

func (c *comparer) load(alias string) (*side, error) {
	rows, err := c.conn.QueryContext(c.ctx, `SELECT table_name, column_name, data_type, is_nullable FROM duckdb_columns()
		WHERE database_name = ? AND schema_name = ? ORDER BY table_name, column_index`, alias, c.o.Schema)
	if err != nil {
		return nil, fmt.Errorf("list the columns of %s: %w", c.o.Schema, err)
	}
	defer rows.Close()
	s := &side{alias: alias, tables: map[string][]col{}}
	for rows.Next() {
		var t, n, typ string
		var null bool
		if err := rows.Scan(&t, &n, &typ, &null); err != nil {
			return nil, err
		}
		if !null {
			typ += " NOT NULL"
		}
		s.tables[t] = append(s.tables[t], col{n, typ})
	}
	return s, rows.Err()
}

func columnDiffs(t string, l, r []col) []Diff {
	lt, rt := map[string]string{}, map[string]string{}
	for _, c := range l {
		lt[c.name] = c.typ
	}
	for _, c := range r {
		rt[c.name] = c.typ
	}
	var out []Diff
	for _, n := range union(keys(lt), keys(rt)) {
		a, inL := lt[n]
		b, inR := rt[n]
		switch {
		case !inR:
			out = append(out, Diff{Table: t, Column: n, Kind: KindMissing, DLT: a, Dango: "no such column"})
		case !inL:
			out = append(out, Diff{Table: t, Column: n, Kind: KindExtra, DLT: "no such column", Dango: b})
		case a != b:
			out = append(out, Diff{Table: t, Column: n, Kind: KindType, DLT: a, Dango: b})
		}
	}
	return out
}

func baseType(t string) string { return strings.TrimSuffix(t, " NOT NULL") }

// canon renders a value as text for comparing: in dlt's type (dango's value cast to it when
// the types differ, its own text when the cast fails) and JSON minified.
func canon(x, have, want string) string {
	have, want = baseType(have), baseType(want)
	v := "CAST(" + x + " AS VARCHAR)"
	if have != want {
		v = fmt.Sprintf("coalesce(CAST(TRY_CAST(%s AS %s) AS VARCHAR), CAST(%s AS VARCHAR))", x, want, x)
	}
	if want == "JSON" || have == "JSON" {
		v = fmt.Sprintf("CASE WHEN json_valid(%[1]s) THEN CAST(json(%[1]s) AS VARCHAR) ELSE %[1]s END", v)
	}
	return v
}

// build makes each side's keyed copy of table t.
func (c *comparer) build(t string) (*keyed, error) {
	if c.built == nil {
		c.built = map[string]*keyed{}
	}
	var cols []string
	for _, x := range c.l.tables[t] {
		if !generated[x.name] && c.r.typeOf(t, x.name) != "" {
			cols = append(cols, x.name)
		}
	}
	sort.Strings(cols)
	k := &keyed{cols: cols}
	parent := c.l.parent(t)
	if parent != c.r.parent(t) || c.built[parent] == nil {
		parent = ""
	}
	natural := c.o.Keys[t]
	for _, n := range natural {
		if c.l.typeOf(t, n) == "" || c.r.typeOf(t, n) == "" {
			natural = nil // a key column one side lacks: already reported as missing or extra
		}
	}
	k.byKey = parent != "" || len(natural) > 0
	for _, s := range []*side{c.l, c.r} {
		c.n++
		tmp := fmt.Sprintf("%s_%d", s.alias, c.n)
		expr := func(n string) string { return canon("t."+naming.Quote(n), s.typeOf(t, n), c.l.typeOf(t, n)) }
		var sel []string
		for i, n := range cols {
			sel = append(sel, expr(n)+" AS c"+fmt.Sprint(i))
		}
		id := "NULL"
		if s.typeOf(t, "_dlt_id") != "" {
			id = "CAST(t._dlt_id AS VARCHAR)"
		}
		var key, join string
		switch {
		case parent != "":
			idx := "'?'"
			if s.typeOf(t, "_dlt_list_idx") != "" {
				idx = "CAST(t._dlt_list_idx AS VARCHAR)"
			}
			p := c.built[parent].l
			if s == c.r {
				p = c.built[parent].r
			}
			join = " LEFT JOIN " + p + " p ON CAST(t._dlt_parent_id AS VARCHAR) = p.__id"
			key = "coalesce(p.__key, '(no parent)') || '/' || " + idx
		case len(natural) > 0:
			var parts []string
			for _, n := range natural {
				parts = append(parts, "coalesce("+expr(n)+", 'NULL')")
			}
			key = strings.Join(parts, " || '|' || ")
		default:
			var parts []string
			for _, n := range cols {
				if !c.o.SkipValues(t, n) {
					parts = append(parts, "coalesce("+expr(n)+", chr(0))")
				}
			}
			key = "''"
			if len(parts) > 0 {
				key = "md5(concat_ws(chr(31), " + strings.Join(parts, ", ") + "))"
			}
		}
		q := fmt.Sprintf("CREATE TEMP TABLE %s AS SELECT %s AS __id, %s AS __key%s FROM %s.%s.%s t%s",
			tmp, id, key, prefixComma(sel), s.alias, naming.Quote(c.o.Schema), naming.Quote(t), join)
		if _, err := c.conn.ExecContext(c.ctx, q); err != nil {
			return nil, fmt.Errorf("%s: %w", q, err)
		}
		if s == c.l {
			k.l = tmp
		} else {
			k.r = tmp
		}
	}
	c.built[t] = k
	return k, nil
}

func prefixComma(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return ", " + strings.Join(s, ", ")
}

func (c *comparer) values(t string) ([]Diff, error) {
	k, err := c.build(t)
	if err != nil {
		return nil, err
	}
	var out []Diff
	var nl, nr int64
	if err := c.conn.QueryRowContext(c.ctx, "SELECT (SELECT count(*) FROM "+k.l+"), (SELECT count(*) FROM "+k.r+")").Scan(&nl, &nr); err != nil {
		return nil, err
	}
	key := "NULL"
	if k.byKey {
		key = "__key"
		// Rows one side lacks, by key; the columns are then compared on the rows both have,
		// so a missing row is reported once, not once per column.
		only, err := c.except(k, "__key, NULL", false)
		if err != nil {
			return nil, err
		}
		if only[0].n > 0 || only[1].n > 0 {
			out = append(out, Diff{Table: t, Kind: KindRows,
				DLT:    fmt.Sprintf("%d rows (%d dango lacks)", nl, only[0].n),
				Dango:  fmt.Sprintf("%d rows (%d dlt lacks)", nr, only[1].n),
				Detail: sampleKeys(only)})
		} else if nl != nr {
			out = append(out, Diff{Table: t, Kind: KindRows, DLT: fmt.Sprintf("%d rows", nl), Dango: fmt.Sprintf("%d rows", nr)})
		}
	} else if nl != nr {
		out = append(out, Diff{Table: t, Kind: KindRows, DLT: fmt.Sprintf("%d rows", nl), Dango: fmt.Sprintf("%d rows", nr)})
	}
	for i, n := range k.cols {
		v := fmt.Sprintf("c%d", i)
		only, err := c.except(k, key+", "+v, k.byKey)
		if err != nil {
			return nil, err
		}
		if only[0].n == 0 && only[1].n == 0 {
			continue
		}
		out = append(out, Diff{Table: t, Column: n, Kind: KindValue,
			DLT:    fmt.Sprintf("%d values dango lacks", only[0].n),
			Dango:  fmt.Sprintf("%d values dlt lacks", only[1].n),
			Detail: sample(only, k.byKey)})
	}
	if len(out) == 0 && len(k.cols) > 0 {
		// Every column agrees on its own: check the values also pair up into the same rows.
		var all []string
		for i := range k.cols {
			all = append(all, fmt.Sprintf("c%d", i))
		}
		only, err := c.except(k, key+", concat_ws(' | ', "+strings.Join(coalesced(all), ", ")+")", k.byKey)
		if err != nil {
			return nil, err
		}
		if only[0].n > 0 || only[1].n > 0 {
			out = append(out, Diff{Table: t, Kind: KindRows,
				DLT:    fmt.Sprintf("%d rows dango lacks", only[0].n),
				Dango:  fmt.Sprintf("%d rows dlt lacks", only[1].n),
				Detail: "  columns: " + strings.Join(k.cols, " | ") + "\n" + sample(only, k.byKey)})
		}
	}
	return out, nil
}

func coalesced(cs []string) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = "coalesce(" + c + ", 'NULL')"
	}
	return out
}

type onlyIn struct {
	n    int64
	rows [][2]sql.NullString
}

// except counts and samples the (key, value) pairs of one side the other lacks (multisets);
// with common, only on the keys both sides have.
func (c *comparer) except(k *keyed, cols string, common bool) ([2]onlyIn, error) {
	var res [2]onlyIn
	for i, pair := range [][2]string{{k.l, k.r}, {k.r, k.l}} {
		from := func(a, b string) string {
			if common {
				return a + " WHERE __key IN (SELECT __key FROM " + b + ")"
			}
			return a
		}
		diff := fmt.Sprintf("SELECT %[1]s FROM %[2]s EXCEPT ALL SELECT %[1]s FROM %[3]s", cols, from(pair[0], pair[1]), from(pair[1], pair[0]))
		if err := c.conn.QueryRowContext(c.ctx, "SELECT count(*) FROM ("+diff+")").Scan(&res[i].n); err != nil {
			return res, fmt.Errorf("%s: %w", diff, err)
		}
		if res[i].n == 0 {
			continue
		}
		rows, err := c.conn.QueryContext(c.ctx, fmt.Sprintf("SELECT * FROM (%s) d ORDER BY 1, 2 LIMIT %d", diff, c.o.Samples))
		if err != nil {
			return res, err
		}
		for rows.Next() {
			var r [2]sql.NullString
			if err := rows.Scan(&r[0], &r[1]); err != nil {
				rows.Close()
				return res, err
			}
			res[i].rows = append(res[i].rows, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return res, err
		}
	}
	return res, nil
}

func sample(only [2]onlyIn, byKey bool) string {
	var b strings.Builder
	for i, who := range []string{"dlt  ", "dango"} {
		for _, r := range only[i].rows {
			b.WriteString("    " + who + " ")
			if byKey {
				b.WriteString("[" + show(r[0]) + "] ")
			}
			b.WriteString(show(r[1]) + "\n")
		}
		if extra := only[i].n - int64(len(only[i].rows)); extra > 0 {
			fmt.Fprintf(&b, "    %s … and %d more\n", who, extra)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func sampleKeys(only [2]onlyIn) string {
	var b strings.Builder
	for i, who := range []string{"dlt  ", "dango"} {
		if only[i].n == 0 {
			continue
		}
		b.WriteString("    only in " + who + ":")
		for _, r := range only[i].rows {
			b.WriteString(" [" + show(r[0]) + "]")
		}
		if extra := only[i].n - int64(len(only[i].rows)); extra > 0 {
			fmt.Fprintf(&b, " … and %d more", extra)
		}
		b.WriteString("\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func show(s sql.NullString) string {
	if !s.Valid {
		return "NULL"
	}
	v := s.String
	if len(v) > 120 {
		v = v[:117] + "..."
	}
	return fmt.Sprintf("%q", v)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func union(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range append(a, b...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// Counts returns the row count of every table of schema in a DuckDB file (opened read-only).
func Counts(ctx context.Context, file, schema string) (map[string]int64, error) {
	db, err := sql.Open("duckdb", file+"?access_mode=read_only")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT table_name FROM duckdb_tables() WHERE schema_name = ?", schema)
	if err != nil {
		return nil, fmt.Errorf("list the tables of %s in %s: %w", schema, file, err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	rows.Close()
	out := map[string]int64{}
	for _, n := range names {
		var c int64
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+naming.Quote(schema)+"."+naming.Quote(n)).Scan(&c); err != nil {
			return nil, err
		}
		out[n] = c
	}
	return out, nil
}
