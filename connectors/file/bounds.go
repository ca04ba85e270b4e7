package file

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/klauspost/compress/zstd"

	"github.com/dangohq/dango/humanize"
	"github.com/dangohq/dango/jsonshape"
)

// DefaultMaxFiles is how many files a path may match unless the source sets max_files.
const DefaultMaxFiles = 100_000

// duckDBObjectSize is DuckDB's default maximum_object_size for read_json.
const duckDBObjectSize = 16 << 20

// tooManyFiles is the error for a path matching more than max files.
func tooManyFiles(pattern string, max int) error {
	return fmt.Errorf("path %s matches more than %s files (max_files); narrow the path or glob, or raise max_files on the source",
		pattern, humanize.Thousands(int64(max)))
}

// globFiles expands an absolute glob. A pattern with ** is walked here rather than by
// doublestar, which follows symbolic links without noticing loops: symlinked folders are
// followed, but each real folder is visited once, so a link back up the tree ends the walk
// instead of repeating it forever. At most max files are returned; more is an error.
func globFiles(ctx context.Context, pattern, label string, max int) ([]string, error) {
	if !strings.Contains(pattern, "**") {
		// No recursion: each wildcard reads one folder level, which cannot loop.
		matches, err := doublestar.FilepathGlob(pattern, doublestar.WithFilesOnly())
		if err != nil {
			return nil, err
		}
		if len(matches) > max {
			return nil, tooManyFiles(label, max)
		}
		return matches, nil
	}
	slashed := filepath.ToSlash(pattern)
	base, rest := doublestar.SplitPattern(slashed)
	if !doublestar.ValidatePattern(rest) {
		return nil, doublestar.ErrBadPattern
	}
	visited := map[string]bool{}
	var files []string
	var walk func(dir, rel string) error
	walk = func(dir, rel string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		real, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return nil // vanished or a dangling link: nothing to match
		}
		if visited[real] {
			return nil // a symlink loop, or a folder reached twice
		}
		visited[real] = true
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			r := path.Join(rel, e.Name())
			isDir := e.IsDir()
			if e.Type()&fs.ModeSymlink != 0 {
				st, err := os.Stat(p)
				if err != nil {
					continue // dangling link
				}
				isDir = st.IsDir()
			}
			if isDir {
				if err := walk(p, r); err != nil {
					return err
				}
				continue
			}
			if ok, _ := doublestar.Match(rest, r); ok {
				if len(files) == max {
					return tooManyFiles(label, max)
				}
				files = append(files, p)
			}
		}
		return nil
	}
	st, err := os.Stat(filepath.FromSlash(base))
	if err != nil || !st.IsDir() {
		return nil, nil
	}
	if err := walk(filepath.FromSlash(base), ""); err != nil {
		return nil, err
	}
	return files, nil
}

// checkJSON reads JSON files once, cheaply, before DuckDB does: nesting deeper than maxDepth
// or a record (an NDJSON line, an element of a top-level list) larger than maxObject is
// refused with the file and byte offset, instead of DuckDB spending minutes and gigabytes
// on it and failing with "memory exhausted". It only counts brackets outside strings: no
// allocation per value.
//
// When shape is set, every record is also observed into it (see jsonshape), which is how the
// columns end up typed as dlt types them.
func checkJSON(ctx context.Context, files []string, label func(string) string, maxDepth int, maxObject int64, shape *jsonshape.Shape) error {
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := checkJSONFile(f, maxDepth, maxObject, shape); err != nil {
			return fmt.Errorf("file %s: %w", label(f), err)
		}
	}
	return nil
}

// structural marks the bytes checkJSONFile stops at outside strings.
var structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}

func checkJSONFile(name string, maxDepth int, maxObject int64, shape *jsonshape.Shape) error {
	fh, err := os.Open(name)
	if err != nil {
		return err
	}
	defer fh.Close()
	var r io.Reader = fh
	switch lower := strings.ToLower(name); {
	case strings.HasSuffix(lower, ".gz"):
		gz, err := gzip.NewReader(fh)
		if err != nil {
			return fmt.Errorf("not gzip: %w", err)
		}
		defer gz.Close()
		r = gz
	case strings.HasSuffix(lower, ".zst"):
		zr, err := zstd.NewReader(fh)
		if err != nil {
			return fmt.Errorf("not zstd: %w", err)
		}
		defer zr.Close()
		r = zr
	}
	var (
		pos      int64 // offset of buf[0] in the file
		depth    int
		base     = -1 // depth of records: 0 for NDJSON, 1 inside a top-level list
		start    int64
		inString bool
		escaped  bool
		rec      []byte // the record being read, when observing into shape
		recFrom  = -1   // where it starts in the current chunk (0 after the first)
	)
	tooBig := func() error {
		return fmt.Errorf("a JSON record starting at byte %s is larger than %s (max_object_size); raise max_object_size on the source if such records are expected",
			humanize.Thousands(start), humanize.Bytes(maxObject))
	}
	buf := make([]byte, 1<<20)
	for {
		n, err := io.ReadFull(r, buf)
		chunk := buf[:n]
		for i := 0; i < n; {
			if inString {
				// Jump to the closing quote; strings are most of a file's bytes.
				if escaped {
					escaped = false
					i++
					continue
				}
				rest := chunk[i:]
				q := bytes.IndexByte(rest, '"')
				seg := rest
				if q >= 0 {
					seg = rest[:q]
				}
				if bs := bytes.IndexByte(seg, '\\'); bs >= 0 {
					i += bs + 1
					escaped = true // the next byte, maybe in the next chunk
					continue
				}
				if q < 0 {
					break
				}
				i += q + 1
				inString = false
				continue
			}
			for i < n && !structural[chunk[i]] {
				i++
			}
			if i == n {
				break
			}
			switch c := chunk[i]; c {
			case '"':
				inString = true
			case '{', '[':
				if base < 0 {
					base = 0
					if c == '[' {
						base = 1
					}
				}
				depth++
				if depth == base+1 {
					start = pos + int64(i)
					if shape != nil {
						rec, recFrom = rec[:0], i
					}
				}
				if depth-base > maxDepth {
					return fmt.Errorf("JSON nested deeper than %d levels at byte %s (max_json_depth); refusing it before DuckDB reads it",
						maxDepth, humanize.Thousands(pos+int64(i)))
				}
			case '}', ']':
				depth--
				if depth == base && pos+int64(i)+1-start > maxObject {
					return tooBig()
				}
				if depth == base && recFrom >= 0 {
					rec = append(rec, chunk[recFrom:i+1]...)
					shape.Observe(rec)
					recFrom = -1
				}
			}
			i++
		}
		if recFrom >= 0 {
			rec = append(rec, chunk[recFrom:n]...)
			recFrom = 0
		}
		pos += int64(n)
		// A record still open is checked once a chunk, so an endless one fails within a
		// chunk of the limit.
		if base >= 0 && depth > base && pos-start > maxObject {
			return tooBig()
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// jsonLimits reads max_json_depth and max_object_size of a source.
func (c *connector) jsonLimits() (int, int64, error) {
	s := c.job.Source.Settings
	depth := int(s.Int("max_json_depth"))
	if depth <= 0 {
		depth = jsonshape.DefaultMaxDepth
	}
	size := int64(duckDBObjectSize)
	if v := s.String("max_object_size"); v != "" {
		var err error
		if size, err = humanize.ParseBytes(v); err != nil {
			return 0, 0, fmt.Errorf("max_object_size: %w", err)
		}
	}
	return depth, size, nil
}
