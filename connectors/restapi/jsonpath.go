package restapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/dangohq/dango/jsonshape"
)

// This file reads the parts of a reply that paginators, data selectors and their detection
// look at, and evaluates the JSONPath expressions dlt's configuration uses for them
// (data_selector, next_url_path, cursor_path, total_path, has_more_path).
//
// A reply is read into a skeleton: objects keep their keys in the reply's order (detection
// picks the first match, as dlt does in Python's dict order) and every node keeps its raw
// bytes, so a selected value is spooled as it came. Lists are only expanded when a path
// walks into them: a page's records are not decoded to find its "next" link.

// node is one JSON value of a reply.
type node struct {
	raw   []byte
	kind  byte // '{', '[', '"', 'n' (null), 't'/'f' (bool), '0' (number)
	keys  []string
	vals  []*node
	elems []*node // a list's elements, once expanded
	open  bool    // elems built
	depth int     // nesting of this node, for max_json_depth while expanding
	max   int
}

// parseNode reads the value at the start of b (after blanks): objects recursively, lists
// left unexpanded.
func parseNode(b []byte, maxDepth int) (*node, error) {
	if maxDepth <= 0 {
		maxDepth = jsonshape.DefaultMaxDepth
	}
	sc := &jscan{b: b, maxDepth: maxDepth}
	n, err := sc.node(0)
	if err != nil {
		return nil, err
	}
	sc.ws()
	if sc.i != len(b) {
		return nil, fmt.Errorf("unexpected %q after the JSON value", sc.peek())
	}
	return n, nil
}

func (s *jscan) node(depth int) (*node, error) {
	s.ws()
	switch c := s.peek(); c {
	case '{':
		if depth+1 > s.maxDepth {
			return nil, depthErr(s.maxDepth)
		}
		start := s.i
		n := &node{kind: '{'}
		s.i++
		for {
			s.ws()
			switch s.peek() {
			case '}':
				s.i++
				n.raw = s.b[start:s.i]
				return n, nil
			case ',':
				s.i++
				continue
			case '"':
			default:
				return nil, fmt.Errorf("unexpected %q in an object", s.peek())
			}
			a, b, err := s.value()
			if err != nil {
				return nil, err
			}
			var k string
			if err := json.Unmarshal(s.b[a:b], &k); err != nil {
				return nil, err
			}
			s.ws()
			if s.peek() != ':' {
				return nil, fmt.Errorf("expected ':' after key %q", k)
			}
			s.i++
			v, err := s.node(depth + 1)
			if err != nil {
				return nil, err
			}
			n.keys, n.vals = append(n.keys, k), append(n.vals, v)
		}
	case '[':
		// value counts nesting from the list itself: give it what is left.
		limit := s.maxDepth
		s.maxDepth = limit - depth
		a, b, err := s.value()
		s.maxDepth = limit
		var de *jsonshape.DepthError
		if errors.As(err, &de) {
			return nil, depthErr(limit)
		}
		if err != nil {
			return nil, err
		}
		return &node{kind: '[', raw: s.b[a:b], depth: depth, max: s.maxDepth}, nil
	case 0:
		return nil, fmt.Errorf("unexpected end of the reply")
	default:
		a, b, err := s.value()
		if err != nil {
			return nil, err
		}
		raw := s.b[a:b]
		k := c
		switch {
		case c == '"':
		case c == 'n' || c == 't' || c == 'f':
			var v any
			if json.Unmarshal(raw, &v) != nil {
				return nil, fmt.Errorf("invalid JSON value %.20q", raw)
			}
		default:
			k = '0'
			if _, err := strconv.ParseFloat(string(raw), 64); err != nil {
				return nil, fmt.Errorf("invalid JSON value %.20q", raw)
			}
		}
		return &node{kind: k, raw: raw}, nil
	}
}

// elements expands a list.
func (n *node) elements() []*node {
	if n.kind != '[' {
		return nil
	}
	if !n.open {
		n.open = true
		sc := &jscan{b: n.raw, maxDepth: n.max - n.depth}
		sc.i = 1
		for {
			sc.ws()
			switch sc.peek() {
			case ']', 0:
				return n.elems
			case ',':
				sc.i++
				continue
			}
			e, err := sc.node(1)
			if err != nil { // already scanned whole by value(); cannot happen
				return n.elems
			}
			n.elems = append(n.elems, e)
		}
	}
	return n.elems
}

// field is the value of key in an object, or nil.
func (n *node) field(key string) *node {
	if n == nil || n.kind != '{' {
		return nil
	}
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

// value decodes a scalar: string, json.Number, bool or nil; objects and lists as any.
func (n *node) value() any {
	if n == nil {
		return nil
	}
	var v any
	d := json.NewDecoder(strings.NewReader(string(n.raw)))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return nil
	}
	return v
}

// text is a scalar as Python's str() prints it into a request (a cursor, a next link).
func (n *node) text() string {
	switch n.kind {
	case '"':
		var s string
		_ = json.Unmarshal(n.raw, &s)
		return s
	case 't':
		return "True"
	case 'f':
		return "False"
	case 'n':
		return ""
	}
	return string(n.raw)
}

// truthy is Python's truth of a decoded value, as dlt tests a cursor with `if values[0]`.
func (n *node) truthy() bool {
	switch n.kind {
	case 'n', 'f':
		return false
	case '"':
		return n.text() != ""
	case '0':
		f, _ := strconv.ParseFloat(string(n.raw), 64)
		return f != 0
	case '{':
		return len(n.keys) > 0
	case '[':
		return len(n.elements()) > 0
	}
	return true
}

// jpath is a compiled JSONPath: the subset dlt's configurations use — `$`, `.field`,
// `['field']`, `"quoted.field"`, `[n]`, `[a:b]`, `[*]`, `.*` and `..field`.
type jpath struct {
	src   string
	steps []jstep
}

type jstep struct {
	op         byte // 'f' field, 'i' index, 's' slice, '*' wildcard, 'd' descendants (name or "*")
	name       string
	idx        int
	from, to   int
	hasFrom    bool
	hasTo      bool
	descendant bool
}

func (p *jpath) String() string { return p.src }

// simple is the path as plain field names when it has nothing else (the fast path).
func (p *jpath) simple() ([]string, bool) {
	out := []string{}
	for _, s := range p.steps {
		if s.op != 'f' {
			return nil, false
		}
		out = append(out, s.name)
	}
	return out, true
}

// compilePath parses a JSONPath expression.
func compilePath(src string) (*jpath, error) {
	p := &jpath{src: src}
	s := strings.TrimSpace(src)
	if s == "" {
		return nil, fmt.Errorf("empty JSONPath")
	}
	bad := func(why string) error { return fmt.Errorf("JSONPath %q: %s", src, why) }
	i := 0
	if s[0] == '$' {
		i = 1
	} else {
		// a bare first field: data.items, "na.me".x
		name, n, err := readName(s, 0)
		if err != nil {
			return nil, bad(err.Error())
		}
		if name == "*" {
			p.steps = append(p.steps, jstep{op: '*'})
		} else {
			p.steps = append(p.steps, jstep{op: 'f', name: name})
		}
		i = n
	}
	for i < len(s) {
		switch {
		case strings.HasPrefix(s[i:], ".."):
			name, n, err := readName(s, i+2)
			if err != nil {
				return nil, bad(err.Error())
			}
			p.steps = append(p.steps, jstep{op: 'd', name: name})
			i = n
		case s[i] == '.':
			name, n, err := readName(s, i+1)
			if err != nil {
				return nil, bad(err.Error())
			}
			if name == "*" {
				p.steps = append(p.steps, jstep{op: '*'})
			} else {
				p.steps = append(p.steps, jstep{op: 'f', name: name})
			}
			i = n
		case s[i] == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, bad("unclosed [")
			}
			inner := strings.TrimSpace(s[i+1 : i+end])
			// a quoted name may hold ']'
			if len(inner) > 0 && (inner[0] == '\'' || inner[0] == '"') {
				name, n, err := quoted(s, i+1+strings.Index(s[i+1:], inner[:1]))
				if err != nil {
					return nil, bad(err.Error())
				}
				j := n
				for j < len(s) && s[j] == ' ' {
					j++
				}
				if j >= len(s) || s[j] != ']' {
					return nil, bad("expected ] after a quoted name")
				}
				p.steps = append(p.steps, jstep{op: 'f', name: name})
				i = j + 1
				continue
			}
			i += end + 1
			switch {
			case inner == "*":
				p.steps = append(p.steps, jstep{op: '*'})
			case strings.HasPrefix(inner, "?") || strings.HasPrefix(inner, "("):
				return nil, bad("filter and script expressions ([?(…)]) are not supported; select the list and let the records load whole")
			case strings.Contains(inner, ":"):
				parts := strings.Split(inner, ":")
				if len(parts) != 2 {
					return nil, bad("slices with a step are not supported")
				}
				st := jstep{op: 's'}
				var err error
				if t := strings.TrimSpace(parts[0]); t != "" {
					if st.from, err = strconv.Atoi(t); err != nil {
						return nil, bad("slice start is not an integer")
					}
					st.hasFrom = true
				}
				if t := strings.TrimSpace(parts[1]); t != "" {
					if st.to, err = strconv.Atoi(t); err != nil {
						return nil, bad("slice end is not an integer")
					}
					st.hasTo = true
				}
				p.steps = append(p.steps, st)
			default:
				n, err := strconv.Atoi(inner)
				if err != nil {
					return nil, bad(fmt.Sprintf("[%s] is neither an index, * nor a quoted name", inner))
				}
				p.steps = append(p.steps, jstep{op: 'i', idx: n})
			}
		default:
			return nil, bad(fmt.Sprintf("unexpected %q at position %d", s[i], i))
		}
	}
	return p, nil
}

// readName reads a field name at s[i:]: quoted, *, or up to the next . or [.
func readName(s string, i int) (string, int, error) {
	if i >= len(s) {
		return "", i, fmt.Errorf("a field name is missing at the end")
	}
	if s[i] == '"' || s[i] == '\'' {
		return quoted(s, i)
	}
	j := i
	for j < len(s) && s[j] != '.' && s[j] != '[' {
		j++
	}
	name := strings.TrimSpace(s[i:j])
	if name == "" {
		return "", j, fmt.Errorf("a field name is missing at position %d", i)
	}
	if strings.ContainsAny(name, "()?@$ ") {
		return "", j, fmt.Errorf("%q is not a plain field name (quote it)", name)
	}
	return name, j, nil
}

func quoted(s string, i int) (string, int, error) {
	q := s[i]
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if j+1 < len(s) {
				j++
				b.WriteByte(s[j])
			}
		case q:
			return b.String(), j + 1, nil
		default:
			b.WriteByte(s[j])
		}
	}
	return "", len(s), fmt.Errorf("unterminated quote")
}

// find evaluates the path on root and returns the matches in order; missed reports that
// some step looked for a field or index that is not there (as opposed to walking empty
// lists), so an absent key can be told from an empty page.
func (p *jpath) find(root *node) (out []*node, missed bool) {
	cur := []*node{root}
	for _, st := range p.steps {
		var next []*node
		for _, n := range cur {
			switch st.op {
			case 'f':
				if v := n.field(st.name); v != nil {
					next = append(next, v)
				} else {
					missed = true
				}
			case 'i':
				el := n.elements()
				i := st.idx
				if i < 0 {
					i += len(el)
				}
				if n.kind == '[' && i >= 0 && i < len(el) {
					next = append(next, el[i])
				} else {
					missed = true
				}
			case 's':
				if n.kind != '[' {
					missed = true
					continue
				}
				el := n.elements()
				from, to := 0, len(el)
				if st.hasFrom {
					from = clampIndex(st.from, len(el))
				}
				if st.hasTo {
					to = clampIndex(st.to, len(el))
				}
				if from < to {
					next = append(next, el[from:to]...)
				}
			case '*':
				switch n.kind {
				case '[':
					next = append(next, n.elements()...)
				case '{':
					next = append(next, n.vals...)
				default:
					missed = true
				}
			case 'd':
				next = append(next, descend(n, st.name)...)
			}
		}
		cur = next
	}
	return cur, missed && len(cur) == 0
}

func clampIndex(i, n int) int {
	if i < 0 {
		i += n
	}
	return max(0, min(i, n))
}

// descend finds name (or every value, for "*") at any depth below n, depth first in order.
func descend(n *node, name string) []*node {
	var out []*node
	var walk func(*node)
	walk = func(n *node) {
		switch n.kind {
		case '{':
			for i, k := range n.keys {
				if name == "*" || k == name {
					out = append(out, n.vals[i])
				}
			}
			for _, v := range n.vals {
				walk(v)
			}
		case '[':
			for _, e := range n.elements() {
				if name == "*" {
					out = append(out, e)
				}
				walk(e)
			}
		}
	}
	walk(n)
	return out
}

// first is the first match of p in root, as dlt takes values[0].
func (p *jpath) first(root *node) *node {
	if p == nil || root == nil {
		return nil
	}
	m, _ := p.find(root)
	if len(m) == 0 {
		return nil
	}
	return m[0]
}
