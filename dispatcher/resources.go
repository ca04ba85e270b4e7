package dispatcher

import (
	"fmt"
	"sort"
	"strings"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
)

// SelectResources checks the resources: keys of the sources' configuration against what their
// connectors offer, and narrows the sources to those having any of the selected resources
// (all, when none are selected). An unknown name is an error listing the valid ones.
func SelectResources(p *config.Project, reg *connectors.Registry, sources []config.Source, selected []string) ([]config.Source, error) {
	offered := map[string][]string{} // source → resources
	all := map[string]bool{}
	for _, s := range sources {
		// Building the connector validates what its configuration means (no I/O).
		if _, err := reg.New(connectors.Job{Source: s, ProjectRoot: p.Root}); err != nil {
			return nil, err
		}
		if len(s.Resources) == 0 && len(selected) == 0 {
			continue // nothing to check: a database source need not be asked for its tables
		}
		res, err := reg.Resources(connectors.Job{Source: s, ProjectRoot: p.Root})
		if err != nil {
			return nil, fmt.Errorf("source %s: listing its resources: %w", s.Name, err)
		}
		offered[s.Name] = res
		for _, r := range res {
			all[r] = true
		}
		for name, rc := range s.Resources {
			if !contains(res, name) {
				return nil, &config.Error{File: config.SourcesFile, Line: rc.Line,
					Msg: fmt.Sprintf("source %s has no resource %q (its resources: %s)", s.Name, name, strings.Join(res, ", "))}
			}
		}
	}
	if len(selected) == 0 {
		return sources, nil
	}
	for _, r := range selected {
		if !all[r] {
			valid := make([]string, 0, len(all))
			for v := range all {
				valid = append(valid, v)
			}
			sort.Strings(valid)
			return nil, fmt.Errorf("unknown resource %q for --select (resources of the selected sources: %s)", r, strings.Join(valid, ", "))
		}
	}
	var out []config.Source
	for _, s := range sources {
		for _, r := range selected {
			if contains(offered[s.Name], r) {
				out = append(out, s)
				break
			}
		}
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
