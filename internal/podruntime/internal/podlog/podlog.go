// Package podlog is the container log of Cella's runtimes: records in the
// CRI logging format, one a line,
//
//	2026-01-02T15:04:05.123456789Z stdout F text of the line
//
// (time, stream, tag: F for a full line, P for a part of a longer one), and
// a reader that serves a log as podruntime.LogOptions ask, the way the
// kubelet serves pods/log: the last TailLines records, then the ones not
// older than SinceTime, each line prefixed with its time when asked, cut at
// LimitBytes, followed until the writer is done or the context ends.
package podlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"cella.dev/cella/internal/podruntime"
)

// TimeFormat is the time of a record in a log file and in Logs output with
// Timestamps: RFC 3339 with nine fractional digits, fixed width, as the
// kubelet writes it.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// Streams of a record.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// Record is one line, or one part of a long line, of a container's output.
type Record struct {
	Time   time.Time
	Stream string // Stdout or Stderr
	// Partial says the line goes on in the next record: no newline follows
	// Text when the log is read.
	Partial bool
	// Text is the line without its newline.
	Text []byte
}

// Append appends r to b as one line of a log file, newline included, with
// its time in UTC.
func Append(b []byte, r Record) []byte {
	b = r.Time.UTC().AppendFormat(b, TimeFormat)
	b = append(b, ' ')
	b = append(b, r.Stream...)
	if r.Partial {
		b = append(b, " P "...)
	} else {
		b = append(b, " F "...)
	}
	b = append(b, r.Text...)
	return append(b, '\n')
}

// Parse reads one line of a log file, without its newline. The Text of the
// result shares line's memory.
func Parse(line []byte) (Record, error) {
	var r Record
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return r, errors.New("podlog: no time in log line")
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return r, fmt.Errorf("podlog: bad time in log line: %w", err)
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok || (string(stream) != Stdout && string(stream) != Stderr) {
		return r, errors.New("podlog: no stream in log line")
	}
	tag, text, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return r, errors.New("podlog: no tag in log line")
	}
	// Tags are ':'-separated; the first says full or partial, the rest are
	// reserved by the format and ignored.
	tag, _, _ = bytes.Cut(tag, []byte{':'})
	r.Time, r.Stream, r.Partial, r.Text = t, string(stream), string(tag) == "P", text
	return r, nil
}

// Source is one log as a Reader reads it, oldest record first.
type Source interface {
	// Next returns the next record, or io.EOF when the log has none more
	// for now. The record's Text is valid until the next call.
	Next() (Record, error)
	// Wait returns when the log may have grown since Next last returned
	// io.EOF, or when its writer is done. finished says the writer is done:
	// the records Next returns from then on are the last. err is set when
	// ctx ended first.
	Wait(ctx context.Context) (finished bool, err error)
	// Close releases the source.
	Close() error
}

// NewReader returns the log of src as o asks. The reader owns src and
// closes it. With o.Follow it keeps returning new lines until the writer is
// done or ctx ends, then io.EOF. TailLines follows the contract: negative
// keeps every line, zero none (before following). Read and Close may be
// called from different goroutines; Close ends a Read that waits.
func NewReader(ctx context.Context, src Source, o podruntime.LogOptions) io.ReadCloser {
	ctx, cancel := context.WithCancel(ctx)
	r := &reader{ctx: ctx, cancel: cancel, src: src, o: o, remain: -1}
	if o.LimitBytes > 0 {
		r.remain = o.LimitBytes
	}
	return r
}

type reader struct {
	ctx    context.Context
	cancel context.CancelFunc
	o      podruntime.LogOptions

	mu       sync.Mutex // held by Read throughout; guards the fields below
	src      Source
	buf      []byte   // rendered output not yet returned
	queue    []Record // the tail, rendered before anything newer
	started  bool     // the tail was taken
	finished bool     // the writer is done: the next io.EOF ends the log
	eof      bool
	closed   bool
	remain   int64 // bytes left under LimitBytes; negative is unlimited
}

var errClosed = errors.New("podlog: read of a closed log")

func (r *reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, errClosed
	}
	for len(r.buf) == 0 {
		if r.eof {
			return 0, io.EOF
		}
		if err := r.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// fill renders at least one record into buf, or sets eof.
func (r *reader) fill() error {
	if !r.started {
		r.started = true
		if r.o.TailLines >= 0 {
			if err := r.takeTail(); err != nil {
				return err
			}
		}
	}
	if len(r.queue) > 0 {
		rec := r.queue[0]
		r.queue = r.queue[1:]
		r.render(rec)
		return nil
	}
	rec, err := r.src.Next()
	if err == nil {
		r.render(rec)
		return nil
	}
	if !errors.Is(err, io.EOF) {
		return err
	}
	if !r.o.Follow || r.finished {
		r.eof = true
		return nil
	}
	finished, err := r.src.Wait(r.ctx)
	if err != nil {
		// The context ended (or Close): a followed log ends cleanly.
		r.eof = true
		return nil
	}
	r.finished = finished
	return nil
}

// takeTail reads what the log holds now and keeps the last TailLines
// records in queue, copied.
func (r *reader) takeTail() error {
	n := int(min(r.o.TailLines, 1<<20))
	ring := make([]Record, 0, min(n, 1024))
	next := 0 // where the next record goes once the ring is full
	for {
		rec, err := r.src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if n == 0 {
			continue
		}
		rec.Text = bytes.Clone(rec.Text)
		if len(ring) < n {
			ring = append(ring, rec)
			continue
		}
		ring[next] = rec
		next = (next + 1) % n
	}
	r.queue = append(ring[next:], ring[:next]...)
	return nil
}

// render appends rec to buf as o asks, or drops it when it is older than
// SinceTime, and sets eof when LimitBytes is reached.
func (r *reader) render(rec Record) {
	if rec.Time.Before(r.o.SinceTime) {
		return
	}
	start := len(r.buf)
	if r.o.Timestamps {
		r.buf = rec.Time.AppendFormat(r.buf, TimeFormat)
		r.buf = append(r.buf, ' ')
	}
	r.buf = append(r.buf, rec.Text...)
	if !rec.Partial {
		r.buf = append(r.buf, '\n')
	}
	if r.remain < 0 {
		return
	}
	if n := int64(len(r.buf) - start); n >= r.remain {
		r.buf = r.buf[:start+int(r.remain)]
		r.remain = 0
		r.eof = true
		return
	}
	r.remain -= int64(len(r.buf) - start)
}

// Close ends a waiting Read and releases the source.
func (r *reader) Close() error {
	r.cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	return r.src.Close()
}

// Limits of a termination message taken from the log, as the kubelet's.
const (
	FallbackLines = 80
	FallbackBytes = 2048
)

// Fallback returns the termination message a container that failed gets
// from its log (terminationMessagePolicy FallbackToLogsOnError): its last
// FallbackLines lines as Logs returns them, at most the last FallbackBytes
// of them. It reads src to its current end and closes it.
func Fallback(src Source) (string, error) {
	rd := NewReader(context.Background(), src, podruntime.LogOptions{TailLines: FallbackLines})
	defer rd.Close()
	b, err := io.ReadAll(rd)
	if err != nil {
		return "", err
	}
	if len(b) > FallbackBytes {
		b = b[len(b)-FallbackBytes:]
	}
	return string(b), nil
}
