package dltcompat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The side-by-side suite: every case loads the same input with dlt 1.31 and with dango and
// compares the two DuckDB files. README.md of this folder says how to run it.

// sideBySide is one case.
type sideBySide struct {
	name   string // also the subtest's and the dlt script's name (testdata/pipelines/<name>.py)
	source string // dango's source name; both load into schema raw_<source>
	// sources is dango's .dango/sources.yml. {{API}} is replaced by the base URL of dango's
	// copy of the API (with a trailing slash), {{DATA}} by the input folder relative to the
	// project root (data/input).
	sources string
	files   map[string]string   // input files, relative to the input folder
	api     func() http.Handler // a fresh copy for each side; nil when the case has no API
	db      string              // "postgres" or "mysql": the case needs a database
	setup   []string            // statements run in that database first
	runs    int                 // syncs in a row (default 1); the API advances between them
	keys    map[string][]string // natural keys of top-level tables (see Options.Keys)
	restCfg bool                // sources[0].rest_api must equal the dict the dlt script ran
	// rejects is set for a configuration dlt refuses: the dlt script must fail naming it, and
	// dango must stop with exit code 2 naming it and its line in sources.yml; nothing is loaded.
	rejects string
}

func (c sideBySide) schema() string { return "raw_" + c.source }

func allCases() []sideBySide {
	var out []sideBySide
	out = append(out, restCases()...)
	out = append(out, fileCases()...)
	out = append(out, sqlCases()...)
	return out
}

func TestSideBySide(t *testing.T) {
	if testing.Short() {
		t.Skip("the side-by-side suite runs dlt and dango; skipped under -short")
	}
	cases := allCases()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			runCase(t, c)
		})
	}
}

// TestCaseNamesUnique guards the names docs/dlt-differences.md refers to.
func TestCaseNamesUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range allCases() {
		if seen[c.name] {
			t.Errorf("two cases are named %s", c.name)
		}
		seen[c.name] = true
		if _, err := os.Stat(filepath.Join("testdata", "pipelines", c.name+".py")); err != nil {
			t.Errorf("case %s has no dlt pipeline: %v", c.name, err)
		}
	}
}

func caseNames() map[string]bool {
	m := map[string]bool{}
	for _, c := range allCases() {
		m[c.name] = true
	}
	return m
}

func repoRoot() string {
	abs, _ := filepath.Abs(filepath.Join("..", ".."))
	return abs
}

func differencesFile() string { return filepath.Join(repoRoot(), "docs", "dlt-differences.md") }

var (
	allowOnce sync.Once
	allowed   []Allowance
	allowErr  error
)

func allowances(t *testing.T) []Allowance {
	allowOnce.Do(func() { allowed, allowErr = ParseDifferences(differencesFile(), caseNames()) })
	if allowErr != nil {
		t.Fatal(allowErr)
	}
	return allowed
}

// dltPython is the interpreter of the dlt venv: $DANGO_DLT_PYTHON, or .venv-dlt at the repo
// root. A set but broken DANGO_DLT_PYTHON fails; an unset one with no venv skips (fails in CI).
var (
	pyOnce           sync.Once
	pyPath, pyReason string
	pyFatal          bool
)

func dltPython(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("the side-by-side suite runs dlt and dango; skipped under -short")
	}
	pyOnce.Do(func() {
		p, set := os.LookupEnv("DANGO_DLT_PYTHON")
		if !set {
			p = filepath.Join(repoRoot(), ".venv-dlt", "bin", "python")
			if _, err := os.Stat(p); err != nil {
				pyReason = fmt.Sprintf("no dlt venv at %s and DANGO_DLT_PYTHON is not set: create it with `make .venv-dlt/bin/python` (or run `make test`)", p)
				pyFatal = os.Getenv("CI") != ""
				return
			}
		}
		out, err := exec.Command(p, "-c", "import dlt, duckdb, sqlalchemy, psycopg2, pymysql, pandas, pyarrow; print(dlt.__version__, duckdb.__version__)").CombinedOutput()
		if err != nil {
			pyReason, pyFatal = fmt.Sprintf("the dlt venv's python %s does not work: %v\n%s(create it with `make .venv-dlt/bin/python`)", p, err, out), true
			return
		}
		f := strings.Fields(string(out))
		if len(f) != 2 || !strings.HasPrefix(f[0], "1.31.") || f[1] != "1.5.6" {
			pyReason, pyFatal = fmt.Sprintf("%s has dlt/duckdb %q; the suite needs dlt 1.31.* and duckdb 1.5.6 (the Go engine's version): `make .venv-dlt/bin/python`", p, strings.TrimSpace(string(out))), true
			return
		}
		pyPath = p
	})
	if pyPath == "" {
		if pyFatal {
			t.Fatal(pyReason)
		}
		t.Skip(pyReason)
	}
	return pyPath
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// dangoBinary builds cmd/dango once per run of the suite.
func dangoBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "dango-compat-*")
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
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// fakeAPI serves one side's copy of a case's API and counts its phases: POST /_advance moves
// to the next phase (the dlt script calls it between runs, the test between dango's syncs).
type fakeAPI struct {
	h        http.Handler
	mu       sync.Mutex
	phase    int
	requests int
}

func (a *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_advance" && r.Method == http.MethodPost {
		a.mu.Lock()
		a.phase++
		a.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	a.mu.Lock()
	a.requests++
	a.mu.Unlock()
	a.h.ServeHTTP(w, r)
}

func (a *fakeAPI) counts() (phase, requests int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.phase, a.requests
}

type phaseKey struct{}

// phase is the phase of the API copy serving r.
func phase(r *http.Request) int { p, _ := r.Context().Value(phaseKey{}).(int); return p }

func runCase(t *testing.T, c sideBySide) {
	py := dltPython(t)
	bin := dangoBinary(t)
	allow := allowances(t)
	if c.runs == 0 {
		c.runs = 1
	}
	dir := t.TempDir()
	proj := filepath.Join(dir, "proj")
	if out, err := command(t, dir, nil, bin, "init", "proj"); err != nil {
		t.Fatalf("dango init: %v\n%s", err, out)
	}
	input := filepath.Join(proj, "data", "input")
	if err := os.MkdirAll(input, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range c.files {
		p := filepath.Join(input, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var dltURL, dangoURL, dltDB, dangoDB string
	var dltAPI, dangoAPI *fakeAPI
	if c.api != nil {
		dltAPI, dltURL = wrapPhase(t, c.api)
		dangoAPI, dangoURL = wrapPhase(t, c.api)
	}
	if c.db != "" {
		dltDB, dangoDB = newDatabase(t, c.db, c.setup)
	}

	// dlt
	dltFile := filepath.Join(dir, "dlt.duckdb")
	work := filepath.Join(dir, "dlt-work")
	os.MkdirAll(work, 0o755)
	env := []string{
		"DLT_DUCKDB=" + dltFile, "DLT_DATASET=" + c.schema(), "DLT_PIPELINE=" + c.name,
		"DLT_PIPELINES_DIR=" + filepath.Join(dir, "dlt-pipelines"), "DLT_CONFIG_OUT=" + filepath.Join(dir, "dlt-config.json"),
		"DATA_DIR=" + input, "API_URL=" + dltURL, "DB_URL=" + dltDB,
		"RUNTIME__DLTHUB_TELEMETRY=false", "RUNTIME__LOG_LEVEL=WARNING", "PYTHONDONTWRITEBYTECODE=1",
	}
	script, _ := filepath.Abs(filepath.Join("testdata", "pipelines", c.name+".py"))
	start := time.Now()
	if c.rejects != "" {
		checkRejected(t, c, proj, bin, dangoURL, func() (string, error) { return command(t, work, env, py, script) })
		return
	}
	if out, err := command(t, work, env, py, script); err != nil {
		t.Fatalf("the dlt pipeline failed (a broken case or venv, not a dango difference): %v\n%s", err, out)
	}
	t.Logf("dlt took %s", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	logCounts(t, ctx, "dlt", dltFile, c.schema())
	if dltAPI != nil {
		if p, _ := dltAPI.counts(); p != c.runs-1 {
			t.Fatalf("the dlt script advanced the API %d times, the case runs %d times", p, c.runs)
		}
	}

	// dango
	sources := strings.NewReplacer("{{API}}", dangoURL, "{{DATA}}", "data/input").Replace(c.sources)
	write(t, filepath.Join(proj, ".dango", "sources.yml"), sources)
	if dangoDB != "" {
		write(t, filepath.Join(proj, ".env"), "DB_URL="+dangoDB+"\n")
	}
	if c.restCfg {
		checkSameConfig(t, sources, filepath.Join(dir, "dlt-config.json"), dangoURL, dltURL)
	}
	start = time.Now()
	for i := 0; i < c.runs; i++ {
		if i > 0 {
			dangoAPI.mu.Lock()
			dangoAPI.phase++
			dangoAPI.mu.Unlock()
		}
		out, err := command(t, proj, []string{"NO_COLOR=1"}, bin, "sync")
		if err != nil {
			t.Fatalf("dango sync (run %d of %d) failed where dlt succeeded: %v\n%s", i+1, c.runs, err, out)
		}
	}
	t.Logf("dango took %s", time.Since(start).Round(time.Millisecond))
	if dltAPI != nil {
		_, a := dltAPI.counts()
		_, b := dangoAPI.counts()
		t.Logf("API requests: dlt %d, dango %d", a, b)
	}

	// compare
	dangoFile := filepath.Join(proj, "data", "warehouse.duckdb")
	logCounts(t, ctx, "dango", dangoFile, c.schema())
	diffs, err := Compare(ctx, dltFile, dangoFile, Options{Schema: c.schema(), Keys: c.keys,
		SkipValues: func(table, column string) bool {
			for _, a := range allow {
				if a.SkipsValues(c.name, table, column) {
					return true
				}
			}
			return false
		}})
	if err != nil {
		t.Fatal(err)
	}
	used := map[int]bool{}
	var failures []string
	for _, d := range diffs {
		ok := false
		for _, a := range allow {
			if a.Matches(c.name, d.Key()) {
				used[a.Line], ok = true, true
				t.Logf("allowed by docs/dlt-differences.md:%d: %s", a.Line, d)
				break
			}
		}
		if !ok {
			failures = append(failures, d.String())
		}
	}
	for _, a := range allow {
		if a.Case == c.name && !used[a.Line] {
			t.Errorf("docs/dlt-differences.md:%d lists `%s` for %s, but the outputs do not differ that way any more: remove the row", a.Line, a.What, c.name)
		}
	}
	if len(failures) > 0 {
		t.Errorf("%d differences from dlt not listed in docs/dlt-differences.md (schema %s):\n%s",
			len(failures), c.schema(), strings.Join(failures, "\n"))
	}
}

// checkRejected: dlt refuses the configuration, and so must dango, before loading anything.
func checkRejected(t *testing.T, c sideBySide, proj, bin, dangoURL string, runDLT func() (string, error)) {
	out, err := runDLT()
	if err == nil || !strings.Contains(out, c.rejects) {
		t.Fatalf("the case expects dlt to refuse %q, but it did not (err %v):\n%s", c.rejects, err, out)
	}
	write(t, filepath.Join(proj, ".dango", "sources.yml"), strings.NewReplacer("{{API}}", dangoURL, "{{DATA}}", "data/input").Replace(c.sources))
	out, err = command(t, proj, []string{"NO_COLOR=1"}, bin, "sync")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(out, c.rejects) || !strings.Contains(out, ".dango/sources.yml:") {
		t.Fatalf("dlt refuses %q; dango sync must stop with exit code 2 naming it and its sources.yml line, got %v:\n%s", c.rejects, err, out)
	}
	if _, err := os.Stat(filepath.Join(proj, "data", "warehouse.duckdb")); err == nil {
		n, err := Counts(context.Background(), filepath.Join(proj, "data", "warehouse.duckdb"), c.schema())
		if err == nil && len(n) > 0 {
			t.Errorf("dango refused the configuration but created tables: %v", n)
		}
	}
}

func wrapPhase(t *testing.T, api func() http.Handler) (*fakeAPI, string) {
	a := &fakeAPI{}
	inner := api()
	a.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		p := a.phase
		a.mu.Unlock()
		inner.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), phaseKey{}, p)))
	})
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return a, srv.URL + "/"
}

func logCounts(t *testing.T, ctx context.Context, who, file, schema string) {
	n, err := Counts(ctx, file, schema)
	if err != nil {
		t.Logf("%s: %v", who, err)
		return
	}
	var parts []string
	for _, k := range sortedKeys(n) {
		if !strings.HasPrefix(k, "_") {
			parts = append(parts, fmt.Sprintf("%s %d", k, n[k]))
		}
	}
	t.Logf("%-5s rows: %s", who, strings.Join(parts, ", "))
}

func sortedKeys(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkSameConfig: the rest_api block dango reads is the dict the dlt script ran, so the two
// sides are given the same configuration (base URLs aside).
func checkSameConfig(t *testing.T, sourcesYML, dltJSON, dangoURL, dltURL string) {
	t.Helper()
	var doc struct {
		Sources []map[string]any `yaml:"sources"`
	}
	if err := yaml.Unmarshal([]byte(sourcesYML), &doc); err != nil || len(doc.Sources) == 0 {
		t.Fatalf("the case's sources.yml does not parse: %v", err)
	}
	y, _ := json.Marshal(doc.Sources[0]["rest_api"])
	y = bytes.ReplaceAll(y, []byte(dangoURL), []byte("{{API}}"))
	d, err := os.ReadFile(dltJSON)
	if err != nil {
		t.Fatalf("the dlt script did not record its config: %v", err)
	}
	d = bytes.ReplaceAll(d, []byte(dltURL), []byte("{{API}}"))
	var a, b any
	json.Unmarshal(y, &a)
	if err := json.Unmarshal(d, &b); err != nil {
		t.Fatalf("%s: %v", dltJSON, err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("the case gives dango and dlt different configurations:\n dango %s\n dlt   %s", y, d)
	}
}

func command(t *testing.T, dir string, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%s did not finish in 2 minutes: %w", filepath.Base(name), err)
	}
	s := out.String()
	if len(s) > 6000 {
		s = "…" + s[len(s)-6000:]
	}
	return s, err
}

func write(t *testing.T, path, content string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
