package podlog

import (
	"context"
	"io"
	"sync"
)

// Memory is a log kept in memory (the sim runtime's). It is safe for
// concurrent use: one writer, any number of Sources reading.
type Memory struct {
	mu      sync.Mutex
	recs    []Record
	gen     int  // counts truncations: a source that saw another restarts
	done    bool // no record will be added
	changed chan struct{}
}

// NewMemory returns an empty log.
func NewMemory() *Memory {
	return &Memory{changed: make(chan struct{})}
}

// Add appends records, unless the log is finished. Their Text must not be
// changed afterwards.
func (m *Memory) Add(recs ...Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done || len(recs) == 0 {
		return
	}
	m.recs = append(m.recs, recs...)
	m.wakeLocked()
}

// Finish says no record will be added: followers end once they read the
// last one.
func (m *Memory) Finish() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.done {
		m.done = true
		m.wakeLocked()
	}
}

// Truncate empties the log; later records are kept as usual.
func (m *Memory) Truncate() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = nil
	m.gen++
	m.wakeLocked()
}

func (m *Memory) wakeLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// Source returns a reader's view of the log, from its first record.
func (m *Memory) Source() Source {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &memSource{m: m, gen: m.gen}
}

type memSource struct {
	m   *Memory
	gen int
	i   int
}

func (s *memSource) Next() (Record, error) {
	m := s.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.gen != m.gen {
		s.gen, s.i = m.gen, 0
	}
	if s.i >= len(m.recs) {
		return Record{}, io.EOF
	}
	s.i++
	return m.recs[s.i-1], nil
}

func (s *memSource) Wait(ctx context.Context) (bool, error) {
	m := s.m
	m.mu.Lock()
	if m.done || s.gen != m.gen || s.i < len(m.recs) {
		done := m.done
		m.mu.Unlock()
		return done, nil
	}
	ch := m.changed
	m.mu.Unlock()
	select {
	case <-ch:
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.done, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (s *memSource) Close() error { return nil }
