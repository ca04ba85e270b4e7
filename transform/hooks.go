package transform

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// Hooks are SQL templates dbt runs around a node (pre-hook, post-hook) and around a whole run
// (on-run-start, on-run-end). They are rendered while executing, right before they run, in the
// context of their node (this, model, config) or of the run (results, schemas on-run-end).

// hook is one hook as dbt normalises it: its SQL template and whether it runs inside the
// node's transaction.
type hook struct {
	SQL         string
	Transaction bool
}

// isHookKey reports whether a config key names node hooks; canonical is dbt's spelling.
func isHookKey(k string) (canonical string, ok bool) {
	switch strings.TrimPrefix(k, "+") {
	case "pre-hook", "pre_hook":
		return "pre-hook", true
	case "post-hook", "post_hook":
		return "post-hook", true
	}
	return "", false
}

// hookList reads the forms dbt accepts: a string, a {sql, transaction} mapping, or a list of
// either. Hooks accumulate down the config hierarchy instead of replacing each other.
func hookList(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		var out []any
		for _, e := range x {
			out = append(out, hookList(e)...)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	}
	return []any{v}
}

// hooksOf lists a node's hooks of a kind ("pre-hook" or "post-hook") from its config.
func hooksOf(cfg map[string]any, kind string) ([]hook, error) {
	var out []hook
	for _, v := range hookList(cfg[kind]) {
		switch x := v.(type) {
		case string:
			if strings.TrimSpace(x) != "" {
				out = append(out, hook{SQL: x, Transaction: true})
			}
		case map[string]any:
			h := hook{Transaction: true}
			for k, val := range x {
				switch k {
				case "sql":
					h.SQL = fmt.Sprint(val)
				case "transaction":
					b, ok := val.(bool)
					if !ok {
						return nil, fmt.Errorf("%s: transaction must be true or false, got %v", kind, val)
					}
					h.Transaction = b
				case "index":
				default:
					return nil, fmt.Errorf("%s: unknown key %q (a hook has sql and transaction)", kind, k)
				}
			}
			out = append(out, h)
		default:
			return nil, fmt.Errorf("%s: a hook is SQL text or {sql: ..., transaction: ...}, got %v", kind, v)
		}
	}
	return out, nil
}

// renderHook renders a hook's SQL in the context of node n while executing.
func (s *session) renderHook(n *Node, kind string, i int, src string) (string, error) {
	file := fmt.Sprintf("%s (%s %d)", n.OriginalFilePath, kind, i)
	out, _, err := s.renderCode(n, file, src, phaseCompile, n.Config)
	return strings.TrimSpace(out), err
}

// nodeHooks renders a node's hooks of a kind, split by where they run.
func (s *session) nodeHooks(n *Node, kind string) (inTx, outside []string, err error) {
	hs, err := hooksOf(n.Config, kind)
	if err != nil {
		return nil, nil, &LoadError{File: n.OriginalFilePath, Msg: err.Error()}
	}
	for i, h := range hs {
		q, err := s.renderHook(n, kind, i, h.SQL)
		if err != nil {
			return nil, nil, err
		}
		if q == "" {
			continue
		}
		if h.Transaction {
			inTx = append(inTx, q)
		} else {
			outside = append(outside, q)
		}
	}
	return inTx, outside, nil
}

// RunHook is one on-run-start or on-run-end hook of a project or package.
type RunHook struct {
	Node *Node // an operation node: operation.<package>.<package>-on-run-start-<i>
	SQL  string
}

// runHooks lists the hooks of a kind ("on-run-start" or "on-run-end"): the root project's,
// then each package's in name order.
func (p *Project) runHooks(kind string) []RunHook {
	var out []RunHook
	add := func(q *Project) {
		list := q.onRunStart
		if kind == "on-run-end" {
			list = q.onRunEnd
		}
		for i, sql := range list {
			name := fmt.Sprintf("%s-%s-%d", q.Name, kind, i)
			n := &Node{UniqueID: "operation." + q.Name + "." + name, ResourceType: "operation", Name: name, PackageName: q.Name,
				Path: "hooks/" + name + ".sql", OriginalFilePath: "./dbt_project.yml", FQN: []string{q.Name, "hooks", name},
				RawCode: sql, Config: map[string]any{"materialized": "view"}}
			out = append(out, RunHook{Node: n, SQL: sql})
		}
	}
	add(p)
	pkgs := append([]*Package{}, p.Packages()...)
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].Name < pkgs[j].Name })
	for _, pkg := range pkgs {
		add(pkg.proj)
	}
	return out
}

// hookStrings reads on-run-start / on-run-end: SQL text or a list of it.
func hookStrings(file, key string, v any) ([]string, error) {
	var out []string
	for _, e := range hookList(v) {
		switch x := e.(type) {
		case string:
			if strings.TrimSpace(x) != "" {
				out = append(out, x)
			}
		default:
			return nil, &LoadError{File: file, Msg: fmt.Sprintf("%s: each hook is SQL text, got %v", key, e)}
		}
	}
	return out, nil
}

// runRunHooks executes the run's hooks of a kind on one connection, outside any transaction,
// in order; after one fails the rest are skipped (as dbt does; the run's nodes still run).
// extra is added to their context (results, schemas for on-run-end).
func (r *Runner) runRunHooks(ctx context.Context, kind string, extra map[string]any) []Result {
	hooks := r.E.P.runHooks(kind)
	if len(hooks) == 0 {
		return nil
	}
	hr, _ := r.Report.(HookReporter)
	if hr != nil {
		hr.Hooks(kind, len(hooks))
	}
	var conn *sql.Conn
	var s *session
	failed := false
	var out []Result
	for i, h := range hooks {
		name := fmt.Sprintf("%s.%s.%d", h.Node.PackageName, kind, i)
		res := Result{Node: h.Node, Started: time.Now(), Index: i + 1, Hook: name}
		if failed || ctx.Err() != nil {
			res.Completed = res.Started
			res.Status, res.Message = StatusSkipped, name+" skipped"
			if hr != nil {
				hr.HookDone(res, len(hooks))
			}
			out = append(out, res)
			continue
		}
		var err error
		if conn == nil {
			if conn, err = r.DB.Conn(ctx); err == nil {
				defer conn.Close()
				s = r.E.newRuntimeSession(ctx, conn)
				s.extra = extra
			}
		}
		var q string
		if err == nil {
			q, _, err = s.renderCode(h.Node, "dbt_project.yml ("+kind+")", h.SQL, phaseCompile, h.Node.Config)
			q = strings.TrimSpace(q)
		}
		if err == nil {
			err = r.E.writeHook(h.Node, q)
		}
		if hr != nil {
			hr.HookStart(h.Node, i+1, len(hooks))
		}
		if err == nil && q != "" {
			res.Executed = q
			_, err = conn.ExecContext(ctx, q)
		}
		res.Completed = time.Now()
		if err != nil {
			failed = true
			res.Status, res.Message = StatusError, name+" failed, error:\n "+cleanDBError(err)
		} else {
			res.Status, res.Message = StatusSuccess, name+" passed"
		}
		if hr != nil {
			hr.HookDone(res, len(hooks))
		}
		out = append(out, res)
	}
	return out
}

// CompileHooks renders the run's hooks without running them, as dbt compile does (results
// and schemas are empty), and writes them where dbt writes compiled hooks.
func (e *Engine) CompileHooks(ctx context.Context) error {
	s := e.newSession()
	if e.DB != nil {
		conn, err := e.DB.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		s = e.newRuntimeSession(ctx, conn)
	}
	s.extra = map[string]any{"results": []any{}, "schemas": []any{}, "database_schemas": []any{}}
	for _, kind := range []string{"on-run-start", "on-run-end"} {
		for _, h := range e.P.runHooks(kind) {
			q, _, err := s.renderCode(h.Node, "dbt_project.yml ("+kind+")", h.SQL, phaseCompile, h.Node.Config)
			if err != nil {
				return err
			}
			if err := e.writeHook(h.Node, strings.TrimSpace(q)); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeHook writes a rendered hook where dbt does: compiled/<package>/dbt_project.yml/hooks/.
func (e *Engine) writeHook(n *Node, q string) error {
	n.CompiledCode = q
	if q == "" { // dbt writes no file for a hook that renders to nothing
		return nil
	}
	full := filepath.Join(e.P.Dir, e.P.TargetPath, "compiled", n.PackageName, "dbt_project.yml", n.Path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return err
	}
	return os.WriteFile(full, []byte(q), 0o644)
}

// HookReporter, when the Reporter implements it, hears about on-run-start and on-run-end
// hooks as dbt prints them.
type HookReporter interface {
	Hooks(kind string, n int)
	HookStart(n *Node, index, total int)
	HookDone(r Result, total int)
}

// execHooks runs rendered hook statements on q, recording them in executed.
func execHooks(ctx context.Context, q interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, stmts []string, executed *[]string) error {
	for _, s := range stmts {
		*executed = append(*executed, s+";")
		if _, err := q.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// nodeHookSQL is a node's rendered hooks: pre and post run inside its transaction, preOut
// before it begins and postOut after it commits (hooks with transaction: false).
type nodeHookSQL struct {
	pre, preOut, post, postOut []string
}

// around runs f between a node's hooks on conn. A seed loads in its own transactions, so its
// hooks all run outside them, in order: pre-hooks, the load, post-hooks.
func (h nodeHookSQL) around(ctx context.Context, conn *sql.Conn, executed *[]string, f func() (string, error)) (string, error) {
	if err := execHooks(ctx, conn, append(append([]string{}, h.preOut...), h.pre...), executed); err != nil {
		return "", err
	}
	msg, err := f()
	if err != nil {
		return "", err
	}
	if err := execHooks(ctx, conn, append(append([]string{}, h.post...), h.postOut...), executed); err != nil {
		return "", err
	}
	return msg, nil
}

var operationRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)
var argNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// RunOperation calls a macro while executing, as dbt run-operation does: macro is a macro name
// or package.macro, args its keyword arguments. Its statements run on one connection of db
// without an enclosing transaction; log(..., info=True) prints to e.Log.
func (e *Engine) RunOperation(ctx context.Context, db *sql.DB, macro string, args map[string]any) error {
	if !operationRE.MatchString(macro) {
		return fmt.Errorf("run-operation: %q is not a macro name (name or package.name)", macro)
	}
	keys := make([]string, 0, len(args))
	for k := range args {
		if !argNameRE.MatchString(k) {
			return fmt.Errorf("run-operation --args: %q is not an argument name", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	call := make([]string, len(keys))
	for i, k := range keys {
		call[i] = k + "=__dango_args['" + k + "']"
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	s := e.newRuntimeSession(ctx, conn)
	s.extra = map[string]any{"__dango_args": args}
	name := macro[strings.LastIndex(macro, ".")+1:]
	n := &Node{UniqueID: "macro." + e.P.Name + "." + name, ResourceType: "operation", Name: name, PackageName: e.P.Name,
		OriginalFilePath: "run-operation " + macro, FQN: []string{e.P.Name, name}, Config: map[string]any{}}
	if !s.hasMacro(macro) {
		return fmt.Errorf("dbt could not find a macro with the name %q in any package", macro)
	}
	_, _, err = s.renderCode(n, "run-operation "+macro, "{{ "+macro+"("+strings.Join(call, ", ")+") }}", phaseCompile, n.Config)
	return err
}

// hasMacro reports whether name (or package.name) is a macro the root project can call.
func (s *session) hasMacro(name string) bool {
	env := s.envFor(s.e.P.Name)
	pkg, m, dotted := strings.Cut(name, ".")
	if !dotted {
		v, ok := env.Context.Get(name)
		_, isFunc := v.(func(*exec.VarArgs) *exec.Value)
		return ok && isFunc
	}
	v, ok := env.Context.Get(pkg)
	if !ok {
		return false
	}
	ns, ok := v.(map[string]any)
	if !ok {
		return false
	}
	_, ok = ns[m]
	return ok
}
