package watchcache

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"cella.dev/cella/internal/storage"
)

// watchState says where a watcher's events come from.
type watchState uint8

const (
	// stateLive: the fan-out queues each event for the watcher as the
	// cache applies it.
	stateLive watchState = iota
	// stateBehind: the watcher's queue filled, or it started with more
	// than fits; its goroutine queues the next events from the history, at
	// the reader's pace, until it has caught up and rejoins the fan-out.
	stateBehind
	// stateEnded: nothing more is queued. The goroutine sends what the
	// queue holds (at most a final EventError) and closes the channel.
	stateEnded
)

// watcher is one watch served by the cache. Events wait in its queue until
// its goroutine (serve) hands them, one at a time, to the reader over an
// unbuffered channel; that goroutine closes ch. The fan-out sends to ch
// itself, without waiting, when the reader is waiting for an event and
// nothing is queued or being handed over, so a reader that keeps up costs
// one channel send per event, as a buffered channel would.
//
// The queue holds at most Options.WatchBuffer events and
// Options.WatchBufferBytes bytes, so a reader that stops reading costs at
// most that much: when the queue is full the watcher leaves the fan-out
// and is fed from the history instead, and once the history has moved
// past it, it is ended and its queue dropped. A buffered channel could
// not do this: nothing tells its sender when the reader has taken an
// event, and what it holds cannot be taken back without a gap.
type watcher struct {
	c        *Cache
	prefix   string
	progress bool
	epoch    uint64 // c.epoch when the watch began
	// ch is unbuffered, so an event counts as buffered (pending) until the
	// reader has received it.
	ch chan storage.Event
	// wake holds a token when the queue has gained an event or the state
	// has changed since the goroutine last looked.
	wake     chan struct{}
	stopc    chan struct{} // closed by Stop
	stopOnce sync.Once
	unhook   func() bool // undoes the context.AfterFunc that calls Stop

	// rev is the revision up to which every event the watcher should see
	// has been queued. While live it is guarded by c.mu; while behind only
	// the goroutine writes it, holding c.mu for reading or writing, so a
	// holder of c.mu's write lock may read it.
	rev int64
	// busy records an event queued since the last progress tick. Guarded
	// by c.mu.
	busy bool

	// mu guards the fields below. It is taken after c.mu, never before.
	mu sync.Mutex
	// state changes only while c.mu is held for writing too, so a holder
	// of either lock may read it. A watcher is in c.live while live and in
	// c.behind while behind.
	state watchState
	// queue[head:] are the events waiting for the goroutine; the slots
	// before head are zero.
	queue []storage.Event
	head  int
	// handing is set while the goroutine hands an event to the reader.
	handing bool
	// pending is eventBytes over the queue and the event the goroutine is
	// handing to the reader; Cache.buffered is its sum over the watchers.
	pending int64
}

var _ storage.Watcher = (*watcher)(nil)

func (w *watcher) ResultChan() <-chan storage.Event { return w.ch }

// Stop ends the watch: what is queued is dropped and the channel closes.
// It is safe to call more than once and from any goroutine.
func (w *watcher) Stop() {
	w.stopOnce.Do(func() {
		close(w.stopc) // tells the goroutine to finish
		w.c.mu.Lock()
		w.c.endLocked(w, nil)
		w.c.mu.Unlock()
	})
}

// signal leaves a wake token for the goroutine, unless one is there.
func (w *watcher) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// queued is the number of events in the queue.
func (w *watcher) queued() int { return len(w.queue) - w.head }

// handOffLocked gives ev to the reader at once, and reports true, if the
// reader is waiting and nothing is ahead of ev. w.mu is held, and c.mu for
// writing with w live, so w cannot end meanwhile: its channel is open.
func (w *watcher) handOffLocked(ev storage.Event) bool {
	if w.queued() > 0 || w.handing {
		return false
	}
	select {
	case w.ch <- ev:
		return true
	default:
		return false
	}
}

// offerLocked hands ev off or queues it, and wakes the goroutine if it
// queued it. It reports false if the queue is full. Locks as for
// handOffLocked.
func (w *watcher) offerLocked(ev storage.Event) bool {
	if w.handOffLocked(ev) {
		return true
	}
	if !w.enqueueLocked(ev) {
		return false
	}
	w.signal()
	return true
}

// enqueueLocked appends ev to the queue unless the queue is full: it holds
// WatchBuffer events, or ev would take pending over WatchBufferBytes. An
// event larger than WatchBufferBytes alone is taken when nothing is
// pending, so every event can be delivered. w.mu is held.
func (w *watcher) enqueueLocked(ev storage.Event) bool {
	n := eventBytes(&ev)
	if w.queued() >= w.c.opts.WatchBuffer || (w.pending > 0 && w.pending+n > w.c.opts.WatchBufferBytes) {
		return false
	}
	if len(w.queue) == cap(w.queue) && w.head > 0 {
		// Reuse the slots already handed over rather than grow: a reader
		// that always lags a little never empties the queue.
		k := copy(w.queue, w.queue[w.head:])
		clear(w.queue[k:])
		w.queue, w.head = w.queue[:k], 0
	}
	w.queue = append(w.queue, ev)
	w.pending += n
	w.c.buffered.Add(n)
	return true
}

// dropQueueLocked empties the queue; the event in hand stays pending.
// w.mu is held.
func (w *watcher) dropQueueLocked() {
	var n int64
	for i := w.head; i < len(w.queue); i++ {
		n += eventBytes(&w.queue[i])
	}
	clear(w.queue)
	w.queue, w.head = w.queue[:0], 0
	w.pending -= n
	w.c.buffered.Add(-n)
}

// pop takes the next queued event, which stays pending until delivered. It
// reports false, with the state, when the queue is empty.
func (w *watcher) pop() (storage.Event, watchState, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.head == len(w.queue) {
		return storage.Event{}, w.state, false
	}
	ev := w.queue[w.head]
	w.handing = true
	w.queue[w.head] = storage.Event{}
	if w.head++; w.head == len(w.queue) {
		w.queue, w.head = w.queue[:0], 0
	}
	return ev, 0, true
}

// addPending counts n more (or, negative, fewer) bytes pending, and
// records whether an event is being handed over.
func (w *watcher) addPending(n int64, handing bool) {
	w.mu.Lock()
	w.pending += n
	w.handing = handing
	w.mu.Unlock()
	w.c.buffered.Add(n)
}

// deliver sends ev, which is pending, blocking on the reader, and counts it
// delivered. It reports false if the watch ended first.
func (w *watcher) deliver(ev storage.Event) bool {
	select {
	case w.ch <- ev:
		w.addPending(-eventBytes(&ev), false)
		return true
	case <-w.stopc:
		return false
	case <-w.c.done:
		return false
	}
}

// Watch serves a watch of a prefix under the cache's from memory (a prefix
// outside it goes to the backend). Revision zero starts after the latest
// revision the cache has seen or written; a revision above that is accepted
// if the backend has reached it, and its events arrive as the cache sees
// them. InitialState ignores Revision and starts from a snapshot that holds
// every write made through the cache.
func (c *Cache) Watch(ctx context.Context, prefix string, opts storage.WatchOptions) (storage.Watcher, error) {
	if err := c.checkOpen(); err != nil {
		return nil, err
	}
	if !c.covers(prefix) {
		return c.backend.Watch(ctx, prefix, opts)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := opts.Revision
	if opts.InitialState {
		start = 0
	}
	if start > 0 {
		if err := c.checkStart(ctx, start); err != nil {
			return nil, err
		}
	}
	cond := func() bool { return true }
	if opts.InitialState {
		cond = c.sawWritesLocked
	}
	if err := c.lockWhen(ctx, true, cond); err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	w := &watcher{
		c:        c,
		prefix:   prefix,
		progress: opts.ProgressNotify,
		epoch:    c.epoch,
		ch:       make(chan storage.Event),
		wake:     make(chan struct{}, 1),
		stopc:    make(chan struct{}),
	}
	var initial []storage.KeyValue
	switch {
	case opts.InitialState:
		lo, hi := prefixRange(c.items, prefix)
		initial = c.items[lo:hi]
		w.rev = c.rev
	case start == 0:
		w.rev = max(c.rev, c.lastWrite.Load())
	case start < c.from:
		return nil, historyError(start, c.from)
	default:
		w.rev = start
	}
	w.unhook = context.AfterFunc(ctx, w.Stop)
	replay := c.startLocked(w, initial, opts.InitialState)
	c.wg.Go(func() { c.serve(w, replay) })
	return w, nil
}

// checkStart reports whether a watch may start after revision rev: not
// below the backend's compacted revision, not above its current one.
func (c *Cache) checkStart(ctx context.Context, rev int64) error {
	compacted, err := c.backend.CompactedRevision(ctx)
	if err != nil {
		return err
	}
	if rev < compacted {
		return fmt.Errorf("%w: watch from revision %d, compacted at %d", storage.ErrCompacted, rev, compacted)
	}
	if rev <= c.lastWrite.Load() || rev <= c.revision() {
		return nil
	}
	cur, err := c.backend.CurrentRevision(ctx)
	if err != nil {
		return err
	}
	if rev > cur {
		return fmt.Errorf("%w: watch from revision %d, storage is at %d", storage.ErrFutureRevision, rev, cur)
	}
	return nil
}

func historyError(rev, from int64) error {
	return fmt.Errorf("%w: watch at revision %d, the cache's history starts after %d", storage.ErrCompacted, rev, from)
}

func initialEvent(kv storage.KeyValue) storage.Event {
	return storage.Event{
		Type:           storage.EventPut,
		Key:            kv.Key,
		Value:          kv.Value,
		Revision:       kv.ModRevision,
		CreateRevision: kv.CreateRevision,
		Created:        true,
	}
}

// replay is what a watcher's goroutine sends before its queue: the initial
// state, from a copy of the snapshot, then the bookmark that ends it.
type replay struct {
	items []storage.KeyValue
	end   storage.Event
}

// startLocked puts a new watcher where it gets its events. When what it
// must see before live events (the initial state if asked for, then the
// history after w.rev) fits in its queue, that is queued and the watcher
// joins the fan-out. Otherwise it starts behind, and startLocked returns
// the initial state for its goroutine to send first, from a copy of the
// snapshot; the history follows as for any watcher that is behind.
func (c *Cache) startLocked(w *watcher, initial []storage.KeyValue, initialState bool) *replay {
	end := storage.Event{Type: storage.EventBookmark, Revision: w.rev, InitialEventsEnd: true}
	if c.queueFirstLocked(w, initial, initialState, end) {
		w.rev = max(w.rev, c.rev)
		w.state = stateLive
		c.live[w] = struct{}{}
		return nil
	}
	w.state = stateBehind
	c.behind[w] = struct{}{}
	if !initialState {
		return nil
	}
	return &replay{items: slices.Clone(initial), end: end}
}

// queueFirstLocked queues the initial state (if asked for), its end
// bookmark and the history after w.rev, and reports whether they fit; if
// they do not, the queue is left empty.
func (c *Cache) queueFirstLocked(w *watcher, initial []storage.KeyValue, initialState bool, end storage.Event) bool {
	if len(initial) >= c.opts.WatchBuffer {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	fits := true
	for _, kv := range initial {
		if fits = w.enqueueLocked(initialEvent(kv)); !fits {
			break
		}
	}
	if fits && initialState {
		fits = w.enqueueLocked(end)
	}
	for i := c.history.after(w.rev); fits && i < c.history.len(); i++ {
		if ev := c.history.at(i); strings.HasPrefix(ev.Key, w.prefix) {
			fits = w.enqueueLocked(*ev)
		}
	}
	if !fits {
		w.dropQueueLocked()
	}
	return fits
}

// serve is the watcher's goroutine. It sends the replay, if any, then each
// queued event in turn; when the queue is empty it waits for the fan-out
// while the watcher is live, queues the next events from the history while
// it is behind, and returns once it has ended. It closes the channel.
func (c *Cache) serve(w *watcher, rp *replay) {
	defer c.finish(w)
	if rp != nil {
		for _, kv := range rp.items {
			if !c.hand(w, initialEvent(kv)) {
				return
			}
		}
		rp.items = nil
		if !c.hand(w, rp.end) {
			return
		}
	}
	for {
		ev, state, ok := w.pop()
		if ok {
			if !w.deliver(ev) || ev.Type == storage.EventError {
				return
			}
			continue
		}
		switch state {
		case stateLive:
			select {
			case <-w.wake:
			case <-w.stopc:
				return
			case <-c.done:
				return
			}
		case stateBehind:
			if !c.catchUp(w) {
				return
			}
		default:
			return
		}
	}
}

// hand sends ev, which is not queued, counting it pending meanwhile. It
// reports false if the watch was stopped or the cache closed first. A
// watcher that has ended gets nothing more from hand, which reports true:
// serve then sends what the queue holds.
func (c *Cache) hand(w *watcher, ev storage.Event) bool {
	w.mu.Lock()
	state := w.state
	w.mu.Unlock()
	if state == stateEnded {
		return true // the queue holds why, if anything: serve sends it
	}
	w.addPending(eventBytes(&ev), true)
	if !w.deliver(ev) {
		w.addPending(-eventBytes(&ev), false)
		return false
	}
	return true
}

// finish ends the watcher, drops what it still counts as pending and
// closes its channel. The goroutine calls it as it returns.
func (c *Cache) finish(w *watcher) {
	w.unhook()
	c.mu.Lock()
	c.endLocked(w, nil)
	c.mu.Unlock()
	w.mu.Lock()
	w.dropQueueLocked()
	c.buffered.Add(-w.pending)
	w.pending = 0
	w.mu.Unlock()
	close(w.ch)
}

// dispatchLocked queues ev for every live watcher that should see it. A
// watcher whose queue is full falls behind: it leaves the fan-out and is
// fed from the history, so a slow reader never blocks the others.
func (c *Cache) dispatchLocked(ev storage.Event) {
	for w := range c.live {
		if ev.Revision <= w.rev {
			continue // the watcher started after ev
		}
		if strings.HasPrefix(ev.Key, w.prefix) {
			w.mu.Lock()
			queued := w.offerLocked(ev)
			if !queued {
				w.state = stateBehind
				w.signal()
			}
			w.mu.Unlock()
			if !queued {
				delete(c.live, w)
				c.behind[w] = struct{}{}
				continue
			}
			w.busy = true
		}
		w.rev = ev.Revision
	}
}

// endLocked ends w: it leaves the fan-out or the history, what it had
// queued is dropped, and err, if not nil, is queued as its last event. So
// its reader gets a gap-free run of events, then err, then the end of the
// channel. Ending an ended watcher does nothing. c.mu is held for writing.
func (c *Cache) endLocked(w *watcher, err error) {
	delete(c.live, w)
	delete(c.behind, w)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state == stateEnded {
		return
	}
	w.state = stateEnded
	w.dropQueueLocked()
	if err != nil {
		ev := storage.Event{Type: storage.EventError, Err: err}
		w.queue = append(w.queue, ev)
		w.pending += eventBytes(&ev)
		c.buffered.Add(eventBytes(&ev))
		c.terminated.Add(1)
	}
	w.signal()
}

// cutBehindLocked ends, with storage.ErrCompacted, every watcher that is
// behind and needs events the history no longer holds, and so frees what
// it had queued. c.mu is held for writing.
func (c *Cache) cutBehindLocked() {
	for w := range c.behind {
		if w.rev < c.from {
			c.endLocked(w, historyError(w.rev, c.from))
		}
	}
}

// catchUp queues, for a watcher that is behind and has an empty queue, the
// next events after w.rev from the history, as many as fit. When there are
// none it moves w back onto the fan-out; when the history has moved past
// w, it ends w with storage.ErrCompacted. It reports false once the cache
// is closed.
func (c *Cache) catchUp(w *watcher) bool {
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return false
	}
	n := c.queueHistoryLocked(w)
	c.mu.RUnlock()
	if n > 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	w.mu.Lock()
	state := w.state
	w.mu.Unlock()
	switch {
	case state != stateBehind:
		// Ended meanwhile; serve sends what the queue holds and returns.
	case w.epoch != c.epoch || w.rev < c.from:
		c.endLocked(w, historyError(w.rev, c.from))
	case c.history.after(w.rev) < c.history.len():
		// More arrived since the read lock was released: queue it first.
	default:
		w.rev = max(w.rev, c.rev)
		w.mu.Lock()
		w.state = stateLive
		w.mu.Unlock()
		delete(c.behind, w)
		c.live[w] = struct{}{}
	}
	return true
}

// queueHistoryLocked queues the events after w.rev that w should see, up
// to catchUpBatch of them and as many as fit, moves w.rev past every event
// it looked at, and returns how many it queued. It queues nothing if the
// history has lost events w needs. c.mu is held for reading at least.
func (c *Cache) queueHistoryLocked(w *watcher) int {
	if w.epoch != c.epoch || w.rev < c.from {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state != stateBehind {
		return 0
	}
	n := 0
	for i := c.history.after(w.rev); i < c.history.len() && n < catchUpBatch; i++ {
		ev := c.history.at(i)
		if strings.HasPrefix(ev.Key, w.prefix) {
			if !w.enqueueLocked(*ev) {
				break
			}
			n++
		}
		w.rev = ev.Revision
	}
	return n
}

// progress queues a bookmark at the cache's revision for every live
// watcher that asked for progress notifications, got no event since the
// last tick, and has room for it.
func (c *Cache) progress() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for w := range c.live {
		if !w.progress {
			continue
		}
		if w.busy {
			w.busy = false
			continue
		}
		if w.rev > c.rev {
			continue
		}
		w.mu.Lock()
		queued := w.offerLocked(storage.Event{Type: storage.EventBookmark, Revision: c.rev})
		w.mu.Unlock()
		if queued {
			w.rev = c.rev
		}
	}
}
