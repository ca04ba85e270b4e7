package dbtcompat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Case is one project of the suite: a package of the corpus whose integration_tests project
// is run, the other corpus packages it needs, and the dbt-core versions that accept it.
type Case struct {
	Pkg string
	// LocalDeps rewrites hub dependencies of the package to corpus copies: hub name
	// ("godatadriven/dbt_date") → corpus package ("dbt_date"). The rewrite replaces the
	// `package:` entry of every packages.yml in the copy with `local: <absolute path>`, so
	// `deps` needs no network and both tools see the same files; an entry named here that is
	// not found fails the case.
	LocalDeps map[string]string
	// MinDBT is the oldest dbt-core that accepts the project (require-dbt-version of it or
	// of a package it uses); an older reference is not compared, with a message saying so.
	MinDBT string
}

// Steps are the commands both tools run, in order, each with the common flags after it.
// build loads the seeds, runs the models and every test in dependency order (a separate
// seed step followed by `build --exclude resource_type:seed` would leave out the tests on
// seeds: excluding a node excludes its tests); ls lists every node.
var Steps = []Step{
	{Name: "deps", Args: []string{"deps"}},
	{Name: "build", Args: []string{"build"}, RunResults: true},
	{Name: "ls", Args: []string{"ls", "--output", "json"}},
}

// Step is one command of the pipeline.
type Step struct {
	Name       string
	Args       []string
	RunResults bool // read target/run_results.json after it
}

// StepResult is what one command did.
type StepResult struct {
	Name     string
	Code     int    // exit code; -1 when it could not start or was killed
	Err      string // why it could not start, or the timeout
	Duration time.Duration
	Errors   []string // the first lines of its output that report an error
	Log      string   // where its whole output is
}

// Result is everything one tool produced on one copy of a project.
type Result struct {
	Tool     string
	Steps    []StepResult
	Nodes    map[string]string // unique_id → resource_type, from ls --output json
	Statuses map[string]string // unique_id → status, from the run_results.json of seed and build
	Compiled map[string]string // path under target/compiled → whitespace-normalised SQL
	// CompiledByID is each node's compiled_code in run_results.json, whitespace-normalised.
	// Two nodes can share a file under target/compiled (dbt shortens long test names), and
	// then the file holds whichever was written last; the per-node code does not.
	CompiledByID map[string]string
	WH           *Warehouse
	WHErr        string
	Total        time.Duration
}

// Step returns the named step's result (zero value when it did not run).
func (r *Result) Step(name string) StepResult {
	for _, s := range r.Steps {
		if s.Name == name {
			return s
		}
	}
	return StepResult{Name: name, Code: -1, Err: "did not run"}
}

// Layout is where one side's copy of a project lives.
type Layout struct {
	Root       string // the side's folder
	ProjectDir string // <root>/<pkg>/integration_tests
	ProfileDir string // <root>/profiles
	Warehouse  string // <root>/warehouse.duckdb (same basename on both sides: same catalog name)
}

// Profile is the name the corpus' integration-test projects use, and the target written.
const (
	Profile = "integration_tests"
	Target  = "duckdb"
)

// Prepare copies the case's package (and its LocalDeps) from corpus into root, rewrites the
// hub dependencies, and writes a profiles.yml for a DuckDB file in root.
func Prepare(corpus, root string, c Case) (Layout, error) {
	l := Layout{Root: root, ProjectDir: filepath.Join(root, c.Pkg, "integration_tests"),
		ProfileDir: filepath.Join(root, "profiles"), Warehouse: filepath.Join(root, "warehouse.duckdb")}
	pkgs := []string{c.Pkg}
	for _, d := range c.LocalDeps {
		pkgs = append(pkgs, d)
	}
	for _, p := range pkgs {
		if err := os.CopyFS(filepath.Join(root, p), os.DirFS(filepath.Join(corpus, p))); err != nil {
			return l, fmt.Errorf("copy corpus package %s: %w", p, err)
		}
	}
	if len(c.LocalDeps) > 0 {
		if err := rewriteDeps(filepath.Join(root, c.Pkg), root, c.LocalDeps); err != nil {
			return l, err
		}
	}
	if err := os.MkdirAll(l.ProfileDir, 0o755); err != nil {
		return l, err
	}
	prof := map[string]any{Profile: map[string]any{"target": Target, "outputs": map[string]any{
		Target: map[string]any{"type": "duckdb", "path": l.Warehouse, "threads": 2}}}}
	data, err := yaml.Marshal(prof)
	if err != nil {
		return l, err
	}
	return l, os.WriteFile(filepath.Join(l.ProfileDir, "profiles.yml"), data, 0o644)
}

// rewriteDeps replaces `package: <hub name>` entries of every packages.yml under dir with
// `local: <root>/<corpus package>`.
func rewriteDeps(dir, root string, deps map[string]string) error {
	found := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "packages.yml" {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var doc struct {
			Packages []map[string]any `yaml:"packages"`
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		changed := false
		for i, e := range doc.Packages {
			name, _ := e["package"].(string)
			if local, ok := deps[name]; ok {
				doc.Packages[i] = map[string]any{"local": filepath.Join(root, local)}
				found[name], changed = true, true
			}
		}
		if !changed {
			return nil
		}
		out, err := yaml.Marshal(doc)
		if err != nil {
			return err
		}
		return os.WriteFile(p, out, 0o644)
	})
	if err != nil {
		return fmt.Errorf("rewrite packages.yml: %w", err)
	}
	for name := range deps {
		if !found[name] {
			return fmt.Errorf("rewrite packages.yml: no `package: %s` entry under %s (the corpus changed: update the case)", name, dir)
		}
	}
	return nil
}

// Run runs Steps with the tool binary in l (cwd: the project dir) and gathers the result.
// Each step's output goes to <root>/<step>.log. A step that fails does not stop the next:
// dbt carries on after errors too, and the comparison wants everything either side made.
func Run(ctx context.Context, tool, bin string, env []string, l Layout, stepTimeout time.Duration) *Result {
	start := time.Now()
	r := &Result{Tool: tool, Nodes: map[string]string{}, Statuses: map[string]string{}, Compiled: map[string]string{}, CompiledByID: map[string]string{}}
	common := []string{"--project-dir", l.ProjectDir, "--profiles-dir", l.ProfileDir, "--target", Target}
	for _, s := range Steps {
		sr := StepResult{Name: s.Name, Log: filepath.Join(l.Root, s.Name+".log")}
		args := append(append([]string{}, s.Args...), common...)
		sctx, cancel := context.WithTimeout(ctx, stepTimeout)
		cmd := exec.CommandContext(sctx, bin, args...)
		cmd.Dir = l.ProjectDir
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		t0 := time.Now()
		err := cmd.Run()
		sr.Duration = time.Since(t0)
		timedOut := sctx.Err() != nil
		cancel()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case timedOut:
			sr.Code, sr.Err = -1, fmt.Sprintf("killed after %s (step timeout)", stepTimeout)
		case errors.As(err, &ee):
			sr.Code = ee.ExitCode()
		default:
			sr.Code, sr.Err = -1, err.Error()
		}
		_ = os.WriteFile(sr.Log, out.Bytes(), 0o644)
		sr.Errors = errorLines(out.String(), 3)
		if s.RunResults {
			rr := filepath.Join(l.ProjectDir, "target", "run_results.json")
			if st, code, err := readRunResults(rr); err == nil {
				for k, v := range st {
					r.Statuses[k] = v
				}
				for k, v := range code {
					r.CompiledByID[k] = v
				}
				_ = os.Rename(rr, filepath.Join(l.Root, s.Name+"_run_results.json"))
			}
		}
		if s.Name == "ls" {
			r.Nodes = parseLs(out.String())
		}
		r.Steps = append(r.Steps, sr)
	}
	r.Compiled = readCompiled(filepath.Join(l.ProjectDir, "target", "compiled"))
	if wh, err := ReadWarehouse(ctx, l.Warehouse); err != nil {
		r.WHErr = err.Error()
	} else {
		r.WH = wh
	}
	r.Total = time.Since(start)
	return r
}

var ansiRE = regexp.MustCompile("\x1b\\[[0-9;]*m")
var errRE = regexp.MustCompile(`(?i)\b(error|failure|refus|not supported|panic)`)
var tsRE = regexp.MustCompile(`^\d\d:\d\d:\d\d(\.\d+)?\s+`)

// errorLines returns up to n distinct lines of out that report an error, without colours or
// timestamps (the "first blocking errors" of a step).
func errorLines(out string, n int) []string {
	var got []string
	seen := map[string]bool{}
	for _, l := range strings.Split(ansiRE.ReplaceAllString(out, ""), "\n") {
		l = strings.TrimSpace(tsRE.ReplaceAllString(strings.TrimSpace(l), ""))
		if l == "" || seen[l] || !errRE.MatchString(l) || strings.HasPrefix(l, "Done.") || strings.Contains(l, "ERROR=0") {
			continue
		}
		seen[l] = true
		if len(l) > 300 {
			l = l[:300] + "…"
		}
		if got = append(got, l); len(got) == n {
			break
		}
	}
	return got
}

// readRunResults returns each node's status and its compiled code (nodes with none, seeds,
// are left out of the second map).
func readRunResults(file string) (map[string]string, map[string]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	var rr struct {
		Results []struct {
			UniqueID     string  `json:"unique_id"`
			Status       string  `json:"status"`
			CompiledCode *string `json:"compiled_code"`
		} `json:"results"`
	}
	if err := json.Unmarshal(data, &rr); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	out, code := map[string]string{}, map[string]string{}
	for _, r := range rr.Results {
		out[r.UniqueID] = r.Status
		if r.CompiledCode != nil && *r.CompiledCode != "" {
			code[r.UniqueID] = NormalizeSQL(*r.CompiledCode)
		}
	}
	return out, code, nil
}

// parseLs reads `ls --output json`: one JSON object per line; other lines (logs) are skipped.
func parseLs(out string) map[string]string {
	nodes := map[string]string{}
	for _, l := range strings.Split(ansiRE.ReplaceAllString(out, ""), "\n") {
		l = strings.TrimSpace(l)
		if i := strings.Index(l, "{"); i > 0 && tsRE.MatchString(l) {
			l = l[i:]
		}
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var n struct {
			UniqueID     string `json:"unique_id"`
			ResourceType string `json:"resource_type"`
		}
		if json.Unmarshal([]byte(l), &n) == nil && n.UniqueID != "" {
			nodes[n.UniqueID] = n.ResourceType
		}
	}
	return nodes
}

var wsRE = regexp.MustCompile(`\s+`)

// NormalizeSQL collapses every run of whitespace to one space and trims the ends.
func NormalizeSQL(s string) string { return strings.TrimSpace(wsRE.ReplaceAllString(s, " ")) }

func readCompiled(dir string) map[string]string {
	out := map[string]string{}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = NormalizeSQL(string(data))
		return nil
	})
	return out
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
