package dltcompat

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"
)

// Kinds of difference the comparison reports. A key is "<table>.<column> <kind>" for column
// kinds and "<table> <kind>" for table kinds.
const (
	KindMissing = "missing" // in dlt's output, not in dango's (a table or a column)
	KindExtra   = "extra"   // in dango's output, not in dlt's
	KindType    = "type"    // a column's DuckDB type (with NOT NULL) differs
	KindValue   = "value"   // a column's values differ (compared as multisets)
	KindRows    = "rows"    // a table's row count, or its rows as a whole, differ
)

// Allowance is one row of docs/dlt-differences.md: a difference that is accepted, with why.
type Allowance struct {
	Line  int    // line in the file, for messages
	Case  string // a case name, "*" for every case, "-" for a row the suite does not check
	What  string // "<table>[.<column>] <kind>"; table and column may be path.Match patterns
	DLT   string
	Dango string
	Why   string

	table, column, kind string
}

var whatRE = regexp.MustCompile(`^([^\s.]+)(?:\.([^\s.]+))? (missing|extra|type|value|rows)$`)

// Matches reports whether the allowance covers difference key (for case name c).
func (a Allowance) Matches(c, key string) bool {
	if a.Case == "-" || (a.Case != "*" && a.Case != c) {
		return false
	}
	m := whatRE.FindStringSubmatch(key)
	if m == nil || m[3] != a.kind || (m[2] == "") != (a.column == "") {
		return false
	}
	if ok, _ := path.Match(a.table, m[1]); !ok {
		return false
	}
	if a.column != "" {
		if ok, _ := path.Match(a.column, m[2]); !ok {
			return false
		}
	}
	return true
}

// SkipsValues reports whether the allowance accepts any values in table.column, so that the
// column is left out of the row keys the comparison builds.
func (a Allowance) SkipsValues(c, table, column string) bool {
	return a.Matches(c, table+"."+column+" "+KindValue)
}

const header = "| case | what | dlt | dango | why |"

// ParseDifferences reads the differences table: the first markdown table whose header is
// exactly header. Every row must be well formed; cases names the suite's cases, and a row
// naming another case is an error (a typo would otherwise allow nothing and go unnoticed).
func ParseDifferences(file string, cases map[string]bool) ([]Allowance, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("open the differences table: %w", err)
	}
	defer f.Close()
	var out []Allowance
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line, state := 0, 0 // 0 before the header, 1 expecting the separator, 2 in rows, 3 after
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		switch state {
		case 0:
			if normalizeRow(text) == header {
				state = 1
			}
			continue
		case 1:
			if !strings.HasPrefix(text, "|") || strings.Trim(text, "|-: ") != "" {
				return nil, fmt.Errorf("%s:%d: expected the table's |---| separator line after its header", file, line)
			}
			state = 2
			continue
		case 3:
			continue
		}
		if !strings.HasPrefix(text, "|") {
			state = 3
			continue
		}
		cells := splitRow(text)
		if len(cells) != 5 {
			return nil, fmt.Errorf("%s:%d: a row needs 5 cells (case, what, dlt, dango, why), found %d", file, line, len(cells))
		}
		a := Allowance{Line: line, Case: unquote(cells[0]), What: unquote(cells[1]), DLT: cells[2], Dango: cells[3], Why: cells[4]}
		if a.Why == "" {
			return nil, fmt.Errorf("%s:%d: the why cell is empty: say why the difference is right", file, line)
		}
		switch {
		case a.Case == "-":
			// not checked by the side-by-side suite; what is free text
		case a.Case == "*" || cases[a.Case]:
			m := whatRE.FindStringSubmatch(a.What)
			if m == nil {
				return nil, fmt.Errorf("%s:%d: what %q is not of the form `table.column kind` or `table kind` (kind: missing, extra, type, value, rows)", file, line, a.What)
			}
			a.table, a.column, a.kind = m[1], m[2], m[3]
			for _, p := range []string{a.table, a.column} {
				if _, err := path.Match(p, ""); err != nil {
					return nil, fmt.Errorf("%s:%d: bad pattern %q in what: %w", file, line, p, err)
				}
			}
		default:
			return nil, fmt.Errorf("%s:%d: case %q is not a case of the side-by-side suite (use one of its names, * for every case, or - for a difference the suite does not check)", file, line, a.Case)
		}
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	if state == 0 {
		return nil, fmt.Errorf("%s: no table with the header %s", file, header)
	}
	return out, nil
}

// splitRow splits "| a | b \| c |" into trimmed cells, honouring escaped pipes.
func splitRow(s string) []string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "|")
	if strings.HasSuffix(s, "|") && !strings.HasSuffix(s, `\|`) {
		s = s[:len(s)-1]
	}
	var cells []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '|':
			b.WriteByte('|')
			i++
		case s[i] == '|':
			cells = append(cells, strings.TrimSpace(b.String()))
			b.Reset()
		default:
			b.WriteByte(s[i])
		}
	}
	return append(cells, strings.TrimSpace(b.String()))
}

func normalizeRow(s string) string {
	return "| " + strings.Join(splitRow(s), " | ") + " |"
}

func unquote(s string) string { return strings.TrimSpace(strings.Trim(s, "`")) }
