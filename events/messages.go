package events

import (
	"time"

	"strconv"

	"github.com/dangohq/dango/batch"
)

// Version of the message formats in this file.
const Version = 1

// Subject prefixes and stream names.
const (
	StreamJobs    = "DANGO_JOBS"
	StreamBatches = "DANGO_BATCHES"
	StreamEvents  = "DANGO_EVENTS"

	jobsPrefix    = "dango.jobs."
	batchesPrefix = "dango.batches."
	eventsPrefix  = "dango.events."
)

// Event types.
const (
	SyncStarted   = "sync.started"
	SyncLog       = "sync.log"
	SyncProgress  = "sync.progress"
	SyncCompleted = "sync.completed"
	SyncFailed    = "sync.failed"

	GenerateCompleted = "generate.completed"
	RunStarted        = "run.started"
	RunCompleted      = "run.completed"
	RunFailed         = "run.failed"
)

// JobSubject is where a source's sync jobs go.
func JobSubject(source string) string { return jobsPrefix + "sync." + source }

// BatchSubject is where a source's batches go.
func BatchSubject(source string) string { return batchesPrefix + source }

// EventSubject is where an event of a type for a source is published.
func EventSubject(typ, source string) string {
	if source == "" {
		return eventsPrefix + typ // events of the whole project (runs of models)
	}
	return eventsPrefix + typ + "." + source
}

// AllEvents matches every event.
const AllEvents = eventsPrefix + ">"

// SyncJob asks a worker to extract one source.
type SyncJob struct {
	V       int         `json:"v"`
	RunID   string      `json:"run_id"`
	LoadID  string      `json:"load_id"`
	Source  string      `json:"source"`
	Queued  time.Time   `json:"queued_at"`
	Options SyncOptions `json:"options"`
	State   batch.State `json:"state"` // the warehouse's memory of the source at dispatch
}

// SyncOptions are the per-run choices a user makes on the command line or in an API call.
type SyncOptions struct {
	Resources   []string `json:"resources,omitempty"`    // only these; empty means all
	FullRefresh bool     `json:"full_refresh,omitempty"` // drop the tables and reset cursors first
	AllowEmpty  bool     `json:"allow_empty,omitempty"`  // let replace/full refresh empty a table
	StartDate   string   `json:"start_date,omitempty"`   // overrides stored cursors and initial values
	Parallel    int      `json:"parallel,omitempty"`     // resources of one source extracted at once (--workers)
}

// BatchMsg carries one batch of a load to the writer, or the marker that ends it: End when the
// connector finished (with the number of batches sent), Abort when it failed.
//
// The writer trusts nothing in it: every field is checked when the message arrives (source and
// schema against sources.yml, names, types, reader options, files; see loader/trust.go and
// batch.Batch.Validate) and a message that fails fails its load.
type BatchMsg struct {
	V      int    `json:"v"`
	RunID  string `json:"run_id"`
	LoadID string `json:"load_id"`
	Source string `json:"source"`
	Schema string `json:"schema"`
	// Attempt is the job's delivery count: a redelivered job restarts its load, and the writer
	// discards what an earlier attempt had applied.
	Attempt int          `json:"attempt"`
	Seq     int          `json:"seq"` // 1-based for data; for End, the count of data batches
	Batch   *batch.Batch `json:"batch,omitempty"`
	End     bool         `json:"end,omitempty"`
	Abort   string       `json:"abort,omitempty"` // the connector's error
	Start   time.Time    `json:"started_at"`      // when the worker began the job
	// With every message: the run's options that change how the writer loads.
	FullRefresh bool `json:"full_refresh,omitempty"`
	AllowEmpty  bool `json:"allow_empty,omitempty"`
	// With End: the resources the job covered, so the writer can replace (or protect) tables
	// of resources that produced no batch at all.
	Resources []batch.Resource `json:"resources,omitempty"`
}

// BatchID is the id recorded with a batch's rows, unique within a schema.
func (m *BatchMsg) BatchID() string {
	return m.LoadID + "/" + strconv.Itoa(m.Attempt) + "/" + strconv.Itoa(m.Seq)
}

// Event is a lifecycle notification.
type Event struct {
	V          int         `json:"v"`
	Type       string      `json:"type"`
	RunID      string      `json:"run_id"`
	Source     string      `json:"source"`
	LoadID     string      `json:"load_id,omitempty"`
	Time       time.Time   `json:"time"`
	Message    string      `json:"message,omitempty"`
	Rows       int64       `json:"rows,omitempty"`
	Bytes      int64       `json:"bytes,omitempty"`
	Tables     []TableRows `json:"tables,omitempty"`
	DurationMS int64       `json:"duration_ms,omitempty"`
	Error      string      `json:"error,omitempty"`
	Worker     string      `json:"worker,omitempty"`
	// SchemaChanged is set on sync.completed when the load added or widened columns.
	SchemaChanged bool `json:"schema_changed,omitempty"`
}

// TableRows is the rows written to one table.
type TableRows struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
}

// Terminal reports whether the event ends a source's sync.
func (e *Event) Terminal() bool { return e.Type == SyncCompleted || e.Type == SyncFailed }
