package loader

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/events"
	"github.com/dangohq/dango/spool"
)

// The writer trusts nothing in a batch message. Workers may run on other machines, and an
// authenticated worker can still be buggy or hostile: every message is checked here, at the
// point it arrives, against what this process knows — the project's sources.yml, the spool
// folder it owns, the object-store names workers make — before it touches the warehouse or
// the file system. A message that fails a check fails the load it claims to belong to.

// ErrForged marks a batch message the writer refused: it is never applied or committed.
var ErrForged = errors.New("batch message refused")

var (
	loadIDRE = regexp.MustCompile(`^[0-9]{1,20}(\.[0-9]{1,9})?$`)
	sourceRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,127}$`)
)

// maxAbort bounds a connector's error text carried to events and logs.
const maxAbort = 4096

// vetHeader checks what every message of a load carries: its ids, that it was published on
// its source's subject, and that source and schema are ones the project configures.
func (l *Loader) vetHeader(subject string, m *events.BatchMsg) error {
	switch {
	case !loadIDRE.MatchString(m.LoadID):
		return fmt.Errorf("%w: load id %s is not one the dispatcher makes", ErrForged, batch.Short(m.LoadID))
	case m.Attempt < 1 || m.Attempt > 1000 || m.Seq < 0:
		return fmt.Errorf("%w: attempt %d / sequence %d out of range", ErrForged, m.Attempt, m.Seq)
	case !sourceRE.MatchString(m.Source):
		return fmt.Errorf("%w: source name %s is not valid", ErrForged, batch.Short(m.Source))
	case subject != events.BatchSubject(m.Source):
		return fmt.Errorf("%w: a batch of source %s arrived on subject %s", ErrForged, m.Source, batch.Short(subject))
	case l.Project == nil:
		return fmt.Errorf("%w: the writer has no project to check batches against", ErrForged)
	}
	src, ok := l.Project.Source(m.Source)
	if !ok {
		return fmt.Errorf("%w: source %s is not in this project's sources.yml", ErrForged, m.Source)
	}
	if m.Schema != src.Schema {
		return fmt.Errorf("%w: batch of source %s targets schema %s, but sources.yml loads it into %s", ErrForged, m.Source, batch.Short(m.Schema), src.Schema)
	}
	if err := batch.ValidName(m.Schema); err != nil {
		return fmt.Errorf("%w: schema: %v", ErrForged, err)
	}
	if m.Batch != nil {
		if err := m.Batch.Validate(); err != nil {
			return fmt.Errorf("%w: %v", ErrForged, err)
		}
	}
	for i := range m.Resources {
		if err := m.Resources[i].Validate(); err != nil {
			return fmt.Errorf("%w: end marker: %v", ErrForged, err)
		}
	}
	if len(m.Abort) > maxAbort {
		m.Abort = m.Abort[:maxAbort] + "…"
	}
	return nil
}

// vetAssignment checks that the dispatcher queued the batch's load, for its source and run:
// a worker may publish batches, but only for jobs it was given.
func (l *Loader) vetAssignment(ctx context.Context, m *events.BatchMsg) error {
	e, err := l.assigned.Get(ctx, m.LoadID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("%w: load %s of source %s was never queued by this project's dispatcher", ErrForged, batch.Short(m.LoadID), m.Source)
	}
	if err != nil {
		return fmt.Errorf("%w: cannot check that load %s was queued: %v", ErrForged, batch.Short(m.LoadID), err)
	}
	var a events.Assignment
	if json.Unmarshal(e.Value(), &a) != nil || a.Source != m.Source || a.RunID != m.RunID {
		return fmt.Errorf("%w: load %s was queued for source %s of %s, not for source %s of %s",
			ErrForged, batch.Short(m.LoadID), a.Source, a.RunID, m.Source, batch.Short(m.RunID))
	}
	return nil
}

// vetFiles checks where a batch's files are: every local file must be a regular file inside
// the spool this writer owns or — for file sources, not temporary — a file the source's own
// configured path names; shipped files must be objects of this load and attempt. Symlinks
// are resolved and a path whose target leaves its allowed root is refused.
//
// This is a check at arrival: a process that can write to the spool or the source's folder
// could swap a checked file for a symlink before DuckDB opens it (time of check to time of
// use). Such a process already controls the project's files; the check stops messages from
// naming files, not local users with write access.
func (l *Loader) vetFiles(m *events.BatchMsg) error {
	s := m.Batch.Scan
	src, _ := l.Project.Source(m.Source)
	prefix := m.LoadID + "/" + fmt.Sprint(m.Attempt) + "/"
	for i, f := range s.Files {
		if name, shipped := strings.CutPrefix(f, events.ObjectPrefix); shipped {
			if !strings.HasPrefix(name, prefix) {
				return fmt.Errorf("%w: object %s does not belong to load %s attempt %d", ErrForged, batch.Short(name), m.LoadID, m.Attempt)
			}
			if s.Track && s.Labels[i] == "" {
				return fmt.Errorf("%w: shipped file without a label", ErrForged)
			}
			continue
		}
		if err := l.inSpool(f); err == nil {
			continue
		} else if s.Temporary {
			return fmt.Errorf("%w: temporary file %s: %v", ErrForged, batch.Short(f), err)
		}
		if err := l.sourceFile(src, s.Format, f); err != nil {
			return fmt.Errorf("%w: file %s: %v", ErrForged, batch.Short(f), err)
		}
		if s.Track && s.Labels[i] != l.label(f) {
			return fmt.Errorf("%w: file %s carries label %s", ErrForged, batch.Short(f), batch.Short(s.Labels[i]))
		}
	}
	if s.Track {
		labels := make(map[string]bool, len(s.Labels))
		for _, lb := range s.Labels {
			labels[lb] = true
		}
		for _, r := range s.Replaced {
			if !labels[r] {
				return fmt.Errorf("%w: replaced file %s is not among the batch's files", ErrForged, batch.Short(r))
			}
		}
	}
	return nil
}

// spoolDir is the folder whose files the writer may read as spooled and delete.
func (l *Loader) spoolDir() string {
	if l.SpoolDir != "" {
		return l.SpoolDir
	}
	if l.Project != nil {
		return spool.Dir(l.Project.Root)
	}
	return ""
}

// inSpool reports (as nil) that f is a regular file directly managed in the spool: its
// folder, symlinks resolved, is inside the spool, and so is what f resolves to.
func (l *Loader) inSpool(f string) error {
	dir := l.spoolDir()
	if dir == "" {
		return errors.New("the writer has no spool folder")
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("spool folder: %w", err)
	}
	parent, err := filepath.EvalSymlinks(filepath.Dir(f))
	if err != nil || !within(root, parent) {
		return fmt.Errorf("not inside the spool folder %s", dir)
	}
	return regularWithin(root, f)
}

// regularWithin checks that f, symlinks resolved, is a regular file inside root.
func regularWithin(root, f string) error {
	real, err := filepath.EvalSymlinks(f)
	if err != nil {
		return fmt.Errorf("cannot resolve: %w", err)
	}
	if !within(root, real) {
		return fmt.Errorf("resolves to a file outside %s", root)
	}
	st, err := os.Lstat(real)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("is not a regular file")
	}
	return nil
}

// sourceFile checks that f is a file the file source's configured path names (a file, a
// folder or a glob, as the file connector resolves it).
func (l *Loader) sourceFile(src config.Source, format, f string) error {
	pattern, typ := ownFiles(src)
	if typ == "" {
		return fmt.Errorf("source %s reads no files of its own; only spooled files are accepted", src.Name)
	}
	if typ != "any" && format != typ {
		return fmt.Errorf("source %s reads %s files, not %s", src.Name, typ, batch.Short(format))
	}
	if pattern == "" {
		return fmt.Errorf("source %s has no path", src.Name)
	}
	abs := filepath.Clean(l.Project.Abs(pattern))
	if strings.ContainsAny(pattern, "*?[{") {
		ok, err := doublestar.PathMatch(abs, f)
		if err != nil || !ok {
			return fmt.Errorf("does not match %s (path of source %s)", pattern, src.Name)
		}
		base, _ := doublestar.SplitPattern(filepath.ToSlash(abs))
		root, err := filepath.EvalSymlinks(filepath.FromSlash(base))
		if err != nil {
			return fmt.Errorf("resolve %s: %w", base, err)
		}
		return regularWithin(root, f)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("path of source %s: %w", src.Name, err)
	}
	root, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		if f != abs {
			return fmt.Errorf("source %s reads only %s", src.Name, pattern)
		}
		real, err := filepath.EvalSymlinks(f)
		if err != nil || real != root {
			return fmt.Errorf("source %s reads only %s", src.Name, pattern)
		}
		return regularWithin(filepath.Dir(root), f)
	}
	if !within(abs, f) {
		return fmt.Errorf("is not inside %s (path of source %s)", pattern, src.Name)
	}
	return regularWithin(root, f)
}

// ownFiles is the path (a file, folder or glob) a source reads files from, and their format:
// path for csv, json and parquet sources; bucket_url/file_glob for a dlt_native filesystem
// source, as connectors/dltnative maps it (its reader decides the format: "any"). typ is ""
// for a source that reads no files of its own.
func ownFiles(src config.Source) (pattern, typ string) {
	switch src.Type {
	case "csv", "json", "parquet":
		return src.Settings.String("path"), src.Type
	case "dlt_native":
		if src.Settings.String("source_module") != "filesystem" {
			return "", ""
		}
		kw, _ := src.Settings["function_kwargs"].(map[string]any)
		bucket, _ := kw["bucket_url"].(string)
		bucket = strings.TrimPrefix(bucket, "file://")
		if bucket == "" || strings.Contains(bucket, "://") {
			return "", ""
		}
		glob, _ := kw["file_glob"].(string)
		if glob == "" {
			glob = "*"
		}
		return path.Join(bucket, glob), "any"
	}
	return "", ""
}

// label is a file's project-relative path, as the file connector records it.
func (l *Loader) label(f string) string {
	if r, err := filepath.Rel(l.Project.Root, f); err == nil && !strings.HasPrefix(r, "..") {
		return filepath.ToSlash(r)
	}
	return f
}

// within reports whether path is root or below it (both clean and absolute).
func within(root, path string) bool {
	r, err := filepath.Rel(root, path)
	return err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) && !filepath.IsAbs(r)
}
