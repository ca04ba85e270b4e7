package batch

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dangohq/dango/naming"
)

// Reader options are a closed set per format: exactly those the connectors produce (the
// file connector from sources.yml and DuckDB's sniffer, the REST and database spools),
// each with a typed value. A key outside the set, or a value of the wrong kind, rejects the
// batch: a message's option text never reaches SQL, only the allowlisted key and a value
// rendered from its checked Go form.
type optKind int

const (
	optBool    optKind = iota
	optInt             // integral number within [min, max]
	optString          // text of at most max bytes
	optEnum            // one of enum
	optStrings         // a string or a list of strings (nullstr)
	optTypes           // column name → DuckDB type (types)
)

type optSpec struct {
	kind     optKind
	min, max int64
	enum     []string
}

var (
	boolOpt    = optSpec{kind: optBool}
	charOpt    = optSpec{kind: optString, max: 4} // one character, which may take up to 4 bytes
	formatOpt  = optSpec{kind: optString, max: 256}
	sampleOpt  = optSpec{kind: optInt, min: -1, max: math.MaxInt32}
	unionByOpt = optSpec{kind: optBool}
)

var readerOptions = map[string]map[string]optSpec{
	"csv": {
		"auto_detect": boolOpt, "header": boolOpt, "all_varchar": boolOpt, "union_by_name": unionByOpt,
		"allow_quoted_nulls": boolOpt, "strict_mode": boolOpt,
		"delim": charOpt, "quote": charOpt, "escape": charOpt, "comment": charOpt, "new_line": charOpt, "decimal_separator": charOpt,
		"skip":            {kind: optInt, min: 0, max: math.MaxInt32},
		"sample_size":     sampleOpt,
		"max_line_size":   {kind: optInt, min: 1, max: 1 << 32},
		"buffer_size":     {kind: optInt, min: 1, max: 1 << 34},
		"nullstr":         {kind: optStrings, max: 256},
		"dateformat":      formatOpt,
		"timestampformat": formatOpt,
		"encoding":        {kind: optEnum, enum: []string{"utf-8", "utf-16", "latin-1"}},
		"types":           {kind: optTypes},
	},
	"json": {
		"format":        {kind: optEnum, enum: []string{"auto", "newline_delimited", "array"}},
		"sample_size":   sampleOpt,
		"union_by_name": unionByOpt,
		// connectors/file passes a raised max_object_size on to DuckDB
		"maximum_object_size": {kind: optInt, min: 1, max: 1 << 34},
	},
	"parquet": {
		"union_by_name": unionByOpt,
	},
}

// OptionsSQL checks a format's reader options against the allowlist and renders them as
// ", key = value" pairs, sorted by key.
func OptionsSQL(format string, opts map[string]any) (string, error) {
	allowed, ok := readerOptions[format]
	if !ok {
		return "", fmt.Errorf("unknown reader format %s (csv, json or parquet)", Short(format))
	}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		spec, ok := allowed[k]
		if !ok {
			return "", fmt.Errorf("reader option %s is not one dango uses for %s files", Short(k), format)
		}
		v, err := spec.render(opts[k])
		if err != nil {
			return "", fmt.Errorf("reader option %s: %w", k, err)
		}
		// k is a key of the allowlist (checked above), not text to escape.
		fmt.Fprintf(&b, ", %s = %s", k, v)
	}
	return b.String(), nil
}

func (o optSpec) render(v any) (string, error) {
	switch o.kind {
	case optBool:
		x, ok := v.(bool)
		if !ok {
			return "", fmt.Errorf("want true or false, got %s", kindOf(v))
		}
		return strconv.FormatBool(x), nil
	case optInt:
		n, ok := integer(v)
		if !ok {
			return "", fmt.Errorf("want a whole number, got %s", kindOf(v))
		}
		if n < o.min || n > o.max {
			return "", fmt.Errorf("%d is outside %d..%d", n, o.min, o.max)
		}
		return strconv.FormatInt(n, 10), nil
	case optString:
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("want text, got %s", kindOf(v))
		}
		if err := checkText(s, int(o.max)); err != nil {
			return "", err
		}
		return naming.Literal(s), nil
	case optEnum:
		s, ok := v.(string)
		if ok {
			for _, e := range o.enum {
				if s == e {
					return naming.Literal(e), nil
				}
			}
		}
		return "", fmt.Errorf("want one of %s", strings.Join(o.enum, ", "))
	case optStrings:
		var list []string
		switch x := v.(type) {
		case string:
			if err := checkText(x, int(o.max)); err != nil {
				return "", err
			}
			return naming.Literal(x), nil
		case []string:
			list = x
		case []any:
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return "", fmt.Errorf("want a list of text, got an element of %s", kindOf(e))
				}
				list = append(list, s)
			}
		default:
			return "", fmt.Errorf("want text or a list of text, got %s", kindOf(v))
		}
		if len(list) > 1024 {
			return "", fmt.Errorf("list of %d values, more than 1024", len(list))
		}
		parts := make([]string, len(list))
		for i, s := range list {
			if err := checkText(s, int(o.max)); err != nil {
				return "", err
			}
			parts[i] = naming.Literal(s)
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	case optTypes:
		var m map[string]string
		switch x := v.(type) {
		case map[string]string:
			m = x
		case map[string]any:
			m = make(map[string]string, len(x))
			for k, e := range x {
				s, ok := e.(string)
				if !ok {
					return "", fmt.Errorf("type of column %s: want text, got %s", Short(k), kindOf(e))
				}
				m[k] = s
			}
		default:
			return "", fmt.Errorf("want a map of column name to type, got %s", kindOf(v))
		}
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		sort.Strings(names)
		parts := make([]string, len(names))
		for i, k := range names {
			if err := checkText(k, maxNameLen); err != nil || k == "" {
				return "", fmt.Errorf("column name %s is not acceptable", Short(k))
			}
			t, err := SQLType(m[k])
			if err != nil {
				return "", fmt.Errorf("column %s: %w", Short(k), err)
			}
			parts[i] = naming.Literal(k) + ": " + naming.Literal(t)
		}
		return "{" + strings.Join(parts, ", ") + "}", nil
	}
	return "", fmt.Errorf("unsupported option kind")
}

// integer accepts the forms a whole number takes in Go and after a JSON round trip.
func integer(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case float64:
		if x != math.Trunc(x) || math.IsInf(x, 0) || math.Abs(x) > 1<<53 {
			return 0, false
		}
		return int64(x), true
	}
	return 0, false
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "text"
	case bool:
		return "a boolean"
	case float64, int, int64, int32:
		return "a number"
	case []any, []string:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// checkText refuses text a connector never produces for SQL: NUL bytes, invalid UTF-8, or
// more than max bytes.
func checkText(s string, max int) error {
	switch {
	case len(s) > max:
		return fmt.Errorf("text of %d bytes, more than %d", len(s), max)
	case !utf8.ValidString(s):
		return fmt.Errorf("text %s is not valid UTF-8", Short(s))
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("text %s contains a NUL byte", Short(s))
	}
	return nil
}
