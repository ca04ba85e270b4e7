package service

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/events"
)

// runsBucket keeps every run's record in JetStream, so GET /api/v1/runs/{id} answers across
// a server's restarts; records expire after a week.
const runsBucket = "dango_runs"

func (s *Service) openRuns(ctx context.Context) error {
	kv, err := s.Node.Bus.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: runsBucket, TTL: 7 * 24 * time.Hour,
		Description: "dango serve's runs"})
	if err != nil {
		return err
	}
	s.kv = kv
	return nil
}

// save writes a run's record; the caller holds s.mu. Every change of a record passes here,
// so its errors are redacted here, for the API as for the stored copy.
func (s *Service) save(r *Run) {
	redactRun(r)
	if s.kv == nil {
		return
	}
	data, err := json.Marshal(r)
	if err == nil {
		_, err = s.kv.Put(context.Background(), r.ID, data)
	}
	if err != nil {
		s.Log.Warn().Err(err).Str("run", r.ID).Msg("could not save the run's record")
	}
}

// load reads a run's record from the bucket (a run of an earlier server).
func (s *Service) load(id string) (Run, bool) {
	if s.kv == nil {
		return Run{}, false
	}
	e, err := s.kv.Get(context.Background(), id)
	if err != nil {
		return Run{}, false
	}
	var r Run
	if json.Unmarshal(e.Value(), &r) != nil {
		return Run{}, false
	}
	return r, true
}

// recover takes over the runs an earlier server left unfinished. A source whose job was
// queued finishes in this server (JetStream redelivers the job or its batches): its end is
// read from the events stream, from the run's start on, so none is missed. A source that was
// still waiting for its turn never got a job, and a model run cannot resume: those fail.
func (s *Service) recover(ctx context.Context) error {
	if s.kv == nil {
		return nil
	}
	keys, err := s.kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, id := range keys {
		r, ok := s.load(id)
		if !ok || r.Finished != nil {
			continue
		}
		run := &r
		s.add(run)
		const stopped = "the server stopped before this source's sync was queued"
		waiting := map[string]int{}
		s.update(run, func(r *Run) {
			for i := range r.Sources {
				switch r.Sources[i].Status {
				case Queued:
					r.Sources[i].Status, r.Sources[i].Error = Failed, stopped
				case Running:
					waiting[r.Sources[i].Source] = i
				}
			}
			if r.Kind == "run" {
				r.Errors = append(r.Errors, "the server stopped during the model run")
			}
		})
		if len(waiting) == 0 {
			s.finishRecovered(run)
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.follow(run, waiting)
		}()
	}
	return nil
}

// follow reads the events stream from the run's start until its waiting sources have ended.
func (s *Service) follow(r *Run, waiting map[string]int) {
	cons, err := s.Node.Bus.JS.OrderedConsumer(s.ctx, events.StreamEvents, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.EventSubject(events.SyncCompleted, "*"), events.EventSubject(events.SyncFailed, "*")},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy, OptStartTime: &r.Queued})
	if err != nil {
		s.Log.Error().Err(err).Str("run", r.ID).Msg("cannot follow a recovered run")
		return
	}
	it, err := cons.Messages()
	if err != nil {
		return
	}
	stop := context.AfterFunc(s.ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for len(waiting) > 0 {
		m, err := it.Next()
		if err != nil {
			return
		}
		var e events.Event
		if json.Unmarshal(m.Data(), &e) != nil || e.RunID != r.ID {
			continue
		}
		i, ok := waiting[e.Source]
		if !ok {
			continue
		}
		delete(waiting, e.Source)
		s.update(r, func(r *Run) {
			sr := &r.Sources[i]
			sr.Rows, sr.DurationMS = e.Rows, e.DurationMS
			if e.Type == events.SyncCompleted {
				sr.Status = Success
			} else {
				sr.Status, sr.Error = Failed, e.Error
			}
		})
	}
	s.finishRecovered(r)
}

func (s *Service) finishRecovered(r *Run) {
	ok, bad := s.tally(r)
	if r.Kind == "run" {
		bad++ // an interrupted model run
	}
	s.finish(r, ok, bad)
}

// redactRun removes secrets from a run's error texts (they come from connectors, drivers and
// dbt, which may quote credentials).
func redactRun(r *Run) {
	for i := range r.Errors {
		r.Errors[i] = config.Redact(r.Errors[i])
	}
	for i := range r.Sources {
		r.Sources[i].Error = config.Redact(r.Sources[i].Error)
	}
}
