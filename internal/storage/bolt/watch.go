package bolt

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"cella.dev/cella/internal/storage"
)

// Watch delivery works in two phases per watcher.
//
// Registration: under hub.mu the watcher joins the hub and learns P, the
// revision of the last published event. From then on the committer appends
// every event after P under the watcher's prefix to the watcher's queue.
//
// Catch-up: the watcher's goroutine delivers what came before, read from the
// file: the history records in (opts.Revision, P], or with InitialState a
// snapshot of the keys at the revision S >= P its read transaction sees. Then
// it delivers its queue, skipping events at or below the revision it caught
// up to. Publishing happens only after a commit, so every event at or below
// P is in the file when catch-up reads it, and every event after P is in the
// queue: no gaps and no duplicates.

// replayChunk bounds the events one catch-up read transaction copies, and
// replayScan the history records it walks, so that read transactions stay
// short (a long one would block bolt from growing its memory map).
const (
	replayChunk = 512
	replayScan  = 8192
)

// Watch reports changes to keys under prefix; see storage.Interface.
func (s *Store) Watch(ctx context.Context, prefix string, opts storage.WatchOptions) (storage.Watcher, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, errClosed
	}
	if !opts.InitialState && opts.Revision != 0 {
		if opts.Revision > s.rev.Load() {
			return nil, storage.ErrFutureRevision
		}
		if opts.Revision < s.compacted.Load() {
			return nil, storage.ErrCompacted
		}
	}
	w := &watcher{
		s:        s,
		prefix:   prefix,
		progress: opts.ProgressNotify,
		out:      make(chan storage.Event, watchChanBuffer),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		notify:   make(chan struct{}, 1),
	}
	published, err := s.hub.register(w)
	if err != nil {
		return nil, err
	}
	from := opts.Revision
	if !opts.InitialState && from == 0 {
		// Read after registering, so the queue covers everything after it.
		from = s.rev.Load()
	}
	go w.run(ctx, opts.InitialState, from, published)
	return w, nil
}

// watchChanBuffer is the capacity of a watcher's result channel. The real
// buffer is the watcher's queue; this only lets the goroutine run ahead of a
// consumer by a few events.
const watchChanBuffer = 16

// hub fans committed events out to watchers.
type hub struct {
	s     *Store
	limit int // Options.WatcherBufferSize

	mu        sync.Mutex
	closed    bool                  // guarded by mu
	watchers  map[*watcher]struct{} // guarded by mu; watchers still fed events
	published int64                 // guarded by mu; revision of the last published event

	// quit is closed by close; every watcher goroutine and the progress
	// ticker return when it is.
	quit chan struct{}
	// wg counts the watcher goroutines and the progress ticker; close waits.
	wg sync.WaitGroup
}

func newHub(s *Store, rev int64) *hub {
	h := &hub{
		s:         s,
		limit:     s.opts.WatcherBufferSize,
		watchers:  make(map[*watcher]struct{}),
		published: rev,
		quit:      make(chan struct{}),
	}
	h.wg.Add(1)
	go h.progressLoop(s.opts.ProgressNotifyInterval)
	return h
}

// register adds w and returns the revision of the last published event. The
// caller must start w.run, which calls wg.Done.
func (h *hub) register(w *watcher) (int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return 0, errClosed
	}
	h.watchers[w] = struct{}{}
	h.wg.Add(1)
	return h.published, nil
}

func (h *hub) remove(w *watcher) {
	h.mu.Lock()
	delete(h.watchers, w)
	h.mu.Unlock()
}

// publish hands events, in revision order, to every watcher. It is called by
// the committer after each successful commit and never blocks on a watcher:
// one whose queue is full is marked overflowed and dropped from the hub.
func (h *hub) publish(events []storage.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers {
		if !w.pushLocked(events, h.limit) {
			delete(h.watchers, w)
			h.s.log.Warn("watcher fell behind; ending it", "prefix", w.prefix, "buffer", h.limit)
		}
	}
	h.published = events[len(events)-1].Revision
}

// progressLoop queues a bookmark, every interval, for each ProgressNotify
// watcher that was given no event during the last interval.
func (h *hub) progressLoop(interval time.Duration) {
	defer h.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-h.quit:
			return
		case <-t.C:
		}
		h.mu.Lock()
		for w := range h.watchers {
			if w.progress {
				w.offerProgressLocked(h.published)
			}
		}
		h.mu.Unlock()
	}
}

// close ends every watch and waits for the watcher goroutines and the
// progress ticker.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	close(h.quit)
	h.wg.Wait()
}

// watcher is one running watch. Its goroutine, run, owns out and is the
// only sender on it.
type watcher struct {
	s        *Store
	prefix   string
	progress bool

	out      chan storage.Event
	stop     chan struct{} // closed by Stop
	stopOnce sync.Once
	done     chan struct{} // closed when run returns, after out
	notify   chan struct{} // wakes run when the queue changes; capacity 1

	mu       sync.Mutex
	queue    []storage.Event // guarded by mu; events not yet taken by run
	overflow bool            // guarded by mu; the queue filled up, nothing more will be queued
	active   bool            // guarded by mu; an event was queued since the last progress tick

	// ended is set by run once it has sent, or given up sending, an
	// EventError; only run touches it.
	ended bool
}

// ResultChan returns the events; it is closed when the watch ends.
func (w *watcher) ResultChan() <-chan storage.Event { return w.out }

// Stop ends the watch and returns once the result channel is closed. It may
// be called more than once and from any goroutine.
func (w *watcher) Stop() {
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
}

// pushLocked queues the events under w's prefix; hub.mu must be held, which
// keeps every watcher's queue in publication order. It reports false if the
// queue would exceed limit, after which w takes no more events.
func (w *watcher) pushLocked(events []storage.Event, limit int) bool {
	w.mu.Lock()
	queued := false
	for i := range events {
		if !strings.HasPrefix(events[i].Key, w.prefix) {
			continue
		}
		if len(w.queue) >= limit {
			w.overflow = true
			break
		}
		w.queue = append(w.queue, events[i])
		queued = true
	}
	w.active = w.active || queued
	overflow := w.overflow
	w.mu.Unlock()
	if queued || overflow {
		w.wake()
	}
	return !overflow
}

// offerProgressLocked queues a bookmark at rev if w is idle: nothing was queued
// since the last tick and nothing is waiting, so at most one bookmark is ever
// pending. hub.mu must be held, so that rev covers everything queued.
func (w *watcher) offerProgressLocked(rev int64) {
	w.mu.Lock()
	idle := !w.active && len(w.queue) == 0 && !w.overflow
	if idle {
		w.queue = append(w.queue, storage.Event{Type: storage.EventBookmark, Revision: rev})
	}
	w.active = false
	w.mu.Unlock()
	if idle {
		w.wake()
	}
}

func (w *watcher) wake() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// run is the watcher goroutine, started by Watch and joined by hub.close
// (through hub.wg) and Stop (through done). It catches up from the file,
// then delivers the queue, until the watch ends.
func (w *watcher) run(ctx context.Context, initial bool, from, published int64) {
	defer func() {
		w.s.hub.remove(w)
		if !w.ended {
			select {
			case <-w.s.hub.quit:
				// The store is closing: say so if the consumer has room,
				// without waiting for it.
				select {
				case w.out <- storage.Event{Type: storage.EventError, Err: errClosed}:
				default:
				}
			default:
			}
		}
		close(w.out)
		close(w.done)
		w.s.hub.wg.Done()
	}()
	var cursor int64
	var ok bool
	if initial {
		cursor, ok = w.sendInitialState(ctx)
	} else {
		cursor, ok = w.replay(ctx, from, published)
	}
	if !ok {
		return
	}
	var batch []storage.Event
	for {
		select {
		case <-w.notify:
		case <-w.stop:
			return
		case <-ctx.Done():
			return
		case <-w.s.hub.quit:
			return
		}
		w.mu.Lock()
		batch, w.queue = w.queue, batch[:0]
		overflow := w.overflow
		w.mu.Unlock()
		for i := range batch {
			ev := batch[i]
			if ev.Revision < cursor || (ev.Revision == cursor && ev.Type != storage.EventBookmark) {
				continue // delivered by catch-up
			}
			if !w.send(ctx, ev) {
				return
			}
			cursor = ev.Revision
		}
		clear(batch) // let delivered values be collected
		if overflow {
			w.sendError(ctx, fmt.Errorf("%w: watcher fell more than %d events behind",
				storage.ErrCompacted, w.s.hub.limit))
			return
		}
	}
}

// send delivers ev unless the watch ends first.
func (w *watcher) send(ctx context.Context, ev storage.Event) bool {
	select {
	case w.out <- ev:
		return true
	case <-w.stop:
	case <-ctx.Done():
	case <-w.s.hub.quit:
	}
	return false
}

// sendError ends the watch with err, unless it ends first anyway.
func (w *watcher) sendError(ctx context.Context, err error) {
	w.ended = true
	w.send(ctx, storage.Event{Type: storage.EventError, Err: err})
}

// sendInitialState delivers the keys under the prefix at the revision S of a
// fresh read transaction, then the InitialEventsEnd bookmark at S, and
// returns S.
func (w *watcher) sendInitialState(ctx context.Context) (int64, bool) {
	tx, err := w.s.begin(ctx)
	if err != nil {
		w.sendError(ctx, err)
		return 0, false
	}
	rev, _, err := readMeta(tx)
	var items []storage.KeyValue
	if err == nil {
		items, err = snapshot(tx, keyBytes(w.prefix), rev)
	}
	_ = tx.Rollback()
	if err != nil {
		w.sendError(ctx, err)
		return 0, false
	}
	for _, kv := range items {
		ev := storage.Event{Type: storage.EventPut, Key: kv.Key, Value: kv.Value, Revision: kv.ModRevision,
			CreateRevision: kv.CreateRevision, Created: true}
		if !w.send(ctx, ev) {
			return 0, false
		}
	}
	ok := w.send(ctx, storage.Event{Type: storage.EventBookmark, Revision: rev, InitialEventsEnd: true})
	return rev, ok
}

// snapshot returns copies of the keys under prefix as tx sees them; rev is
// the revision tx reads.
func snapshot(tx *bolt.Tx, prefix []byte, rev int64) ([]storage.KeyValue, error) {
	it, err := newListIter(tx, prefix, nil, rev, rev)
	if err != nil {
		return nil, err
	}
	p := newPage()
	for {
		e, ok, err := it.next()
		if err != nil {
			p.finish()
			return nil, err
		}
		if !ok {
			return p.finish(), nil
		}
		p.add(e)
	}
}

// replay delivers the history records in (from, to] under the prefix, in
// chunks of short read transactions, and returns the revision it caught up
// to.
func (w *watcher) replay(ctx context.Context, from, to int64) (int64, bool) {
	cursor := from
	for cursor < to {
		events, next, err := w.readHistory(ctx, cursor, to)
		if err != nil {
			w.sendError(ctx, err)
			return 0, false
		}
		if next <= cursor {
			// Every revision up to a published one has a record unless
			// compacted, which readHistory reports; never spin on a gap.
			w.sendError(ctx, fmt.Errorf("%w: history record %d is missing", storage.ErrCompacted, cursor+1))
			return 0, false
		}
		for _, ev := range events {
			if !w.send(ctx, ev) {
				return 0, false
			}
		}
		cursor = next
	}
	return max(from, to), true
}

// readHistory returns copies of the events under the prefix in (after, to],
// up to replayChunk of them, and the revision it read up to.
func (w *watcher) readHistory(ctx context.Context, after, to int64) ([]storage.Event, int64, error) {
	tx, err := w.s.begin(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	_, compacted, err := readMeta(tx)
	if err != nil {
		return nil, 0, err
	}
	if after < compacted {
		return nil, 0, fmt.Errorf("%w: watch needs revision %d, history starts after %d",
			storage.ErrCompacted, after+1, compacted)
	}
	prefix := keyBytes(w.prefix)
	var events []storage.Event
	c := tx.Bucket(bucketHistory).Cursor()
	start := makeRevKey(after + 1)
	next := after
	scanned := 0
	for k, v := c.Seek(start[:]); k != nil; k, v = c.Next() {
		rev := parseRevKey(k)
		if rev > to || len(events) == replayChunk || scanned == replayScan {
			return events, next, nil
		}
		scanned++
		next = rev
		r, err := decodeRecord(v)
		if err != nil {
			return nil, 0, err
		}
		if !bytes.HasPrefix(r.key, prefix) {
			continue
		}
		events = append(events, eventFromRecord(r))
	}
	return events, to, nil
}

// eventFromRecord returns the event a history record describes, copying its
// bytes out of bolt's memory with one allocation for the values.
func eventFromRecord(r record) storage.Event {
	buf := make([]byte, len(r.prev)+len(r.value))
	prev := buf[:len(r.prev):len(r.prev)]
	copy(prev, r.prev)
	value := buf[len(r.prev):]
	copy(value, r.value)
	ev := storage.Event{Type: storage.EventPut, Key: string(r.key), Value: value,
		Revision: r.modRev, CreateRevision: r.createRev}
	switch r.typ {
	case recCreate:
		ev.Created = true
	case recUpdate:
		ev.PrevValue = prev
	case recDelete:
		ev.Type = storage.EventDelete
		ev.PrevValue = value
	}
	return ev
}
