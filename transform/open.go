package transform

import "fmt"

// Selected is a parsed dbt project and the nodes a selection picks: where ls, compile, run
// and dango serve's runs all start.
type Selected struct {
	E   *Engine
	G   *Graph
	Sel Selection
}

// Open loads the dbt project in dir, parses it and resolves a selection (dbt's --select,
// --exclude and --resource-type).
func Open(dir string, o LoadOptions, selects, excludes, resourceTypes []string) (*Selected, error) {
	proj, err := Load(dir, o)
	if err != nil {
		return nil, fmt.Errorf("dbt project: %w", err)
	}
	e, err := NewEngine(proj)
	if err != nil {
		return nil, err
	}
	g, err := e.Parse()
	if err != nil {
		return nil, err
	}
	sel, err := (&Selector{G: g, P: proj}).Select(selects, excludes, resourceTypes)
	if err != nil {
		return nil, err
	}
	return &Selected{E: e, G: g, Sel: sel}, nil
}

// Executable lists the selected nodes a command executes (see Executable).
func (s *Selected) Executable(command string) []string {
	var ids []string
	for _, id := range s.Sel.IDs {
		if Executable(s.G.Nodes[id], command) {
			ids = append(ids, id)
		}
	}
	return ids
}
