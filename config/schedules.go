package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"
)

// SchedulesFile holds dango serve's schedules.
const SchedulesFile = ".dango/schedules.yml"

// Schedule is one entry of schedules.yml: when to sync which sources, and what to do after.
type Schedule struct {
	Name     string
	Cron     string // as written: a cron expression, a preset, or @every <duration>
	Sources  []string
	Generate bool // regenerate the sources' staging models after they sync
	Run      bool // run the models downstream of them after
	Line     int
	Next     func(time.Time) time.Time
}

// presets are schedules.yml's names for common schedules.
var presets = map[string]string{"every_5m": "*/5 * * * *", "every_15m": "*/15 * * * *", "every_30m": "*/30 * * * *",
	"hourly": "0 * * * *", "daily": "0 0 * * *", "weekly": "0 0 * * 0"}

type scheduleYAML struct {
	Name     string   `yaml:"name"`
	Cron     string   `yaml:"cron"`
	Schedule string   `yaml:"schedule"`
	Sources  []string `yaml:"sources"`
	Generate bool     `yaml:"generate"`
	Run      bool     `yaml:"run"`
}

// LoadSchedules reads .dango/schedules.yml (none when the file does not exist). Times are
// the server's local time.
func LoadSchedules(p *Project) ([]Schedule, error) {
	data, err := os.ReadFile(filepath.Join(p.Root, SchedulesFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &Error{File: SchedulesFile, Msg: err.Error(), Err: err}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "schedules":
			list = root.Content[i+1]
		case "version":
		default:
			return nil, &Error{File: SchedulesFile, Line: root.Content[i].Line, Msg: fmt.Sprintf("unknown key %q (valid keys: version, schedules)", root.Content[i].Value)}
		}
	}
	if list == nil {
		return nil, nil
	}
	var out []Schedule
	seen := map[string]bool{}
	for i, n := range list.Content {
		var y scheduleYAML
		if err := n.Decode(&y); err != nil {
			return nil, &Error{File: SchedulesFile, Line: n.Line, Msg: fmt.Sprintf("schedules[%d]: %v", i, err)}
		}
		fail := func(f string, a ...any) error {
			return &Error{File: SchedulesFile, Line: n.Line, Msg: fmt.Sprintf("schedules[%d] (%s): ", i, y.Name) + fmt.Sprintf(f, a...)}
		}
		if y.Name == "" {
			return nil, fail("name is required")
		}
		if seen[y.Name] {
			return nil, fail("name appears twice")
		}
		seen[y.Name] = true
		expr := y.Cron
		if expr == "" {
			expr = y.Schedule
		}
		if expr == "" {
			return nil, fail("give cron (\"*/15 * * * *\", @every 10m) or a preset (every_15m, hourly, daily, weekly)")
		}
		spec := expr
		if p, ok := presets[expr]; ok {
			spec = p
		}
		sched, err := cron.ParseStandard(spec)
		if err != nil {
			return nil, fail("cron %q: %v", expr, err)
		}
		if len(y.Sources) == 0 && !y.Run {
			return nil, fail("give sources, or run: true, or it does nothing")
		}
		for _, s := range y.Sources {
			if src, ok := p.Source(s); !ok {
				return nil, fail("unknown source %q", s)
			} else if !src.Enabled {
				return nil, fail("source %q is disabled", s)
			}
		}
		out = append(out, Schedule{Name: y.Name, Cron: expr, Sources: y.Sources, Generate: y.Generate, Run: y.Run, Line: n.Line, Next: sched.Next})
	}
	return out, nil
}
