// Package jsonshape records the shape of JSON records as a connector spools them — which
// keys appear where, what kinds of values they hold, and the last record that showed
// something new — so the loader can have DuckDB type a file from a sample that provably
// holds everything.
//
// DuckDB types JSON from its first 20,480 records and silently drops a field that first
// appears later. Typing every record instead costs a full extra read of the file. A
// connector that already walks each record on its way to the spool records its shape for a
// fraction of that cost; DuckDB then types the leading records up to the last one that
// showed a new key or kind, and the loader checks the result against the shape (every key
// has a column, every value is of a kind its column reads without changing type). Only when
// that check fails does it type every record.
package jsonshape

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/dangohq/dango/batch"
)

// minSample is the smallest sample a Shape asks DuckDB to type from.
const minSample = 1024

// maxStructFields is DuckDB's default map_inference_threshold: objects with more keys may
// be typed as MAPs, which this package does not try to reason about.
const maxStructFields = 200

// kind is a bit set of value classes.
type kind uint16

const (
	kNull kind = 1 << iota
	kBool
	kInt     // integer literal within int64
	kBigInt  // integer literal outside int64
	kFloat   // fraction or exponent
	kString  // a string that is not an ISO date or timestamp
	kDate    // "2024-01-31"
	kTSNaive // "2024-01-31T10:00:00" or with a space, optional fraction
	kTSZone  // the same with Z or a ±hh:mm offset
	kObject
	kArray
)

const kTemporal = kDate | kTSNaive | kTSZone
const kAnyString = kString | kTemporal

// node is what was seen at one path.
type node struct {
	all   kind
	first kind // the kind of the first scalar that was not null (dlt types a column by it)
	// firstAny is the kind of the first value that was not null, objects and lists included
	// (past max_table_nesting they are JSON values of the column).
	firstAny kind
	fields   map[string]*node
	elem     *node
}

// child returns the node of a key given as its raw JSON contents (escapes undone only when
// the key is new, so the common lookup allocates nothing).
func (w *walker) child(n *node, raw []byte) (*node, error) {
	if c := n.fields[string(raw)]; c != nil {
		return c, nil
	}
	key := string(raw)
	if bytes.IndexByte(raw, '\\') >= 0 {
		if err := json.Unmarshal([]byte(`"`+key+`"`), &key); err != nil {
			return nil, errSyntax
		}
		if c := n.fields[key]; c != nil {
			return c, nil
		}
	}
	if n.fields == nil {
		n.fields = map[string]*node{}
	}
	c := &node{}
	n.fields[key] = c
	w.grew = true
	return c, nil
}

// DefaultMaxDepth is how deeply JSON may nest (objects and lists) unless a source sets
// max_json_depth. Real records rarely nest beyond a few dozen levels, while DuckDB's reader
// takes time and memory that grow with the square of the depth (10,000 levels exhaust
// memory), so deeper input is refused before it gets there.
const DefaultMaxDepth = 256

// DepthError is JSON nested deeper than the limit.
type DepthError struct{ Limit int }

func (e *DepthError) Error() string {
	return fmt.Sprintf("JSON nested deeper than %d levels (max_json_depth)", e.Limit)
}

// Shape accumulates the shape of a stream of JSON records. The zero value is ready to use.
type Shape struct {
	// MaxDepth bounds nesting (DefaultMaxDepth when 0): a deeper record is an error.
	MaxDepth int
	// Dates makes Plan type ISO dates (2024-01-31) as DATE; dlt's JSON rule, the default,
	// keeps them text. For sources whose cells are dates by their format (Google Sheets).
	Dates bool
	// MaxNesting is dlt's max_table_nesting for Plan: 0 is DefaultMaxNesting, NoNesting
	// none (see Nesting).
	MaxNesting int

	root    node
	records int
	last    int  // index of the last record that showed a new key or kind
	broken  bool // a record could not be read: never vouch for a schema
}

// Records is how many records were observed.
func (s *Shape) Records() int { return s.records }

// SampleSize is how many leading records hold every key and kind observed: typing from
// that many (read_json's sample_size) sees everything typing from all of them would.
func (s *Shape) SampleSize() int { return max(s.last+1, minSample) }

// Observe adds one record (a JSON value, normally an object).
func (s *Shape) Observe(rec []byte) {
	if _, err := s.ObserveAt(rec, 0); err != nil {
		s.broken = true
	}
}

// ObserveAt adds the record that starts at b[i] (after any white space) and returns the
// offset just past it, so a scanner looking for records in a reply can walk each record
// once. A malformed record is an error and leaves the shape unable to vouch for a schema.
func (s *Shape) ObserveAt(b []byte, i int) (int, error) {
	w := walker{b: b, i: i, left: s.MaxDepth}
	if w.left <= 0 {
		w.left = DefaultMaxDepth
	}
	w.max = w.left
	w.ws()
	err := w.value(&s.root)
	if err != nil {
		s.broken = true
	}
	if w.grew {
		s.last = s.records
	}
	s.records++
	return w.i, err
}

// Merge adds the records o observed, as if they followed the ones s observed (the pages of
// a reply can be shaped in parallel and merged in order).
func (s *Shape) Merge(o *Shape) {
	if o.broken {
		s.broken = true
	}
	if o.records == 0 {
		return
	}
	if merge(&s.root, &o.root) || s.records == 0 {
		// Something of o's was new here: it showed up at o.last the latest.
		s.last = s.records + o.last
	}
	s.records += o.records
}

func merge(dst, src *node) bool {
	grew := dst.all|src.all != dst.all
	dst.all |= src.all
	if dst.first == 0 {
		dst.first = src.first
	}
	if dst.firstAny == 0 {
		dst.firstAny = src.firstAny
	}
	for k, sc := range src.fields {
		dc := dst.fields[k]
		if dc == nil {
			if dst.fields == nil {
				dst.fields = map[string]*node{}
			}
			dc = &node{}
			dst.fields[k] = dc
			grew = true
		}
		if merge(dc, sc) {
			grew = true
		}
	}
	if src.elem != nil {
		if dst.elem == nil {
			dst.elem = &node{}
			grew = true
		}
		if merge(dst.elem, src.elem) {
			grew = true
		}
	}
	return grew
}

// Fits reports whether the columns DuckDB inferred from the first SampleSize records (as
// DESCRIBE renders them) fit every record observed: every key has its column, and every
// value is of a kind its column reads without changing type. Reading with them then
// neither drops a field nor fails on a value.
func (s *Shape) Fits(cols []batch.ReaderColumn) bool {
	if s.broken || s.records == 0 || s.root.all&^(kObject) != 0 {
		return false
	}
	byName := make(map[string]string, len(cols))
	for _, c := range cols {
		byName[c.Name] = c.Type
	}
	return fitsFields(&s.root, byName)
}

func fitsFields(n *node, fields map[string]string) bool {
	if len(n.fields) > maxStructFields {
		return false
	}
	for key, c := range n.fields {
		typ, ok := fields[key]
		if !ok || !fits(c, typ) {
			return false
		}
	}
	return true
}

// fits checks the values seen at n against the DuckDB type the sample gave their column.
func fits(n *node, typ string) bool {
	seen := n.all &^ kNull
	switch typ {
	case "VARCHAR":
		return seen&^kAnyString == 0
	case "BIGINT":
		return seen&^kInt == 0
	case "DOUBLE":
		return seen&^(kInt|kFloat) == 0
	case "BOOLEAN":
		return seen&^kBool == 0
	case "DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE":
		// Only ISO strings (the sample held every form seen, so its format fits them).
		return seen&^kTemporal == 0
	case "JSON":
		// A column typed JSON from its scalars (mixed kinds, or only nulls): the sample held
		// the same kinds as the whole. Objects and lists typed JSON are not reasoned about.
		return seen&(kObject|kArray) == 0
	}
	if el, ok := batch.ListElement(typ); ok {
		if seen&^kArray != 0 {
			return false
		}
		if n.elem == nil {
			return true
		}
		return fits(n.elem, el)
	}
	if fs, ok := batch.StructFields(typ); ok {
		if seen&^kObject != 0 {
			return false
		}
		m := make(map[string]string, len(fs))
		for _, f := range fs {
			m[f.Name] = f.Type
		}
		return fitsFields(n, m)
	}
	return false // MAP, UBIGINT, HUGEINT, …: not reasoned about
}

// walker reads one record, recording each value's kind at its path.
type walker struct {
	b    []byte
	i    int
	grew bool // a new key or kind was seen
	left int  // levels of nesting still allowed
	max  int
}

func (w *walker) ws() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

var errSyntax = errors.New("malformed JSON")

// tooDeep is the error for nesting past the limit (the walker's limit is what it started with).
func (w *walker) tooDeep() error { return &DepthError{Limit: w.max} }

func (w *walker) mark(n *node, k kind) {
	if n.all&k != k {
		// A kind not seen before here: the first value that is not null always is one.
		if n.firstAny == 0 && k != kNull {
			n.firstAny = k
		}
		if n.first == 0 && k&(kNull|kObject|kArray) == 0 {
			n.first = k
		}
		n.all |= k
		w.grew = true
	}
}

func (w *walker) value(n *node) error {
	if w.i >= len(w.b) {
		return errSyntax
	}
	switch c := w.b[w.i]; {
	case c == '{' || c == '[':
		// No defer here: this is the hot path of every record.
		if w.left == 0 {
			return w.tooDeep()
		}
		w.left--
		var err error
		if c == '{' {
			err = w.object(n)
		} else {
			err = w.array(n)
		}
		w.left++
		return err
	case c == '"':
		s, err := w.str()
		if err != nil {
			return err
		}
		w.mark(n, stringKind(s))
		return nil
	case c == 't' || c == 'f':
		return w.literal(n, kBool)
	case c == 'n':
		return w.literal(n, kNull)
	case c == '-' || (c >= '0' && c <= '9'):
		start := w.i
		k := kInt
		for w.i < len(w.b) {
			switch w.b[w.i] {
			case '.', 'e', 'E':
				k = kFloat
			case '-', '+', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			default:
				goto done
			}
			w.i++
		}
	done:
		if k == kInt && w.i-start > 18 {
			if _, err := strconv.ParseInt(string(w.b[start:w.i]), 10, 64); err != nil {
				k = kBigInt
			}
		}
		w.mark(n, k)
		return nil
	}
	return errSyntax
}

// object reads the object at w.i into n.
func (w *walker) object(n *node) error {
	w.mark(n, kObject)
	w.i++
	for {
		w.ws()
		if w.i >= len(w.b) {
			return errSyntax
		}
		switch w.b[w.i] {
		case '}':
			w.i++
			return nil
		case ',':
			w.i++
			continue
		case '"':
		default:
			return errSyntax
		}
		raw, err := w.str()
		if err != nil {
			return err
		}
		c, err := w.child(n, raw)
		if err != nil {
			return err
		}
		w.ws()
		if w.i >= len(w.b) || w.b[w.i] != ':' {
			return errSyntax
		}
		w.i++
		w.ws()
		if err := w.value(c); err != nil {
			return err
		}
	}
}

// array reads the list at w.i into n.
func (w *walker) array(n *node) error {
	w.mark(n, kArray)
	w.i++
	for {
		w.ws()
		if w.i >= len(w.b) {
			return errSyntax
		}
		switch w.b[w.i] {
		case ']':
			w.i++
			return nil
		case ',':
			w.i++
			continue
		}
		if n.elem == nil {
			n.elem = &node{}
			w.grew = true
		}
		if err := w.value(n.elem); err != nil {
			return err
		}
	}
}

func (w *walker) literal(n *node, k kind) error {
	start := w.i
	for w.i < len(w.b) && w.b[w.i] >= 'a' && w.b[w.i] <= 'z' {
		w.i++
	}
	switch string(w.b[start:w.i]) {
	case "true", "false", "null":
		w.mark(n, k)
		return nil
	}
	return errSyntax
}

// str reads a string at w.i and returns its raw contents (escapes kept, which only matters
// for keys, unescaped there).
func (w *walker) str() ([]byte, error) {
	w.i++
	start := w.i
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case '\\':
			w.i += 2
			continue
		case '"':
			w.i++
			return w.b[start : w.i-1], nil
		}
		w.i++
	}
	return nil, errSyntax
}

// stringKind classifies a string (raw JSON contents) as an ISO date (2024-01-31), an ISO
// timestamp without a zone (T or space, optional seconds and fraction) or with one (Z,
// ±hh:mm, ±hhmm or ±hh), or
// other text. Dates must exist: 2024-02-30 is text, as DuckDB would not read it as a date.
func stringKind(s []byte) kind {
	if len(s) < 10 || len(s) > 35 || s[4] != '-' || s[7] != '-' ||
		!num(s[0:4]) || !num(s[5:7]) || !num(s[8:10]) {
		return kString
	}
	y, m, d := atoi(s[0:4]), atoi(s[5:7]), atoi(s[8:10])
	if m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return kString
	}
	if len(s) == 10 {
		return kDate
	}
	t := s[10:]
	if len(t) == 6 && (t[0] == 'T' || t[0] == ' ') && t[3] == ':' && num(t[1:3]) && num(t[4:6]) &&
		atoi(t[1:3]) <= 23 && atoi(t[4:6]) <= 59 {
		return kTSNaive // no seconds: dlt and DuckDB take it (with a zone DuckDB does not)
	}
	if len(t) < 9 || (t[0] != 'T' && t[0] != ' ') || t[3] != ':' || t[6] != ':' ||
		!num(t[1:3]) || !num(t[4:6]) || !num(t[7:9]) || atoi(t[1:3]) > 23 || atoi(t[4:6]) > 59 || atoi(t[7:9]) > 59 {
		return kString
	}
	t = t[9:]
	if len(t) > 0 && t[0] == '.' {
		i := 1
		for i < len(t) && t[i] >= '0' && t[i] <= '9' {
			i++
		}
		if i == 1 || i > 10 {
			return kString
		}
		t = t[i:]
	}
	switch {
	case len(t) == 0:
		return kTSNaive
	case len(t) == 1 && t[0] == 'Z':
		return kTSZone
	case len(t) == 6 && (t[0] == '+' || t[0] == '-') && t[3] == ':' && num(t[1:3]) && num(t[4:6]) &&
		atoi(t[1:3]) <= 23 && atoi(t[4:6]) <= 59:
		return kTSZone
	case len(t) == 5 && (t[0] == '+' || t[0] == '-') && num(t[1:5]) && atoi(t[1:3]) <= 23 && atoi(t[3:5]) <= 59:
		return kTSZone // +0200
	case len(t) == 3 && (t[0] == '+' || t[0] == '-') && num(t[1:3]) && atoi(t[1:3]) <= 23:
		return kTSZone // +02
	}
	return kString
}

func num(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

func atoi(b []byte) int {
	n := 0
	for _, c := range b {
		n = n*10 + int(c-'0')
	}
	return n
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// CheckDepth reports a DepthError when the JSON in b nests objects and lists deeper than max
// (DefaultMaxDepth when 0). It only counts brackets outside strings: one pass, no allocation.
func CheckDepth(b []byte, max int) error {
	if max <= 0 {
		max = DefaultMaxDepth
	}
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			if depth++; depth > max {
				return &DepthError{Limit: max}
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}
