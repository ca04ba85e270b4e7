package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Kind is the type a configuration key accepts.
type Kind int

const (
	String     Kind = iota // any scalar, kept as text
	Int                    // an integer
	Float                  // a number
	Bool                   // true/false
	StringList             // a list of scalars, or one scalar, or a comma-separated string
	Map                    // free-form mapping (kept as map[string]any)
	Object                 // nested mapping validated against Field.Fields
	Any                    // anything; decoded as is
	ObjectMap              // mapping of free names to mappings validated against Field.Fields
	ObjectList             // list of mappings validated against Field.Fields/Variants (a scalar item sets Field.Shorthand)
	MapOf                  // mapping of free names, each value validated against Field.Elem
	Scalar                 // one plain value kept with its YAML type (string, int64, float64, bool)
)

func (k Kind) String() string {
	return [...]string{"string", "integer", "number", "boolean", "list of strings", "mapping", "mapping", "any value", "mapping of names to mappings", "list of mappings", "mapping", "value"}[k]
}

// Field declares one key of a Spec.
type Field struct {
	Name     string
	Kind     Kind
	Required bool
	Default  any
	Enum     []string // allowed values for String
	// Nullable: an explicit null is accepted and kept (as nil) — dlt's `total_path: None`
	// turns a default off, which leaving the key out cannot say.
	Nullable bool
	Doc      string
	Example  string
	Fields   []Field // for Object, ObjectMap and ObjectList items
	// Shorthand: an Object (or ObjectList item) given as a plain value is read as a mapping
	// with this one key (`paginator: json_link` is {type: json_link}).
	Shorthand string
	// ScalarOK: an Object may also be a plain value (or a list of plain values), kept as is.
	ScalarOK bool
	// Variants: the object's keys depend on its `type`, one of Variants' types or aliases
	// (normalised to the variant's Type). DefaultType applies when `type` is absent; without
	// one, `type` is required.
	Variants    []Variant
	DefaultType string
	// Refuse: the key is known (usually from dlt) but cannot be honoured; its presence is an
	// error with this message.
	Refuse string
	// Check validates the decoded value further. A *CheckError places the problem at its own
	// line and sub-path; any other error is reported at the key's value.
	Check func(v any) error
	// Elem validates every value of a MapOf.
	Elem *Field
	// SeeAlso: the docs list this key's nested keys once, under the key named here.
	SeeAlso string
	// Positions, for a Map, records where each of its keys is written, so that a connector
	// that checks the mapping later can name the file and line (Values.KeyError).
	Positions bool
}

// Variant is one `type` of an object whose keys depend on it.
type Variant struct {
	Type    string
	Aliases []string // other names accepted for Type (dango's older names)
	Doc     string
	Fields  []Field
}

// CheckError is a problem a Field.Check found at a line of its own, Path relative to the key.
type CheckError struct {
	Line int
	Path string // e.g. "resources[2].endpoint.params.id"; may be empty
	Msg  string
}

func (e *CheckError) Error() string { return e.Path + ": " + e.Msg }

// CheckErrorf builds a CheckError.
func CheckErrorf(line int, path, format string, args ...any) *CheckError {
	return &CheckError{Line: line, Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Spec declares the keys a configuration block accepts. A Spec doubles as documentation.
type Spec struct {
	Type    string // the source type (or block name) it belongs to
	Summary string
	Fields  []Field
	// Check validates the whole block after its keys are decoded (relations between keys).
	Check func(v Values) error
}

// Specs is what config needs of a connector registry: the Spec of a type, and the list of
// types for error messages.
type Specs interface {
	Spec(sourceType string) (*Spec, bool)
	Types() []string
}

// Values are validated settings of one block, defaults filled in. Keys ending in "_env" have
// been resolved: Values holds both the variable's name under the original key and its value,
// as a Secret, under the key without the suffix.
type Values map[string]any

// Secret is a resolved credential. Its String and formatting verbs never print the value.
type Secret string

func (s Secret) String() string   { return "[redacted]" }
func (s Secret) GoString() string { return "[redacted]" }

// MarshalJSON keeps the value out of JSON (events, records, logs) too.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// Reveal returns the secret's value, for the one place that must send it.
func (s Secret) Reveal() string { return string(s) }

func (v Values) String(key string) string {
	switch x := v[key].(type) {
	case string:
		return x
	case Secret:
		return x.Reveal()
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

func (v Values) Bool(key string) bool { b, _ := v[key].(bool); return b }

func (v Values) Has(key string) bool { _, ok := v[key]; return ok }

// keyPositions are the lines of a Map field's keys ("a", "a.b" for nested mappings; "" the
// field itself).
type keyPositions struct {
	file  string
	lines map[string]int
}

func posKey(field string) string { return "\x00pos." + field }

func keyLines(n *yaml.Node, prefix string, out map[string]int) {
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := prefix + n.Content[i].Value
		out[k] = n.Content[i].Line
		keyLines(n.Content[i+1], k+".", out)
	}
}

// KeyError is an error about a key inside the Map field (keyPath "a" or "a.b"), located at
// the line where that key is written (or the field's, when unknown) when the field records
// Positions; without them it is a plain error. The message should name the key.
func (v Values) KeyError(field, keyPath, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	pos, ok := v[posKey(field)].(keyPositions)
	if !ok {
		return fmt.Errorf("%s", msg)
	}
	line, ok := pos.lines[keyPath]
	if !ok {
		line = pos.lines[""]
	}
	return &Error{File: pos.file, Line: line, Msg: msg}
}

func (v Values) Int(key string) int64 {
	switch x := v[key].(type) {
	case int64:
		return x
	case int:
		return int64(x)
	case float64:
		return int64(x)
	}
	return 0
}

func (v Values) Float(key string) float64 {
	switch x := v[key].(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	}
	return 0
}

func (v Values) Strings(key string) []string { s, _ := v[key].([]string); return s }

func (v Values) Object(key string) Values { o, _ := v[key].(Values); return o }

// Secret returns the resolved value of "<key>_env".
func (v Values) Secret(key string) (Secret, bool) { s, ok := v[key].(Secret); return s, ok }

// decoder validates YAML nodes against fields, remembering the file for error messages.
type decoder struct {
	file    string
	secrets *SecretResolver // nil: leave *_env keys unresolved
}

// decodeBlock validates a mapping node against fields. path names the block for messages
// (e.g. "sources[1].csv").
func (d *decoder) decodeBlock(node *yaml.Node, path string, fields []Field) (Values, error) {
	node = resolveAlias(node)
	if node.Kind != yaml.MappingNode {
		return nil, errorf(d.file, node.Line, "%s: expected a mapping of keys, got %s", path, describe(node))
	}
	out := Values{}
	seen := map[string]bool{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, val := node.Content[i], resolveAlias(node.Content[i+1])
		key := k.Value
		if seen[key] {
			return nil, errorf(d.file, k.Line, "%s: key %q appears twice", path, key)
		}
		seen[key] = true
		f := findField(fields, key)
		if f == nil {
			// Any string key x may be given as x_env: the value comes from that variable.
			base := strings.TrimSuffix(key, "_env")
			if bf := findField(fields, base); base != key && bf != nil && bf.Kind == String {
				if seen[base] {
					return nil, errorf(d.file, k.Line, "%s: set either %q or %q, not both", path, base, key)
				}
				seen[base] = true
				if err := d.resolveEnv(out, key, val, path); err != nil {
					return nil, err
				}
				continue
			}
			return nil, errorf(d.file, k.Line, "%s: unknown key %q (%svalid keys: %s)", path, key, suggest(key, fields), fieldNames(fields))
		}
		if f.Refuse != "" {
			return nil, errorf(d.file, k.Line, "%s.%s: %s", path, key, f.Refuse)
		}
		if seen[key+"_env"] {
			return nil, errorf(d.file, k.Line, "%s: set either %q or %q, not both", path, key, key+"_env")
		}
		v, err := d.decodeValue(val, path+"."+key, f)
		if err != nil {
			return nil, err
		}
		if f.Check != nil {
			if err := d.check(f.Check, v, val, path+"."+key); err != nil {
				return nil, err
			}
		}
		out[key] = v
		if f.Kind == Map && f.Positions {
			lines := map[string]int{"": k.Line}
			keyLines(val, "", lines)
			out[posKey(key)] = keyPositions{file: d.file, lines: lines}
		}
		switch x := v.(type) {
		case string:
			registerSetting(key, x)
		case map[string]any:
			registerAny(key, x)
		case []any:
			registerAny(key, x)
		}
		if strings.HasSuffix(key, "_env") {
			if err := d.resolveEnv(out, key, val, path); err != nil {
				return nil, err
			}
		}
	}
	for _, f := range fields {
		if _, ok := out[f.Name]; ok {
			continue
		}
		if f.Required {
			return nil, errorf(d.file, node.Line, "%s: missing required key %q (%s)", path, f.Name, f.Doc)
		}
		if f.Default != nil {
			out[f.Name] = f.Default
		}
	}
	return out, nil
}

// resolveEnv stores the variable named by key's value (as a Secret) under key minus "_env".
func (d *decoder) resolveEnv(out Values, key string, val *yaml.Node, path string) error {
	if val.Kind != yaml.ScalarNode || val.Value == "" {
		return errorf(d.file, val.Line, "%s.%s: expected the name of an environment variable, got %s", path, key, describe(val))
	}
	out[key] = val.Value
	if d.secrets == nil {
		return nil
	}
	secret, err := d.secrets.lookup(val.Value)
	if err != nil {
		return errorf(d.file, val.Line, "%s.%s: %v", path, key, err)
	}
	base := strings.TrimSuffix(key, "_env")
	registerSetting(base, secret.Reveal())
	out[base] = secret
	return nil
}

func (d *decoder) decodeValue(n *yaml.Node, path string, f *Field) (any, error) {
	bad := func() error {
		return errorf(d.file, n.Line, "%s: expected %s, got %s", path, f.Kind, describe(n))
	}
	if f.Nullable && n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	switch f.Kind {
	case String:
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			return nil, bad()
		}
		if len(f.Enum) > 0 && !contains(f.Enum, n.Value) {
			return nil, errorf(d.file, n.Line, "%s: %q is not one of %s", path, n.Value, strings.Join(f.Enum, ", "))
		}
		return n.Value, nil
	case Int:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			return nil, bad()
		}
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if err != nil {
			return nil, bad()
		}
		return i, nil
	case Float:
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
			return nil, bad()
		}
		x, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			return nil, bad()
		}
		return x, nil
	case Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			return nil, bad()
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, bad()
		}
		return b, nil
	case StringList:
		switch n.Kind {
		case yaml.ScalarNode:
			if n.Tag == "!!null" {
				return []string{}, nil
			}
			return splitList(n.Value), nil
		case yaml.SequenceNode:
			out := make([]string, 0, len(n.Content))
			for _, c := range n.Content {
				c = resolveAlias(c)
				if c.Kind != yaml.ScalarNode {
					return nil, errorf(d.file, c.Line, "%s: list items must be plain values, got %s", path, describe(c))
				}
				out = append(out, c.Value)
			}
			return out, nil
		}
		return nil, bad()
	case Map:
		if n.Kind != yaml.MappingNode {
			return nil, bad()
		}
		var m map[string]any
		if err := n.Decode(&m); err != nil {
			return nil, errorf(d.file, n.Line, "%s: %v", path, err)
		}
		return m, nil
	case Object:
		return d.decodeObject(n, path, f)
	case ObjectList:
		return d.decodeObjectList(n, path, f)
	case MapOf:
		return d.decodeMapOf(n, path, f)
	case Scalar:
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			return nil, bad()
		}
		return scalarValue(n), nil
	case ObjectMap:
		if n.Kind != yaml.MappingNode {
			return nil, bad()
		}
		out := map[string]Values{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			name := n.Content[i].Value
			if _, dup := out[name]; dup {
				return nil, errorf(d.file, n.Content[i].Line, "%s: %q appears twice", path, name)
			}
			v, err := d.decodeBlock(resolveAlias(n.Content[i+1]), path+"."+name, f.Fields)
			if err != nil {
				return nil, err
			}
			v["\x00line"] = int64(n.Content[i].Line)
			out[name] = v
		}
		return out, nil
	default:
		var x any
		if err := n.Decode(&x); err != nil {
			return nil, errorf(d.file, n.Line, "%s: %v", path, err)
		}
		return x, nil
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing (null)"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unsupported value"
}

func findField(fields []Field, name string) *Field {
	for i := range fields {
		if fields[i].Name == name {
			return &fields[i]
		}
	}
	return nil
}

func fieldNames(fields []Field) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Markdown renders the spec as a reference table, used by `dango source types` and the README.
func (s *Spec) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### `type: %s`\n\n%s\n\n| key | kind | default | description |\n|---|---|---|---|\n", s.Type, s.Summary)
	writeFields(&b, "", s.Fields)
	return b.String()
}

func writeFields(b *strings.Builder, prefix string, fields []Field) {
	for _, f := range fields {
		def := ""
		if f.Required {
			def = "required"
		} else if f.Default != nil {
			def = fmt.Sprintf("`%v`", f.Default)
		}
		doc, kind := f.Doc, f.Kind.String()
		if len(f.Enum) > 0 {
			doc += " One of: " + strings.Join(f.Enum, ", ") + "."
		}
		if f.Refuse != "" {
			doc, kind = "Refused: "+f.Refuse+".", "—"
		}
		if f.SeeAlso != "" {
			doc += " Its keys: see `" + f.SeeAlso + "`."
		}
		fmt.Fprintf(b, "| `%s%s` | %s | %s | %s |\n", prefix, f.Name, kind, def, doc)
		if f.SeeAlso != "" {
			continue
		}
		switch f.Kind {
		case Object, ObjectList:
			writeFields(b, prefix+f.Name+".", f.Fields)
			writeVariants(b, prefix+f.Name, f.Variants)
		case MapOf:
			if f.Elem != nil {
				writeFields(b, prefix+f.Name+".<name>.", f.Elem.Fields)
				writeVariants(b, prefix+f.Name+".<name>", f.Elem.Variants)
			}
		case ObjectMap:
			writeFields(b, prefix+f.Name+".<name>.", f.Fields)
		}
	}
}

func emptyMapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Line: 1} }
