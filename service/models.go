package service

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dangohq/dango/events"
	"github.com/dangohq/dango/transform"
)

type modelPlan struct {
	e   *transform.Engine
	g   *transform.Graph
	ids []string
}

// loadModels parses the dbt project and resolves a selection to the models `dango run`
// would build.
func (s *Service) loadModels(req RunRequest) (*modelPlan, error) {
	proj, err := transform.Load(s.Project.DBTDir, transform.LoadOptions{RootDir: s.Project.Root})
	if err != nil {
		return nil, fmt.Errorf("dbt project: %w", err)
	}
	e, err := transform.NewEngine(proj)
	if err != nil {
		return nil, err
	}
	e.FullRefresh = req.FullRefresh
	g, err := e.Parse()
	if err != nil {
		return nil, err
	}
	sel, err := (&transform.Selector{G: g, P: proj}).Select(req.Select, req.Exclude, nil)
	if err != nil {
		return nil, err
	}
	p := &modelPlan{e: e, g: g}
	for _, id := range sel.IDs {
		if transform.Executable(g.Nodes[id], "run") {
			p.ids = append(p.ids, id)
		}
	}
	return p, nil
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
	res := &ModelResults{Selected: len(p.ids)}
	s.update(r, func(r *Run) { r.Models = res })
	if len(p.ids) == 0 {
		return nil
	}
	threads := req.Threads
	if threads < 1 {
		threads = 4
	}
	runner := &transform.Runner{E: p.e, G: p.g, DB: s.Node.Writer.DB(), Threads: threads, FailFast: req.FailFast}
	results, runErr := runner.Run(s.ctx, p.ids)
	if err := p.e.WriteRunResults(results, time.Since(now), "run"); err != nil {
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
