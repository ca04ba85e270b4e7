package transform

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Selector resolves dbt's node-selection grammar over a graph:
//
//	--select "a b"        union (space-separated, or repeated --select)
//	--select "a,b"        intersection
//	[@][n+]method:value[+n]
//
// Methods: fqn (the default: a name, or a dotted path with wildcards such as marts.*),
// path: (also the default when the value contains a slash), file:, tag:, source:,
// config.<key>:, resource_type:, package:.
type Selector struct {
	G *Graph
	P *Project
}

// Selection is a resolved selection and the messages a user should see.
type Selection struct {
	IDs      []string // sorted by unique id
	Warnings []string
}

var criterionRE = regexp.MustCompile(`^(@)?((\d*)\+)?(([\w.]+):)?(.*?)(\+(\d*))?$`)

// Select applies selects minus excludes, restricted to resource types (empty: all but sources
// unless selected through source:).
func (s *Selector) Select(selects, excludes, resourceTypes []string) (Selection, error) {
	var sel Selection
	types := map[string]bool{}
	if len(resourceTypes) == 0 {
		resourceTypes = []string{"default"}
	}
	for _, t := range resourceTypes {
		switch t {
		case "all":
			for _, rt := range ResourceTypes {
				types[rt] = true
			}
		case "default": // dbt's: everything but analyses
			for _, rt := range ResourceTypes {
				types[rt] = rt != typeAnalysis
			}
		default:
			if !containsStr(ResourceTypes, t) {
				return sel, fmt.Errorf("--resource-type %q: choose from %s, all, default", t, strings.Join(ResourceTypes, ", "))
			}
			types[t] = true
		}
	}
	universe := map[string]bool{}
	for id, n := range s.G.Nodes {
		if types[n.ResourceType] {
			universe[id] = true
		}
	}
	chosen := map[string]bool{}
	if len(selects) == 0 {
		for id := range universe {
			chosen[id] = true
		}
	} else {
		for _, raw := range selects {
			for _, union := range strings.Fields(raw) {
				ids, warn, err := s.intersection(union)
				if err != nil {
					return sel, err
				}
				sel.Warnings = append(sel.Warnings, warn...)
				for id := range ids {
					chosen[id] = true
				}
			}
		}
	}
	excluded := map[string]bool{}
	for _, raw := range excludes {
		for _, union := range strings.Fields(raw) {
			ids, _, err := s.intersection(union)
			if err != nil {
				return sel, err
			}
			for id := range ids {
				delete(chosen, id)
				excluded[id] = true
			}
		}
	}
	// Eager indirect selection, dbt's default: a test comes along with any node it tests, and
	// goes away with any node it tests that was excluded.
	for id, n := range s.G.Nodes {
		if n.ResourceType != "test" && n.ResourceType != typeUnitTest {
			continue
		}
		for _, parent := range s.G.Parents[id] {
			if excluded[parent] {
				excluded[id] = true
				delete(chosen, id)
			}
		}
	}
	for id, n := range s.G.Nodes {
		if (n.ResourceType != "test" && n.ResourceType != typeUnitTest) || chosen[id] || excluded[id] {
			continue
		}
		for _, parent := range s.G.Parents[id] {
			if chosen[parent] {
				chosen[id] = true
				break
			}
		}
	}
	for id := range chosen {
		if universe[id] {
			sel.IDs = append(sel.IDs, id)
		}
	}
	sort.Strings(sel.IDs)
	return sel, nil
}

// intersection resolves "a,b,c".
func (s *Selector) intersection(raw string) (map[string]bool, []string, error) {
	var result map[string]bool
	var each []int
	parts := strings.Split(raw, ",")
	for _, part := range parts {
		ids, err := s.criterion(part)
		if err != nil {
			return nil, nil, err
		}
		each = append(each, len(ids))
		if result == nil {
			result = ids
			continue
		}
		for id := range result {
			if !ids[id] {
				delete(result, id)
			}
		}
	}
	var warns []string
	if len(result) == 0 {
		allMatch := len(parts) > 1
		for _, n := range each {
			if n == 0 {
				allMatch = false
			}
		}
		if allMatch {
			warns = append(warns, fmt.Sprintf("The selection criterion '%s' does not match any enabled nodes: a comma intersects its parts, "+
				"and each part matches something on its own. To select the union, separate them with a space (--select \"%s\") or repeat --select.",
				raw, strings.Join(parts, " ")))
		} else {
			warns = append(warns, fmt.Sprintf("The selection criterion '%s' does not match any enabled nodes", raw))
		}
	}
	return result, warns, nil
}

// criterion resolves one [@][n+]method:value[+n].
func (s *Selector) criterion(raw string) (map[string]bool, error) {
	m := criterionRE.FindStringSubmatch(raw)
	if m == nil || m[6] == "" {
		return nil, fmt.Errorf("invalid selector %q", raw)
	}
	at, parents, pdepth, method, value, children, cdepth := m[1] != "", m[2] != "", m[3], m[5], m[6], m[7] != "", m[8]
	if method == "" {
		switch {
		case strings.Contains(value, "/"):
			method = "path"
		case strings.HasSuffix(strings.ToLower(value), ".sql") || strings.HasSuffix(strings.ToLower(value), ".csv"):
			method = "file"
		default:
			method = "fqn"
		}
	}
	base, err := s.method(method, value)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for id := range base {
		out[id] = true
	}
	depth := func(d string) int {
		if d == "" {
			return -1
		}
		n, _ := strconv.Atoi(d)
		return n
	}
	if parents {
		for id := range base {
			s.walk(id, s.G.Parents, depth(pdepth), out)
		}
	}
	if children || at {
		for id := range base {
			s.walk(id, s.G.Children, depth(cdepth), out)
		}
	}
	if at {
		kids := map[string]bool{}
		for id := range out {
			kids[id] = true
		}
		for id := range kids {
			s.walk(id, s.G.Parents, -1, out)
		}
	}
	return out, nil
}

func (s *Selector) walk(id string, edges map[string][]string, depth int, out map[string]bool) {
	type item struct {
		id string
		d  int
	}
	queue := []item{{id, 0}}
	seen := map[string]bool{id: true}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		if depth >= 0 && it.d >= depth {
			continue
		}
		for _, next := range edges[it.id] {
			if !seen[next] {
				seen[next] = true
				out[next] = true
				queue = append(queue, item{next, it.d + 1})
			}
		}
	}
}

func (s *Selector) method(method, value string) (map[string]bool, error) {
	out := map[string]bool{}
	name := method
	var arg string
	if i := strings.IndexByte(method, '.'); i >= 0 {
		name, arg = method[:i], method[i+1:]
	}
	if name == "source" && strings.Count(value, ".") > 2 {
		return nil, fmt.Errorf("invalid source selector %q: use source_name, source_name.table_name or package.source_name.table_name", value)
	}
	for id, n := range s.G.Nodes {
		var hit bool
		switch name {
		case "fqn":
			hit = n.ResourceType != "source" && (fqnMatch(n.FQN, value) || fqnMatch(n.FQN[1:], value))
		case "tag":
			for _, t := range n.Tags {
				if glob(value, t) {
					hit = true
				}
			}
		case "source":
			if n.ResourceType == "source" {
				parts := strings.Split(value, ".")
				switch len(parts) {
				case 1:
					hit = glob(parts[0], n.SourceName)
				case 2:
					hit = glob(parts[0], n.SourceName) && glob(parts[1], n.Name)
				case 3:
					hit = glob(parts[0], n.PackageName) && glob(parts[1], n.SourceName) && glob(parts[2], n.Name)
				default:
					return nil, fmt.Errorf("invalid source selector %q: use source_name, source_name.table_name or package.source_name.table_name", value)
				}
			}
		case "path":
			v := strings.TrimSuffix(value, "/")
			ofp := n.OriginalFilePath
			hit = ofp == v || strings.HasPrefix(ofp, v+"/") || glob(v, ofp) || (n.patchPath != "" && n.patchPath == v)
		case "file":
			base := path.Base(n.OriginalFilePath)
			hit = n.ResourceType != "source" && (glob(value, base) || glob(value, strings.TrimSuffix(base, path.Ext(base))))
		case "resource_type":
			hit = n.ResourceType == value
		case "package":
			hit = glob(value, n.PackageName)
		case "config":
			if arg == "" {
				return nil, fmt.Errorf("config selector needs a key: config.materialized:%s", value)
			}
			hit = configMatch(n.Config, strings.Split(arg, "."), value)
		case "state", "result", "exposure", "metric", "semantic_model", "saved_query", "unit_test", "version", "access", "group", "test_name", "test_type":
			return nil, fmt.Errorf("the %s: selector method is not supported by dango's engine yet", name)
		default:
			return nil, fmt.Errorf("'%s' is not a valid method name", name)
		}
		if hit {
			out[id] = true
		}
	}
	return out, nil
}

func configMatch(cfg map[string]any, keys []string, want string) bool {
	var v any = cfg
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		v = m[k]
	}
	switch x := v.(type) {
	case nil:
		return false
	case []string:
		return containsStr(x, want)
	case []any:
		for _, e := range x {
			if str(e) == want {
				return true
			}
		}
		return false
	case bool:
		return strconv.FormatBool(x) == strings.ToLower(want)
	}
	return str(v) == want
}

// fqnMatch follows dbt: the last part equals the selector, or the selector's dot-separated
// parts match the fqn's leading parts, a part with a wildcard matching the rest.
func fqnMatch(fqn []string, sel string) bool {
	if len(fqn) == 0 {
		return false
	}
	if fqn[len(fqn)-1] == sel {
		return true
	}
	var flat []string
	for _, f := range fqn {
		flat = append(flat, strings.Split(f, ".")...)
	}
	parts := strings.Split(sel, ".")
	if len(flat) < len(parts) {
		return false
	}
	for i, p := range parts {
		if strings.ContainsAny(p, "*?[]") {
			return glob(strings.Join(parts[i:], "."), strings.Join(flat[i:], "."))
		}
		if flat[i] != p {
			return false
		}
	}
	return true
}

// glob is fnmatch: * and ? match anything, including dots and slashes.
func glob(pattern, s string) bool {
	re := "^" + regexp.QuoteMeta(pattern) + "$"
	re = strings.ReplaceAll(re, `\*`, ".*")
	re = strings.ReplaceAll(re, `\?`, ".")
	re = strings.ReplaceAll(re, `\[`, "[")
	re = strings.ReplaceAll(re, `\]`, "]")
	ok, err := regexp.MatchString(re, s)
	return err == nil && ok
}
