package transform

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

type modelProps struct {
	file        string
	Description string
	Config      map[string]any
	Columns     map[string]any
	ColumnOrder []string
	Tests       []any
	Tags        any
}

type sourceTest struct {
	file   string
	node   *Node
	column string
	tests  []any
}

// readProperties reads a YAML properties file: models (description, config, columns) and
// sources (schema, database, tables).
func (p *Project) readProperties(rel string) error {
	var doc struct {
		Models []struct {
			Name        string           `yaml:"name"`
			Description string           `yaml:"description"`
			Config      map[string]any   `yaml:"config"`
			Columns     []map[string]any `yaml:"columns"`
			DataTests   []any            `yaml:"data_tests"`
			Tests       []any            `yaml:"tests"`
			Tags        any              `yaml:"tags"`
		} `yaml:"models"`
		Seeds []struct {
			Name        string           `yaml:"name"`
			Description string           `yaml:"description"`
			Config      map[string]any   `yaml:"config"`
			Columns     []map[string]any `yaml:"columns"`
			DataTests   []any            `yaml:"data_tests"`
			Tests       []any            `yaml:"tests"`
			Tags        any              `yaml:"tags"`
		} `yaml:"seeds"`
		Sources []struct {
			Name        string         `yaml:"name"`
			Schema      string         `yaml:"schema"`
			Database    string         `yaml:"database"`
			Description string         `yaml:"description"`
			Config      map[string]any `yaml:"config"`
			Tables      []struct {
				Name        string           `yaml:"name"`
				Identifier  string           `yaml:"identifier"`
				Description string           `yaml:"description"`
				Columns     []map[string]any `yaml:"columns"`
				DataTests   []any            `yaml:"data_tests"`
				Tests       []any            `yaml:"tests"`
			} `yaml:"tables"`
		} `yaml:"sources"`
		Resources resourceDocs `yaml:",inline"`
	}
	if err := readYAML(path.Join(p.Dir, rel), rel, &doc); err != nil {
		return err
	}
	for _, m := range append(doc.Models, doc.Seeds...) {
		if m.Name == "" {
			return &LoadError{File: rel, Msg: "a model entry has no name"}
		}
		if prev, dup := p.props[m.Name]; dup {
			return &LoadError{File: rel, Msg: fmt.Sprintf("model %s is also described in %s", m.Name, prev.file)}
		}
		tests := m.DataTests
		if tests == nil {
			tests = m.Tests
		}
		mp := &modelProps{file: rel, Description: m.Description, Config: m.Config, Columns: columnsMap(m.Columns), Tests: tests, Tags: m.Tags}
		for _, c := range m.Columns {
			if name := str(c["name"]); name != "" {
				mp.ColumnOrder = append(mp.ColumnOrder, name)
			}
		}
		p.props[m.Name] = mp
	}
	dir := path.Dir(rel)
	var dirs []string
	for _, mp := range p.ModelPaths {
		if r := strings.TrimPrefix(dir, mp); r != dir {
			for _, part := range strings.Split(strings.Trim(r, "/"), "/") {
				if part != "" {
					dirs = append(dirs, part)
				}
			}
		}
	}
	if err := p.addResources(rel, dirs, doc.Resources); err != nil {
		return err
	}
	for _, s := range doc.Sources {
		if s.Name == "" {
			return &LoadError{File: rel, Msg: "a source entry has no name"}
		}
		schema := s.Schema
		if schema == "" {
			schema = s.Name
		}
		db := s.Database
		if db == "" {
			db = p.Target.Database
		}
		for _, t := range s.Tables {
			key := s.Name + "." + t.Name
			if _, dup := p.sources[key]; dup {
				return &LoadError{File: rel, Msg: fmt.Sprintf("source %s is defined twice", key)}
			}
			id := t.Identifier
			if id == "" {
				id = t.Name
			}
			n := &Node{UniqueID: "source." + p.Name + "." + key, ResourceType: "source", Name: t.Name, SourceName: s.Name,
				PackageName: p.Name, Path: rel, OriginalFilePath: rel, FQN: append(append([]string{p.Name}, dirs...), s.Name, t.Name),
				Database: db, Schema: schema, Identifier: id, Description: t.Description, Columns: columnsMap(t.Columns),
				Config: map[string]any{"enabled": true}, Tags: []string{}}
			p.sources[key] = n
			p.Nodes[n.UniqueID] = n
			tt := t.DataTests
			if tt == nil {
				tt = t.Tests
			}
			if len(tt) > 0 {
				p.sourceTests = append(p.sourceTests, sourceTest{file: rel, node: n, tests: tt})
			}
			for _, c := range t.Columns {
				if tl := testList(c); len(tl) > 0 {
					p.sourceTests = append(p.sourceTests, sourceTest{file: rel, node: n, column: str(c["name"]), tests: tl})
				}
			}
		}
	}
	return nil
}

func columnsMap(cols []map[string]any) map[string]any {
	out := map[string]any{}
	for _, c := range cols {
		if name := str(c["name"]); name != "" {
			out[name] = c
		}
	}
	return out
}

// dictConfigs are configs whose values are mappings (so a key without "+" is still config).
var dictConfigs = map[string]bool{"meta": true, "persist_docs": true, "docs": true, "grants": true, "contract": true, "labels": true}

// projectConfig resolves a node's configuration from dbt_project.yml (the models: or seeds:
// tree, walked along its fqn) and its YAML properties.
func (p *Project) projectConfig(n *Node) map[string]any {
	cfg := map[string]any{"enabled": true, "tags": []string{}}
	own := p.owner(n) // a package's node starts from the package's own dbt_project.yml
	tree := own.modelCfg
	switch n.ResourceType {
	case "model":
		cfg["materialized"] = "view"
	case "seed":
		cfg["materialized"] = "seed"
		tree = own.seedCfg
	case "test":
		cfg["materialized"] = "test"
		cfg["severity"] = "ERROR"
		tree = nil
	}
	level := tree
	applyLevel(cfg, level)
	for _, part := range n.FQN {
		next, ok := level[part].(map[string]any)
		if !ok {
			break
		}
		level = next
		applyLevel(cfg, level)
	}
	if props, ok := own.props[n.Name]; ok && (n.ResourceType == "model" || n.ResourceType == "seed") {
		for k, v := range props.Config {
			mergeConfig(cfg, k, v)
		}
	}
	if n.ResourceType == "seed" {
		n.Config = cfg
		p.applyRootConfig(n)
	}
	return cfg
}

func applyLevel(cfg map[string]any, level map[string]any) {
	keys := make([]string, 0, len(level))
	for k := range level {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := level[k]
		switch {
		case strings.HasPrefix(k, "+"):
			mergeConfig(cfg, k[1:], v)
		case dictConfigs[k]:
			mergeConfig(cfg, k, v)
		default:
			if _, isMap := v.(map[string]any); !isMap {
				mergeConfig(cfg, k, v)
			}
		}
	}
}

// mergeConfig applies one config value the way dbt combines levels: tags accumulate, meta
// merges, everything else overrides.
func mergeConfig(cfg map[string]any, k string, v any) {
	if canon, ok := isHookKey(k); ok { // hooks accumulate, in dbt's spelling
		cfg[canon] = append(hookList(cfg[canon]), hookList(v)...)
		return
	}
	switch k {
	case "tags":
		tags, _ := cfg["tags"].([]string)
		for _, t := range toStrings(v) {
			if !containsStr(tags, t) {
				tags = append(tags, t)
			}
		}
		cfg["tags"] = tags
	case "meta":
		m, _ := cfg["meta"].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		if nv, ok := v.(map[string]any); ok {
			for kk, vv := range nv {
				m[kk] = vv
			}
		}
		cfg["meta"] = m
	default:
		cfg[k] = v
	}
}

func toStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, str(e))
		}
		return out
	}
	return nil
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
