package service

import (
	"errors"
	"strings"
	"time"

	"github.com/dangohq/dango/events"
	"github.com/dangohq/dango/transform"
)

// loadModels parses the dbt project and resolves a selection.
func (s *Service) loadModels(req RunRequest) (*transform.Selected, error) {
	sel, err := transform.Open(s.Project.DBTDir, transform.LoadOptions{RootDir: s.Project.Root}, req.Select, req.Exclude, nil)
	if err != nil {
		return nil, err
	}
	sel.E.FullRefresh = req.FullRefresh
	return sel, nil
}

// runModels builds the selected models on the writer's database, one model run at a time,
// and writes target/run_results.json as `dango run` does.
func (s *Service) runModels(r *Run, req RunRequest) error {
	s.models.Lock()
	defer s.models.Unlock()
	now := time.Now().UTC()
	s.update(r, func(r *Run) {
		if r.Started == nil {
			r.Started, r.Status = &now, Running
		}
	})
	p, err := s.loadModels(req)
	if err != nil {
		return err
	}
	s.Node.Bus.Emit(s.ctx, events.Event{Type: events.RunStarted, RunID: r.ID, Message: strings.Join(req.Select, " ")})
	ids := p.Executable("run")
	res := &ModelResults{Selected: len(ids)}
	s.update(r, func(r *Run) { r.Models = res })
	if len(ids) == 0 {
		return nil
	}
	threads := req.Threads
	if threads < 1 {
		threads = 4
	}
	runner := &transform.Runner{E: p.E, G: p.G, DB: s.Node.Writer.DB(), Threads: threads, FailFast: req.FailFast}
	results, runErr := runner.Run(s.ctx, ids)
	if err := p.E.WriteRunResults(results, time.Since(now), "run"); err != nil {
		return err
	}
	var firstErr string
	s.update(r, func(r *Run) {
		for _, x := range results {
			switch x.Status {
			case transform.StatusSuccess:
				r.Models.Success++
			case transform.StatusSkipped:
				r.Models.Skipped++
			default:
				r.Models.Error++
				if firstErr == "" {
					firstErr = x.Node.Name + ": " + x.Message
				}
			}
		}
	})
	s.metrics.models(len(results))
	if runErr != nil {
		return runErr
	}
	if firstErr != "" {
		return errors.New(firstErr)
	}
	return nil
}
