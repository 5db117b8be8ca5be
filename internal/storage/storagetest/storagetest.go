// Package storagetest is the contract suite for storage.Interface. Every
// backend and the watch cache run it:
//
//	func TestContract(t *testing.T) {
//		storagetest.RunAll(t, func(t *testing.T) storage.Interface { ... })
//	}
//
// Each RunTestXxx function checks one part of the contract in storage.go and
// names the sentences it covers. The factory passed in must return a fresh,
// empty store (revision zero) and arrange its own cleanup with t.Cleanup;
// that cleanup must tolerate a store the test already closed. Waits are
// bounded by waitTimeout; nothing sleeps to assert absence: "no more events"
// is checked by writing a sentinel key and requiring it to come next.
package storagetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"cella.dev/cella/internal/storage"
)

// Factory returns a fresh, empty store for one test.
type Factory = func(t *testing.T) storage.Interface

// waitTimeout bounds every wait for an event or a closed channel. It is
// generous because the suite runs under -race on shared machines; a correct
// store answers in milliseconds.
const waitTimeout = 30 * time.Second

// RunAll runs every contract test as a subtest.
func RunAll(t *testing.T, newStore Factory) {
	tests := []struct {
		name string
		run  func(*testing.T, Factory)
	}{
		{"EmptyStore", RunTestEmptyStore},
		{"CreateGet", RunTestCreateGet},
		{"Update", RunTestUpdate},
		{"Delete", RunTestDelete},
		{"RevisionsAdvanceByOne", RunTestRevisionsAdvanceByOne},
		{"ModTime", RunTestModTime},
		{"ConcurrentWritersUniqueRevisions", RunTestConcurrentWritersUniqueRevisions},
		{"ValuesSafeToKeep", RunTestValuesSafeToKeep},
		{"ListOrderAndPrefix", RunTestListOrderAndPrefix},
		{"ListPagination", RunTestListPagination},
		{"ListAtRevision", RunTestListAtRevision},
		{"FutureRevision", RunTestFutureRevision},
		{"InvalidContinue", RunTestInvalidContinue},
		{"Compaction", RunTestCompaction},
		{"WatchEvents", RunTestWatchEvents},
		{"WatchFromRevision", RunTestWatchFromRevision},
		{"WatchPrefixIsolation", RunTestWatchPrefixIsolation},
		{"WatchConcurrentWriters", RunTestWatchConcurrentWriters},
		{"WatchInitialState", RunTestWatchInitialState},
		{"WatchProgressNotify", RunTestWatchProgressNotify},
		{"WatchStop", RunTestWatchStop},
		{"WatchContextCancel", RunTestWatchContextCancel},
		{"WatchSlowConsumer", RunTestWatchSlowConsumer},
		{"ContextErrors", RunTestContextErrors},
		{"Close", RunTestClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore) })
	}
}

func mustRev(t *testing.T, s storage.Interface) int64 {
	t.Helper()
	rev, err := s.CurrentRevision(t.Context())
	if err != nil {
		t.Fatalf("CurrentRevision: %v", err)
	}
	return rev
}

func mustCreate(t *testing.T, s storage.Interface, key, value string) storage.KeyValue {
	t.Helper()
	kv, err := s.Create(t.Context(), key, []byte(value))
	if err != nil {
		t.Fatalf("Create(%q): %v", key, err)
	}
	return kv
}

func mustUpdate(t *testing.T, s storage.Interface, key, value string) storage.KeyValue {
	t.Helper()
	kv, err := s.Update(t.Context(), key, []byte(value), 0)
	if err != nil {
		t.Fatalf("Update(%q): %v", key, err)
	}
	return kv
}

func mustDelete(t *testing.T, s storage.Interface, key string) storage.KeyValue {
	t.Helper()
	kv, err := s.Delete(t.Context(), key, 0)
	if err != nil {
		t.Fatalf("Delete(%q): %v", key, err)
	}
	return kv
}

func mustList(t *testing.T, s storage.Interface, prefix string, opts storage.ListOptions) storage.ListResult {
	t.Helper()
	res, err := s.List(t.Context(), prefix, opts)
	if err != nil {
		t.Fatalf("List(%q, %+v): %v", prefix, opts, err)
	}
	return res
}

func mustWatch(t *testing.T, s storage.Interface, prefix string, opts storage.WatchOptions) storage.Watcher {
	t.Helper()
	w, err := s.Watch(t.Context(), prefix, opts)
	if err != nil {
		t.Fatalf("Watch(%q, %+v): %v", prefix, opts, err)
	}
	t.Cleanup(w.Stop)
	return w
}

// sameKV reports whether two KeyValues are equal, treating nil and empty
// values alike.
func sameKV(a, b storage.KeyValue) bool {
	return a.Key == b.Key && bytes.Equal(a.Value, b.Value) &&
		a.CreateRevision == b.CreateRevision && a.ModRevision == b.ModRevision
}

func fmtKV(kv storage.KeyValue) string {
	return fmt.Sprintf("{%s=%q c%d m%d}", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision)
}

func fmtKVs(kvs []storage.KeyValue) string {
	parts := make([]string, len(kvs))
	for i, kv := range kvs {
		parts[i] = fmtKV(kv)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func checkKVs(t *testing.T, what string, got, want []storage.KeyValue) {
	t.Helper()
	if !slices.EqualFunc(got, want, sameKV) {
		t.Errorf("%s:\n got  %s\n want %s", what, fmtKVs(got), fmtKVs(want))
	}
}

func fmtEvent(ev storage.Event) string {
	return fmt.Sprintf("{type=%d %s=%q prev=%q rev=%d create=%d created=%v end=%v err=%v}",
		ev.Type, ev.Key, ev.Value, ev.PrevValue, ev.Revision, ev.CreateRevision, ev.Created, ev.InitialEventsEnd, ev.Err)
}

// nextEvent returns the next event, failing the test if the channel closes
// or nothing arrives within waitTimeout.
func nextEvent(t *testing.T, w storage.Watcher) storage.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch channel closed; want an event")
		}
		return ev
	case <-time.After(waitTimeout):
		t.Fatalf("no event within %v", waitTimeout)
	}
	panic("unreachable")
}

// nextChange is nextEvent skipping progress bookmarks, which a store may
// send at any time.
func nextChange(t *testing.T, w storage.Watcher) storage.Event {
	t.Helper()
	for {
		ev := nextEvent(t, w)
		if ev.Type == storage.EventBookmark && !ev.InitialEventsEnd {
			continue
		}
		return ev
	}
}

// drainClosed reads until the channel closes, failing the test if that takes
// longer than waitTimeout, and returns what it read.
func drainClosed(t *testing.T, w storage.Watcher) []storage.Event {
	t.Helper()
	deadline := time.After(waitTimeout)
	var evs []storage.Event
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		case <-deadline:
			t.Fatalf("watch channel not closed within %v", waitTimeout)
		}
	}
}

// checkEvent compares an event with the expected one field by field.
// PrevValue must be nil exactly when want.PrevValue is nil.
func checkEvent(t *testing.T, got, want storage.Event) {
	t.Helper()
	ok := got.Type == want.Type && got.Key == want.Key && bytes.Equal(got.Value, want.Value) &&
		bytes.Equal(got.PrevValue, want.PrevValue) && (got.PrevValue == nil) == (want.PrevValue == nil) &&
		got.Revision == want.Revision && got.CreateRevision == want.CreateRevision &&
		got.Created == want.Created && got.InitialEventsEnd == want.InitialEventsEnd && got.Err == nil
	if !ok {
		t.Errorf("event:\n got  %s\n want %s", fmtEvent(got), fmtEvent(want))
	}
}

// expectSentinel writes a key under the watched prefix and requires the next
// change the watcher sees to be that write: proof that nothing else was
// pending. It returns the sentinel's event.
func expectSentinel(t *testing.T, s storage.Interface, w storage.Watcher, key string) storage.Event {
	t.Helper()
	kv := mustCreate(t, s, key, "sentinel")
	checkSentinel(t, w, kv)
	return storage.Event{Type: storage.EventPut, Key: kv.Key, Value: kv.Value, Revision: kv.ModRevision,
		CreateRevision: kv.CreateRevision, Created: true}
}

// checkSentinel requires the next change w sees to be the creation of kv.
func checkSentinel(t *testing.T, w storage.Watcher, kv storage.KeyValue) {
	t.Helper()
	ev := nextChange(t, w)
	if ev.Type != storage.EventPut || ev.Key != kv.Key || ev.Revision != kv.ModRevision {
		t.Fatalf("after the expected events got %s, want the sentinel %s at %d", fmtEvent(ev), kv.Key, kv.ModRevision)
	}
}

// cancelledContext returns a context that is already cancelled.
func cancelledContext() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
