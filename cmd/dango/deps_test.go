package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitPackageRepo commits testdata/dbt_packages_src/<name> to a new repository, tags it v1 and
// returns its file:// URL and commit.
func gitPackageRepo(t *testing.T, name string) (string, string) {
	t.Helper()
	src, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "dbt_packages_src", name))
	repo := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("cp", "-r", src, repo).CombinedOutput(); err != nil {
		t.Fatalf("copy: %v %s", err, out)
	}
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	git("add", "-A")
	git("commit", "-q", "-m", "v1")
	git("tag", "v1")
	return "file://" + repo, git("rev-parse", "HEAD")
}

// hubStandIn serves the package hub API (index, package versions, tarballs) for one package
// whose versions each hold a dbt project with a hub_value() macro.
func hubStandIn(t *testing.T, pkg string, versions []string) *httptest.Server {
	t.Helper()
	org, name, _ := strings.Cut(pkg, "/")
	tarballs := map[string][]byte{}
	for _, v := range versions {
		var buf bytes.Buffer
		gz := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gz)
		top := org + "-" + name + "-" + v + "/"
		files := map[string]string{
			"dbt_project.yml": "name: " + name + "\nversion: '" + v + "'\nconfig-version: 2\n",
			"macros/hub.sql":  "{% macro hub_value() %}'" + v + "'{% endmacro %}\n",
		}
		tw.WriteHeader(&tar.Header{Name: top, Typeflag: tar.TypeDir, Mode: 0o755})
		for f, body := range files {
			tw.WriteHeader(&tar.Header{Name: top + f, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
			tw.Write([]byte(body))
		}
		tw.Close()
		gz.Close()
		tarballs[v] = buf.Bytes()
	}
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/v1/index.json":
			json.NewEncoder(w).Encode([]string{pkg})
		case r.URL.Path == "/api/v1/"+pkg+".json":
			vs := map[string]any{}
			for _, v := range versions {
				vs[v] = map[string]any{"id": pkg + "/" + v, "name": name, "version": v, "packages": []any{}, "works_with": []any{},
					"require_dbt_version": []string{">=1.3.0", "<3.0.0"},
					"downloads":           map[string]any{"tarball": srv.URL + "/tarballs/" + v + ".tar.gz", "format": "tgz", "sha1": ""}}
			}
			json.NewEncoder(w).Encode(map[string]any{"name": name, "namespace": org, "description": "", "latest": versions[len(versions)-1], "assets": map[string]any{}, "versions": vs})
		case strings.HasPrefix(r.URL.Path, "/tarballs/"):
			v := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/tarballs/"), ".tar.gz")
			if b, ok := tarballs[v]; ok {
				w.Write(b)
				return
			}
			http.NotFound(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestDepsMatchDBT installs a local and a git package with dango deps and with dbt deps, then
// compares what each engine makes of them: the lock file, the nodes, the compiled SQL, the
// tables and the statuses of a build.
func TestDepsMatchDBT(t *testing.T) {
	dbtBin := dbtPath(t)
	t.Setenv("DANGO_FIXTURE_ENV", "ci")
	url, sha := gitPackageRepo(t, "gitpkg")
	hub := hubStandIn(t, "acme/hubpkg", []string{"1.0.0", "1.1.0", "2.0.0"})
	t.Setenv("DBT_PACKAGE_HUB_URL", hub.URL+"/")
	// the git package asks for acme/hubpkg >=1.0.0; with the root's range that is 1.1.0
	packages := "packages:\n  - local: local/util_local\n  - git: \"" + url + "\"\n    revision: v1\n  - package: acme/hubpkg\n    version: [\">=1.0.0\", \"<2.0.0\"]\n"
	a, b := dbtProject(t, "packages"), dbtProject(t, "packages")
	for _, dir := range []string{a, b} {
		writeFile(t, dir, "dbt/packages.yml", packages)
	}
	dbtRun := func(args ...string) (string, int) {
		cmd := exec.Command(dbtBin, append(args, "--profiles-dir", ".dango", "--project-dir", "dbt")...)
		cmd.Dir = b
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}

	// Declared but not installed: both refuse and say what to run.
	for _, c := range []string{"ls", "compile", "run", "build"} {
		r := dango(t, a, c)
		if r.code == 0 || !strings.Contains(r.stderr, `3 package(s) specified in packages.yml, but only 0 package(s) installed in dbt_packages. Run "dango deps"`) {
			t.Errorf("dango %s without deps: %+v", c, r)
		}
	}
	if out, code := dbtRun("ls"); code == 0 || !strings.Contains(out, `Run "dbt deps"`) {
		t.Errorf("dbt ls without deps: %d %s", code, out)
	}

	r := dango(t, a, "deps")
	if r.code != 0 {
		t.Fatalf("dango deps: %+v", r)
	}
	for _, want := range []string{"Installing local/util_local\nInstalled from <local @ local/util_local>\n",
		"Installing " + url + "\nInstalled from revision " + sha + "\n", "Updating lock file in file path: ",
		"Installing acme/hubpkg\nInstalled from version 1.1.0\nUpdated version available: 2.0.0\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dango deps output lacks %q:\n%s", want, r.stdout)
		}
	}
	if out, code := dbtRun("deps"); code != 0 {
		t.Fatalf("dbt deps: %s", out)
	}
	lockA, _ := os.ReadFile(filepath.Join(a, "dbt", "package-lock.yml"))
	lockB, _ := os.ReadFile(filepath.Join(b, "dbt", "package-lock.yml"))
	if string(lockA) != string(lockB) || len(lockA) == 0 {
		t.Errorf("package-lock.yml differs:\n--- dango\n%s\n--- dbt\n%s", lockA, lockB)
	}
	// dbt reads dango's lock as its own: deps again installs from it without rewriting it.
	if out, code := dbtRun("deps"); code != 0 || strings.Contains(out, "Updating lock file") {
		t.Errorf("dbt deps on the shared lock: %d %s", code, out)
	}
	r = dango(t, a, "deps")
	if r.code != 0 || strings.Contains(r.stdout, "Updating lock file") {
		t.Errorf("second dango deps should install from the lock: %+v", r)
	}

	// Same nodes.
	for _, args := range [][]string{{"ls"}, {"ls", "--select", "package:util_local"}, {"ls", "--select", "tag:from_root"}, {"ls", "--select", "+final"}} {
		want := lines(dbtOut(t, b, args...))
		r := dango(t, a, args...)
		if r.code != 0 {
			t.Fatalf("dango %v: %+v", args, r)
		}
		if got := lines(r.stdout); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%v:\n dango %v\n dbt   %v", args, got, want)
		}
	}

	// Same compiled SQL.
	dbtOut(t, b, "compile", "--target-path", "target_dbt")
	if r := dango(t, a, "compile"); r.code != 0 {
		t.Fatalf("dango compile: %+v", r)
	}
	ref := filepath.Join(b, "dbt", "target_dbt", "compiled")
	n := 0
	filepath.Walk(ref, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(p, ".sql") {
			return err
		}
		rel, _ := filepath.Rel(ref, p)
		want, _ := os.ReadFile(p)
		got, err := os.ReadFile(filepath.Join(a, "dbt", "target", "compiled", rel))
		if err != nil {
			t.Errorf("%s: dango did not compile it", rel)
			return nil
		}
		n++
		if normalize(string(got)) != normalize(string(want)) {
			t.Errorf("%s differs:\n--- dango\n%s\n--- dbt\n%s", rel, got, want)
		}
		return nil
	})
	if n < 5 {
		t.Errorf("only %d compiled files compared", n)
	}

	// Same tables and statuses.
	r = dango(t, a, "build")
	out, code := dbtRun("build", "-q")
	if r.code != code {
		t.Errorf("build exit codes differ: dango %d %s %s, dbt %d %s", r.code, r.stdout, r.stderr, code, out)
	}
	compareSnapshots(t, "build", snapshot(t, a), snapshot(t, b))
	da, db := outcomes(t, a), outcomes(t, b)
	for id, st := range db {
		if da[id] != st {
			t.Errorf("%s: dango %q, dbt %q", id, da[id], st)
		}
	}
	if len(da) != len(db) {
		t.Errorf("dango ran %d nodes, dbt %d", len(da), len(db))
	}
}
