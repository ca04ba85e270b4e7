package transform

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"

	"github.com/dangohq/dango/dbtdeps"
)

// Package is an installed dbt package (a folder of packages-install-path with a
// dbt_project.yml), loaded as dbt loads dependencies: its own paths, configs and vars, its
// nodes named model.<package>.<name>.
type Package struct {
	Name string
	Dir  string   // absolute, links resolved
	proj *Project // its configuration and the nodes its files define
	vars map[string]any
}

// packageSet is what the root project knows about its packages.
type packageSet struct {
	list     []*Package
	byName   map[string]*Package
	dispatch map[string][]string // macro_namespace → search_order, from the root dbt_project.yml
	rootVars map[string]any      // the root's vars: as written (package scopes included)
	cliVars  map[string]any
	nodes    map[string]map[string]*Node // package → model/seed name → node (the root included)
	varsFor  map[string]map[string]any   // package → merged vars its nodes see
}

type dispatchEntry struct {
	MacroNamespace string   `yaml:"macro_namespace"`
	SearchOrder    []string `yaml:"search_order"`
}

// loadPackages finds the installed packages and loads each one's files into the project.
func (p *Project) loadPackages(installPath string, dispatch []dispatchEntry, rootVars, cliVars map[string]any) error {
	ps := &packageSet{byName: map[string]*Package{}, dispatch: map[string][]string{}, rootVars: rootVars, cliVars: cliVars,
		nodes: map[string]map[string]*Node{p.Name: {}}, varsFor: map[string]map[string]any{}}
	p.pk = ps
	for i, d := range dispatch {
		if d.MacroNamespace == "" || len(d.SearchOrder) == 0 {
			return &LoadError{File: "dbt_project.yml", Msg: fmt.Sprintf("dispatch entry %d needs macro_namespace and search_order", i+1)}
		}
		ps.dispatch[d.MacroNamespace] = d.SearchOrder
	}
	for name, n := range p.byName {
		ps.nodes[p.Name][name] = n
	}
	if installPath == "" {
		installPath = "dbt_packages"
	}
	if !filepath.IsAbs(installPath) {
		installPath = filepath.Join(p.Dir, installPath)
	}
	entries, err := os.ReadDir(installPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, ent := range entries {
		dir := filepath.Join(installPath, ent.Name())
		real, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return &LoadError{File: relTo(p.Dir, dir), Msg: fmt.Sprintf("broken package link: %v; run dango deps", err)}
		}
		if st, err := os.Stat(filepath.Join(real, "dbt_project.yml")); err != nil || st.IsDir() {
			continue // dbt skips folders that are not projects
		}
		pkg, err := p.loadPackage(real, relTo(p.Dir, dir))
		if err != nil {
			return err
		}
		if pkg.Name == p.Name {
			return &LoadError{File: relTo(p.Dir, dir), Msg: fmt.Sprintf("the package has the root project's name %q", p.Name)}
		}
		if prev, dup := ps.byName[pkg.Name]; dup {
			return &LoadError{File: relTo(p.Dir, dir), Msg: fmt.Sprintf("dbt found more than one package with the name %q (also %s)", pkg.Name, prev.Dir)}
		}
		ps.byName[pkg.Name] = pkg
		ps.list = append(ps.list, pkg)
	}
	sort.Slice(ps.list, func(i, j int) bool { return ps.list[i].Name < ps.list[j].Name })
	for _, pkg := range ps.list {
		sub := pkg.proj
		ps.nodes[pkg.Name] = sub.byName
		for id, n := range sub.Nodes {
			p.Nodes[id] = n
		}
		for name, n := range sub.byName {
			if _, taken := p.byName[name]; !taken {
				p.byName[name] = n
			}
		}
		for k, n := range sub.sources {
			if _, taken := p.sources[k]; !taken {
				p.sources[k] = n
			}
		}
		for _, mf := range sub.Macros {
			mf.Package = pkg.Name
			p.Macros = append(p.Macros, mf)
		}
		// vars as dbt's ModelConfiguredVar merges them: the package's dbt_project.yml (global,
		// then its scope), the root's (global, then the package's scope), --vars last.
		merged := map[string]any{}
		for _, layer := range []map[string]any{pkg.vars, scope(pkg.vars, pkg.Name), rootVars, scope(rootVars, pkg.Name), cliVars} {
			for k, v := range layer {
				merged[k] = v
			}
		}
		ps.varsFor[pkg.Name] = merged
	}
	return nil
}

func scope(vars map[string]any, name string) map[string]any {
	m, _ := vars[name].(map[string]any)
	return m
}

// loadPackage reads one installed package's dbt_project.yml and files.
func (p *Project) loadPackage(dir, label string) (*Package, error) {
	var cfg struct {
		Name        string         `yaml:"name"`
		ModelPaths  []string       `yaml:"model-paths"`
		SourcePaths []string       `yaml:"source-paths"`
		SeedPaths   []string       `yaml:"seed-paths"`
		DataPaths   []string       `yaml:"data-paths"`
		MacroPaths  []string       `yaml:"macro-paths"`
		TestPaths   []string       `yaml:"test-paths"`
		Vars        map[string]any `yaml:"vars"`
		Models      map[string]any `yaml:"models"`
		Seeds       map[string]any `yaml:"seeds"`
		OnRunStart  any            `yaml:"on-run-start"`
		OnRunEnd    any            `yaml:"on-run-end"`
	}
	if err := readYAML(filepath.Join(dir, "dbt_project.yml"), label+"/dbt_project.yml", &cfg); err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		return nil, &LoadError{File: label + "/dbt_project.yml", Msg: "the package's project has no name"}
	}
	start, err := hookStrings(label+"/dbt_project.yml", "on-run-start", cfg.OnRunStart)
	if err != nil {
		return nil, err
	}
	end, err := hookStrings(label+"/dbt_project.yml", "on-run-end", cfg.OnRunEnd)
	if err != nil {
		return nil, err
	}
	sub := &Project{onRunStart: start, onRunEnd: end, Name: cfg.Name, Dir: dir, RootDir: p.RootDir, Target: p.Target, Nodes: map[string]*Node{}, sources: map[string]*Node{},
		byName: map[string]*Node{}, props: map[string]*modelProps{}, modelCfg: cfg.Models, seedCfg: cfg.Seeds}
	sub.ModelPaths = firstNonEmpty(cfg.ModelPaths, cfg.SourcePaths, []string{"models"})
	sub.SeedPaths = firstNonEmpty(cfg.SeedPaths, cfg.DataPaths, []string{"seeds"})
	sub.MacroPaths = firstNonEmpty(cfg.MacroPaths, []string{"macros"})
	sub.TestPaths = firstNonEmpty(cfg.TestPaths, []string{"tests"})
	if err := sub.discover(); err != nil {
		var le *LoadError
		if errors.As(err, &le) {
			return nil, &LoadError{File: label + "/" + le.File, Line: le.Line, Msg: le.Msg}
		}
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	return &Package{Name: cfg.Name, Dir: dir, proj: sub, vars: cfg.Vars}, nil
}

// Packages lists the installed packages the project loaded, by name.
func (p *Project) Packages() []*Package {
	if p.pk == nil {
		return nil
	}
	return p.pk.list
}

// owner is the project whose files define n: the root or one of its packages.
func (p *Project) owner(n *Node) *Project {
	if p.pk != nil {
		if pkg, ok := p.pk.byName[n.PackageName]; ok {
			return pkg.proj
		}
	}
	return p
}

// FileOf is the absolute path of a node's file.
func (p *Project) FileOf(n *Node) string {
	return filepath.Join(p.owner(n).Dir, filepath.FromSlash(n.OriginalFilePath))
}

// varsFor is what var() sees in a node: the root's vars, or a package's merged ones.
func (p *Project) varsFor(n *Node) map[string]any {
	if n != nil && p.pk != nil {
		if v, ok := p.pk.varsFor[n.PackageName]; ok {
			return v
		}
	}
	return p.Vars
}

// resolveRef finds what ref() names, searching packages as dbt does: a package given in the
// ref only; else the root project, then the referring node's package, then any package.
func (p *Project) resolveRef(from *Node, args []string) (*Node, bool) {
	name := args[len(args)-1]
	if p.pk == nil {
		if len(args) == 2 && args[0] != p.Name {
			return nil, false
		}
		n, ok := p.byName[name]
		return n, ok
	}
	find := func(pkg string) (*Node, bool) {
		n, ok := p.pk.nodes[pkg][name]
		return n, ok && n.Enabled()
	}
	if len(args) == 2 {
		return find(args[0])
	}
	if n, ok := find(p.Name); ok {
		return n, true
	}
	if from != nil && from.PackageName != p.Name {
		if n, ok := find(from.PackageName); ok {
			return n, true
		}
	}
	for _, pkg := range p.pk.list {
		if n, ok := find(pkg.Name); ok {
			return n, true
		}
	}
	// a disabled node still answers, so the caller reports it as not found
	if n, ok := p.byName[name]; ok {
		return n, true
	}
	return nil, false
}

// applyRootConfig applies the root dbt_project.yml's configs to a package's node: dbt applies
// them after the package's own configs and in-file config(), so they win.
func (p *Project) applyRootConfig(n *Node) {
	if p.owner(n) == p {
		return
	}
	tree := p.modelCfg
	if n.ResourceType == "seed" {
		tree = p.seedCfg
	} else if n.ResourceType != "model" {
		return
	}
	walkConfig(n.Config, tree, n.FQN)
}

func walkConfig(cfg map[string]any, tree map[string]any, fqn []string) {
	level := tree
	applyLevel(cfg, level)
	for _, part := range fqn {
		next, ok := level[part].(map[string]any)
		if !ok {
			break
		}
		level = next
		applyLevel(cfg, level)
	}
}

// macroSpace is the macros a node's templates can call, arranged as dbt's MacroNamespace:
// unqualified names resolve in the node's own package, then the root project, then package
// names (dbt_utils.star), then dbt's (and dango's) built-ins.
type macroSpace struct {
	flat     map[string]any            // what a template sees
	internal map[string]any            // dbt's namespace
	packages map[string]map[string]any // every non-internal package, the root included
}

// macroSpaceFor binds every macro to a renderer in env and arranges them for a node of local.
func (s *session) macroSpaceFor(local string, env *exec.Environment) *macroSpace {
	e := s.e
	root := e.P.Name
	ms := &macroSpace{flat: map[string]any{}, internal: map[string]any{}, packages: map[string]map[string]any{root: {}}}
	for _, pkg := range e.P.Packages() {
		ms.packages[pkg.Name] = map[string]any{}
	}
	for i := len(e.macroFiles) - 1; i >= 0; i-- { // earlier files of a package win
		mf := e.macroFiles[i]
		r := exec.NewRenderer(env, discard, jinjaConfig, nil, mf.tpl)
		target := ms.internal
		if !mf.internal {
			pkg := mf.Package
			if pkg == "" {
				pkg = root
			}
			if ms.packages[pkg] == nil {
				ms.packages[pkg] = map[string]any{}
			}
			target = ms.packages[pkg]
		}
		for name, node := range mf.tpl.Macros() {
			f, err := exec.MacroNodeToFunc(node, r)
			if err != nil {
				continue
			}
			target[name] = s.wrapMacro(name, f, mf.dynamic)
		}
	}
	for k, v := range ms.internal {
		ms.flat[k] = v
	}
	ms.flat["dbt"] = ms.internal
	for pkg, m := range ms.packages {
		ms.flat[pkg] = m
	}
	for k, v := range ms.packages[root] {
		ms.flat[k] = v
	}
	if local != root {
		for k, v := range ms.packages[local] {
			ms.flat[k] = v
		}
	}
	return ms
}

// dispatch is adapter.dispatch(name, macro_namespace): dbt's search of duckdb__name then
// default__name in each package of the search order the root's dispatch: config gives for
// the namespace (else the root project then the namespace, for a known package; else the
// node's own lookup).
func (s *session) dispatch(ms *macroSpace) func(va *exec.VarArgs) (any, error) {
	return func(va *exec.VarArgs) (any, error) {
		var name string
		var ns any
		if len(va.Args) > 0 {
			name = va.Args[0].String()
		} else if v, ok := va.KwArgs["macro_name"]; ok {
			name = v.String()
		}
		if len(va.Args) > 1 {
			ns = va.Args[1].Interface()
		} else if v, ok := va.KwArgs["macro_namespace"]; ok {
			ns = v.Interface()
		}
		if _, ok := va.KwArgs["packages"]; ok {
			return nil, s.fail(fmt.Errorf("adapter.dispatch's packages argument was removed in dbt 0.20; use macro_namespace and the project's dispatch config"))
		}
		if name == "" {
			return nil, s.fail(fmt.Errorf("adapter.dispatch needs a macro name"))
		}
		if i := strings.IndexByte(name, '.'); i >= 0 {
			return nil, s.fail(fmt.Errorf("In adapter.dispatch, got a macro name of %q, but \".\" is not a valid macro name component. Did you mean `adapter.dispatch(%q, macro_namespace=%q)`?", name, name[i+1:], name[:i]))
		}
		search := []string{""}
		nsStr := "None"
		if ns != nil {
			str, ok := ns.(string)
			if !ok {
				return nil, s.fail(fmt.Errorf("In adapter.dispatch, got a %T macro_namespace argument (%v), but macro_namespace should be None or a string.", ns, ns))
			}
			nsStr = str
			p := s.e.P
			if p.pk != nil && len(p.pk.dispatch[str]) > 0 {
				search = p.pk.dispatch[str]
			} else if _, known := ms.packages[str]; known || str == "dbt" || str == "dbt_duckdb" {
				search = []string{p.Name, str}
			}
		}
		var attempts []string
		for _, pkg := range search {
			for _, prefix := range []string{"duckdb", "default"} {
				cand := prefix + "__" + name
				var m any
				switch pkg {
				case "":
					m = ms.flat[cand]
					attempts = append(attempts, "'"+cand+"'")
				case "dbt", "dbt_duckdb":
					m = ms.internal[cand]
					attempts = append(attempts, "'"+pkg+"."+cand+"'")
				default:
					m = ms.packages[pkg][cand]
					attempts = append(attempts, "'"+pkg+"."+cand+"'")
				}
				if m != nil {
					return m, nil
				}
			}
		}
		return nil, s.fail(fmt.Errorf("In dispatch: No macro named '%s' found within namespace: '%s'\n    Searched for: %s", name, nsStr, strings.Join(attempts, ", ")))
	}
}

// packagesMissing is dbt's check that every declared package is installed.
func packagesMissing(dir string) error {
	if err := dbtdeps.Missing(dir); err != nil {
		var de *dbtdeps.Error
		if errors.As(err, &de) {
			return &LoadError{File: de.File, Line: de.Line, Msg: de.Msg}
		}
		return &LoadError{File: "packages.yml", Msg: err.Error()}
	}
	return nil
}
