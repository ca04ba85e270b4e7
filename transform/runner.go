package transform

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dangohq/dango/config"
)

// Statuses of a node's execution, as dbt names them in run_results.json.
const (
	StatusSuccess = "success"
	StatusError   = "error"
	StatusSkipped = "skipped"
	StatusPass    = "pass"
	StatusFail    = "fail"
	StatusWarn    = "warn"
)

// Result is one node's execution.
type Result struct {
	Node      *Node
	Status    string
	Message   string // "OK", "INSERT 12", the database's error …
	Failures  int64  // tests: failing rows
	Index     int    // "i of N"
	Thread    int
	Started   time.Time
	Completed time.Time
	Executed  string // the statements run, for target/run
	SkippedBy string // the failed ancestor
	Hook      string // on-run-start / on-run-end hooks: dbt's name, pkg.on-run-start.0
}

// Duration is how long the node ran.
func (r Result) Duration() time.Duration { return r.Completed.Sub(r.Started) }

// Reporter receives progress; the CLI prints it in dbt's format.
type Reporter interface {
	Start(n *Node, index, total int)
	Done(r Result, total int)
}

// Runner executes selected nodes in dependency order on a pool of connections.
type Runner struct {
	E        *Engine
	G        *Graph
	DB       *sql.DB
	Threads  int
	FailFast bool
	Report   Reporter

	kinds map[string]string // schema.name → table/view at the start of the run
}

// Executable reports whether a node is executed by a command: run builds models (not
// ephemeral ones), test runs tests, seed loads seeds, build does all three.
func Executable(n *Node, command string) bool {
	switch n.ResourceType {
	case "model":
		return (command == "run" || command == "build") && n.Materialized() != "ephemeral"
	case "test":
		return command == "test" || command == "build"
	case "seed":
		return command == "seed" || command == "build"
	}
	return false
}

// Run executes ids (already filtered to what the command executes). A failed node skips
// everything downstream of it; with FailFast the first failure stops the run.
func (r *Runner) Run(ctx context.Context, ids []string) ([]Result, error) {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	// Compile everything up front; relations that exist now decide is_incremental().
	exists, err := r.existing(ctx)
	if err != nil {
		return nil, err
	}
	r.kinds = exists
	r.E.Exists = func(rel Relation) bool { return exists[strings.ToLower(rel.Schema+"."+rel.Identifier)] != "" }
	var toCompile []string
	for _, id := range ids {
		if n := r.G.Nodes[id]; n.ResourceType != "seed" {
			toCompile = append(toCompile, id)
		}
	}
	if err := r.E.Compile(ctx, r.G, toCompile); err != nil {
		return nil, err
	}
	// Schemas first, one at a time: two transactions creating one schema conflict in DuckDB.
	schemas := map[string]bool{}
	for _, id := range ids {
		n := r.G.Nodes[id]
		if n.ResourceType == "model" || n.ResourceType == "seed" {
			rel := n.Relation()
			schemas[quoteIdent(rel.Database)+"."+quoteIdent(rel.Schema)] = true
		}
	}
	for s := range schemas {
		if _, err := r.DB.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+s); err != nil {
			return nil, fmt.Errorf("create schema %s: %s", s, cleanDBError(err))
		}
	}
	// on-run-start hooks run once the schemas exist; a failing one is an error in the results
	// and the nodes still run, as in dbt 1.9.
	hookResults := r.runRunHooks(ctx, "on-run-start", nil)
	// Parents that matter for scheduling: the executed nodes among a node's ancestors
	// (through nodes that are not executed, like ephemeral models).
	deps := map[string][]string{}
	for _, id := range ids {
		seen := map[string]bool{}
		var walk func(x string)
		walk = func(x string) {
			for _, p := range r.G.Parents[x] {
				if seen[p] {
					continue
				}
				seen[p] = true
				if want[p] {
					deps[id] = append(deps[id], p)
				} else {
					walk(p)
				}
			}
		}
		walk(id)
		// build: tests on what a node is built from must pass first — a failing test skips
		// everything downstream of the node it tests (only tests whose parents are all upstream).
		if n := r.G.Nodes[id]; n.ResourceType != "test" {
			for anc := range seen {
				for _, t := range r.G.Children[anc] {
					if !want[t] || r.G.Nodes[t].ResourceType != "test" || t == id {
						continue
					}
					upstream := true
					for _, tp := range r.G.Parents[t] {
						if !seen[tp] {
							upstream = false
						}
					}
					if upstream && !containsStr(deps[id], t) {
						deps[id] = append(deps[id], t)
					}
				}
			}
		}
	}
	threads := r.Threads
	if threads < 1 {
		threads = 1
	}
	var (
		mu        sync.Mutex
		results   = map[string]*Result{}
		completed []string // ids in the order they finished: dbt's order of results
		started   = 0
		stop      = false
		wg        sync.WaitGroup
	)
	total := len(ids)
	ready := make(chan string, len(ids))
	remaining := map[string]int{}
	children := map[string][]string{}
	for _, id := range ids {
		remaining[id] = len(deps[id])
		for _, p := range deps[id] {
			children[p] = append(children[p], id)
		}
	}
	order := r.G.Order(ids)
	for _, id := range order {
		if remaining[id] == 0 {
			ready <- id
		}
	}
	pending := len(ids)
	done := make(chan struct{})
	var closeDone sync.Once // finish recurses through skipped children; only one closes done
	var finish func(id string, res *Result)
	finish = func(id string, res *Result) {
		// called with mu held
		results[id] = res
		completed = append(completed, id)
		pending--
		failed := res.Status == StatusError || res.Status == StatusFail || res.Status == StatusSkipped
		if (res.Status == StatusError || res.Status == StatusFail) && r.FailFast {
			stop = true
		}
		for _, c := range children[id] {
			if _, decided := results[c]; decided {
				continue
			}
			if failed {
				by := id
				if res.SkippedBy != "" {
					by = res.SkippedBy
				}
				started++
				skip := &Result{Node: r.G.Nodes[c], Status: StatusSkipped, Message: "SKIP", SkippedBy: by, Index: started, Started: time.Now(), Completed: time.Now()}
				remaining[c] = -1
				if r.Report != nil {
					r.Report.Done(*skip, total)
				}
				finish(c, skip)
				continue
			}
			remaining[c]--
			if remaining[c] == 0 {
				ready <- c
			}
		}
		if pending == 0 {
			closeDone.Do(func() { close(done) })
		}
	}
	if pending == 0 {
		closeDone.Do(func() { close(done) })
	}
	for w := 1; w <= threads; w++ {
		wg.Add(1)
		go func(thread int) {
			defer wg.Done()
			var s *session // this thread's executing session, made when a node needs one
			for {
				select {
				case <-done:
					return
				case <-ctx.Done():
					return
				case id := <-ready:
					mu.Lock()
					if stop {
						started++
						res := &Result{Node: r.G.Nodes[id], Status: StatusSkipped, Message: "SKIP (fail fast)", Index: started, Started: time.Now(), Completed: time.Now()}
						if r.Report != nil {
							r.Report.Done(*res, total)
						}
						finish(id, res)
						mu.Unlock()
						continue
					}
					started++
					idx := started
					mu.Unlock()
					n := r.G.Nodes[id]
					if r.Report != nil {
						r.Report.Start(n, idx, total)
					}
					if s == nil {
						s = r.E.newRuntimeSession(ctx, nil)
					}
					res := r.execute(ctx, n, s)
					res.Index, res.Thread = idx, thread
					if r.Report != nil {
						r.Report.Done(res, total)
					}
					mu.Lock()
					finish(id, &res)
					mu.Unlock()
				}
			}
		}(w)
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	wg.Wait()
	out := append(make([]Result, 0, len(results)+len(hookResults)), hookResults...)
	var nodeResults []Result
	for _, id := range completed {
		nodeResults = append(nodeResults, *results[id])
	}
	out = append(out, nodeResults...)
	if ctx.Err() != nil {
		return out, ctx.Err()
	}
	out = append(out, r.runRunHooks(ctx, "on-run-end", r.endContext(hookResults, nodeResults))...)
	return out, ctx.Err()
}

// endContext is what on-run-end hooks see besides the usual: results (the nodes', and hooks
// that failed), schemas and database_schemas (where relations were built successfully).
func (r *Runner) endContext(hooks, nodes []Result) map[string]any {
	var results []any
	for _, res := range hooks {
		if res.Status == StatusError {
			results = append(results, resultContext(res))
		}
	}
	schemas, dbSchemas := []any{}, []any{}
	seen := map[string]bool{}
	for _, res := range nodes {
		results = append(results, resultContext(res))
		n := res.Node
		relational := (n.ResourceType == "model" && n.Materialized() != "ephemeral") || n.ResourceType == "seed"
		if !relational || res.Status == StatusError || res.Status == StatusFail || res.Status == StatusSkipped {
			continue
		}
		if !seen[n.Database+"."+n.Schema] {
			seen[n.Database+"."+n.Schema] = true
			dbSchemas = append(dbSchemas, []any{n.Database, n.Schema})
			if !containsAny(schemas, n.Schema) {
				schemas = append(schemas, n.Schema)
			}
		}
	}
	if results == nil {
		results = []any{}
	}
	return map[string]any{"results": results, "schemas": schemas, "database_schemas": dbSchemas}
}

func containsAny(list []any, v any) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// resultContext is a result as a template sees it (dbt's RunResult).
func resultContext(res Result) map[string]any {
	var failures any
	if res.Node.ResourceType == "test" && res.Status != StatusError && res.Status != StatusSkipped {
		failures = res.Failures
	}
	thread := fmt.Sprintf("Thread-%d", res.Thread)
	if res.Hook != "" {
		thread = "main"
	}
	return map[string]any{"status": res.Status, "message": res.Message, "failures": failures, "node": nodeMap(res.Node),
		"execution_time": res.Duration().Seconds(), "thread_id": thread, "adapter_response": map[string]any{"_message": res.Message},
		"timing": []any{}}
}

// existing reads every relation's kind ("table" or "view") once, before the run: each node
// changes only its own relation, and querying the catalog per model grows with its size.
func (r *Runner) existing(ctx context.Context) (map[string]string, error) {
	rows, err := r.DB.QueryContext(ctx, `SELECT table_schema, table_name, table_type FROM information_schema.tables`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var s, t, typ string
		if err := rows.Scan(&s, &t, &typ); err != nil {
			return nil, err
		}
		kind := "table"
		if typ == "VIEW" {
			kind = "view"
		}
		out[strings.ToLower(s+"."+t)] = kind
	}
	return out, rows.Err()
}

// execute runs one node on its own connection. s is the thread's executing session: a node
// whose SQL depends on the warehouse is rendered again with it first, and hooks render in it.
func (r *Runner) execute(ctx context.Context, n *Node, s *session) (res Result) {
	res = Result{Node: n, Started: time.Now()}
	defer func() { res.Completed = time.Now() }()
	conn, err := r.DB.Conn(ctx)
	if err != nil {
		res.Status, res.Message = StatusError, err.Error()
		return res
	}
	defer conn.Close()
	s.rt.ctx, s.rt.conn = ctx, conn
	defer func() { s.rt.conn = nil }()
	// dbt-duckdb keeps DuckDB's default of preserving insertion order; so do models here.
	conn.ExecContext(ctx, "SET SESSION preserve_insertion_order = true")
	if compilable(n) && needsRuntime(r.G, n) {
		out, err := s.renderExecuting(r.G, n)
		if err != nil {
			res.Status, res.Message = StatusError, err.Error()
			return res
		}
		n.CompiledCode = out
		if err := r.E.writeCompiled(n); err != nil {
			res.Status, res.Message = StatusError, err.Error()
			return res
		}
	}
	var h nodeHookSQL
	if n.ResourceType == "model" || n.ResourceType == "seed" {
		if h.pre, h.preOut, err = s.nodeHooks(n, "pre-hook"); err == nil {
			h.post, h.postOut, err = s.nodeHooks(n, "post-hook")
		}
		if err != nil {
			res.Status, res.Message = StatusError, err.Error()
			return res
		}
	}
	switch n.ResourceType {
	case "model":
		rel := n.Relation()
		executed, msg, err := r.E.materialize(ctx, conn, n, r.kinds[strings.ToLower(rel.Schema+"."+rel.Identifier)], h)
		res.Executed = executed
		if err != nil {
			res.Status, res.Message = StatusError, cleanDBError(err)
			return res
		}
		res.Status, res.Message = StatusSuccess, msg
	case "test":
		r.test(ctx, conn, n, &res)
	case "seed":
		var executed []string
		msg, err := h.around(ctx, conn, &executed, func() (string, error) { return r.E.seed(ctx, conn, n) })
		res.Executed = strings.Join(executed, "\n\n")
		if err != nil {
			res.Status, res.Message = StatusError, cleanDBError(err)
			return res
		}
		res.Status, res.Message = StatusSuccess, msg
	}
	r.E.writeRun(n, res.Executed)
	return res
}

var thresholdRE = regexp.MustCompile(`^\s*(==|!=|>=|<=|>|<)\s*(\d+)\s*$`)

func threshold(expr string, n int64) (bool, error) {
	m := thresholdRE.FindStringSubmatch(expr)
	if m == nil {
		return false, fmt.Errorf("invalid threshold %q (use e.g. '!=0' or '>10')", expr)
	}
	v, _ := strconv.ParseInt(m[2], 10, 64)
	switch m[1] {
	case "==":
		return n == v, nil
	case "!=":
		return n != v, nil
	case ">=":
		return n >= v, nil
	case "<=":
		return n <= v, nil
	case ">":
		return n > v, nil
	}
	return n < v, nil
}

// test counts a test's failing rows and judges them by severity, error_if and warn_if.
func (r *Runner) test(ctx context.Context, conn *sql.Conn, n *Node, res *Result) {
	body := strings.TrimRight(strings.TrimSpace(n.CompiledCode), ";")
	q := "select count(*) as failures from (\n" + body + "\n) dbt_internal_test"
	if lim, ok := n.Config["limit"]; ok {
		q = "select count(*) as failures from (select * from (\n" + body + "\n) limit " + str(lim) + ") dbt_internal_test"
	}
	res.Executed = q + ";"
	var failures int64
	if err := conn.QueryRowContext(ctx, q).Scan(&failures); err != nil {
		res.Status, res.Message = StatusError, cleanDBError(err)
		return
	}
	res.Failures = failures
	errorIf, warnIf := str(n.Config["error_if"]), str(n.Config["warn_if"])
	if errorIf == "" {
		errorIf = "!=0"
	}
	if warnIf == "" {
		warnIf = "!=0"
	}
	isErr, err := threshold(errorIf, failures)
	if err != nil {
		res.Status, res.Message = StatusError, err.Error()
		return
	}
	isWarn, err := threshold(warnIf, failures)
	if err != nil {
		res.Status, res.Message = StatusError, err.Error()
		return
	}
	severity := strings.ToLower(str(n.Config["severity"]))
	switch {
	case isErr && severity != "warn":
		res.Status, res.Message = StatusFail, fmt.Sprintf("Got %d result%s, configured to fail if %s", failures, plural(failures), errorIf)
	case isWarn || (isErr && severity == "warn"):
		res.Status, res.Message = StatusWarn, fmt.Sprintf("Got %d result%s, configured to warn if %s", failures, plural(failures), warnIf)
	default:
		res.Status, res.Message = StatusPass, "PASS"
	}
}

func plural(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// writeRun writes what a node executed to <target>/run/<project>/<path>.
func (e *Engine) writeRun(n *Node, executed string) {
	if executed == "" {
		return
	}
	rel := n.OriginalFilePath
	if n.Test != nil {
		rel += "/" + n.Path
	}
	p := filepath.Join(e.P.Dir, e.P.TargetPath, "run", n.PackageName, rel)
	if os.MkdirAll(filepath.Dir(p), 0o755) == nil {
		os.WriteFile(p, []byte(executed+"\n"), 0o644)
	}
}

var lineEchoRE = regexp.MustCompile(`(?s)\n\nLINE \d+:.*$`)

func cleanDBError(err error) string {
	return strings.TrimSpace(lineEchoRE.ReplaceAllString(err.Error(), ""))
}

func threadID(r Result) string {
	if r.Hook != "" {
		return "main"
	}
	return fmt.Sprintf("Thread-%d", r.Thread)
}

// WriteRunResults writes <target>/run_results.json in dbt's v6 shape.
func (e *Engine) WriteRunResults(results []Result, elapsed time.Duration, command string) error {
	var out []map[string]any
	for _, r := range results {
		// A database error may quote a connection string (ATTACH 'postgres://u:pw@h').
		msg := config.Redact(r.Message)
		var failures any
		if r.Node.ResourceType == "test" && r.Status != StatusError && r.Status != StatusSkipped {
			failures = r.Failures
		}
		entry := map[string]any{
			"status":           r.Status,
			"timing":           []any{map[string]any{"name": "execute", "started_at": r.Started.UTC().Format(time.RFC3339Nano), "completed_at": r.Completed.UTC().Format(time.RFC3339Nano)}},
			"thread_id":        threadID(r),
			"execution_time":   r.Duration().Seconds(),
			"adapter_response": map[string]any{"_message": msg},
			"message":          msg,
			"failures":         failures,
			"unique_id":        r.Node.UniqueID,
			"compiled":         r.Node.CompiledCode != "",
			"compiled_code":    r.Node.CompiledCode,
			"relation_name":    nil,
		}
		if r.Node.ResourceType == "model" || r.Node.ResourceType == "seed" {
			entry["relation_name"] = r.Node.Relation().String()
		}
		out = append(out, entry)
	}
	if out == nil {
		out = []map[string]any{}
	}
	doc := map[string]any{
		"metadata": map[string]any{"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json", "dbt_version": "1.9.0",
			"generated_at": time.Now().UTC().Format("2006-01-02T15:04:05.000000Z"), "invocation_id": e.InvocationID, "generated_by": "dango"},
		"results": out, "elapsed_time": elapsed.Seconds(), "args": map[string]any{"which": command},
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Join(e.P.Dir, e.P.TargetPath)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "run_results.json"), data, 0o644)
}
