package config

import "fmt"

// Error is a problem in a user's file, located by file and line so that the one-line message
// tells the user exactly where to look.
type Error struct {
	File string // path as the user would type it, relative to the project root when possible
	Line int    // 1-based; 0 when unknown
	Msg  string
	Err  error // underlying cause, if any
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

func errorf(file string, line int, format string, args ...any) *Error {
	return &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
}
