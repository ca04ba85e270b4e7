package dltcompat

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// Database cases: rich type sets in PostgreSQL and MariaDB (the servers scripts/testdb.sh
// starts for `make test`), read by dlt's sql_database (SQLAlchemy backend, its defaults) and
// by dango's postgres/mysql sources.

func sqlCases() []sideBySide {
	return []sideBySide{
		{
			name: "pg_types", source: "pg", db: "postgres", keys: map[string][]string{"typed": {"id"}},
			setup: []string{
				`CREATE TABLE typed (
					id integer PRIMARY KEY,
					small smallint NOT NULL,
					big bigint,
					num numeric(12,3),
					num_free numeric,
					real_col real,
					dbl double precision,
					flag boolean NOT NULL,
					name text NOT NULL,
					code varchar(10),
					fixed char(4),
					addr inet,
					uid uuid,
					doc json,
					docb jsonb,
					tags text[],
					nums integer[],
					at_tz timestamptz,
					at_naive timestamp,
					day date,
					clock time,
					raw bytea)`,
				`INSERT INTO typed VALUES
					(1, 1, 9007199254740993, 123456789.125, 3.14159265358979, 1.5, 2.25, true, 'Ann', 'A-1', 'ab',
					 '192.168.0.1', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": 1, "b": [1, 2]}', '{"z": null, "a": "x"}',
					 '{red,"green blue"}', '{1,2,3}', '2024-01-14 10:00:00+02', '2024-01-14 10:00:00', '2024-01-14', '23:59:59.5', '\xdeadbeef'),
					(2, -32768, -1, -0.001, 0, -0.0, 1e300, false, 'Zoë ✓', '', 'abcd',
					 '10.0.0.0/8', '00000000-0000-0000-0000-000000000000', '[]', '{}',
					 '{}', '{NULL,5}', '1999-12-31 23:59:59.999999+00', '1970-01-01 00:00:00', '0001-01-01', '00:00:00', '\x'),
					(3, 32767, NULL, NULL, NULL, NULL, NULL, true, 'line1
line2', NULL, NULL, '::1', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
			},
			sources: `version: 1
sources:
  - name: pg
    type: postgres
    postgres:
      credentials_env: DB_URL
`},
		{
			// Types dlt's SQLAlchemy backend has no mapping for: it loads their Python values.
			name: "pg_text_types", source: "pgx", db: "postgres", keys: map[string][]string{"exotic": {"id"}},
			setup: []string{
				`CREATE TABLE exotic (
					id integer PRIMARY KEY,
					pt point,
					rng int4range,
					tsv tsvector,
					cash money,
					clock_tz timetz,
					net cidr,
					mac macaddr,
					x xml,
					bits bit(4),
					vbits varbit,
					big_rng int8range,
					num_rng numrange,
					day_rng daterange,
					ts_rng tsrange,
					tz_rng tstzrange)`,
				`INSERT INTO exotic VALUES
					(1, '(1.5,2)', '[1,10)', 'a fat cat', 12.34, '10:00:00+02', '10.1.0.0/16', '08:00:2b:01:02:03', '<a>1</a>', B'1010', B'1',
					 '[5,6]', '[1.5,2.25)', '[2024-01-01,2024-02-01)', '[2024-01-01 10:00,2024-01-02 00:00)', '[2024-01-01 10:00+02,2024-01-02 00:00+00)'),
					(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
					(3, NULL, 'empty', NULL, -1.5, NULL, NULL, NULL, NULL, B'0000', B'',
					 'empty', 'empty', 'empty', 'empty', 'empty'),
					(4, NULL, '(,5)', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
					 '[3,)', '(,)', '(,2024-01-01]', '(2024-03-01 00:00,)', '[2024-01-01 00:00+00,)')`,
			},
			sources: `version: 1
sources:
  - name: pgx
    type: postgres
    postgres:
      credentials_env: DB_URL
`},
		{
			name: "mysql_types", source: "maria", db: "mysql", keys: map[string][]string{"typed": {"id"}},
			setup: []string{
				`SET SESSION sql_mode = ''`, // allows the zero dates below, as old MySQL data has them
				`CREATE TABLE typed (
					id int PRIMARY KEY,
					tiny tinyint,
					utiny tinyint unsigned,
					small smallint NOT NULL,
					med mediumint,
					big bigint,
					ubig bigint unsigned,
					dec_col decimal(10,2),
					fl float,
					db double,
					flag boolean,
					name varchar(50) NOT NULL,
					body text,
					color enum('red','green'),
					d date,
					dt datetime,
					ts timestamp NULL,
					y year,
					j json,
					b blob,
					bits bit(3))`,
				`INSERT INTO typed VALUES
					(1, -128, 255, 1, 8388607, 9007199254740993, 9223372036854775807, 12345678.91, 1.5, 2.25, true, 'Ann', 'text body', 'red',
					 '2024-01-14', '2024-01-14 10:00:00', '2024-01-14 10:00:00', 2024, '{"a": [1, 2]}', x'DEADBEEF', b'101'),
					(2, 0, 0, -32768, 0, 0, 0, -0.01, -0.5, 2.5e10, false, 'Zoë ✓', '', 'green',
					 '0000-00-00', '0000-00-00 00:00:00', NULL, 1901, '[]', x'', b'000'),
					(3, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'nulls', NULL, NULL,
					 NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
			},
			sources: `version: 1
sources:
  - name: maria
    type: mysql
    mysql:
      credentials_env: DB_URL
`},
	}
}

func requireServer(t *testing.T, env string) string {
	t.Helper()
	u := os.Getenv(env)
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must provide %s; `make test` starts the servers with scripts/testdb.sh", env)
		}
		t.Skipf("%s not set: run the suite under scripts/testdb.sh run -- (as `make test` does)", env)
	}
	return u
}

var dbSeq atomic.Int64

// newDatabase makes a fresh database on the test server, runs setup in it (one connection,
// so session settings hold) and returns its URL for dlt (SQLAlchemy's form) and for dango.
func newDatabase(t *testing.T, kind string, setup []string) (dltURL, dangoURL string) {
	t.Helper()
	name := fmt.Sprintf("compat_%d_%d", time.Now().UnixNano(), dbSeq.Add(1))
	ctx := context.Background()
	var db *sql.DB
	switch kind {
	case "postgres":
		base := requireServer(t, "DANGO_PG_URL")
		admin, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if c, err := pgx.Connect(ctx, base); err == nil {
				c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
				c.Close(ctx)
			}
		})
		u, _ := url.Parse(base)
		u.Path = "/" + name
		dangoURL = u.String()
		u.Scheme = "postgresql+psycopg2"
		dltURL = u.String()
		if db, err = sql.Open("pgx", dangoURL); err != nil {
			t.Fatal(err)
		}
	case "mysql":
		base := requireServer(t, "DANGO_MYSQL_URL")
		u, _ := url.Parse(base)
		pw, _ := u.User.Password()
		cfg := mysql.NewConfig()
		cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = u.User.Username(), pw, "tcp", u.Host
		admin, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		if _, err := admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if a, err := sql.Open("mysql", cfg.FormatDSN()); err == nil {
				a.Exec("DROP DATABASE IF EXISTS " + name)
				a.Close()
			}
		})
		cfg.DBName = name
		if db, err = sql.Open("mysql", cfg.FormatDSN()); err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + name
		dangoURL = u.String()
		u.Scheme = "mysql+pymysql"
		q := u.Query()
		q.Set("charset", "utf8mb4")
		u.RawQuery = q.Encode()
		dltURL = u.String()
	default:
		t.Fatalf("unknown database kind %q", kind)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range setup {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("setting up the %s case database: %v\n%s", kind, err, strings.TrimSpace(q))
		}
	}
	return dltURL, dangoURL
}
