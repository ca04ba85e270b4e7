package restapi

import (
	"bufio"
	"encoding/json"
	"os"

	"github.com/dangohq/dango/batch"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// spool writes records to NDJSON files of at most batchSize records and hands each full file
// to emit as a scan of a temporary file; the loader deletes it when the load is over.
type spool struct {
	dir       string
	batchSize int
	emit      func(*batch.Scan) error
	f         *os.File
	w         *bufio.Writer
	n         int
	size      int64
	pending   []string // files not handed over yet
}

func (s *spool) write(rec map[string]any) error {
	if s.f == nil {
		if err := os.MkdirAll(s.dir, 0o755); err != nil {
			return err
		}
		f, err := os.CreateTemp(s.dir, "page-*.jsonl")
		if err != nil {
			return err
		}
		s.f, s.w, s.n, s.size = f, bufio.NewWriterSize(f, 1<<20), 0, 0
		s.pending = append(s.pending, f.Name())
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	s.w.Write(b)
	s.w.WriteByte('\n')
	s.n++
	s.size += int64(len(b) + 1)
	if s.n >= s.batchSize {
		return s.flush()
	}
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
	scan := &batch.Scan{Format: "json", Files: []string{name}, Options: map[string]any{"format": "newline_delimited"}, Bytes: s.size, Temporary: true}
	if err := s.emit(scan); err != nil {
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
