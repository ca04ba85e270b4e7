// Package staging writes dbt staging models for the raw layer (`dango generate`): one view
// per raw table that selects its columns explicitly and deduplicates it (latest version per
// key, every version with its validity, or nothing), plus the dbt sources and schema YAML.
//
// It reads the warehouse (introspection only) and writes files; every file it writes starts
// with a header carrying a checksum of its content, so a later run can tell a file it may
// bring up to date from one a person has edited, which it never overwrites without --force.
package staging

import (
	"context"
	"database/sql"
	"sort"
	"strings"

	"github.com/dangohq/dango/config"
)

// Column of a raw table.
type Column struct {
	Name    string
	Type    string
	NotNull bool
}

// Table is a raw table.
type Table struct {
	Name    string
	Columns []Column
}

// Source is a raw schema's tables that belong to one source.
type Source struct {
	Name   string         // dango source name, also the dbt source name
	Schema string         // raw schema
	Config *config.Source // nil for a raw schema no source in sources.yml loads any more
	Tables []Table
}

// Introspect reads the raw layer: the schemas of the project's sources, and any other schema
// named raw_*. Metadata tables (_dlt_*, _dango_*) are skipped. only limits it to some sources.
func Introspect(ctx context.Context, db *sql.DB, p *config.Project, only []string) ([]Source, error) {
	rows, err := db.QueryContext(ctx, `SELECT table_schema, table_name, column_name, data_type, is_nullable
		FROM information_schema.columns
		WHERE table_name NOT LIKE '\_dlt\_%' ESCAPE '\' AND table_name NOT LIKE '\_dango\_%' ESCAPE '\'
		ORDER BY table_schema, table_name, ordinal_position`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	schemas := map[string]map[string]*Table{}
	for rows.Next() {
		var schema, table, col, typ, nullable string
		if err := rows.Scan(&schema, &table, &col, &typ, &nullable); err != nil {
			return nil, err
		}
		if schemas[schema] == nil {
			schemas[schema] = map[string]*Table{}
		}
		t := schemas[schema][table]
		if t == nil {
			t = &Table{Name: table}
			schemas[schema][table] = t
		}
		t.Columns = append(t.Columns, Column{Name: col, Type: typ, NotNull: nullable == "NO"})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	owners, err := tableOwners(ctx, db, schemas)
	if err != nil {
		return nil, err
	}
	bySchema := map[string][]*config.Source{}
	for i := range p.Sources {
		s := &p.Sources[i]
		bySchema[s.Schema] = append(bySchema[s.Schema], s)
	}
	var out []Source
	seen := map[string]bool{}
	add := func(name, schema string, cfg *config.Source, keep func(string) bool) {
		if len(only) > 0 && !contains(only, name) {
			return
		}
		src := Source{Name: name, Schema: schema, Config: cfg}
		names := make([]string, 0, len(schemas[schema]))
		for t := range schemas[schema] {
			if keep(t) {
				names = append(names, t)
			}
		}
		sort.Strings(names)
		for _, t := range names {
			src.Tables = append(src.Tables, *schemas[schema][t])
		}
		if len(src.Tables) > 0 {
			out = append(out, src)
		}
	}
	for i := range p.Sources {
		s := &p.Sources[i]
		seen[s.Schema] = true
		shared := len(bySchema[s.Schema]) > 1
		add(s.Name, s.Schema, s, func(t string) bool { return !shared || owners[s.Schema+"."+t] == s.Name })
	}
	var rest []string
	for schema := range schemas {
		if !seen[schema] && strings.HasPrefix(schema, "raw_") {
			rest = append(rest, schema)
		}
	}
	sort.Strings(rest)
	for _, schema := range rest {
		add(strings.TrimPrefix(schema, "raw_"), schema, nil, func(string) bool { return true })
	}
	return out, nil
}

// tableOwners maps schema.table to the source that last loaded it, for schemas several
// sources share.
func tableOwners(ctx context.Context, db *sql.DB, schemas map[string]map[string]*Table) (map[string]string, error) {
	out := map[string]string{}
	for schema := range schemas {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name IN ('_dlt_loads', '_dango_batches')`, schema).Scan(&n); err != nil {
			return nil, err
		}
		if n < 2 {
			continue
		}
		q := `"` + strings.ReplaceAll(schema, `"`, `""`) + `"`
		rows, err := db.QueryContext(ctx, `SELECT b.table_name, arg_max(l.schema_name, l.inserted_at) FROM `+q+`."_dango_batches" b JOIN `+q+
			`."_dlt_loads" l USING (load_id) GROUP BY b.table_name`)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var t, src string
			if err := rows.Scan(&t, &src); err != nil {
				rows.Close()
				return nil, err
			}
			out[schema+"."+t] = src
		}
		rows.Close()
	}
	return out, nil
}

// ReservedWords reads DuckDB's reserved keywords: column names that must be quoted.
func ReservedWords(ctx context.Context, db *sql.DB) (map[string]bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category = 'reserved'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out[strings.ToLower(k)] = true
	}
	return out, rows.Err()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
