// Package events is dango's message layer on NATS JetStream: the subject tree, the versioned
// JSON message types, stream setup, and the embedded server.
//
// Subjects (all under "dango."):
//
//	dango.jobs.sync.<source>              SyncJob   work queue: one job per source per run
//	dango.batches.<source>                BatchMsg  work queue: data, end and abort markers, to the writer
//	dango.events.sync.started.<source>    Event     a worker began extracting
//	dango.events.sync.log.<source>        Event     a step for the user ("Reading CSV: …")
//	dango.events.sync.progress.<source>   Event     rows/bytes so far
//	dango.events.sync.completed.<source>  Event     the load committed (rows, tables, duration)
//	dango.events.sync.failed.<source>     Event     the load failed and was rolled back (error)
//
//	dango.trigger.sync.<source>           (core)    an upstream system asks serve to queue a sync
//
// Who may do what (auth.go): the bus has three identities — serve (everything: it alone sets
// up streams, buckets and the workers' consumer), worker (pull/ack jobs, publish batches and
// events, put spool files) and trigger (publish dango.trigger.>, read dango.events.>). The
// embedded server enforces them whenever it listens (users generated into a 0600 file at first
// start); deploy/nats/auth.conf is the same for an external cluster. Each identity receives
// replies on its own inbox prefix, so none can read another's JetStream traffic.
//
// Every message carries "v": 1. Consumers ignore unknown fields, so fields may be added
// without a version change; removing or changing one bumps v.
package events
