package watchcache

import (
	"context"
	"slices"
	"strings"
	"sync"

	"cella.dev/cella/internal/storage"
)

// memStore is a small in-memory storage.Interface for the cache's unit
// tests: a map of current values and a log of every event. Tests can hold
// back event delivery (to make the cache lag), end every watch with an
// error (to force a re-watch or re-list) and send bookmarks.
type memStore struct {
	mu        sync.Mutex
	rev       int64
	compacted int64
	kvs       map[string]storage.KeyValue
	log       []storage.Event
	watchers  map[*memWatcher]struct{}
	held      bool // events wait in each watcher's queue until release
	closed    bool
	// watchCalls counts Watch calls, to see re-watches.
	watchCalls int
	// listGate, when set, makes List wait until it is closed.
	listGate chan struct{}
}

func newMemStore() *memStore {
	return &memStore{kvs: map[string]storage.KeyValue{}, watchers: map[*memWatcher]struct{}{}}
}

type memWatcher struct {
	s        *memStore
	prefix   string
	progress bool
	ch       chan storage.Event
	queue    []storage.Event // held events
	stopped  bool
}

func (w *memWatcher) ResultChan() <-chan storage.Event { return w.ch }

func (w *memWatcher) Stop() {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	w.stopLocked()
}

func (w *memWatcher) stopLocked() {
	if !w.stopped {
		w.stopped = true
		delete(w.s.watchers, w)
		close(w.ch)
	}
}

// deliverLocked queues or sends ev. The channel is large; tests never fill it.
func (w *memWatcher) deliverLocked(ev storage.Event) {
	if w.s.held {
		w.queue = append(w.queue, ev)
		return
	}
	w.ch <- ev
}

func (s *memStore) hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held = true
}

func (s *memStore) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held = false
	for w := range s.watchers {
		for _, ev := range w.queue {
			w.ch <- ev
		}
		w.queue = nil
	}
}

// failWatches ends every watch with an EventError carrying err.
func (s *memStore) failWatches(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.watchers {
		w.ch <- storage.Event{Type: storage.EventError, Err: err}
		w.stopLocked()
	}
}

// bookmark sends a bookmark at the current revision to progress watchers.
func (s *memStore) bookmark() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.watchers {
		if w.progress {
			w.deliverLocked(storage.Event{Type: storage.EventBookmark, Revision: s.rev})
		}
	}
}

func (s *memStore) setListGate(gate chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listGate = gate
}

func (s *memStore) watchCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watchCalls
}

func (s *memStore) check() error {
	if s.closed {
		return storage.ErrUnavailable
	}
	return nil
}

func (s *memStore) Get(_ context.Context, key string) (storage.KeyValue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return storage.KeyValue{}, err
	}
	kv, ok := s.kvs[key]
	if !ok {
		return storage.KeyValue{}, storage.ErrNotFound
	}
	return kv, nil
}

// List reads the current revision only; a continue token's revision is
// ignored.
func (s *memStore) List(_ context.Context, prefix string, opts storage.ListOptions) (storage.ListResult, error) {
	s.mu.Lock()
	gate := s.listGate
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return storage.ListResult{}, err
	}
	var after string
	if opts.Continue != "" {
		var err error
		if after, _, err = storage.DecodeContinue(prefix, opts.Continue); err != nil {
			return storage.ListResult{}, err
		}
	}
	var keys []string
	for k := range s.kvs {
		if strings.HasPrefix(k, prefix) && k > after {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	res := storage.ListResult{Revision: s.rev}
	if opts.Limit > 0 && int64(len(keys)) > opts.Limit {
		res.Continue = storage.EncodeContinue(prefix, keys[opts.Limit-1], s.rev)
		res.RemainingItemCount = int64(len(keys)) - opts.Limit
		keys = keys[:opts.Limit]
	}
	for _, k := range keys {
		res.Items = append(res.Items, s.kvs[k])
	}
	return res, nil
}

func (s *memStore) Count(_ context.Context, prefix string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for k := range s.kvs {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n, s.check()
}

func (s *memStore) writeLocked(ev storage.Event) {
	s.log = append(s.log, ev)
	for w := range s.watchers {
		if strings.HasPrefix(ev.Key, w.prefix) {
			w.deliverLocked(ev)
		}
	}
}

func (s *memStore) Create(_ context.Context, key string, value []byte) (storage.KeyValue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return storage.KeyValue{}, err
	}
	if _, ok := s.kvs[key]; ok {
		return storage.KeyValue{}, storage.ErrExists
	}
	s.rev++
	kv := storage.KeyValue{Key: key, Value: value, CreateRevision: s.rev, ModRevision: s.rev}
	s.kvs[key] = kv
	s.writeLocked(storage.Event{Type: storage.EventPut, Key: key, Value: value, Revision: s.rev, CreateRevision: s.rev, Created: true})
	return kv, nil
}

func (s *memStore) Update(_ context.Context, key string, value []byte, expected int64) (storage.KeyValue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return storage.KeyValue{}, err
	}
	old, ok := s.kvs[key]
	if !ok {
		return storage.KeyValue{}, storage.ErrNotFound
	}
	if expected != 0 && expected != old.ModRevision {
		return old, storage.ErrConflict
	}
	s.rev++
	kv := storage.KeyValue{Key: key, Value: value, CreateRevision: old.CreateRevision, ModRevision: s.rev}
	s.kvs[key] = kv
	s.writeLocked(storage.Event{Type: storage.EventPut, Key: key, Value: value, PrevValue: old.Value, Revision: s.rev, CreateRevision: old.CreateRevision})
	return kv, nil
}

func (s *memStore) Delete(_ context.Context, key string, expected int64) (storage.KeyValue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return storage.KeyValue{}, err
	}
	old, ok := s.kvs[key]
	if !ok {
		return storage.KeyValue{}, storage.ErrNotFound
	}
	if expected != 0 && expected != old.ModRevision {
		return old, storage.ErrConflict
	}
	s.rev++
	delete(s.kvs, key)
	s.writeLocked(storage.Event{Type: storage.EventDelete, Key: key, Value: old.Value, PrevValue: old.Value, Revision: s.rev, CreateRevision: old.CreateRevision})
	old.ModRevision = s.rev
	return old, nil
}

// Watch replays the log after opts.Revision, then delivers new events.
// InitialState is not supported: the cache never asks for it.
func (s *memStore) Watch(_ context.Context, prefix string, opts storage.WatchOptions) (storage.Watcher, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watchCalls++
	if err := s.check(); err != nil {
		return nil, err
	}
	if opts.Revision != 0 && opts.Revision < s.compacted {
		return nil, storage.ErrCompacted
	}
	if opts.Revision > s.rev {
		return nil, storage.ErrFutureRevision
	}
	w := &memWatcher{s: s, prefix: prefix, progress: opts.ProgressNotify, ch: make(chan storage.Event, 1<<12)}
	if opts.Revision != 0 {
		for _, ev := range s.log {
			if ev.Revision > opts.Revision && strings.HasPrefix(ev.Key, prefix) {
				w.deliverLocked(ev)
			}
		}
	}
	s.watchers[w] = struct{}{}
	return w, nil
}

func (s *memStore) CurrentRevision(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rev, s.check()
}

func (s *memStore) Compact(_ context.Context, rev int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rev > s.rev {
		return storage.ErrFutureRevision
	}
	s.compacted = max(s.compacted, rev)
	return s.check()
}

func (s *memStore) CompactedRevision(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.compacted, s.check()
}

func (s *memStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for w := range s.watchers {
		w.stopLocked()
	}
	return nil
}
