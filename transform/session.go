package transform

import (
	"database/sql"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/exec"
)

// Phases of rendering.
const (
	phaseParse   = iota // ref() records dependencies, config() records settings
	phaseCompile        // every relation is resolved
)

// Engine holds what every render of a project shares.
type Engine struct {
	P            *Project
	InvocationID string
	RunStarted   time.Time
	FullRefresh  bool
	// Exists reports whether a relation exists in the warehouse (is_incremental()); nil means
	// nothing exists yet.
	Exists func(Relation) bool
	// DB, when set, is the warehouse Compile asks for nodes whose SQL depends on it (dbt compile
	// executes introspective queries); nil compiles offline, as dbt's parser sees things.
	DB *sql.DB
	// G is the parsed graph (the `graph` variable while executing); Parse sets it.
	G *Graph
	// Command is the command being run (flags.WHICH); Log is where log(msg, info=True) prints
	// while executing (nil: nowhere).
	Command string
	Log     io.Writer

	graphOnce  sync.Once
	graph      map[string]any
	macroFiles []*MacroFile // project macros, then the internal library
	overridden map[string]bool
}

// NewEngine prepares the project's macros and dango's built-in library.
func NewEngine(p *Project) (*Engine, error) {
	e := &Engine{P: p, InvocationID: newUUID(), RunStarted: time.Now().UTC(), overridden: map[string]bool{}}
	env := e.bareEnv()
	for _, mf := range p.Macros {
		tpl, err := newTemplate(mf.Path, rewriteTestBlocks(mf.Source), env)
		if err != nil {
			return nil, &LoadError{File: mf.Path, Msg: jinjaMessage(err)}
		}
		mf.tpl = tpl
		mf.dynamic = dynamicRE.MatchString(mf.Source)
		e.macroFiles = append(e.macroFiles, mf)
		for name := range tpl.Macros() {
			if mf.Package == "" {
				e.overridden[name] = true
			}
		}
	}
	entries, _ := fs.ReadDir(internalMacros, "macros")
	for _, ent := range entries {
		src, _ := internalMacros.ReadFile("macros/" + ent.Name())
		tpl, err := newTemplate("dango/"+ent.Name(), string(src), env)
		if err != nil {
			return nil, fmt.Errorf("internal macro library %s: %w", ent.Name(), err)
		}
		e.macroFiles = append(e.macroFiles, &MacroFile{Path: "dango/" + ent.Name(), Source: string(src), tpl: tpl, internal: true,
			dynamic: dynamicRE.Match(src)})
	}
	return e, nil
}

func (e *Engine) bareEnv() *exec.Environment {
	return &exec.Environment{Context: exec.EmptyContext(), Filters: builtins.Filters, Tests: builtins.Tests,
		ControlStructures: builtins.ControlStructures, Methods: methods}
}

// state is the node being rendered.
type state struct {
	node    *Node
	phase   int
	refs    [][]string
	sources [][]string
	config  map[string]any
	err     error
	dynamic bool // a dynamic template or macro took part (see dynamicRE)
}

// session renders nodes one at a time; each worker goroutine has its own.
type session struct {
	e      *Engine
	env    *exec.Environment // the root project's
	envs   map[string]*exec.Environment
	st     *state
	rets   []*exec.Value  // return() values of the macro calls in progress
	rt     *execState     // set while executing (execute = true)
	tables []*agateTable  // tables run_query made during the current render
	extra  map[string]any // more variables for every render (on-run-end's results, schemas)
}

// ConfigFunc is dbt's config: callable (config(materialized='table')) and with methods
// (config.get('x', default), config.require('x')). gonja calls a func value and asks an
// AttributeGetter for attributes, so the func answers both: called with the attrKey keyword it
// returns the named method instead of recording configuration.
type ConfigFunc func(va *exec.VarArgs) (any, error)

const attrKey = "\x00attribute"

func (c ConfigFunc) GetAttribute(name string) (*exec.Value, bool) {
	v, err := c(&exec.VarArgs{KwArgs: map[string]*exec.Value{attrKey: exec.AsValue(name)}})
	if err != nil || v == nil {
		return exec.AsValue(nil), false
	}
	return exec.AsValue(v), true
}

// config records config(...) calls in the parse phase and serves config.get/require/set.
func (s *session) config(va *exec.VarArgs) (any, error) {
	if a, ok := va.KwArgs[attrKey]; ok {
		obj := &configObj{s: s}
		v, found := obj.GetAttribute(a.String())
		if !found {
			return nil, nil
		}
		return v.Interface(), nil
	}
	if len(va.Args) == 1 && s.st.phase == phaseParse { // config({'materialized': 'table'})
		va.Args[0].Iterate(func(_, _ int, k, v *exec.Value) bool {
			mergeConfig(s.st.config, k.String(), plain(v.Interface()))
			return true
		}, func() {})
	}
	if s.st.phase == phaseParse {
		for k, v := range va.KwArgs {
			mergeConfig(s.st.config, k, plain(v.Interface()))
		}
	}
	return "", nil
}

func (e *Engine) newSession() *session {
	s := &session{e: e, envs: map[string]*exec.Environment{}}
	s.env = s.envFor(e.P.Name)
	return s
}

// envFor is the environment a node of package pkg renders in: macros resolve from that
// package first, as in dbt (see macroSpaceFor).
func (s *session) envFor(pkg string) *exec.Environment {
	if pkg == "" {
		pkg = s.e.P.Name
	}
	if env, ok := s.envs[pkg]; ok {
		return env
	}
	e := s.e
	ctx := exec.EmptyContext().Update(builtins.GlobalFunctions).Update(builtins.GlobalVariables)
	env := &exec.Environment{Context: ctx, Filters: builtins.Filters, Tests: builtins.Tests, ControlStructures: builtins.ControlStructures, Methods: methods}
	s.envs[pkg] = env
	p := e.P
	t := p.Target
	ctx.Update(exec.NewContext(map[string]any{
		"ref":            s.ref,
		"source":         s.source,
		"config":         ConfigFunc(s.config),
		"var":            s.variable,
		"env_var":        envVar,
		"is_incremental": s.isIncremental,
		"this":           &thisProxy{s: s},
		"model":          &modelProxy{s: s},
		"return":         s.ret,
		"log":            s.log,
		"print":          s.print,
		"run_started_at": pyDatetime{e.RunStarted},
		"invocation_id":  e.InvocationID,
		"dbt_version":    "1.9.0",
		"execute":        s.executing(),
		"flags":          s.flags(),
		"project_name":   p.Name,
		"target": map[string]any{"name": t.Name, "schema": t.Schema, "type": t.Type, "database": t.Database,
			"threads": t.Threads, "profile_name": t.ProfileName, "path": t.Path},
		"modules":       map[string]any{"datetime": datetimeModule()},
		"tojson":        toJSON,
		"fromjson":      fromJSON,
		"toyaml":        toYAML,
		"fromyaml":      fromYAML,
		"exceptions":    map[string]any{"raise_compiler_error": s.raiseError, "warn": func(msg any) string { return "" }},
		"api":           map[string]any{"Column": map[string]any{"translate_type": translateType, "create": createColumn}, "Relation": map[string]any{"create": createRelation}},
		"graph":         s.graphVar(),
		"run_query":     s.runQuery,
		"statement":     s.statement,
		"load_result":   s.loadResult,
		"load_relation": s.loadRelation,
	}))
	ms := s.macroSpaceFor(pkg, env)
	ctx.Update(exec.NewContext(ms.flat)) // dbt.date_trunc(...), dbt_utils.star(...) and friends
	ctx.Set("adapter", map[string]any{
		"dispatch":                       s.dispatch(ms),
		"quote":                          func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` },
		"type":                           func() string { return "duckdb" },
		"get_relation":                   s.getRelation,
		"get_columns_in_relation":        s.columnsIn,
		"get_missing_columns":            s.missingColumns,
		"list_relations_without_caching": s.listRelations,
		"check_schema_exists":            s.schemaExists,
		"Relation":                       map[string]any{"create": createRelation},
		"Column":                         map[string]any{"create": createColumn, "translate_type": translateType},
	})
	return env
}

func (s *session) graphVar() map[string]any {
	if !s.executing() {
		return map[string]any{"nodes": map[string]any{}, "sources": map[string]any{}, "exposures": map[string]any{}}
	}
	return s.e.graphContext()
}

func (s *session) flags() map[string]any {
	which := s.e.Command
	if which == "" {
		which = "compile"
	}
	return map[string]any{"FULL_REFRESH": s.e.FullRefresh, "WHICH": which, "STORE_FAILURES": false, "WARN_ERROR": false,
		"FAIL_FAST": false, "USE_COLORS": false, "PRINTER_WIDTH": 80, "LOG_FORMAT": "default", "DEBUG": false}
}

// log is dbt's log(msg, info=False): printed with info=True while executing.
func (s *session) log(va *exec.VarArgs) string {
	if !s.executing() || s.rt.out == nil || len(va.Args) == 0 {
		return ""
	}
	info := false
	if v, ok := va.KwArgs["info"]; ok {
		info = v.IsTrue()
	} else if len(va.Args) > 1 {
		info = va.Args[1].IsTrue()
	}
	if info {
		fmt.Fprintf(s.rt.out, "%s  %s\n", time.Now().Format("15:04:05"), va.Args[0].String())
	}
	return ""
}

func (s *session) print(va *exec.VarArgs) string {
	if !s.executing() || s.rt.out == nil {
		return ""
	}
	parts := make([]string, len(va.Args))
	for i, a := range va.Args {
		parts[i] = a.String()
	}
	fmt.Fprintln(s.rt.out, strings.Join(parts, " "))
	return ""
}

func createColumn(name, dtype string) *Column { return &Column{Name: name, Dtype: dtype} }

// wrapMacro makes return() work: the macro's value is what it returned, else its output.
func (s *session) wrapMacro(name string, f exec.Macro, dynamic bool) func(*exec.VarArgs) *exec.Value {
	return func(va *exec.VarArgs) *exec.Value {
		if dynamic && s.st != nil {
			s.st.dynamic = true
		}
		s.rets = append(s.rets, nil)
		out := f(va)
		r := s.rets[len(s.rets)-1]
		s.rets = s.rets[:len(s.rets)-1]
		if out.IsError() {
			return out
		}
		if r != nil {
			return r
		}
		return out
	}
}

func (s *session) ret(v *exec.Value) string {
	if len(s.rets) > 0 && s.rets[len(s.rets)-1] == nil {
		s.rets[len(s.rets)-1] = v
	}
	return ""
}

func (s *session) fail(err error) error {
	if s.st.err == nil {
		s.st.err = err
	}
	return err
}

func (s *session) raiseError(msg any) (string, error) {
	return "", s.fail(fmt.Errorf("Compilation Error in %s %s: %v", s.st.node.ResourceType, s.st.node.Name, plain(msg)))
}

// ref resolves ref('model') and ref('package', 'model').
func (s *session) ref(args ...string) (Relation, error) {
	if len(args) < 1 || len(args) > 2 {
		return Relation{}, s.fail(fmt.Errorf("ref() takes a model name and optionally a package name"))
	}
	name := args[len(args)-1]
	target, ok := s.e.P.resolveRef(s.st.node, args)
	if s.st.phase == phaseParse {
		// Other nodes are being parsed at the same time, their configs (enabled, alias,
		// schema) not final: record the ref, check it once parsing is done (checkRefs), and
		// answer with the name only — what parsing renders is not kept.
		if !ok {
			return Relation{}, s.fail(notFound(s.st.node, name))
		}
		s.st.refs = append(s.st.refs, args)
		return Relation{Identifier: name}, nil
	}
	if !ok || !target.Enabled() {
		return Relation{}, s.fail(notFound(s.st.node, name))
	}
	return target.Relation(), nil
}

func notFound(n *Node, name string) error {
	return fmt.Errorf("%s %s (%s) depends on a node named '%s' which was not found", strings.Title(n.ResourceType), n.Name, n.OriginalFilePath, name)
}

func (s *session) source(src, table string) (Relation, error) {
	n, ok := s.e.P.sources[src+"."+table]
	if !ok {
		return Relation{}, s.fail(fmt.Errorf("%s %s (%s) depends on a source named '%s.%s' which was not found", strings.Title(s.st.node.ResourceType), s.st.node.Name, s.st.node.OriginalFilePath, src, table))
	}
	if s.st.phase == phaseParse {
		s.st.sources = append(s.st.sources, []string{src, table})
	}
	return n.Relation(), nil
}

func (s *session) variable(name string, def ...any) (any, error) {
	vars := s.e.P.varsFor(s.st.node)
	if v, ok := vars[name]; ok {
		return v, nil
	}
	if len(def) > 0 {
		return def[0], nil
	}
	return nil, s.fail(fmt.Errorf("Required var '%s' not found in config:\nVars supplied to %s = %s", name, s.st.node.Name, varsJSON(vars)))
}

func varsJSON(v map[string]any) string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return "{" + strings.Join(keys, ", ") + "}"
}

// isIncremental follows dbt: an incremental model whose table exists, not being fully refreshed.
func (s *session) isIncremental() bool {
	n := s.st.node
	if s.st.phase != phaseCompile || n.Materialized() != "incremental" || s.e.Exists == nil {
		return false
	}
	if s.e.FullRefresh {
		if fr, ok := n.Config["full_refresh"].(bool); !ok || fr {
			return false
		}
	}
	return s.e.Exists(n.Relation())
}

// configObj is dbt's config in a template.
type configObj struct{ s *session }

// GetAttribute serves config.get, config.require and config.set.
func (c *configObj) GetAttribute(name string) (*exec.Value, bool) {
	switch name {
	case "get":
		return exec.AsValue(func(key string, def ...any) any {
			if v, ok := c.s.currentConfig()[key]; ok {
				return v
			}
			if len(def) > 0 {
				return def[0]
			}
			return nil
		}), true
	case "require":
		return exec.AsValue(func(key string) (any, error) {
			if v, ok := c.s.currentConfig()[key]; ok {
				return v, nil
			}
			return nil, c.s.fail(fmt.Errorf("required config %q not set for %s", key, c.s.st.node.Name))
		}), true
	case "set":
		return exec.AsValue(func(key string, v any) string { c.s.st.config[key] = v; return "" }), true
	}
	return exec.AsValue(nil), false
}

func (s *session) currentConfig() map[string]any {
	if s.st.phase == phaseParse {
		return s.st.config
	}
	return s.st.node.Config
}

// thisProxy renders the relation of the node being rendered.
type thisProxy struct{ s *session }

func (t *thisProxy) String() string { return t.s.st.node.Relation().String() }
func (t *thisProxy) GetAttribute(name string) (*exec.Value, bool) {
	return t.s.st.node.Relation().GetAttribute(name)
}

// modelProxy is the node being rendered, as `model` (model.name, model.config …).
type modelProxy struct{ s *session }

func (m *modelProxy) String() string { return m.s.st.node.Name }
func (m *modelProxy) GetAttribute(name string) (*exec.Value, bool) {
	v, ok := nodeMap(m.s.st.node)[name]
	return exec.AsValue(v), ok
}

func nodeMap(n *Node) map[string]any {
	return map[string]any{"name": n.Name, "unique_id": n.UniqueID, "resource_type": n.ResourceType, "package_name": n.PackageName,
		"path": n.Path, "original_file_path": n.OriginalFilePath, "fqn": toAny(n.FQN), "config": n.Config, "tags": toAny(n.Tags),
		"schema": n.Schema, "database": n.Database, "alias": n.Alias, "description": n.Description, "raw_code": n.RawCode}
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

// translateType is api.Column.translate_type as dbt-duckdb answers it.
func translateType(t string) string {
	switch strings.ToLower(t) {
	case "string":
		return "TEXT"
	}
	return t
}

var lineRE = regexp.MustCompile(`(?i)line:? (\d+)`)

// jinjaMessage shortens gonja's wrapped errors to their cause.
func jinjaMessage(err error) string {
	msg := err.Error()
	msg = strings.ReplaceAll(msg, "unable to execute template: ", "")
	msg = strings.ReplaceAll(msg, "failed to parse template", "syntax error")
	return msg
}

func newUUID() string {
	b := make([]byte, 16)
	f, err := os.Open("/dev/urandom")
	if err == nil {
		f.Read(b)
		f.Close()
	}
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
