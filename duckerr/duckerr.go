// Package duckerr tidies DuckDB's error messages for users.
package duckerr

import (
	"errors"
	"fmt"
	"strings"
)

// Clean keeps DuckDB's message but drops the echo of the SQL statement that follows it
// ("LINE 1: INSERT INTO …"), which shows the query dango generated rather than anything the
// user wrote. A write that failed for lack of space (ENOSPC) or past the file-size limit
// (EFBIG, ulimit -f) — DuckDB names the file — gets a hint on what to do. nil stays nil.
func Clean(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if i := strings.Index(msg, "\n\nLINE "); i > 0 {
		err = errors.New(strings.TrimSpace(msg[:i]))
	}
	if NoSpace(err) {
		err = fmt.Errorf("%w (no space left for it: the disk is full or the file-size limit, ulimit -f, is reached; "+
			"free space or raise the limit and try again — what was already committed is intact)", err)
	}
	return err
}

// NoSpace reports a write that failed because the disk is full or a file grew past its limit.
func NoSpace(err error) bool {
	m := strings.ToLower(err.Error())
	return strings.Contains(m, "no space left on device") || strings.Contains(m, "file too large") || strings.Contains(m, "disk quota exceeded")
}
