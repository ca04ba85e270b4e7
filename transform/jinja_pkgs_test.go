package transform

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJinjaPackagesParse parses every .sql file under $DANGO_JINJA_PKGS (a directory of
// checked-out dbt packages, e.g. dbt-utils, dbt-date, dbt-expectations) the way dango parses
// a project's macro files, and fails for each file gonja cannot parse. Real packages are not
// vendored; point the variable at local checkouts to run it.
func TestJinjaPackagesParse(t *testing.T) {
	root := os.Getenv("DANGO_JINJA_PKGS")
	if root == "" {
		t.Skip("DANGO_JINJA_PKGS is not set: point it at a directory of dbt package checkouts")
	}
	e := &Engine{}
	env := e.bareEnv()
	var files, failed int
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".sql") {
			return err
		}
		if !strings.Contains(path, "/macros/") && os.Getenv("DANGO_JINJA_PKGS_ALL") == "" {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		rel, _ := filepath.Rel(root, path)
		if _, err := newTemplate(rel, rewriteTestBlocks(string(src)), env); err != nil {
			failed++
			t.Errorf("%s: %s", rel, lastLine(jinjaMessage(err)))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d of %d files failed to parse", failed, files)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
