package process

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"cella.dev/cella/internal/podruntime"
	"cella.dev/cella/internal/podruntime/internal/podlog"
)

// Logs reads the log of the latest attempt of a container, or of the one
// before.
func (r *Runtime) Logs(ctx context.Context, uid, name string, o podruntime.LogOptions) (io.ReadCloser, error) {
	p, c, err := r.lookupContainer(uid, name)
	if err != nil {
		return nil, err
	}
	a := c.latest
	if o.Previous {
		a = c.previous
	}
	p.mu.Unlock()
	if a == nil {
		return nil, fmt.Errorf("%w: container %q of pod %s has no previous attempt", podruntime.ErrNotFound, name, uid)
	}
	return podlog.NewReader(ctx, newFileSource(a.path(".log"), a.exited), o), nil
}

// TruncateLog empties the log of the latest attempt of a container. The
// shim appends, so what it writes next lands at the start of the file.
func (r *Runtime) TruncateLog(_ context.Context, uid, name string) error {
	p, c, err := r.lookupContainer(uid, name)
	if err != nil {
		return err
	}
	path := c.latest.path(".log")
	p.mu.Unlock()
	if err := os.Remove(path + ".1"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Truncate(path, 0); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// closedChan is a done channel for logs that are complete.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// fileSource reads a log file that a shim may still be writing: first its
// rotated part (path.1) if there is one, then path, following a rotation
// (path replaced) or a truncation as it reads.
type fileSource struct {
	path string
	done <-chan struct{} // closed once the writer is done

	opened  bool
	rotated bool // f is path.1
	f       *os.File
	fi      os.FileInfo // of f
	br      *bufio.Reader
	off     int64  // bytes of f consumed, pending included
	pending []byte // the start of a line whose end is not written yet
	line    []byte // the last line returned
}

func newFileSource(path string, done <-chan struct{}) *fileSource {
	return &fileSource{path: path, done: done}
}

// open opens path.1 if there is one, else path.
func (s *fileSource) open() error {
	s.opened = true
	if f, err := os.Open(s.path + ".1"); err == nil {
		s.rotated = true
		return s.use(f)
	}
	return s.openCurrent()
}

// openCurrent opens path; a log not yet created is not an error.
func (s *fileSource) openCurrent() error {
	s.rotated = false
	f, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.use(f)
}

func (s *fileSource) use(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if s.f != nil {
		s.f.Close()
	}
	s.f, s.fi, s.off, s.pending = f, fi, 0, s.pending[:0]
	if s.br == nil {
		s.br = bufio.NewReaderSize(f, 64<<10)
	} else {
		s.br.Reset(f)
	}
	return nil
}

func (s *fileSource) Next() (podlog.Record, error) {
	if !s.opened {
		if err := s.open(); err != nil {
			return podlog.Record{}, err
		}
	}
	for {
		if s.f == nil {
			// No log file yet: look again.
			if err := s.openCurrent(); err != nil || s.f == nil {
				return podlog.Record{}, cmpErr(err, io.EOF)
			}
		}
		chunk, err := s.br.ReadSlice('\n')
		s.off += int64(len(chunk))
		switch {
		case err == nil:
			line := chunk
			if len(s.pending) > 0 {
				s.pending = append(s.pending, chunk...)
				line = s.pending
			}
			s.line = append(s.line[:0], line[:len(line)-1]...)
			s.pending = s.pending[:0]
			rec, perr := podlog.Parse(s.line)
			if perr != nil {
				continue // not a log line: skipped
			}
			return rec, nil
		case errors.Is(err, bufio.ErrBufferFull), errors.Is(err, io.EOF):
			s.pending = append(s.pending, chunk...)
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
		default:
			return podlog.Record{}, err
		}
		// The end of f, for now.
		if s.rotated {
			if err := s.openCurrent(); err != nil {
				return podlog.Record{}, err
			}
			continue
		}
		if fi, err := os.Stat(s.path); err == nil && !os.SameFile(fi, s.fi) {
			// Rotated: f is complete, path is the new file.
			if err := s.openCurrent(); err != nil {
				return podlog.Record{}, err
			}
			continue
		}
		if fi, err := s.f.Stat(); err == nil && fi.Size() < s.off {
			// Truncated: start over.
			if _, err := s.f.Seek(0, io.SeekStart); err != nil {
				return podlog.Record{}, err
			}
			s.br.Reset(s.f)
			s.off, s.pending = 0, s.pending[:0]
			continue
		}
		return podlog.Record{}, io.EOF
	}
}

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// Wait returns when the writer is done, or after a poll interval (the log
// may have grown: the shim, another process, tells nothing).
func (s *fileSource) Wait(ctx context.Context) (bool, error) {
	select {
	case <-s.done:
		return true, nil
	default:
	}
	t := time.NewTimer(pollInterval)
	defer t.Stop()
	select {
	case <-s.done:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	case <-t.C:
		return false, nil
	}
}

func (s *fileSource) Close() error {
	if s.f != nil {
		return s.f.Close()
	}
	return nil
}
