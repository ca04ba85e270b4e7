package service

import (
	"time"

	"github.com/dangohq/dango/config"
)

// StartSchedules runs each schedule of .dango/schedules.yml until Close. A schedule never has
// two runs at once: a tick while its previous run goes on is a misfire, and any number of
// misfires become one run as soon as the previous one finishes.
func (s *Service) StartSchedules(list []config.Schedule) {
	for _, sc := range list {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.scheduleLoop(sc)
		}()
	}
}

func (s *Service) scheduleLoop(sc config.Schedule) {
	log := s.Log.With().Str("schedule", sc.Name).Logger()
	done := make(chan struct{}, 1)
	busy, due := false, false
	start := func() {
		trigger := "schedule:" + sc.Name
		var run *Run
		var err error
		if len(sc.Sources) > 0 {
			run, err = s.SubmitSync(SyncRequest{Sources: sc.Sources, Generate: sc.Generate, Run: sc.Run}, trigger)
		} else {
			run, err = s.SubmitRun(RunRequest{}, trigger)
		}
		if err != nil {
			log.Error().Err(err).Msg("scheduled run could not start")
			return
		}
		busy = true
		finished := s.Done(run.ID)
		go func() {
			select {
			case <-finished:
			case <-s.ctx.Done():
			}
			done <- struct{}{}
		}()
	}
	for {
		next := sc.Next(time.Now())
		timer := time.NewTimer(time.Until(next))
		select {
		case <-s.ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
			if busy {
				if !due {
					log.Warn().Msg("schedule fired while its previous run is still going: one run will follow it")
				}
				due = true
				continue
			}
			start()
		case <-done:
			timer.Stop()
			busy = false
			if due && s.ctx.Err() == nil {
				due = false
				start()
			}
		}
	}
}
