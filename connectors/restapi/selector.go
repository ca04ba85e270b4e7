package restapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dangohq/dango/jsonshape"
)

// selectShaped returns the records of a reply as raw JSON, without decoding them, the way
// dlt's client extracts a page with data_selector: the values the JSONPath matches; one
// match that is a list gives its elements, one that is null gives none, any other single
// value is one record; several matches are one record each. Scalars are wrapped as
// {"value": …}. Unlike dlt, a selector naming a key the reply does not have is an error,
// not an empty page: a misspelt selector or a changed API must not load nothing quietly.
//
// A selector of plain field names (the usual `data`, `$.data.items`) only finds where each
// record starts and ends (a structural scan, ~10× faster than encoding/json); DuckDB
// validates the records when it loads the spooled file, and a reply that is not even
// structurally JSON fails here. The records of a list are also added to shape (when not
// nil), each walked once.
func selectShaped(body []byte, sel *jpath, shape *jsonshape.Shape) ([]json.RawMessage, error) {
	sc := &jscan{b: body, shape: shape, maxDepth: jsonshape.DefaultMaxDepth}
	if shape != nil && shape.MaxDepth > 0 {
		sc.maxDepth = shape.MaxDepth
	}
	raw, err := sc.selectRecords(sel)
	var de *jsonshape.DepthError
	if errors.As(err, &de) {
		return nil, fmt.Errorf("the reply nests JSON deeper than %d levels (max_json_depth); refusing it", de.Limit)
	}
	return raw, err
}

func depthErr(limit int) error { return &jsonshape.DepthError{Limit: limit} }

// SelectorMissError is a data_selector that matches nothing in a reply.
type SelectorMissError struct {
	Selector string
	Keys     []string // the reply's top-level keys
}

func (e *SelectorMissError) Error() string {
	keys := "it is not an object"
	if e.Keys != nil {
		keys = fmt.Sprintf("its top-level keys are %s", quoteListMax(e.Keys, 12))
	}
	return fmt.Sprintf("data_selector %q matches nothing in the reply (%s); fix data_selector, or remove it to have the records found as dlt finds them", e.Selector, keys)
}

func quoteListMax(l []string, most int) string {
	var b bytes.Buffer
	for i, s := range l {
		if i == most {
			fmt.Fprintf(&b, ", … (%d more)", len(l)-most)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", s)
	}
	if len(l) == 0 {
		return "none"
	}
	return b.String()
}

func (sc *jscan) selectRecords(sel *jpath) ([]json.RawMessage, error) {
	body := sc.b
	if fields, ok := sel.simple(); ok {
		start := sc.i
		for _, part := range fields {
			found, err := sc.enterKey(part)
			if err != nil {
				return nil, fmt.Errorf("malformed JSON in the reply: %w", err)
			}
			if !found {
				return nil, sc.miss(sel, start)
			}
		}
		sc.ws()
		switch sc.peek() {
		case '[':
			return sc.list()
		case 'n':
			if _, _, err := sc.value(); err != nil {
				return nil, fmt.Errorf("malformed JSON in the reply: %w", err)
			}
			return nil, nil
		}
		a, b, err := sc.value()
		if err != nil {
			return nil, fmt.Errorf("malformed JSON in the reply: %w", err)
		}
		return wrapScalars([]json.RawMessage{body[a:b]}), nil
	}
	root, err := parseNode(body, sc.maxDepth)
	if err != nil {
		var de *jsonshape.DepthError
		if errors.As(err, &de) {
			return nil, err
		}
		return nil, fmt.Errorf("malformed JSON in the reply: %w", err)
	}
	matches, missed := sel.find(root)
	if missed {
		return nil, sc.miss(sel, 0)
	}
	if len(matches) == 1 {
		switch m := matches[0]; m.kind {
		case '[':
			sub := &jscan{b: m.raw, shape: sc.shape, maxDepth: sc.maxDepth}
			return sub.list()
		case 'n':
			return nil, nil
		}
	}
	out := make([]json.RawMessage, len(matches))
	for i, m := range matches {
		out[i] = m.raw
	}
	return wrapScalars(out), nil
}

// miss describes a selector that found nothing, listing the reply's top-level keys.
func (sc *jscan) miss(sel *jpath, start int) error {
	e := &SelectorMissError{Selector: sel.src}
	if root, err := parseNode(sc.b[start:], sc.maxDepth); err == nil && root.kind == '{' {
		e.Keys = append([]string{}, root.keys...)
	}
	return e
}

// Record and next-page keys dlt's detector recognises.
var (
	recordKeys = map[string]bool{"data": true, "items": true, "results": true, "entries": true, "records": true, "rows": true,
		"entities": true, "payload": true, "content": true, "objects": true, "values": true}
	nonRecordKeys = map[string]bool{"meta": true, "metadata": true, "pagination": true, "links": true, "extras": true, "headers": true}
)

// detectSelector finds the records in a reply the way dlt does when data_selector is unset:
// a reply that is not an object is the records itself; otherwise, among the lists found at
// most three keys deep (depth first, in the reply's key order), the first one whose key is
// a usual name for records (data, items, results, …), else the first list; an object with
// no list at all is one record.
func detectSelector(root *node) *jpath {
	whole := &jpath{src: "$"}
	if root == nil || root.kind != '{' {
		return whole
	}
	type found struct{ path []string }
	var lists []found
	var walk func(n *node, path []string)
	walk = func(n *node, path []string) {
		if len(path) > 2 {
			return
		}
		for i, k := range n.keys {
			p := append(append([]string{}, path...), k)
			switch v := n.vals[i]; v.kind {
			case '[':
				lists = append(lists, found{p})
			case '{':
				walk(v, p)
			}
		}
	}
	walk(root, nil)
	if len(lists) == 0 {
		return whole
	}
	pick := lists[0].path
	for _, l := range lists {
		if k := l.path[len(l.path)-1]; recordKeys[k] && !nonRecordKeys[k] {
			pick = l.path
			break
		}
	}
	return fieldPath(pick)
}

// fieldPath is a JSONPath of plain field names.
func fieldPath(keys []string) *jpath {
	p := &jpath{src: "$"}
	for _, k := range keys {
		p.steps = append(p.steps, jstep{op: 'f', name: k})
	}
	for _, k := range keys {
		if plainKey(k) {
			p.src += "." + k
		} else {
			p.src += "[" + strconvQuote(k) + "]"
		}
	}
	return p
}

func plainKey(k string) bool {
	for _, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return k != ""
}

func strconvQuote(k string) string {
	b, _ := json.Marshal(k)
	return "'" + string(b[1:len(b)-1]) + "'"
}

// jscan walks JSON structure without decoding values.
type jscan struct {
	b        []byte
	i        int
	shape    *jsonshape.Shape // observes list elements, when set
	maxDepth int
}

func (s *jscan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jscan) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// value skips one value and returns its span.
func (s *jscan) value() (int, int, error) {
	s.ws()
	start := s.i
	if s.i >= len(s.b) {
		return 0, 0, errors.New("unexpected end")
	}
	switch c := s.b[s.i]; c {
	case '"':
		return start, s.i, s.str()
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if err := s.str(); err != nil {
					return 0, 0, err
				}
				continue
			case '{', '[':
				if depth++; depth > s.maxDepth {
					return 0, 0, &jsonshape.DepthError{Limit: s.maxDepth}
				}
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return start, s.i, nil
				}
			}
			s.i++
		}
		return 0, 0, errors.New("unexpected end inside " + string(c))
	default:
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if s.i == start {
					return 0, 0, fmt.Errorf("unexpected %q", s.b[s.i])
				}
				return start, s.i, nil
			}
			s.i++
		}
		return start, s.i, nil
	}
}

// str skips a string starting at s.i; s.i ends after its closing quote.
func (s *jscan) str() error {
	s.i++
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
			continue
		case '"':
			s.i++
			return nil
		}
		s.i++
	}
	return errors.New("unterminated string")
}

// enterKey moves into the value of key in the object at s.i, reporting whether it exists.
func (s *jscan) enterKey(key string) (bool, error) {
	s.ws()
	if s.peek() != '{' {
		return false, nil
	}
	s.i++
	for {
		s.ws()
		switch s.peek() {
		case '}':
			s.i++
			return false, nil
		case ',':
			s.i++
			continue
		case '"':
		default:
			return false, fmt.Errorf("unexpected %q in an object", s.peek())
		}
		a, b, err := s.value()
		if err != nil {
			return false, err
		}
		var k string
		if err := json.Unmarshal(s.b[a:b], &k); err != nil {
			return false, err
		}
		s.ws()
		if s.peek() != ':' {
			return false, errors.New("expected ':' after a key")
		}
		s.i++
		s.ws()
		if k == key {
			return true, nil
		}
		if _, _, err := s.value(); err != nil {
			return false, err
		}
	}
}

// list returns the elements of the list at s.i.
func (s *jscan) list() ([]json.RawMessage, error) {
	s.i++ // [
	var out []json.RawMessage
	for {
		s.ws()
		switch s.peek() {
		case ']':
			s.i++
			return wrapScalars(out), nil
		case ',':
			s.i++
			continue
		case 0:
			return nil, errors.New("malformed JSON in the reply: unexpected end of a list")
		}
		var a, b int
		var err error
		if s.shape != nil && s.peek() == '{' {
			a = s.i
			b, err = s.shape.ObserveAt(s.b, s.i)
			s.i = b
		} else {
			a, b, err = s.value()
		}
		if err != nil {
			return nil, fmt.Errorf("malformed JSON in the reply: %w", err)
		}
		out = append(out, s.b[a:b])
	}
}

func wrapScalars(list []json.RawMessage) []json.RawMessage {
	for i, e := range list {
		if e := bytes.TrimSpace(e); len(e) == 0 || e[0] != '{' {
			list[i] = json.RawMessage(`{"value":` + string(e) + `}`)
		}
	}
	return list
}
