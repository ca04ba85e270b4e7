package main

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestKillTrialsReadersSeeWholeLoads kills `dango sync` with SIGKILL at random moments while
// it replaces and appends, and reads the warehouse right after each crash, before anything
// repairs it: every replace table holds exactly one whole load, every append table whole loads
// only, and no row names a load that _dlt_loads does not record. DANGO_KILL_TRIALS sets the
// number of trials (make test runs a few, make soak 200).
func TestKillTrialsReadersSeeWholeLoads(t *testing.T) {
	if testing.Short() {
		t.Skip("kills real syncs")
	}
	trials := 4
	if v := os.Getenv("DANGO_KILL_TRIALS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("DANGO_KILL_TRIALS=%q: want a positive number", v)
		}
		trials = n
	}
	const rows = 200_000
	dir := newProject(t, `version: 1
sources:
  - name: rep
    type: csv
    write_disposition: replace
    csv: {path: data/rep.csv}
  - name: rep2
    type: csv
    write_disposition: replace
    csv: {path: data/rep2.csv}
  - name: app
    type: csv
    write_disposition: append
    csv: {path: data/app}
`)
	writeFile(t, dir, "data/rep.csv", csvRows(rows))
	writeFile(t, dir, "data/rep2.csv", csvRows(rows/2))
	writeFile(t, dir, "data/app/0.csv", csvRows(1000))
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("first sync: %+v", r)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	completed := 0
	for i := 1; i <= trials; i++ {
		// A new file for the append source each time, so every sync writes all three.
		writeFile(t, dir, "data/app/"+strconv.Itoa(i)+".csv", csvRows(1000))
		cmd := exec.Command(dangoBin, "sync", "--workers", "3")
		cmd.Dir = dir
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.IntN(450)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		if err := cmd.Wait(); err == nil {
			completed++
		}
		// Read at once, as a BI tool or `dango query` right after the crash would.
		for table, want := range map[string]string{"raw_rep.rep": strconv.Itoa(rows), "raw_rep2.rep2": strconv.Itoa(rows / 2)} {
			if got := scalar(t, dir, "SELECT count(*) FROM "+table); got != want {
				t.Fatalf("trial %d: %s has %s rows right after the kill, want %s", i, table, got, want)
			}
			if got := scalar(t, dir, "SELECT count(DISTINCT _dlt_load_id) FROM "+table); got != "1" {
				t.Fatalf("trial %d: %s holds rows of %s loads, want 1", i, table, got)
			}
		}
		for _, s := range []string{"rep", "rep2", "app"} {
			q := "SELECT count(*) FROM raw_" + s + "." + s + " WHERE _dlt_load_id NOT IN (SELECT load_id FROM raw_" + s + "._dlt_loads)"
			if got := scalar(t, dir, q); got != "0" {
				t.Fatalf("trial %d: %s rows of raw_%s belong to no recorded load", i, got, s)
			}
		}
		if got := scalar(t, dir, "SELECT (SELECT count(*) FROM raw_app.app) % 1000"); got != "0" {
			t.Fatalf("trial %d: raw_app.app holds a partial file (%s rows over a multiple of 1000)", i, got)
		}
	}
	t.Logf("%d kill trials, %d syncs finished before their kill", trials, completed)
	// The next sync repairs nothing because nothing is broken, and loads what is new.
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("sync after the trials: %+v", r)
	}
}
