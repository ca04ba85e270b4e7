// Package warehouse is the single writer of a project's DuckDB file.
//
// Every source load is one DuckDB transaction on its own connection: the data tables, the
// batch ids it applied (_dango_batches) and its _dlt_loads row commit together, so a load is
// visible whole or not at all and a redelivered batch is recognised and dropped. Loads of
// different sources run concurrently on separate connections of the one database.
//
// The package knows nothing of NATS or connectors: it applies batch.Batch values.
package warehouse
