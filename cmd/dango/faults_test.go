package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startNATS runs the real nats-server binary with JetStream on a free port.
func startNATS(t *testing.T) string {
	t.Helper()
	bin := requireTool(t, "DANGO_NATS_SERVER", "nats-server")
	addr := freePort(t)
	host, port, _ := net.SplitHostPort(addr)
	runNATSServer(t, addr, exec.Command(bin, "-js", "-a", host, "-p", port, "-sd", t.TempDir()))
	return "nats://" + addr
}

// runNATSServer starts cmd, a nats-server listening on addr, stops it when the test ends,
// and waits until it accepts connections.
func runNATSServer(t *testing.T, addr string, cmd *exec.Cmd) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server did not start:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// workerProc is a `dango worker` process that can be killed and started again.
type workerProc struct {
	t    *testing.T
	dir  string
	args []string
	mu   sync.Mutex
	cmd  *exec.Cmd
	out  bytes.Buffer
}

func (w *workerProc) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cmd = exec.Command(dangoBin, append([]string{"worker"}, w.args...)...)
	w.cmd.Dir = w.dir
	w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.out
	if err := w.cmd.Start(); err != nil {
		w.t.Error(err)
	}
}

func (w *workerProc) kill() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cmd.Process.Kill() // SIGKILL: no goodbye, no ack, no nak
	w.cmd.Wait()
}

// TestFaultsWorkersKilled: a real nats-server, dango serve and two dango worker processes;
// 50 REST sources whose pages come slowly; workers are killed with SIGKILL at random moments
// and started again. Every source must end with exactly its rows: none lost, none twice
// (the tables append, so a duplicated batch would show).
func TestFaultsWorkersKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process fault test")
	}
	natsURL := startNATS(t)
	const sources, pages, per = 50, 8, 50
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if p < 1 {
			p = 1
		}
		time.Sleep(15 * time.Millisecond)
		var items []map[string]any
		for i := (p-1)*per + 1; i <= p*per && p <= pages; i++ {
			items = append(items, map[string]any{"id": i, "path": r.URL.Path})
		}
		json.NewEncoder(w).Encode(map[string]any{"data": items})
	}))
	defer api.Close()
	var y strings.Builder
	y.WriteString("version: 1\nsources:\n")
	for i := 0; i < sources; i++ {
		fmt.Fprintf(&y, "  - name: s%02d\n    type: rest_api\n    rest_api:\n      base_url: %s\n      parallel_pages: 1\n      resources:\n        - {name: items, path: /s%02d/items, data_selector: data, paginator: {type: page_number, base_page: 1, total_path: null}}\n", i, api.URL, i)
	}
	dir := newProject(t, y.String())
	s := startServe(t, dir, "--nats", natsURL, "--workers", "0", "--job-timeout", "2s")
	ws := []*workerProc{
		{t: t, dir: dir, args: []string{"--nats", natsURL, "--workers", "2", "--job-timeout", "2s", "--name", "w1"}},
		{t: t, dir: dir, args: []string{"--nats", natsURL, "--workers", "2", "--job-timeout", "2s", "--name", "w2"}},
	}
	for _, w := range ws {
		w.start()
	}
	defer func() {
		for _, w := range ws {
			w.kill()
		}
	}()
	_, m := s.do(t, "POST", "/api/v1/sync", s.tok, []byte(`{}`), nil)
	id, _ := m["run_id"].(string)
	if id == "" {
		t.Fatalf("POST sync: %v", m)
	}
	// Kill workers at random moments while the run goes on.
	stop := make(chan struct{})
	killed := make(chan int, 1)
	go func() {
		n := 0
		defer func() { killed <- n }()
		for n < 4 {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(300+rand.IntN(700)) * time.Millisecond):
			}
			w := ws[rand.IntN(len(ws))]
			w.kill()
			n++
			time.Sleep(100 * time.Millisecond)
			w.start()
		}
	}()
	run := s.waitRunWithin(t, id, 180*time.Second)
	close(stop)
	t.Logf("workers killed with SIGKILL %d times", <-killed)
	if run["status"] != "success" {
		t.Fatalf("run: %v\nserve:\n%s\nw1:\n%s\nw2:\n%s", run, s.out.String(), ws[0].out.String(), ws[1].out.String())
	}
	s.stop()
	var q strings.Builder
	for i := 0; i < sources; i++ {
		if i > 0 {
			q.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&q, "SELECT 's%02d' AS src, count(*) AS n, count(DISTINCT id) AS d FROM raw_s%02d.items", i, i)
	}
	got := scalar(t, dir, "SELECT count(*) FILTER (WHERE n = "+strconv.Itoa(pages*per)+" AND d = n) || '/' || count(*) FROM ("+q.String()+")")
	if got != fmt.Sprintf("%d/%d", sources, sources) {
		rows := dango(t, dir, "query", "--format", "csv", "SELECT * FROM ("+q.String()+") WHERE n <> "+strconv.Itoa(pages*per)+" OR d <> n")
		t.Fatalf("sources with exactly their rows: %s\n%s", got, rows.stdout)
	}
	if _, err := os.Stat(dir + "/.dango/spool"); err == nil {
		if left, _ := os.ReadDir(dir + "/.dango/spool"); len(left) > 0 {
			t.Errorf("%d spool files left: %s", len(left), left[0].Name())
		}
	}
}

func (s *server) waitRunWithin(t *testing.T, id string, d time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		_, m := s.do(t, "GET", "/api/v1/runs/"+id, s.tok, nil, nil)
		switch m["status"] {
		case "success", "partial", "failed":
			return m
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, m := s.do(t, "GET", "/api/v1/runs/"+id, s.tok, nil, nil)
	t.Fatalf("run %s did not finish in %s: %v\n%s", id, d, m, s.out.String())
	return nil
}
