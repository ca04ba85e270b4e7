package file

import (
	"strings"

	"github.com/dangohq/dango/batch"
)

// flatten expands a STRUCT-typed column into one column per leaf field, paths kept so the
// writer can extract them; other types (lists included) stay one column.
func flatten(path []string, typ string) []batch.Column {
	fields, ok := structFields(typ)
	if !ok || len(fields) == 0 {
		return []batch.Column{{Path: path, Type: typ}}
	}
	var out []batch.Column
	for _, f := range fields {
		p := append(append([]string(nil), path...), f.name)
		out = append(out, flatten(p, f.typ)...)
	}
	return out
}

type structField struct{ name, typ string }

// structFields parses DuckDB's rendering of a struct type, STRUCT(a INTEGER, "b c" VARCHAR,
// d STRUCT(e DOUBLE)), into its fields. A list of structs (STRUCT(…)[]) is not a struct.
func structFields(typ string) ([]structField, bool) {
	if !strings.HasPrefix(typ, "STRUCT(") || !strings.HasSuffix(typ, ")") {
		return nil, false
	}
	body := typ[len("STRUCT(") : len(typ)-1]
	// The closing paren must match the opening one, or this is e.g. STRUCT(a INT)[] handled above.
	var fields []structField
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
		fields = append(fields, structField{name: name, typ: strings.TrimSpace(rest)})
	}
	return fields, true
}
