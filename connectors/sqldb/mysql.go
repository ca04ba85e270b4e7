package sqldb

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/dangohq/dango/config"
)

var mysqlDialect = dialect{name: "MySQL", connect: connectMySQL, transient: myTransient}

// The driver logs connection trouble to stderr on its own ("[mysql] packets.go: …"), past
// dango's log and its redaction; every such failure also comes back as an error, which
// dango reports.
func init() { mysql.SetLogger(&mysql.NopLogger{}) }

type mySession struct {
	db     *sql.DB
	schema string
}

// fix is how a MySQL value is written to the CSV, beyond quoting.
type fix int

const (
	fixNone     fix = iota
	fixBlob         // bytes → \xHH escapes
	fixZeroDate     // 0000-00-00… (MySQL's "no date") → NULL
	fixTZ           // a TIMESTAMP read in UTC → append the offset
)

func connectMySQL(ctx context.Context, s config.Values) (session, error) {
	cfg := mysql.NewConfig()
	if raw := s.String("credentials"); raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "mysql" && u.Scheme != "mariadb") || u.Host == "" {
			// Never quote the value: it is a credential, and one that does not parse cannot
			// be redacted reliably (an unescaped character in its password).
			return nil, backoffPermanent(errors.New("credentials: not a mysql://user:password@host:port/database URL " +
				"(percent-encode special characters of the password, e.g. # as %23)"))
		}
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
		cfg.Addr = u.Host
		if u.Port() == "" {
			cfg.Addr = net.JoinHostPort(u.Hostname(), "3306")
		}
		cfg.DBName = strings.TrimPrefix(u.Path, "/")
	} else {
		port := s.Int("port")
		if port == 0 {
			port = 3306
		}
		cfg.User, cfg.Passwd, cfg.DBName = s.String("user"), s.String("password"), s.String("database")
		cfg.Addr = net.JoinHostPort(s.String("host"), strconv.Itoa(int(port)))
	}
	config.RegisterSecret(cfg.Passwd)
	cfg.Net = "tcp"
	cfg.Timeout = 10 * time.Second
	cfg.InterpolateParams = true // text protocol: values arrive as MySQL prints them
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, backoffPermanent(config.RedactError(err))
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(2)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	schema := s.String("schema")
	if schema == "" {
		schema = cfg.DBName
	}
	if schema == "" {
		db.Close()
		return nil, backoffPermanent(errors.New("no database: name it in the credentials URL, or set database or schema"))
	}
	return &mySession{db: db, schema: schema}, nil
}

func (m *mySession) Schema() string { return m.schema }
func (m *mySession) Close()         { m.db.Close() }

func (m *mySession) Tables(ctx context.Context) ([]string, error) {
	rows, err := m.db.QueryContext(ctx, `SELECT TABLE_NAME FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME`, m.schema)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

func (m *mySession) Describe(ctx context.Context, table string, unsupportedText bool) (*tableInfo, error) {
	rows, err := m.db.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, COALESCE(NUMERIC_PRECISION, 0), COALESCE(NUMERIC_SCALE, 0), IS_NULLABLE
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, m.schema, table)
	if err != nil {
		return nil, err
	}
	info := &tableInfo{Name: table, Rows: -1}
	for rows.Next() {
		var name, dataType, colType, nullable string
		var prec, scale int
		if err := rows.Scan(&name, &dataType, &colType, &prec, &scale, &nullable); err != nil {
			rows.Close()
			return nil, err
		}
		col, ok := myColumn(name, strings.ToLower(dataType), strings.ToLower(colType), prec, scale)
		if !ok {
			if !unsupportedText {
				rows.Close()
				return nil, &UnsupportedError{Table: table, Column: name, Type: colType}
			}
			col = column{Name: name, SrcType: colType, Duck: "VARCHAR", Select: "CAST(" + myIdent(name) + " AS CHAR)", AsText: true}
			if isSpatial(strings.ToLower(dataType)) {
				col.Select = "ST_AsText(" + myIdent(name) + ")"
			}
		}
		// NOT NULL is kept, except on dates: a zero date, which a NOT NULL column may hold,
		// loads as NULL.
		col.NotNull = nullable == "NO" && col.Duck != "DATE" && !strings.HasPrefix(col.Duck, "TIMESTAMP")
		info.Columns = append(info.Columns, col)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(info.Columns) == 0 {
		return nil, fmt.Errorf("table %s.%s not found (or the user may not read it)", m.schema, table)
	}
	pk, err := m.db.QueryContext(ctx, `SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION`, m.schema, table)
	if err != nil {
		return nil, err
	}
	for pk.Next() {
		var n string
		if err := pk.Scan(&n); err != nil {
			pk.Close()
			return nil, err
		}
		info.PrimaryKey = append(info.PrimaryKey, n)
	}
	pk.Close()
	var rowsEst, size sql.NullInt64
	if err := m.db.QueryRowContext(ctx, `SELECT TABLE_ROWS, DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, m.schema, table).Scan(&rowsEst, &size); err == nil {
		if rowsEst.Valid {
			info.Rows = rowsEst.Int64
		}
		info.Bytes = size.Int64
	}
	return info, nil
}

// Copy reads the rows over the text protocol (the driver streams them off the socket) and
// writes each as one CSV record: NULL as an empty field, every value quoted.
func (m *mySession) Copy(ctx context.Context, t *tableInfo, cursor, from string, w rowWriter) error {
	exprs := make([]string, len(t.Columns))
	fixes := make([]fix, len(t.Columns))
	for i, c := range t.Columns {
		exprs[i] = c.Select
		switch {
		case c.Duck == "BLOB":
			fixes[i] = fixBlob
		case c.Duck == "TIMESTAMP WITH TIME ZONE":
			fixes[i] = fixTZ
		case c.Duck == "DATE" || c.Duck == "TIMESTAMP":
			fixes[i] = fixZeroDate
		}
	}
	q := "SELECT " + strings.Join(exprs, ", ") + " FROM " + myIdent(m.schema) + "." + myIdent(t.Name)
	var args []any
	if cursor != "" {
		q += " WHERE " + myIdent(cursor) + " >= ?"
		args = append(args, from)
	}
	rows, err := m.db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	vals := make([]sql.RawBytes, len(t.Columns))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	t.ZeroDates = map[string]int64{} // counted afresh by every attempt
	var rec []byte
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		rec = rec[:0]
		for i, v := range vals {
			if i > 0 {
				rec = append(rec, ',')
			}
			if v == nil {
				continue
			}
			if (fixes[i] == fixZeroDate || fixes[i] == fixTZ) && zeroDate(v) {
				t.ZeroDates[t.Columns[i].Name]++
				continue
			}
			rec = append(rec, '"')
			switch fixes[i] {
			case fixBlob:
				for _, b := range v {
					rec = append(rec, '\\', 'x', hexDigits[b>>4], hexDigits[b&15])
				}
			default:
				for _, b := range v {
					if b == '"' {
						rec = append(rec, '"')
					}
					rec = append(rec, b)
				}
				if fixes[i] == fixTZ {
					rec = append(rec, '+', '0', '0')
				}
			}
			rec = append(rec, '"')
		}
		rec = append(rec, '\n')
		if _, err := w.Write(rec); err != nil {
			return err
		}
	}
	return rows.Err()
}

const hexDigits = "0123456789abcdef"

// zeroDate reports a MySQL date or datetime with no calendar date: 0000-00-00 (MySQL's "no
// date") or a zero month or day (2024-00-10, 2024-05-00), which MySQL stores when its sql_mode
// allows and no other database or DuckDB can hold.
func zeroDate(v []byte) bool {
	if len(v) < 10 || v[4] != '-' || v[7] != '-' {
		return false
	}
	return bytes.HasPrefix(v, []byte("0000-00-00")) || v[5] == '0' && v[6] == '0' || v[8] == '0' && v[9] == '0'
}

// myColumn maps a MySQL/MariaDB column (information_schema's DATA_TYPE and COLUMN_TYPE).
func myColumn(name, dataType, colType string, prec, scale int) (column, bool) {
	c := column{Name: name, SrcType: colType, Select: myIdent(name)}
	switch dataType {
	case "tinyint", "smallint", "mediumint", "int", "integer", "year":
		c.Duck = "BIGINT" // dlt has one integer type; every value of these fits
	case "bigint":
		c.Duck = "BIGINT"
		if strings.Contains(colType, "unsigned") {
			c.Duck = "UBIGINT" // values past 2^63-1 fit no BIGINT (dlt's load fails on them)
		}
	case "decimal", "numeric":
		if prec < 1 || prec > 38 {
			return c, false
		}
		c.Duck = fmt.Sprintf("DECIMAL(%d,%d)", prec, scale)
	case "float", "double", "real", "double precision":
		// dlt loads double as DECIMAL(38,9), which rounds small values and cannot hold large ones.
		c.Duck = "DOUBLE"
	case "bit":
		c.Duck = "BIGINT"
		if prec > 63 {
			c.Duck = "UBIGINT" // bit(64) with the top bit set fits no BIGINT
		}
		c.Select = "CAST(" + myIdent(name) + " AS UNSIGNED)"
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set":
		c.Duck = "VARCHAR"
	case "json":
		c.Duck = "JSON"
	case "date":
		c.Duck = "DATE"
	case "datetime":
		c.Duck = "TIMESTAMP"
	case "timestamp":
		c.Duck = "TIMESTAMP WITH TIME ZONE" // read in UTC (the session's time_zone)
	case "time":
		c.Duck = "INTERVAL" // MySQL's TIME is a duration: -838:59:59 to 838:59:59
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		c.Duck = "BLOB"
	default:
		return c, false
	}
	return c, true
}

func isSpatial(dataType string) bool {
	switch dataType {
	case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection", "geomcollection":
		return true
	}
	return false
}

func myIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// myTransient tells a lost or refused connection from an error the server meant.
func myTransient(err error) bool {
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		// 1040 too many connections, 1053 server shutdown, 2006/2013 gone away / lost.
		return myErr.Number == 1040 || myErr.Number == 1053 || myErr.Number == 2006 || myErr.Number == 2013
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "connection refused")
}
