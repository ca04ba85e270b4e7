// Package dltcompat compares what dlt 1.31 and dango load from the same inputs.
//
// Its tests (the side-by-side suite, `make test` or
// `go test ./compat/dlt -run 'TestSideBySide/<case>' -v`) give each case's input — files, a
// local HTTP API, or tables in PostgreSQL/MariaDB — to a real dlt pipeline (a Python script
// in testdata/pipelines, run with $DANGO_DLT_PYTHON) and to the built dango binary, then
// compare the two DuckDB files with Compare: the tables of the schema, every column's name and
// DuckDB type, row counts and values. A difference passes only when a row of
// docs/dlt-differences.md (read with ParseDifferences) lists it with the reason.
package dltcompat
