package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDiskFullSyncFailsCleanly runs `dango sync` under a file-size limit (bash's ulimit -f,
// RLIMIT_FSIZE: what a full disk looks like to one process, without root), so that the
// warehouse cannot grow enough for the new load. The sync must exit non-zero — not be killed
// by SIGXFSZ — with an error that names the warehouse file and says there is no room, and
// the previous load must stay whole and readable; a load that still fits commits, and the
// next sync without a limit loads everything.
func TestDiskFullSyncFailsCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 600k-row file")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is needed for ulimit -f")
	}
	dir := newProject(t, "version: 1\nsources:\n  - name: big\n    type: csv\n    write_disposition: replace\n    csv: {path: data/big.csv}\n"+
		"  - name: app\n    type: csv\n    write_disposition: append\n    csv: {path: data/app}\n")
	writeFile(t, dir, "data/big.csv", csvRows(20_000))
	writeFile(t, dir, "data/app/0.csv", csvRows(100))
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("first sync: %+v", r)
	}
	writeFile(t, dir, "data/big.csv", csvRows(600_000))
	wh := filepath.Join(dir, "data", "warehouse.duckdb")
	limited := func(extraKiB int64, args ...string) result {
		t.Helper()
		st, err := os.Stat(wh)
		if err != nil {
			t.Fatal(err)
		}
		kib := st.Size()/1024 + extraKiB
		cmd := exec.Command("bash", append([]string{"-c", `ulimit -f "$0" && exec "$@"`, strconv.FormatInt(kib, 10), dangoBin}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "NO_COLOR=1")
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		err = cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ee.ExitCode() < 0 || ee.ExitCode() > 128 {
				t.Fatalf("dango was killed (%v) instead of failing:\n%s%s", err, so.String(), se.String())
			}
			return result{so.String(), se.String(), ee.ExitCode()}
		}
		if err != nil {
			t.Fatal(err)
		}
		return result{so.String(), se.String(), 0}
	}
	intact := func(what string) {
		t.Helper()
		if got := scalar(t, dir, "SELECT count(*) || '/' || count(DISTINCT _dlt_load_id) FROM raw_big.big"); got != "20000/1" {
			t.Fatalf("%s: raw_big.big holds %s rows/loads, want the previous load's 20000/1", what, got)
		}
		if got := scalar(t, dir, "SELECT count(*) FROM raw_big._dlt_loads"); got != "1" {
			t.Fatalf("%s: raw_big._dlt_loads records %s loads, want 1", what, got)
		}
	}
	for _, extra := range []int64{0, 64, 1024, 4096} {
		t.Run("limit +"+strconv.FormatInt(extra, 10)+"KiB", func(t *testing.T) {
			r := limited(extra, "sync", "--source", "big")
			out := r.stdout + r.stderr
			if r.code == 0 {
				t.Fatalf("the sync succeeded under the limit:\n%s", out)
			}
			low := strings.ToLower(out)
			if !strings.Contains(out, "warehouse.duckdb") || !strings.Contains(low, "file too large") || !strings.Contains(low, "no space left for it") {
				t.Errorf("the error does not name the warehouse file and say there is no room:\n%s", out)
			}
			if strings.Contains(low, "panic") || strings.Contains(out, "goroutine ") {
				t.Errorf("a panic reached the user:\n%s", out)
			}
			intact("after the failed sync")
		})
	}
	// A small append still fits (DuckDB commits it to the WAL); readers see it whole.
	writeFile(t, dir, "data/app/1.csv", csvRows(100))
	if r := limited(0, "sync", "--source", "app"); r.code != 0 {
		t.Errorf("a 100-row append under the limit: %+v", r)
	}
	if got := scalar(t, dir, "SELECT count(*) || '/' || count(DISTINCT _dlt_load_id) FROM raw_app.app"); got != "200/2" {
		t.Errorf("raw_app.app holds %s rows/loads, want 200/2", got)
	}
	intact("after the append")
	// Room again: the next sync loads the new file.
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("sync with room again: %+v", r)
	}
	if got := scalar(t, dir, "SELECT count(*) || '/' || count(DISTINCT _dlt_load_id) FROM raw_big.big"); got != "600000/1" {
		t.Errorf("after the sync with room: raw_big.big %s rows/loads, want 600000/1", got)
	}
}
