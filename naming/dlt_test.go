package naming

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// Regenerate testdata/dlt_expected.json (after changing corpus.json or moving to a new dlt):
//
//	DANGO_DLT_PYTHON=$PWD/.venv-dlt/bin/python go test ./naming -run TestSnakeMatchesDlt -update
var update = flag.Bool("update", false, "rewrite testdata/dlt_expected.json from dlt's own normalizer")

const defaultDltPython = "../.venv-dlt/bin/python" // the checkout's venv, from the package folder

type dltNames struct {
	DltVersion string    `json:"dlt_version"`
	MaxLength  int       `json:"max_length"`
	Names      []dltName `json:"names"`
}

type dltName struct {
	Name       string `json:"name"`
	Identifier string `json:"identifier"`
	Path       string `json:"path"`
	Table      string `json:"table"`
}

// corpusNames reads testdata/corpus.json (real names grouped by where they come from) and adds
// names too long for DuckDB's identifier limit, so dlt's shortening is compared too.
func corpusNames(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("testdata/corpus.json")
	if err != nil {
		t.Fatal(err)
	}
	var groups map[string][]string
	if err := json.Unmarshal(raw, &groups); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var names []string
	for _, g := range groups {
		for _, n := range g {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	names = append(names,
		strings.Repeat("Long Column Name ", MaxLength/17+3),
		"x"+strings.Repeat("a", MaxLength),
		strings.Repeat("ab", MaxLength/4)+"__"+strings.Repeat("cd", MaxLength/4+10))
	sort.Strings(names)
	return names
}

// compact stands a long name or result in for its digest so the vendored file stays small.
func compact(s string) string {
	if len(s) <= 300 {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func dltPython() string {
	if p := os.Getenv("DANGO_DLT_PYTHON"); p != "" {
		return p
	}
	if _, err := os.Stat(defaultDltPython); err == nil {
		return defaultDltPython
	}
	return ""
}

// runDlt normalizes names with dlt itself (testdata/dlt_normalize.py).
func runDlt(t *testing.T, python string, names []string) dltNames {
	t.Helper()
	in, _ := json.Marshal(names)
	cmd := exec.Command(python, "testdata/dlt_normalize.py")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dlt normalizer (%s): %v\n%s", python, err, stderr.String())
	}
	var res dltNames
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Names) != len(names) {
		t.Fatalf("dlt returned %d names for %d", len(res.Names), len(names))
	}
	return res
}

// TestSnakeMatchesDlt compares every corpus name, character for character, with what dlt's
// snake_case convention makes of it: live against dlt when its python is there (DANGO_DLT_PYTHON,
// default the project's dlt venv) and the test is not -short, else against the vendored output
// of the same dlt run.
func TestSnakeMatchesDlt(t *testing.T) {
	names := corpusNames(t)
	if len(names) < 500 {
		t.Fatalf("corpus has only %d names", len(names))
	}
	python := dltPython()
	var want dltNames
	switch {
	case *update:
		if python == "" {
			t.Fatal("-update needs dlt: set DANGO_DLT_PYTHON")
		}
		want = runDlt(t, python, names)
		for i := range want.Names {
			n := &want.Names[i]
			n.Name, n.Identifier, n.Path, n.Table = compact(n.Name), compact(n.Identifier), compact(n.Path), compact(n.Table)
		}
		b, _ := json.MarshalIndent(want, "", " ")
		if err := os.WriteFile("testdata/dlt_expected.json", append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	case python != "" && !testing.Short():
		want = runDlt(t, python, names)
		t.Logf("comparing %d names live with dlt %s", len(names), want.DltVersion)
	default:
		raw, err := os.ReadFile("testdata/dlt_expected.json")
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		if len(want.Names) != len(names) {
			t.Fatalf("testdata/dlt_expected.json has %d names, the corpus %d: regenerate it (see -update)", len(want.Names), len(names))
		}
		t.Logf("comparing %d names with the vendored output of dlt %s", len(names), want.DltVersion)
	}
	if want.MaxLength != MaxLength {
		t.Errorf("dlt's DuckDB identifier limit is %d, naming.MaxLength %d", want.MaxLength, MaxLength)
	}
	bad := 0
	for i, name := range names {
		w := want.Names[i]
		if compact(w.Name) != compact(name) {
			t.Fatalf("name %d: dlt output is for %q, the corpus has %q: regenerate (see -update)", i, w.Name, compact(name))
		}
		for _, c := range []struct{ what, got, want string }{
			{"Identifier", Identifier(name), w.Identifier},
			{"Snake", Snake(name), w.Path},
			{"Snake (table)", Snake(name), w.Table},
		} {
			if compact(c.got) != compact(c.want) {
				bad++
				t.Errorf("%s(%q) = %q, dlt makes %q", c.what, compact(name), compact(c.got), compact(c.want))
			}
		}
	}
	if bad > 0 {
		t.Logf("%d of %d names differ", bad, len(names))
	}
}
