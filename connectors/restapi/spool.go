package restapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/jsonshape"
	spoolfile "github.com/dangohq/dango/spool"
)

// Spool collects records for a connector; NewSpool makes one. See spool.
type Spool = spool

// NewSpool returns a spool writing under dir that hands each file to emit, with the shape of
// the records in it (see file.DescribeShaped).
func NewSpool(dir string, emit func(*batch.Scan, *jsonshape.Shape) error) *Spool {
	return &spool{dir: dir, batchBytes: 256 << 20, emit: emit}
}

// WriteRaw appends one JSON record. A record nested deeper than jsonshape.DefaultMaxDepth
// is refused with an error wrapping a *jsonshape.DepthError, and nothing is written.
func (s *spool) WriteRaw(rec []byte) error { return s.writeRaw(rec) }

// Flush hands the current file over.
func (s *spool) Flush() error { return s.flush() }

// Discard removes files never handed over.
func (s *spool) Discard() { s.discard() }

// spool writes records to NDJSON files of at most batchBytes and hands each full file
// to emit as a scan of a temporary file; the loader deletes it when the load is over. It
// records the shape of the records it writes, so the file can be typed from a sample.
type spool struct {
	dir        string
	batchBytes int64
	emit       func(*batch.Scan, *jsonshape.Shape) error
	shape      *jsonshape.Shape
	f          *os.File
	w          *bufio.Writer
	n          int
	size       int64
	pending    []string // files not handed over yet
	buf        bytes.Buffer
}

// writeRaw appends one record given as JSON, compacted onto one line.
func (s *spool) writeRaw(rec []byte) error {
	// Checked before anything is written or observed, so a caller may skip the record and go
	// on: DuckDB would spend minutes and gigabytes on it.
	if err := jsonshape.CheckDepth(rec, 0); err != nil {
		return fmt.Errorf("a record is refused: %w", err)
	}
	if err := s.open(); err != nil {
		return err
	}
	s.shape.Observe(rec)
	if err := s.write(rec); err != nil {
		return err
	}
	if s.size >= s.batchBytes {
		return s.flush()
	}
	return nil
}

// writePage appends a page's records, whose shape the caller observed.
func (s *spool) writePage(recs []json.RawMessage, shape *jsonshape.Shape) error {
	if len(recs) == 0 {
		return nil
	}
	if err := s.open(); err != nil {
		return err
	}
	s.shape.Merge(shape)
	for _, rec := range recs {
		if err := s.write(rec); err != nil {
			return err
		}
	}
	if s.size >= s.batchBytes {
		return s.flush()
	}
	return nil
}

// open starts a file unless one is open.
func (s *spool) open() error {
	if s.f == nil {
		if err := os.MkdirAll(s.dir, 0o755); err != nil {
			return err
		}
		f, err := spoolfile.Create(s.dir, "page", ".jsonl")
		if err != nil {
			return err
		}
		s.f, s.w, s.n, s.size = f, bufio.NewWriterSize(f, 1<<20), 0, 0
		s.shape = &jsonshape.Shape{}
		s.pending = append(s.pending, f.Name())
	}
	return nil
}

// write appends one record.
func (s *spool) write(rec []byte) error {
	line := rec
	if bytes.IndexByte(rec, '\n') >= 0 || bytes.IndexByte(rec, '\r') >= 0 { // pretty-printed: NDJSON needs one line a record
		s.buf.Reset()
		if err := json.Compact(&s.buf, rec); err != nil {
			return fmt.Errorf("malformed record: %w", err)
		}
		line = s.buf.Bytes()
	}
	n, _ := s.w.Write(line)
	s.w.WriteByte('\n')
	n++
	s.n++
	s.size += int64(n)
	return nil
}

// flush hands the current file over.
func (s *spool) flush() error {
	if s.f == nil {
		return nil
	}
	if err := s.w.Flush(); err != nil {
		return err
	}
	name := s.f.Name()
	if err := s.f.Close(); err != nil {
		return err
	}
	s.f = nil
	scan := &batch.Scan{Format: "json", Files: []string{name}, Options: map[string]any{"format": "newline_delimited"}, Bytes: s.size, Temporary: true, Records: int64(s.n)}
	if err := s.emit(scan, s.shape); err != nil {
		return err
	}
	s.pending = s.pending[:len(s.pending)-1]
	return nil
}

// discard removes files never handed over (a failed or cancelled extraction).
func (s *spool) discard() {
	if s.f != nil {
		s.f.Close()
	}
	for _, p := range s.pending {
		os.Remove(p)
	}
}
