package staging

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dangohq/dango/config"
)

// Action is what happens to one file.
type Action string

const (
	Created     Action = "created"
	Updated     Action = "updated"
	Unchanged   Action = "unchanged"
	KeptEdited  Action = "hand-edited, skipped"
	KeptForeign Action = "not written by dango generate, skipped"
	Overwritten Action = "overwritten"
)

// Outcome is a file and what writing it does.
type Outcome struct {
	File
	Path   string // absolute
	Action Action
}

// Writes reports whether the outcome changes the file on disk.
func (o Outcome) Writes() bool {
	return o.Action == Created || o.Action == Updated || o.Action == Overwritten
}

// Plan decides, per file, whether to write it. Without force an existing file is brought up to
// date only when dango generated it and nobody changed it since; with force every file that
// differs is overwritten.
func Plan(files []File, dbtDir string, force bool) ([]Outcome, error) {
	out := make([]Outcome, 0, len(files))
	for _, f := range files {
		o := Outcome{File: f, Path: filepath.Join(dbtDir, Dir, f.Name)}
		old, err := os.ReadFile(o.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			o.Action = Created
		case err != nil:
			return nil, err
		case bytes.Equal(old, f.Content):
			o.Action = Unchanged
		case force:
			o.Action = Overwritten
		default:
			generated, untouched := Pristine(old)
			switch {
			case !generated:
				o.Action = KeptForeign
			case !untouched:
				o.Action = KeptEdited
			default:
				o.Action = Updated
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// Write writes the outcomes that change files.
func Write(outcomes []Outcome) error {
	for _, o := range outcomes {
		if !o.Writes() {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(o.Path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(o.Path, o.Content, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Prepare reads the raw tables of the named sources (every source when none) and decides what
// generating their models does: the sources found, and each file's outcome for Write. No
// sources found means no raw tables yet.
func Prepare(ctx context.Context, db *sql.DB, p *config.Project, only []string, o Options, force bool) ([]Source, []Outcome, error) {
	reserved, err := ReservedWords(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	o.Reserved = reserved
	sources, err := Introspect(ctx, db, p, only)
	if err != nil || len(sources) == 0 {
		return sources, nil, err
	}
	outcomes, err := Plan(Render(sources, o), p.DBTDir, force)
	return sources, outcomes, err
}
