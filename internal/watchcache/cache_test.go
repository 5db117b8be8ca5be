package watchcache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"cella.dev/cella/internal/storage"
)

// The tests run in testing/synctest bubbles: synctest.Wait returns once the
// cache's goroutines have done all they can, so what a watcher has received
// by then is deterministic, and the bubble fails the test if a goroutine
// outlives Close.

func newCache(t *testing.T, backend storage.Interface, prefix string, opts Options) *Cache {
	t.Helper()
	c, err := New(backend, prefix, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func create(t *testing.T, s storage.Interface, key string) storage.KeyValue {
	t.Helper()
	kv, err := s.Create(t.Context(), key, []byte("v-"+key))
	if err != nil {
		t.Fatalf("Create(%s): %v", key, err)
	}
	return kv
}

// received waits for the cache to settle and returns the events w has
// received, reading until nothing more comes, and whether w is closed.
func received(w storage.Watcher) (evs []storage.Event, closed bool) {
	for {
		synctest.Wait()
		n := len(evs)
		for more := true; more; {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					return evs, true
				}
				evs = append(evs, ev)
			default:
				more = false
			}
		}
		if len(evs) == n {
			return evs, false
		}
	}
}

// describe renders events compactly for comparison: "+/p/a@1" is a create,
// "~" an update, "-" a delete, "bookmark@5", "end@5" the end of the initial
// state, "error: ..." an error.
func describe(evs []storage.Event) []string {
	out := make([]string, 0, len(evs))
	for _, ev := range evs {
		switch ev.Type {
		case storage.EventPut:
			op := "~"
			if ev.Created {
				op = "+"
			}
			out = append(out, fmt.Sprintf("%s%s@%d", op, ev.Key, ev.Revision))
		case storage.EventDelete:
			out = append(out, fmt.Sprintf("-%s@%d", ev.Key, ev.Revision))
		case storage.EventBookmark:
			if ev.InitialEventsEnd {
				out = append(out, fmt.Sprintf("end@%d", ev.Revision))
			} else {
				out = append(out, fmt.Sprintf("bookmark@%d", ev.Revision))
			}
		case storage.EventError:
			out = append(out, "error: "+ev.Err.Error())
		}
	}
	return out
}

func wantEvents(t *testing.T, w storage.Watcher, want ...string) {
	t.Helper()
	evs, closed := received(w)
	if got := describe(evs); !slices.Equal(got, want) {
		t.Fatalf("events:\n got  %q\n want %q", got, want)
	}
	if closed {
		t.Fatalf("watch closed after %q", describe(evs))
	}
}

func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		name    string
		backend storage.Interface
		prefix  string
		opts    Options
	}{
		{"nil backend", nil, "/p/", Options{}},
		{"prefix without slash", newMemStore(), "/p", Options{}},
		{"negative history", newMemStore(), "/p/", Options{History: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := New(tc.backend, tc.prefix, tc.opts); err == nil {
				c.Close()
				t.Fatal("New succeeded")
			}
		})
	}
}

// TestWatchWindow checks where a watch may start. The cache keeps History
// events under its prefix; writes elsewhere do not use the history up.
func TestWatchWindow(t *testing.T) {
	// Writes: /p/1@1 /p/2@2 /q/x@3 /p/3@4 /p/4@5 /p/5@6. With History 3 the
	// cache keeps @4 @5 @6 and knows every event after @2: /q/x@3 is not its.
	for _, tc := range []struct {
		name  string
		rev   int64
		want  []string
		error error
	}{
		{name: "zero is only new events", rev: 0, want: []string{"+/p/6@7"}},
		{name: "before the history", rev: 1, error: storage.ErrCompacted},
		{name: "exactly where the history starts", rev: 2, want: []string{"+/p/3@4", "+/p/4@5", "+/p/5@6", "+/p/6@7"}},
		{name: "between events", rev: 3, want: []string{"+/p/3@4", "+/p/4@5", "+/p/5@6", "+/p/6@7"}},
		{name: "at the oldest event", rev: 4, want: []string{"+/p/4@5", "+/p/5@6", "+/p/6@7"}},
		{name: "at the latest event", rev: 6, want: []string{"+/p/6@7"}},
		{name: "future", rev: 8, error: storage.ErrFutureRevision},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newMemStore()
				c := newCache(t, s, "/p/", Options{History: 3})
				for _, k := range []string{"/p/1", "/p/2", "/q/x", "/p/3", "/p/4", "/p/5"} {
					create(t, c, k)
				}
				synctest.Wait()
				w, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{Revision: tc.rev})
				if tc.error != nil {
					if !errors.Is(err, tc.error) {
						t.Fatalf("Watch(%d) = %v, want %v", tc.rev, err, tc.error)
					}
					return
				}
				if err != nil {
					t.Fatalf("Watch(%d): %v", tc.rev, err)
				}
				defer w.Stop()
				create(t, c, "/p/6")
				wantEvents(t, w, tc.want...)
			})
		})
	}
}

// TestWatchWindowAtStart: a cache started on a store with history knows
// nothing before its first list, except that nothing changed since.
func TestWatchWindowAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newMemStore()
		create(t, s, "/p/a")
		create(t, s, "/p/b")
		c := newCache(t, s, "/p/", Options{})
		if _, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{Revision: 1}); !errors.Is(err, storage.ErrCompacted) {
			t.Fatalf("Watch(1) = %v, want ErrCompacted", err)
		}
		w, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{Revision: 2})
		if err != nil {
			t.Fatalf("Watch(2): %v", err)
		}
		defer w.Stop()
		create(t, s, "/p/c")
		wantEvents(t, w, "+/p/c@3")
	})
}

// TestWatchCompactedBackend: the cache still has the events, but the backend
// was compacted past them, and the cache answers as the backend would.
func TestWatchCompactedBackend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newMemStore()
		c := newCache(t, s, "/p/", Options{})
		for _, k := range []string{"/p/a", "/p/b", "/p/c"} {
			create(t, c, k)
		}
		if err := c.Compact(t.Context(), 2); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{Revision: 1}); !errors.Is(err, storage.ErrCompacted) {
			t.Fatalf("Watch(1) = %v, want ErrCompacted", err)
		}
		w, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{Revision: 2})
		if err != nil {
			t.Fatalf("Watch(2): %v", err)
		}
		defer w.Stop()
		wantEvents(t, w, "+/p/c@3")
	})
}

// TestWatchAheadOfCache: a revision the backend has but the cache has not
// seen yet is accepted, and its events arrive once the cache sees them.
func TestWatchAheadOfCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newMemStore()
		c := newCache(t, s, "/p/", Options{})
		create(t, c, "/p/a")
		synctest.Wait()
		s.hold()
		create(t, s, "/p/b") // @2
		create(t, s, "/p/c") // @3
		if _, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{Revision: 4}); !errors.Is(err, storage.ErrFutureRevision) {
			t.Fatalf("Watch(4) = %v, want ErrFutureRevision", err)
		}
		w, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{Revision: 2})
		if err != nil {
			t.Fatalf("Watch(2): %v", err)
		}
		defer w.Stop()
		wantEvents(t, w)
		s.release()
		wantEvents(t, w, "+/p/c@3")
	})
}

func TestWaitFresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newMemStore()
		c := newCache(t, s, "/p/", Options{})
		if err := c.WaitFresh(t.Context(), 1); !errors.Is(err, storage.ErrFutureRevision) {
			t.Fatalf("WaitFresh(1) on an empty store = %v, want ErrFutureRevision", err)
		}
		s.hold()
		create(t, s, "/p/a") // @1
		create(t, s, "/q/a") // @2, not under the prefix: seen through a bookmark
		done := make(chan error, 1)
		go func() { done <- c.WaitFresh(t.Context(), 2) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("WaitFresh returned %v before the cache saw revision 2", err)
		default:
		}
		s.release()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("WaitFresh returned %v before the bookmark", err)
		default:
		}
		s.bookmark()
		if err := <-done; err != nil {
			t.Fatalf("WaitFresh: %v", err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		create(t, s, "/q/b") // @3, no bookmark follows
		if err := c.WaitFresh(ctx, 3); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitFresh without progress = %v, want DeadlineExceeded", err)
		}
	})
}

// TestSlowWatcher: a watcher that does not read leaves the fan-out when its
// buffer fills; it would be fed from the history when it reads again, but
// is ended with ErrCompacted once the history has moved past it, and what
// it had queued is dropped: its reader gets the event that was being
// handed over, then the error.
func TestSlowWatcher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newMemStore()
		c := newCache(t, s, "/p/", Options{History: 8, WatchBuffer: 2})
		slow, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fast, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for i := range 20 {
			create(t, c, fmt.Sprintf("/p/%02d", i))
			want = append(want, fmt.Sprintf("+/p/%02d@%d", i, i+1))
			// The fast watcher reads as events come.
			evs, _ := received(fast)
			if got := describe(evs); !slices.Equal(got, want[i:]) {
				t.Fatalf("fast watcher got %q, want %q", got, want[i:])
			}
		}
		if st := c.Stats(); st.Watchers != 1 || st.Terminated != 1 {
			t.Fatalf("stats before the slow watcher reads: %+v, want 1 watcher (the fast one) and 1 terminated", st)
		}
		evs, closed := received(slow)
		got := describe(evs)
		if !closed || len(evs) == 0 || evs[len(evs)-1].Type != storage.EventError || !errors.Is(evs[len(evs)-1].Err, storage.ErrCompacted) {
			t.Fatalf("slow watcher got %q (closed %v), want events ending in ErrCompacted", got, closed)
		}
		if n := len(evs) - 1; n < 1 || !slices.Equal(got[:n], want[:n]) {
			t.Fatalf("slow watcher got %q, want a gap-free start of %q", got, want)
		}
		if st := c.Stats(); st.BufferedBytes != 0 {
			t.Fatalf("%d bytes buffered once every event is read, want 0", st.BufferedBytes)
		}
	})
}

// TestSlowWatcherCatchesUp: a watcher that falls behind less than the
// history gets every event and goes back on the fan-out.
func TestSlowWatcherCatchesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newMemStore()
		c := newCache(t, s, "/p/", Options{History: 100, WatchBuffer: 2})
		w, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		var want []string
		for i := range 10 {
			create(t, c, fmt.Sprintf("/p/%d", i))
			want = append(want, fmt.Sprintf("+/p/%d@%d", i, i+1))
		}
		synctest.Wait()
		wantEvents(t, w, want...)
		if n := liveCount(c); n != 1 {
			t.Fatalf("%d live watchers after catching up, want 1", n)
		}
		create(t, c, "/p/x")
		wantEvents(t, w, "+/p/x@11")
	})
}

func liveCount(c *Cache) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.live)
}

func TestInitialState(t *testing.T) {
	for _, n := range []int{0, 3, 50} { // 50 does not fit in the buffer
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newMemStore()
				c := newCache(t, s, "/r/", Options{WatchBuffer: 10})
				var want []string
				for i := range n {
					kv := create(t, c, fmt.Sprintf("/r/a/%02d", i))
					want = append(want, fmt.Sprintf("+%s@%d", kv.Key, kv.ModRevision))
				}
				other := create(t, c, "/r/b/x")
				upd, err := c.Update(t.Context(), "/r/a/00", []byte("new"), 0)
				if n > 0 && err != nil {
					t.Fatal(err)
				}
				if n > 0 {
					// The updated key comes with its new revision, in key order.
					want[0] = fmt.Sprintf("+/r/a/00@%d", upd.ModRevision)
				}
				// No synctest.Wait here: the watch must see the writes made
				// through the cache even if the cache has not yet.
				w, err := c.Watch(t.Context(), "/r/a/", storage.WatchOptions{InitialState: true, Revision: 1})
				if err != nil {
					t.Fatal(err)
				}
				defer w.Stop()
				rev, _ := s.CurrentRevision(t.Context())
				want = append(want, fmt.Sprintf("end@%d", rev))
				// Writes after the snapshot follow the bookmark.
				c.Update(t.Context(), "/r/b/x", []byte("new"), other.ModRevision)
				later := create(t, c, "/r/a/zz")
				want = append(want, fmt.Sprintf("+/r/a/zz@%d", later.ModRevision))
				wantEvents(t, w, want...)
			})
		})
	}
}

func TestProgressNotify(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newMemStore()
		c := newCache(t, s, "/p/", Options{ProgressInterval: time.Second})
		create(t, c, "/p/a")
		create(t, s, "/q/a") // @2: the cache learns of it from a backend bookmark
		s.bookmark()
		synctest.Wait()
		progress, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{ProgressNotify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer progress.Stop()
		quiet, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer quiet.Stop()
		time.Sleep(time.Second)
		wantEvents(t, progress, "bookmark@2")
		wantEvents(t, quiet)

		// A watcher that got an event during the interval gets no bookmark.
		time.Sleep(time.Second / 2)
		create(t, c, "/p/b")
		time.Sleep(time.Second / 2)
		wantEvents(t, progress, "+/p/b@3")
		time.Sleep(time.Second)
		wantEvents(t, progress, "bookmark@3")
		wantEvents(t, quiet, "+/p/b@3")
	})
}

func TestStaleList(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newMemStore()
		c := newCache(t, s, "/p/", Options{})
		for _, k := range []string{"/p/a/1", "/p/a/2", "/p/a/3", "/p/a/4", "/p/a/5", "/p/b/1"} {
			create(t, c, k)
		}
		keys := func(res storage.ListResult) []string {
			var ks []string
			for _, kv := range res.Items {
				ks = append(ks, kv.Key)
			}
			return ks
		}
		type page struct {
			keys      []string
			remaining int64
			more      bool
			fromCache bool
		}
		var got []page
		opts := storage.ListOptions{Stale: true, Limit: 2}
		for {
			res, err := c.List(t.Context(), "/p/a/", opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.Revision != 6 {
				t.Fatalf("page at revision %d, want 6", res.Revision)
			}
			got = append(got, page{keys(res), res.RemainingItemCount, res.Continue != "", res.FromCache})
			if res.Continue == "" {
				break
			}
			opts.Continue = res.Continue
		}
		want := []page{
			{[]string{"/p/a/1", "/p/a/2"}, 3, true, true},
			{[]string{"/p/a/3", "/p/a/4"}, 1, true, true},
			{[]string{"/p/a/5"}, 0, false, true},
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("pages:\n got  %v\n want %v", got, want)
		}

		// Without Stale, or once the cache has moved past the token's
		// revision, the backend answers.
		res, err := c.List(t.Context(), "/p/a/", storage.ListOptions{Limit: 2})
		if err != nil || res.FromCache {
			t.Fatalf("non-stale List: FromCache %v, err %v", res.FromCache, err)
		}
		first, err := c.List(t.Context(), "/p/a/", storage.ListOptions{Stale: true, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		create(t, c, "/p/a/6")
		res, err = c.List(t.Context(), "/p/a/", storage.ListOptions{Stale: true, Continue: first.Continue})
		if err != nil || res.FromCache {
			t.Fatalf("stale continue after a write: FromCache %v, err %v", res.FromCache, err)
		}
		if _, err := c.List(t.Context(), "/p/a/", storage.ListOptions{Stale: true, Continue: "junk"}); !errors.Is(err, storage.ErrInvalidContinue) {
			t.Fatalf("bad token: %v, want ErrInvalidContinue", err)
		}
	})
}

// TestStaleListReadsOwnWrites: a stale list waits for the cache to see the
// writes made through it.
func TestStaleListReadsOwnWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newMemStore()
		c := newCache(t, s, "/p/", Options{})
		s.hold()
		create(t, c, "/p/a")
		done := make(chan storage.ListResult, 1)
		go func() {
			res, err := c.List(t.Context(), "/p/", storage.ListOptions{Stale: true})
			if err != nil {
				t.Error(err)
			}
			done <- res
		}()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("stale list answered before the cache saw the write")
		default:
		}
		s.release()
		if res := <-done; len(res.Items) != 1 || !res.FromCache {
			t.Fatalf("stale list = %+v, want /p/a from cache", res)
		}
	})
}

// TestRewatch: a backend watch that fails while the backend still has the
// cache's revision is reopened there; watchers see no gap.
func TestRewatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newMemStore()
		c := newCache(t, s, "/p/", Options{})
		w, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		create(t, c, "/p/a")
		synctest.Wait()
		s.hold()
		create(t, c, "/p/b") // held back, then lost with the failed watch
		s.failWatches(storage.ErrUnavailable)
		s.release()
		create(t, c, "/p/c")
		wantEvents(t, w, "+/p/a@1", "+/p/b@2", "+/p/c@3")
		if n := s.watchCount(); n != 2 {
			t.Fatalf("%d backend watches, want 2", n)
		}
	})
}

// TestRelist: when the backend has compacted the cache's revision away, the
// cache lists again. Reads wait meanwhile; watchers that lost events end
// with ErrCompacted.
func TestRelist(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newMemStore()
		c := newCache(t, s, "/p/", Options{})
		create(t, c, "/p/a")
		synctest.Wait()
		w, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.hold()
		create(t, s, "/p/b")
		if err := s.Compact(t.Context(), 2); err != nil {
			t.Fatal(err)
		}
		gate := make(chan struct{})
		s.setListGate(gate)
		s.failWatches(storage.ErrCompacted)
		s.release()
		synctest.Wait() // the cache is re-listing, held at the gate

		done := make(chan storage.ListResult, 1)
		go func() {
			res, err := c.List(t.Context(), "/p/", storage.ListOptions{Stale: true})
			if err != nil {
				t.Error(err)
			}
			done <- res
		}()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("stale list answered during the re-list")
		default:
		}
		s.setListGate(nil)
		close(gate)
		if res := <-done; len(res.Items) != 2 || res.Revision != 2 {
			t.Fatalf("after re-list: %d items at revision %d, want 2 at 2", len(res.Items), res.Revision)
		}
		evs, closed := received(w)
		if !closed || len(evs) != 1 || !errors.Is(evs[0].Err, storage.ErrCompacted) {
			t.Fatalf("watcher got %q (closed %v), want one ErrCompacted", describe(evs), closed)
		}
		if _, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{Revision: 1}); !errors.Is(err, storage.ErrCompacted) {
			t.Fatalf("Watch(1) after re-list = %v, want ErrCompacted", err)
		}
	})
}

// TestRelistUnchanged: a re-list that finds the same keys keeps the history
// and the watchers: nothing under the prefix happened in between.
func TestRelistUnchanged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newMemStore()
		c := newCache(t, s, "/p/", Options{})
		create(t, c, "/p/a")
		w, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{Revision: 0})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		synctest.Wait()
		s.hold()
		create(t, s, "/q/a") // @2, elsewhere
		if err := s.Compact(t.Context(), 2); err != nil {
			t.Fatal(err)
		}
		s.failWatches(storage.ErrCompacted)
		s.release()
		synctest.Wait() // re-listed at @2
		create(t, c, "/p/b")
		wantEvents(t, w, "+/p/b@3")
		w2, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{Revision: 2})
		if err != nil {
			t.Fatalf("Watch(2) after an unchanged re-list: %v", err)
		}
		defer w2.Stop()
		wantEvents(t, w2, "+/p/b@3")
	})
}

func TestStopCancelClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newMemStore()
		c, err := New(s, "/p/", Options{WatchBuffer: 1})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			create(t, c, fmt.Sprintf("/p/%d", i))
		}
		synctest.Wait()
		ctx, cancel := context.WithCancel(t.Context())
		var ws []storage.Watcher
		for _, opts := range []storage.WatchOptions{
			{},                   // live
			{Revision: 1},        // catching up: 4 events, buffer 1
			{InitialState: true}, // catching up
		} {
			w, err := c.Watch(ctx, "/p/", opts)
			if err != nil {
				t.Fatal(err)
			}
			ws = append(ws, w)
		}
		for _, w := range ws {
			w.Stop()
			w.Stop()
			if _, closed := received(w); !closed {
				t.Fatal("channel open after Stop")
			}
		}
		ws = ws[:0]
		for range 3 {
			w, err := c.Watch(ctx, "/p/", storage.WatchOptions{Revision: 1})
			if err != nil {
				t.Fatal(err)
			}
			ws = append(ws, w)
		}
		cancel()
		for _, w := range ws {
			if _, closed := received(w); !closed {
				t.Fatal("channel open after cancel")
			}
		}
		live, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		slow, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{Revision: 1})
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		c.Close()
		for _, w := range []storage.Watcher{live, slow} {
			if _, closed := received(w); !closed {
				t.Fatal("channel open after Close")
			}
			w.Stop()
		}
		if _, err := c.Get(t.Context(), "/p/1"); !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("Get after Close = %v, want ErrUnavailable", err)
		}
		if _, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{}); !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("Watch after Close = %v, want ErrUnavailable", err)
		}
		if _, err := c.List(t.Context(), "/p/", storage.ListOptions{Stale: true}); !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("List after Close = %v, want ErrUnavailable", err)
		}
	})
}

// TestUpdateOfEmptyValue: the previous value of an update is never nil, even
// when it was empty; nil marks a create.
func TestUpdateOfEmptyValue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newMemStore()
		c := newCache(t, s, "/p/", Options{})
		w, err := c.Watch(t.Context(), "/p/", storage.WatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		if _, err := c.Create(t.Context(), "/p/a", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Update(t.Context(), "/p/a", []byte("x"), 0); err != nil {
			t.Fatal(err)
		}
		evs, _ := received(w)
		if len(evs) != 2 || evs[0].PrevValue != nil || evs[1].PrevValue == nil {
			t.Fatalf("events %q: want a nil PrevValue on the create only", describe(evs))
		}
	})
}

// TestSubPrefixAndOutside: watches and lists of a narrower prefix filter;
// a prefix outside the cache's goes to the backend.
func TestSubPrefixAndOutside(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newMemStore()
		c := newCache(t, s, "/p/", Options{})
		ns, err := c.Watch(t.Context(), "/p/ns1/", storage.WatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer ns.Stop()
		outside, err := c.Watch(t.Context(), "/q/", storage.WatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer outside.Stop()
		create(t, c, "/p/ns1/a")
		create(t, c, "/p/ns2/a")
		create(t, c, "/q/a")
		wantEvents(t, ns, "+/p/ns1/a@1")
		wantEvents(t, outside, "+/q/a@3")
		res, err := c.List(t.Context(), "/q/", storage.ListOptions{Stale: true})
		if err != nil || res.FromCache || len(res.Items) != 1 {
			t.Fatalf("stale list outside the prefix: %+v, %v", res, err)
		}
	})
}
