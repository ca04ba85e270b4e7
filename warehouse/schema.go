package warehouse

import (
	"fmt"
	"github.com/dangohq/dango/batch"
	"regexp"
	"strconv"
	"strings"
)

// SchemaChange is one change a load made to a table's columns.
type SchemaChange struct {
	Table   string // schema.table
	Column  string
	Change  string // "add_column", "widen_type", "drop_not_null" or "renamed"
	OldType string // for "renamed": the column an older dango loaded the key into
	NewType string
	Key     string // "renamed": the source key (path joined with ".")
	Reused  string // "renamed": the key that now loads into the OldType column, if any
}

func (c SchemaChange) String() string {
	switch c.Change {
	case "add_column":
		return fmt.Sprintf("added column %s.%s (%s)", c.Table, c.Column, c.NewType)
	case "renamed":
		msg := fmt.Sprintf("%s: %s now loads into %s (dlt's name); older dango loaded it into %s, which keeps the earlier rows", c.Table, c.Key, c.Column, c.OldType)
		if c.Reused != "" {
			msg += fmt.Sprintf(" and from now on holds %s", c.Reused)
		}
		return msg + " (dango sync --full-refresh reloads the table under the new names)"
	case "drop_not_null":
		return fmt.Sprintf("%s.%s may now be NULL (dlt pipelines do not write it)", c.Table, c.Column)
	}
	return fmt.Sprintf("widened %s.%s from %s to %s", c.Table, c.Column, c.OldType, c.NewType)
}

// TypeChangeError is an incoming type the existing column cannot hold.
type TypeChangeError struct {
	Table, Column, Old, New string
}

func (e *TypeChangeError) Error() string {
	return fmt.Sprintf("%s: column %s changed type from %s to %s, which the existing data cannot widen to; "+
		"fix the source, pin the type (column_types), or reload the table with --full-refresh", e.Table, e.Column, e.Old, e.New)
}

// Ranks of the widening chains: integers widen to larger integers, then to DOUBLE; dates to
// timestamps; anything to VARCHAR.
var intRank = map[string]int{
	"TINYINT": 1, "UTINYINT": 2, "SMALLINT": 2, "USMALLINT": 3, "INTEGER": 3, "UINTEGER": 4,
	"BIGINT": 4, "UBIGINT": 5, "HUGEINT": 5,
}
var intDigits = map[string]int{
	"TINYINT": 3, "UTINYINT": 3, "SMALLINT": 5, "USMALLINT": 5, "INTEGER": 10, "UINTEGER": 10,
	"BIGINT": 19, "UBIGINT": 20, "HUGEINT": 38,
}
var timeRank = map[string]int{
	"DATE": 1, "TIMESTAMP_S": 2, "TIMESTAMP_MS": 2, "TIMESTAMP": 2, "TIMESTAMP_NS": 2, "TIMESTAMP WITH TIME ZONE": 3,
}

var decimalRE = regexp.MustCompile(`^DECIMAL\((\d+),\s*(\d+)\)$`)

func isText(t string) bool  { return t == "VARCHAR" }
func isFloat(t string) bool { return t == "FLOAT" || t == "DOUBLE" }

// widen decides what an existing column of type old must become to hold values of type incoming:
// old itself when it already can (the insert casts), a wider type, or ok=false when no
// widening keeps the existing data.
func widen(old, incoming string) (string, bool) {
	old, incoming = canonicalType(old), canonicalType(incoming)
	switch {
	case old == incoming, isText(old):
		return old, true
	case isText(incoming):
		return "VARCHAR", true
	}
	oi, oInt := intRank[old]
	ii, iInt := intRank[incoming]
	od := decimalRE.FindStringSubmatch(old)
	id := decimalRE.FindStringSubmatch(incoming)
	switch {
	case oInt && iInt:
		if ii > oi {
			return incoming, true
		}
		return old, true
	case isFloat(old) && (iInt || id != nil || isFloat(incoming)):
		if old == "FLOAT" && incoming == "DOUBLE" {
			return "DOUBLE", true
		}
		return old, true
	case isFloat(incoming) && (oInt || od != nil):
		return "DOUBLE", true
	case od != nil || id != nil:
		// Exact numerics stay exact while 38 digits suffice.
		p1, s1 := decimalDigits(old, od)
		p2, s2 := decimalDigits(incoming, id)
		if p1 < 0 || p2 < 0 {
			return "", false
		}
		whole := max(p1-s1, p2-s2)
		scale := max(s1, s2)
		if whole+scale > 38 {
			return "DOUBLE", true
		}
		t := fmt.Sprintf("DECIMAL(%d,%d)", whole+scale, scale)
		if p1 == whole+scale && s1 == scale {
			return old, true
		}
		return t, true
	}
	if or, ok := timeRank[old]; ok {
		if ir, ok := timeRank[incoming]; ok {
			if ir > or {
				return incoming, true
			}
			return old, true
		}
	}
	return "", false
}

// decimalDigits returns precision and scale of a DECIMAL or integer type (-1 if neither).
func decimalDigits(t string, m []string) (int, int) {
	if m != nil {
		p, _ := strconv.Atoi(m[1])
		s, _ := strconv.Atoi(m[2])
		return p, s
	}
	if d, ok := intDigits[t]; ok {
		return d, 0
	}
	return -1, -1
}

// typeAlias matches DuckDB's alternative type names, which the catalog renders canonically.
var typeAlias = regexp.MustCompile(`\b(TIMESTAMPTZ|TIMETZ|INT8|INT4|INT2|INT1|INT|FLOAT8|FLOAT4|REAL|BOOL|STRING|TEXT|BYTEA|NUMERIC)\b`)

var canonical = map[string]string{"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE", "TIMETZ": "TIME WITH TIME ZONE",
	"INT8": "BIGINT", "INT4": "INTEGER", "INT2": "SMALLINT", "INT1": "TINYINT", "INT": "INTEGER", "FLOAT8": "DOUBLE",
	"FLOAT4": "FLOAT", "REAL": "FLOAT", "BOOL": "BOOLEAN", "STRING": "VARCHAR", "TEXT": "VARCHAR", "BYTEA": "BLOB", "NUMERIC": "DECIMAL"}

// canonicalType renders a type as DuckDB's catalog does (TIMESTAMPTZ is TIMESTAMP WITH TIME
// ZONE), so a connector's spelling never reads as a type change.
func canonicalType(t string) string {
	if p, err := batch.ParseType(t); err == nil {
		return p.String()
	}
	return typeAlias.ReplaceAllStringFunc(strings.ToUpper(strings.TrimSpace(t)), func(a string) string { return canonical[a] })
}
