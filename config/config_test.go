package config

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// testSpecs is a registry stand-in with one type that has every kind of key.
type testSpecs map[string]*Spec

func (t testSpecs) Spec(typ string) (*Spec, bool) { s, ok := t[typ]; return s, ok }
func (t testSpecs) Types() []string {
	var out []string
	for k := range t {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var specs = testSpecs{
	"csv": {Type: "csv", Fields: []Field{
		{Name: "path", Kind: String, Required: true},
		{Name: "header", Kind: Bool},
		{Name: "skip_rows", Kind: Int},
		{Name: "encoding", Kind: String, Default: "utf-8", Enum: []string{"utf-8", "latin-1"}},
		{Name: "null_values", Kind: StringList},
	}},
	"api": {Type: "api", Fields: []Field{
		{Name: "token_env", Kind: String, Required: true},
		{Name: "paging", Kind: Object, Fields: []Field{{Name: "size", Kind: Int, Default: int64(100)}}},
	}},
}

func TestParseSourcesValid(t *testing.T) {
	t.Setenv("DANGO_TEST_TOKEN", "s3cret")
	src := `version: '1.0'
sources:
  - name: sales
    type: csv
    csv:
      path: data/sales.csv
      null_values: "NA, -"
  - name: api_one
    type: api
    enabled: false
    schema: raw_api
    api:
      token_env: DANGO_TEST_TOKEN
      paging: {}
`
	got, err := ParseSources("sources.yml", []byte(src), specs, NewSecretResolver(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d sources", len(got))
	}
	s := got[0]
	if s.Name != "sales" || s.Schema != "raw_sales" || !s.Enabled || s.Line != 3 {
		t.Errorf("sales = %+v", s)
	}
	if s.Settings.String("encoding") != "utf-8" {
		t.Errorf("default not filled: %v", s.Settings)
	}
	if nv := s.Settings.Strings("null_values"); len(nv) != 2 || nv[0] != "NA" || nv[1] != "-" {
		t.Errorf("null_values = %q", nv)
	}
	a := got[1]
	if a.Enabled || a.Schema != "raw_api" {
		t.Errorf("api_one = %+v", a)
	}
	sec, ok := a.Settings.Secret("token")
	if !ok || sec.Reveal() != "s3cret" {
		t.Errorf("secret not resolved: %v", a.Settings)
	}
	if a.Settings.Object("paging").Int("size") != 100 {
		t.Errorf("nested default not filled: %v", a.Settings.Object("paging"))
	}
	if strings.Contains(sec.String(), "s3cret") || strings.Contains(strings.ToLower(fmtAny(a.Settings)), "s3cret") {
		t.Error("secret leaks through formatting")
	}
}

func fmtAny(v Values) string {
	var b strings.Builder
	for k, x := range v {
		b.WriteString(k + "=")
		if s, ok := x.(Secret); ok {
			b.WriteString(s.String())
		} else if st, ok := x.(interface{ String() string }); ok {
			b.WriteString(st.String())
		}
	}
	return b.String()
}

func TestParseSourcesErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
		line       int
		want       string
	}{
		{"bad indentation", "version: 1\nsources:\n  - name: a\n    type: csv\n   csv:\n      path: x\n", 5, "invalid YAML"},
		{"tab indentation", "version: 1\nsources:\n\t- name: a\n", 3, "invalid YAML"},
		{"unknown top key", "version: 1\nsourcez: []\n", 2, `unknown top-level key "sourcez"`},
		{"unknown source key", "sources:\n  - name: a\n    type: csv\n    enabeld: true\n    csv: {path: x}\n", 4, `unknown key "enabeld"`},
		{"unknown block key", "sources:\n  - name: a\n    type: csv\n    csv:\n      path: x\n      pth: y\n", 6, `sources[0].csv: unknown key "pth" (did you mean "path"?; valid keys: encoding, header, null_values, path, skip_rows)`},
		{"wrong type bool", "sources:\n  - name: a\n    type: csv\n    enabled: yes please\n    csv: {path: x}\n", 4, "sources[0].enabled: expected boolean"},
		{"wrong type int", "sources:\n  - name: a\n    type: csv\n    csv:\n      path: x\n      skip_rows: two\n", 6, "expected integer"},
		{"enum", "sources:\n  - name: a\n    type: csv\n    csv:\n      path: x\n      encoding: ebcdic\n", 6, `"ebcdic" is not one of utf-8, latin-1`},
		{"missing required", "sources:\n  - name: a\n    type: csv\n    csv:\n      header: true\n", 5, `missing required key "path"`},
		{"missing block", "sources:\n  - name: a\n    type: csv\n", 2, "missing the `csv:` block"},
		{"duplicate name", "sources:\n  - name: a\n    type: csv\n    csv: {path: x}\n  - name: a\n    type: csv\n    csv: {path: y}\n", 5, `duplicate source name "a" (first defined on line 2)`},
		{"bad name", "sources:\n  - name: Sales-Data\n    type: csv\n    csv: {path: x}\n", 2, "not a valid source name"},
		{"unknown type", "sources:\n  - name: a\n    type: excel\n", 3, `unknown source type "excel" (known types: api, csv)`},
		{"missing env", "sources:\n  - name: a\n    type: api\n    api:\n      token_env: DANGO_SURELY_UNSET_VAR\n", 5, "environment variable DANGO_SURELY_UNSET_VAR is not set"},
		{"bad version", "version: 2\nsources: []\n", 1, "unsupported version"},
		{"duplicate key", "sources:\n  - name: a\n    name: b\n    type: csv\n    csv: {path: x}\n", 3, `key "name" appears twice`},
		{"sources not a list", "sources:\n  name: a\n", 2, "expected a list of sources"},
		{"missing env for a string key", "sources:\n  - name: a\n    type: csv\n    csv:\n      path_env: DANGO_SURELY_UNSET_PATH\n", 5, "sources[0].csv.path_env: environment variable DANGO_SURELY_UNSET_PATH is not set"},
		{"key and key_env", "sources:\n  - name: a\n    type: csv\n    csv:\n      path: x\n      path_env: P\n", 6, `set either "path" or "path_env"`},
		{"_env on a non-string key", "sources:\n  - name: a\n    type: csv\n    csv:\n      path: x\n      header_env: H\n", 6, `unknown key "header_env"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSources(".dango/sources.yml", []byte(c.yaml), specs, NewSecretResolver(t.TempDir()))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("want *config.Error, got %v", err)
			}
			if ce.Line != c.line {
				t.Errorf("line = %d, want %d (%v)", ce.Line, c.line, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, ".dango/sources.yml:") || !strings.Contains(msg, c.want) {
				t.Errorf("error = %q, want it to contain %q", msg, c.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
		})
	}
}

func TestStringKeyFromEnv(t *testing.T) {
	t.Setenv("DANGO_TEST_PATH", "data/from-env.csv")
	got, err := ParseSources("s.yml", []byte("sources:\n  - name: a\n    type: csv\n    csv:\n      path_env: DANGO_TEST_PATH\n"), specs, NewSecretResolver(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if p := got[0].Settings.String("path"); p != "data/from-env.csv" {
		t.Fatalf("path = %q", p)
	}
}

func TestSecretLookupOrder(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, ".dlt"), 0o755)
	os.WriteFile(filepath.Join(dir, ".env"), []byte("# comment\nFROM_DOTENV=dotenv-value\nBOTH=from-dotenv\nexport QUOTED=\"with spaces\"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, ".dlt", "secrets.toml"), []byte("BOTH = \"from-toml\"\nTOP = \"toml-top\"\n[sources.stripe]\napi_key = \"sk_test_1\"\n"), 0o600)
	t.Setenv("FROM_PROCESS", "process-value")
	r := NewSecretResolver(dir)
	for name, want := range map[string]string{
		"FROM_PROCESS":             "process-value",
		"FROM_DOTENV":              "dotenv-value",
		"BOTH":                     "from-dotenv", // .env wins over secrets.toml
		"QUOTED":                   "with spaces",
		"TOP":                      "toml-top",
		"SOURCES__STRIPE__API_KEY": "sk_test_1",
	} {
		got, err := r.Lookup(name)
		if err != nil || got.Reveal() != want {
			t.Errorf("Lookup(%s) = %q, %v; want %q", name, got.Reveal(), err, want)
		}
	}
	if _, err := r.Lookup("NOPE_NOT_THERE"); err == nil || !strings.Contains(err.Error(), "NOPE_NOT_THERE") {
		t.Errorf("missing variable error = %v", err)
	}
}

func TestBadSecretsTOMLNamesLine(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, ".dlt"), 0o755)
	os.WriteFile(filepath.Join(dir, ".dlt", "secrets.toml"), []byte("ok = 1\nbroken = \n"), 0o600)
	_, err := NewSecretResolver(dir).Lookup("ANYTHING_UNSET_123")
	var ce *Error
	if !errors.As(err, &ce) || ce.File != ".dlt/secrets.toml" || ce.Line != 2 {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadProjectDefaultsAndErrors(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, ".dango"), 0o755)
	p, err := Load(dir, specs)
	if err != nil {
		t.Fatal(err)
	}
	if p.Warehouse != filepath.Join(dir, "data", "warehouse.duckdb") || p.Name != filepath.Base(dir) {
		t.Errorf("defaults: %+v", p)
	}
	os.WriteFile(filepath.Join(dir, ProjectFile), []byte("name: x\nwarehouse: w.duckdb\nauto_generat: true\n"), 0o644)
	_, err = Load(dir, specs)
	if err == nil || !strings.HasPrefix(err.Error(), ".dango/project.yml:3:") {
		t.Fatalf("err = %v", err)
	}
	sub := filepath.Join(dir, "a", "b")
	os.MkdirAll(sub, 0o755)
	if root, err := FindRoot(sub); err != nil || root != dir {
		t.Errorf("FindRoot = %q, %v", root, err)
	}
	if _, err := FindRoot(t.TempDir()); !errors.Is(err, ErrNoProject) {
		t.Errorf("FindRoot outside a project: %v", err)
	}
}

func TestResourceSettings(t *testing.T) {
	src := `sources:
  - name: shop
    type: csv
    write_disposition: merge
    primary_key: id
    incremental:
      cursor_column: updated_at
      initial_value: "2024-01-01"
    resources:
      orders:
        primary_key: [order_id, line]
      events:
        write_disposition: append
        incremental: {cursor_column: seq}
    csv: {path: x}
`
	got, err := ParseSources("s.yml", []byte(src), specs, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := got[0]
	def := s.Resource("customers")
	if def.WriteDisposition != Merge || strings.Join(def.PrimaryKey, ",") != "id" || def.Incremental.CursorColumn != "updated_at" || def.Incremental.InitialValue != "2024-01-01" {
		t.Errorf("defaults = %+v", def)
	}
	o := s.Resource("orders")
	if o.WriteDisposition != Merge || strings.Join(o.PrimaryKey, ",") != "order_id,line" || o.Incremental.CursorColumn != "updated_at" || o.Line != 10 {
		t.Errorf("orders = %+v", o)
	}
	e := s.Resource("events")
	if e.WriteDisposition != Append || e.Incremental.CursorColumn != "seq" || e.Incremental.InitialValue != "" {
		t.Errorf("events = %+v", e)
	}
	_, err = ParseSources("s.yml", []byte("sources:\n  - name: a\n    type: csv\n    write_disposition: upsert\n    csv: {path: x}\n"), specs, nil)
	if err == nil || !strings.Contains(err.Error(), "s.yml:4:") || !strings.Contains(err.Error(), "append, replace, merge") {
		t.Errorf("bad disposition: %v", err)
	}
	_, err = ParseSources("s.yml", []byte("sources:\n  - name: a\n    type: csv\n    resources:\n      t:\n        incremental: {initial_value: 1}\n    csv: {path: x}\n"), specs, nil)
	if err == nil || !strings.Contains(err.Error(), `s.yml:6: sources[0].resources.t.incremental: missing required key "cursor_column"`) {
		t.Errorf("missing cursor: %v", err)
	}
}
