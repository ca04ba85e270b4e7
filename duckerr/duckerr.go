// Package duckerr tidies DuckDB's error messages for users.
package duckerr

import (
	"errors"
	"strings"
)

// Clean keeps DuckDB's message but drops the echo of the SQL statement that follows it
// ("LINE 1: INSERT INTO …"), which shows the query dango generated rather than anything the
// user wrote. nil stays nil.
func Clean(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if i := strings.Index(msg, "\n\nLINE "); i > 0 {
		return errors.New(strings.TrimSpace(msg[:i]))
	}
	return err
}
