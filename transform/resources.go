package transform

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// Resources dango parses and lists like dbt but does not execute: snapshots and unit tests
// (dbt build runs them; dango says so once per run), analyses (compiled, never run), and the
// semantic layer and exposures (documentation dbt itself does not execute). They are graph
// nodes so selectors and ls treat them as dbt does.

// Resource types beyond models, seeds, tests and sources.
const (
	typeSnapshot      = "snapshot"
	typeAnalysis      = "analysis"
	typeUnitTest      = "unit_test"
	typeExposure      = "exposure"
	typeSemanticModel = "semantic_model"
	typeMetric        = "metric"
	typeSavedQuery    = "saved_query"
)

// ResourceTypes are the values --resource-type accepts (plus all and default).
var ResourceTypes = []string{"model", "seed", "test", "source", typeSnapshot, typeAnalysis, typeUnitTest, typeExposure,
	typeSemanticModel, typeMetric, typeSavedQuery}

// NotExecuted lists, among ids, the nodes a command would execute under dbt but dango does not
// (snapshots under build and snapshot, unit tests under build and test), as one warning.
func NotExecuted(g *Graph, ids []string, command string) string {
	counts := map[string][]string{}
	for _, id := range ids {
		n := g.Nodes[id]
		switch {
		case n.ResourceType == typeSnapshot && (command == "build" || command == "snapshot"):
			counts["snapshot"] = append(counts["snapshot"], n.Name)
		case n.ResourceType == typeUnitTest && (command == "build" || command == "test"):
			counts["unit test"] = append(counts["unit test"], n.Name)
		}
	}
	if len(counts) == 0 {
		return ""
	}
	var parts []string
	for _, k := range []string{"snapshot", "unit test"} {
		if names := counts[k]; len(names) > 0 {
			noun := k
			if len(names) > 1 {
				noun += "s"
			}
			parts = append(parts, fmt.Sprintf("%d %s (%s)", len(names), noun, strings.Join(names, ", ")))
		}
	}
	return fmt.Sprintf("dango's engine parses but does not execute %s yet: they are skipped in this run; use --engine dbt-core to run them",
		strings.Join(parts, " and "))
}

// extraPaths are dbt_project.yml's analysis-paths and snapshot-paths.
type extraPaths struct {
	AnalysisPaths []string `yaml:"analysis-paths"`
	SnapshotPaths []string `yaml:"snapshot-paths"`
}

var snapshotBlockRE = regexp.MustCompile(`(?s)\{%-?\s*snapshot\s+(\w+)\s*-?%\}(.*?)\{%-?\s*endsnapshot\s*-?%\}`)

// discoverExtra finds analyses and snapshots.
func (p *Project) discoverExtra(x extraPaths) error {
	for _, ap := range firstNonEmpty(x.AnalysisPaths, []string{"analyses"}) {
		files, err := walk(filepath.Join(p.Dir, ap))
		if err != nil {
			return err
		}
		for _, f := range files {
			if !strings.HasSuffix(f, ".sql") {
				continue
			}
			rel := path.Join(ap, f)
			raw, err := os.ReadFile(filepath.Join(p.Dir, rel))
			if err != nil {
				return err
			}
			name := strings.TrimSuffix(path.Base(f), ".sql")
			n := &Node{UniqueID: "analysis." + p.Name + "." + name, ResourceType: typeAnalysis, Name: name, PackageName: p.Name,
				Path: path.Join("analysis", f), OriginalFilePath: rel, FQN: append([]string{p.Name, "analysis"}, fqn(p.Name, f)[1:]...),
				RawCode: string(raw)}
			p.Nodes[n.UniqueID] = n
		}
	}
	for _, sp := range firstNonEmpty(x.SnapshotPaths, []string{"snapshots"}) {
		files, err := walk(filepath.Join(p.Dir, sp))
		if err != nil {
			return err
		}
		for _, f := range files {
			rel := path.Join(sp, f)
			if strings.HasSuffix(f, ".yml") || strings.HasSuffix(f, ".yaml") {
				if err := p.readProperties(rel); err != nil {
					return err
				}
				continue
			}
			if !strings.HasSuffix(f, ".sql") {
				continue
			}
			raw, err := os.ReadFile(filepath.Join(p.Dir, rel))
			if err != nil {
				return err
			}
			blocks := snapshotBlockRE.FindAllStringSubmatch(string(raw), -1)
			if len(blocks) == 0 {
				return &LoadError{File: rel, Msg: "no {% snapshot name %} … {% endsnapshot %} block in a snapshot file"}
			}
			for _, b := range blocks {
				n := &Node{UniqueID: "snapshot." + p.Name + "." + b[1], ResourceType: typeSnapshot, Name: b[1], PackageName: p.Name,
					Path: f, OriginalFilePath: rel, FQN: append(fqn(p.Name, f), b[1]), RawCode: b[2]}
				if prev, dup := p.byName[b[1]]; dup {
					return &LoadError{File: rel, Msg: fmt.Sprintf("a resource named %s is also defined in %s", b[1], prev.OriginalFilePath)}
				}
				p.byName[b[1]] = n
				p.Nodes[n.UniqueID] = n
			}
		}
	}
	return nil
}

// resourceDocs are the properties-file sections for the semantic layer, exposures and unit
// tests: what dango reads of them is what dbt needs to list them and place them in the graph.
type resourceDocs struct {
	UnitTests []struct {
		Name  string `yaml:"name"`
		Model string `yaml:"model"`
	} `yaml:"unit_tests"`
	Exposures []struct {
		Name      string   `yaml:"name"`
		DependsOn []string `yaml:"depends_on"`
	} `yaml:"exposures"`
	SemanticModels []struct {
		Name     string `yaml:"name"`
		Model    string `yaml:"model"`
		Measures []struct {
			Name string `yaml:"name"`
		} `yaml:"measures"`
	} `yaml:"semantic_models"`
	Metrics []struct {
		Name       string         `yaml:"name"`
		TypeParams map[string]any `yaml:"type_params"`
	} `yaml:"metrics"`
	SavedQueries []struct {
		Name        string `yaml:"name"`
		QueryParams struct {
			Metrics []string `yaml:"metrics"`
		} `yaml:"query_params"`
	} `yaml:"saved_queries"`
}

// pendingDeps are dependencies by name that resolve once every file is read: a unit test's
// model, a metric's measures and metrics, a saved query's metrics.
type pendingDep struct {
	node  *Node
	kind  string // "model", "measure", "metric"
	name  string
	file  string
	field string
}

func (p *Project) addResources(rel string, dirs []string, doc resourceDocs) error {
	if p.measures == nil {
		p.measures = map[string]string{}
	}
	add := func(typ, name string, fq []string, uid string) (*Node, error) {
		if name == "" {
			return nil, &LoadError{File: rel, Msg: fmt.Sprintf("a %s entry has no name", strings.ReplaceAll(typ, "_", " "))}
		}
		if uid == "" {
			uid = typ + "." + p.Name + "." + name
		}
		if prev, dup := p.Nodes[uid]; dup {
			return nil, &LoadError{File: rel, Msg: fmt.Sprintf("%s %s is also defined in %s", strings.ReplaceAll(typ, "_", " "), name, prev.OriginalFilePath)}
		}
		n := &Node{UniqueID: uid, ResourceType: typ, Name: name, PackageName: p.Name, Path: rel, OriginalFilePath: rel, FQN: fq,
			Config: map[string]any{"enabled": true}, Tags: []string{}}
		p.Nodes[uid] = n
		return n, nil
	}
	base := append([]string{p.Name}, dirs...)
	for _, u := range doc.UnitTests {
		if u.Model == "" {
			return &LoadError{File: rel, Msg: fmt.Sprintf("unit test %s names no model", u.Name)}
		}
		n, err := add(typeUnitTest, u.Name, append(append(append([]string{}, base...), u.Model), u.Name),
			typeUnitTest+"."+p.Name+"."+u.Model+"."+u.Name)
		if err != nil {
			return err
		}
		p.pending = append(p.pending, pendingDep{node: n, kind: "model", name: u.Model, file: rel, field: "model"})
	}
	for _, x := range doc.Exposures {
		n, err := add(typeExposure, x.Name, append(append([]string{}, base...), x.Name), "")
		if err != nil {
			return err
		}
		for _, d := range x.DependsOn {
			if !refOrSource(n, d) {
				return &LoadError{File: rel, Msg: fmt.Sprintf("exposure %s: depends_on entry %q is not ref('…') or source('…', '…')", x.Name, d)}
			}
		}
	}
	for _, sm := range doc.SemanticModels {
		n, err := add(typeSemanticModel, sm.Name, []string{p.Name, sm.Name}, "")
		if err != nil {
			return err
		}
		if !refOrSource(n, sm.Model) {
			return &LoadError{File: rel, Msg: fmt.Sprintf("semantic model %s: model %q is not ref('…')", sm.Name, sm.Model)}
		}
		for _, m := range sm.Measures {
			p.measures[m.Name] = n.UniqueID
		}
	}
	for _, m := range doc.Metrics {
		n, err := add(typeMetric, m.Name, []string{p.Name, m.Name}, "")
		if err != nil {
			return err
		}
		for _, key := range []string{"measure", "numerator", "denominator"} {
			if name := measureName(m.TypeParams[key]); name != "" {
				kind := "measure"
				if key != "measure" {
					kind = "metric"
				}
				p.pending = append(p.pending, pendingDep{node: n, kind: kind, name: name, file: rel, field: "type_params." + key})
			}
		}
		if list, ok := m.TypeParams["metrics"].([]any); ok {
			for _, e := range list {
				if name := measureName(e); name != "" {
					p.pending = append(p.pending, pendingDep{node: n, kind: "metric", name: name, file: rel, field: "type_params.metrics"})
				}
			}
		}
	}
	for _, sq := range doc.SavedQueries {
		n, err := add(typeSavedQuery, sq.Name, []string{p.Name, sq.Name}, "")
		if err != nil {
			return err
		}
		for _, m := range sq.QueryParams.Metrics {
			p.pending = append(p.pending, pendingDep{node: n, kind: "metric", name: m, file: rel, field: "query_params.metrics"})
		}
	}
	return nil
}

// measureName reads a measure or metric reference: a name, or {name: …}.
func measureName(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if s, ok := x["name"].(string); ok {
			return s
		}
	}
	return ""
}

// refOrSource records ref('x') / source('a', 'b') text as a dependency of n.
func refOrSource(n *Node, s string) bool {
	if m := refArgRE.FindStringSubmatch(s); m != nil {
		n.Refs = append(n.Refs, []string{m[1]})
		return true
	}
	if m := sourceArgRE.FindStringSubmatch(s); m != nil {
		n.SourceRefs = append(n.SourceRefs, []string{m[1], m[2]})
		return true
	}
	return false
}

// resolvePending turns name dependencies into parents; an unknown name is an error naming the
// file, as dbt's is.
func (p *Project) resolvePending() error {
	for _, d := range p.pending {
		var id string
		switch d.kind {
		case "model":
			if t, ok := p.byName[d.name]; ok && t.ResourceType == "model" {
				id = t.UniqueID
			}
		case "measure":
			id = p.measures[d.name]
		case "metric":
			if _, ok := p.Nodes["metric."+p.Name+"."+d.name]; ok {
				id = "metric." + p.Name + "." + d.name
			}
		}
		if id == "" {
			return &LoadError{File: d.file, Msg: fmt.Sprintf("%s %s: %s names %s %q, which is not defined", strings.ReplaceAll(d.node.ResourceType, "_", " "),
				d.node.Name, d.field, d.kind, d.name)}
		}
		d.node.extraDeps = append(d.node.extraDeps, id)
	}
	return nil
}

// lsSelector is how dbt ls prints a node by default.
func (n *Node) lsSelector() string {
	switch n.ResourceType {
	case "source":
		return "source:" + n.PackageName + "." + n.SourceName + "." + n.Name
	case typeExposure, typeMetric, typeSavedQuery, typeSemanticModel, typeUnitTest:
		return n.ResourceType + ":" + n.PackageName + "." + n.Name
	}
	return strings.Join(n.FQN, ".")
}

// LsLine is how dbt ls prints a node in an output format (selector, name or path).
func (n *Node) LsLine(output string) string {
	switch output {
	case "name":
		if n.ResourceType == "source" {
			return n.SourceName + "." + n.Name
		}
		return n.Name
	case "path":
		return n.OriginalFilePath
	}
	return n.lsSelector()
}
