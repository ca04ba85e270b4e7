package dbtcompat

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"
)

// Kinds of difference. A difference's key is "<kind> <subject>"; the subject is a node's
// unique id, a compiled file's path under target/compiled, a relation "schema.name", a column
// "schema.name.column", or a step name.
const (
	KindStep          = "step"           // a command's exit status class differs (subject: deps, seed, build, ls)
	KindNodeMissing   = "node-missing"   // dbt lists the node, dango does not
	KindNodeExtra     = "node-extra"     // dango lists a node dbt does not
	KindStatus        = "status"         // the node's status in run_results.json differs (or one side has none)
	KindSQL           = "sql"            // compiled SQL differs after whitespace normalisation
	KindSQLMissing    = "sql-missing"    // dbt compiled the file, dango did not
	KindSQLExtra      = "sql-extra"      // dango compiled a file dbt did not
	KindTableMissing  = "table-missing"  // a relation in dbt's warehouse only
	KindTableExtra    = "table-extra"    // a relation in dango's warehouse only
	KindRelationType  = "relation-type"  // table vs view
	KindColumnMissing = "column-missing" // a column in dbt's relation only
	KindColumnExtra   = "column-extra"   // a column in dango's relation only
	KindType          = "type"           // a column's DuckDB type differs
	KindColumnOrder   = "column-order"   // same columns, other order
	KindValue         = "value"          // a column's values differ (compared as multisets; subject schema.name.column)
	KindRows          = "rows"           // every column's values agree, but they pair up into other rows (or a side cannot be read)
)

var kinds = []string{KindStep, KindNodeMissing, KindNodeExtra, KindStatus, KindSQL, KindSQLMissing,
	KindSQLExtra, KindTableMissing, KindTableExtra, KindRelationType, KindColumnMissing,
	KindColumnExtra, KindType, KindColumnOrder, KindValue, KindRows}

func isKind(k string) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Allowance is one row of docs/dbt-differences.md: a difference that is accepted, with why.
type Allowance struct {
	Line    int    // line in the file, for messages
	Project string // a package name of the corpus, "*" for all, "-" for a row the suite does not check
	What    string // "<kind> <subject pattern>"
	DBT     string
	Dango   string
	Why     string

	kind, pattern string
}

// Matches reports whether the allowance covers difference key in project p.
func (a Allowance) Matches(p, key string) bool {
	if a.Project == "-" || (a.Project != "*" && a.Project != p) {
		return false
	}
	kind, subject, ok := strings.Cut(key, " ")
	if !ok || kind != a.kind {
		return false
	}
	m, _ := path.Match(a.pattern, subject)
	return m
}

const header = "| project | what | dbt | dango | why |"

var whatRE = regexp.MustCompile(`^([a-z-]+) (\S+)$`)

// ParseDifferences reads the differences table: the first markdown table whose header is
// exactly header. Every row must be well formed, and name a project of projects (a typo
// would otherwise allow nothing and go unnoticed).
func ParseDifferences(file string, projects map[string]bool) ([]Allowance, error) {
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
			return nil, fmt.Errorf("%s:%d: a row needs 5 cells (project, what, dbt, dango, why), found %d", file, line, len(cells))
		}
		a := Allowance{Line: line, Project: unquote(cells[0]), What: unquote(cells[1]), DBT: cells[2], Dango: cells[3], Why: cells[4]}
		if a.Why == "" {
			return nil, fmt.Errorf("%s:%d: the why cell is empty: say why the difference is right", file, line)
		}
		switch {
		case a.Project == "-":
			// not checked by the suite; what is free text
		case a.Project == "*" || projects[a.Project]:
			m := whatRE.FindStringSubmatch(a.What)
			if m == nil || !isKind(m[1]) {
				return nil, fmt.Errorf("%s:%d: what %q is not of the form `kind subject` (kind: %s)", file, line, a.What, strings.Join(kinds, ", "))
			}
			a.kind, a.pattern = m[1], m[2]
			if _, err := path.Match(a.pattern, ""); err != nil {
				return nil, fmt.Errorf("%s:%d: bad pattern %q in what: %w", file, line, a.pattern, err)
			}
		default:
			return nil, fmt.Errorf("%s:%d: project %q is not a package of the suite (use one of corpus.tsv's names, * for every project, or - for a difference the suite does not check)", file, line, a.Project)
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

func normalizeRow(s string) string { return "| " + strings.Join(splitRow(s), " | ") + " |" }

func unquote(s string) string { return strings.TrimSpace(strings.Trim(s, "`")) }
