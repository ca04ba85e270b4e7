package spool

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestSweepRemovesOnlyFilesOfGoneProcesses(t *testing.T) {
	dir := t.TempDir()
	mine, err := Create(dir, "page", ".jsonl")
	if err != nil {
		t.Fatal(err)
	}
	mine.Close()
	// A process that has exited: its pid is free (or reused by something else, which would
	// only keep the file; the test's own child is certainly gone after Wait).
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no `true` binary")
	}
	dead := filepath.Join(dir, "table-"+strconv.Itoa(cmd.Process.Pid)+"-123.csv")
	other := filepath.Join(dir, "notes.txt")
	for _, f := range []string{dead, other} {
		os.WriteFile(f, []byte("x"), 0o644)
	}
	if n := Sweep(dir); n != 1 {
		t.Errorf("Sweep removed %d files, want 1", n)
	}
	for f, want := range map[string]bool{mine.Name(): true, dead: false, other: true} {
		if _, err := os.Stat(f); (err == nil) != want {
			t.Errorf("%s exists = %v, want %v", filepath.Base(f), err == nil, want)
		}
	}
}
