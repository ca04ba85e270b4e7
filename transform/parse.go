package transform

import (
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// RenderError is a Jinja problem in a project file; it reads like any other file error.
type RenderError = LoadError

func renderError(file string, err error) error {
	msg := jinjaMessage(err)
	line := 0
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		fmt.Sscan(m[1], &line)
	}
	return &RenderError{File: file, Line: line, Msg: msg}
}

// renderable nodes carry SQL templates (generic tests are rendered from their test macro).
func renderable(n *Node) bool {
	switch n.ResourceType {
	case "model", "test", typeAnalysis, typeSnapshot:
		return n.Test == nil
	}
	return false
}

// placed nodes are relations (or could be): generate_schema_name and friends decide where.
func placed(n *Node) bool {
	switch n.ResourceType {
	case "model", "seed", typeSnapshot, typeAnalysis:
		return true
	}
	return false
}

// documented nodes come from properties files only: unit tests, exposures, the semantic layer.
func documented(n *Node) bool {
	switch n.ResourceType {
	case typeUnitTest, typeExposure, typeSemanticModel, typeMetric, typeSavedQuery:
		return true
	}
	return false
}

var refArgRE = regexp.MustCompile(`^\s*ref\(\s*['"]([^'"]+)['"]\s*\)\s*$`)
var sourceArgRE = regexp.MustCompile(`^\s*source\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]\s*\)\s*$`)

// testDependencies sets a generic test's parents: what it is attached to, and the model a
// relationships test points to.
func testDependencies(n *Node) {
	t := n.Test
	if t.Attached.ResourceType == "source" {
		n.SourceRefs = append(n.SourceRefs, []string{t.Attached.SourceName, t.Attached.Name})
	} else {
		n.Refs = append(n.Refs, []string{t.Attached.Name})
	}
	if to, ok := t.Kwargs["to"].(string); ok {
		if m := refArgRE.FindStringSubmatch(to); m != nil {
			n.Refs = append(n.Refs, []string{m[1]})
		} else if m := sourceArgRE.FindStringSubmatch(to); m != nil {
			n.SourceRefs = append(n.SourceRefs, []string{m[1], m[2]})
		}
	}
}

// parallel runs f over nodes with one session per worker.
func (e *Engine) parallel(nodes []*Node, f func(s *session, n *Node) error) error {
	workers := runtime.GOMAXPROCS(0)
	if workers > len(nodes) {
		workers = len(nodes)
	}
	if workers < 1 {
		return nil
	}
	ch := make(chan *Node)
	errs := make([]error, len(nodes))
	index := map[*Node]int{}
	for i, n := range nodes {
		index[n] = i
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := e.newSession()
			for n := range ch {
				errs[index[n]] = f(s, n)
			}
		}()
	}
	for _, n := range nodes {
		ch <- n
	}
	close(ch)
	wg.Wait()
	return errors.Join(errs...)
}

// render executes a node's template in a phase.
func (s *session) render(n *Node, phase int, cfg map[string]any) (string, *state, error) {
	return s.renderCode(n, n.OriginalFilePath, n.RawCode, phase, cfg)
}

// renderCode executes a template (a node's, or one of its hooks) in the context of node n.
func (s *session) renderCode(n *Node, file, code string, phase int, cfg map[string]any) (string, *state, error) {
	st := &state{node: n, phase: phase, config: cfg, dynamic: dynamicRE.MatchString(code)}
	s.st, s.rets = st, nil
	tpl, err := newTemplate(file, code, s.envFor(n.PackageName))
	if err != nil {
		return "", st, renderError(file, err)
	}
	out, err := executeTemplate(tpl, file, s.extra)
	if st.err != nil {
		return "", st, &RenderError{File: file, Msg: st.err.Error()}
	}
	if err != nil {
		return "", st, renderError(file, err)
	}
	return out, st, nil
}

// Parse renders every model and test once to learn its dependencies and configuration,
// resolves where each node lands (generate_schema_name and friends), and builds the graph.
func (e *Engine) Parse() (*Graph, error) {
	p := e.P
	var nodes []*Node
	for _, n := range p.Nodes {
		if n.ResourceType == "source" {
			continue
		}
		if n.Test != nil {
			testDependencies(n)
			nodes = append(nodes, n)
			continue
		}
		if documented(n) { // listed, placed in the graph, never rendered
			continue
		}
		n.Config = p.projectConfig(n)
		n.Tags = toStrings(n.Config["tags"])
		if placed(n) {
			if err := e.place(n); err != nil {
				return nil, err
			}
		}
		nodes = append(nodes, n)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].UniqueID < nodes[j].UniqueID })
	var toRender []*Node
	for _, n := range nodes {
		if renderable(n) {
			toRender = append(toRender, n)
		}
	}
	err := e.parallel(toRender, func(s *session, n *Node) error {
		cfg := map[string]any{}
		for k, v := range n.Config {
			cfg[k] = v
		}
		_, st, err := s.render(n, phaseParse, cfg)
		if err != nil {
			return err
		}
		n.Config = st.config
		p.applyRootConfig(n)
		n.Tags = toStrings(n.Config["tags"])
		n.Refs, n.SourceRefs = st.refs, st.sources
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := e.checkRefs(toRender); err != nil {
		return nil, err
	}
	// In-file config may have moved a model (schema, alias): place models again.
	s := e.newSession()
	for _, n := range nodes {
		if placed(n) {
			if err := e.placeWith(s, n); err != nil {
				return nil, err
			}
		}
	}
	for id, n := range p.Nodes {
		if !n.Enabled() {
			delete(p.Nodes, id)
			if p.byName[n.Name] == n {
				delete(p.byName, n.Name)
			}
		}
	}
	g, err := newGraph(p)
	if err == nil {
		e.G = g
	}
	return g, err
}

func (e *Engine) place(n *Node) error { return e.placeWith(nil, n) }

// placeWith sets a node's database, schema and alias: dbt's defaults computed directly, or the
// project's generate_*_name macros when it defines them.
func (e *Engine) placeWith(s *session, n *Node) error {
	t := e.P.Target
	custom := func(k string) any {
		if v, ok := n.Config[k]; ok && v != nil && str(v) != "" {
			return str(v)
		}
		return nil
	}
	call := func(macro string, arg any) (string, error) {
		if s == nil {
			s = e.newSession()
		}
		s.st = &state{node: n, phase: phaseParse, config: n.Config}
		f, _ := s.env.Context.Get(macro)
		m, ok := f.(func(*exec.VarArgs) *exec.Value)
		if !ok {
			return "", fmt.Errorf("%s is not a macro", macro)
		}
		va := exec.NewVarArgs()
		va.Args = []*exec.Value{exec.AsValue(arg), exec.AsValue(nodeMap(n))}
		v := m(va)
		if v.IsError() {
			return "", &RenderError{File: n.OriginalFilePath, Msg: fmt.Sprintf("%s: %v", macro, v.Interface())}
		}
		return strings.TrimSpace(v.String()), nil
	}
	var err error
	if e.overridden["generate_schema_name"] {
		if n.Schema, err = call("generate_schema_name", custom("schema")); err != nil {
			return err
		}
	} else if c := custom("schema"); c != nil {
		n.Schema = t.Schema + "_" + strings.TrimSpace(c.(string))
	} else {
		n.Schema = t.Schema
	}
	if e.overridden["generate_alias_name"] {
		if n.Alias, err = call("generate_alias_name", custom("alias")); err != nil {
			return err
		}
	} else if c := custom("alias"); c != nil {
		n.Alias = strings.TrimSpace(c.(string))
	} else {
		n.Alias = n.Name
	}
	if e.overridden["generate_database_name"] {
		n.Database, err = call("generate_database_name", custom("database"))
		return err
	}
	if c := custom("database"); c != nil {
		n.Database = c.(string)
	} else {
		n.Database = t.Database
	}
	return nil
}

// Graph is the project's DAG: parents and children by unique id.
type Graph struct {
	Nodes    map[string]*Node
	Parents  map[string][]string
	Children map[string][]string
}

// CycleError lists the nodes of a dependency cycle.
type CycleError struct{ Cycle []string }

func (e *CycleError) Error() string {
	return "Found a cycle: " + strings.Join(e.Cycle, " --> ")
}

func newGraph(p *Project) (*Graph, error) {
	g := &Graph{Nodes: p.Nodes, Parents: map[string][]string{}, Children: map[string][]string{}}
	ids := make([]string, 0, len(p.Nodes))
	for id := range p.Nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		n := p.Nodes[id]
		seen := map[string]bool{}
		add := func(parent string) {
			if !seen[parent] {
				seen[parent] = true
				n.DependsOn = append(n.DependsOn, parent)
				g.Parents[id] = append(g.Parents[id], parent)
				g.Children[parent] = append(g.Children[parent], id)
			}
		}
		for _, r := range n.Refs {
			if t, ok := p.resolveRef(n, r); ok {
				add(t.UniqueID)
			}
		}
		for _, sr := range n.SourceRefs {
			if s, ok := p.sources[sr[0]+"."+sr[1]]; ok {
				add(s.UniqueID)
			}
		}
		for _, d := range n.extraDeps {
			add(d)
		}
		sort.Strings(n.DependsOn)
	}
	if cycle := g.findCycle(ids); cycle != nil {
		return nil, &CycleError{Cycle: cycle}
	}
	return g, nil
}

func (g *Graph) findCycle(ids []string) []string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var found []string
	var visit func(id string) bool
	visit = func(id string) bool {
		color[id] = grey
		stack = append(stack, id)
		for _, c := range g.Children[id] {
			switch color[c] {
			case grey:
				for i, s := range stack {
					if s == c {
						found = append(append([]string{}, stack[i:]...), c)
						return true
					}
				}
			case white:
				if visit(c) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[id] = black
		return false
	}
	for _, id := range ids {
		if color[id] == white && visit(id) {
			return found
		}
	}
	return nil
}

// Order returns ids sorted so that every node comes after its parents.
func (g *Graph) Order(ids []string) []string {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var out []string
	done := map[string]bool{}
	var visit func(id string)
	visit = func(id string) {
		if done[id] {
			return
		}
		done[id] = true
		for _, p := range g.Parents[id] {
			visit(p)
		}
		if want[id] {
			out = append(out, id)
		}
	}
	sorted := append([]string(nil), ids...)
	sort.Strings(sorted)
	for _, id := range sorted {
		visit(id)
	}
	return out
}

// checkRefs fails on a ref to a node that does not exist or is disabled, now that every
// node's configuration is final (parsing ran in parallel and could not tell).
func (e *Engine) checkRefs(nodes []*Node) error {
	for _, n := range nodes {
		if !n.Enabled() {
			continue
		}
		for _, r := range n.Refs {
			name := r[len(r)-1]
			if t, ok := e.P.resolveRef(n, r); !ok || !t.Enabled() {
				return &LoadError{File: n.OriginalFilePath, Msg: notFound(n, name).Error()}
			}
		}
	}
	return nil
}
