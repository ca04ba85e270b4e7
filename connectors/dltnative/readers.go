package dltnative

import (
	"fmt"
	"sort"
	"strings"

	"github.com/dangohq/dango/config"
)

// sourceArgs are filesystem's own arguments (not the reader's).
var sourceArgs = map[string]bool{"bucket_url": true, "file_glob": true, "incremental": true}

// sqlDatabaseArgs are the sql_database / sql_table arguments dango takes; chunk_size and
// backend change how dlt fetches, not what lands.
var sqlDatabaseArgs = map[string]bool{"credentials": true, "credentials_env": true, "schema": true, "table_names": true,
	"table": true, "incremental": true, "chunk_size": true, "backend": true}

// pandasNA are the strings pandas.read_csv reads as missing by default (keep_default_na),
// which is what dlt's read_csv loads as NULL.
var pandasNA = []string{"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
	"<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}

// argRule applies one reader argument to the file connector's settings.
type argRule func(v any, set config.Values) error

// ignored is an argument that changes how dlt reads (chunks, engines), not what it loads.
func ignored(any, config.Values) error { return nil }

// readerRules are the arguments of dlt's filesystem readers dango knows.
var readerRules = map[string]map[string]argRule{
	// pandas.read_csv's keyword arguments, as dlt's read_csv passes them on.
	"read_csv": {
		"chunksize": ignored, "engine": ignored, "low_memory": ignored, "memory_map": ignored,
		"sep": char("delimiter"), "delimiter": char("delimiter"),
		"quotechar": char("quote"), "escapechar": char("escape"), "comment": char("comment"),
		"decimal": decimal, "encoding": encoding, "encoding_errors": only("encoding_errors", "strict"),
		"header":           pandasHeader,
		"skiprows":         skipRows,
		"na_values":        naValues,
		"keep_default_na":  func(any, config.Values) error { return nil }, // read with na_values below
		"dtype":            dtype,
		"skip_blank_lines": only("skip_blank_lines", true),
		"skipinitialspace": only("skipinitialspace", false),
	},
	// DuckDB's read_csv arguments, as dlt's read_csv_duckdb passes them to from_csv_auto.
	"read_csv_duckdb": { // (its Python names: from_csv_auto refuses delim, nullstr, types, …)
		"chunk_size": ignored, "use_pyarrow": ignored, "parallel": ignored,
		"sep": char("delimiter"), "delimiter": char("delimiter"), "quotechar": char("quote"), "escapechar": char("escape"),
		"comment": char("comment"), "decimal": decimal, "encoding": encoding,
		"header": boolTo("header"), "all_varchar": boolTo("all_varchar"), "skiprows": skipRows,
		"na_values": naValues, "dtype": dtype,
		"date_format": stringTo("date_format"), "timestamp_format": stringTo("timestamp_format"),
	},
	"read_jsonl":   {"chunksize": ignored},
	"read_parquet": {"chunksize": ignored, "use_pyarrow": ignored},
}

// readerArgs checks function_kwargs against the reader's arguments and applies them to the
// settings of the file connector that does the work.
func readerArgs(s config.Values, source, fn string, kwargs map[string]any, set config.Values) error {
	rules := readerRules[fn]
	names := make([]string, 0, len(kwargs))
	for k := range kwargs {
		names = append(names, k)
	}
	sort.Strings(names) // errors in a stable order
	for _, k := range names {
		if sourceArgs[k] {
			continue
		}
		rule, ok := rules[k]
		if !ok {
			valid := make([]string, 0, len(rules)+len(sourceArgs))
			for r := range rules {
				valid = append(valid, r)
			}
			for r := range sourceArgs {
				valid = append(valid, r)
			}
			sort.Strings(valid)
			return s.KeyError("function_kwargs", k, "source %s: function_kwargs.%s: %q is not an argument dango takes for filesystem %s (valid: %s)", source, k, k, fn, strings.Join(valid, ", "))
		}
		if err := rule(kwargs[k], set); err != nil {
			return s.KeyError("function_kwargs", k, "source %s: function_kwargs.%s: %v", source, k, err)
		}
	}
	if fn == "read_csv" { // pandas' missing-value strings, unless keep_default_na: false
		keep := true
		if v, ok := kwargs["keep_default_na"]; ok {
			b, isBool := v.(bool)
			if !isBool {
				return s.KeyError("function_kwargs", "keep_default_na", "source %s: function_kwargs.keep_default_na: want true or false, got %v", source, v)
			}
			keep = b
		}
		var na []string
		if keep {
			na = append(na, pandasNA...)
		}
		if extra, ok := set["null_values"].([]string); ok {
			na = append(na, extra...)
		}
		if len(na) > 0 {
			set["null_values"] = dedupe(na)
		} else {
			delete(set, "null_values")
		}
	}
	return nil
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := in[:0]
	for _, v := range in {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// char sets a one-character option (a tab may be written "\t").
func char(key string) argRule {
	return func(v any, set config.Values) error {
		if v == nil {
			return nil // pandas' sep=None: detect
		}
		c, ok := v.(string)
		if c == `\t` {
			c = "\t"
		}
		if !ok || len([]rune(c)) != 1 {
			return fmt.Errorf("want one character, got %q (regular-expression and multi-character separators are not supported)", fmt.Sprint(v))
		}
		set[key] = c
		return nil
	}
}

func decimal(v any, set config.Values) error {
	c, ok := v.(string)
	switch {
	case !ok || len([]rune(c)) != 1:
		return fmt.Errorf("want one character, got %v", v)
	case c != ".":
		set["decimal_separator"] = c
	}
	return nil
}

// encoding maps Python's codec names to DuckDB's.
func encoding(v any, set config.Values) error {
	name := strings.ToLower(strings.ReplaceAll(fmt.Sprint(v), "_", "-"))
	switch name {
	case "utf-8", "utf8", "utf-8-sig", "u8":
		set["encoding"] = "utf-8"
	case "utf-16", "utf16":
		set["encoding"] = "utf-16"
	case "latin-1", "latin1", "iso-8859-1", "iso8859-1", "l1":
		set["encoding"] = "latin-1"
	default:
		return fmt.Errorf("encoding %q is not supported (utf-8, utf-16, latin-1)", fmt.Sprint(v))
	}
	return nil
}

// only accepts an argument at the one value dango's reading matches.
func only(name string, want any) argRule {
	return func(v any, _ config.Values) error {
		if v != want {
			return fmt.Errorf("only %v is supported", want)
		}
		return nil
	}
}

// pandasHeader: "infer" or 0 — the first line names the columns; None — no header; n — the
// line n names them, the lines above it are skipped.
func pandasHeader(v any, set config.Values) error {
	switch x := v.(type) {
	case nil:
		set["header"] = false
	case string:
		if x != "infer" {
			return fmt.Errorf(`want "infer", a line number or null, got %q`, x)
		}
	case int:
		if x < 0 {
			return fmt.Errorf("want a line number ≥ 0, got %d", x)
		}
		set["header"] = true
		if x > 0 {
			set["skip_rows"] = int64(x) + asInt(set["skip_rows"])
		}
	default:
		return fmt.Errorf(`want "infer", a line number or null, got %v (a list of header lines is not supported)`, v)
	}
	return nil
}

func skipRows(v any, set config.Values) error {
	n, ok := v.(int)
	if !ok || n < 0 {
		return fmt.Errorf("want a number of lines ≥ 0, got %v (a list of line numbers is not supported)", v)
	}
	set["skip_rows"] = int64(n) + asInt(set["skip_rows"])
	return nil
}

func asInt(v any) int64 { n, _ := v.(int64); return n }

func naValues(v any, set config.Values) error {
	prev, _ := set["null_values"].([]string)
	switch x := v.(type) {
	case string:
		set["null_values"] = append(prev, x)
	case []any:
		for _, e := range x {
			if _, ok := e.(map[string]any); ok {
				return fmt.Errorf("want a string or a list of strings (per-column missing values are not supported)")
			}
			prev = append(prev, fmt.Sprint(e))
		}
		set["null_values"] = prev
	default:
		return fmt.Errorf("want a string or a list of strings (per-column missing values are not supported), got %v", v)
	}
	return nil
}

// dtype: one type for every column (str: text), or a mapping of column names to types.
func dtype(v any, set config.Values) error {
	switch x := v.(type) {
	case string:
		t, err := duckType(x)
		if err != nil {
			return err
		}
		if t != "VARCHAR" {
			return fmt.Errorf("one type for every column is supported only as str (text), got %q", x)
		}
		set["all_varchar"] = true
	case map[string]any:
		types := map[string]any{}
		for col, tv := range x {
			t, err := duckType(fmt.Sprint(tv))
			if err != nil {
				return fmt.Errorf("column %s: %w", col, err)
			}
			types[col] = t
		}
		set["column_types"] = types
	default:
		return fmt.Errorf("want a type or a mapping of column names to types, got %v", v)
	}
	return nil
}

// duckType maps a pandas/numpy dtype name (or a DuckDB type name) to a DuckDB type.
func duckType(t string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(t)) {
	case "str", "string", "object", "varchar", "text":
		return "VARCHAR", nil
	case "int", "int64", "Int64", "bigint":
		return "BIGINT", nil
	case "int32", "integer":
		return "INTEGER", nil
	case "float", "float64", "double":
		return "DOUBLE", nil
	case "bool", "boolean":
		return "BOOLEAN", nil
	case "date":
		return "DATE", nil
	case "timestamp", "datetime64[ns]":
		return "TIMESTAMP", nil
	}
	return "", fmt.Errorf("type %q is not supported (str, int64, int32, float64, bool, date, timestamp)", t)
}

func boolTo(key string) argRule {
	return func(v any, set config.Values) error {
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("want true or false, got %v", v)
		}
		set[key] = b
		return nil
	}
}

func stringTo(key string) argRule {
	return func(v any, set config.Values) error {
		s, ok := v.(string)
		if !ok || s == "" {
			return fmt.Errorf("want a strptime format, got %v", v)
		}
		set[key] = s
		return nil
	}
}
