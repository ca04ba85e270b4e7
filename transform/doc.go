// Package transform is dango's dbt-compatible engine: it reads a dbt project (dbt_project.yml,
// the dbt-duckdb profile, models, YAML properties, macros, seeds), renders its Jinja with
// gonja, builds the DAG from ref() and source(), resolves dbt's node-selection grammar
// (Selector) and compiles models to the SQL dbt-core would produce — without Python.
//
// Rendering runs in two passes, as dbt's does: a parse pass renders every model with ref()
// recording dependencies and config() recording settings (so each node's final schema and
// alias are known), and a compile pass renders again with every relation resolved. dbt's
// built-in macros (dbt.date_trunc, dbt.hash, type_string …) are dango's own Jinja library,
// embedded and rendered by the same engine, dispatching to duckdb__/default__ variants
// exactly as dbt does; a project's macros override them.
package transform
