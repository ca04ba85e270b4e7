// Package sqldb is `type: postgres` and `type: mysql` (MySQL and MariaDB): tables of a
// database schema replicated into the warehouse.
//
// Rows never pass through Go values. PostgreSQL streams each table with COPY (SELECT …) TO
// STDOUT in CSV, MySQL's rows are written as CSV straight from the wire; either way they go
// to spool files of bounded size that the writer loads with DuckDB's CSV reader, with every
// column's type pinned from the database's catalog, so memory stays flat whatever the table's
// size and DuckDB never guesses a type. Conversions DuckDB cannot read from the database's
// text (intervals, bytea, arrays, ranges) are done in the source query.
//
// A table whose extraction fails before any of its rows were handed to the writer is tried
// again with exponential backoff (a restarting server, a dropped connection); after that the
// source fails, and the writer rolls its load back whole.
package sqldb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
	"github.com/dangohq/dango/humanize"
	"github.com/dangohq/dango/naming"
	spoolfile "github.com/dangohq/dango/spool"
)

func fields(engine, defaultSchema string) []config.Field {
	return []config.Field{
		{Name: "credentials", Kind: config.String, Doc: "Connection URL (" + engine + "://user:password@host:port/database); give it as credentials_env naming a variable. Or use the keys below.", Example: "credentials_env: " + strings.ToUpper(engine) + "_URL"},
		{Name: "host", Kind: config.String, Default: "localhost", Doc: "Server host, when credentials is not set."},
		{Name: "port", Kind: config.Int, Doc: "Server port (default " + map[string]string{"postgres": "5432", "mysql": "3306"}[engine] + ")."},
		{Name: "user", Kind: config.String, Doc: "User name."},
		{Name: "password", Kind: config.String, Doc: "Password; give it as password_env naming a variable."},
		{Name: "database", Kind: config.String, Doc: "Database name."},
		{Name: "schema", Kind: config.String, Default: defaultSchema, Doc: "Schema whose tables are loaded" + map[string]string{"postgres": ".", "mysql": " (MySQL calls it the database; default: database)."}[engine]},
		{Name: "table_names", Kind: config.StringList, Doc: "Tables (or views) to load; default: every table of the schema."},
		{Name: "unsupported_types", Kind: config.String, Default: "text", Enum: []string{"text", "fail"}, Doc: "A column of a type with no faithful DuckDB type (point, tsvector, multiranges, geometry, numeric(p > 38), …) loads as its text form as the server prints it, as dlt loads it (said once per table); `fail` fails the table instead, naming table, column and type."},
		{Name: "max_retry_time", Kind: config.String, Default: "2m", Doc: "How long a table keeps retrying a lost connection before the source fails."},
	}
}

func init() {
	connectors.Default.Register(connectors.Registration{
		Spec: config.Spec{Type: "postgres", Summary: "PostgreSQL tables, streamed with COPY into raw_<name>.<table>, types from the catalog; " +
			"replace by default, merge on the primary key when incremental.", Fields: fields("postgres", "public")},
		New: func(job connectors.Job) (connectors.Connector, error) { return New(job, postgresDialect) },
	})
	connectors.Default.Register(connectors.Registration{
		Spec: config.Spec{Type: "mysql", Summary: "MySQL or MariaDB tables, streamed into raw_<name>.<table>, types from the catalog; " +
			"replace by default, merge on the primary key when incremental.", Fields: fields("mysql", "")},
		New: func(job connectors.Job) (connectors.Connector, error) { return New(job, mysqlDialect) },
	})
}

// A dialect connects to one kind of server.
type dialect struct {
	name    string
	connect func(ctx context.Context, s config.Values) (session, error)
	// transient tells a lost or refused connection (worth retrying) from an error the
	// server meant (a missing table, a denied privilege).
	transient func(error) bool
}

// session is one connection to the source.
type session interface {
	// Schema is the schema tables are read from (the configured one, or the default).
	Schema() string
	Tables(ctx context.Context) ([]string, error)
	// Describe reads a table's columns (mapped to DuckDB types), primary key and size.
	Describe(ctx context.Context, table string, unsupportedText bool) (*tableInfo, error)
	// Copy streams the table's rows (where cursor >= from, when cursor is set) as CSV, one
	// complete record per Write.
	Copy(ctx context.Context, t *tableInfo, cursor, from string, w rowWriter) error
	Close()
}

// rowWriter receives CSV records; each Write holds whole records.
type rowWriter interface {
	Write(p []byte) (int, error)
}

// tableInfo is a table as the catalog describes it.
type tableInfo struct {
	Name       string
	Columns    []column
	PrimaryKey []string
	Rows       int64 // the catalog's estimate; -1 when unknown
	Bytes      int64
	// ZeroDates counts, per column, MySQL/MariaDB "zero" dates (0000-00-00, 2024-05-00) the
	// last Copy loaded as NULL.
	ZeroDates map[string]int64
}

func (t *tableInfo) column(name string) (column, bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return column{}, false
}

// column is a source column and how it lands.
type column struct {
	Name    string // as the database names it
	SrcType string // as the database names its type, for messages
	Duck    string // the warehouse column's DuckDB type
	Select  string // expression in the source query
	NotNull bool   // the catalog's NOT NULL, kept on the warehouse column (as dlt does)
	AsText  bool   // a type with no DuckDB equivalent, loaded as its text form
}

// UnsupportedError is a column whose type has no faithful DuckDB type.
type UnsupportedError struct {
	Table, Column, Type string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("table %s, column %s: type %s has no DuckDB equivalent; set unsupported_types: text to load it as text, "+
		"or leave the table out of table_names", e.Table, e.Column, e.Type)
}

// Connector extracts the tables of one source.
type Connector struct {
	job     connectors.Job
	dialect dialect
	tables  []string // configured, or listed by the last ListResources
	mu      sync.Mutex
}

// New builds the connector; it does not connect until asked for data.
func New(job connectors.Job, d dialect) (*Connector, error) {
	s := job.Source.Settings
	if _, err := time.ParseDuration(s.String("max_retry_time")); err != nil {
		return nil, fmt.Errorf("source %s: max_retry_time %q: %w", job.Source.Name, s.String("max_retry_time"), err)
	}
	if !s.Has("credentials") && s.String("database") == "" {
		return nil, fmt.Errorf("source %s: set credentials_env (a connection URL) or host, user, password_env and database", job.Source.Name)
	}
	return &Connector{job: job, dialect: d, tables: s.Strings("table_names")}, nil
}

// Resources lists the configured tables, or those the last listing found.
func (c *Connector) Resources() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.tables...)
}

// ListResources lists the tables to load, asking the database when table_names is not set.
func (c *Connector) ListResources(ctx context.Context) ([]string, error) {
	if len(c.job.Source.Settings.Strings("table_names")) > 0 {
		return c.Resources(), nil
	}
	sess, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	return c.list(ctx, sess)
}

func (c *Connector) list(ctx context.Context, sess session) ([]string, error) {
	if names := c.job.Source.Settings.Strings("table_names"); len(names) > 0 {
		return names, nil
	}
	names, err := sess.Tables(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the tables of schema %s: %w", sess.Schema(), err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("schema %s has no tables (or the user cannot see them); check schema, or set table_names", sess.Schema())
	}
	c.mu.Lock()
	c.tables = names
	c.mu.Unlock()
	return names, nil
}

func (c *Connector) connect(ctx context.Context) (session, error) {
	sess, err := c.dialect.connect(ctx, c.job.Source.Settings)
	if err != nil {
		// Drivers quote their connection settings in errors: redact before anyone sees it.
		return nil, config.RedactError(fmt.Errorf("connect to %s: %w", c.dialect.name, err))
	}
	return sess, nil
}

// FromDLT builds the connector for dlt's sql_database source (functions sql_database and
// sql_table), from its keyword arguments: credentials (a SQLAlchemy-style URL such as
// postgresql+psycopg2://…, or credentials_env naming a variable; by default dlt's own place,
// [sources.sql_database] credentials in .dlt/secrets.toml), schema, table_names or table.
// The URL's scheme picks PostgreSQL or MySQL.
func FromDLT(job connectors.Job, function string, kwargs map[string]any) (connectors.Connector, error) {
	name := job.Source.Name
	if function != "" && function != "sql_database" && function != "sql_table" {
		return nil, fmt.Errorf("source %s: sql_database source_function %q is not supported (sql_database, sql_table)", name, function)
	}
	str := func(k string) string {
		if v, ok := kwargs[k]; ok && v != nil {
			return fmt.Sprint(v)
		}
		return ""
	}
	creds := str("credentials")
	if creds == "" {
		env := str("credentials_env")
		if env == "" {
			env = "SOURCES__SQL_DATABASE__CREDENTIALS"
		}
		v, err := config.NewSecretResolver(job.ProjectRoot).Lookup(env)
		if err != nil {
			return nil, fmt.Errorf("source %s: sql_database needs credentials: set function_kwargs.credentials_env, or credentials under [sources.sql_database] in .dlt/secrets.toml (%v)", name, err)
		}
		creds = v.Reveal()
	}
	scheme, rest, ok := strings.Cut(creds, "://")
	if !ok {
		return nil, fmt.Errorf("source %s: sql_database credentials must be a URL such as postgresql://user:password@host/db", name)
	}
	scheme, _, _ = strings.Cut(strings.ToLower(scheme), "+") // postgresql+psycopg2 → postgresql
	var d dialect
	var settings config.Values
	switch scheme {
	case "postgresql", "postgres":
		d, settings = postgresDialect, config.Values{"credentials": config.Secret("postgres://" + rest), "schema": "public"}
	case "mysql", "mariadb":
		d, settings = mysqlDialect, config.Values{"credentials": config.Secret("mysql://" + rest), "schema": ""}
	default:
		return nil, fmt.Errorf("source %s: sql_database credentials: %s databases are not supported (postgresql, mysql, mariadb)", name, scheme)
	}
	if s := str("schema"); s != "" {
		settings["schema"] = s
	}
	var tables []string
	switch v := kwargs["table_names"].(type) {
	case []any:
		for _, t := range v {
			tables = append(tables, fmt.Sprint(t))
		}
	case string:
		tables = strings.Split(v, ",")
	}
	if t := str("table"); t != "" {
		tables = append(tables, t)
	}
	if len(tables) > 0 {
		settings["table_names"] = tables
	}
	settings["unsupported_types"], settings["max_retry_time"], settings["host"] = "text", "2m", "localhost"
	job.Source.Settings = settings
	return New(job, d)
}

// plan is how one table loads in this job.
type plan struct {
	info *tableInfo
	res  batch.Resource
	mode connectors.Mode
}

// Extract loads the selected tables, up to job.Parallel at once.
func (c *Connector) Extract(ctx context.Context, out connectors.Emitter) error {
	maxRetry, _ := time.ParseDuration(c.job.Source.Settings.String("max_retry_time"))
	out.Logf("Connecting to %s", c.dialect.name)
	var sess session
	err := c.retry(ctx, maxRetry, out, "connect", func() error {
		var err error
		sess, err = c.connect(ctx)
		return err
	})
	if err != nil {
		return err
	}
	names, err := c.list(ctx, sess)
	sess.Close()
	if err != nil {
		return err
	}
	var selected []string
	for _, n := range names {
		if c.job.Selected(n) {
			selected = append(selected, n)
		}
	}
	parallel := max(c.job.Parallel, 1)
	sem := make(chan struct{}, parallel)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error // the failure that stopped the others
	for _, name := range selected {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			if err := c.extractTable(ctx, name, maxRetry, out); err != nil {
				mu.Lock()
				if first == nil && ctx.Err() == nil {
					first = fmt.Errorf("%s: %w", name, err)
				}
				mu.Unlock()
				cancel() // the load is rolled back anyway: stop the others
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// extractTable copies one table into spool files, retrying while nothing was handed over.
func (c *Connector) extractTable(ctx context.Context, name string, maxRetry time.Duration, out connectors.Emitter) error {
	spoolDir := filepath.Join(c.job.ProjectRoot, ".dango", "spool")
	var p *plan
	var sp *spool
	var loaded int64
	err := c.retry(ctx, maxRetry, out, name, func() error {
		sess, err := c.connect(ctx)
		if err != nil {
			return err
		}
		defer sess.Close()
		if p == nil {
			info, err := sess.Describe(ctx, name, c.job.Source.Settings.String("unsupported_types") == "text")
			if err != nil {
				return backoff.Permanent(err)
			}
			p, err = c.plan(info)
			if err != nil {
				return backoff.Permanent(err)
			}
			connectors.LogMode(out, name, p.mode)
			var text []string
			for _, col := range info.Columns {
				if col.AsText {
					text = append(text, col.Name+" ("+col.SrcType+")")
				}
			}
			if len(text) > 0 {
				out.Logf("%s: %s have no DuckDB type; loaded as text (unsupported_types: text)", name, strings.Join(text, ", "))
			}
		}
		sp = newSpool(spoolDir, p, out)
		sp.ctx = ctx
		defer sp.discard()
		cursor := ""
		if p.res.Incremental != nil && p.mode.From != "" {
			cursor = p.res.Incremental.CursorColumn
		}
		if err := sess.Copy(ctx, p.info, cursor, p.mode.From, sp); err != nil {
			if sp.emitted > 0 {
				return backoff.Permanent(fmt.Errorf("%w (after %s rows had been handed to the writer: the load is rolled back)",
					err, humanize.Thousands(sp.emittedRows)))
			}
			return err
		}
		if err := sp.finish(ctx); err != nil {
			return backoff.Permanent(err)
		}
		loaded = sp.rows
		return nil
	})
	if err != nil {
		return err
	}
	if p != nil {
		for _, col := range p.info.Columns {
			if n := p.info.ZeroDates[col.Name]; n > 0 {
				out.Logf("Warning: table %s, column %s: %s zero dates (0000-00-00 or a 00 month or day) have no calendar date; loaded as NULL",
					name, col.Name, humanize.Thousands(n))
			}
		}
	}
	out.Logf("Loaded %s rows from %s", humanize.Thousands(loaded), name)
	return nil
}

// plan resolves a table's resource: the catalog's primary key and the configuration.
func (c *Connector) plan(info *tableInfo) (*plan, error) {
	d := connectors.Defaults{Disposition: batch.Replace, PrimaryKey: info.PrimaryKey}
	if c.job.Source.Resource(info.Name).Incremental != nil {
		d.Disposition = batch.Append
		if len(info.PrimaryKey) > 0 {
			d.Disposition = batch.Merge
		}
	}
	res, mode := c.job.Plan(info.Name, naming.Snake(info.Name), d)
	if inc := res.Incremental; inc != nil {
		if _, ok := info.column(inc.CursorColumn); !ok {
			return nil, fmt.Errorf("incremental cursor_column %q is not a column of table %s (columns: %s)", inc.CursorColumn, info.Name, columnNames(info))
		}
	}
	for _, k := range res.PrimaryKey {
		if _, ok := info.column(k); !ok {
			return nil, fmt.Errorf("primary_key %q is not a column of table %s (columns: %s)", k, info.Name, columnNames(info))
		}
	}
	return &plan{info: info, res: res, mode: mode}, nil
}

func columnNames(t *tableInfo) string {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

// Estimate reports the catalog's row estimates, for --dry-run.
func (c *Connector) Estimate(ctx context.Context) ([]connectors.Estimate, error) {
	sess, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	names, err := c.list(ctx, sess)
	if err != nil {
		return nil, err
	}
	var out []connectors.Estimate
	for _, n := range names {
		if !c.job.Selected(n) {
			continue
		}
		info, err := sess.Describe(ctx, n, c.job.Source.Settings.String("unsupported_types") == "text")
		if err != nil {
			return nil, err
		}
		p, err := c.plan(info)
		if err != nil {
			return nil, err
		}
		e := connectors.Estimate{Resource: n, Label: n, Rows: info.Rows, Bytes: info.Bytes, Mode: p.mode}
		if p.mode.Incremental && p.mode.From != "" {
			e.Rows = -1 // the estimate is the whole table's
		}
		out = append(out, e)
	}
	return out, nil
}

// retry runs op with exponential backoff for up to maxRetry, logging each wait; errors
// that are not transient, and a cancelled ctx, end it at once.
func (c *Connector) retry(ctx context.Context, maxRetry time.Duration, out connectors.Emitter, what string, op func() error) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 500 * time.Millisecond
	start, tries, permanent := time.Now(), 0, false
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		tries++
		err := op()
		var pe *backoff.PermanentError
		switch {
		case err == nil:
		case ctx.Err() != nil:
			permanent = true
			return struct{}{}, backoff.Permanent(ctx.Err())
		case errors.As(err, &pe) || !c.dialect.transient(err):
			permanent = true
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(maxRetry), backoff.WithNotify(func(err error, wait time.Duration) {
		out.Logf("%s: %v; retrying in %s", what, err, wait.Round(100*time.Millisecond))
	}))
	if err != nil && !permanent && tries > 1 {
		return fmt.Errorf("%w (gave up after %d attempts in %s; max_retry_time is %s)", err, tries, time.Since(start).Round(100*time.Millisecond), maxRetry)
	}
	return err
}

// spool writes a table's CSV records to files of at most spoolBytes and hands each full file
// to the writer, typed from the catalog.
type spool struct {
	dir         string
	p           *plan
	out         connectors.Emitter
	limit       int64
	f           *os.File
	w           *bufio.Writer
	size        int64
	rows        int64 // records written, in all files
	fileRows    int64
	longest     int64 // longest record in the current file
	emitted     int   // files handed over
	emittedRows int64 // records in them
	pending     string
	ctx         context.Context
	reported    int64
}

// spoolBytes bounds one spool file: each file is one INSERT in the writer, loaded while the
// next one fills. Smaller files overlap the database's COPY with DuckDB's load better, but
// each INSERT leaves partly filled row groups: 64 MB measured fastest for 5M rows (5.2–5.5 s
// against 5.6–5.9 s with 256 MB; 16 MB files took 7 s and twice the memory).
const spoolBytes = 64 << 20

func newSpool(dir string, p *plan, out connectors.Emitter) *spool {
	return &spool{dir: dir, p: p, out: out, limit: spoolBytes, ctx: context.Background()}
}

// Write takes whole CSV records.
func (s *spool) Write(rec []byte) (int, error) {
	if s.f == nil {
		if err := s.open(); err != nil {
			return 0, err
		}
	}
	n, err := s.w.Write(rec)
	if err != nil {
		return n, err
	}
	s.size += int64(n)
	s.longest = max(s.longest, int64(n))
	s.rows++
	s.fileRows++
	if s.rows-s.reported >= 100_000 {
		s.reported = s.rows
		s.out.Progress(s.rows, 0)
	}
	if s.size >= s.limit {
		if err := s.flush(s.ctx); err != nil {
			return n, err
		}
	}
	return n, nil
}

// finish hands the last file over; a table without rows hands over an empty file, so its
// table is created (and a replace empties it, if --allow-empty says so).
func (s *spool) finish(ctx context.Context) error {
	if s.f == nil && s.emitted == 0 {
		if err := s.open(); err != nil {
			return err
		}
	}
	return s.flush(ctx)
}

func (s *spool) open() error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return err
	}
	f, err := spoolfile.Create(s.dir, "table", ".csv")
	if err != nil {
		return err
	}
	s.f, s.w, s.size, s.fileRows, s.longest, s.pending = f, bufio.NewWriterSize(f, 1<<20), 0, 0, 0, f.Name()
	return nil
}

// flush hands the current file over.
func (s *spool) flush(ctx context.Context) error {
	if s.f == nil {
		return nil
	}
	if err := s.w.Flush(); err != nil {
		return err
	}
	if err := s.f.Close(); err != nil {
		return err
	}
	name := s.pending
	s.f = nil
	info := s.p.info
	scan := &batch.Scan{Format: "csv", Files: []string{name}, Bytes: s.size, Temporary: true, Records: s.fileRows,
		Options: map[string]any{"header": false, "auto_detect": false, "delim": ",", "quote": `"`, "escape": `"`,
			"allow_quoted_nulls": false, "strict_mode": true}}
	// DuckDB's CSV buffers (32 MB each by default, several in flight) are most of a load's
	// memory: 8 MB measured 330 MB peak RSS for 5M rows instead of 410–510 MB, at the same
	// speed. A record must fit in a buffer, so files with longer ones get larger buffers.
	lineMax := max(s.longest+1, 2<<20)
	scan.Options["max_line_size"], scan.Options["buffer_size"] = lineMax, max(lineMax, 8<<20)
	for _, c := range info.Columns {
		scan.ReaderColumns = append(scan.ReaderColumns, batch.ReaderColumn{Name: c.Name, Type: c.Duck})
		scan.Columns = append(scan.Columns, batch.Column{Path: []string{c.Name}, Type: c.Duck, NotNull: c.NotNull})
	}
	batch.NameFrom(scan.Columns, 0)
	if err := s.out.Emit(ctx, batch.Batch{Table: s.p.res.Table, Resource: s.p.res, ExtractedAt: time.Now().UTC(), Scan: scan}); err != nil {
		return err
	}
	s.pending = ""
	s.emitted++
	s.emittedRows += s.fileRows
	return nil
}

// discard removes a file never handed over.
func (s *spool) discard() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	if s.pending != "" {
		os.Remove(s.pending)
		s.pending = ""
	}
}

// backoffPermanent marks an error that retrying cannot fix.
func backoffPermanent(err error) error { return backoff.Permanent(err) }
