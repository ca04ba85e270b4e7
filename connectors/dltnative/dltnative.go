// Package dltnative accepts the original tool's `type: dlt_native` sources, which name a dlt
// source module and function with keyword arguments, and runs them on dango's own connectors:
// the configuration users already have keeps working, with no Python.
//
//   - name: exports
//     type: dlt_native
//     dlt_native:
//     source_module: filesystem
//     source_function: read_csv
//     function_kwargs:
//     bucket_url: data/exports
//     file_glob: "*.csv"
//     incremental: {cursor_column: updated_at, initial_value: "2024-01-01"}
package dltnative

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
	"github.com/dangohq/dango/connectors/sqldb"
)

// filesystemReaders maps dlt's filesystem reader functions to dango file types.
var filesystemReaders = map[string]string{
	"read_csv":        "csv",
	"read_csv_duckdb": "csv",
	"read_jsonl":      "json",
	"read_parquet":    "parquet",
}

func init() {
	connectors.Default.Register(connectors.Registration{
		Spec: config.Spec{Type: "dlt_native", Summary: "A dlt source named by module and function, as the original tool wrote them; runs on dango's connectors. " +
			"Supported: source_module filesystem (read_csv, read_csv_duckdb, read_jsonl, read_parquet with bucket_url and file_glob) " +
			"and sql_database (sql_database or sql_table, with credentials, schema, table_names or table).",
			Fields: []config.Field{
				{Name: "source_module", Kind: config.String, Required: true, Doc: "dlt source module, e.g. filesystem."},
				{Name: "source_function", Kind: config.String, Doc: "Function of the module, e.g. read_csv."},
				{Name: "function_kwargs", Kind: config.Map, Positions: true, Doc: "Its keyword arguments; `incremental: {cursor_column|cursor_path, initial_value}` sets the source's incremental loading. " +
					"filesystem also takes the reader's arguments (read_csv: pandas' sep, encoding, header, …; read_csv_duckdb: DuckDB's read_csv arguments): those that change the data are honoured, those that do not are accepted, any other is an error naming its line."},
			},
			Check: checkKwargs},
		New: build,
	})
}

// checkKwargs runs build's checks of function_kwargs when sources.yml is read, so a
// misspelt or unsupported argument fails with its line before any sync (build checks the
// same again when it runs).
func checkKwargs(s config.Values) error {
	err := validateKwargs(s, "")
	var ce *config.Error
	if errors.As(err, &ce) {
		ce.Msg = strings.TrimPrefix(ce.Msg, "source : ")
	}
	return err
}

// validateKwargs checks function_kwargs the way build reads them.
func validateKwargs(s config.Values, source string) error {
	kwargs, _ := s["function_kwargs"].(map[string]any)
	if inc, ok := kwargs["incremental"]; ok {
		m, ok := inc.(map[string]any)
		if !ok {
			return s.KeyError("function_kwargs", "incremental", "source %s: function_kwargs.incremental must be a mapping with cursor_column and initial_value", source)
		}
		for _, k := range sortedKeys(m) {
			if k != "cursor_column" && k != "cursor_path" && k != "initial_value" {
				return s.KeyError("function_kwargs", "incremental."+k, "source %s: function_kwargs.incremental: unknown key %q (valid keys: cursor_column or dlt's cursor_path, initial_value)", source, k)
			}
		}
	}
	switch s.String("source_module") {
	case "filesystem":
		if fn := s.String("source_function"); filesystemReaders[fn] != "" {
			return readerArgs(s, source, fn, kwargs, config.Values{})
		}
	case "sql_database":
		for _, k := range sortedKeys(kwargs) {
			if !sqlDatabaseArgs[k] {
				return s.KeyError("function_kwargs", k, "source %s: function_kwargs.%s: %q is not an argument dango takes for sql_database (valid: %s)", source, k, k, keys(sqlDatabaseArgs))
			}
		}
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// build translates the job to the connector that does the work.
func build(job connectors.Job) (connectors.Connector, error) {
	s := job.Source.Settings
	kwargs, _ := s["function_kwargs"].(map[string]any)
	if kwargs == nil {
		kwargs = map[string]any{}
	}
	src := job.Source
	if inc, ok := kwargs["incremental"]; ok {
		m, ok := inc.(map[string]any)
		if !ok {
			return nil, s.KeyError("function_kwargs", "incremental", "source %s: function_kwargs.incremental must be a mapping with cursor_column and initial_value", src.Name)
		}
		for k := range m {
			if k != "cursor_column" && k != "cursor_path" && k != "initial_value" {
				return nil, s.KeyError("function_kwargs", "incremental."+k, "source %s: function_kwargs.incremental: unknown key %q (valid keys: cursor_column or dlt's cursor_path, initial_value)", src.Name, k)
			}
		}
		cursor := str(m["cursor_column"])
		if cursor == "" {
			cursor = str(m["cursor_path"]) // dlt's own name for it
		}
		if cursor == "" {
			return nil, s.KeyError("function_kwargs", "incremental", "source %s: function_kwargs.incremental needs cursor_column", src.Name)
		}
		if src.Defaults.Incremental == nil {
			src.Defaults.Incremental = &config.Incremental{CursorColumn: cursor, InitialValue: str(m["initial_value"])}
		}
	}
	module := s.String("source_module")
	switch module {
	case "filesystem":
		fn := s.String("source_function")
		typ, ok := filesystemReaders[fn]
		if !ok {
			return nil, fmt.Errorf("source %s: filesystem source_function %q is not supported (supported: %s)", src.Name, fn, keys(filesystemReaders))
		}
		bucket := str(kwargs["bucket_url"])
		if strings.Contains(bucket, "://") && !strings.HasPrefix(bucket, "file://") {
			return nil, fmt.Errorf("source %s: bucket_url %q: only local folders are supported", src.Name, bucket)
		}
		bucket = strings.TrimPrefix(bucket, "file://")
		if bucket == "" {
			return nil, fmt.Errorf("source %s: filesystem needs function_kwargs.bucket_url (a folder)", src.Name)
		}
		glob := str(kwargs["file_glob"])
		if glob == "" {
			glob = "*"
		}
		src.Type = typ
		settings := config.Values{"path": path.Join(bucket, glob)}
		if typ == "csv" {
			settings["encoding"] = "utf-8"
		}
		if typ == "json" {
			settings["format"] = "auto"
		}
		if err := readerArgs(s, src.Name, fn, kwargs, settings); err != nil {
			return nil, err
		}
		src.Settings = settings
		job.Source = src
		return connectors.Default.New(job)
	case "sql_database":
		for k := range kwargs {
			if !sqlDatabaseArgs[k] {
				return nil, s.KeyError("function_kwargs", k, "source %s: function_kwargs.%s: %q is not an argument dango takes for sql_database (valid: %s)", src.Name, k, k, keys(sqlDatabaseArgs))
			}
		}
		job.Source = src
		return sqldb.FromDLT(job, s.String("source_function"), kwargs)
	}
	return nil, fmt.Errorf("source %s: dlt_native source_module %q is not supported (supported: filesystem, sql_database)", src.Name, module)
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func keys[V any](m map[string]V) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
