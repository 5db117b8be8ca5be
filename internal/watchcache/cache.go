package watchcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cella.dev/cella/internal/storage"
)

// Defaults for the zero fields of Options.
const (
	DefaultHistory          = 10000
	DefaultHistoryBytes     = 64 << 20
	DefaultProgressInterval = 5 * time.Second
	DefaultWatchBuffer      = 100
	DefaultWatchBufferBytes = 8 << 20
)

const (
	// listPageSize is the page size of the lists that fill the cache.
	listPageSize = 5000
	// applyBatch caps how many backend events are applied under one lock.
	applyBatch = 256
	// catchUpBatch caps how many events a watcher that is behind queues
	// from the history under one read lock.
	catchUpBatch = 64
	// Backoff between attempts to re-watch or re-list a failing backend.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

var errClosed = fmt.Errorf("%w: watch cache closed", storage.ErrUnavailable)

// Options tune a Cache. The zero value is ready to use.
//
// There is no clock: the cache only needs tickers and timers from package
// time, and its tests run in testing/synctest bubbles, which fake them.
type Options struct {
	// History is the number of events kept for watches that start in the
	// past (the server's --watch-history). Zero means DefaultHistory.
	History int
	// HistoryBytes bounds the same events by size, as eventBytes counts
	// them (the server's --watch-history-bytes): the oldest are dropped
	// to stay within both bounds. Zero means DefaultHistoryBytes.
	HistoryBytes int64
	// ProgressInterval is the period of the bookmarks sent to idle watchers
	// that asked for progress notifications. Zero means
	// DefaultProgressInterval.
	ProgressInterval time.Duration
	// WatchBuffer is the number of events a watcher may have unread before
	// it is moved off the live fan-out and fed from the history. Zero means
	// DefaultWatchBuffer.
	WatchBuffer int
	// WatchBufferBytes bounds the same events by size, as eventBytes
	// counts them (the server's --watch-buffer-bytes); one event larger
	// than it is still delivered alone. Zero means
	// DefaultWatchBufferBytes.
	WatchBufferBytes int64
	// Logger receives the cache's logs. Nil discards them.
	Logger *slog.Logger
}

// Cache is the watch cache of one key prefix. It implements
// storage.Interface by serving watches and stale lists from memory and
// handing everything else to the backend. See the package documentation for
// its guarantees.
type Cache struct {
	backend storage.Interface
	prefix  string
	opts    Options
	log     *slog.Logger

	cancel    context.CancelFunc // stops the run loop and its backend watch
	done      chan struct{}      // closed by Close
	closeOnce sync.Once
	wg        sync.WaitGroup // the run loop and every catch-up goroutine

	// lastWrite is the highest revision of a write under prefix made
	// through this cache. Stale lists and initial-state watches wait until
	// the cache has seen it, so a client reads its own writes.
	lastWrite atomic.Int64

	// changed is signalled after every change of the fields below.
	changed notifier

	mu sync.RWMutex
	// ready is false while the cache re-lists the backend.
	ready bool
	// closed is set by Close; no watcher is added after it.
	closed bool
	// rev is the revision the cache has seen everything up to.
	rev int64
	// items is every key under prefix at rev, sorted by key. Values are the
	// backend's byte slices, shared with events and watchers, never copied
	// or written.
	items []storage.KeyValue
	// history holds the latest events; together with from, it knows every
	// event above from: a watch from a revision at or above from can be
	// served, one below it cannot.
	history ring
	from    int64
	// epoch counts the re-lists that dropped the history; a watcher from an
	// older epoch has lost events.
	epoch uint64
	// live is the set of watchers the fan-out queues events for; behind
	// is the set of watchers fed from the history.
	live, behind map[*watcher]struct{}

	// buffered is the sum of every watcher's pending bytes.
	buffered atomic.Int64
	// terminated counts the watchers ended because they lost events.
	terminated atomic.Uint64
}

var _ storage.Interface = (*Cache)(nil)

// New lists prefix from backend, starts watching it, and returns the cache,
// ready to serve. prefix must end in "/". The cache does not own backend:
// Close leaves it open.
func New(backend storage.Interface, prefix string, opts Options) (*Cache, error) {
	if backend == nil {
		return nil, errors.New("watchcache: nil backend")
	}
	if !strings.HasSuffix(prefix, "/") {
		return nil, fmt.Errorf("watchcache: prefix %q does not end in /", prefix)
	}
	if opts.History < 0 || opts.HistoryBytes < 0 || opts.WatchBuffer < 0 || opts.WatchBufferBytes < 0 || opts.ProgressInterval < 0 {
		return nil, fmt.Errorf("watchcache: negative option in %+v", opts)
	}
	if opts.History == 0 {
		opts.History = DefaultHistory
	}
	if opts.HistoryBytes == 0 {
		opts.HistoryBytes = DefaultHistoryBytes
	}
	if opts.WatchBufferBytes == 0 {
		opts.WatchBufferBytes = DefaultWatchBufferBytes
	}
	if opts.ProgressInterval == 0 {
		opts.ProgressInterval = DefaultProgressInterval
	}
	if opts.WatchBuffer == 0 {
		opts.WatchBuffer = DefaultWatchBuffer
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cache{
		backend: backend,
		prefix:  prefix,
		opts:    opts,
		log:     log.With("component", "watchcache", "prefix", prefix),
		done:    make(chan struct{}),
		history: ring{max: opts.History, maxBytes: opts.HistoryBytes},
		live:    make(map[*watcher]struct{}),
		behind:  make(map[*watcher]struct{}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	items, rev, bw, err := c.listAndWatch(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watchcache: start %s: %w", prefix, err)
	}
	c.cancel = cancel
	c.items, c.rev, c.from, c.ready = items, rev, rev, true
	c.wg.Go(func() { c.run(ctx, bw) })
	return c, nil
}

// Close ends every watcher, stops the cache and waits for its goroutines.
// It does not close the backend. Calls after Close, Close included, give
// storage.ErrUnavailable.
func (c *Cache) Close() error {
	err := errClosed
	c.closeOnce.Do(func() {
		err = nil
		close(c.done)
		c.cancel()
		c.mu.Lock()
		c.closed = true
		for w := range c.live {
			c.endLocked(w, nil)
		}
		for w := range c.behind {
			c.endLocked(w, nil)
		}
		c.mu.Unlock()
		c.changed.broadcast()
		c.wg.Wait()
	})
	return err
}

// Stats is what a Cache holds in memory for watches, as it counts it
// against its bounds (see Options). Byte counts are upper bounds of what
// the events keep alive: values are shared between the state, the history
// and the watchers, and each is counted wherever it is held.
type Stats struct {
	// HistoryEvents and HistoryBytes are the events kept for watches that
	// start in the past, at most Options.History and Options.HistoryBytes.
	HistoryEvents int
	HistoryBytes  int64
	// Watchers is the number of watches the cache feeds, on the fan-out
	// or from the history; an ended watch no longer counts.
	Watchers int
	// BufferedBytes is what the watchers hold for their readers: the
	// events queued and the one each is handing over. Each watcher holds
	// at most Options.WatchBufferBytes, or one event larger than that.
	BufferedBytes int64
	// Terminated counts the watchers ended because they lost events: the
	// history moved past a reader too slow to keep up, or a re-list
	// dropped it.
	Terminated uint64
}

// Stats returns the cache's current accounting. It is safe to call at any
// time, after Close too.
func (c *Cache) Stats() Stats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return Stats{
		HistoryEvents: c.history.len(),
		HistoryBytes:  c.history.bytes,
		Watchers:      len(c.live) + len(c.behind),
		BufferedBytes: c.buffered.Load(),
		Terminated:    c.terminated.Load(),
	}
}

// Prefix returns the key prefix the cache serves.
func (c *Cache) Prefix() string { return c.prefix }

func (c *Cache) checkOpen() error {
	select {
	case <-c.done:
		return errClosed
	default:
		return nil
	}
}

// covers reports whether every key under prefix is under the cache's.
func (c *Cache) covers(prefix string) bool {
	return strings.HasPrefix(prefix, c.prefix)
}

// wrote records a write through the cache.
func (c *Cache) wrote(kv storage.KeyValue) {
	if !c.covers(kv.Key) {
		return
	}
	for {
		old := c.lastWrite.Load()
		if kv.ModRevision <= old || c.lastWrite.CompareAndSwap(old, kv.ModRevision) {
			return
		}
	}
}

// Get reads the backend.
func (c *Cache) Get(ctx context.Context, key string) (storage.KeyValue, error) {
	if err := c.checkOpen(); err != nil {
		return storage.KeyValue{}, err
	}
	return c.backend.Get(ctx, key)
}

// Count asks the backend.
func (c *Cache) Count(ctx context.Context, prefix string) (int64, error) {
	if err := c.checkOpen(); err != nil {
		return 0, err
	}
	return c.backend.Count(ctx, prefix)
}

// Create writes through to the backend.
func (c *Cache) Create(ctx context.Context, key string, value []byte) (storage.KeyValue, error) {
	if err := c.checkOpen(); err != nil {
		return storage.KeyValue{}, err
	}
	kv, err := c.backend.Create(ctx, key, value)
	if err == nil {
		c.wrote(kv)
	}
	return kv, err
}

// Update writes through to the backend.
func (c *Cache) Update(ctx context.Context, key string, value []byte, expectedRevision int64) (storage.KeyValue, error) {
	if err := c.checkOpen(); err != nil {
		return storage.KeyValue{}, err
	}
	kv, err := c.backend.Update(ctx, key, value, expectedRevision)
	if err == nil {
		c.wrote(kv)
	}
	return kv, err
}

// Delete writes through to the backend.
func (c *Cache) Delete(ctx context.Context, key string, expectedRevision int64) (storage.KeyValue, error) {
	if err := c.checkOpen(); err != nil {
		return storage.KeyValue{}, err
	}
	kv, err := c.backend.Delete(ctx, key, expectedRevision)
	if err == nil {
		c.wrote(kv)
	}
	return kv, err
}

// CurrentRevision asks the backend.
func (c *Cache) CurrentRevision(ctx context.Context) (int64, error) {
	if err := c.checkOpen(); err != nil {
		return 0, err
	}
	return c.backend.CurrentRevision(ctx)
}

// Compact compacts the backend. The cache keeps its own history, but Watch
// asks the backend for the compacted revision, so a watch below it gives
// storage.ErrCompacted as the backend's would.
func (c *Cache) Compact(ctx context.Context, revision int64) error {
	if err := c.checkOpen(); err != nil {
		return err
	}
	return c.backend.Compact(ctx, revision)
}

// CompactedRevision asks the backend.
func (c *Cache) CompactedRevision(ctx context.Context) (int64, error) {
	if err := c.checkOpen(); err != nil {
		return 0, err
	}
	return c.backend.CompactedRevision(ctx)
}

// List reads the backend, except a Stale list (Kubernetes'
// resourceVersion=0) of a prefix under the cache's with no Revision: that is
// answered from memory at the cache's revision, with FromCache set, once the
// cache has seen every write made through it. A continue token from such a
// page is answered from memory too while the cache is still at the token's
// revision, and by the backend afterwards.
//
// The values of a page from memory are the cache's own, shared with every
// reader and watcher: unlike the backend's, they must not be modified.
func (c *Cache) List(ctx context.Context, prefix string, opts storage.ListOptions) (storage.ListResult, error) {
	if err := c.checkOpen(); err != nil {
		return storage.ListResult{}, err
	}
	if !opts.Stale || opts.Revision != 0 || !c.covers(prefix) {
		return c.backend.List(ctx, prefix, opts)
	}
	if err := ctx.Err(); err != nil {
		return storage.ListResult{}, err
	}
	var after string
	var tokenRev int64
	if opts.Continue != "" {
		var err error
		if after, tokenRev, err = storage.DecodeContinue(prefix, opts.Continue); err != nil {
			return storage.ListResult{}, err
		}
	}
	if err := c.lockWhen(ctx, false, c.sawWritesLocked); err != nil {
		return storage.ListResult{}, err
	}
	if opts.Continue != "" && tokenRev != c.rev {
		c.mu.RUnlock()
		return c.backend.List(ctx, prefix, opts)
	}
	res := c.listLocked(prefix, after, opts.Limit)
	c.mu.RUnlock()
	return res, nil
}

// listLocked returns a page of the keys under prefix after the key after
// (from the first if empty).
func (c *Cache) listLocked(prefix, after string, limit int64) storage.ListResult {
	lo, hi := prefixRange(c.items, prefix)
	if after != "" {
		i, found := search(c.items, after)
		if found {
			i++
		}
		lo = max(lo, i)
	}
	lo = min(lo, hi)
	res := storage.ListResult{Revision: c.rev, FromCache: true}
	end := hi
	if limit > 0 && int64(hi-lo) > limit {
		end = lo + int(limit)
		res.Continue = storage.EncodeContinue(prefix, c.items[end-1].Key, c.rev)
	}
	res.Items = make([]storage.KeyValue, end-lo)
	copy(res.Items, c.items[lo:end])
	res.RemainingItemCount = int64(hi - end)
	return res
}

// WaitFresh blocks until the cache has seen revision, so that a read from
// the cache reflects every write up to it. It gives
// storage.ErrFutureRevision if the backend has not reached revision either,
// and the context's error if ctx ends first. The cache learns of revisions
// written under other prefixes from the backend's progress bookmarks, so
// waiting for one can take up to the backend's progress interval.
func (c *Cache) WaitFresh(ctx context.Context, revision int64) error {
	if err := c.checkOpen(); err != nil {
		return err
	}
	seen := func() bool { return c.rev >= revision }
	c.mu.RLock()
	fresh := c.ready && seen()
	c.mu.RUnlock()
	if fresh {
		return nil
	}
	if revision > c.lastWrite.Load() {
		cur, err := c.backend.CurrentRevision(ctx)
		if err != nil {
			return err
		}
		if revision > cur {
			return fmt.Errorf("%w: revision %d, storage is at %d", storage.ErrFutureRevision, revision, cur)
		}
	}
	if err := c.lockWhen(ctx, false, seen); err != nil {
		return err
	}
	c.mu.RUnlock()
	return nil
}

// sawWritesLocked reports whether the cache has seen every write made
// through it.
func (c *Cache) sawWritesLocked() bool {
	return c.rev >= c.lastWrite.Load()
}

// lockWhen takes c.mu, exclusively if excl, once the cache is ready and
// condLocked holds. It returns holding the lock, or without it and with an
// error when ctx ends or the cache closes.
func (c *Cache) lockWhen(ctx context.Context, excl bool, condLocked func() bool) error {
	lock, unlock := c.mu.RLock, c.mu.RUnlock
	if excl {
		lock, unlock = c.mu.Lock, c.mu.Unlock
	}
	var changed <-chan struct{}
	for {
		lock()
		if c.closed {
			unlock()
			return errClosed
		}
		if c.ready && condLocked() {
			return nil
		}
		unlock()
		if changed == nil {
			// Subscribe, then look again: a change between the look above
			// and the subscription would otherwise be missed.
			changed = c.changed.wait()
			continue
		}
		select {
		case <-changed:
			changed = nil
		case <-ctx.Done():
			return fmt.Errorf("watchcache: waiting for %s: %w", c.prefix, ctx.Err())
		case <-c.done:
			return errClosed
		}
	}
}

// notifier wakes every goroutine waiting for a change.
type notifier struct {
	mu sync.Mutex
	ch chan struct{} // nil while nobody waits
}

// wait returns a channel closed at the next broadcast.
func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *notifier) broadcast() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}
