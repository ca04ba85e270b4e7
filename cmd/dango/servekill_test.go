package main

import (
	"github.com/nats-io/nats.go"

	"github.com/dangohq/dango/events"
	"math/rand/v2"
	"os"

	"strconv"
	"strings"
	"testing"
	"time"
)

// TestServeKilledAtCommitRunEnds kills `dango serve` (SIGKILL) at moments around its
// commit — while the load is written, right after the WAL is folded into the file, right
// after the run starts — restarts it on the same project, and asks the HTTP API for the run:
// it must end (success, or failed saying it was interrupted), never stay "running", and the
// warehouse must hold whole loads only. DANGO_SERVE_KILL_TRIALS sets the number of trials.
func TestServeKilledAtCommitRunEnds(t *testing.T) {
	if testing.Short() {
		t.Skip("kills real servers")
	}
	trials := 8
	if v := os.Getenv("DANGO_SERVE_KILL_TRIALS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("DANGO_SERVE_KILL_TRIALS=%q: want a positive number", v)
		}
		trials = n
	}
	const rows = 300_000
	dir := newProject(t, "version: 1\nsources:\n  - name: big\n    type: csv\n    write_disposition: replace\n    csv: {path: data/big.csv}\n"+
		"  - name: app\n    type: csv\n    write_disposition: append\n    csv: {path: data/app}\n"+
		"  - name: s1\n    type: csv\n    csv: {path: data/s.csv}\n  - name: s2\n    type: csv\n    csv: {path: data/s.csv}\n"+
		"  - name: s3\n    type: csv\n    csv: {path: data/s.csv}\n")
	writeFile(t, dir, "data/s.csv", csvRows(10))
	writeFile(t, dir, "data/big.csv", csvRows(rows))
	writeFile(t, dir, "data/app/0.csv", csvRows(1000))
	wal := dir + "/data/warehouse.duckdb.wal"
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	outcomes := map[string]int{}
	appFiles := 1
	for i := 1; i <= trials; i++ {
		writeFile(t, dir, "data/app/"+strconv.Itoa(i)+".csv", csvRows(1000))
		loadsBefore := "0"
		if i > 1 { // read before serve holds the warehouse
			loadsBefore = scalar(t, dir, "SELECT count(*) FROM raw_big._dlt_loads")
		}
		s := startServe(t, dir, "--workers", "1", "--job-timeout", "3s")
		mode := i % 4
		var writing chan *nats.Msg
		if mode == 3 {
			// Watch the writer's log as an upstream system may (dango-trigger reads events):
			// "Writing to raw_big.big" comes right before the commit.
			writing = make(chan *nats.Msg, 64)
			nc := connectAs(t, s.nats, natsAuth(t, dir)[events.RoleTrigger])
			if _, err := nc.ChanSubscribe(events.EventSubject(events.SyncLog, "big"), writing); err != nil {
				t.Fatal(err)
			}
			nc.Flush()
		}
		code, m := s.do(t, "POST", "/api/v1/sync", s.tok, []byte(`{}`), nil)
		id, _ := m["run_id"].(string)
		if code != 202 || id == "" {
			t.Fatalf("trial %d: POST sync: %d %v", i, code, m)
		}
		// Where to kill: right after the 202 (the run is being dispatched), a random moment
		// of the run, right after the WAL appears (the load is being written), or within
		// 30 ms of the writer starting the commit.
		switch mode {
		case 1:
			time.Sleep(time.Duration(rng.IntN(4000)) * time.Microsecond)
		case 0:
			time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
		case 2:
			deadline := time.Now().Add(30 * time.Second)
			for !fileHasData(wal) && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		case 3:
			timeout := time.After(30 * time.Second)
		wait:
			for {
				select {
				case m := <-writing:
					if strings.Contains(string(m.Data), "Writing to raw_big.big") {
						break wait
					}
				case <-timeout:
					t.Fatalf("trial %d: the writer never announced the commit of raw_big.big", i)
				}
			}
			time.Sleep(time.Duration(rng.IntN(30_000)) * time.Microsecond)
		}
		_, before := s.do(t, "GET", "/api/v1/runs/"+id, s.tok, nil, nil)
		s.cmd.Process.Kill()
		s.cmd.Wait()
		assertWholeLoads(t, dir, i, rows)
		committed := ""
		if scalar(t, dir, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw_big' AND table_name = '_dlt_loads'") != "0" &&
			scalar(t, dir, "SELECT count(*) FROM raw_big._dlt_loads") != loadsBefore {
			committed = " (big committed)"
		}

		s2 := startServe(t, dir, "--workers", "1", "--job-timeout", "3s")
		run := s2.waitRunWithin(t, id, 90*time.Second)
		status, _ := run["status"].(string)
		switch status {
		case "success":
		case "failed", "partial":
			if !strings.Contains(strings.ToLower(stringsOf(run["errors"])), "interrupted") {
				t.Errorf("trial %d: run %s failed without saying it was interrupted: %v", i, id, run)
			}
		default:
			t.Fatalf("trial %d: run %v", i, run)
		}
		outcomes[[]string{"random", "after the 202", "WAL appeared", "commit started"}[mode]+": "+before["status"].(string)+committed+"→"+status]++
		// Whatever happened, the server works on: a new sync succeeds.
		_, m2 := s2.do(t, "POST", "/api/v1/sync", s2.tok, []byte(`{}`), nil)
		id2, _ := m2["run_id"].(string)
		if r := s2.waitRunWithin(t, id2, 90*time.Second); r["status"] != "success" {
			t.Fatalf("trial %d: the next sync after the restart: %v\n%s", i, r, s2.out.String())
		}
		appFiles++
		s2.stop()
		assertWholeLoads(t, dir, i, rows)
		if got := scalar(t, dir, "SELECT count(*) FROM raw_app.app"); got != strconv.Itoa(1000*appFiles) {
			t.Fatalf("trial %d: raw_app.app holds %s rows, want %d (each file once)", i, got, 1000*appFiles)
		}
	}
	t.Logf("%d trials; run status when killed → after the restart: %v", trials, outcomes)
}

func fileHasData(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Size() > 0
}

func stringsOf(v any) string {
	var b strings.Builder
	if l, ok := v.([]any); ok {
		for _, e := range l {
			s, _ := e.(string)
			b.WriteString(s + "\n")
		}
	}
	return b.String()
}

// assertWholeLoads reads the warehouse as a BI tool would: the replace table holds one whole
// load (or none yet), the append table whole files, and every row belongs to a recorded load.
func assertWholeLoads(t *testing.T, dir string, trial, rows int) {
	t.Helper()
	if scalar(t, dir, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw_big' AND table_name = 'big'") == "0" {
		return
	}
	if got := scalar(t, dir, "SELECT count(*) || '/' || count(DISTINCT _dlt_load_id) FROM raw_big.big"); got != strconv.Itoa(rows)+"/1" {
		t.Fatalf("trial %d: raw_big.big holds %s rows/loads, want %d/1", trial, got, rows)
	}
	for _, s := range []string{"big", "app"} {
		if scalar(t, dir, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw_"+s+"' AND table_name = '"+s+"'") == "0" {
			continue
		}
		q := "SELECT count(*) FROM raw_" + s + "." + s + " WHERE _dlt_load_id NOT IN (SELECT load_id FROM raw_" + s + "._dlt_loads WHERE status = 0)"
		if got := scalar(t, dir, q); got != "0" {
			t.Fatalf("trial %d: %s rows of raw_%s belong to no complete load", trial, got, s)
		}
		if got := scalar(t, dir, "SELECT count(*) % 1000 FROM raw_app.app"); s == "app" && got != "0" {
			t.Fatalf("trial %d: raw_app.app holds a partial file", trial)
		}
	}
}
