// Package naming turns source names (CSV headers, JSON keys, API fields) into warehouse
// identifiers exactly the way dlt's default snake_case naming convention does, so that a table
// loaded by dango and one loaded by dlt have the same column names and users can move between
// the two. The rules are checked name by name against dlt's own normalizer (naming_test.go).
package naming

import (
	"crypto/sha3"
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// PathSeparator joins the segments of a nested name (a child table, a flattened column), as
// in dlt.
const PathSeparator = "__"

// EmptyKey is the name dlt gives a key that is empty or only white space.
const EmptyKey = "_empty"

// MaxLength is dlt's identifier length limit for DuckDB; longer names are shortened with a
// hash tag in the middle, as dlt does.
const MaxLength = 65536

var (
	reduceAlphabet = strings.NewReplacer("+", "x", "-", "_", "*", "x", "@", "a", "|", "l")
	// Python's \d in a str pattern is any Unicode decimal digit (category Nd), hence \p{Nd}.
	reNonAlnum      = regexp.MustCompile(`[^a-zA-Z\p{Nd}_]+`)
	reBreak1        = regexp.MustCompile(`([^_])([A-Z][a-z]+)`)
	reBreak2        = regexp.MustCompile(`([a-z0-9])([A-Z])`)
	reLeadingDigits = regexp.MustCompile(`^\p{Nd}`)
	reUnderscores   = regexp.MustCompile(`__+`)
)

// pyIsSpace is Python's str.isspace for one rune: Go's white space plus the information
// separators U+001C…U+001F, which Python's str.strip also removes.
func pyIsSpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }

// Identifier normalizes one name as dlt's snake_case NormalizingConvention.normalize_identifier
// does: trim white space; '+' and '*' become 'x', '-' '_', '@' 'a', '|' 'l'; every run of
// characters other than ASCII letters, decimal digits and '_' becomes one '_'; camelCase and
// PascalCase words split with '_'; lower case; a leading digit gets '_' in front; each trailing
// '_' becomes 'x'; runs of '_' collapse to one. A name that is empty after trimming becomes
// EmptyKey (dlt's name for an empty key in data).
func Identifier(s string) string {
	s = strings.TrimFunc(s, pyIsSpace)
	if s == "" {
		return EmptyKey
	}
	return shorten(identifier(s), s)
}

func identifier(s string) string {
	n := reduceAlphabet.Replace(s)
	n = reNonAlnum.ReplaceAllString(n, "_")
	n = reBreak1.ReplaceAllString(n, "${1}_${2}")
	n = strings.ToLower(reBreak2.ReplaceAllString(n, "${1}_${2}"))
	if reLeadingDigits.MatchString(n) {
		n = "_" + n
	}
	stripped := strings.TrimRight(n, "_")
	n = stripped + strings.Repeat("x", len(n)-len(stripped))
	return reUnderscores.ReplaceAllString(n, "_")
}

// Snake normalizes a name the way dlt normalizes a key in data and a table name
// (normalize_path): the name is split at "__", each non-blank part is normalized with
// Identifier, and the parts are joined with "__" again — so "a__b" stays "a__b" while "a___b"
// keeps its third underscore. An empty or blank name becomes EmptyKey. A name made only of
// separators ("__") becomes "", as in dlt; callers that need a name check for it.
func Snake(s string) string {
	if strings.TrimFunc(s, pyIsSpace) == "" {
		return EmptyKey
	}
	var parts []string
	for _, p := range strings.Split(s, PathSeparator) {
		if strings.TrimFunc(p, pyIsSpace) != "" {
			parts = append(parts, Identifier(p))
		}
	}
	return shorten(strings.Join(parts, PathSeparator), s)
}

// shorten cuts a normalized name longer than MaxLength to MaxLength, putting a tag computed
// from the original name in the middle, as dlt's shorten_identifier does.
func shorten(normalized, original string) string {
	if len(normalized) <= MaxLength {
		return normalized
	}
	// dlt: ((2+1)·log2(1/0.001)) // 8 + 1 = 4 bytes of SHAKE-128, base64 without padding,
	// '/'→'a', '+'→'b', lower case.
	d := sha3.SumSHAKE128([]byte(original), 4)
	tag := strings.ToLower(strings.NewReplacer("/", "a", "+", "b").Replace(
		strings.TrimRight(base64.StdEncoding.EncodeToString(d), "=")))
	rem := MaxLength - len(tag)
	return normalized[:rem/2+rem%2] + tag + normalized[len(normalized)-rem/2:]
}

// LegacySnake is how dango before dlt's exact rules normalized a name (kept to tell users,
// once, which of their columns the new names moved; see warehouse). Not for new names.
func LegacySnake(s string) string {
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
// dlt does not do this: two keys that normalize to the same name become one column there,
// and the later value in a record overwrites the earlier. dango keeps both (see
// docs/dlt-differences.md).
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
