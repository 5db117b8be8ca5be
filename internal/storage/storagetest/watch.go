package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"cella.dev/cella/internal/storage"
)

// RunTestWatchEvents: a watch from the current revision (Revision zero)
// delivers only later events under its prefix, in revision order, each with
// its type, key, value, previous value (nil on create), revision and create
// revision; a delete carries the last value; Created marks creations.
func RunTestWatchEvents(t *testing.T, newStore Factory) {
	s := newStore(t)
	const prefix = "/watch/"
	mustCreate(t, s, prefix+"before", "old")
	w := mustWatch(t, s, prefix, storage.WatchOptions{})

	a1 := mustCreate(t, s, prefix+"a", "a1")
	mustCreate(t, s, "/watch0/x", "outside")
	a2 := mustUpdate(t, s, prefix+"a", "a2")
	b1 := mustCreate(t, s, prefix+"b", "b1")
	if _, err := s.Update(t.Context(), prefix+"missing", []byte("x"), 0); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Update of a missing key: err = %v, want ErrNotFound", err)
	}
	da := mustDelete(t, s, prefix+"a")
	b2, err := s.Update(t.Context(), prefix+"b", []byte(""), b1.ModRevision)
	if err != nil {
		t.Fatal(err)
	}
	a3 := mustCreate(t, s, prefix+"a", "a3")

	want := []storage.Event{
		{Type: storage.EventPut, Key: a1.Key, Value: []byte("a1"), Revision: a1.ModRevision, CreateRevision: a1.CreateRevision, Created: true},
		{Type: storage.EventPut, Key: a2.Key, Value: []byte("a2"), PrevValue: []byte("a1"), Revision: a2.ModRevision, CreateRevision: a1.CreateRevision},
		{Type: storage.EventPut, Key: b1.Key, Value: []byte("b1"), Revision: b1.ModRevision, CreateRevision: b1.CreateRevision, Created: true},
		{Type: storage.EventDelete, Key: da.Key, Value: []byte("a2"), PrevValue: []byte("a2"), Revision: da.ModRevision, CreateRevision: a1.CreateRevision},
		{Type: storage.EventPut, Key: b2.Key, Value: []byte{}, PrevValue: []byte("b1"), Revision: b2.ModRevision, CreateRevision: b1.CreateRevision},
		{Type: storage.EventPut, Key: a3.Key, Value: []byte("a3"), Revision: a3.ModRevision, CreateRevision: a3.ModRevision, Created: true},
	}
	for _, we := range want {
		checkEvent(t, nextChange(t, w), we)
	}
	expectSentinel(t, s, w, prefix+"sentinel")
}

// RunTestWatchFromRevision: a watch from revision R delivers exactly the
// events under the prefix with a revision greater than R, in order, then
// live events, with no gap or duplicate at the hand-over.
func RunTestWatchFromRevision(t *testing.T, newStore Factory) {
	s := newStore(t)
	const prefix = "/wfr/"
	mustCreate(t, s, "/wfr0/first", "outside")
	var events []storage.Event
	for i := range 12 {
		key := fmt.Sprintf("%s%d", prefix, i%4)
		switch {
		case i < 4:
			kv := mustCreate(t, s, key, fmt.Sprint(i))
			events = append(events, storage.Event{Type: storage.EventPut, Key: key, Value: kv.Value,
				Revision: kv.ModRevision, CreateRevision: kv.CreateRevision, Created: true})
		case i < 8:
			kv := mustUpdate(t, s, key, fmt.Sprint(i))
			events = append(events, storage.Event{Type: storage.EventPut, Key: key, Value: kv.Value,
				PrevValue: []byte(fmt.Sprint(i - 4)), Revision: kv.ModRevision, CreateRevision: kv.CreateRevision})
		default:
			kv := mustDelete(t, s, key)
			events = append(events, storage.Event{Type: storage.EventDelete, Key: key, Value: kv.Value,
				PrevValue: kv.Value, Revision: kv.ModRevision, CreateRevision: kv.CreateRevision})
		}
		mustCreate(t, s, fmt.Sprintf("/wfr0/%d", i), "outside")
	}
	cur := mustRev(t, s)
	tests := []struct {
		name string
		from int64
	}{
		{"from before the first event", events[0].Revision - 1},
		{"from the first event", events[0].Revision},
		{"from between events", events[5].Revision + 1},
		{"from the last event", events[11].Revision},
		{"from the current revision", cur},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := mustWatch(t, s, prefix, storage.WatchOptions{Revision: tc.from})
			for _, we := range events {
				if we.Revision > tc.from {
					checkEvent(t, nextChange(t, w), we)
				}
			}
			// Later rows replay this sentinel too.
			events = append(events, expectSentinel(t, s, w, fmt.Sprintf("%ssentinel%d", prefix, i)))
		})
	}
}

// RunTestWatchPrefixIsolation: a watch sees only keys that start with its
// prefix, byte for byte.
func RunTestWatchPrefixIsolation(t *testing.T, newStore Factory) {
	s := newStore(t)
	w := mustWatch(t, s, "/iso/a/", storage.WatchOptions{})
	for _, k := range []string{"/iso/ab/x", "/iso/a", "/iso/a0/x", "/iso/a.b", "/iso/b/a/x"} {
		mustCreate(t, s, k, "outside")
	}
	in := mustCreate(t, s, "/iso/a/1", "inside")
	if ev := nextChange(t, w); ev.Key != in.Key || ev.Revision != in.ModRevision {
		t.Errorf("got %s, want the write to %s", fmtEvent(ev), in.Key)
	}
	expectSentinel(t, s, w, "/iso/a/sentinel")
}

// RunTestWatchConcurrentWriters: under concurrent writers every watcher
// receives every write under its prefix exactly once, in strictly increasing
// revision order; a watch opened mid-load from a revision receives exactly
// the writes after it.
func RunTestWatchConcurrentWriters(t *testing.T, newStore Factory) {
	s := newStore(t)
	const prefix = "/wcw/"
	const writers, perWriter = 6, 30
	start := mustRev(t, s)
	var watchers []storage.Watcher
	for range 3 {
		watchers = append(watchers, mustWatch(t, s, prefix, storage.WatchOptions{}))
	}

	var mu sync.Mutex
	var acked []int64 // revisions of writes under prefix
	var wg sync.WaitGroup
	midRev := make(chan int64, 1)
	for g := range writers {
		wg.Go(func() {
			for i := range perWriter {
				key := fmt.Sprintf("%s%d/%d", prefix, g, i%5)
				var kv storage.KeyValue
				var err error
				if i < 5 {
					kv, err = s.Create(t.Context(), key, []byte("v"))
				} else {
					kv, err = s.Update(t.Context(), key, []byte(fmt.Sprint(i)), 0)
				}
				if err != nil {
					t.Errorf("write %s: %v", key, err)
					return
				}
				mu.Lock()
				acked = append(acked, kv.ModRevision)
				mu.Unlock()
				if _, err := s.Create(t.Context(), fmt.Sprintf("/wcw0/%d/%d", g, i), nil); err != nil {
					t.Errorf("write outside: %v", err)
					return
				}
				if g == 0 && i == perWriter/2 {
					midRev <- kv.ModRevision
				}
			}
		})
	}
	writesDone := make(chan struct{})
	go func() { wg.Wait(); close(writesDone) }()
	var mid int64
	select {
	case mid = <-midRev:
	case <-writesDone:
		select {
		case mid = <-midRev:
		default:
			t.Fatal("writer 0 stopped early")
		}
	}
	fromMid := mustWatch(t, s, prefix, storage.WatchOptions{Revision: mid})
	initial := mustWatch(t, s, prefix, storage.WatchOptions{InitialState: true})
	wg.Wait()
	if t.Failed() {
		return
	}
	slices.Sort(acked)
	// The initial state ends at a snapshot S taken under load; the watch
	// then continues with exactly the writes after S.
	var state []storage.Event
	ev := nextChange(t, initial)
	for ; ev.Type != storage.EventBookmark; ev = nextChange(t, initial) {
		if ev.Type != storage.EventPut || !ev.Created {
			t.Fatalf("initial state: %s", fmtEvent(ev))
		}
		state = append(state, ev)
	}
	snap := ev.Revision
	for _, ev := range state {
		if ev.Revision > snap {
			t.Errorf("initial state holds %s, newer than its end %d", fmtEvent(ev), snap)
		}
	}
	from := make([]int64, len(watchers))
	for i := range from {
		from[i] = start
	}
	watchers = append(watchers, fromMid, initial)
	from = append(from, mid, snap)
	for i, w := range watchers {
		j, _ := slices.BinarySearch(acked, from[i]+1)
		last := from[i]
		for n, r := range acked[j:] {
			ev := nextChange(t, w)
			if ev.Type != storage.EventPut || ev.Revision != r {
				t.Fatalf("watcher %d (from %d) event #%d: %s, want a put at %d (last %d)", i, from[i], n, fmtEvent(ev), r, last)
			}
			last = ev.Revision
		}
	}
	sentinel := mustCreate(t, s, prefix+"sentinel", "sentinel")
	for _, w := range watchers {
		checkSentinel(t, w, sentinel)
	}
}

// RunTestWatchInitialState: with InitialState a watch first delivers one
// EventPut with Created for every key under the prefix as of a snapshot
// revision S (ignoring Revision), then one EventBookmark with
// InitialEventsEnd at S, then every event after S.
func RunTestWatchInitialState(t *testing.T, newStore Factory) {
	s := newStore(t)
	const prefix = "/init/"
	m := model{}
	for _, k := range []string{"c", "a", "b"} {
		m[prefix+k] = mustCreate(t, s, prefix+k, "v1-"+k)
	}
	m[prefix+"b"] = mustUpdate(t, s, prefix+"b", "v2-b")
	mustCreate(t, s, prefix+"gone", "x")
	mustDelete(t, s, prefix+"gone")
	mustCreate(t, s, "/init0/x", "outside")
	cur := mustRev(t, s)

	tests := []struct {
		name   string
		prefix string
		rev    int64
		want   []storage.KeyValue
	}{
		{"keys", prefix, 0, m.under(prefix)},
		{"revision ignored", prefix, 1, m.under(prefix)},
		{"empty prefix", "/init/none/", 0, nil},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := mustWatch(t, s, tc.prefix, storage.WatchOptions{InitialState: true, Revision: tc.rev})
			var got []storage.KeyValue
			var end storage.Event
			for {
				ev := nextChange(t, w)
				if ev.Type == storage.EventBookmark {
					end = ev
					break
				}
				if ev.Type != storage.EventPut || !ev.Created || ev.PrevValue != nil {
					t.Errorf("initial event %s, want a created put", fmtEvent(ev))
				}
				got = append(got, storage.KeyValue{Key: ev.Key, Value: ev.Value, CreateRevision: ev.CreateRevision, ModRevision: ev.Revision})
			}
			slices.SortFunc(got, func(a, b storage.KeyValue) int { return strings.Compare(a.Key, b.Key) })
			checkKVs(t, "initial state", got, tc.want)
			if !end.InitialEventsEnd || end.Revision < cur || end.Revision > mustRev(t, s) {
				t.Errorf("end of initial state: %s, want InitialEventsEnd at a revision >= %d", fmtEvent(end), cur)
			}
			kv := mustCreate(t, s, fmt.Sprintf("%slater%d", tc.prefix, i), "later")
			checkEvent(t, nextChange(t, w), storage.Event{Type: storage.EventPut, Key: kv.Key, Value: kv.Value,
				Revision: kv.ModRevision, CreateRevision: kv.CreateRevision, Created: true})
			expectSentinel(t, s, w, fmt.Sprintf("%ssentinel%d", tc.prefix, i))
			mustDelete(t, s, kv.Key)
			mustDelete(t, s, fmt.Sprintf("%ssentinel%d", tc.prefix, i))
			cur = mustRev(t, s)
		})
	}
}

// RunTestWatchProgressNotify: with ProgressNotify a watcher whose prefix sees
// no changes still gets EventBookmarks, and they tell it how far it has seen.
func RunTestWatchProgressNotify(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustCreate(t, s, "/pn/a", "v")
	w := mustWatch(t, s, "/pn/", storage.WatchOptions{ProgressNotify: true})
	other := mustCreate(t, s, "/other/a", "v")
	for {
		ev := nextEvent(t, w)
		if ev.Type != storage.EventBookmark || ev.InitialEventsEnd || ev.Key != "" {
			t.Fatalf("got %s, want only progress bookmarks", fmtEvent(ev))
		}
		if ev.Revision > mustRev(t, s) {
			t.Fatalf("bookmark at %d is past the current revision", ev.Revision)
		}
		if ev.Revision >= other.ModRevision {
			return
		}
	}
}

// RunTestWatchStop: Stop closes the channel and may be called more than
// once, from several goroutines.
func RunTestWatchStop(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustCreate(t, s, "/stop/a", "v")
	w := mustWatch(t, s, "/stop/", storage.WatchOptions{Revision: 0})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(w.Stop)
	}
	wg.Wait()
	drainClosed(t, w)
	w.Stop()

	// A watch that is replaying history when stopped ends too.
	for i := range 50 {
		mustUpdate(t, s, "/stop/a", fmt.Sprint(i))
	}
	w = mustWatch(t, s, "/stop/", storage.WatchOptions{Revision: 1})
	nextChange(t, w)
	w.Stop()
	drainClosed(t, w)
}

// RunTestWatchContextCancel: the watch ends, and its channel closes, when
// its context is cancelled.
func RunTestWatchContextCancel(t *testing.T, newStore Factory) {
	s := newStore(t)
	tests := []struct {
		name string
		opts storage.WatchOptions
	}{
		{"live", storage.WatchOptions{}},
		{"from revision", storage.WatchOptions{Revision: 1}},
		{"initial state", storage.WatchOptions{InitialState: true}},
		{"progress notify", storage.WatchOptions{ProgressNotify: true}},
	}
	mustCreate(t, s, "/cancel/a", "v")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			w, err := s.Watch(ctx, "/cancel/", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(w.Stop)
			cancel()
			drainClosed(t, w)
		})
	}
}

// RunTestWatchSlowConsumer: a watcher that does not read never blocks
// writers. It either gets every event, or a gap-free prefix of them followed
// by an EventError carrying ErrCompacted, the last event before the channel
// closes.
func RunTestWatchSlowConsumer(t *testing.T, newStore Factory) {
	s := newStore(t)
	const prefix = "/slow/"
	const writers, perWriter = 8, 250
	w := mustWatch(t, s, prefix, storage.WatchOptions{})
	var mu sync.Mutex
	var acked []int64
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range perWriter {
				kv, err := s.Create(t.Context(), fmt.Sprintf("%s%d/%d", prefix, g, i), []byte("0123456789abcdef"))
				if err != nil {
					t.Errorf("Create: %v", err)
					return
				}
				mu.Lock()
				acked = append(acked, kv.ModRevision)
				mu.Unlock()
			}
		})
	}
	wg.Wait() // bounded by the test timeout: writers must not wait for w
	if t.Failed() {
		return
	}
	slices.Sort(acked)
	for i, r := range acked {
		ev := nextChange(t, w)
		if ev.Type == storage.EventError {
			if !errors.Is(ev.Err, storage.ErrCompacted) {
				t.Errorf("watch ended with %v, want ErrCompacted", ev.Err)
			}
			if rest := drainClosed(t, w); len(rest) != 0 {
				t.Errorf("%d events after the EventError", len(rest))
			}
			t.Logf("watcher ended after %d of %d events", i, len(acked))
			return
		}
		if ev.Revision != r {
			t.Fatalf("event #%d: %s, want revision %d", i, fmtEvent(ev), r)
		}
	}
	expectSentinel(t, s, w, prefix+"sentinel")
}
