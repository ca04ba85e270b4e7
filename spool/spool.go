// Package spool names the temporary files dango writes under .dango/spool (API pages,
// database rows, files shipped by remote workers) after the process that owns them, so a
// process that starts later can remove what a crashed one left behind without touching the
// files of processes still running.
package spool

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Dir is a project's spool folder.
func Dir(projectRoot string) string { return filepath.Join(projectRoot, ".dango", "spool") }

// Create makes a new file in dir named <kind>-<pid>-<random><ext>.
func Create(dir, kind, ext string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return os.CreateTemp(dir, fmt.Sprintf("%s-%d-*%s", kind, os.Getpid(), ext))
}

// Sweep removes the files in dir whose owning process is gone, and reports how many.
func Sweep(dir string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		parts := strings.SplitN(e.Name(), "-", 3)
		if len(parts) < 3 {
			continue
		}
		pid, err := strconv.Atoi(parts[1])
		if err != nil || pid <= 0 || alive(pid) {
			continue
		}
		if os.Remove(filepath.Join(dir, e.Name())) == nil {
			n++
		}
	}
	return n
}

// alive reports whether a process exists (signal 0 checks without sending anything).
func alive(pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
