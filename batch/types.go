package batch

import (
	"strings"

	"github.com/dangohq/dango/naming"
)

// Flatten expands a STRUCT-typed column into one column per leaf field, paths kept so the
// writer can extract them, names joined with "__" as dlt does; other types (lists included)
// stay one column.
func Flatten(path []string, typ string) []Column {
	fields, ok := StructFields(typ)
	if !ok || len(fields) == 0 {
		return []Column{{Path: path, Type: typ}}
	}
	var out []Column
	for _, f := range fields {
		p := append(append([]string(nil), path...), f.Name)
		out = append(out, Flatten(p, f.Type)...)
	}
	return out
}

// ListElement returns the element type of a list type ("STRUCT(a INTEGER)[]" → "STRUCT(a
// INTEGER)") and whether typ is a list at all.
func ListElement(typ string) (string, bool) {
	if !strings.HasSuffix(typ, "[]") {
		return "", false
	}
	return strings.TrimSuffix(typ, "[]"), true
}

// NameFrom gives columns their warehouse names from their paths, skipping the first skip
// segments: each segment snake_cased, joined with "__", duplicates made unique.
func NameFrom(cols []Column, skip int) {
	names := make([]string, len(cols))
	for i, c := range cols {
		segs := make([]string, 0, len(c.Path))
		for _, p := range c.Path[skip:] {
			segs = append(segs, naming.Snake(p))
		}
		names[i] = strings.Join(segs, "__")
		if names[i] == "" {
			names[i] = "value"
		}
	}
	for i, n := range naming.Unique(names) {
		cols[i].Name = n
	}
}

// StructField is one field of a STRUCT type.
type StructField struct{ Name, Type string }

// StructFields parses DuckDB's rendering of a struct type, STRUCT(a INTEGER, "b c" VARCHAR,
// d STRUCT(e DOUBLE)), into its fields. A list of structs (STRUCT(…)[]) is not a struct.
func StructFields(typ string) ([]StructField, bool) {
	if !strings.HasPrefix(typ, "STRUCT(") || !strings.HasSuffix(typ, ")") {
		return nil, false
	}
	body := typ[len("STRUCT(") : len(typ)-1]
	// The closing paren must match the opening one, or this is e.g. STRUCT(a INT)[] handled above.
	var fields []StructField
	depth, start := 0, 0
	inQuote := false
	parts := []string{}
	for i := 0; i < len(body); i++ {
		switch ch := body[i]; {
		case ch == '"':
			inQuote = !inQuote
		case inQuote:
		case ch == '(':
			depth++
		case ch == ')':
			depth--
			if depth < 0 {
				return nil, false
			}
		case ch == ',' && depth == 0:
			parts = append(parts, body[start:i])
			start = i + 1
		}
	}
	if depth != 0 || inQuote {
		return nil, false
	}
	parts = append(parts, body[start:])
	for _, p := range parts {
		p = strings.TrimSpace(p)
		var name, rest string
		if strings.HasPrefix(p, `"`) {
			end := 1
			for end < len(p) {
				if p[end] == '"' {
					if end+1 < len(p) && p[end+1] == '"' {
						end += 2
						continue
					}
					break
				}
				end++
			}
			if end >= len(p) {
				return nil, false
			}
			name = strings.ReplaceAll(p[1:end], `""`, `"`)
			rest = p[end+1:]
		} else {
			sp := strings.IndexByte(p, ' ')
			if sp < 0 {
				return nil, false
			}
			name, rest = p[:sp], p[sp:]
		}
		fields = append(fields, StructField{Name: name, Type: strings.TrimSpace(rest)})
	}
	return fields, true
}
