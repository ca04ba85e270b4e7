// Package dbtcompat is the differential suite for dbt packages: it runs the integration-test
// projects of public dbt packages (dbt-utils, dbt-date, dbt-expectations; see corpus.tsv)
// under real dbt-core with dbt-duckdb and under dango, the same command lines on fresh copies
// of the same files, and compares what each produced.
//
// Real dbt is the oracle, run in the same test run (nothing is recorded): where dbt itself
// errors on DuckDB, dango must report the same status for that node. The comparison covers
// the node set (`ls --output json`), the compiled SQL of every node (target/compiled,
// whitespace-normalised), node statuses (run_results.json of `seed` and `build`), and the
// warehouse: its relations, their kinds, column names and DuckDB types, and row contents.
//
// A difference passes only when a row of docs/dbt-differences.md (ParseDifferences) allows
// it with the reason; a row that no longer matches anything fails too, so the list stays
// true. The suite is behind DANGO_DBT_SUITE=1 (`make test-dbt`) until dango's engine runs
// these projects; compat/dbt/STATUS.md (written by `-update-status`) says what fails today.
package dbtcompat
