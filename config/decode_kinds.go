package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LineKey is where ObjectList items keep the line they start on (read it with Values.Line).
const LineKey = "\x00line"

// Line is the line an ObjectList item or ObjectMap entry starts on (0 when unknown).
func (v Values) Line() int { return int(v.Int(LineKey)) }

// List returns an ObjectList value.
func (v Values) List(key string) []Values { l, _ := v[key].([]Values); return l }

// Plain returns v without its bookkeeping keys, as a map a connector can pass on.
func (v Values) Plain() map[string]any {
	out := make(map[string]any, len(v))
	for k, x := range v {
		if !strings.HasPrefix(k, "\x00") {
			out[k] = x
		}
	}
	return out
}

// check runs a Field.Check and places its error.
func (d *decoder) check(fn func(any) error, v any, node *yaml.Node, path string) error {
	err := fn(v)
	if err == nil {
		return nil
	}
	line := node.Line
	var ce *CheckError
	if errors.As(err, &ce) {
		if ce.Line > 0 {
			line = ce.Line
		} else if l := nodeLine(node, ce.Path); l > 0 {
			line = l
		}
		p := path
		if ce.Path != "" {
			p += "." + ce.Path
		}
		return errorf(d.file, line, "%s: %s", p, ce.Msg)
	}
	var ue *Error
	if errors.As(err, &ue) {
		return err
	}
	return errorf(d.file, line, "%s: %v", path, err)
}

// nodeLine finds the line of path ("a.b[2].c", relative to n) in a YAML tree: the key's
// line for a mapping member, the item's for a list element; 0 when it is not there.
func nodeLine(n *yaml.Node, path string) int {
	line := 0
	for _, part := range strings.Split(path, ".") {
		if part == "" {
			continue
		}
		key, rest, _ := strings.Cut(part, "[")
		if key != "" {
			n = resolveAlias(n)
			if n == nil || n.Kind != yaml.MappingNode {
				return line
			}
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == key {
					line, next = n.Content[i].Line, n.Content[i+1]
				}
			}
			if next == nil {
				return line
			}
			n = next
		}
		for rest != "" {
			idx, after, _ := strings.Cut(rest, "]")
			i, err := strconv.Atoi(idx)
			n = resolveAlias(n)
			if err != nil || n == nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
				return line
			}
			n = resolveAlias(n.Content[i])
			line = n.Line
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return line
}

// shorthand turns a plain value into the one-key mapping {key: value}.
func shorthand(n *yaml.Node, key string) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: key, Line: n.Line, Column: n.Column}, n}}
}

// decodeObject validates a mapping against f.Fields, or f.Fields plus the fields of the
// variant its `type` names; a plain value is f.Shorthand's value (or kept, with ScalarOK).
func (d *decoder) decodeObject(n *yaml.Node, path string, f *Field) (any, error) {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		switch {
		case f.ScalarOK:
			return scalarValue(n), nil
		case f.Shorthand != "":
			n = shorthand(n, f.Shorthand)
		}
	}
	if n.Kind == yaml.SequenceNode && f.ScalarOK {
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			c = resolveAlias(c)
			if c.Kind != yaml.ScalarNode {
				return nil, errorf(d.file, c.Line, "%s: list items must be plain values, got %s", path, describe(c))
			}
			out = append(out, scalarValue(c))
		}
		return out, nil
	}
	if len(f.Variants) == 0 {
		return d.decodeBlock(n, path, f.Fields)
	}
	if n.Kind != yaml.MappingNode {
		return nil, errorf(d.file, n.Line, "%s: expected a mapping of keys, got %s", path, describe(n))
	}
	typ, line := f.DefaultType, n.Line
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "type" {
			tn := resolveAlias(n.Content[i+1])
			if tn.Kind != yaml.ScalarNode {
				return nil, errorf(d.file, tn.Line, "%s.type: expected one of %s, got %s", path, variantNames(f.Variants), describe(tn))
			}
			typ, line = tn.Value, tn.Line
		}
	}
	if typ == "" {
		return nil, errorf(d.file, n.Line, "%s: missing required key \"type\" (one of %s)", path, variantNames(f.Variants))
	}
	v := findVariant(f.Variants, typ)
	if v == nil {
		return nil, errorf(d.file, line, "%s.type: unknown type %q (%svalid types: %s)", path, typ, suggestName(typ, allVariantNames(f.Variants)), variantNames(f.Variants))
	}
	fields := append(append([]Field{{Name: "type", Kind: String, Doc: "One of " + variantNames(f.Variants) + "."}}, f.Fields...), v.Fields...)
	out, err := d.decodeTyped(n, path, fields, v.Type)
	if err != nil {
		return nil, err
	}
	out["type"] = v.Type
	return out, nil
}

// decodeTyped is decodeBlock whose unknown-key errors name the type.
func (d *decoder) decodeTyped(n *yaml.Node, path string, fields []Field, typ string) (Values, error) {
	out, err := d.decodeBlock(n, path, fields)
	var ce *Error
	if err != nil && errors.As(err, &ce) && strings.Contains(ce.Msg, ": unknown key ") {
		ce.Msg = strings.Replace(ce.Msg, ": unknown key ", fmt.Sprintf(": with type %s, unknown key ", typ), 1)
	}
	return out, err
}

func (d *decoder) decodeObjectList(n *yaml.Node, path string, f *Field) (any, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return []Values{}, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, errorf(d.file, n.Line, "%s: expected a list, got %s", path, describe(n))
	}
	out := make([]Values, 0, len(n.Content))
	for i, c := range n.Content {
		c = resolveAlias(c)
		p := fmt.Sprintf("%s[%d]", path, i)
		if c.Kind == yaml.ScalarNode && f.Shorthand == "" {
			return nil, errorf(d.file, c.Line, "%s: expected a mapping of keys, got %s", p, describe(c))
		}
		item := *f
		item.ScalarOK = false
		v, err := d.decodeObject(c, p, &item)
		if err != nil {
			return nil, err
		}
		vals := v.(Values)
		vals[LineKey] = int64(c.Line)
		out = append(out, vals)
	}
	return out, nil
}

func (d *decoder) decodeMapOf(n *yaml.Node, path string, f *Field) (any, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return map[string]any{}, nil
	}
	if f.ScalarOK && n.Kind == yaml.ScalarNode {
		return scalarValue(n), nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, errorf(d.file, n.Line, "%s: expected a mapping, got %s", path, describe(n))
	}
	elem := f.Elem
	if elem == nil {
		elem = &Field{Kind: Any}
	}
	out := map[string]any{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if _, dup := out[k.Value]; dup {
			return nil, errorf(d.file, k.Line, "%s: key %q appears twice", path, k.Value)
		}
		v, err := d.decodeValue(resolveAlias(n.Content[i+1]), path+"."+k.Value, elem)
		if err != nil {
			return nil, err
		}
		out[k.Value] = v
		registerAny(k.Value, v) // a query param named like a credential is one
	}
	return out, nil
}

// scalarValue keeps a plain value's YAML type.
func scalarValue(n *yaml.Node) any {
	switch n.Tag {
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return i
		}
	case "!!float":
		if x, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return x
		}
	case "!!bool":
		var b bool
		if n.Decode(&b) == nil {
			return b
		}
	case "!!null":
		return nil
	}
	return n.Value
}

func findVariant(vs []Variant, typ string) *Variant {
	for i := range vs {
		if vs[i].Type == typ || contains(vs[i].Aliases, typ) {
			return &vs[i]
		}
	}
	return nil
}

func variantNames(vs []Variant) string {
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = v.Type
	}
	return strings.Join(names, ", ")
}

func allVariantNames(vs []Variant) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Type)
		out = append(out, v.Aliases...)
	}
	return out
}

// suggest proposes the valid key closest to a misspelt one: `did you mean "x"?; `.
func suggest(key string, fields []Field) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	return suggestName(key, names)
}

func suggestName(key string, names []string) string {
	best, bestD := "", 0
	for _, n := range names {
		d := editDistance(strings.ToLower(key), strings.ToLower(n))
		limit := 2
		if len(key) <= 4 {
			limit = 1
		}
		if d <= limit && (best == "" || d < bestD) {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("did you mean %q?; ", best)
}

// editDistance is the Levenshtein distance of a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func writeVariants(b *strings.Builder, name string, vs []Variant) {
	for _, v := range vs {
		names := "`" + v.Type + "`"
		if len(v.Aliases) > 0 {
			names += " (also " + strings.Join(v.Aliases, ", ") + ")"
		}
		fmt.Fprintf(b, "| `%s.type` = %s | | | %s |\n", name, names, v.Doc)
		writeFields(b, name+".", v.Fields)
	}
}
