package transform

import (
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"go.yaml.in/yaml/v3"

	dconfig "github.com/dangohq/dango/config"
)

//go:embed macros/*.sql
var internalMacros embed.FS

// MacroFile is a file of {% macro %} definitions.
type MacroFile struct {
	Path     string
	Source   string
	Package  string // the installed package that holds it; "" for the root project
	tpl      *exec.Template
	internal bool // dango's built-in library (dbt's namespace)
	dynamic  bool // its macros may answer differently while executing (see dynamicRE)
}

// dynamicRE finds what makes a template's output depend on execution: the execute flag, the
// warehouse (run_query, statements, adapter introspection) and the parsed graph. A node whose
// template and called macros contain none of it renders the same at compile and at run time,
// so only the others are rendered again right before they execute.
var dynamicRE = regexp.MustCompile(`\b(execute|run_query|statement|load_result|load_relation|graph)\b|\badapter\s*\.\s*(get_|list_|check_|load_|execute|drop|create|rename|truncate|expand|already_exists)`)

var jinjaConfig = config.New()

// Relation is a database relation, rendered as dbt-duckdb renders it.
type Relation struct {
	Database, Schema, Identifier string
	Type                         string // table, view, cte or "" (unknown), as dbt's RelationType
	bare                         bool   // a CTE name, rendered unquoted
}

// IsMapping makes `relation is mapping` true, as for dbt's Relation (a Mapping in Python).
func (r Relation) IsMapping() bool { return !r.bare }

func (r Relation) String() string {
	if r.bare {
		return r.Identifier
	}
	var parts []string
	for _, p := range []string{r.Database, r.Schema, r.Identifier} {
		if p != "" {
			parts = append(parts, `"`+strings.ReplaceAll(p, `"`, `""`)+`"`)
		}
	}
	return strings.Join(parts, ".")
}

// GetAttribute exposes the relation's parts to Jinja (this.schema, this.identifier …).
func (r Relation) GetAttribute(name string) (*exec.Value, bool) {
	switch name {
	case "database":
		return exec.AsValue(r.Database), true
	case "schema":
		return exec.AsValue(r.Schema), true
	case "identifier", "name", "table":
		return exec.AsValue(r.Identifier), true
	case "render":
		return exec.AsValue(func() string { return r.String() }), true
	case "get": // a Relation is a Mapping in dbt: relation.get('metadata', {}) and friends
		return exec.AsValue(func(key string, def ...any) any {
			switch key {
			case "metadata":
				return map[string]any{"type": "DuckDBRelation"}
			case "database":
				return r.Database
			case "schema":
				return r.Schema
			case "identifier":
				return r.Identifier
			case "type":
				if r.Type == "" {
					return nil
				}
				return r.Type
			}
			if len(def) > 0 {
				return def[0]
			}
			return nil
		}), true
	case "type":
		if r.Type == "" {
			return exec.AsValue(nil), true
		}
		return exec.AsValue(r.Type), true
	case "is_table":
		return exec.AsValue(r.Type == "table"), true
	case "is_view":
		return exec.AsValue(r.Type == "view"), true
	case "is_cte":
		return exec.AsValue(r.Type == "cte" || r.bare), true
	case "incorporate":
		return exec.AsValue(r.incorporate), true
	case "without_identifier":
		return exec.AsValue(func() Relation { out := r; out.Identifier = ""; return out }), true
	case "quote":
		return exec.AsValue(func(va *exec.VarArgs) Relation { return r }), true
	case "include":
		return exec.AsValue(func(va *exec.VarArgs) Relation {
			out := r
			if b, ok := va.KwArgs["database"]; ok && !b.IsTrue() {
				out.Database = ""
			}
			if b, ok := va.KwArgs["schema"]; ok && !b.IsTrue() {
				out.Schema = ""
			}
			if b, ok := va.KwArgs["identifier"]; ok && !b.IsTrue() {
				out.Identifier = ""
			}
			return out
		}), true
	}
	return exec.AsValue(nil), false
}

// newTemplate parses a template from source, naming it for error messages.
func newTemplate(name, source string, env *exec.Environment) (tpl *exec.Template, err error) {
	defer recoverJinja(name, &err)
	key := "/" + strings.TrimPrefix(name, "/")
	loader, err := loaders.NewMemoryLoader(map[string]string{key: source})
	if err != nil {
		return nil, err
	}
	return exec.NewTemplate(key, jinjaConfig, loader, env)
}

// executeTemplate renders a parsed template; a panic in gonja or in a Go function a
// template calls becomes an error naming the file (gonja recovers too: this is the backstop).
func executeTemplate(tpl *exec.Template, name string, vars map[string]any) (out string, err error) {
	defer recoverJinja(name, &err)
	if vars != nil {
		return tpl.ExecuteToString(exec.NewContext(vars))
	}
	return tpl.ExecuteToString(exec.EmptyContext())
}

func recoverJinja(name string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("internal error rendering %s: %v (please report this)", name, r)
	}
}

// renderConfigJinja renders the env_var() calls dbt allows in dbt_project.yml and profiles.yml.
func renderConfigJinja(src string) string {
	ctx := exec.EmptyContext().Update(builtins.GlobalFunctions)
	ctx.Set("env_var", envVar)
	env := &exec.Environment{Context: ctx, Filters: builtins.Filters, Tests: builtins.Tests, ControlStructures: builtins.ControlStructures, Methods: builtins.Methods}
	tpl, err := newTemplate("config.yml", src, env)
	if err != nil {
		return src
	}
	out, err := tpl.ExecuteToString(exec.EmptyContext())
	if err != nil {
		return src
	}
	return out
}

func envVar(name string, def ...any) (any, error) {
	if v, ok := os.LookupEnv(name); ok {
		if strings.HasPrefix(name, "DBT_ENV_SECRET_") {
			dconfig.RegisterSecret(v) // dbt's convention: scrubbed from every message
		}
		return v, nil
	}
	if len(def) > 0 {
		return def[0], nil
	}
	return nil, fmt.Errorf("Env var required but not provided: '%s'", name)
}

// pyDatetime renders like Python's datetime (run_started_at) and offers its common methods.
type pyDatetime struct{ t time.Time }

func (d pyDatetime) String() string {
	s := d.t.Format("2006-01-02 15:04:05.000000")
	_, off := d.t.Zone()
	return s + fmt.Sprintf("%+03d:%02d", off/3600, abs(off%3600)/60)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

var strftimeRE = regexp.MustCompile(`%[a-zA-Z%]`)

func (d pyDatetime) GetAttribute(name string) (*exec.Value, bool) {
	switch name {
	case "strftime":
		return exec.AsValue(func(f string) string { return strftime(d.t, f) }), true
	case "isoformat":
		return exec.AsValue(func() string { return d.t.Format("2006-01-02T15:04:05.000000-07:00") }), true
	case "timestamp":
		return exec.AsValue(func() float64 { return float64(d.t.UnixMicro()) / 1e6 }), true
	case "date":
		return exec.AsValue(func() pyDate { return pyDate{d.t} }), true
	case "year":
		return exec.AsValue(d.t.Year()), true
	case "month":
		return exec.AsValue(int(d.t.Month())), true
	case "day":
		return exec.AsValue(d.t.Day()), true
	case "hour":
		return exec.AsValue(d.t.Hour()), true
	}
	return exec.AsValue(nil), false
}

type pyDate struct{ t time.Time }

func (d pyDate) String() string { return d.t.Format("2006-01-02") }
func (d pyDate) GetAttribute(name string) (*exec.Value, bool) {
	switch name {
	case "isoformat":
		return exec.AsValue(func() string { return d.String() }), true
	case "strftime", "year", "month", "day":
		return pyDatetime{d.t}.GetAttribute(name)
	}
	return exec.AsValue(nil), false
}

func strftime(t time.Time, f string) string {
	return strftimeRE.ReplaceAllStringFunc(f, func(m string) string {
		switch m[1] {
		case 'Y':
			return fmt.Sprintf("%04d", t.Year())
		case 'y':
			return fmt.Sprintf("%02d", t.Year()%100)
		case 'm':
			return fmt.Sprintf("%02d", int(t.Month()))
		case 'd':
			return fmt.Sprintf("%02d", t.Day())
		case 'H':
			return fmt.Sprintf("%02d", t.Hour())
		case 'M':
			return fmt.Sprintf("%02d", t.Minute())
		case 'S':
			return fmt.Sprintf("%02d", t.Second())
		case 'f':
			return fmt.Sprintf("%06d", t.Nanosecond()/1000)
		case 'j':
			return fmt.Sprintf("%03d", t.YearDay())
		case 'B':
			return t.Month().String()
		case 'b':
			return t.Month().String()[:3]
		case 'A':
			return t.Weekday().String()
		case 'a':
			return t.Weekday().String()[:3]
		case 'z':
			return t.Format("-0700")
		case 'Z':
			return t.Format("MST")
		case '%':
			return "%"
		}
		return m
	})
}

// datetimeModule is modules.datetime: datetime.now(), datetime.utcnow(), date.today(),
// datetime.strptime(s, fmt).
func datetimeModule() map[string]any {
	return map[string]any{
		"datetime": map[string]any{
			"now":    func() pyDatetime { return pyDatetime{time.Now()} },
			"utcnow": func() pyDatetime { return pyDatetime{time.Now().UTC()} },
			"strptime": func(s, f string) (pyDatetime, error) {
				layout := strings.NewReplacer("%Y", "2006", "%m", "01", "%d", "02", "%H", "15", "%M", "04", "%S", "05", "%f", "000000").Replace(f)
				t, err := time.Parse(layout, s)
				return pyDatetime{t}, err
			},
		},
		"date": map[string]any{"today": func() pyDate { return pyDate{time.Now()} }},
	}
}

func toJSON(v any, kw ...any) (string, error) {
	b, err := json.Marshal(plain(v))
	return string(b), err
}

func fromJSON(s string, def ...any) any { return decodeOr(json.Unmarshal, s, def) }

func toYAML(v any) (string, error) {
	b, err := yaml.Marshal(plain(v))
	return string(b), err
}

func fromYAML(s string, def ...any) any { return decodeOr(yaml.Unmarshal, s, def) }

// decodeOr decodes s, or returns the template's default (else None) when it cannot, as dbt's
// fromjson/fromyaml do.
func decodeOr(unmarshal func([]byte, any) error, s string, def []any) any {
	var v any
	if err := unmarshal([]byte(s), &v); err != nil {
		if len(def) > 0 {
			return def[0]
		}
		return nil
	}
	return v
}

// plain turns gonja values into plain Go values for serialization.
func plain(v any) any {
	switch x := v.(type) {
	case *exec.Value:
		return plain(x.Interface())
	case *exec.Dict:
		m := map[string]any{}
		for _, p := range x.Pairs {
			m[p.Key.String()] = plain(p.Value.Interface())
		}
		return m
	case map[string]any:
		m := map[string]any{}
		for k, vv := range x {
			m[k] = plain(vv)
		}
		return m
	case exec.ValuesList:
		out := make([]any, len(x))
		for i, vv := range x {
			out[i] = plain(vv)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, vv := range x {
			out[i] = plain(vv)
		}
		return out
	}
	return v
}

// dictUpdate replaces gonja's dict.update, which updated a copy: dbt macros rely on
// {% do d.update({...}) %} changing d.
func dictUpdate(_ map[string]any, self *exec.Value, args *exec.VarArgs) (any, error) {
	set := func(k string, v *exec.Value) {
		switch d := self.Interface().(type) {
		case *exec.Dict:
			for _, p := range d.Pairs {
				if p.Key.String() == k {
					p.Value = v
					return
				}
			}
			d.Pairs = append(d.Pairs, &exec.Pair{Key: exec.AsValue(k), Value: v})
		default:
			rv := reflect.ValueOf(self.Interface())
			if rv.Kind() == reflect.Map && rv.Type().Key().Kind() == reflect.String {
				rv.SetMapIndex(reflect.ValueOf(k), reflect.ValueOf(v.Interface()))
			}
		}
	}
	for _, a := range args.Args {
		a.Iterate(func(_, _ int, k, v *exec.Value) bool {
			set(k.String(), v)
			return true
		}, func() {})
	}
	for k, v := range args.KwArgs {
		set(k, v)
	}
	return nil, nil
}

var methods = func() exec.Methods {
	m := builtins.Methods
	dict := map[string]exec.Method[map[string]any]{}
	for _, name := range []string{"keys", "values", "items", "get", "copy", "pop", "setdefault", "clear"} {
		if f, ok := m.Dict.Get(name); ok {
			dict[name] = f
		}
	}
	dict["update"] = dictUpdate
	m.Dict = exec.NewMethodSet(dict)
	pyMethods(&m)
	return m
}()

var discard io.Writer = io.Discard
