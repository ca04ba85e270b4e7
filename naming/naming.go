// Package naming turns source names (CSV headers, JSON keys, API fields) into warehouse
// identifiers the way dlt's snake_case convention does, so that a table loaded by dango and
// one loaded by dlt have the same column names and users can move between the two.
package naming

import (
	"strconv"
	"strings"
	"unicode"
)

// Snake normalizes one identifier: camelCase and PascalCase split into words, everything
// lower case, any run of characters other than letters and digits becomes one underscore,
// and a leading digit gets an underscore in front. An empty result becomes "_".
func Snake(s string) string {
	rs := []rune(strings.TrimSpace(s))
	var b strings.Builder
	b.Grow(len(s) + 4)
	lastUnderscore := true // suppress leading underscores from separators…
	if len(rs) > 0 && rs[0] == '_' {
		b.WriteByte('_') // …but keep a name's own leading underscore (_id, _dlt_id)
	}
	for i, r := range rs {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if unicode.IsUpper(r) && i > 0 && !lastUnderscore {
				prev := rs[i-1]
				nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
				if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
					b.WriteByte('_')
				}
			}
			b.WriteRune(unicode.ToLower(r))
			lastUnderscore = false
		default:
			if !lastUnderscore {
				b.WriteByte('_')
				lastUnderscore = true
			}
		}
	}
	out := strings.TrimRight(b.String(), "_")
	if out == "" || out == "_" {
		return "_"
	}
	if unicode.IsDigit(rune(out[0])) {
		out = "_" + out
	}
	return out
}

// Unique makes already-normalized names unique by appending _2, _3, … to later duplicates.
func Unique(names []string) []string {
	out := make([]string, len(names))
	used := make(map[string]bool, len(names))
	for i, base := range names {
		name := base
		for k := 2; used[name]; k++ {
			name = base + "_" + strconv.Itoa(k)
		}
		used[name] = true
		out[i] = name
	}
	return out
}

// Quote returns s as a double-quoted SQL identifier.
func Quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Literal returns s as a single-quoted SQL string literal.
func Literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
