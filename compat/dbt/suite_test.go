package dbtcompat

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

var (
	updateStatus = flag.Bool("update-status", false, "write compat/dbt/STATUS.md: what each project does under dango today")
	twice        = flag.Bool("twice", false, "run the newest dbt reference a second time and compare the two runs (finds what is not deterministic)")
)

// cases are the corpus' projects. dbt-expectations' integration tests use dbt-date from the
// hub; the suite points that dependency at the corpus copy (Case.LocalDeps).
var cases = []Case{
	{Pkg: "dbt_utils"},
	{Pkg: "dbt_date"},
	{Pkg: "dbt_expectations", LocalDeps: map[string]string{"godatadriven/dbt_date": "dbt_date"}},
}

func projectNames() map[string]bool {
	m := map[string]bool{}
	for _, c := range cases {
		m[c.Pkg] = true
	}
	return m
}

func repoRoot() string {
	abs, _ := filepath.Abs(filepath.Join("..", ".."))
	return abs
}

func corpusDir() string       { return filepath.Join(repoRoot(), "compat", "dbt", "testdata") }
func differencesFile() string { return filepath.Join(repoRoot(), "docs", "dbt-differences.md") }

// reference is one dbt-core install the suite compares dango with.
type reference struct {
	env, def string // the env var naming its dbt, and the path used when it is unset
	bin      string
	version  string // "1.9.11"
	reason   string // why it is not available
}

func (r *reference) label() string {
	if r.version == "" {
		return r.env
	}
	p := strings.SplitN(r.version, ".", 3)
	return "dbt-" + p[0] + "." + p[1]
}

// references are the two dbt-core versions: 1.9 (DANGO_DBT, .venv-dbt) and the newest 1.x
// that installs here (DANGO_DBT_LATEST, .venv-dbt111). `make test-dbt` installs both.
var (
	refOnce sync.Once
	refs    []*reference
)

var installedRE = regexp.MustCompile(`installed:\s+(\d+\.\d+\.\d+)`)

func references() []*reference {
	refOnce.Do(func() {
		for _, r := range []*reference{
			{env: "DANGO_DBT", def: filepath.Join(repoRoot(), ".venv-dbt", "bin", "dbt")},
			{env: "DANGO_DBT_LATEST", def: filepath.Join(repoRoot(), ".venv-dbt111", "bin", "dbt")},
		} {
			p := os.Getenv(r.env)
			if p == "" {
				p = r.def
			}
			if _, err := os.Stat(p); err != nil {
				r.reason = fmt.Sprintf("no dbt at %s (%s unset or wrong): `make test-dbt` installs it", p, r.env)
			} else if out, err := exec.Command(p, "--version").CombinedOutput(); err != nil {
				r.reason = fmt.Sprintf("%s --version: %v\n%s", p, err, out)
			} else if m := installedRE.FindStringSubmatch(string(out)); m == nil {
				r.reason = fmt.Sprintf("%s --version printed no installed version:\n%s", p, out)
			} else {
				r.bin, r.version = p, m[1]
			}
			refs = append(refs, r)
		}
	})
	return refs
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func dangoBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "dango-dbtcompat-*")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "dango")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/dango")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/dango: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// toolEnv is the environment both tools run with: no usage statistics, UTC, and none of the
// caller's DBT_* settings (which would make the two sides differ by accident).
func toolEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "DBT_") || strings.HasPrefix(e, "TZ=") {
			continue
		}
		env = append(env, e)
	}
	return append(env, "DBT_SEND_ANONYMOUS_USAGE_STATS=false", "DO_NOT_TRACK=1", "TZ=UTC")
}

// minDBT is the highest lower bound of require-dbt-version in the dbt_project.yml files of
// the case's packages and project ("" when none sets one).
func minDBT(t *testing.T, c Case) string {
	var files []string
	for _, p := range append([]string{c.Pkg}, sortedKeys(invert(c.LocalDeps))...) {
		files = append(files, filepath.Join(corpusDir(), p, "dbt_project.yml"))
	}
	files = append(files, filepath.Join(corpusDir(), c.Pkg, "integration_tests", "dbt_project.yml"))
	best := ""
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		var doc struct {
			Require any `yaml:"require-dbt-version"`
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var cons []string
		switch v := doc.Require.(type) {
		case string:
			cons = []string{v}
		case []any:
			for _, x := range v {
				cons = append(cons, fmt.Sprint(x))
			}
		}
		for _, s := range cons {
			s = strings.TrimSpace(s)
			if strings.HasPrefix(s, ">=") {
				if v := strings.TrimSpace(s[2:]); best == "" || versionLess(best, v) {
					best = v
				}
			}
		}
	}
	return best
}

func invert(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[v] = k
	}
	return out
}

func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < 3; i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

// projectStatus is what STATUS.md says of one project.
type projectStatus struct {
	c        Case
	upstream string
	sides    []*Result // the references that ran, then dango
	versions map[string]string
	skipped  []string // references not compared, with why
	judged   map[string]Judged
	refVsRef []Difference
	refLabel []string
}

var (
	statusMu sync.Mutex
	statuses = map[string]*projectStatus{}
)

// TestPackages runs every corpus project under each dbt reference and dango and fails on each
// difference docs/dbt-differences.md does not allow. Off unless DANGO_DBT_SUITE=1.
func TestPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("the dbt package suite runs dbt-core and dango on whole projects; skipped under -short")
	}
	if os.Getenv("DANGO_DBT_SUITE") != "1" {
		t.Skip("the dbt package suite is off until dango's engine runs these projects (see compat/dbt/STATUS.md): `make test-dbt` runs it (DANGO_DBT_SUITE=1)")
	}
	allow, err := ParseDifferences(differencesFile(), projectNames())
	if err != nil {
		t.Fatal(err)
	}
	var avail []*reference
	for _, r := range references() {
		if r.bin == "" {
			t.Logf("reference %s not available: %s", r.env, r.reason)
			continue
		}
		avail = append(avail, r)
	}
	if len(avail) == 0 {
		t.Skip("no dbt-core reference: `make test-dbt` installs .venv-dbt (1.9) and .venv-dbt111 (the newest 1.x)")
	}
	bin := dangoBinary(t)
	jobs := 3
	if n, err := strconv.Atoi(os.Getenv("DANGO_DBT_SUITE_JOBS")); err == nil && n > 0 {
		jobs = n
	}
	sem := make(chan struct{}, jobs)
	var usedMu sync.Mutex
	used := map[int]bool{}
	ran := map[string]int{} // project → references compared
	t.Cleanup(func() {
		// A row for every project must match something, when every project was compared
		// with every installed reference that accepts it.
		if len(ran) == len(cases) && len(avail) == len(references()) && !t.Failed() {
			for _, a := range allow {
				if a.Project == "*" && !used[a.Line] {
					t.Errorf("%s:%d: the row `%s` matches no difference of any project: remove it", differencesFile(), a.Line, a.What)
				}
			}
		}
		if *updateStatus {
			if err := writeStatus(filepath.Join(repoRoot(), "compat", "dbt", "STATUS.md")); err != nil {
				t.Error(err)
			}
		}
	})
	for _, c := range cases {
		t.Run(c.Pkg, func(t *testing.T) {
			t.Parallel()
			up, err := os.ReadFile(filepath.Join(corpusDir(), c.Pkg, "UPSTREAM"))
			if err != nil {
				t.Skipf("corpus package %s is absent (%v): lay it with compat/dbt/corpus.sh (see compat/dbt/README.md)", c.Pkg, err)
			}
			need := minDBT(t, c)
			st := &projectStatus{c: c, upstream: strings.TrimSpace(string(up)), versions: map[string]string{}, judged: map[string]Judged{}}
			var todo []*reference
			for _, r := range avail {
				if need != "" && versionLess(r.version, need) {
					msg := fmt.Sprintf("%s (%s): the project requires dbt >= %s (require-dbt-version), so this reference refuses it and is not compared", r.label(), r.version, need)
					t.Log(msg)
					st.skipped = append(st.skipped, msg)
					continue
				}
				todo = append(todo, r)
			}
			for _, r := range references() {
				if r.bin == "" {
					st.skipped = append(st.skipped, r.env+": "+r.reason)
				}
			}
			if len(todo) == 0 {
				statusMu.Lock()
				statuses[c.Pkg] = st
				statusMu.Unlock()
				t.Skipf("no available dbt reference accepts %s (needs dbt >= %s)", c.Pkg, need)
			}
			root := t.TempDir()
			if keep := os.Getenv("DANGO_DBT_SUITE_KEEP"); keep != "" {
				root = filepath.Join(keep, c.Pkg)
				if err := os.RemoveAll(root); err != nil {
					t.Fatal(err)
				}
				t.Logf("work folders kept under %s", root)
			}
			ctx := context.Background()
			results := make([]*Result, len(todo)+1)
			var wg sync.WaitGroup
			launch := func(i int, name, exe string) {
				l, err := Prepare(corpusDir(), filepath.Join(root, name), c)
				if err != nil {
					t.Fatalf("prepare %s for %s: %v", c.Pkg, name, err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					sem <- struct{}{}
					defer func() { <-sem }()
					results[i] = Run(ctx, name, exe, toolEnv(), l, 5*time.Minute)
				}()
			}
			labels := make([]string, 0, len(todo)+1)
			for _, r := range todo {
				labels = append(labels, r.label())
			}
			if *twice {
				last := todo[len(todo)-1]
				todo = append(todo, last)
				labels = append(labels, last.label()+"-again")
				results = append(results, nil)
			}
			for i, r := range todo {
				launch(i, labels[i], r.bin)
				st.versions[labels[i]] = r.version
			}
			launch(len(todo), "dango", bin)
			wg.Wait()
			got := results[len(todo)]
			st.sides = results
			for _, res := range results {
				var steps []string
				for _, s := range res.Steps {
					steps = append(steps, fmt.Sprintf("%s %s in %s", s.Name, exitClass(s), s.Duration.Round(100*time.Millisecond)))
				}
				t.Logf("%s: %s; %d nodes, %d results, %d compiled files, %d relations", res.Tool, strings.Join(steps, ", "),
					len(res.Nodes), len(res.Statuses), len(res.Compiled), relCount(res))
			}
			for i := range todo {
				ref := results[i]
				j := Judge(c.Pkg, Compare(ref, got), allow)
				st.judged[labels[i]] = j
				usedMu.Lock()
				for l := range j.Used {
					used[l] = true
				}
				ran[c.Pkg]++
				usedMu.Unlock()
				if len(j.Unexpected) > 0 {
					t.Errorf("%s vs dango on %s: %d differences not in docs/dbt-differences.md (%d allowed); dango's first errors: %s\n%s",
						labels[i], c.Pkg, len(j.Unexpected), len(j.Allowed), firstErrors(got), Summary(j.Unexpected, 5))
				}
			}
			if len(todo) >= 2 {
				a, b := len(todo)-2, len(todo)-1
				st.refVsRef = Compare(results[a], results[b])
				st.refLabel = []string{labels[a], labels[b]}
				t.Logf("%s vs %s (both real dbt; informational): %d differences\n%s", labels[a], labels[b], len(st.refVsRef), SummaryOf(st.refVsRef, 3, labels[a], labels[b]))
			}
			// Rows naming this project must match something it produced.
			if !t.Failed() && len(avail) == len(references()) {
				for _, a := range allow {
					if a.Project == c.Pkg {
						hit := false
						for _, j := range st.judged {
							hit = hit || j.Used[a.Line]
						}
						if !hit {
							t.Errorf("%s:%d: the row `%s` matches no difference of %s: remove it", differencesFile(), a.Line, a.What, c.Pkg)
						}
					}
				}
			}
			statusMu.Lock()
			statuses[c.Pkg] = st
			statusMu.Unlock()
		})
	}
}

func relCount(r *Result) int {
	if r.WH == nil {
		return 0
	}
	return len(r.WH.Relations)
}

// firstErrors is dango's first blocking errors: the error lines of its first failing step.
func firstErrors(r *Result) string {
	for _, s := range r.Steps {
		if s.Code != 0 {
			if len(s.Errors) == 0 {
				return fmt.Sprintf("%s %s (no error line; see %s)", s.Name, exitClass(s), s.Log)
			}
			return fmt.Sprintf("%s %s: %s", s.Name, exitClass(s), strings.Join(s.Errors, " / "))
		}
	}
	return "none (every step exited 0)"
}

// writeStatus writes STATUS.md from the projects this run compared.
func writeStatus(file string) error {
	statusMu.Lock()
	defer statusMu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "# The dbt package suite today\n\nWritten by `make test-dbt-status` (`go test ./compat/dbt -run TestPackages -update-status`, DANGO_DBT_SUITE=1) on %s. Do not edit: run it again.\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	b.WriteString("Each project is run with the same commands (`deps`, `build`, `ls --output json`, each with `--project-dir`, `--profiles-dir`, `--target duckdb`) under each dbt-core reference and under dango; see compat/dbt/README.md.\n")
	for _, c := range cases {
		st := statuses[c.Pkg]
		if st == nil {
			fmt.Fprintf(&b, "\n## %s\n\nNot run in this run.\n", c.Pkg)
			continue
		}
		fmt.Fprintf(&b, "\n## %s\n\nUpstream: `%s`\n\n", c.Pkg, st.upstream)
		for _, s := range st.skipped {
			fmt.Fprintf(&b, "- not compared: %s\n", s)
		}
		if len(st.sides) == 0 {
			continue
		}
		b.WriteString("\n| side | version | " + stepHeader() + " | total | nodes | results | compiled | relations |\n|---|---|" + strings.Repeat("---|", len(Steps)) + "---|---|---|---|---|\n")
		for _, r := range st.sides {
			v := st.versions[r.Tool]
			if r.Tool == "dango" {
				v = "this branch"
			}
			var cells []string
			for _, s := range Steps {
				sr := r.Step(s.Name)
				cells = append(cells, fmt.Sprintf("%s, %s", exitClass(sr), sr.Duration.Round(100*time.Millisecond)))
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %d | %d | %d |\n", r.Tool, v, strings.Join(cells, " | "), r.Total.Round(100*time.Millisecond), len(r.Nodes), len(r.Statuses), len(r.Compiled), relCount(r))
		}
		for _, r := range st.sides {
			if r.Tool == "dango" {
				continue
			}
			bad := map[string][]string{}
			for _, id := range sortedKeys(r.Statuses) {
				if s := r.Statuses[id]; s != "success" && s != "pass" {
					bad[s] = append(bad[s], id)
				}
			}
			fmt.Fprintf(&b, "\nWhere %s itself does not succeed on DuckDB (dango must give these nodes the same status):\n\n", r.Tool)
			if len(bad) == 0 {
				b.WriteString("- nothing: every node succeeds or passes\n")
			}
			for _, s := range sortedKeys(bad) {
				fmt.Fprintf(&b, "- **%s** (%d): %s\n", s, len(bad[s]), codeList(bad[s], 12))
			}
		}
		got := st.sides[len(st.sides)-1]
		fmt.Fprintf(&b, "\nDango's first blocking errors:\n\n")
		for _, s := range got.Steps {
			if s.Code != 0 {
				fmt.Fprintf(&b, "- `%s` %s:\n", s.Name, exitClass(s))
				for _, e := range s.Errors {
					fmt.Fprintf(&b, "  - `%s`\n", strings.ReplaceAll(e, "`", "'"))
				}
			}
		}
		for _, label := range sortedKeys(st.judged) {
			j := st.judged[label]
			fmt.Fprintf(&b, "\n%s vs dango: %d differences not allowed, %d allowed.\n\n```\n%s```\n", label, len(j.Unexpected), len(j.Allowed), Summary(j.Unexpected, 3))
		}
		if st.refLabel != nil {
			fmt.Fprintf(&b, "\n%s vs %s (real dbt against real dbt, for information: where the versions themselves differ): %d differences.\n\n```\n%s```\n", st.refLabel[0], st.refLabel[1], len(st.refVsRef), SummaryOf(st.refVsRef, 3, st.refLabel[0], st.refLabel[1]))
		}
	}
	return os.WriteFile(file, []byte(b.String()), 0o644)
}

func stepHeader() string {
	var s []string
	for _, st := range Steps {
		s = append(s, st.Name)
	}
	return strings.Join(s, " | ")
}

func codeList(ids []string, n int) string {
	sort.Strings(ids)
	var out []string
	for i, id := range ids {
		if i == n {
			out = append(out, fmt.Sprintf("… %d more", len(ids)-n))
			break
		}
		out = append(out, "`"+id+"`")
	}
	return strings.Join(out, ", ")
}
