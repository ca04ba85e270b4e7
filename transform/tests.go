package transform

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
)

// GenericTest is a data test declared in YAML properties (unique, not_null, accepted_values,
// relationships, or a project's own generic test) on a model, a source table or a column.
type GenericTest struct {
	TestName  string         // the test macro: unique, accepted_values …
	Namespace string         // package.test_name form; "" for the root
	Kwargs    map[string]any // arguments, column_name included
	Config    map[string]any // severity, where, warn_if, error_if, tags …
	Column    string
	Attached  *Node // the model or source it tests
}

var nonWord = regexp.MustCompile(`[^0-9a-zA-Z_]+`)

// testNames follows dbt: the full name joins the test, the model and the flattened
// arguments; names of 64 characters or more are shortened with an md5 for file names.
func testNames(testType, target string, args map[string]any) (short, full string) {
	keys := make([]string, 0, len(args))
	for k := range args {
		if k != "model" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var flat []string
	for _, k := range keys {
		switch v := args[k].(type) {
		case map[string]any:
			vk := make([]string, 0, len(v))
			for kk := range v {
				vk = append(vk, kk)
			}
			sort.Strings(vk) // Python keeps insertion order; YAML maps here are small and sorted
			for _, kk := range vk {
				flat = append(flat, pyStr(v[kk]))
			}
		case []any:
			for _, e := range v {
				flat = append(flat, pyStr(e))
			}
		default:
			flat = append(flat, pyStr(v))
		}
	}
	for i, f := range flat {
		flat[i] = nonWord.ReplaceAllString(f, "_")
	}
	id := testType + "_" + target
	full = id + "_" + strings.Join(flat, "__")
	if len(full) >= 64 {
		sum := md5.Sum([]byte(full))
		trunc := id
		if len(trunc) > 30 {
			trunc = trunc[:30]
		}
		return trunc + "_" + hex.EncodeToString(sum[:]), full
	}
	return full, full
}

// pyStr renders a YAML scalar the way Python's str() would.
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// pyRepr renders the hashable metadata as Python's repr, for dbt's unique-id hash.
func pyRepr(v any) string {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyQuote(k) + ": " + pyRepr(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return pyQuote(pyStr(v))
}

func pyQuote(s string) string {
	q := "'"
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		q = `"`
	}
	s = strings.ReplaceAll(s, `\`, `\\`)
	if q == "'" {
		s = strings.ReplaceAll(s, "'", `\'`)
	}
	s = strings.ReplaceAll(s, "\n", `\n`)
	return q + s + q
}

// testTemplate is the Jinja that compiles a generic test: a call of its test_<name> macro with
// the model (through get_where_subquery) and its arguments. A string argument that is a ref()
// or source() call is passed as that call, as dbt renders test arguments.
func testTemplate(n *Node) string {
	t := n.Test
	target := "ref('" + t.Attached.Name + "')"
	if t.Attached.ResourceType == "source" {
		target = "source('" + t.Attached.SourceName + "', '" + t.Attached.Name + "')"
	}
	macro := "test_" + t.TestName
	if t.Namespace != "" {
		macro = t.Namespace + "." + macro
	}
	args := []string{"model=get_where_subquery(" + target + ")"}
	keys := make([]string, 0, len(t.Kwargs))
	for k := range t.Kwargs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := t.Kwargs[k]
		if s, ok := v.(string); ok && (refArgRE.MatchString(s) || sourceArgRE.MatchString(s)) {
			args = append(args, k+"="+s)
			continue
		}
		b, _ := json.Marshal(v)
		args = append(args, k+"="+string(b))
	}
	return "{{ " + macro + "(" + strings.Join(args, ", ") + ") }}"
}

var testBlockRE = regexp.MustCompile(`\{%(-?)\s*test\s+(\w+)\s*\(`)
var endTestRE = regexp.MustCompile(`\{%(-?)\s*endtest\s*(-?)%\}`)

// rewriteTestBlocks turns dbt's {% test name(...) %} … {% endtest %} into the macro
// test_name, which is what dbt does with them too.
func rewriteTestBlocks(src string) string {
	src = testBlockRE.ReplaceAllString(src, "{%$1 macro test_$2(")
	return endTestRE.ReplaceAllString(src, "{%$1 endmacro $2%}")
}

// parseTestEntry reads one entry of a data_tests/tests list: "unique",
// {accepted_values: {values: [...]}} or {name: custom, test_name: accepted_values, ...}.
func parseTestEntry(entry any) (testName string, args map[string]any, cfg map[string]any, customName string, err error) {
	args, cfg = map[string]any{}, map[string]any{}
	switch x := entry.(type) {
	case string:
		return x, args, cfg, "", nil
	case map[string]any:
		if tn, ok := x["test_name"].(string); ok {
			testName = tn
			for k, v := range x {
				if k != "test_name" && k != "name" {
					args[k] = v
				}
			}
			customName, _ = x["name"].(string)
		} else if len(x) == 1 {
			for k, v := range x {
				testName = k
				if m, ok := v.(map[string]any); ok {
					for kk, vv := range m {
						args[kk] = vv
					}
				}
			}
		} else {
			return "", nil, nil, "", fmt.Errorf("a test entry must name one test, got %v", x)
		}
	default:
		return "", nil, nil, "", fmt.Errorf("a test entry must be a name or a mapping, got %v", entry)
	}
	if c, ok := args["config"].(map[string]any); ok {
		cfg = c
		delete(args, "config")
	}
	if a, ok := args["arguments"].(map[string]any); ok { // dbt 1.10's arguments: form
		delete(args, "arguments")
		for k, v := range a {
			args[k] = v
		}
	}
	for _, k := range []string{"severity", "where", "warn_if", "error_if", "limit", "store_failures", "tags", "enabled", "meta"} {
		if v, ok := args[k]; ok {
			cfg[k] = v
			delete(args, k)
		}
	}
	return testName, args, cfg, customName, nil
}

// addGenericTests turns the tests declared in YAML into test nodes attached to their model or
// source (and, for relationships, to the model they point to).
func (p *Project) addGenericTests(file string, target *Node, targetExpr string, testNameBase string, colName string, entries []any, inheritedTags []string) error {
	for _, entry := range entries {
		testName, args, cfg, custom, err := parseTestEntry(entry)
		if err != nil {
			return &LoadError{File: file, Msg: err.Error()}
		}
		if colName != "" {
			args["column_name"] = colName
		}
		ns := ""
		if i := strings.LastIndexByte(testName, '.'); i >= 0 {
			ns, testName = testName[:i], testName[i+1:]
		}
		testType := testName
		if target.ResourceType == "source" {
			testType = "source_" + testName // dbt's name for tests on sources
		}
		if ns != "" {
			testType = ns + "_" + testType // dbt names package tests util_positive_…
		}
		short, full := testNames(testType, testNameBase, args)
		if custom != "" {
			short, full = custom, custom
		}
		kwargs := map[string]any{"model": "{{ get_where_subquery(" + targetExpr + ") }}"}
		for k, v := range args {
			kwargs[k] = v
		}
		var nsAny any
		if ns != "" {
			nsAny = ns
		}
		meta := map[string]any{"name": testName, "kwargs": kwargs, "namespace": nsAny}
		sum := md5.Sum([]byte(full + pyRepr(meta)))
		hash := hex.EncodeToString(sum[:])
		rel := file
		for _, mp := range p.ModelPaths {
			rel = strings.TrimPrefix(rel, mp+"/")
		}
		fq := append([]string{p.Name}, strings.Split(path.Dir(rel), "/")...)
		if fq[len(fq)-1] == "." {
			fq = fq[:len(fq)-1]
		}
		fq = append(fq, full)
		tags := append([]string(nil), inheritedTags...)
		for _, t := range toStrings(cfg["tags"]) {
			if !containsStr(tags, t) {
				tags = append(tags, t)
			}
		}
		n := &Node{UniqueID: "test." + p.Name + "." + full + "." + hash[len(hash)-10:], ResourceType: "test", Name: full,
			PackageName: p.Name, Path: short + ".sql", OriginalFilePath: file, FQN: fq, patchPath: file,
			Test: &GenericTest{TestName: testName, Namespace: ns, Kwargs: args, Config: cfg, Column: colName, Attached: target}}
		n.Config = map[string]any{"enabled": true, "materialized": "test", "severity": "ERROR", "tags": tags}
		for k, v := range cfg {
			mergeConfig(n.Config, k, v)
		}
		n.Tags = toStrings(n.Config["tags"])
		p.Nodes[n.UniqueID] = n
		p.genericTests = append(p.genericTests, n)
	}
	return nil
}
