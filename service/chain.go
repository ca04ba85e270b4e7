package service

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/events"
	"github.com/dangohq/dango/staging"
)

// TriggerPrefix is where upstream systems publish to queue a sync: dango.trigger.sync.<source>
// with the sync's options as JSON (or nothing). A request-reply gets {"run_id"} back.
const TriggerPrefix = "dango.trigger.sync."

// listenTriggers subscribes to upstream triggers.
func (s *Service) listenTriggers() error {
	sub, err := s.Node.Bus.NC.Subscribe(TriggerPrefix+"*", func(m *nats.Msg) {
		source := strings.TrimPrefix(m.Subject, TriggerPrefix)
		var req SyncRequest
		if len(strings.TrimSpace(string(m.Data))) > 0 {
			dec := json.NewDecoder(strings.NewReader(string(m.Data)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				s.reply(m, nil, fmt.Errorf("bad options: %w", err))
				return
			}
		}
		req.Sources = []string{source}
		run, err := s.SubmitSync(req, "nats")
		s.reply(m, run, err)
	})
	if err != nil {
		return fmt.Errorf("subscribe to %s*: %w", TriggerPrefix, err)
	}
	s.subs = append(s.subs, sub)
	return nil
}

func (s *Service) reply(m *nats.Msg, run *Run, err error) {
	if err != nil {
		s.Log.Warn().Err(err).Str("subject", m.Subject).Msg("trigger refused")
	}
	if m.Reply == "" {
		return
	}
	body := map[string]string{}
	if err != nil {
		body["error"] = config.Redact(err.Error())
	} else {
		body["run_id"] = run.ID
	}
	data, _ := json.Marshal(body)
	m.Respond(data)
}

// afterSync is the chain: a sync that changed a raw schema regenerates that source's staging
// models (auto_generate, never overwriting edited ones); with auto_run the models downstream
// of the source run, syncs finishing within the debounce window sharing one run.
func (s *Service) afterSync(source string, schemaChanged bool) {
	if schemaChanged && s.Project.AutoGenerate {
		if _, err := s.Generate(source); err != nil {
			s.Log.Error().Err(err).Str("source", source).Msg("auto_generate failed")
		}
	}
	if !s.Project.AutoRun {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pendingRun == nil {
		s.pendingRun = map[string]bool{}
	}
	s.pendingRun[source] = true
	if s.debounce != nil {
		s.debounce.Stop()
	}
	s.debounce = time.AfterFunc(s.Debounce, s.flushRun)
}

// flushRun starts one run for the sources the debounce window collected.
func (s *Service) flushRun() {
	s.mu.Lock()
	var sel []string
	for src := range s.pendingRun {
		sel = append(sel, "source:"+src+"+")
	}
	s.pendingRun = nil
	s.mu.Unlock()
	if len(sel) == 0 || s.ctx.Err() != nil {
		return
	}
	if _, err := s.SubmitRun(RunRequest{Select: sel}, "auto_run"); err != nil {
		s.Log.Error().Err(err).Msg("auto_run could not start")
	}
}

// Generate brings one source's staging models up to date (edited ones kept), announces it,
// and reports how many files it wrote. A source with no raw tables yet writes nothing.
func (s *Service) Generate(source string) (int, error) {
	s.models.Lock()
	defer s.models.Unlock()
	ctx := s.ctx
	_, outcomes, err := staging.Prepare(ctx, s.Node.Writer.DB(), s.Project, []string{source}, staging.Options{}, false)
	if err != nil || len(outcomes) == 0 {
		return 0, err
	}
	if err := staging.Write(outcomes); err != nil {
		return 0, err
	}
	written := 0
	for _, oc := range outcomes {
		if oc.Writes() {
			written++
		}
	}
	return written, s.Node.Bus.Emit(context.WithoutCancel(ctx), events.Event{Type: events.GenerateCompleted, Source: source,
		Message: fmt.Sprintf("%d staging files written", written)})
}
