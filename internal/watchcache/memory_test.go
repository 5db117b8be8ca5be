package watchcache

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"

	"cella.dev/cella/internal/storage"
)

// The tests of this file hold the cache to its byte bounds through its own
// accounting (Stats), not through timing or the Go heap.

// update writes value to key through c and returns the revision.
func update(t *testing.T, c *Cache, key string, value []byte) int64 {
	t.Helper()
	kv, err := c.Update(t.Context(), key, value, 0)
	if err != nil {
		t.Fatalf("Update(%s): %v", key, err)
	}
	return kv.ModRevision
}

// value returns n bytes, new for each call, so that no two events share
// their value.
func value(n int, tag int) []byte {
	v := make([]byte, n)
	for i := range v {
		v[i] = byte('a' + tag%26)
	}
	return v
}

// TestHistoryBytes: the history keeps within both its bounds. Many updates
// of a large value are bounded by bytes (each counts its value and its
// previous value), small ones by count, and a watch from a revision the
// byte bound dropped gets ErrCompacted while one from the oldest kept gets
// every event after it.
func TestHistoryBytes(t *testing.T) {
	const size = 4 << 10
	for _, tc := range []struct {
		name      string
		opts      Options
		size      int
		maxEvents int
	}{
		// An update counts about 2*size: 16 of them fit in 128 KiB.
		{"bytes bind", Options{History: 1000, HistoryBytes: 128 << 10}, size, 16},
		{"count binds", Options{History: 10, HistoryBytes: 128 << 10}, 16, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newMemStore()
				c := newCache(t, s, "/p/", tc.opts)
				if _, err := c.Create(t.Context(), "/p/a", value(tc.size, 0)); err != nil {
					t.Fatal(err)
				}
				var revs []int64
				for i := range 200 {
					revs = append(revs, update(t, c, "/p/a", value(tc.size, i+1)))
					synctest.Wait()
					st := c.Stats()
					if st.HistoryBytes > tc.opts.HistoryBytes || st.HistoryEvents > tc.opts.History {
						t.Fatalf("after %d updates: history holds %d events, %d bytes; bounds %d events, %d bytes",
							i+1, st.HistoryEvents, st.HistoryBytes, tc.opts.History, tc.opts.HistoryBytes)
					}
				}
				st := c.Stats()
				if st.HistoryEvents == 0 || st.HistoryEvents > tc.maxEvents {
					t.Fatalf("history holds %d events, want 1 to %d", st.HistoryEvents, tc.maxEvents)
				}
				// The oldest kept event is revs[len-HistoryEvents]: a watch
				// from the revision just before it is served, one from
				// before that is not.
				oldest := len(revs) - st.HistoryEvents
				if _, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{Revision: revs[oldest-2]}); !errors.Is(err, storage.ErrCompacted) {
					t.Fatalf("Watch from a dropped revision: %v, want ErrCompacted", err)
				}
				w, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{Revision: revs[oldest-1]})
				if err != nil {
					t.Fatalf("Watch from the revision before the oldest kept: %v", err)
				}
				defer w.Stop()
				evs, _ := received(w)
				if len(evs) != st.HistoryEvents || evs[0].Revision != revs[oldest] || evs[len(evs)-1].Revision != revs[len(revs)-1] {
					t.Fatalf("watch from the history got %q, want the %d kept events", describe(evs), st.HistoryEvents)
				}
			})
		})
	}
}

// TestHistoryEventLargerThanBound: an event larger than the byte bound is
// not kept, so a watch from before it gets ErrCompacted, but live watchers
// get it.
func TestHistoryEventLargerThanBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newMemStore()
		c := newCache(t, s, "/p/", Options{HistoryBytes: 16 << 10})
		w, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		small := create(t, c, "/p/a")
		big, err := c.Create(t.Context(), "/p/b", value(32<<10, 0))
		if err != nil {
			t.Fatal(err)
		}
		wantEvents(t, w, fmt.Sprintf("+/p/a@%d", small.ModRevision), fmt.Sprintf("+/p/b@%d", big.ModRevision))
		if st := c.Stats(); st.HistoryEvents != 0 || st.HistoryBytes != 0 {
			t.Fatalf("history after an oversized event: %+v, want empty", st)
		}
		if _, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{Revision: small.ModRevision}); !errors.Is(err, storage.ErrCompacted) {
			t.Fatalf("Watch from before the oversized event: %v, want ErrCompacted", err)
		}
	})
}

// TestWatchBufferBytes: a watcher that never reads holds at most
// WatchBufferBytes, however large the events, and is ended with
// ErrCompacted once the history has moved past it, which frees what it
// held; a watcher that reads gets every event, one larger than the bound
// included.
func TestWatchBufferBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const bound = 64 << 10
		s := newMemStore()
		// The count bounds are far off: only bytes bind.
		c := newCache(t, s, "/p/", Options{History: 10000, HistoryBytes: 256 << 10, WatchBuffer: 1000, WatchBufferBytes: bound})
		stuck, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer stuck.Stop()
		reader, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer reader.Stop()
		var want []string
		var read []storage.Event
		var maxBuffered int64
		for i := range 100 {
			kv, err := c.Create(t.Context(), fmt.Sprintf("/p/%03d", i), value(8<<10, i))
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, fmt.Sprintf("+%s@%d", kv.Key, kv.ModRevision))
			evs, _ := received(reader)
			read = append(read, evs...)
			// The reader has taken everything: what is buffered is the
			// stuck watcher's.
			maxBuffered = max(maxBuffered, c.Stats().BufferedBytes)
			if b := c.Stats().BufferedBytes; b > bound {
				t.Fatalf("after %d writes: %d bytes buffered, bound %d", i+1, b, bound)
			}
		}
		if maxBuffered < bound/2 {
			t.Fatalf("at most %d bytes were ever buffered: the stuck watcher never filled its queue", maxBuffered)
		}
		if got := describe(read); !slices.Equal(got, want) {
			t.Fatalf("the reading watcher got %q, want %q", got, want)
		}
		st := c.Stats()
		if st.Watchers != 1 || st.Terminated != 1 {
			t.Fatalf("stats: %+v, want the stuck watcher ended (1 watcher left, 1 terminated)", st)
		}
		// Ended, it holds only the event it was handing over and the error.
		if st.BufferedBytes > 8<<10+2*eventOverhead+16 {
			t.Fatalf("%d bytes buffered after the stuck watcher ended", st.BufferedBytes)
		}
		evs, closed := received(stuck)
		got := describe(evs)
		if !closed || len(evs) < 2 || !errors.Is(evs[len(evs)-1].Err, storage.ErrCompacted) || !slices.Equal(got[:len(got)-1], want[:len(got)-1]) {
			t.Fatalf("the stuck watcher got %q (closed %v), want a gap-free start, then ErrCompacted", got, closed)
		}

		// One event larger than the bound is still delivered.
		big, err := c.Create(t.Context(), "/p/big", value(2*bound, 0))
		if err != nil {
			t.Fatal(err)
		}
		wantEvents(t, reader, fmt.Sprintf("+/p/big@%d", big.ModRevision))
		if st := c.Stats(); st.BufferedBytes != 0 {
			t.Fatalf("%d bytes buffered after every event was read, want 0", st.BufferedBytes)
		}
	})
}

// TestWatchBufferBytesStartBehind: a watch whose initial state is larger
// than the byte bound starts behind and gets it at its reader's pace,
// holding at most the bound meanwhile; Stop frees what it held.
func TestWatchBufferBytesStartBehind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const bound = 32 << 10
		s := newMemStore()
		c := newCache(t, s, "/p/", Options{WatchBufferBytes: bound})
		var want []string
		for i := range 20 {
			kv, err := c.Create(t.Context(), fmt.Sprintf("/p/%02d", i), value(8<<10, i))
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, fmt.Sprintf("+%s@%d", kv.Key, kv.ModRevision))
		}
		// From revision 0 of the history: 20 events of 8 KiB do not fit.
		w, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{Revision: 1})
		if err != nil {
			t.Fatal(err)
		}
		var got []storage.Event
		for len(got) < len(want)-1 {
			synctest.Wait()
			if b := c.Stats().BufferedBytes; b > bound {
				t.Fatalf("%d bytes buffered while catching up, bound %d", b, bound)
			}
			got = append(got, <-w.ResultChan())
		}
		if d := describe(got); !slices.Equal(d, want[1:]) {
			t.Fatalf("got %q, want %q", d, want[1:])
		}
		w.Stop()
		if _, closed := received(w); !closed {
			t.Fatal("channel open after Stop")
		}
		if st := c.Stats(); st.BufferedBytes != 0 || st.Watchers != 0 {
			t.Fatalf("stats after Stop: %+v, want nothing buffered and no watcher", st)
		}
	})
}

// TestLaggingReaderQueueStaysSmall: a reader that is always a few events
// behind never empties its queue; the queue reuses its slots rather than
// grow with every event.
func TestLaggingReaderQueueStaysSmall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newMemStore()
		c := newCache(t, s, "/p/", Options{WatchBuffer: 8})
		sw, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer sw.Stop()
		w := sw.(*watcher)
		create(t, c, "/p/a")
		create(t, c, "/p/b")
		for i := range 1000 {
			create(t, c, fmt.Sprintf("/p/%04d", i))
			synctest.Wait()
			<-w.ResultChan()
		}
		w.mu.Lock()
		n, size := w.queued(), cap(w.queue)
		w.mu.Unlock()
		if n == 0 || size > 2*8 {
			t.Fatalf("after 1000 events read one behind: %d queued in a queue of %d slots, want some in at most 16", n, size)
		}
		if st := c.Stats(); st.Watchers != 1 || st.Terminated != 0 {
			t.Fatalf("stats: %+v, want the watcher still live", st)
		}
	})
}
