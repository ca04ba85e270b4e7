package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dangohq/dango/events"
	"github.com/dangohq/dango/service"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// natsAuth reads the credentials a dango serve generated for its embedded NATS server.
func natsAuth(t *testing.T, dir string) map[string]events.Credentials {
	t.Helper()
	a, err := events.LoadAuth(filepath.Join(dir, ".dango", "nats-auth.json"))
	if err != nil {
		t.Fatal(err)
	}
	return a.Users
}

// server is a `dango serve` process on free ports.
type server struct {
	cmd  *exec.Cmd
	api  string // http://host:port
	nats string // nats://host:port
	tok  string // the API token dango serve generated (.dango/api_token)
	out  *bytes.Buffer
}

func startServe(t *testing.T, dir string, args ...string) *server {
	t.Helper()
	httpAddr, natsAddr := freePort(t), freePort(t)
	cmd := exec.Command(dangoBin, append([]string{"serve", "--listen", httpAddr, "--nats-listen", natsAddr}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out := &bytes.Buffer{}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "dango serve: API on") {
				ready <- true
			}
		}
	}()
	s := &server{cmd: cmd, api: "http://" + httpAddr, nats: "nats://" + natsAddr, out: out}
	t.Cleanup(func() { s.stop(); pw.Close() })
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatalf("dango serve did not start:\n%s", out.String())
	}
	tok, err := os.ReadFile(filepath.Join(dir, service.TokenFile))
	if err != nil {
		t.Fatalf("dango serve wrote no token file: %v", err)
	}
	s.tok = strings.TrimSpace(string(tok))
	return s
}

func (s *server) stop() {
	if s.cmd.ProcessState == nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			s.cmd.Process.Kill()
			<-done
		}
	}
}

func (s *server) do(t *testing.T, method, path, token string, body []byte, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, s.api+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// waitRun polls a run until it has finished.
func (s *server) waitRun(t *testing.T, id, token string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		code, m := s.do(t, "GET", "/api/v1/runs/"+id, token, nil, nil)
		if code != 200 {
			t.Fatalf("GET run %s: %d %v", id, code, m)
		}
		switch m["status"] {
		case "success", "partial", "failed":
			return m
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("run %s did not finish:\n%s", id, s.out.String())
	return nil
}

const serveSources = "version: 1\nsources:\n  - name: sales\n    type: csv\n    write_disposition: replace\n    csv: {path: data/sales.csv}\n  - name: other\n    type: csv\n    csv: {path: data/other.csv}\n"

func TestServeSyncOverHTTP(t *testing.T) {
	dir := newProject(t, serveSources)
	writeFile(t, dir, "data/sales.csv", csvRows(100))
	writeFile(t, dir, "data/other.csv", "a\n1\n")
	s := startServe(t, dir, "--workers", "2")

	code, m := s.do(t, "GET", "/healthz", s.tok, nil, nil)
	if code != 200 || m["status"] != "ok" {
		t.Fatalf("healthz: %d %v", code, m)
	}
	code, m = s.do(t, "POST", "/api/v1/sync", s.tok, []byte(`{"sources": ["sales"], "generate": true}`), nil)
	if code != 202 || m["run_id"] == nil {
		t.Fatalf("POST sync: %d %v", code, m)
	}
	run := s.waitRun(t, m["run_id"].(string), s.tok)
	srcs := run["sources"].([]any)
	if run["status"] != "success" || len(srcs) != 1 || srcs[0].(map[string]any)["rows"].(float64) != 100 {
		t.Fatalf("run: %v", run)
	}
	if _, err := os.Stat(filepath.Join(dir, "dbt", "models", "staging", "stg_sales.sql")); err != nil {
		t.Errorf("generate: true wrote no staging model: %v", err)
	}
	// Two requests for one source at once: one sync at a time, neither loads a row twice.
	_, a := s.do(t, "POST", "/api/v1/sync", s.tok, []byte(`{"sources": ["sales"], "full_refresh": true}`), nil)
	_, b := s.do(t, "POST", "/api/v1/sync", s.tok, []byte(`{"sources": ["sales", "other"]}`), nil)
	ra, rb := s.waitRun(t, a["run_id"].(string), s.tok), s.waitRun(t, b["run_id"].(string), s.tok)
	if ra["status"] != "success" || rb["status"] != "success" {
		t.Fatalf("concurrent runs: %v\n%v", ra, rb)
	}
	// Bad requests queue nothing.
	for _, body := range []string{`{"sources": ["nope"]}`, `{"source": ["sales"]}`, `{"start_date": "yesterday"}`, `not json`} {
		if code, m := s.do(t, "POST", "/api/v1/sync", s.tok, []byte(body), nil); code != 400 || m["error"] == nil {
			t.Errorf("POST sync %s: %d %v", body, code, m)
		}
	}
	if code, _ := s.do(t, "GET", "/api/v1/runs/run_nope", s.tok, nil, nil); code != 404 {
		t.Errorf("unknown run: %d", code)
	}
	resp, err := http.Get(s.api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`dango_sync_jobs_total{status="success"} 4`, "dango_rows_loaded_total 301", "dango_queue_depth 0",
		`dango_runs_total{kind="sync",status="success"} 3`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %q:\n%s", want, metrics)
		}
	}
	s.stop()
	if got := scalar(t, dir, "SELECT count(*) || '/' || count(DISTINCT order_id) FROM raw_sales.sales"); got != "100/100" {
		t.Errorf("sales after the service's syncs: %s rows/distinct", got)
	}
}

func TestServeWebhooksAndToken(t *testing.T) {
	dir := newProject(t, serveSources)
	writeFile(t, dir, "data/sales.csv", csvRows(10))
	writeFile(t, dir, "data/other.csv", "a\n1\n")
	writeFile(t, dir, ".dango/project.yml", "api_token_env: API_TOKEN\nwebhooks:\n  - name: orders\n    secret_env: HOOK_SECRET\n    sync: [sales]\n")
	writeFile(t, dir, ".env", "API_TOKEN=tok-123-configured-token\nHOOK_SECRET=s3cr3t-s3cr3t-s3cr3t\n")
	s := startServe(t, dir, "--workers", "1")

	if code, _ := s.do(t, "POST", "/api/v1/sync", "", []byte(`{}`), nil); code != 401 {
		t.Errorf("no token: %d", code)
	}
	if code, _ := s.do(t, "POST", "/api/v1/sync", "wrong", []byte(`{}`), nil); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
	if code, _ := s.do(t, "GET", "/api/v1/runs", "", nil, nil); code != 401 {
		t.Errorf("runs without a token: %d", code)
	}
	if code, _ := s.do(t, "GET", "/metrics", "", nil, nil); code != 200 {
		t.Errorf("metrics on loopback without a token: %d", code)
	}
	runs := func() int {
		_, m := s.do(t, "GET", "/api/v1/runs", "tok-123-configured-token", nil, nil)
		return len(m["runs"].([]any))
	}
	if n := runs(); n != 0 {
		t.Fatalf("%d runs before any was requested", n)
	}

	body := []byte(`{"event": "order.created"}`)
	sign := func(ts int64, secret string) map[string]string {
		return map[string]string{service.HeaderTimestamp: strconv.FormatInt(ts, 10), service.HeaderSignature: service.Sign([]byte(secret), ts, body)}
	}
	now := time.Now().Unix()
	good := sign(now, "s3cr3t-s3cr3t-s3cr3t")
	code, m := s.do(t, "POST", "/hooks/orders", "", body, good)
	if code != 202 {
		t.Fatalf("signed webhook: %d %v", code, m)
	}
	if run := s.waitRun(t, m["run_id"].(string), "tok-123-configured-token"); run["status"] != "success" || run["trigger"] != "webhook:orders" {
		t.Fatalf("webhook run: %v", run)
	}
	for name, tc := range map[string]struct {
		path string
		hdr  map[string]string
		body []byte
		code int
	}{
		"replayed":         {"/hooks/orders", good, body, 401},
		"wrong secret":     {"/hooks/orders", sign(now+1, "guess"), body, 401},
		"stale timestamp":  {"/hooks/orders", sign(now-6*60, "s3cr3t-s3cr3t-s3cr3t"), body, 401},
		"future timestamp": {"/hooks/orders", sign(now+6*60, "s3cr3t-s3cr3t-s3cr3t"), body, 401},
		"no headers":       {"/hooks/orders", nil, body, 401},
		"unknown hook":     {"/hooks/nope", sign(now+2, "s3cr3t-s3cr3t-s3cr3t"), body, 401},
		"tampered body":    {"/hooks/orders", sign(now+3, "s3cr3t-s3cr3t-s3cr3t"), []byte(`{"event": "order.deleted"}`), 401},
		"oversized body":   {"/hooks/orders", sign(now+4, "s3cr3t-s3cr3t-s3cr3t"), bytes.Repeat([]byte("x"), 2<<20), 413},
	} {
		if code, _ := s.do(t, "POST", tc.path, "", tc.body, tc.hdr); code != tc.code {
			t.Errorf("%s: %d, want %d", name, code, tc.code)
		}
	}
	if n := runs(); n != 1 {
		t.Errorf("%d runs queued, want only the signed webhook's", n)
	}
	// The used signature stays used across a restart (kept in JetStream, not in memory).
	s.stop()
	s2 := startServe(t, dir, "--workers", "1")
	if code, _ := s2.do(t, "POST", "/hooks/orders", "", body, good); code != 401 {
		t.Errorf("replayed after a restart: %d", code)
	}
	fresh := sign(now+5, "s3cr3t-s3cr3t-s3cr3t")
	if code, _ := s2.do(t, "POST", "/hooks/orders", "", body, fresh); code != 202 {
		t.Errorf("a fresh signature after the restart: %d", code)
	}
}

// TestServeOpenListenerNeedsToken: on a non-loopback address even /healthz and /metrics
// need the token (there is always one: dango serve generates it).
func TestServeOpenListenerNeedsToken(t *testing.T) {
	dir := newProject(t, serveSources)
	port := strings.Split(freePort(t), ":")[1]
	s := startServe(t, dir, "--listen", "0.0.0.0:"+port)
	s.api = "http://127.0.0.1:" + port
	for _, path := range []string{"/healthz", "/metrics", "/api/v1/runs"} {
		if code, _ := s.do(t, "GET", path, "", nil, nil); code != 401 {
			t.Errorf("GET %s without the token: %d, want 401", path, code)
		}
		if code, _ := s.do(t, "GET", path, s.tok, nil, nil); code != 200 {
			t.Errorf("GET %s with the token: %d", path, code)
		}
	}
	if code, _ := s.do(t, "POST", "/api/v1/sync", "", []byte(`{}`), nil); code != 401 {
		t.Errorf("POST sync without the token: %d", code)
	}
}

// TestServeTrustBoundaries: the generated token file is 0600 and not in serve.json; a
// text/plain POST (what a page on another origin can send) and a preflight queue nothing and
// get no CORS allowance; dango token rotate makes the running server refuse the old token.
func TestServeTrustBoundaries(t *testing.T) {
	dir := newProject(t, serveSources)
	writeFile(t, dir, "data/sales.csv", csvRows(5))
	s := startServe(t, dir, "--workers", "1")
	st, err := os.Lstat(filepath.Join(dir, service.TokenFile))
	if err != nil || st.Mode().Perm() != 0o600 || !st.Mode().IsRegular() {
		t.Fatalf("token file: %v %v", st, err)
	}
	var info []byte
	for deadline := time.Now().Add(10 * time.Second); len(info) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		info, _ = os.ReadFile(filepath.Join(dir, service.InfoFile)) // written just after the start line
	}
	if len(info) == 0 || strings.Contains(string(info), s.tok) {
		t.Errorf("serve.json: %s", info)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, ".gitignore")); !strings.Contains(string(data), ".dango/api_token") {
		t.Errorf(".gitignore does not keep the token out of git:\n%s", data)
	}
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b"} {
		for _, tok := range []string{"", s.tok} {
			code, _ := s.do(t, "POST", "/api/v1/sync", tok, []byte(`{"full_refresh": true}`), map[string]string{"Content-Type": ct, "Origin": "http://evil.example"})
			if code != 401 && code != 403 && code != 415 {
				t.Errorf("%s POST from another origin (token %v): %d", ct, tok != "", code)
			}
			code, _ = s.do(t, "POST", "/api/v1/sync", tok, []byte(`{"full_refresh": true}`), map[string]string{"Content-Type": ct})
			if want := map[bool]int{true: 415, false: 401}[tok != ""]; code != want {
				t.Errorf("%s POST (token %v): %d, want %d", ct, tok != "", code, want)
			}
		}
	}
	req, _ := http.NewRequest("OPTIONS", s.api+"/api/v1/sync", nil)
	req.Header.Set("Origin", "http://evil.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 || resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.Header.Get("Access-Control-Allow-Headers") != "" {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	if _, m := s.do(t, "GET", "/api/v1/runs", s.tok, nil, nil); len(m["runs"].([]any)) != 0 {
		t.Fatalf("runs queued: %v", m)
	}
	old := s.tok
	r := dango(t, dir, "token", "rotate")
	if r.code != 0 || !strings.Contains(r.stdout, service.TokenFile) || strings.Contains(r.stdout+r.stderr, old) {
		t.Fatalf("token rotate: %+v", r)
	}
	data, _ := os.ReadFile(filepath.Join(dir, service.TokenFile))
	fresh := strings.TrimSpace(string(data))
	if fresh == old || len(fresh) < 40 {
		t.Fatalf("rotate kept the token")
	}
	if code, _ := s.do(t, "GET", "/api/v1/runs", old, nil, nil); code != 401 {
		t.Errorf("old token after rotate: %d", code)
	}
	if code, _ := s.do(t, "GET", "/api/v1/runs", fresh, nil, nil); code != 200 {
		t.Errorf("new token after rotate: %d", code)
	}
	// The CLI reads the new token.
	if r := dango(t, dir, "sync", "--source", "sales"); r.code != 0 || !strings.Contains(r.stdout, "Submitted to dango serve") {
		t.Errorf("sync through the server after rotate: %+v", r)
	}
}

// TestServeRefusesWeakSecrets: an empty or short webhook secret or API token is a
// configuration error naming .dango/project.yml and the webhook; dango serve does not start.
func TestServeRefusesWeakSecrets(t *testing.T) {
	dir := newProject(t, serveSources)
	hook := "webhooks:\n  - name: orders\n    secret_env: HOOK_SECRET\n    sync: [sales]\n"
	for _, tc := range []struct{ yml, env, want string }{
		{hook, "HOOK_SECRET=\n", "webhook orders: its secret (HOOK_SECRET) is empty"},
		{hook, "HOOK_SECRET=s3cr3t\n", "webhook orders: its secret (HOOK_SECRET) is 6 bytes"},
		{hook, "", "webhook orders: secret_env: environment variable HOOK_SECRET is not set"},
		{"api_token_env: API_TOKEN\n", "API_TOKEN=tok\n", "api_token_env: the token in API_TOKEN is 3 bytes"},
	} {
		writeFile(t, dir, ".dango/project.yml", tc.yml)
		writeFile(t, dir, ".env", tc.env)
		r := dango(t, dir, "serve", "--listen", freePort(t), "--nats-listen", freePort(t))
		if r.code != 2 || !strings.Contains(r.stderr, ".dango/project.yml: "+tc.want) || strings.Contains(r.stderr, "s3cr3t") {
			t.Errorf("%q %q: %+v", tc.yml, tc.env, r)
		}
	}
}

// TestWorkerProcess: dango serve with no local workers, a dango worker process extracting
// from its own copy of the project (as on another machine): the data files exist only there
// and reach the writer through the NATS object store.
func TestWorkerProcess(t *testing.T) {
	sources := serveSources + "  - name: daily\n    type: csv\n    csv: {path: data/daily}\n"
	dir := newProject(t, sources)
	s := startServe(t, dir, "--workers", "0")
	remote := newProject(t, sources)
	// As on another machine: the worker's password comes through its own config and env.
	writeFile(t, remote, ".dango/project.yml", "nats:\n  user: dango-worker\n  password_env: DANGO_NATS_PASSWORD\n")
	writeFile(t, remote, ".env", "DANGO_NATS_PASSWORD="+natsAuth(t, dir)[events.RoleWorker].Password+"\n")
	writeFile(t, remote, "data/sales.csv", csvRows(50))
	writeFile(t, remote, "data/other.csv", "a\n1\n2\n")
	// Same file name in two folders: both must arrive.
	writeFile(t, remote, "data/daily/mon/day.csv", "id\n1\n2\n")
	writeFile(t, remote, "data/daily/tue/day.csv", "id\n3\n")
	w := exec.Command(dangoBin, "worker", "--nats", s.nats, "--workers", "2")
	w.Dir = remote
	var wout bytes.Buffer
	w.Stdout, w.Stderr = &wout, &wout
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { w.Process.Signal(syscall.SIGTERM); w.Wait() }()
	_, m := s.do(t, "POST", "/api/v1/sync", s.tok, []byte(`{}`), nil)
	run := s.waitRun(t, m["run_id"].(string), s.tok)
	if run["status"] != "success" {
		t.Fatalf("run: %v\nworker:\n%s", run, wout.String())
	}
	got := map[string]float64{}
	for _, x := range run["sources"].([]any) {
		sr := x.(map[string]any)
		got[sr["source"].(string)] = sr["rows"].(float64)
	}
	if fmt.Sprint(got) != "map[daily:3 other:2 sales:50]" {
		t.Errorf("rows by source: %v", got)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, ".dango", "spool", "*")); len(files) > 0 {
		t.Errorf("downloaded copies left behind: %v", files)
	}
	s.stop()
	if got := scalar(t, dir, "SELECT count(*) FROM raw_sales.sales"); got != "50" {
		t.Errorf("rows in the server's warehouse: %s", got)
	}
}

// TestServeKilledMidLoad: kill -9 dango serve while a load is being written; on restart the
// warehouse holds no partial load, and the queued job completes (JetStream redelivers it).
func TestServeKilledMidLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 2M-row file")
	}
	dir := newProject(t, "version: 1\nsources:\n  - name: big\n    type: csv\n    write_disposition: replace\n    csv: {path: data/big.csv}\n")
	writeFile(t, dir, "data/big.csv", csvRows(2_000_000))
	s := startServe(t, dir, "--workers", "1")
	_, m := s.do(t, "POST", "/api/v1/sync", s.tok, []byte(`{}`), nil)
	if m["run_id"] == nil {
		t.Fatalf("POST sync: %v", m)
	}
	runID := m["run_id"].(string)
	// Kill once the writer is inside the load (its WAL grows), before it commits.
	wal := dir + "/data/warehouse.duckdb.wal"
	deadline := time.Now().Add(30 * time.Second)
	for {
		if st, err := os.Stat(wal); err == nil && st.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the load never started:\n%s", s.out.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	// No partial load is visible after the crash.
	if got := scalar(t, dir, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw_big' AND table_name = 'big'"); got != "0" {
		if rows := scalar(t, dir, "SELECT count(*) FROM raw_big.big"); rows != "2000000" {
			t.Fatalf("after kill -9 the warehouse holds %s rows of a 2,000,000-row load", rows)
		}
		t.Log("killed after the commit")
	} else {
		t.Log("killed before the commit: nothing visible")
	}
	// Restarted, the server finishes the queued job.
	s2 := startServe(t, dir, "--workers", "1")
	deadline = time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s2.api + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "dango_queue_depth 0") && strings.Contains(string(b), "dango_batches_pending 0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queued job did not complete after the restart:\n%s", s2.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The run's record survived the crash and follows its load to the end.
	if run := s2.waitRun(t, runID, s2.tok); run["status"] != "success" || run["sources"].([]any)[0].(map[string]any)["rows"].(float64) != 2_000_000 {
		t.Errorf("the run after the restart: %v", run)
	}
	s2.stop()
	if got := scalar(t, dir, "SELECT count(*) || '/' || count(DISTINCT order_id) || '/' || count(DISTINCT _dlt_load_id) FROM raw_big.big"); got != "2000000/2000000/1" {
		t.Errorf("after the restart: %s rows/distinct ids/loads", got)
	}
}

// TestServeChainAndTriggers: upstream systems publish dango.trigger.sync.<source>; the sync
// changes the raw schema, so staging models are generated (auto_generate) and the models
// downstream run (auto_run); triggers within the debounce window share one run; dango events
// shows every step.
func TestServeChainAndTriggers(t *testing.T) {
	dir := newProject(t, serveSources)
	writeFile(t, dir, "data/sales.csv", csvRows(30))
	writeFile(t, dir, "data/other.csv", "a\n1\n2\n")
	writeFile(t, dir, ".dango/project.yml", "auto_generate: true\nauto_run: true\n")
	writeFile(t, dir, "dbt/models/marts/totals.sql", "select (select count(*) from {{ ref('stg_sales') }}) as sales, (select count(*) from {{ ref('stg_other') }}) as other\n")
	s := startServe(t, dir, "--workers", "2", "--debounce", "500ms")

	ev := exec.Command(dangoBin, "events", "--nats", s.nats)
	ev.Dir = dir
	var evOut bytes.Buffer
	ev.Stdout, ev.Stderr = &evOut, &evOut
	if err := ev.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ev.Process.Signal(syscall.SIGTERM); ev.Wait() }()
	time.Sleep(300 * time.Millisecond) // let it subscribe

	trig := natsAuth(t, dir)[events.RoleTrigger]
	nc, err := nats.Connect(s.nats, nats.UserInfo(trig.User, trig.Password))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var ids []string
	for _, src := range []string{"sales", "other"} {
		reply, err := nc.Request("dango.trigger.sync."+src, []byte(`{}`), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]string
		json.Unmarshal(reply.Data, &m)
		if m["run_id"] == "" {
			t.Fatalf("trigger %s: %s", src, reply.Data)
		}
		ids = append(ids, m["run_id"])
	}
	if reply, err := nc.Request("dango.trigger.sync.nope", nil, 5*time.Second); err != nil || !strings.Contains(string(reply.Data), `unknown source \"nope\"`) {
		t.Errorf("trigger of an unknown source: %v %s", err, reply.Data)
	}
	for _, id := range ids {
		if run := s.waitRun(t, id, s.tok); run["status"] != "success" || run["trigger"] != "nats" {
			t.Fatalf("triggered run: %v", run)
		}
	}
	// One auto_run for both syncs.
	var autoRuns []map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for len(autoRuns) == 0 || autoRuns[0]["status"] == "queued" || autoRuns[0]["status"] == "running" {
		if time.Now().After(deadline) {
			t.Fatalf("no auto_run finished:\n%s", s.out.String())
		}
		time.Sleep(100 * time.Millisecond)
		autoRuns = nil
		_, list := s.do(t, "GET", "/api/v1/runs", s.tok, nil, nil)
		for _, id := range list["runs"].([]any) {
			_, r := s.do(t, "GET", "/api/v1/runs/"+id.(string), s.tok, nil, nil)
			if r["trigger"] == "auto_run" {
				autoRuns = append(autoRuns, r)
			}
		}
	}
	time.Sleep(time.Second) // a second auto_run would have started by now
	_, list := s.do(t, "GET", "/api/v1/runs", s.tok, nil, nil)
	if n := len(list["runs"].([]any)); n != 3 || autoRuns[0]["status"] != "success" {
		t.Fatalf("%d runs (want 2 syncs and 1 auto_run): %v", n, autoRuns)
	}
	for _, want := range []string{"sync.completed", "generate.completed", "run.started", "run.completed"} {
		if !strings.Contains(evOut.String(), want) {
			t.Errorf("dango events shows no %s:\n%s", want, evOut.String())
		}
	}
	s.stop()
	if got := scalar(t, dir, "SELECT sales || '/' || other FROM marts.totals"); got != "30/2" {
		t.Errorf("totals = %s (auto_run: %v)", got, autoRuns[0])
	}
}

// TestServeSchedules: a schedule firing every second on a source whose sync takes longer:
// its runs never overlap, and the ticks missed meanwhile become one run each time.
func TestServeSchedules(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(1500 * time.Millisecond)
		w.Write([]byte(`{"data": [{"id": 1}]}`))
	}))
	defer api.Close()
	dir := newProject(t, "version: 1\nsources:\n  - name: slow\n    type: rest_api\n    rest_api:\n      base_url: "+api.URL+
		"\n      resources:\n        - {name: items, path: /items, data_selector: data, paginator: none}\n")
	writeFile(t, dir, ".dango/schedules.yml", "schedules:\n  - name: often\n    cron: \"@every 1s\"\n    sources: [slow]\n")
	s := startServe(t, dir, "--workers", "2")
	time.Sleep(5500 * time.Millisecond)
	_, list := s.do(t, "GET", "/api/v1/runs", s.tok, nil, nil)
	type span struct{ from, to time.Time }
	var spans []span
	for _, id := range list["runs"].([]any) {
		_, r := s.do(t, "GET", "/api/v1/runs/"+id.(string), s.tok, nil, nil)
		if r["trigger"] != "schedule:often" {
			t.Errorf("run %v", r)
		}
		from, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(r["started_at"]))
		to, err := time.Parse(time.RFC3339Nano, fmt.Sprint(r["finished_at"]))
		if err != nil {
			to = time.Now().Add(time.Hour) // still running
		}
		spans = append(spans, span{from, to})
	}
	// About 6 s of ticks every second, 1.5 s per run: one run at a time, each misfire joined
	// to the next run: at most 4 (every tick running would make 6, overlapping or queued).
	if len(spans) < 2 || len(spans) > 4 {
		t.Fatalf("%d scheduled runs in ~6 s, want 2-4 (one at a time, misfires coalesced):\n%s", len(spans), s.out.String())
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].from.Before(spans[j].from) })
	for i := 1; i < len(spans); i++ {
		if spans[i].from.Before(spans[i-1].to) {
			t.Errorf("runs %d and %d overlap: %v", i-1, i, spans)
		}
	}
	if !strings.Contains(s.out.String(), "1 schedules") {
		t.Errorf("start line: %s", s.out.String())
	}
}

func TestScheduleErrors(t *testing.T) {
	dir := newProject(t, serveSources)
	for yml, want := range map[string]string{
		"schedules:\n  - name: a\n    cron: \"61 * * * *\"\n    sources: [sales]\n": "schedules[0] (a): cron \"61 * * * *\"",
		"schedules:\n  - name: a\n    cron: hourly\n    sources: [nope]\n":          `unknown source "nope"`,
		"schedules:\n  - name: a\n    sources: [sales]\n":                           "give cron",
		"scheds: []\n": `unknown key "scheds"`,
	} {
		writeFile(t, dir, ".dango/schedules.yml", yml)
		r := dango(t, dir, "serve", "--listen", freePort(t), "--nats-listen", freePort(t))
		if r.code != 2 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, ".dango/schedules.yml") {
			t.Errorf("%q: %+v", yml, r)
		}
	}
}

// TestCLIAsClient: while dango serve runs for a project, dango sync, generate and run go
// through it (the warehouse is the server's) and show the same progress.
func TestCLIAsClient(t *testing.T) {
	dir := newProject(t, serveSources)
	writeFile(t, dir, "data/sales.csv", csvRows(40))
	writeFile(t, dir, "data/other.csv", "a\n1\n")
	writeFile(t, dir, ".dango/project.yml", "api_token_env: API_TOKEN\n")
	writeFile(t, dir, ".env", "API_TOKEN=a-token-for-other-clients\n")
	writeFile(t, dir, "dbt/models/marts/n_sales.sql", "select count(*) as n from {{ ref('stg_sales') }}\n")
	s := startServe(t, dir, "--workers", "2")

	r := dango(t, dir, "sync", "--source", "sales")
	if r.code != 0 || !strings.Contains(r.stdout, "Submitted to dango serve at "+s.api) ||
		!strings.Contains(r.stdout, "✓ Sync complete (40 rows") {
		t.Fatalf("sync through the server: %+v", r)
	}
	if r := dango(t, dir, "sync", "--source", "nope"); r.code != 2 {
		t.Errorf("unknown source through the server: %+v", r)
	}
	r = dango(t, dir, "generate", "--source", "sales")
	if r.code != 0 || !strings.Contains(r.stdout, "Generated by dango serve") {
		t.Fatalf("generate through the server: %+v", r)
	}
	r = dango(t, dir, "run", "--select", "+n_sales")
	if r.code != 0 || !strings.Contains(r.stdout, "Done. 2 selected: 2 OK, 0 errors, 0 skipped") {
		t.Fatalf("run through the server: %+v", r)
	}
	writeFile(t, dir, "dbt/models/marts/broken.sql", "select * from nowhere\n")
	r = dango(t, dir, "run", "--select", "broken")
	if r.code != 1 || !strings.Contains(r.stdout, "Error: broken:") {
		t.Errorf("a failing model through the server: %+v", r)
	}
	if r := dango(t, dir, "test"); r.code != 2 || !strings.Contains(r.stderr, "holds the warehouse") {
		t.Errorf("dango test while the server runs: %+v", r)
	}
	s.stop()
	if _, err := os.Stat(filepath.Join(dir, ".dango", "serve.json")); err == nil {
		t.Error(".dango/serve.json left after the server stopped")
	}
	// Without the server the CLI works on its own again.
	if got := scalar(t, dir, "SELECT n FROM marts.n_sales"); got != "40" {
		t.Errorf("n_sales = %s", got)
	}
}
