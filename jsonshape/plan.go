package jsonshape

import (
	"sort"
	"strings"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/naming"
)

// DefaultMaxNesting is dlt's default max_table_nesting: in effect, no limit.
const DefaultMaxNesting = 1000

// NoNesting is dlt's max_table_nesting 0 as Plan takes it (0 there means the default):
// every object and list stays JSON in its row.
const NoNesting = -1

// Nesting converts a configured max_table_nesting to Plan's argument.
func Nesting(configured int) int {
	if configured == 0 {
		return NoNesting
	}
	return configured
}

// Plan turns the top-level columns DuckDB's reader found (as DESCRIBE renders them) into the
// columns dlt would make of the same records, using what the shape saw:
//
//   - a field null in every record is left out (dlt creates a column at its first value);
//   - a list that never held an element makes no child table;
//   - a column's type is dlt's type of its first value that is not null: ISO-8601 timestamps
//     (with or without a zone; naive ones are UTC) are TIMESTAMP WITH TIME ZONE, dates, times
//     and other strings text, integers bigint, fractions double;
//   - values of other kinds are coerced as dlt does, and those that do not coerce go to
//     variant columns (<column>__v_<type>): the reader yields such a field as JSON;
//   - objects flatten into parent__child columns and lists become child tables, down to
//     maxNesting levels (dlt's max_table_nesting; 0: DefaultMaxNesting, NoNesting: none),
//     past which the value is kept as JSON.
//
// It returns the reader's columns (to pin in the scan) and the table's columns.
func (s *Shape) Plan(top []batch.ReaderColumn, maxNesting int) ([]batch.ReaderColumn, []batch.Column) {
	switch {
	case maxNesting == 0:
		maxNesting = DefaultMaxNesting
	case maxNesting < 0:
		maxNesting = 0
	}
	pl := &planner{dates: s.Dates}
	var reader []batch.ReaderColumn
	var cols []batch.Column
	for _, c := range top {
		n := s.root.fields[c.Name]
		if n == nil { // not seen (DuckDB's own columns, say): keep as DuckDB reads it
			reader = append(reader, c)
			cols = append(cols, plain([]string{c.Name}, c.Type)...)
			continue
		}
		typ, cs, ok := pl.plan(n, c.Type, at{path: []string{c.Name}}, maxNesting)
		if !ok {
			continue
		}
		reader = append(reader, batch.ReaderColumn{Name: c.Name, Type: typ})
		cols = append(cols, cs...)
	}
	return reader, name(cols, 0)
}

// plain is DuckDB's own reading of a column: structs flattened, nothing coerced.
func plain(path []string, typ string) []batch.Column { return batch.Flatten(path, typ) }

// dltType is dlt's data type of a value of kind k.
func (p *planner) dltType(k kind) string {
	switch k {
	case kDate:
		if p.dates {
			return "date"
		}
	case kInt:
		return "bigint"
	case kFloat, kBigInt:
		return "double"
	case kBool:
		return "bool"
	case kTSNaive, kTSZone:
		return "timestamp"
	case kObject, kArray:
		return "json"
	}
	return "text"
}

// planner holds what Plan was asked for.
type planner struct {
	dates bool // ISO dates are dates, not text
}

// fitsAlways is the kinds every value of which the reader can read straight as a column of
// dlt type t, exactly as dlt would coerce it.
var fitsAlways = map[string]kind{
	"bigint":    kInt,
	"double":    kInt | kFloat | kBigInt,
	"text":      kAnyString,
	"bool":      kBool,
	"timestamp": kTSNaive | kTSZone,
	"json":      kObject | kArray,
	"date":      kDate,
}

// variantsOf is the dlt types of values of kinds seen that may fail to coerce into t.
func variantsOf(t string, seen kind) []string {
	var out []string
	add := func(k kind, v string) {
		if seen&k != 0 && t != v {
			out = append(out, v)
		}
	}
	switch t {
	case "json":
		add(kInt, "bigint")
		add(kFloat|kBigInt, "double")
		add(kAnyString, "text")
		add(kBool, "bool")
	case "bigint":
		add(kFloat|kBigInt, "double")
		add(kAnyString, "text")
		add(kBool, "bool")
	case "double":
		add(kAnyString, "text")
		add(kBool, "bool")
	case "bool":
		add(kAnyString, "text")
	case "timestamp":
		add(kAnyString&^(kTSNaive|kTSZone), "text")
		add(kBool, "bool")
	case "date":
		add(kAnyString&^kDate, "text")
		add(kInt, "bigint")
		add(kFloat|kBigInt, "double")
		add(kBool, "bool")
	}
	if t != "json" {
		add(kObject|kArray, "json")
	}
	return out
}

// at is where a value is in the reader's output: a struct path, and the keys below it when
// the reader yields the value there as JSON.
type at struct {
	path  []string
	jpath []string
	json  bool
}

func (a at) key(k string) at {
	if a.json {
		return at{path: a.path, jpath: appendPath(a.jpath, k), json: true}
	}
	return at{path: appendPath(a.path, k)}
}

func (a at) col(c batch.Column) batch.Column {
	c.Path, c.JSONPath, c.FromJSON = a.path, a.jpath, a.json
	return c
}

const scalars = kBool | kInt | kBigInt | kFloat | kAnyString

// plan decides one value position: the reader type to read it as, its columns, and whether
// it makes any column at all. lvl is dlt's nesting level left.
func (p *planner) plan(n *node, typ string, a at, lvl int) (string, []batch.Column, bool) {
	seen := n.all &^ kNull
	if seen == 0 {
		return "", nil, false // null in every record: no column yet
	}
	if !a.json && seen != kObject && seen != kArray && seen&^scalars != 0 {
		// Objects or lists mixed with other kinds: the reader yields it as JSON, and its
		// parts are taken apart from there, as dlt takes them apart value by value.
		a.json = true
	}
	if a.json {
		cols := p.planJSON(n, a, lvl)
		return "JSON", cols, len(cols) > 0
	}
	switch seen {
	case kObject:
		fields, ok := batch.StructFields(typ)
		if lvl <= 0 {
			return "JSON", []batch.Column{a.col(batch.Column{Type: "JSON"})}, true
		}
		if !ok { // a MAP or JSON (very many keys): taken apart from JSON
			a.json = true
			cols := p.planJSON(n, a, lvl)
			return "JSON", cols, len(cols) > 0
		}
		var parts []string
		var cols []batch.Column
		for _, f := range fields {
			c := n.fields[f.Name]
			if c == nil {
				parts = append(parts, naming.Quote(f.Name)+" "+f.Type)
				cols = append(cols, plain(appendPath(a.path, f.Name), f.Type)...)
				continue
			}
			ft, fc, ok := p.plan(c, f.Type, a.key(f.Name), lvl-1)
			if !ok {
				continue
			}
			parts = append(parts, naming.Quote(f.Name)+" "+ft)
			cols = append(cols, fc...)
		}
		if len(parts) == 0 {
			return "", nil, false
		}
		return "STRUCT(" + strings.Join(parts, ", ") + ")", cols, true
	case kArray:
		return p.planList(n, typ, a, lvl)
	}
	// Scalars.
	t := p.dltType(n.first)
	if seen&^fitsAlways[t] == 0 && typ != "JSON" {
		return batch.DltTypes[t], []batch.Column{a.col(batch.Column{Type: batch.DltTypes[t]})}, true
	}
	a.json = true
	return "JSON", p.scalarCols(t, seen, a), true
}

// scalarCols are a JSON value's column of dlt type t and its variants.
func (p *planner) scalarCols(t string, seen kind, a at) []batch.Column {
	cols := []batch.Column{a.col(batch.Column{Type: batch.DltTypes[t], Coerce: t})}
	for _, v := range variantsOf(t, seen) {
		cols = append(cols, a.col(batch.Column{Type: batch.DltTypes[v], Coerce: t, Variant: v}))
	}
	return cols
}

// planList plans a list tested at nesting level lvl: past the limit it is kept as JSON;
// otherwise its elements are the rows of a child table, one level down.
func (p *planner) planList(n *node, typ string, a at, lvl int) (string, []batch.Column, bool) {
	if lvl <= 0 {
		return "JSON", []batch.Column{a.col(batch.Column{Type: "JSON"})}, true
	}
	if n.elem == nil {
		return "", nil, false // never an element: no child table
	}
	if n.elem.all&^kNull == 0 {
		// Only nulls: dlt still makes a row of each. The value column holds nothing, so the
		// writer leaves it out (a column is created at its first value).
		c := a.col(batch.Column{Type: "JSON[]", Children: []batch.Column{{Name: "value", Path: []string{batch.ElemPath}, Type: "JSON"}}})
		if !a.json {
			c.FromJSON = false
		}
		return "JSON[]", []batch.Column{c}, true
	}
	elem, ok := batch.ListElement(typ)
	if !ok || a.json {
		// The reader yields the list as JSON: so are its elements.
		a.json = true
		_, children := p.planElem(n.elem, "JSON", true, lvl)
		if len(children) == 0 {
			return "", nil, false
		}
		return "JSON", []batch.Column{a.col(batch.Column{Type: "JSON[]", Children: name(children, 1)})}, true
	}
	et, children := p.planElem(n.elem, elem, false, lvl)
	if len(children) == 0 {
		return "", nil, false
	}
	return et + "[]", []batch.Column{a.col(batch.Column{Type: et + "[]", Children: name(children, 1)})}, true
}

// planElem plans the elements of a list tested at level lvl, as dlt makes rows of them: an
// object is a row (its fields tested at lvl-1), a scalar a row with a "value" column, a list
// a row with a "list" column tested two levels down (dlt's wrapper row).
func (p *planner) planElem(e *node, typ string, json bool, lvl int) (string, []batch.Column) {
	el := at{path: []string{batch.ElemPath}, json: json}
	seen := e.all &^ kNull
	if !json && seen != kObject && seen != kArray && seen&^scalars != 0 {
		el.json, json = true, true
	}
	if json {
		var cols []batch.Column
		if seen&scalars != 0 {
			cols = append(cols, p.scalarCols(p.dltType(e.first), seen&scalars, el)...)
		}
		if seen&kObject != 0 {
			cols = append(cols, p.objectJSON(e, el, lvl)...)
		}
		if seen&kArray != 0 {
			if lvl-2 <= 0 { // the inner lists, past the limit, stay JSON beside the scalars
				cols = append(cols, batch.Column{Name: "list", Path: el.path, FromJSON: true, Type: "JSON", Coerce: "json"})
			} else if _, cs, ok := p.planList(e, "JSON", el, lvl-2); ok {
				cols = append(cols, named(cs, "list")...)
			}
		}
		return "JSON", cols
	}
	if seen == kArray {
		t, cs, _ := p.plan(e, typ, el, lvl-2)
		return t, named(cs, "list")
	}
	t, cs, _ := p.plan(e, typ, el, lvl)
	return t, cs
}

// named names a list of lists' inner column as dlt does: list.
func named(cols []batch.Column, n string) []batch.Column {
	for i := range cols {
		cols[i].Name = n
	}
	return cols
}

// objectJSON plans the keys of objects the reader yields as JSON, each a column tested at
// lvl-1, in key order.
func (p *planner) objectJSON(n *node, a at, lvl int) []batch.Column {
	keys := make([]string, 0, len(n.fields))
	for k := range n.fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var cols []batch.Column
	for _, k := range keys {
		if _, cs, ok := p.plan(n.fields[k], "JSON", a.key(k), lvl-1); ok {
			cols = append(cols, cs...)
		}
	}
	return cols
}

// planJSON takes apart a field the reader yields as JSON: its scalars make a column (and
// variants), its objects' keys columns of their own, its lists a child table.
func (p *planner) planJSON(n *node, a at, lvl int) []batch.Column {
	seen := n.all &^ kNull
	if lvl <= 0 && seen&(kObject|kArray) != 0 {
		// Past the limit objects and lists are values of the column, typed by the first
		// value like any other: a JSON column, or a scalar one with a __v_json variant.
		return p.scalarCols(p.dltType(n.firstAny), seen, a)
	}
	var cols []batch.Column
	if seen&scalars != 0 {
		cols = append(cols, p.scalarCols(p.dltType(n.first), seen&scalars, a)...)
	}
	if seen&kObject != 0 {
		if lvl <= 0 {
			cols = append(cols, a.col(batch.Column{Type: "JSON"}))
		} else {
			cols = append(cols, p.objectJSON(n, a, lvl)...)
		}
	}
	if seen&kArray != 0 {
		if _, cs, ok := p.planList(n, "JSON", a, lvl); ok {
			cols = append(cols, cs...)
		}
	}
	return cols
}

func appendPath(path []string, seg string) []string {
	return append(append([]string(nil), path...), seg)
}

// name gives columns their warehouse names: path segments (struct fields, then JSON keys)
// snake_cased and joined with "__", "value" for a list's scalar elements, "list" for a list
// of lists (dlt's names), a variant its column's name and __v_<type>. Child tables are named
// apart from columns: dlt has an obj__a column and an obj__a child table side by side.
func name(cols []batch.Column, skip int) []batch.Column {
	var plainIdx, listIdx []int
	var plainNames, listNames []string
	for i, c := range cols {
		if c.Variant != "" {
			continue
		}
		segs := make([]string, 0, len(c.Path)+len(c.JSONPath))
		for _, p := range c.Path[min(skip, len(c.Path)):] {
			segs = append(segs, naming.Snake(p))
		}
		for _, p := range c.JSONPath {
			segs = append(segs, naming.Snake(p))
		}
		nm := strings.Join(segs, "__")
		if c.Name != "" {
			nm = c.Name // named already (a list of lists' "list")
		}
		if len(c.Children) > 0 {
			if nm == "" {
				nm = "list"
			}
			listIdx, listNames = append(listIdx, i), append(listNames, nm)
			continue
		}
		if nm == "" {
			nm = "value"
		}
		plainIdx, plainNames = append(plainIdx, i), append(plainNames, nm)
	}
	for j, nm := range naming.Unique(plainNames) {
		cols[plainIdx[j]].Name = nm
	}
	for j, nm := range naming.Unique(listNames) {
		cols[listIdx[j]].Name = nm
	}
	for i, c := range cols {
		if c.Variant != "" && i > 0 {
			// A variant follows its column (or an earlier variant of it).
			k := i - 1
			for cols[k].Variant != "" {
				k--
			}
			cols[i].Name = cols[k].Name + "__v_" + c.Variant
		}
	}
	return cols
}
