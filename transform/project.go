package transform

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Target is the resolved dbt-duckdb profile output.
type Target struct {
	Name        string
	ProfileName string
	Type        string // always duckdb
	Path        string // absolute path of the DuckDB file
	Database    string // the file's stem, as dbt-duckdb names it
	Schema      string
	Threads     int
}

// Project is a parsed dbt project.
type Project struct {
	Name       string
	Dir        string // absolute dbt project folder
	RootDir    string // the dango project root (where profiles and relative paths live)
	Profile    string
	ModelPaths []string
	SeedPaths  []string
	MacroPaths []string
	TestPaths  []string
	TargetPath string
	Vars       map[string]any // project vars (global and this project's scope merged)
	modelCfg   map[string]any // the models: tree of dbt_project.yml
	seedCfg    map[string]any
	Target     Target

	Nodes   map[string]*Node // unique id → node (models, seeds, tests, sources)
	Macros  []*MacroFile
	sources map[string]*Node // "source_name.table_name" → source node
	byName  map[string]*Node // model/seed name → node
	props   map[string]*modelProps
	// genericTests are created once models are known (their parents must exist).
	genericTests []*Node
	sourceTests  []sourceTest
	pk           *packageSet // installed packages (see packages.go)
	// onRunStart and onRunEnd are the hooks of dbt_project.yml, run around every run.
	onRunStart, onRunEnd []string
	pending              []pendingDep      // name dependencies resolved after discovery
	measures             map[string]string // semantic-layer measure → its semantic model's id
}

// Node is a model, seed, singular test or source.
type Node struct {
	UniqueID         string         `json:"unique_id"`
	ResourceType     string         `json:"resource_type"` // model, seed, test, source
	Name             string         `json:"name"`
	PackageName      string         `json:"package_name"`
	Path             string         `json:"path"`               // relative to its resource folder
	OriginalFilePath string         `json:"original_file_path"` // relative to the dbt project
	FQN              []string       `json:"fqn"`
	RawCode          string         `json:"raw_code,omitempty"`
	Config           map[string]any `json:"config"`
	Tags             []string       `json:"tags"`
	Description      string         `json:"description"`
	Columns          map[string]any `json:"columns"`
	Database         string         `json:"database"`
	Schema           string         `json:"schema"`
	Alias            string         `json:"alias,omitempty"`
	Identifier       string         `json:"identifier,omitempty"` // sources
	SourceName       string         `json:"source_name,omitempty"`
	Refs             [][]string     `json:"refs"`
	SourceRefs       [][]string     `json:"sources"`
	DependsOn        []string       `json:"-"`
	ownSQL           string         // compiled SQL before ephemeral CTEs are injected
	dynamic          bool           // its SQL may differ while executing (needsRuntime)
	extraDeps        []string       // parents by unique id (metrics, saved queries, unit tests)
	Test             *GenericTest   `json:"-"` // for generic data tests
	CompiledCode     string         `json:"compiled_code,omitempty"`
	CompiledPath     string         `json:"compiled_path,omitempty"`
	patchPath        string
}

// Relation renders the node's relation as dbt-duckdb does: "database"."schema"."identifier".
// An ephemeral model's relation is the CTE its children inline.
func (n *Node) Relation() Relation {
	if n.Materialized() == "ephemeral" {
		return Relation{Identifier: ephemeralRelation(n.Name), bare: true}
	}
	id := n.Alias
	if n.ResourceType == "source" {
		id = n.Identifier
	}
	if id == "" {
		id = n.Name
	}
	return Relation{Database: n.Database, Schema: n.Schema, Identifier: id}
}

// Materialized returns the node's materialization.
func (n *Node) Materialized() string { s, _ := n.Config["materialized"].(string); return s }

// Enabled reports whether the node is enabled.
func (n *Node) Enabled() bool { b, ok := n.Config["enabled"].(bool); return !ok || b }

// LoadError is a problem in a project file, located by file (and line when known): a
// configuration error at load time, or a Jinja error while rendering.
type LoadError struct {
	File string
	Line int
	Msg  string
}

func (e *LoadError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// LoadOptions select the profile target and command-line vars.
type LoadOptions struct {
	RootDir     string         // dango project root: profiles at .dango/profiles.yml, relative paths
	ProfilesDir string         // where profiles.yml is; default RootDir/.dango
	Profile     string         // default: dbt_project.yml's profile (dbt's --profile)
	Target      string         // default: the profile's target
	Vars        map[string]any // --vars
	// PathBase is the folder a relative duckdb path in the profile is resolved against:
	// default RootDir. dbt-duckdb opens it relative to the working directory, so a plain dbt
	// project passes the working directory here.
	PathBase string
}

// Load reads the dbt project in dir: configuration, profile and files. It does not render
// models; Parse does.
func Load(dir string, o LoadOptions) (*Project, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	p := &Project{Dir: dir, RootDir: o.RootDir, Nodes: map[string]*Node{}, sources: map[string]*Node{}, byName: map[string]*Node{}, props: map[string]*modelProps{}}
	if p.RootDir == "" {
		p.RootDir = filepath.Dir(dir)
	}
	var cfg struct {
		Name          string          `yaml:"name"`
		Profile       string          `yaml:"profile"`
		ModelPaths    []string        `yaml:"model-paths"`
		SourcePaths   []string        `yaml:"source-paths"`
		SeedPaths     []string        `yaml:"seed-paths"`
		DataPaths     []string        `yaml:"data-paths"`
		MacroPaths    []string        `yaml:"macro-paths"`
		TestPaths     []string        `yaml:"test-paths"`
		TargetPath    string          `yaml:"target-path"`
		Vars          map[string]any  `yaml:"vars"`
		Models        map[string]any  `yaml:"models"`
		Seeds         map[string]any  `yaml:"seeds"`
		OnRunStart    any             `yaml:"on-run-start"`
		OnRunEnd      any             `yaml:"on-run-end"`
		ConfigVersion any             `yaml:"config-version"`
		PackagesPath  string          `yaml:"packages-install-path"`
		Dispatch      []dispatchEntry `yaml:"dispatch"`
		Extra         extraPaths      `yaml:",inline"`
	}
	if err := readYAML(filepath.Join(dir, "dbt_project.yml"), "dbt_project.yml", &cfg); err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		return nil, &LoadError{File: "dbt_project.yml", Msg: "the project has no name"}
	}
	if p.onRunStart, err = hookStrings("dbt_project.yml", "on-run-start", cfg.OnRunStart); err != nil {
		return nil, err
	}
	if p.onRunEnd, err = hookStrings("dbt_project.yml", "on-run-end", cfg.OnRunEnd); err != nil {
		return nil, err
	}
	if err := packagesMissing(dir); err != nil {
		return nil, err
	}
	p.Name, p.Profile = cfg.Name, cfg.Profile
	p.ModelPaths = firstNonEmpty(cfg.ModelPaths, cfg.SourcePaths, []string{"models"})
	p.SeedPaths = firstNonEmpty(cfg.SeedPaths, cfg.DataPaths, []string{"seeds"})
	p.MacroPaths = firstNonEmpty(cfg.MacroPaths, []string{"macros"})
	p.TestPaths = firstNonEmpty(cfg.TestPaths, []string{"tests"})
	p.TargetPath = cfg.TargetPath
	if p.TargetPath == "" {
		p.TargetPath = "target"
	}
	p.modelCfg, p.seedCfg = cfg.Models, cfg.Seeds
	// vars: global keys, overridden by this project's scope, overridden by --vars.
	p.Vars = map[string]any{}
	for k, v := range cfg.Vars {
		if m, ok := v.(map[string]any); ok && k == p.Name {
			for kk, vv := range m {
				p.Vars[kk] = vv
			}
			continue
		}
		if _, scoped := cfg.Vars[p.Name]; !scoped || k != p.Name {
			if _, isMap := v.(map[string]any); !isMap {
				p.Vars[k] = v
			}
		}
	}
	for k, v := range o.Vars {
		p.Vars[k] = v
	}
	if err := p.loadProfile(o); err != nil {
		return nil, err
	}
	if err := p.discover(); err != nil {
		return nil, err
	}
	if err := p.discoverExtra(cfg.Extra); err != nil {
		return nil, err
	}
	if err := p.resolvePending(); err != nil {
		return nil, err
	}
	if err := p.loadPackages(cfg.PackagesPath, cfg.Dispatch, cfg.Vars, o.Vars); err != nil {
		return nil, err
	}
	return p, nil
}

func firstNonEmpty(lists ...[]string) []string {
	for _, l := range lists {
		if len(l) > 0 {
			return l
		}
	}
	return nil
}

func readYAML(path, label string, out any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return &LoadError{File: label, Msg: "not found"}
		}
		return err
	}
	if strings.Contains(string(data), "{{") {
		data = []byte(renderConfigJinja(string(data)))
	}
	if err := yaml.Unmarshal(data, out); err != nil {
		return &LoadError{File: label, Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	return nil
}

func (p *Project) loadProfile(o LoadOptions) error {
	dir := o.ProfilesDir
	if dir == "" {
		dir = filepath.Join(p.RootDir, ".dango")
	}
	if o.Profile != "" {
		p.Profile = o.Profile
	}
	if p.Profile == "" {
		return &LoadError{File: "dbt_project.yml", Msg: "the project names no profile: add profile: <name> (or pass --profile)"}
	}
	var profiles map[string]struct {
		Target  string                    `yaml:"target"`
		Outputs map[string]map[string]any `yaml:"outputs"`
	}
	label := filepath.ToSlash(filepath.Join(relTo(p.RootDir, dir), "profiles.yml"))
	if r := relTo(p.RootDir, dir); strings.HasPrefix(r, "..") {
		label = filepath.Join(dir, "profiles.yml")
	}
	if err := readYAML(filepath.Join(dir, "profiles.yml"), label, &profiles); err != nil {
		return err
	}
	prof, ok := profiles[p.Profile]
	if !ok {
		return &LoadError{File: label, Msg: fmt.Sprintf("no profile named %q (dbt_project.yml's profile)", p.Profile)}
	}
	name := o.Target
	if name == "" {
		name = prof.Target
	}
	out, ok := prof.Outputs[name]
	if !ok {
		return &LoadError{File: label, Msg: fmt.Sprintf("profile %s has no target %q", p.Profile, name)}
	}
	t := Target{Name: name, ProfileName: p.Profile, Type: str(out["type"]), Schema: str(out["schema"]), Threads: 1}
	if t.Type != "duckdb" {
		return &LoadError{File: label, Msg: fmt.Sprintf("target %s has type %q; dango's engine runs dbt-duckdb projects", name, t.Type)}
	}
	if t.Schema == "" {
		t.Schema = "main"
	}
	if n, ok := out["threads"].(int); ok && n > 0 {
		t.Threads = n
	}
	pathStr := str(out["path"])
	if pathStr == "" {
		pathStr = ":memory:"
	}
	if pathStr != ":memory:" && !filepath.IsAbs(pathStr) {
		base := o.PathBase
		if base == "" {
			base = p.RootDir
		}
		pathStr = filepath.Join(base, pathStr)
	}
	t.Path = pathStr
	t.Database = str(out["database"])
	if t.Database == "" {
		if pathStr == ":memory:" {
			t.Database = "memory"
		} else {
			base := filepath.Base(pathStr)
			t.Database = strings.TrimSuffix(base, filepath.Ext(base))
		}
	}
	p.Target = t
	return nil
}

func relTo(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil {
		return r
	}
	return p
}

func str(v any) string {
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// discover finds the project's files: models, YAML properties, seeds, singular tests, macros.
func (p *Project) discover() error {
	for _, mp := range p.ModelPaths {
		files, err := walk(filepath.Join(p.Dir, mp))
		if err != nil {
			return err
		}
		for _, f := range files {
			rel := path.Join(mp, f)
			switch {
			case strings.HasSuffix(f, ".sql"):
				raw, err := os.ReadFile(filepath.Join(p.Dir, rel))
				if err != nil {
					return err
				}
				name := strings.TrimSuffix(path.Base(f), ".sql")
				n := &Node{UniqueID: "model." + p.Name + "." + name, ResourceType: "model", Name: name, PackageName: p.Name,
					Path: f, OriginalFilePath: rel, FQN: fqn(p.Name, f), RawCode: string(raw)}
				if prev, dup := p.byName[name]; dup {
					return &LoadError{File: rel, Msg: fmt.Sprintf("a model named %s is also defined in %s; model names must be unique", name, prev.OriginalFilePath)}
				}
				p.byName[name] = n
				p.Nodes[n.UniqueID] = n
			case strings.HasSuffix(f, ".py"):
				return &LoadError{File: rel, Msg: "Python models are not supported by dango's engine; run with --engine dbt-core"}
			case strings.HasSuffix(f, ".yml") || strings.HasSuffix(f, ".yaml"):
				if err := p.readProperties(rel); err != nil {
					return err
				}
			}
		}
	}
	for _, sp := range p.SeedPaths {
		files, err := walk(filepath.Join(p.Dir, sp))
		if err != nil {
			return err
		}
		for _, f := range files {
			if strings.HasSuffix(f, ".yml") || strings.HasSuffix(f, ".yaml") {
				if err := p.readProperties(path.Join(sp, f)); err != nil {
					return err
				}
			}
			if !strings.HasSuffix(f, ".csv") {
				continue
			}
			name := strings.TrimSuffix(path.Base(f), ".csv")
			n := &Node{UniqueID: "seed." + p.Name + "." + name, ResourceType: "seed", Name: name, PackageName: p.Name,
				Path: f, OriginalFilePath: path.Join(sp, f), FQN: fqn(p.Name, f)}
			if prev, dup := p.byName[name]; dup {
				return &LoadError{File: n.OriginalFilePath, Msg: fmt.Sprintf("a resource named %s is also defined in %s", name, prev.OriginalFilePath)}
			}
			p.byName[name] = n
			p.Nodes[n.UniqueID] = n
		}
	}
	for _, tp := range p.TestPaths {
		files, err := walk(filepath.Join(p.Dir, tp))
		if err != nil {
			return err
		}
		for _, f := range files {
			if !strings.HasSuffix(f, ".sql") || strings.HasPrefix(f, "generic/") {
				continue
			}
			raw, err := os.ReadFile(filepath.Join(p.Dir, tp, f))
			if err != nil {
				return err
			}
			name := strings.TrimSuffix(path.Base(f), ".sql")
			n := &Node{UniqueID: "test." + p.Name + "." + name, ResourceType: "test", Name: name, PackageName: p.Name,
				Path: f, OriginalFilePath: path.Join(tp, f), FQN: fqn(p.Name, f), RawCode: string(raw)}
			p.Nodes[n.UniqueID] = n
		}
	}
	macroDirs := append([]string(nil), p.MacroPaths...)
	for _, tp := range p.TestPaths {
		macroDirs = append(macroDirs, path.Join(tp, "generic"))
	}
	for _, mp := range macroDirs {
		files, err := walk(filepath.Join(p.Dir, mp))
		if err != nil {
			return err
		}
		for _, f := range files {
			if !strings.HasSuffix(f, ".sql") {
				continue
			}
			raw, err := os.ReadFile(filepath.Join(p.Dir, mp, f))
			if err != nil {
				return err
			}
			p.Macros = append(p.Macros, &MacroFile{Path: path.Join(mp, f), Source: string(raw)})
		}
	}
	// Properties can name models defined anywhere: apply them once everything is known.
	names := make([]string, 0, len(p.props))
	for name := range p.props {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		props := p.props[name]
		n, ok := p.byName[name]
		if !ok {
			continue // dbt warns about properties of missing models; so do we, quietly
		}
		n.Description, n.Columns, n.patchPath = props.Description, props.Columns, props.file
		ref := "ref('" + name + "')"
		// A bare tags: on a model entry is not configuration in dbt (config: tags: is); column
		// tags are passed on to that column's tests.
		if err := p.addGenericTests(props.file, n, ref, name, "", props.Tests, nil); err != nil {
			return err
		}
		for _, col := range props.ColumnOrder {
			c, _ := props.Columns[col].(map[string]any)
			tags := toStrings(c["tags"])
			if err := p.addGenericTests(props.file, n, ref, name, col, testList(c), tags); err != nil {
				return err
			}
		}
	}
	for _, st := range p.sourceTests {
		if err := p.addGenericTests(st.file, st.node, "source('"+st.node.SourceName+"', '"+st.node.Name+"')",
			st.node.SourceName+"_"+st.node.Name, st.column, st.tests, nil); err != nil {
			return err
		}
	}
	return nil
}

// testList reads a column's or model's data_tests (or the older tests) list.
func testList(m map[string]any) []any {
	if v, ok := m["data_tests"].([]any); ok {
		return v
	}
	v, _ := m["tests"].([]any)
	return v
}

// fqn is dbt's fully qualified name: project, folders, name.
func fqn(project, rel string) []string {
	parts := strings.Split(rel, "/")
	last := parts[len(parts)-1]
	parts[len(parts)-1] = strings.TrimSuffix(last, path.Ext(last))
	return append([]string{project}, parts...)
}

// walk lists files below dir (slash-separated, relative), sorted; a missing dir is empty.
func walk(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
				return filepath.SkipDir
			}
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != dir {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			r, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(r))
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}
