package transform

// Seeds are typed the way dbt-core types them: dbt reads the CSV into an agate table whose
// column types come from a fixed list of tests (dbt's own list, not agate's default one), the
// adapter turns each agate type into a SQL type (a Number becomes integer unless a value has
// decimal places), the table is created with those types and — dbt-duckdb's default "fast"
// mode — DuckDB's COPY then reads the file into it. Doing the same here means the table's
// column types and every loaded value (cast by DuckDB from the file's text) match dbt's.

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// seedType is one of the agate types dbt tests a seed column against, in dbt's order.
type seedType int

const (
	typeInteger     seedType = iota // only for columns without a single value (an empty seed)
	typeNumber                      // agate Number; integer or float8 by its decimal places
	typeDate                        // %Y-%m-%d
	typeDateTime                    // %Y-%m-%d %H:%M:%S
	typeISODateTime                 // ISO 8601 with a T
	typeBoolean                     // true / false
	typeText
	numSeedTypes
)

// seedNull is what dbt's type tests read as a missing value (dbt narrows agate's default list
// to these two, compared after trimming and lower-casing).
func seedNull(v string) bool {
	v = strings.ToLower(strings.TrimSpace(v))
	return v == "" || v == "null"
}

// seedColumn is what inference learned about one column.
type seedColumn struct {
	Name      string
	Type      seedType
	Decimals  bool   // a Number column with decimal places (float8)
	SQLType   string // what the table is created with
	Overriden bool   // from column_types
}

// seedTable is a CSV as dbt reads it: header, row count and inferred columns.
type seedTable struct {
	Columns []seedColumn
	Rows    int
}

// readSeed reads and types a seed file as dbt's agate loading does. textCols are column_types'
// names: forced to text for inference, their type taken from column_types.
func readSeed(file string, delimiter rune, columnTypes map[string]string) (*seedTable, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	if r, _, err := br.ReadRune(); err == nil && r != '\uFEFF' {
		br.UnreadRune()
	}
	cr := csv.NewReader(br)
	cr.Comma, cr.LazyQuotes, cr.FieldsPerRecord, cr.ReuseRecord = delimiter, true, -1, false
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the seed file is empty: it needs at least a header row naming its columns")
	}
	if err != nil {
		return nil, fmt.Errorf("read CSV: %w", err)
	}
	names := agateNames(header)
	for name := range columnTypes {
		if !containsStr(names, name) {
			return nil, fmt.Errorf("column_types names column %q, which this seed does not have (its columns: %s); column names are matched exactly", name, strings.Join(names, ", "))
		}
	}
	// Every type starts possible; a value that does not fit a type rules it out.
	possible := make([][numSeedTypes]bool, len(names))
	for i := range possible {
		for t := range possible[i] {
			possible[i][t] = true
		}
	}
	prec := make([]precision, len(names))
	for i := range prec {
		prec[i].whole = 1
	}
	t := &seedTable{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read CSV: %w", err)
		}
		if len(rec) > len(names) {
			return nil, fmt.Errorf("row %d has %d values, but the header names only %d columns", t.Rows, len(rec), len(names))
		}
		t.Rows++
		for i, v := range rec {
			if _, forced := columnTypes[names[i]]; forced {
				continue
			}
			p := &possible[i]
			p[typeInteger] = false // a CSV value is text, never agate's Integer
			if p[typeNumber] {
				if d, ok := agateNumber(v); !ok {
					p[typeNumber] = false
				} else {
					prec[i].add(d)
				}
			}
			if p[typeDate] && !seedNull(v) && !strptimeDate(strings.TrimSpace(v)) {
				p[typeDate] = false
			}
			if p[typeDateTime] && !seedNull(v) && !strptimeDateTime(strings.TrimSpace(v)) {
				p[typeDateTime] = false
			}
			if p[typeISODateTime] && !seedNull(v) && !isoDateTime(strings.TrimSpace(v)) {
				p[typeISODateTime] = false
			}
			if p[typeBoolean] {
				b := strings.ToLower(strings.TrimSpace(strings.ReplaceAll(v, ",", "")))
				if b != "" && b != "null" && b != "true" && b != "false" {
					p[typeBoolean] = false
				}
			}
		}
	}
	for i, name := range names {
		c := seedColumn{Name: name}
		if ct, ok := columnTypes[name]; ok {
			c.Type, c.SQLType, c.Overriden = typeText, ct, true
		} else {
			for ty := seedType(0); ty < numSeedTypes; ty++ {
				if possible[i][ty] {
					c.Type = ty
					break
				}
			}
			c.Decimals = c.Type == typeNumber && prec[i].places() > 0
			c.SQLType = duckdbSeedType(c)
		}
		t.Columns = append(t.Columns, c)
	}
	return t, nil
}

// duckdbSeedType is the SQL type dbt-duckdb creates a column with (dbt's SQL adapter defaults).
func duckdbSeedType(c seedColumn) string {
	switch c.Type {
	case typeInteger:
		return "integer"
	case typeNumber:
		if c.Decimals {
			return "float8"
		}
		return "integer"
	case typeDate:
		return "date"
	case typeDateTime, typeISODateTime:
		return "timestamp without time zone"
	case typeBoolean:
		return "boolean"
	}
	return "text"
}

// agateNames names columns as agate does: an empty name becomes a letter (a, b, … aa), and a
// repeated one gets _2, _3.
func agateNames(header []string) []string {
	out := make([]string, 0, len(header))
	for i, h := range header {
		name := h
		if name == "" {
			name = strings.Repeat(string(rune('a'+i%26)), i/26+1)
		}
		final := name
		for dup := 2; containsStr(out, final); dup++ {
			final = name + "_" + strconv.Itoa(dup)
		}
		out = append(out, final)
	}
	return out
}

// decimalValue is a parsed number: its significant digits and power-of-ten exponent.
type decimalValue struct {
	digits  string // no leading zeros; "" is zero
	exp     int
	special bool // infinity or NaN
	null    bool
}

var currencySymbols = []string{"؋", "$", "ƒ", "៛", "¥", "₡", "₱", "£", "€", "¢", "﷼", "₪", "₩", "₭", "₮", "₦", "฿", "₤", "₫"}

// agateNumber reads a value as agate's Number does (en_US): percent signs, a leading minus,
// currency symbols and thousands commas are stripped, the rest is a Python Decimal literal.
func agateNumber(v string) (decimalValue, bool) {
	d := strings.TrimSpace(v)
	if seedNull(d) {
		return decimalValue{null: true}, true
	}
	d = strings.Trim(d, "%")
	d = strings.TrimPrefix(d, "-")
	for _, s := range currencySymbols {
		d = strings.Trim(d, s)
	}
	d = strings.ReplaceAll(d, ",", "")
	return pythonDecimal(d)
}

// pythonDecimal parses Python's Decimal string syntax: [sign] digits [. digits] [e [sign] digits],
// Inf, Infinity, NaN, sNaN (any case), with surrounding whitespace and underscores between
// digits.
func pythonDecimal(s string) (decimalValue, bool) {
	s = strings.TrimFunc(s, unicode.IsSpace)
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	switch l := strings.ToLower(s); {
	case l == "inf" || l == "infinity":
		return decimalValue{special: true}, true
	case strings.HasPrefix(l, "nan") && allDigits(l[3:], true):
		return decimalValue{special: true}, true
	case strings.HasPrefix(l, "snan") && allDigits(l[4:], true):
		return decimalValue{special: true}, true
	}
	mant, expPart := s, ""
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, expPart = s[:i], s[i+1:]
		if expPart == "" {
			return decimalValue{}, false
		}
	}
	intPart, frac := mant, ""
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		intPart, frac = mant[:i], mant[i+1:]
	}
	if intPart == "" && frac == "" {
		return decimalValue{}, false
	}
	if (intPart != "" && !validDigitRun(intPart)) || (frac != "" && !validDigitRun(frac)) {
		return decimalValue{}, false
	}
	exp := 0
	if expPart != "" {
		sign := 1
		if expPart[0] == '+' || expPart[0] == '-' {
			if expPart[0] == '-' {
				sign = -1
			}
			expPart = expPart[1:]
		}
		if !validDigitRun(expPart) {
			return decimalValue{}, false
		}
		n, err := strconv.Atoi(asciiDigits(expPart))
		if err != nil {
			return decimalValue{special: true}, true // an exponent this large is out of any column's range
		}
		exp = sign * n
	}
	digits := strings.TrimLeft(asciiDigits(intPart)+asciiDigits(frac), "0")
	return decimalValue{digits: digits, exp: exp - len(asciiDigits(frac))}, true
}

// validDigitRun is digits with single underscores between them.
func validDigitRun(s string) bool {
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return false
	}
	return allDigits(strings.ReplaceAll(s, "_", ""), false)
}

func allDigits(s string, emptyOK bool) bool {
	if s == "" {
		return emptyOK
	}
	for _, r := range s {
		if !unicode.Is(unicode.Nd, r) {
			return false
		}
	}
	return true
}

// asciiDigits maps any decimal digits (Python accepts every script's) to 0-9, dropping '_'.
func asciiDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '_' {
			continue
		}
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
			continue
		}
		// Unicode Nd digits come in runs of ten starting at a code point ending in 0 or 6.
		for base := r; base > r-10; base-- {
			if !unicode.Is(unicode.Nd, base-1) {
				b.WriteRune('0' + (r - base))
				break
			}
		}
	}
	return b.String()
}

// precision is agate's MaxPrecision: the most decimal places of any value once trailing zeros
// are dropped (so 1.0 counts as none), capped by the 28-digit decimal context.
type precision struct{ whole, decimals int }

const decimalContext = 28

func (p *precision) add(d decimalValue) {
	if d.null || d.special || d.digits == "" {
		return
	}
	digits, exp := d.digits, d.exp
	if len(digits) > decimalContext { // normalize() rounds to the context first
		digits, exp = roundHalfEven(digits, decimalContext), exp+len(digits)-decimalContext
	}
	trimmed := strings.TrimRight(digits, "0")
	exp += len(digits) - len(trimmed)
	places := -exp
	if w := len(trimmed) - places; w > p.whole {
		p.whole = w
	}
	if places > p.decimals {
		p.decimals = places
	}
}

func (p precision) places() int {
	if p.whole+p.decimals > decimalContext {
		return decimalContext - p.whole
	}
	return p.decimals
}

// roundHalfEven rounds a digit string to n significant digits (its length stays n: a carry
// that would add a digit is folded into a trailing zero, which normalization then drops).
func roundHalfEven(digits string, n int) string {
	head, tail := digits[:n], digits[n:]
	v, _ := new(big.Int).SetString(head, 10)
	up := tail[0] > '5' || (tail[0] == '5' && (strings.TrimRight(tail[1:], "0") != "" || (head[n-1]-'0')%2 == 1))
	if up {
		v.Add(v, big.NewInt(1))
	}
	out := v.String()
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// Python's strptime patterns for %Y-%m-%d and %H:%M:%S (alternatives tried in order; the
// match must then cover the whole value). Whitespace in the format matches any run of it.
var (
	strpDateRE     = regexp.MustCompile(`^(\d\d\d\d)-(1[0-2]|0[1-9]|[1-9])-(3[01]|[12]\d|0[1-9]|[1-9]| [1-9])`)
	strpDateTimeRE = regexp.MustCompile(`^(\d\d\d\d)-(1[0-2]|0[1-9]|[1-9])-(3[01]|[12]\d|0[1-9]|[1-9]| [1-9])\s+(2[0-3]|[0-1]\d|\d):([0-5]\d|\d):(6[0-1]|[0-5]\d|\d)`)
)

func strptimeDate(s string) bool {
	m := strpDateRE.FindStringSubmatch(s)
	return m != nil && len(m[0]) == len(s) && validDate(m[1], m[2], m[3])
}

func strptimeDateTime(s string) bool {
	m := strpDateTimeRE.FindStringSubmatch(s)
	if m == nil || len(m[0]) != len(s) || !validDate(m[1], m[2], m[3]) {
		return false
	}
	sec, _ := strconv.Atoi(m[6])
	return sec < 60
}

func validDate(y, m, d string) bool {
	year, _ := strconv.Atoi(y)
	month, _ := strconv.Atoi(m)
	day, _ := strconv.Atoi(strings.TrimSpace(d))
	if year < 1 || month < 1 || month > 12 || day < 1 {
		return false
	}
	return day <= time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// isodate's date forms (4-digit years) and time forms, with an optional zone.
var (
	isoDateREs = []*regexp.Regexp{
		regexp.MustCompile(`^(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})$`),
		regexp.MustCompile(`^(?P<year>[0-9]{4})(?P<month>[0-9]{2})(?P<day>[0-9]{2})$`),
		regexp.MustCompile(`^(?P<year>[0-9]{4})-W(?P<week>[0-9]{2})-(?P<wday>[0-9])$`),
		regexp.MustCompile(`^(?P<year>[0-9]{4})W(?P<week>[0-9]{2})(?P<wday>[0-9])$`),
		regexp.MustCompile(`^(?P<year>[0-9]{4})-(?P<yday>[0-9]{3})$`),
		regexp.MustCompile(`^(?P<year>[0-9]{4})(?P<yday>[0-9]{3})$`),
		regexp.MustCompile(`^(?P<year>[0-9]{4})-W(?P<week>[0-9]{2})$`),
		regexp.MustCompile(`^(?P<year>[0-9]{4})W(?P<week>[0-9]{2})$`),
		regexp.MustCompile(`^(?P<year>[0-9]{4})-(?P<month>[0-9]{2})$`),
		regexp.MustCompile(`^(?P<year>[0-9]{4})(?P<month>[0-9]{2})$`),
		regexp.MustCompile(`^(?P<year>[0-9]{4})$`),
		regexp.MustCompile(`^(?P<century>[0-9]{2})$`),
	}
	isoZone    = `(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$`
	isoTimeREs = []*regexp.Regexp{
		regexp.MustCompile(`^(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})([,.][0-9]+)?` + isoZone),
		regexp.MustCompile(`^(?P<hour>[0-9]{2})(?P<minute>[0-9]{2})(?P<second>[0-9]{2})([,.][0-9]+)?` + isoZone),
		regexp.MustCompile(`^(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})([,.][0-9]+)?` + isoZone),
		regexp.MustCompile(`^(?P<hour>[0-9]{2})(?P<minute>[0-9]{2})([,.][0-9]+)?` + isoZone),
		regexp.MustCompile(`^(?P<hour>[0-9]{2})([,.][0-9]+)?` + isoZone),
	}
)

// isoDateTime is isodate.parse_datetime: exactly one T between an ISO date and an ISO time.
func isoDateTime(s string) bool {
	parts := strings.Split(s, "T")
	if len(parts) != 2 {
		return false
	}
	return isoDate(parts[0]) && isoTime(parts[1])
}

func isoDate(s string) bool {
	for _, re := range isoDateREs {
		m := re.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		g := map[string]string{}
		for i, name := range re.SubexpNames() {
			if name != "" {
				g[name] = m[i]
			}
		}
		if c, ok := g["century"]; ok {
			n, _ := strconv.Atoi(c)
			return n*100+1 >= 1
		}
		year, _ := strconv.Atoi(g["year"])
		if year < 1 {
			return false
		}
		if mo, ok := g["month"]; ok {
			d := g["day"]
			if d == "" {
				d = "1"
			}
			return validDate(g["year"], mo, d)
		}
		return true
	}
	return false
}

func isoTime(s string) bool {
	for _, re := range isoTimeREs {
		m := re.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		for i, name := range re.SubexpNames() {
			n, _ := strconv.Atoi(m[i])
			switch name {
			case "hour":
				if n > 23 {
					return false
				}
			case "minute", "second":
				if n > 59 {
					return false
				}
			}
		}
		return true
	}
	return false
}

// seedOptions are a seed's loading configs, validated.
type seedOptions struct {
	delimiter   rune
	quote       bool
	columnTypes map[string]string
	fullRefresh bool
}

var (
	seedTypeRE  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_ (),\[\]]*$`)
	plainNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func (e *Engine) seedOptions(n *Node) (seedOptions, error) {
	o := seedOptions{delimiter: ',', quote: true, fullRefresh: e.FullRefresh, columnTypes: map[string]string{}}
	if v, ok := n.Config["delimiter"]; ok && v != nil {
		d := str(v)
		if utf8.RuneCountInString(d) != 1 || d == "\"" || d == "\n" || d == "\r" || d == "'" {
			return o, fmt.Errorf("delimiter must be one character (not a quote or line break), got %q", d)
		}
		o.delimiter, _ = utf8.DecodeRuneInString(d)
	}
	switch v := n.Config["quote_columns"].(type) {
	case nil:
	case bool:
		o.quote = v
	default:
		return o, fmt.Errorf("quote_columns must be true or false, got %v", v)
	}
	switch v := n.Config["full_refresh"].(type) {
	case nil:
	case bool:
		o.fullRefresh = v
	default:
		return o, fmt.Errorf("full_refresh must be true or false, got %v", v)
	}
	switch ct := n.Config["column_types"].(type) {
	case nil:
	case map[string]any:
		for k, v := range ct {
			typ := strings.TrimSpace(str(v))
			if !seedTypeRE.MatchString(typ) || !balanced(typ) {
				return o, fmt.Errorf("column_types: %q for column %s is not a SQL type dango can pass on (letters, digits, spaces, (), [] and commas)", typ, k)
			}
			o.columnTypes[k] = typ
		}
	default:
		return o, fmt.Errorf("column_types must be a mapping of column name to SQL type, got %v", ct)
	}
	if v, ok := n.Config["fast"]; ok && v != true {
		return o, errors.New("fast: false (loading row by row through agate) is not supported by dango's engine; remove it (dbt-duckdb's default COPY load gives the same types) or run with --engine dbt-core")
	}
	return o, nil
}

func balanced(s string) bool {
	depth := 0
	for _, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return false
			}
		}
	}
	return depth == 0
}

// seed loads a CSV as dbt's seed materialization does: a new table (or, with full refresh, a
// dropped and recreated one) with dbt's inferred column types, or an existing table truncated
// and kept with its types; then DuckDB's COPY reads the file into it.
func (e *Engine) seed(ctx context.Context, conn *sql.Conn, n *Node) (string, error) {
	rel := n.Relation()
	file := e.P.FileOf(n)
	o, err := e.seedOptions(n)
	if err != nil {
		return "", err
	}
	t, err := readSeed(file, o.delimiter, o.columnTypes)
	if err != nil {
		return "", fmt.Errorf("%s: %w", n.OriginalFilePath, err)
	}
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		name := quoteIdent(c.Name)
		if !o.quote {
			if !plainNameRE.MatchString(c.Name) {
				return "", fmt.Errorf("%s: quote_columns is false, but column %q is not a plain identifier dbt could write unquoted; set quote_columns: true or rename the column", n.OriginalFilePath, c.Name)
			}
			name = c.Name
		}
		cols[i] = name + " " + c.SQLType
	}
	var kind string
	err = conn.QueryRowContext(ctx, `SELECT table_type FROM information_schema.tables
		WHERE lower(table_catalog) = lower(?) AND lower(table_schema) = lower(?) AND lower(table_name) = lower(?)`,
		rel.Database, rel.Schema, rel.Identifier).Scan(&kind)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	create := "create table " + rel.String() + " (" + strings.Join(cols, ", ") + ")"
	var stmts []string
	switch {
	case kind == "VIEW":
		return "", fmt.Errorf("Cannot seed to '%s', it is a view", rel.String())
	case kind != "" && o.fullRefresh:
		stmts = append(stmts, "drop table if exists "+rel.String()+" cascade", create)
	case kind != "":
		stmts = append(stmts, "truncate table "+rel.String())
	default:
		stmts = append(stmts, create)
	}
	if t.Rows > 0 {
		stmts = append(stmts, "COPY "+rel.String()+" FROM "+quoteString(file)+" (FORMAT CSV, HEADER TRUE, DELIMITER "+quoteString(string(o.delimiter))+")")
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return "", err
		}
	}
	if err := tx.Commit(); err != nil {
		return "", err
	}
	e.writeRun(n, strings.Join(stmts, ";\n\n")+";")
	code := "INSERT"
	if o.fullRefresh {
		code = "CREATE"
	}
	return fmt.Sprintf("%s %d", code, t.Rows), nil
}

func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
