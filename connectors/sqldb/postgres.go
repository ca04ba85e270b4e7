package sqldb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dangohq/dango/config"
)

var postgresDialect = dialect{name: "PostgreSQL", connect: connectPostgres, transient: pgTransient}

type pgSession struct {
	conn   *pgx.Conn
	schema string
}

func connectPostgres(ctx context.Context, s config.Values) (session, error) {
	var cfg *pgx.ConnConfig
	var err error
	if url := s.String("credentials"); url != "" {
		cfg, err = pgx.ParseConfig(url)
		if err != nil {
			// pgx hides the password of a URL it can parse, not of one it cannot: the
			// message is redacted as a whole.
			return nil, backoffPermanent(config.RedactError(fmt.Errorf("credentials: not a PostgreSQL URL "+
				"(percent-encode special characters of the password, e.g. # as %%23): %w", err)))
		}
	} else {
		cfg, err = pgx.ParseConfig("")
		if err != nil {
			return nil, backoffPermanent(err)
		}
		cfg.Host = s.String("host")
		cfg.Port = 5432
		if p := s.Int("port"); p > 0 {
			cfg.Port = uint16(p)
		}
		cfg.User, cfg.Password, cfg.Database = s.String("user"), s.String("password"), s.String("database")
	}
	// The password may also come from PGPASSWORD, a key=value string or ~/.pgpass.
	config.RegisterSecret(cfg.Password)
	cfg.ConnectTimeout = 10 * time.Second
	// Text output DuckDB reads back exactly: UTC offsets, ISO dates, shortest exact floats.
	for k, v := range map[string]string{"TimeZone": "UTC", "DateStyle": "ISO, YMD", "IntervalStyle": "postgres",
		"extra_float_digits": "3", "application_name": "dango"} {
		cfg.RuntimeParams[k] = v
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &pgSession{conn: conn, schema: s.String("schema")}, nil
}

func (p *pgSession) Schema() string { return p.schema }
func (p *pgSession) Close()         { p.conn.Close(context.Background()) }

func (p *pgSession) Tables(ctx context.Context) ([]string, error) {
	rows, err := p.conn.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname`, p.schema)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func (p *pgSession) Describe(ctx context.Context, table string, unsupportedText bool) (*tableInfo, error) {
	rows, err := p.conn.Query(ctx, `
		SELECT a.attname,
		       format_type(bt.oid, CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END),
		       bt.typtype::text, bt.typcategory::text,
		       coalesce(format_type(et.oid, NULL), ''), coalesce(et.typtype::text, ''), a.attnotnull,
		       coalesce(format_type(rng.rngsubtype, NULL), '')
		FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_type t ON t.oid = a.atttypid
		JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
		LEFT JOIN pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
		LEFT JOIN pg_range rng ON rng.rngtypid = bt.oid
		WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY a.attnum`, p.schema, table)
	if err != nil {
		return nil, err
	}
	info := &tableInfo{Name: table, Rows: -1}
	for rows.Next() {
		var name, ftype, typtype, category, elem, elemType, rangeSub string
		var notNull bool
		if err := rows.Scan(&name, &ftype, &typtype, &category, &elem, &elemType, &notNull, &rangeSub); err != nil {
			rows.Close()
			return nil, err
		}
		if typtype == "r" {
			if cols, ok := pgRange(name, ftype, rangeSub); ok {
				info.Columns = append(info.Columns, cols...)
				continue
			}
		}
		col, ok := pgColumn(name, ftype, typtype, category, elem, elemType)
		if !ok {
			if !unsupportedText {
				rows.Close()
				return nil, &UnsupportedError{Table: table, Column: name, Type: ftype}
			}
			// The type's output function, as psql prints it (and as dlt loads it).
			col = column{Name: name, SrcType: ftype, Duck: "VARCHAR", Select: pgIdent(name) + "::text", AsText: true}
		}
		col.NotNull = notNull
		info.Columns = append(info.Columns, col)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(info.Columns) == 0 {
		return nil, fmt.Errorf("table %s.%s not found (or the user may not read it)", p.schema, table)
	}
	qualified := pgIdent(p.schema) + "." + pgIdent(table)
	pk, err := p.conn.Query(ctx, `SELECT a.attname FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)`, qualified)
	if err != nil {
		return nil, err
	}
	if info.PrimaryKey, err = pgx.CollectRows(pk, pgx.RowTo[string]); err != nil {
		return nil, err
	}
	var tuples float64
	if err := p.conn.QueryRow(ctx, `SELECT reltuples::float8, pg_total_relation_size($1::regclass) FROM pg_class WHERE oid = $1::regclass`,
		qualified).Scan(&tuples, &info.Bytes); err == nil && tuples >= 0 {
		info.Rows = int64(tuples)
	}
	return info, nil
}

func (p *pgSession) Copy(ctx context.Context, t *tableInfo, cursor, from string, w rowWriter) error {
	exprs := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		exprs[i] = c.Select
	}
	q := "SELECT " + strings.Join(exprs, ", ") + " FROM " + pgIdent(p.schema) + "." + pgIdent(t.Name)
	if cursor != "" {
		q += " WHERE " + pgIdent(cursor) + " >= " + pgLiteral(from)
	}
	_, err := p.conn.PgConn().CopyTo(ctx, w, "COPY ("+q+") TO STDOUT WITH (FORMAT csv)")
	return err
}

// pgColumn maps a PostgreSQL column to its DuckDB type and the expression that selects it in
// a form DuckDB reads.
func pgColumn(name, ftype, typtype, category, elem, elemType string) (column, bool) {
	c := column{Name: name, SrcType: ftype, Select: pgIdent(name)}
	if category == "A" {
		// As dlt loads them: a JSON array (nested for multidimensional arrays), elements as
		// to_json renders them.
		c.Duck, c.Select = "JSON", "array_to_json("+pgIdent(name)+")"
		return c, true
	}
	duck, ok := pgScalar(ftype, typtype)
	if !ok {
		return c, false
	}
	c.Duck = duck
	q := pgIdent(name)
	switch {
	case ftype == "inet" || ftype == "cidr" || strings.HasPrefix(ftype, "macaddr"):
		// COPY writes the type's output form, as psql prints it: 192.168.1.5, 10.1.2.3/24.
		// (The text() cast would add /32 to every host address.)
	case typtype == "e", duck == "VARCHAR" && ftype != "text" && !strings.HasPrefix(ftype, "character"):
		c.Select = q + "::text"
	case duck == "INTERVAL":
		// DuckDB reads "<months> months <days> days <µs> microseconds" whatever the signs.
		c.Select = "(extract(year from " + q + ") * 12 + extract(month from " + q + "))::bigint || ' months ' || " +
			"extract(day from " + q + ")::bigint || ' days ' || " +
			"(extract(epoch from (" + q + " - date_trunc('day', " + q + "))) * 1000000)::bigint || ' microseconds'"
	case duck == "BLOB":
		// DuckDB reads \xHH escapes; PostgreSQL's hex output has one \x for the whole value.
		c.Select = "regexp_replace(encode(" + q + ", 'hex'), '(..)', '\\\\x\\1', 'g')"
	case ftype == "money":
		c.Select = q + "::numeric"
	}
	return c, true
}

// pgRange splits a range column into the four columns dlt's sqlalchemy backend makes of
// psycopg2's Range: <name>__lower and __upper typed as dlt types the bounds' values (integers
// BIGINT, numeric DECIMAL(38,9), timestamps with or without zone TIMESTAMP WITH TIME ZONE, a
// naive one read as UTC), __bounds ("[)", "(]", … ; "[)" for an empty range) and __empty. A NULL
// range is NULL in all four; an unbounded side is NULL in its column. Ranges of other subtypes
// load as text.
func pgRange(name, ftype, sub string) ([]column, bool) {
	q := pgIdent(name)
	var duck, lower, upper string
	switch sub {
	case "smallint", "integer", "bigint":
		duck, lower, upper = "BIGINT", "lower("+q+")", "upper("+q+")"
	case "numeric":
		duck, lower, upper = "DECIMAL(38,9)", "lower("+q+")", "upper("+q+")"
	case "real", "double precision":
		duck, lower, upper = "DOUBLE", "lower("+q+")", "upper("+q+")"
	case "date":
		duck, lower, upper = "DATE", "lower("+q+")", "upper("+q+")"
	case "timestamp with time zone":
		duck, lower, upper = "TIMESTAMP WITH TIME ZONE", "lower("+q+")", "upper("+q+")"
	case "timestamp without time zone":
		duck, lower, upper = "TIMESTAMP WITH TIME ZONE", "(lower("+q+") AT TIME ZONE 'UTC')", "(upper("+q+") AT TIME ZONE 'UTC')"
	default:
		return nil, false
	}
	bounds := "CASE WHEN " + q + " IS NULL THEN NULL WHEN isempty(" + q + ") THEN '[)' ELSE (CASE WHEN lower_inc(" + q + ") THEN '[' ELSE '(' END) || " +
		"(CASE WHEN upper_inc(" + q + ") THEN ']' ELSE ')' END) END"
	return []column{
		{Name: name + "__lower", SrcType: ftype, Duck: duck, Select: lower},
		{Name: name + "__upper", SrcType: ftype, Duck: duck, Select: upper},
		{Name: name + "__bounds", SrcType: ftype, Duck: "VARCHAR", Select: bounds},
		{Name: name + "__empty", SrcType: ftype, Duck: "BOOLEAN", Select: "isempty(" + q + ")"},
	}, true
}

// pgScalar maps a non-array type as format_type renders it.
func pgScalar(ftype, typtype string) (string, bool) {
	if typtype == "e" {
		return "VARCHAR", true // enums: their labels, as dlt does
	}
	base, mod := ftype, ""
	if i := strings.IndexByte(ftype, '('); i >= 0 {
		if j := strings.IndexByte(ftype[i:], ')'); j >= 0 {
			base, mod = ftype[:i]+ftype[i+j+1:], ftype[i+1:i+j]
		}
	}
	if strings.HasPrefix(base, "interval") {
		base = "interval" // interval day to second, interval year, …
	}
	switch base {
	case "smallint", "integer", "bigint", "oid":
		return "BIGINT", true // dlt has one integer type
	case "real", "double precision":
		return "DOUBLE", true // a real's value is exact in a double, as dlt loads it
	case "numeric":
		if mod == "" {
			return "DECIMAL(38,9)", true // unconstrained: dlt's default precision
		}
		ps := strings.Split(mod, ",")
		prec, _ := strconv.Atoi(ps[0])
		scale := 0
		if len(ps) > 1 {
			scale, _ = strconv.Atoi(ps[1])
		}
		if prec < 1 || prec > 38 || scale < 0 || scale > prec {
			return "", false
		}
		return fmt.Sprintf("DECIMAL(%d,%d)", prec, scale), true
	case "money":
		return "DECIMAL(38,2)", true
	case "boolean":
		return "BOOLEAN", true
	case "text", "character varying", "character", "\"char\"", "name", "citext", "inet", "cidr", "macaddr", "macaddr8", "xml":
		return "VARCHAR", true
	case "date":
		return "DATE", true
	case "time without time zone":
		return "TIME", true
	case "time with time zone":
		return "TIME WITH TIME ZONE", true
	case "timestamp without time zone":
		return "TIMESTAMP", true
	case "timestamp with time zone":
		return "TIMESTAMP WITH TIME ZONE", true
	case "interval":
		return "INTERVAL", true
	case "uuid":
		return "VARCHAR", true // as dlt loads it: the canonical text, nothing lost
	case "json", "jsonb":
		return "JSON", true
	case "bytea":
		return "BLOB", true
	case "bit", "bit varying":
		return "VARCHAR", true // the digits (B'1010' → 1010), as dlt loads them
	}
	return "", false
}

func pgIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func pgLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// pgTransient tells a lost or refused connection (worth retrying) from a query the server
// rejected (not worth it).
func pgTransient(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 08: connection exceptions; 57P01-03: shutting down, cannot connect now; 53300 too many connections.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03" || pgErr.Code == "53300"
	}
	var netErr net.Error
	var connErr *pgconn.ConnectError
	return errors.As(err, &netErr) || errors.As(err, &connErr) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "conn closed")
}
