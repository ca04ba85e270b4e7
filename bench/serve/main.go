// Command serve benchmarks dango as a service: 1,000 small sources synced through `dango
// serve --workers 4` (HTTP request to the run's end) against the same sources in one embedded
// `dango sync --workers 4` (whole process), same run; target ratio ≤ 1.5. It also measures the
// latency from a signed webhook request to its job starting on a worker (p50, p99).
//
//	go run ./bench/serve -dango bin/dango
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dangohq/dango/events"
	"github.com/dangohq/dango/service"
)

func main() {
	dangoBin := flag.String("dango", "bin/dango", "dango binary")
	n := flag.Int("sources", 1000, "sources")
	hooks := flag.Int("hooks", 200, "webhook requests for the latency figures")
	work := flag.String("work", "bench/work", "scratch folder")
	out := flag.String("out", "bench/out/serve.json", "results file")
	flag.Parse()
	bin, _ := filepath.Abs(*dangoBin)
	dir, _ := filepath.Abs(filepath.Join(*work, "serve"))
	os.RemoveAll(dir)
	check(exec.Command(bin, "init", dir).Run())
	var y strings.Builder
	y.WriteString("version: 1\nsources:\n")
	for i := 0; i < *n; i++ {
		fmt.Fprintf(&y, "  - name: s%04d\n    type: csv\n    write_disposition: replace\n    csv: {path: data/s%04d.csv}\n", i, i)
		var c strings.Builder
		c.WriteString("id,name,amount\n")
		for r := 1; r <= 20; r++ {
			fmt.Fprintf(&c, "%d,n%d,%d.5\n", r, r, r)
		}
		check(os.WriteFile(filepath.Join(dir, "data", fmt.Sprintf("s%04d.csv", i)), []byte(c.String()), 0o644))
	}
	check(os.WriteFile(filepath.Join(dir, ".dango", "sources.yml"), []byte(y.String()), 0o644))
	check(os.WriteFile(filepath.Join(dir, ".dango", "project.yml"), []byte("webhooks:\n  - {name: one, secret_env: HOOK_SECRET, sync: [s0000]}\n"), 0o644))
	check(os.WriteFile(filepath.Join(dir, ".env"), []byte("HOOK_SECRET=bench-secret\n"), 0o600))

	// Embedded: one process does it all.
	start := time.Now()
	cmd := exec.Command(bin, "sync", "--workers", "4")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		fail(fmt.Errorf("dango sync: %v\n%s", err, tail(b)))
	}
	embedded := time.Since(start).Seconds()
	fmt.Printf("%d sources, embedded dango sync --workers 4: %.2fs\n", *n, embedded)

	// Service: the same through HTTP.
	httpAddr, natsAddr := freeAddr(), freeAddr()
	srv := exec.Command(bin, "serve", "--workers", "4", "--listen", httpAddr, "--nats-listen", natsAddr)
	srv.Dir = dir
	pr, pw := io.Pipe()
	srv.Stdout, srv.Stderr = pw, pw
	check(srv.Start())
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := false
		for sc.Scan() {
			if !once && strings.HasPrefix(sc.Text(), "dango serve: API on") {
				once = true
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		fail(fmt.Errorf("dango serve did not start"))
	}
	api := "http://" + httpAddr
	start = time.Now()
	id := post(api+"/api/v1/sync", []byte(`{}`), nil)
	status := waitRun(api, id)
	served := time.Since(start).Seconds()
	if status != "success" {
		fail(fmt.Errorf("served run ended %s", status))
	}
	ratio := served / embedded
	fmt.Printf("%d sources through dango serve --workers 4:  %.2fs  ratio %.2f (target ≤ 1.5)\n", *n, served, ratio)

	// Webhook → job start: the time from sending a signed request to the worker's sync.started.
	nc, err := nats.Connect("nats://" + natsAddr)
	check(err)
	defer nc.Close()
	started := make(chan events.Event, 64)
	sub, err := nc.Subscribe(events.EventSubject(events.SyncStarted, "s0000"), func(m *nats.Msg) {
		var e events.Event
		if json.Unmarshal(m.Data, &e) == nil {
			started <- e
		}
	})
	check(err)
	defer sub.Unsubscribe()
	nc.Flush()
	var lat []float64
	for i := 0; i < *hooks; i++ {
		body := []byte(fmt.Sprintf(`{"n": %d}`, i))
		ts := time.Now().Unix()
		hdr := map[string]string{service.HeaderTimestamp: strconv.FormatInt(ts, 10), service.HeaderSignature: service.Sign([]byte("bench-secret"), ts, body)}
		sent := time.Now()
		id := post(api+"/hooks/one", body, hdr)
		for e := range started {
			if e.RunID == id {
				lat = append(lat, float64(time.Since(sent).Microseconds())/1000)
				break
			}
		}
		waitRun(api, id)
	}
	sort.Float64s(lat)
	p50, p99 := lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
	fmt.Printf("webhook → job start over %d requests: p50 %.1f ms, p99 %.1f ms\n", len(lat), p50, p99)
	check(os.MkdirAll(filepath.Dir(*out), 0o755))
	data, _ := json.MarshalIndent(map[string]any{"sources": *n, "embedded_s": embedded, "served_s": served, "ratio": ratio,
		"webhook_to_start_p50_ms": p50, "webhook_to_start_p99_ms": p99}, "", "  ")
	check(os.WriteFile(*out, data, 0o644))
	if ratio > 1.5 {
		fmt.Println("TARGET MISSED")
		os.Exit(1)
	}
	fmt.Println("target met")
}

func post(url string, body []byte, hdr map[string]string) string {
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	check(err)
	defer resp.Body.Close()
	var m map[string]string
	json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode != http.StatusAccepted {
		fail(fmt.Errorf("POST %s: %d %v", url, resp.StatusCode, m))
	}
	return m["run_id"]
}

func waitRun(api, id string) string {
	for {
		resp, err := http.Get(api + "/api/v1/runs/" + id)
		check(err)
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		switch s, _ := m["status"].(string); s {
		case "success", "partial", "failed":
			return s
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	return l.Addr().String()
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func check(err error) {
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
