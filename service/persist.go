package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// Interrupted starts the error of every part of a run that a stopped server could not finish.
const Interrupted = "interrupted: dango serve stopped before the run finished"

// recover takes over the runs an earlier server left unfinished. A source whose job reached
// JetStream finishes in this server (JetStream redelivers the job or its batches, and the
// writer announces again the end of a load that was committed or failed before the crash):
// its end is read from the events stream, from the run's start on, so none is missed. Every
// other part fails as interrupted: a source still waiting for its turn, one whose job was
// never queued (the server died between marking it running and publishing its job), and a
// model run, which cannot resume. Nothing is queued again: a job that never reached JetStream
// was never accepted by the bus, and a sync the user did not see finish is theirs to repeat.
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
		waiting := map[string]int{}
		s.update(run, func(r *Run) {
			for i := range r.Sources {
				switch r.Sources[i].Status {
				case Queued:
					r.Sources[i].Status, r.Sources[i].Error = Failed, Interrupted+" (this source's sync was not queued yet); sync it again"
				case Running:
					waiting[r.Sources[i].Source] = i
				}
			}
			if r.Kind == "run" {
				r.Errors = append(r.Errors, Interrupted+" (during the model run); run it again")
			}
		})
		if len(waiting) == 0 {
			s.finishRecovered(run)
			continue
		}
		// Which of them left something in JetStream. The order matters: a job is acked only
		// after its batches are published, and batches only after the load's end event, so
		// looking at jobs, then batches, then (in follow) events misses no sync in flight.
		queued := map[string]bool{}
		for src := range waiting {
			q, err := s.inFlight(ctx, run.ID, src)
			if err != nil {
				return fmt.Errorf("run %s: look for the job of %s: %w", run.ID, src, err)
			}
			queued[src] = q
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.follow(run, waiting, queued)
		}()
	}
	return nil
}

// inFlight reports whether a job or a batch of the run's sync of source is still in
// JetStream (both streams are work queues: what was acknowledged is gone).
func (s *Service) inFlight(ctx context.Context, runID, source string) (bool, error) {
	for _, q := range []struct{ stream, subject string }{
		{events.StreamJobs, events.JobSubject(source)},
		{events.StreamBatches, events.BatchSubject(source)},
	} {
		found, err := s.findMsg(ctx, q.stream, q.subject, runID)
		if err != nil || found {
			return found, err
		}
	}
	return false, nil
}

// findMsg reports whether stream holds a message on subject whose run_id is runID.
func (s *Service) findMsg(ctx context.Context, stream, subject, runID string) (bool, error) {
	st, err := s.Node.Bus.JS.Stream(ctx, stream)
	if err != nil {
		return false, err
	}
	var head struct {
		RunID string `json:"run_id"`
	}
	for seq := uint64(1); ; {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if json.Unmarshal(m.Data, &head) == nil && head.RunID == runID {
			return true, nil
		}
		seq = m.Sequence + 1
	}
}

// follow reads the events stream from the run's start until its waiting sources have ended.
// A source that has nothing in flight (queued false) ends with the events already stored:
// if none of them is its end, it was interrupted.
func (s *Service) follow(r *Run, waiting map[string]int, queued map[string]bool) {
	lost := func() {
		for src, i := range waiting {
			if queued[src] {
				continue
			}
			delete(waiting, src)
			s.update(r, func(r *Run) {
				r.Sources[i].Status, r.Sources[i].Error = Failed, Interrupted+" (its job was never queued); sync it again"
			})
		}
	}
	cons, err := s.Node.Bus.JS.OrderedConsumer(s.ctx, events.StreamEvents, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.EventSubject(events.SyncCompleted, "*"), events.EventSubject(events.SyncFailed, "*")},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy, OptStartTime: &r.Queued})
	var info *jetstream.ConsumerInfo
	if err == nil {
		info, err = cons.Info(s.ctx)
	}
	if err != nil {
		if s.ctx.Err() != nil {
			return // stopping: the next server recovers the run
		}
		s.Log.Error().Err(err).Str("run", r.ID).Msg("cannot follow a recovered run")
		s.update(r, func(r *Run) {
			for _, i := range waiting {
				r.Sources[i].Status, r.Sources[i].Error = Failed, Interrupted+"; its end could not be read ("+err.Error()+"): sync it again"
			}
		})
		s.finishRecovered(r)
		return
	}
	if info.NumPending == 0 {
		lost()
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
		caughtUp := false
		if md, err := m.Metadata(); err == nil && md.NumPending == 0 {
			caughtUp = true // every event stored when the server started has been read
		}
		var e events.Event
		if json.Unmarshal(m.Data(), &e) == nil && e.RunID == r.ID {
			if i, ok := waiting[e.Source]; ok {
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
		}
		if caughtUp {
			lost()
		}
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
