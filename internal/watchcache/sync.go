package watchcache

import (
	"context"
	"errors"
	"slices"
	"time"

	"cella.dev/cella/internal/storage"
)

// errWatchClosed reports a backend watch whose channel closed without an
// EventError.
var errWatchClosed = errors.New("watchcache: backend watch closed")

// listAndWatch lists the cache's prefix at one revision and opens the
// backend watch of every event after it.
func (c *Cache) listAndWatch(ctx context.Context) ([]storage.KeyValue, int64, storage.Watcher, error) {
	for {
		items, rev, err := c.listAll(ctx)
		if err != nil {
			return nil, 0, nil, err
		}
		if rev > 0 {
			bw, err := c.backend.Watch(ctx, c.prefix, storage.WatchOptions{Revision: rev, ProgressNotify: true})
			return items, rev, bw, err
		}
		// Revision zero in WatchOptions means "from now", not "after
		// revision 0": watch first, then make sure nothing was written
		// since the list, or list again at a real revision.
		bw, err := c.backend.Watch(ctx, c.prefix, storage.WatchOptions{ProgressNotify: true})
		if err != nil {
			return nil, 0, nil, err
		}
		cur, err := c.backend.CurrentRevision(ctx)
		if err == nil && cur == 0 {
			return items, 0, bw, nil
		}
		bw.Stop()
		if err != nil {
			return nil, 0, nil, err
		}
	}
}

// listAll reads every key under the cache's prefix, page by page, from one
// snapshot.
func (c *Cache) listAll(ctx context.Context) ([]storage.KeyValue, int64, error) {
	res, err := c.backend.List(ctx, c.prefix, storage.ListOptions{Limit: listPageSize})
	if err != nil {
		return nil, 0, err
	}
	items, rev := res.Items, res.Revision
	for res.Continue != "" {
		res, err = c.backend.List(ctx, c.prefix, storage.ListOptions{Limit: listPageSize, Continue: res.Continue})
		if err != nil {
			return nil, 0, err
		}
		items = append(items, res.Items...)
	}
	return items, rev, nil
}

// run applies the backend's events and sends progress bookmarks until ctx
// ends. When the backend watch fails it watches again from the cache's
// revision, and re-lists if the backend no longer has that revision.
func (c *Cache) run(ctx context.Context, bw storage.Watcher) {
	tick := time.NewTicker(c.opts.ProgressInterval)
	defer tick.Stop()
	for {
		err := c.consume(ctx, bw, tick.C)
		bw.Stop()
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("backend watch ended", "revision", c.revision(), "err", err)
		if bw = c.rewatch(ctx); bw == nil {
			return
		}
	}
}

func (c *Cache) revision() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rev
}

// consume applies the events of bw until it ends, and returns why.
func (c *Cache) consume(ctx context.Context, bw storage.Watcher, tick <-chan time.Time) error {
	events := bw.ResultChan()
	batch := make([]storage.Event, 0, applyBatch)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
			c.progress()
		case ev, ok := <-events:
			if !ok {
				return errWatchClosed
			}
			// Take whatever else is already there, to apply it under one
			// lock and wake the waiters once.
			batch = append(batch[:0], ev)
			for ok && len(batch) < applyBatch {
				select {
				case ev, ok = <-events:
					if ok {
						batch = append(batch, ev)
					}
				default:
					ok = false
				}
			}
			err := c.apply(batch)
			clear(batch) // do not pin values until the next batch
			if err != nil {
				return err
			}
		}
	}
}

// apply applies a batch of backend events; an EventError ends the batch and
// is returned.
func (c *Cache) apply(batch []storage.Event) error {
	var err error
	c.mu.Lock()
	for _, ev := range batch {
		if ev.Type == storage.EventError {
			if err = ev.Err; err == nil {
				err = errWatchClosed
			}
			break
		}
		if ev.Revision <= c.rev {
			continue // already seen: a bookmark or a repeat after a re-watch
		}
		if ev.Type == storage.EventBookmark {
			c.rev = ev.Revision
			continue
		}
		c.applyLocked(ev)
	}
	c.mu.Unlock()
	c.changed.broadcast()
	return err
}

// applyLocked applies one put or delete to the state, records it in the
// history and sends it to the live watchers. The event the cache keeps
// takes its previous value from the state, so both share one byte slice.
func (c *Cache) applyLocked(ev storage.Event) {
	i, found := search(c.items, ev.Key)
	out := storage.Event{Type: ev.Type, Key: ev.Key, Revision: ev.Revision}
	var old storage.KeyValue
	if found {
		old = c.items[i]
		out.Key = old.Key // share the string with the state
	}
	switch ev.Type {
	case storage.EventPut:
		out.Value, out.PrevValue, out.CreateRevision = ev.Value, old.Value, ev.CreateRevision
		kv := storage.KeyValue{Key: out.Key, Value: ev.Value, CreateRevision: ev.CreateRevision, ModRevision: ev.Revision}
		if found {
			if out.PrevValue == nil {
				out.PrevValue = []byte{} // nil would mean a create
			}
			c.items[i] = kv
		} else {
			out.Created = true
			c.items = slices.Insert(c.items, i, kv)
		}
	case storage.EventDelete:
		if found {
			out.Value, out.PrevValue, out.CreateRevision = old.Value, old.Value, old.CreateRevision
			c.items = slices.Delete(c.items, i, i+1)
		} else {
			out.Value, out.PrevValue, out.CreateRevision = ev.Value, ev.PrevValue, ev.CreateRevision
		}
	default:
		return
	}
	c.rev = ev.Revision
	if dropped, ok := c.history.push(out); ok {
		c.from = dropped
		c.cutBehindLocked()
	}
	c.dispatchLocked(out)
}

// rewatch opens a new backend watch from the cache's revision, re-listing
// if the backend has compacted that revision away. It retries with backoff
// until it succeeds, and returns nil once ctx ends.
func (c *Cache) rewatch(ctx context.Context) storage.Watcher {
	delay := minBackoff
	for {
		var bw storage.Watcher
		err := storage.ErrCompacted
		// Revision zero would mean "from now", not "after revision 0".
		if rev := c.revision(); rev > 0 {
			bw, err = c.backend.Watch(ctx, c.prefix, storage.WatchOptions{Revision: rev, ProgressNotify: true})
		}
		if errors.Is(err, storage.ErrCompacted) {
			c.setReady(false)
			bw, err = c.relist(ctx)
		}
		if err == nil {
			c.setReady(true)
			return bw
		}
		if ctx.Err() != nil {
			return nil
		}
		c.log.Warn("re-watch failed", "err", err, "retry_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(2*delay, maxBackoff)
	}
}

func (c *Cache) setReady(ready bool) {
	c.mu.Lock()
	c.ready = ready
	c.mu.Unlock()
	c.changed.broadcast()
}

// relist replaces the state with a fresh list from the backend and opens a
// watch after it. If any key changed meanwhile, the history can no longer
// say what happened in between: it is dropped and every watcher is ended
// with storage.ErrCompacted, as the backend ends a watcher that fell behind
// its compaction. If none changed, history and watchers carry on.
func (c *Cache) relist(ctx context.Context) (storage.Watcher, error) {
	items, rev, bw, err := c.listAndWatch(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if rev < c.rev || !sameKeys(c.items, items) {
		c.log.Info("history dropped after re-list", "from", c.rev, "to", rev)
		c.epoch++
		c.history.reset()
		c.from = rev
		for w := range c.live {
			c.endLocked(w, historyError(w.rev, c.from))
		}
		for w := range c.behind {
			c.endLocked(w, historyError(w.rev, c.from))
		}
	}
	c.items, c.rev = items, rev
	return bw, nil
}
