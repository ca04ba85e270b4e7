package transform

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Compile renders the given nodes with every relation resolved, inlines ephemeral models as
// CTEs, and writes each to <target>/compiled/<project>/<path>.
func (e *Engine) Compile(ctx context.Context, g *Graph, ids []string) error {
	// Ephemeral parents are compiled too: their SQL is inlined into their children.
	need := map[string]bool{}
	var add func(id string)
	add = func(id string) {
		if need[id] {
			return
		}
		need[id] = true
		for _, parent := range g.Parents[id] {
			if pn := g.Nodes[parent]; pn != nil && pn.Materialized() == "ephemeral" {
				add(parent)
			}
		}
	}
	for _, id := range ids {
		add(id)
	}
	var nodes []*Node
	for id := range need {
		if n := g.Nodes[id]; n != nil && compilable(n) {
			if n.Test != nil && n.RawCode == "" {
				n.RawCode = testTemplate(n)
			}
			nodes = append(nodes, n)
		}
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].UniqueID < nodes[j].UniqueID })
	err := e.parallel(nodes, func(s *session, n *Node) error {
		out, st, err := s.render(n, phaseCompile, n.Config)
		if err != nil {
			return err
		}
		n.CompiledCode, n.dynamic = out, st.dynamic
		return nil
	})
	if err != nil {
		return err
	}
	for _, n := range nodes {
		n.ownSQL = n.CompiledCode
	}
	for _, n := range nodes {
		n.CompiledCode = injectCTEs(g, n, n.ownSQL, rawCompiled)
	}
	// With a warehouse to ask, nodes whose SQL depends on it are compiled as dbt compile does:
	// executing (execute = true), one at a time in dependency order.
	if e.DB != nil {
		var dyn []string
		for _, id := range ids {
			if n := g.Nodes[id]; n != nil && compilable(n) && needsRuntime(g, n) {
				dyn = append(dyn, id)
			}
		}
		if len(dyn) > 0 {
			conn, err := e.DB.Conn(ctx)
			if err != nil {
				return err
			}
			defer conn.Close()
			s := e.newRuntimeSession(ctx, conn)
			for _, id := range g.Order(dyn) {
				n := g.Nodes[id]
				out, err := s.renderExecuting(g, n)
				if err != nil {
					return err
				}
				n.CompiledCode = out
			}
		}
	}
	for _, id := range ids {
		n := g.Nodes[id]
		if n == nil || !compilable(n) {
			continue
		}
		if err := e.writeCompiled(n); err != nil {
			return err
		}
	}
	return nil
}

// writeCompiled writes a node's compiled SQL to <target>/compiled/<package>/<path>.
func (e *Engine) writeCompiled(n *Node) error {
	rel := n.OriginalFilePath
	if n.Test != nil { // dbt's layout: <properties file>/<test name>.sql
		rel = rel + "/" + n.Path
	}
	n.CompiledPath = filepath.ToSlash(filepath.Join(e.P.TargetPath, "compiled", n.PackageName, rel))
	full := filepath.Join(e.P.Dir, n.CompiledPath)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return err
	}
	return os.WriteFile(full, []byte(n.CompiledCode), 0o644)
}

// needsRuntime reports whether a node's SQL may differ once executing: its template or a
// macro it called is dynamic, or so is an ephemeral model inlined into it.
func needsRuntime(g *Graph, n *Node) bool {
	if n.dynamic {
		return true
	}
	for _, pn := range ephemeralAncestors(g, n) {
		if pn.dynamic {
			return true
		}
	}
	return false
}

// renderExecuting renders a node (and the dynamic ephemeral models inlined into it) with the
// session's warehouse connection, the way dbt compiles a node right before running it.
func (s *session) renderExecuting(g *Graph, n *Node) (string, error) {
	own := map[*Node]string{}
	for _, pn := range ephemeralAncestors(g, n) {
		if !pn.dynamic {
			continue
		}
		out, _, err := s.render(pn, phaseCompile, pn.Config)
		if err != nil {
			return "", err
		}
		own[pn] = out
	}
	s.rt.results = map[string]*stmtResult{}
	out, _, err := s.render(n, phaseCompile, n.Config)
	s.releaseTables()
	if err != nil {
		return "", err
	}
	return injectCTEs(g, n, out, func(pn *Node) string {
		if sql, ok := own[pn]; ok {
			return sql
		}
		return pn.ownSQL
	}), nil
}

// compilable nodes produce SQL: models, singular and generic tests.
func compilable(n *Node) bool {
	switch n.ResourceType {
	case "model", "test", typeAnalysis: // dbt compile writes no snapshot SQL
		return true
	}
	return false
}

// ephemeralRelation is how a ref to an ephemeral model renders.
func ephemeralRelation(name string) string { return "__dbt__cte__" + name }

var leadingWith = regexp.MustCompile(`(?is)^(\s*(--[^\n]*\n\s*|/\*.*?\*/\s*)*)with\s`)

// ephemeralAncestors are the ephemeral models inlined into a node, parents first.
func ephemeralAncestors(g *Graph, n *Node) []*Node {
	var order []*Node
	seen := map[string]bool{}
	var visit func(id string)
	visit = func(id string) {
		for _, parent := range g.Parents[id] {
			pn := g.Nodes[parent]
			if pn == nil || pn.Materialized() != "ephemeral" || seen[parent] {
				continue
			}
			seen[parent] = true
			visit(parent)
			order = append(order, pn)
		}
	}
	visit(n.UniqueID)
	return order
}

// injectCTEs prefixes a node's own compiled SQL with its ephemeral ancestors as CTEs (their
// SQL from own), parents first, merging into the query's own WITH when it has one.
func injectCTEs(g *Graph, n *Node, sql string, own func(*Node) string) string {
	order := ephemeralAncestors(g, n)
	if len(order) == 0 {
		return sql
	}
	ctes := make([]string, len(order))
	for i, pn := range order {
		ctes[i] = fmt.Sprintf("%s as (\n%s\n)", ephemeralRelation(pn.Name), strings.TrimSpace(own(pn)))
	}
	if m := leadingWith.FindStringIndex(sql); m != nil {
		return sql[:m[1]] + strings.Join(ctes, ", ") + ", " + sql[m[1]:]
	}
	return "with " + strings.Join(ctes, ", ") + "\n" + sql
}

// rawCompiled is an ephemeral node's own SQL, without the CTEs of its parents (which its
// child's injection lists separately).
func rawCompiled(n *Node) string { return n.ownSQL }

// Manifest writes <target>/manifest.json: nodes, sources, parent and child maps, in the shape
// of dbt's manifest (v12) for the fields tools read.
func (e *Engine) Manifest(g *Graph) error {
	p := e.P
	nodes := map[string]any{}
	sources := map[string]any{}
	others := map[string]map[string]any{"exposures": {}, "metrics": {}, "semantic_models": {}, "saved_queries": {}, "unit_tests": {}}
	for id, n := range g.Nodes {
		refs := []any{}
		for _, r := range n.Refs {
			refs = append(refs, map[string]any{"name": r[len(r)-1], "package": nil, "version": nil})
		}
		srcs := []any{}
		for _, sr := range n.SourceRefs {
			srcs = append(srcs, sr)
		}
		deps := n.DependsOn
		if deps == nil {
			deps = []string{}
		}
		entry := map[string]any{
			"unique_id": n.UniqueID, "resource_type": n.ResourceType, "name": n.Name, "package_name": n.PackageName,
			"path": n.Path, "original_file_path": n.OriginalFilePath, "fqn": n.FQN, "config": n.Config, "tags": n.Tags,
			"description": n.Description, "columns": orEmpty(n.Columns), "database": n.Database, "schema": n.Schema,
			"relation_name": n.Relation().String(), "depends_on": map[string]any{"nodes": deps, "macros": []string{}},
		}
		if n.ResourceType == "source" {
			entry["source_name"], entry["identifier"] = n.SourceName, n.Identifier
			sources[id] = entry
			continue
		}
		if sec := manifestSection(n); sec != "nodes" {
			delete(entry, "relation_name")
			entry["refs"], entry["sources"] = refs, srcs
			others[sec][id] = entry
			continue
		}
		entry["alias"], entry["refs"], entry["sources"], entry["raw_code"] = n.Alias, refs, srcs, n.RawCode
		entry["language"] = "sql"
		if n.CompiledPath != "" {
			entry["compiled"], entry["compiled_code"], entry["compiled_path"] = true, n.CompiledCode, n.CompiledPath
		}
		if n.Materialized() == "ephemeral" {
			entry["relation_name"] = nil
		}
		nodes[id] = entry
	}
	parents, children := map[string][]string{}, map[string][]string{}
	for id := range g.Nodes {
		parents[id] = sortedCopy(g.Parents[id])
		children[id] = sortedCopy(g.Children[id])
	}
	m := map[string]any{
		"metadata": map[string]any{
			"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json", "dbt_version": "1.9.0",
			"generated_at": time.Now().UTC().Format("2006-01-02T15:04:05.000000Z"), "invocation_id": e.InvocationID,
			"adapter_type": "duckdb", "project_name": p.Name, "generated_by": "dango",
		},
		"nodes": nodes, "sources": sources, "macros": map[string]any{}, "docs": map[string]any{}, "exposures": others["exposures"],
		"metrics": others["metrics"], "groups": map[string]any{}, "selectors": map[string]any{}, "disabled": map[string]any{},
		"parent_map": parents, "child_map": children, "group_map": map[string]any{}, "semantic_models": others["semantic_models"],
		"saved_queries": others["saved_queries"], "unit_tests": others["unit_tests"],
	}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	dir := filepath.Join(p.Dir, p.TargetPath)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "manifest.json"), data, 0o644)
}

// manifestSection is where a node lives in manifest.json and in the graph variable.
func manifestSection(n *Node) string {
	switch n.ResourceType {
	case "source":
		return "sources"
	case typeExposure:
		return "exposures"
	case typeMetric:
		return "metrics"
	case typeSemanticModel:
		return "semantic_models"
	case typeSavedQuery:
		return "saved_queries"
	case typeUnitTest:
		return "unit_tests"
	}
	return "nodes"
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func sortedCopy(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}
