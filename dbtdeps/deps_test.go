package dbtdeps

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestVersionResolution(t *testing.T) {
	avail := []string{"0.9.0", "1.0.0", "1.1.0", "1.2.0-b1", "1.2.0", "1.3.0", "2.0.0", "2.1.0-rc1"}
	cases := []struct {
		specs      []string
		prerelease bool
		want       string
		wantErr    string
	}{
		{[]string{">=1.0.0", "<2.0.0"}, false, "1.3.0", ""},
		{[]string{"1.1.0"}, false, "1.1.0", ""},
		{[]string{">=1.0.0"}, false, "2.0.0", ""},
		{[]string{">=1.0.0"}, true, "2.1.0-rc1", ""},
		{[]string{">1.3.0", "<2.0.0"}, false, "", ""},
		{[]string{"<1.2.0"}, true, "1.1.0", ""},
		{[]string{"<=1.2.0"}, true, "1.2.0", ""},
		{[]string{">=1.0.0", "<2.0.0", ">=1.1.0", "<1.3.0"}, false, "1.2.0", ""},
		{[]string{"1.0.0", "1.1.0"}, false, "", "Could not find a satisfactory version"},
		{[]string{">=2.0.0", "<1.0.0"}, false, "", "Could not find a satisfactory version"},
		{[]string{">=1.0.0", "1.1.0"}, false, "1.1.0", ""},
		{[]string{"=1.2.0-b1"}, false, "1.2.0-b1", ""},
	}
	for _, c := range cases {
		var vs []version
		pre := c.prerelease
		for _, s := range c.specs {
			v, err := parseVersion(s)
			if err != nil {
				t.Fatal(err)
			}
			pre = pre || v.prerelease != ""
			vs = append(vs, v)
		}
		r, err := reduceVersions(vs)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%v: error %v, want %q", c.specs, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", c.specs, err)
			continue
		}
		if got := resolveVersion(r, installable(avail, pre)); got != c.want {
			t.Errorf("%v (prerelease %v): got %q, want %q", c.specs, c.prerelease, got, c.want)
		}
	}
	for _, bad := range []string{"1.0", "v1.0.0", "01.0.0", ">= 1.0.0", ""} {
		if _, err := parseVersion(bad); err == nil {
			t.Errorf("%q parsed as a version", bad)
		}
	}
}

func TestSpecErrors(t *testing.T) {
	cases := []struct{ yml, want string }{
		{"packages:\n  - local: ../a\n    revision: x\n", `packages.yml:3: unknown key "revision"`},
		{"packages:\n  - package: dbt_utils\n    version: 1.0.0\n", "require a namespace"},
		{"packages:\n  - package: a/b\n", "missing the version"},
		{"packages:\n  - tarball: https://x/y.tgz\n", "needs name:"},
		{"packages:\n  - private: a/b\n", "use a git: entry"},
		{"packages:\n  - git: '{{ env_var(\"DANGO_TEST_NOPE\") }}'\n", "Env var required but not provided: 'DANGO_TEST_NOPE'"},
		{"pakages: []\n", `unknown key "pakages"`},
		{"packages:\n  - nothing: 1\n", "needs one of local:"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "packages.yml"), []byte(c.yml), 0o644)
		_, err := ReadDeclared(dir)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.yml, err, c.want)
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "packages.yml"), []byte("packages:\n  - local: a\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "dependencies.yml"), []byte("packages:\n  - local: b\n"), 0o644)
	if _, err := ReadDeclared(dir); err == nil || !strings.Contains(err.Error(), "cannot be specified in both") {
		t.Errorf("both files: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "packages.yml"), []byte("# nothing\n"), 0o644)
	d, err := ReadDeclared(dir)
	if err != nil || d.File != "dependencies.yml" || len(d.Specs) != 1 || d.Specs[0].Local != "b" {
		t.Errorf("dependencies.yml: %+v %v", d, err)
	}
}

// TestHashMatchesDBT computes package-lock.yml's sha1_hash with dbt-core itself.
func TestHashMatchesDBT(t *testing.T) {
	dbt := os.Getenv("DANGO_DBT")
	if dbt == "" {
		t.Skip("DANGO_DBT not set")
	}
	python := filepath.Join(filepath.Dir(dbt), "python")
	t.Setenv("DANGO_HASH_VAR", "v2.0")
	ymls := []string{
		"packages:\n  - local: ../a\n",
		"packages:\n  - git: https://x/y.git\n    revision: v1\n    subdirectory: s\n    warn-unpinned: false\n  - package: dbt-labs/dbt_utils\n    version: [\">=1.0.0\", \"<2.0.0\"]\n",
		"packages:\n  - tarball: https://t/x.tgz\n    name: x\n  - package: a/b\n    version: 1.2\n    install_prerelease: true\n",
		"packages:\n  - git: \"https://h/r\"\n    revision: \"{{ env_var('DANGO_HASH_VAR') }}\"\n  - package: a/é\n    version: 1.0.0\n",
		"packages:\n  - git: https://h/r\n    revision: 3\n  - git: https://h/r2\n    name: r2\n  - local: x\n    name: null\n",
	}
	script := `
import sys, os, yaml, copy
from dbt_common.context import set_invocation_context
set_invocation_context(os.environ)
from dbt.config.project import package_config_from_data
from dbt.config.renderer import PackageRenderer
from dbt.task.deps import _create_sha1_hash
raw = yaml.safe_load(open(sys.argv[1]))
rendered = PackageRenderer({}).render_data(copy.deepcopy(raw))
print(_create_sha1_hash(package_config_from_data(rendered, raw).packages))
`
	for _, y := range ymls {
		dir := t.TempDir()
		f := filepath.Join(dir, "packages.yml")
		os.WriteFile(f, []byte(y), 0o644)
		out, err := exec.Command(python, "-c", script, f).CombinedOutput()
		if err != nil {
			t.Fatalf("dbt hash: %v\n%s", err, out)
		}
		d, err := ReadDeclared(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := Hash(d.Specs), strings.TrimSpace(string(out)); got != want {
			t.Errorf("%s: hash %s, dbt %s", y, got, want)
		}
	}
}

func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// gitRepo makes a repository with the files committed and tagged v1, then a second commit on
// main; it returns its file:// URL and the v1 commit.
func gitRepo(t *testing.T, files map[string]string) (string, string) {
	dir := t.TempDir()
	run(t, dir, "git", "init", "-q", "-b", "main")
	writeFiles(t, dir, files)
	run(t, dir, "git", "add", "-A")
	run(t, dir, "git", "commit", "-q", "-m", "v1")
	run(t, dir, "git", "tag", "v1")
	sha := run(t, dir, "git", "rev-parse", "HEAD")
	writeFiles(t, dir, map[string]string{"later.txt": "after v1", "sub/later.txt": "after v1"})
	run(t, dir, "git", "add", "-A")
	run(t, dir, "git", "commit", "-q", "-m", "later")
	return "file://" + dir, sha
}

type tarEntry struct {
	name, body, link string
	typ              byte
}

func tarball(t *testing.T, entries []tarEntry) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: e.typ, Linkname: e.link}
		if e.typ == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// hub serves the hub API for the given packages: name → version → (tarball, packages).
func hub(t *testing.T, pkgs map[string]map[string][]byte, deps map[string][]map[string]any) *httptest.Server {
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("/api/v1/index.json", func(w http.ResponseWriter, r *http.Request) {
		var names []string
		for n := range pkgs {
			names = append(names, n)
		}
		json.NewEncoder(w).Encode(names)
	})
	for name, versions := range pkgs {
		name, versions := name, versions
		mux.HandleFunc("/api/v1/"+name+".json", func(w http.ResponseWriter, r *http.Request) {
			vs := map[string]any{}
			for v := range versions {
				packages := deps[name+"@"+v]
				if packages == nil {
					packages = []map[string]any{}
				}
				vs[v] = map[string]any{"name": strings.SplitN(name, "/", 2)[1], "packages": packages,
					"downloads": map[string]any{"tarball": srv.URL + "/tar/" + name + "/" + v + ".tar.gz"}}
			}
			json.NewEncoder(w).Encode(map[string]any{"name": strings.SplitN(name, "/", 2)[1], "namespace": strings.SplitN(name, "/", 2)[0], "versions": vs})
		})
		for v, body := range versions {
			body := body
			mux.HandleFunc("/tar/"+name+"/"+v+".tar.gz", func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
		}
	}
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestInstall(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	// a git package (its project is named gitpkg) that itself depends on a hub package
	gitURL, v1 := gitRepo(t, map[string]string{
		"dbt_project.yml":     "name: gitpkg\nversion: '1.0'\n",
		"macros/m.sql":        "{% macro hello() %}hi{% endmacro %}",
		"packages.yml":        "packages:\n  - package: org/util\n    version: [\">=1.0.0\", \"<2.0.0\"]\n",
		"sub/dbt_project.yml": "name: subpkg\n",
	})
	utilTar := func(v string) []byte {
		return tarball(t, []tarEntry{{name: "org-util-" + v + "/", typ: tar.TypeDir}, {name: "org-util-" + v + "/dbt_project.yml", body: "name: util\nversion: '" + v + "'\n"}})
	}
	srv := hub(t, map[string]map[string][]byte{"org/util": {"1.0.0": utilTar("1.0.0"), "1.5.0": utilTar("1.5.0"), "2.0.0": utilTar("2.0.0")}}, nil)
	t.Setenv("DBT_PACKAGE_HUB_URL", srv.URL+"/")

	root := t.TempDir()
	local := filepath.Join(root, "local_pkg")
	writeFiles(t, root, map[string]string{
		"proj/dbt_project.yml":      "name: proj\npackages-install-path: deps_here\n",
		"proj/packages.yml":         "packages:\n  - local: ../local_pkg\n  - git: \"" + gitURL + "\"\n    revision: v1\n  - git: \"" + gitURL + "\"\n    subdirectory: sub\n    revision: \"{{ env_var('DANGO_TEST_REV') }}\"\n  - package: org/util\n    version: \">=1.1.0\"\n",
		"local_pkg/dbt_project.yml": "name: localpkg\n",
	})
	t.Setenv("DANGO_TEST_REV", "main")
	proj := filepath.Join(root, "proj")
	var out, warn bytes.Buffer
	in, err := NewInstaller(proj)
	if err != nil {
		t.Fatal(err)
	}
	in.HubURL = os.Getenv("DBT_PACKAGE_HUB_URL")
	in.Out, in.Warn = &out, &warn
	if err := in.Run(context.Background()); err != nil {
		t.Fatalf("deps: %v\n%s", err, out.String())
	}
	for _, name := range []string{"localpkg", "gitpkg", "subpkg", "util"} {
		if _, err := os.Stat(filepath.Join(proj, "deps_here", name, "dbt_project.yml")); err != nil {
			t.Errorf("%s not installed: %v\n%s", name, err, out.String())
		}
	}
	if l, err := os.Readlink(filepath.Join(proj, "deps_here", "localpkg")); err != nil || l != local {
		t.Errorf("local package should be a link to %s: %q %v", local, l, err)
	}
	if _, err := os.Stat(filepath.Join(proj, "deps_here", "gitpkg", "later.txt")); err == nil {
		t.Errorf("git package at v1 has a file of the later commit")
	}
	if _, err := os.Stat(filepath.Join(proj, "deps_here", "subpkg", "later.txt")); err != nil {
		t.Errorf("subdirectory package should come from main: %v", err)
	}
	data, _ := os.ReadFile(filepath.Join(proj, "deps_here", "util", "dbt_project.yml"))
	if !strings.Contains(string(data), "1.5.0") {
		t.Errorf("hub range >=1.1.0 and [>=1.0.0, <2.0.0] should pick 1.5.0: %s", data)
	}
	lock, _ := os.ReadFile(filepath.Join(proj, LockFile))
	d, _ := ReadDeclared(proj)
	for _, want := range []string{"  - local: ../local_pkg\n", "  - git: " + gitURL + "\n    revision: " + v1 + "\n", "    subdirectory: sub\n",
		"  - package: org/util\n    version: 1.5.0\n", "sha1_hash: " + Hash(d.Specs) + "\n"} {
		if !strings.Contains(string(lock), want) {
			t.Errorf("lock lacks %q:\n%s", want, lock)
		}
	}
	for _, want := range []string{"Installing ../local_pkg\nInstalled from <local @ ../local_pkg>\n", "Installing " + gitURL + "\nInstalled from revision " + v1 + "\n",
		"Installing org/util\nInstalled from version 1.5.0\nUpdated version available: 2.0.0\n", "and subdirectory sub\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(warn.String(), `pinned to the "main" branch`) {
		t.Errorf("no unpinned warning: %q", warn.String())
	}
	// The lock matches: a second run installs from it, even though the hub now has 1.9.0.
	srv2 := hub(t, map[string]map[string][]byte{"org/util": {"1.5.0": utilTar("1.5.0"), "1.9.0": utilTar("1.9.0")}}, nil)
	in.HubURL = srv2.URL
	out.Reset()
	if err := in.Run(context.Background()); err != nil {
		t.Fatalf("second deps: %v", err)
	}
	if strings.Contains(out.String(), "Updating lock file") {
		t.Errorf("lock rewritten although packages.yml did not change:\n%s", out.String())
	}
	data, _ = os.ReadFile(filepath.Join(proj, "deps_here", "util", "dbt_project.yml"))
	if !strings.Contains(string(data), "1.5.0") {
		t.Errorf("install from lock should keep 1.5.0: %s", data)
	}
	// Upgrade re-resolves.
	in.Upgrade = true
	if err := in.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(filepath.Join(proj, "deps_here", "util", "dbt_project.yml"))
	if !strings.Contains(string(data), "1.9.0") {
		t.Errorf("upgrade should pick 1.9.0: %s", data)
	}
	if err := Missing(proj); err != nil {
		t.Errorf("all installed, yet: %v", err)
	}
	os.RemoveAll(filepath.Join(proj, "deps_here"))
	if err := Missing(proj); err == nil || !strings.Contains(err.Error(), `4 package(s) specified in packages.yml, but only 0 package(s) installed in deps_here. Run "dango deps"`) {
		t.Errorf("missing packages: %v", err)
	}
}

func TestInstallRefuses(t *testing.T) {
	good := []tarEntry{{name: "p/", typ: tar.TypeDir}, {name: "p/dbt_project.yml", body: "name: p\n"}}
	cases := []struct {
		name    string
		entries []tarEntry
		want    string
	}{
		{"traversal", append(good, tarEntry{name: "p/../../evil", body: "x"}), "outside the package folder"},
		{"absolute", append(good, tarEntry{name: "/tmp/evil", body: "x"}), "outside the package folder"},
		{"symlink out", append(good, tarEntry{name: "p/l", link: "../../etc", typ: tar.TypeSymlink}), "pointing outside"},
		{"absolute symlink", append(good, tarEntry{name: "p/l", link: "/etc", typ: tar.TypeSymlink}), "pointing outside"},
		{"device", append(good, tarEntry{name: "p/dev", typ: tar.TypeChar}), "of type"},
		{"two roots", append(good, tarEntry{name: "q/x", body: "x"}), "Incorrect structure"},
		{"too big", append(good, tarEntry{name: "p/big", body: strings.Repeat("x", 5000)}), "more than"},
	}
	for _, c := range cases {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(tarball(t, c.entries)) }))
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"dbt_project.yml": "name: root\n", "packages.yml": "packages:\n  - tarball: " + srv.URL + "/p.tgz\n    name: p\n"})
		in, _ := NewInstaller(dir)
		in.MaxExtract = 4096
		err := in.Run(context.Background())
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "evil")); err == nil {
			t.Errorf("%s: wrote outside", c.name)
		}
	}
	for _, c := range []struct{ yml, want string }{
		{"packages:\n  - git: --upload-pack=touch /tmp/x\n", "may not start with '-'"},
		{"packages:\n  - git: file:///nonexistent/repo\n    revision: --output=/tmp/x\n", "may not start with '-'"},
		{"packages:\n  - git: file:///nonexistent/repo\n    subdirectory: ../up\n", "inside the repository"},
		{"packages:\n  - local: ../root_again\n", "same name as the root project"},
	} {
		base := t.TempDir()
		writeFiles(t, base, map[string]string{"p/dbt_project.yml": "name: root\n", "p/packages.yml": c.yml, "root_again/dbt_project.yml": "name: root\n"})
		in, _ := NewInstaller(filepath.Join(base, "p"))
		if err := in.Run(context.Background()); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.yml, err, c.want)
		}
	}
}
