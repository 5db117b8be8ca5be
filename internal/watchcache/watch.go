package watchcache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"cella.dev/cella/internal/storage"
)

// watcher is one watch served by the cache. At any time exactly one party
// sends to ch, and only that party closes it: while live (in c.live) it is
// the fan-out, holding c.mu; otherwise it is the watcher's catch-up
// goroutine, which feeds it from the history at the reader's pace.
type watcher struct {
	c        *Cache
	prefix   string
	progress bool
	epoch    uint64 // c.epoch when the watch began
	// ch has room for WatchBuffer events plus one: the fan-out never fills
	// the last slot, so a final EventError always fits.
	ch       chan storage.Event
	stopc    chan struct{} // closed by Stop
	stopOnce sync.Once
	unhook   func() bool // undoes the context.AfterFunc that calls Stop

	// rev is the revision up to which the watcher has been sent every
	// event it should see. Guarded by c.mu while live, owned by the
	// catch-up goroutine otherwise.
	rev int64
	// live and busy are guarded by c.mu. busy records an event sent since
	// the last progress tick.
	live, busy bool
}

var _ storage.Watcher = (*watcher)(nil)

func (w *watcher) ResultChan() <-chan storage.Event { return w.ch }

// Stop ends the watch and closes its channel. It is safe to call more than
// once and from any goroutine.
func (w *watcher) Stop() {
	w.stopOnce.Do(func() {
		close(w.stopc) // tells a catch-up goroutine to finish
		w.c.mu.Lock()
		if w.live {
			w.c.endLocked(w)
		}
		w.c.mu.Unlock()
	})
}

// send delivers ev, blocking on the reader; it reports false if the watch
// ended first. Only the catch-up goroutine sends this way.
func (w *watcher) send(ev storage.Event) bool {
	select {
	case w.ch <- ev:
		return true
	case <-w.stopc:
		return false
	case <-w.c.done:
		return false
	}
}

// finish closes the channel; the caller is its current sender.
func (w *watcher) finish() {
	w.unhook()
	close(w.ch)
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
		ch:       make(chan storage.Event, c.opts.WatchBuffer+1),
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
	c.startLocked(w, initial, opts.InitialState)
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

// startLocked sends a new watcher what it must see before live events: the
// initial state (a view of c.items) if asked for, then the history after
// w.rev. When that fits in the buffer it is sent at once and the watcher
// joins the fan-out, with no goroutine of its own; otherwise a catch-up
// goroutine feeds it from a copy of the initial state.
func (c *Cache) startLocked(w *watcher, initial []storage.KeyValue, initialState bool) {
	n := len(initial)
	if initialState {
		n++
	}
	if n > c.opts.WatchBuffer || n+c.history.countAfter(w.rev, w.prefix, c.opts.WatchBuffer) > c.opts.WatchBuffer {
		initial = slices.Clone(initial)
		c.wg.Go(func() { c.catchUp(w, initial, initialState) })
		return
	}
	for _, kv := range initial {
		w.ch <- initialEvent(kv)
	}
	if initialState {
		w.ch <- storage.Event{Type: storage.EventBookmark, Revision: w.rev, InitialEventsEnd: true}
	}
	for i := c.history.after(w.rev); i < c.history.len(); i++ {
		if ev := c.history.at(i); strings.HasPrefix(ev.Key, w.prefix) {
			w.ch <- *ev
		}
	}
	w.rev = max(w.rev, c.rev)
	w.live = true
	c.live[w] = struct{}{}
}

// dispatchLocked sends ev to every live watcher that should see it. A
// watcher whose buffer is full leaves the fan-out for a catch-up goroutine,
// so a slow reader never blocks the others.
func (c *Cache) dispatchLocked(ev storage.Event) {
	for w := range c.live {
		if ev.Revision <= w.rev {
			continue // the watcher started after ev
		}
		if strings.HasPrefix(ev.Key, w.prefix) {
			if len(w.ch) >= c.opts.WatchBuffer {
				delete(c.live, w)
				w.live = false
				c.wg.Go(func() { c.catchUp(w, nil, false) })
				continue
			}
			w.ch <- ev
			w.busy = true
		}
		w.rev = ev.Revision
	}
}

// endLocked takes w off the fan-out and closes its channel.
func (c *Cache) endLocked(w *watcher) {
	delete(c.live, w)
	w.live = false
	w.finish()
}

// failLocked ends a live watcher that has lost events.
func (c *Cache) failLocked(w *watcher) {
	w.ch <- storage.Event{Type: storage.EventError, Err: historyError(w.rev, c.from)}
	c.endLocked(w)
}

// catchUp feeds w the initial state, if any, then the history after w.rev,
// at the pace of its reader. Once it has sent everything the cache has
// seen, w rejoins the fan-out and the goroutine ends. If the history moves
// past w first, w ends with storage.ErrCompacted.
func (c *Cache) catchUp(w *watcher, initial []storage.KeyValue, initialState bool) {
	for _, kv := range initial {
		if !w.send(initialEvent(kv)) {
			w.finish()
			return
		}
	}
	if initialState && !w.send(storage.Event{Type: storage.EventBookmark, Revision: w.rev, InitialEventsEnd: true}) {
		w.finish()
		return
	}
	batch := make([]storage.Event, 0, catchUpBatch)
	for {
		var err error
		batch, err = c.nextBatch(w, batch[:0])
		if errors.Is(err, errClosed) {
			w.finish()
			return
		}
		if err != nil {
			w.send(storage.Event{Type: storage.EventError, Err: err})
			w.finish()
			return
		}
		if len(batch) == 0 && c.join(w) {
			return
		}
		for _, ev := range batch {
			if !w.send(ev) {
				w.finish()
				return
			}
		}
		clear(batch) // do not pin values while blocked on the reader
	}
}

// nextBatch appends to batch the next events after w.rev that w should
// see, and moves w.rev past every event it looked at.
func (c *Cache) nextBatch(w *watcher, batch []storage.Event) ([]storage.Event, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return batch, errClosed
	}
	if w.epoch != c.epoch || w.rev < c.from {
		return batch, historyError(w.rev, c.from)
	}
	for i := c.history.after(w.rev); i < c.history.len() && len(batch) < cap(batch); i++ {
		ev := c.history.at(i)
		if strings.HasPrefix(ev.Key, w.prefix) {
			batch = append(batch, *ev)
		}
		w.rev = ev.Revision
	}
	return batch, nil
}

// join moves a caught-up watcher onto the fan-out, or closes it if it was
// stopped. It reports false if there is more to send first.
func (c *Cache) join(w *watcher) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-w.stopc:
		w.finish()
		return true
	default:
	}
	if c.closed {
		w.finish()
		return true
	}
	if w.epoch != c.epoch || w.rev < c.from || c.history.after(w.rev) < c.history.len() {
		return false
	}
	w.rev = max(w.rev, c.rev)
	w.live = true
	c.live[w] = struct{}{}
	return true
}

// progress sends a bookmark at the cache's revision to every live watcher
// that asked for progress notifications and got no event since the last
// tick.
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
		if w.rev > c.rev || len(w.ch) >= c.opts.WatchBuffer {
			continue
		}
		w.rev = c.rev
		w.ch <- storage.Event{Type: storage.EventBookmark, Revision: c.rev}
	}
}
