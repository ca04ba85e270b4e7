package dbtdeps

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"go.yaml.in/yaml/v3"
)

// Spec is one entry of packages.yml, dependencies.yml or package-lock.yml.
type Spec struct {
	Kind              string // local, git, tarball or hub
	Local             string
	Git               string
	Revision          string // git: "" means HEAD
	Subdirectory      string
	WarnUnpinned      bool // git: warn when following a branch (default true)
	Tarball           string
	Name              string // tarball's project name; optional elsewhere
	Package           string // hub: org/name
	Versions          []string
	InstallPrerelease bool

	rendered map[string]any // the entry after env_var() rendering
	raw      map[string]any // the entry as written
	File     string
	Line     int
}

// Error is a problem in a packages file, located by file and line when known.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	if e.File == "" {
		return e.Msg
	}
	return e.File + ": " + e.Msg
}

var allowedKeys = map[string][]string{
	"local":   {"local", "name"},
	"git":     {"git", "revision", "warn-unpinned", "subdirectory", "name"},
	"tarball": {"tarball", "name"},
	"hub":     {"package", "version", "install_prerelease", "name"},
}

// Declared is what a project asks for: its package entries and the file that holds them.
type Declared struct {
	File  string // packages.yml or dependencies.yml ("" when neither declares packages)
	Specs []*Spec
}

// ReadDeclared reads a project's packages the way dbt chooses between packages.yml and
// dependencies.yml: both may exist, but only one may hold a packages: key; dependencies.yml's
// wins when packages.yml has none.
func ReadDeclared(dir string) (*Declared, error) {
	pk, pkNode, err := readYAMLFile(filepath.Join(dir, "packages.yml"))
	if err != nil {
		return nil, &Error{File: "packages.yml", Msg: err.Error()}
	}
	dp, dpNode, err := readYAMLFile(filepath.Join(dir, "dependencies.yml"))
	if err != nil {
		return nil, &Error{File: "dependencies.yml", Msg: err.Error()}
	}
	_, inPk := pk["packages"]
	_, inDp := dp["packages"]
	if inPk && inDp {
		return nil, &Error{File: "dependencies.yml", Msg: "The 'packages' key cannot be specified in both packages.yml and dependencies.yml"}
	}
	if _, ok := pk["projects"]; ok {
		return nil, &Error{File: "packages.yml", Msg: "The 'projects' key cannot be specified in packages.yml"}
	}
	d := &Declared{}
	var node *yaml.Node
	var doc map[string]any
	switch {
	case inDp:
		d.File, doc, node = "dependencies.yml", dp, dpNode
		for k := range dp {
			if k != "packages" && k != "projects" {
				return nil, &Error{File: d.File, Line: keyLine(node, k), Msg: fmt.Sprintf("unknown key %q (dependencies.yml holds packages: and projects:)", k)}
			}
		}
		if _, ok := dp["projects"]; ok {
			return nil, &Error{File: d.File, Line: keyLine(node, "projects"), Msg: "projects: (dbt Mesh cross-project dependencies) are not supported by dango"}
		}
	case inPk || len(pk) > 0:
		d.File, doc, node = "packages.yml", pk, pkNode
		for k := range pk {
			if k != "packages" {
				return nil, &Error{File: d.File, Line: keyLine(node, k), Msg: fmt.Sprintf("unknown key %q (packages.yml holds a packages: list)", k)}
			}
		}
	default:
		return d, nil
	}
	specs, err := parseSpecs(d.File, doc["packages"], valueNode(node, "packages"), false)
	if err != nil {
		return nil, err
	}
	d.Specs = specs
	return d, nil
}

func readYAMLFile(path string) (map[string]any, *yaml.Node, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]any{}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var node yaml.Node
	if err := yaml.Unmarshal(data, &node); err != nil {
		return nil, nil, fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var m map[string]any
	if err := node.Decode(&m); err != nil {
		return nil, nil, fmt.Errorf("must be a mapping: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if m == nil {
		m = map[string]any{}
	}
	var root *yaml.Node
	if len(node.Content) > 0 {
		root = node.Content[0]
	}
	return m, root, nil
}

func valueNode(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func keyLine(m *yaml.Node, key string) int {
	if m == nil || m.Kind != yaml.MappingNode {
		return 0
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i].Line
		}
	}
	return m.Line
}

// parseSpecs validates a packages: list. lock entries carry "name" for tarballs and pinned
// revisions; the same rules apply.
func parseSpecs(file string, v any, node *yaml.Node, lock bool) ([]*Spec, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, &Error{File: file, Line: lineOf(node), Msg: "packages: must be a list"}
	}
	var out []*Spec
	for i, e := range list {
		var en *yaml.Node
		if node != nil && node.Kind == yaml.SequenceNode && i < len(node.Content) {
			en = node.Content[i]
		}
		raw, ok := e.(map[string]any)
		if !ok {
			return nil, &Error{File: file, Line: lineOf(en), Msg: "each package entry must be a mapping (local:, git:, tarball: or package:)"}
		}
		rendered, err := renderEntry(raw)
		if err != nil {
			return nil, &Error{File: file, Line: lineOf(en), Msg: err.Error()}
		}
		s, err := specFrom(rendered)
		if err != nil {
			line := lineOf(en)
			if k, isKey := err.(unknownKey); isKey {
				line = keyLine(en, string(k))
			}
			return nil, &Error{File: file, Line: line, Msg: err.Error()}
		}
		s.raw, s.rendered, s.File, s.Line = raw, rendered, file, lineOf(en)
		out = append(out, s)
	}
	return out, nil
}

func lineOf(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}

type unknownKey string

func (k unknownKey) Error() string {
	return fmt.Sprintf("unknown key %q in a package entry", string(k))
}

func specFrom(m map[string]any) (*Spec, error) {
	s := &Spec{WarnUnpinned: true}
	switch {
	case m["local"] != nil || hasKey(m, "local"):
		s.Kind = "local"
	case hasKey(m, "git"):
		s.Kind = "git"
	case hasKey(m, "tarball"):
		s.Kind = "tarball"
	case hasKey(m, "package"):
		s.Kind = "hub"
	case hasKey(m, "private"):
		return nil, fmt.Errorf("private: packages need dbt Cloud's git provider integration; use a git: entry instead")
	default:
		return nil, fmt.Errorf("a package entry needs one of local:, git:, tarball: or package:")
	}
	allowed := allowedKeys[s.Kind]
	keys := sortedKeys(m)
	for _, k := range keys {
		found := false
		for _, a := range allowed {
			found = found || a == k
		}
		if !found {
			return nil, unknownKey(k)
		}
	}
	str := func(k string) (string, error) {
		switch x := m[k].(type) {
		case nil:
			return "", nil
		case string:
			return x, nil
		case int, float64:
			return pyStr(x), nil
		}
		return "", fmt.Errorf("%s: must be a string", k)
	}
	var err error
	if s.Name, err = str("name"); err != nil {
		return nil, err
	}
	switch s.Kind {
	case "local":
		if s.Local, err = str("local"); err != nil || s.Local == "" {
			return nil, orErr(err, "A local package is missing the value. It is a required property.")
		}
	case "git":
		if s.Git, err = str("git"); err != nil || s.Git == "" {
			return nil, orErr(err, "A git package is missing the value. It is a required property.")
		}
		if s.Revision, err = str("revision"); err != nil {
			return nil, err
		}
		if s.Subdirectory, err = str("subdirectory"); err != nil {
			return nil, err
		}
		if w, ok := m["warn-unpinned"]; ok && w != nil {
			b, isBool := w.(bool)
			if !isBool {
				return nil, fmt.Errorf("warn-unpinned: must be true or false")
			}
			s.WarnUnpinned = b
		}
	case "tarball":
		if s.Tarball, err = str("tarball"); err != nil || s.Tarball == "" {
			return nil, orErr(err, "A tarball package is missing the value. It is a required property.")
		}
		if s.Name == "" {
			return nil, fmt.Errorf("a tarball package needs name: (the project name to install it as)")
		}
	case "hub":
		if s.Package, err = str("package"); err != nil || s.Package == "" {
			return nil, orErr(err, "A hub package is missing the value. It is a required property.")
		}
		switch v := m["version"].(type) {
		case nil:
			return nil, fmt.Errorf("%s is missing the version. When installing from the Hub package index, version is a required property", s.Package)
		case []any:
			for _, x := range v {
				s.Versions = append(s.Versions, pyStr(x))
			}
		default:
			s.Versions = []string{pyStr(v)}
		}
		if len(s.Versions) == 0 || (len(s.Versions) == 1 && s.Versions[0] == "") {
			return nil, fmt.Errorf("%s is missing the version. When installing from the Hub package index, version is a required property", s.Package)
		}
		if !strings.Contains(s.Package, "/") {
			return nil, fmt.Errorf("%s was not found in the package index. Packages on the index require a namespace, e.g dbt-labs/dbt_utils", s.Package)
		}
		if p, ok := m["install_prerelease"]; ok && p != nil {
			b, isBool := p.(bool)
			if !isBool {
				return nil, fmt.Errorf("install_prerelease: must be true or false")
			}
			s.InstallPrerelease = b
		}
	}
	return s, nil
}

func orErr(err error, msg string) error {
	if err != nil {
		return err
	}
	return errors.New(msg)
}

func hasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// pyStr renders a YAML scalar as Python's str() would (dbt stringifies versions and revisions).
func pyStr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int:
		return strconv.Itoa(x)
	case float64:
		return pyFloat(x)
	case nil:
		return "None"
	}
	return fmt.Sprint(v)
}

func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e16 {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if i := strings.Index(s, "e"); i >= 0 && len(s) > i+2 && s[i+1] != '-' && s[i+1] != '+' {
		s = s[:i+1] + "+" + s[i+1:]
	}
	return s
}

// renderEntry renders {{ env_var('X') }} (and other plain Jinja) in an entry's strings, as
// dbt's package renderer does; the unrendered entry is kept for the lock hash.
func renderEntry(m map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for k, v := range m {
		r, err := renderValue(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = r
	}
	return out, nil
}

func renderValue(v any) (any, error) {
	switch x := v.(type) {
	case string:
		if !strings.Contains(x, "{{") && !strings.Contains(x, "{%") {
			return x, nil
		}
		return renderString(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := renderValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		return renderEntry(x)
	}
	return v, nil
}

var jinjaConfig = config.New()

func renderString(src string) (string, error) {
	ctx := exec.EmptyContext().Update(builtins.GlobalFunctions)
	var missing error
	ctx.Set("env_var", func(name string, def ...any) (any, error) {
		if v, ok := os.LookupEnv(name); ok {
			return v, nil
		}
		if len(def) > 0 {
			return def[0], nil
		}
		missing = fmt.Errorf("Env var required but not provided: '%s'", name)
		return nil, missing
	})
	env := &exec.Environment{Context: ctx, Filters: builtins.Filters, Tests: builtins.Tests, ControlStructures: builtins.ControlStructures, Methods: builtins.Methods}
	loader, err := loaders.NewMemoryLoader(map[string]string{"/packages.yml": src})
	if err != nil {
		return "", err
	}
	tpl, err := exec.NewTemplate("/packages.yml", jinjaConfig, loader, env)
	if err != nil {
		return "", fmt.Errorf("cannot render %q: %v", src, err)
	}
	out, err := tpl.ExecuteToString(exec.EmptyContext())
	if missing != nil {
		return "", missing
	}
	if err != nil {
		return "", fmt.Errorf("cannot render %q: %v", src, err)
	}
	return out, nil
}

// hashDict is the entry as dbt's package contract serializes it for the lock hash: every
// field of its kind (unset ones as null, install_prerelease false by default), name only when
// set, and the unrendered entry under "unrendered".
func (s *Spec) hashDict() map[string]any {
	d := map[string]any{}
	for k, v := range s.rendered {
		d[k] = v
	}
	defaults := map[string]map[string]any{
		"git": {"revision": nil, "warn-unpinned": nil, "subdirectory": nil},
		"hub": {"install_prerelease": false},
	}
	for k, v := range defaults[s.Kind] {
		if _, ok := d[k]; !ok {
			d[k] = v
		}
	}
	if d["name"] == nil {
		delete(d, "name")
	}
	d["unrendered"] = s.raw
	return d
}

// Hash is package-lock.yml's sha1_hash of the declared packages: the SHA-1 of their sorted
// JSON serializations (Python's json.dumps with sorted keys), one a line.
func Hash(specs []*Spec) string {
	strs := make([]string, len(specs))
	for i, s := range specs {
		strs[i] = pyJSON(s.hashDict())
	}
	sort.Strings(strs)
	sum := sha1.Sum([]byte(strings.Join(strs, "\n")))
	return hex.EncodeToString(sum[:])
}

// pyJSON encodes like Python's json.dumps(v, sort_keys=True): ", " and ": " separators,
// non-ASCII escaped.
func pyJSON(v any) string {
	var b strings.Builder
	var enc func(v any)
	enc = func(v any) {
		switch x := v.(type) {
		case nil:
			b.WriteString("null")
		case bool:
			if x {
				b.WriteString("true")
			} else {
				b.WriteString("false")
			}
		case int:
			b.WriteString(strconv.Itoa(x))
		case float64:
			switch {
			case math.IsInf(x, 1):
				b.WriteString("Infinity")
			case math.IsInf(x, -1):
				b.WriteString("-Infinity")
			case math.IsNaN(x):
				b.WriteString("NaN")
			default:
				b.WriteString(pyFloat(x))
			}
		case string:
			b.WriteString(pyQuote(x))
		case []any:
			b.WriteByte('[')
			for i, e := range x {
				if i > 0 {
					b.WriteString(", ")
				}
				enc(e)
			}
			b.WriteByte(']')
		case map[string]any:
			b.WriteByte('{')
			for i, k := range sortedKeys(x) {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(pyQuote(k))
				b.WriteString(": ")
				enc(x[k])
			}
			b.WriteByte('}')
		default:
			b.WriteString(pyQuote(fmt.Sprint(x)))
		}
	}
	enc(v)
	return b.String()
}

func pyQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r < 0x20 || (r >= 0x7f && r < 0x10000):
				if r < 0x7f {
					fmt.Fprintf(&b, `\u%04x`, r)
				} else {
					fmt.Fprintf(&b, `\u%04x`, r)
				}
			case r >= 0x10000:
				r -= 0x10000
				fmt.Fprintf(&b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

var _ = utf8.RuneError

// yamlPlainUnsafe matches strings PyYAML would quote when dumping.
var yamlPlainUnsafe = regexp.MustCompile(`^$|^[-?:,\[\]{}#&*!|>'"%@` + "`" + `\s]|: |\s#|\s$|^(?i:true|false|yes|no|on|off|null|~|y|n)$|^[-+]?(\d[\d_]*)?\.?\d[\d_]*([eE][-+]?\d+)?$|^[-+]?\.(inf|Inf|INF|nan|NaN|NAN)$|^0x[0-9a-fA-F_]+$|^0o?[0-7_]+$|^\d+(:[0-5]?\d)+$|^\d{4}-\d\d?-\d\d?`)

// yamlScalar writes a value as PyYAML's dumper writes it in package-lock.yml.
func yamlScalar(v any) string {
	switch x := v.(type) {
	case string:
		if yamlPlainUnsafe.MatchString(x) || strings.ContainsAny(x, "\n\t") {
			if strings.ContainsAny(x, "\n\t\\") {
				return pyQuote(x)
			}
			return "'" + strings.ReplaceAll(x, "'", "''") + "'"
		}
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	case nil:
		return "null"
	case int:
		return strconv.Itoa(x)
	case float64:
		return pyFloat(x)
	}
	return fmt.Sprint(v)
}
