package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"cella.dev/cella/internal/storage"
)

// RunTestEmptyStore: CurrentRevision is zero for an empty store,
// CompactedRevision is zero if nothing was compacted, Get of a missing key is
// ErrNotFound, List and Count find nothing.
func RunTestEmptyStore(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := t.Context()
	if rev := mustRev(t, s); rev != 0 {
		t.Errorf("CurrentRevision = %d, want 0", rev)
	}
	if rev, err := s.CompactedRevision(ctx); err != nil || rev != 0 {
		t.Errorf("CompactedRevision = %d, %v; want 0, nil", rev, err)
	}
	if _, err := s.Get(ctx, "/registry/pods/default/missing"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get missing: err = %v, want ErrNotFound", err)
	}
	res := mustList(t, s, "/registry/", storage.ListOptions{})
	if len(res.Items) != 0 || res.Continue != "" || res.Revision != 0 {
		t.Errorf("List = %d items, continue %q, revision %d; want none at 0", len(res.Items), res.Continue, res.Revision)
	}
	if n, err := s.Count(ctx, "/registry/"); err != nil || n != 0 {
		t.Errorf("Count = %d, %v; want 0", n, err)
	}
}

// RunTestCreateGet: Create stores a new key and returns its KeyValue stamped
// with the next revision; an existing key gives ErrExists; Get returns the
// current value or ErrNotFound.
func RunTestCreateGet(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := t.Context()
	const key = "/registry/configmaps/default/app"
	before := mustRev(t, s)
	kv := mustCreate(t, s, key, "v1")
	want := storage.KeyValue{Key: key, Value: []byte("v1"), CreateRevision: before + 1, ModRevision: before + 1}
	if !sameKV(kv, want) {
		t.Errorf("Create = %s, want %s", fmtKV(kv), fmtKV(want))
	}
	if rev := mustRev(t, s); rev != kv.ModRevision {
		t.Errorf("CurrentRevision = %d after Create at %d", rev, kv.ModRevision)
	}
	got, err := s.Get(ctx, key)
	if err != nil || !sameKV(got, want) {
		t.Errorf("Get = %s, %v; want %s", fmtKV(got), err, fmtKV(want))
	}

	if _, err := s.Create(ctx, key, []byte("v2")); !errors.Is(err, storage.ErrExists) {
		t.Errorf("second Create: err = %v, want ErrExists", err)
	}
	if rev := mustRev(t, s); rev != kv.ModRevision {
		t.Errorf("failed Create moved the revision to %d", rev)
	}
	if got, _ := s.Get(ctx, key); string(got.Value) != "v1" {
		t.Errorf("failed Create changed the value to %q", got.Value)
	}

	for _, missing := range []string{"/registry/configmaps/default/ap", "/registry/configmaps/default/app/", "/registry/configmaps/default/appx"} {
		if _, err := s.Get(ctx, missing); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Get(%q): err = %v, want ErrNotFound", missing, err)
		}
	}

	empty := mustCreate(t, s, "/registry/configmaps/default/empty", "")
	if got, err := s.Get(ctx, empty.Key); err != nil || len(got.Value) != 0 || got.ModRevision != kv.ModRevision+1 {
		t.Errorf("Get empty value = %s, %v", fmtKV(got), err)
	}
}

// RunTestUpdate: Update replaces the value if the mod revision matches
// (zero means any) and returns the new KeyValue with the create revision
// kept; a missing key gives ErrNotFound; another revision gives ErrConflict
// together with the current KeyValue. Failed updates do not move the
// revision.
func RunTestUpdate(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := t.Context()
	tests := []struct {
		name     string
		setup    bool // create and update the key first
		expected func(cur storage.KeyValue) int64
		wantErr  error
	}{
		{"any revision", true, func(storage.KeyValue) int64 { return 0 }, nil},
		{"matching revision", true, func(cur storage.KeyValue) int64 { return cur.ModRevision }, nil},
		{"stale revision", true, func(cur storage.KeyValue) int64 { return cur.CreateRevision }, storage.ErrConflict},
		{"future revision", true, func(cur storage.KeyValue) int64 { return cur.ModRevision + 100 }, storage.ErrConflict},
		{"missing key", false, func(storage.KeyValue) int64 { return 0 }, storage.ErrNotFound},
		{"missing key with revision", false, func(storage.KeyValue) int64 { return 1 }, storage.ErrNotFound},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf("/registry/update/%d", i)
			var cur storage.KeyValue
			if tc.setup {
				mustCreate(t, s, key, "created")
				cur = mustUpdate(t, s, key, "current")
			}
			before := mustRev(t, s)
			got, err := s.Update(ctx, key, []byte("new"), tc.expected(cur))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Update: err = %v, want %v", err, tc.wantErr)
			}
			switch {
			case tc.wantErr == nil:
				want := storage.KeyValue{Key: key, Value: []byte("new"), CreateRevision: cur.CreateRevision, ModRevision: before + 1}
				if !sameKV(got, want) {
					t.Errorf("Update = %s, want %s", fmtKV(got), fmtKV(want))
				}
				if g, _ := s.Get(ctx, key); !sameKV(g, want) {
					t.Errorf("Get after Update = %s, want %s", fmtKV(g), fmtKV(want))
				}
				if rev := mustRev(t, s); rev != before+1 {
					t.Errorf("CurrentRevision = %d, want %d", rev, before+1)
				}
				return
			case errors.Is(tc.wantErr, storage.ErrConflict):
				if !sameKV(got, cur) {
					t.Errorf("conflict returned %s, want the current %s", fmtKV(got), fmtKV(cur))
				}
			}
			if rev := mustRev(t, s); rev != before {
				t.Errorf("failed Update moved the revision from %d to %d", before, rev)
			}
			if tc.setup {
				if g, _ := s.Get(ctx, key); !sameKV(g, cur) {
					t.Errorf("failed Update changed the key to %s", fmtKV(g))
				}
			}
		})
	}
}

// RunTestDelete: Delete removes the key if the mod revision matches (zero
// means any) and returns the deleted KeyValue with ModRevision set to the
// revision of the delete; a missing key gives ErrNotFound; another revision
// gives ErrConflict with the current KeyValue. A key created again after a
// delete gets a new create revision.
func RunTestDelete(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := t.Context()
	tests := []struct {
		name     string
		setup    bool
		expected func(cur storage.KeyValue) int64
		wantErr  error
	}{
		{"any revision", true, func(storage.KeyValue) int64 { return 0 }, nil},
		{"matching revision", true, func(cur storage.KeyValue) int64 { return cur.ModRevision }, nil},
		{"stale revision", true, func(cur storage.KeyValue) int64 { return cur.CreateRevision }, storage.ErrConflict},
		{"missing key", false, func(storage.KeyValue) int64 { return 0 }, storage.ErrNotFound},
		{"missing key with revision", false, func(storage.KeyValue) int64 { return 3 }, storage.ErrNotFound},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf("/registry/delete/%d", i)
			var cur storage.KeyValue
			if tc.setup {
				mustCreate(t, s, key, "created")
				cur = mustUpdate(t, s, key, "last")
			}
			before := mustRev(t, s)
			got, err := s.Delete(ctx, key, tc.expected(cur))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Delete: err = %v, want %v", err, tc.wantErr)
			}
			switch {
			case tc.wantErr == nil:
				want := storage.KeyValue{Key: key, Value: []byte("last"), CreateRevision: cur.CreateRevision, ModRevision: before + 1}
				if !sameKV(got, want) {
					t.Errorf("Delete = %s, want %s", fmtKV(got), fmtKV(want))
				}
				if _, err := s.Get(ctx, key); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("Get after Delete: err = %v, want ErrNotFound", err)
				}
				if rev := mustRev(t, s); rev != before+1 {
					t.Errorf("CurrentRevision = %d, want %d", rev, before+1)
				}
				again := mustCreate(t, s, key, "again")
				if again.CreateRevision != before+2 || again.ModRevision != before+2 {
					t.Errorf("Create after Delete = %s, want revisions %d", fmtKV(again), before+2)
				}
				return
			case errors.Is(tc.wantErr, storage.ErrConflict):
				if !sameKV(got, cur) {
					t.Errorf("conflict returned %s, want the current %s", fmtKV(got), fmtKV(cur))
				}
				if g, _ := s.Get(ctx, key); !sameKV(g, cur) {
					t.Errorf("failed Delete changed the key to %s", fmtKV(g))
				}
			}
			if rev := mustRev(t, s); rev != before {
				t.Errorf("failed Delete moved the revision from %d to %d", before, rev)
			}
		})
	}
}

// RunTestRevisionsAdvanceByOne: each successful create, update or delete
// advances the one global revision by exactly one, across keys, and stamps
// the written key with it; failed writes do not advance it.
func RunTestRevisionsAdvanceByOne(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := t.Context()
	steps := []struct {
		name string
		do   func() (storage.KeyValue, error)
		ok   bool
	}{
		{"create a", func() (storage.KeyValue, error) { return s.Create(ctx, "/r/a", []byte("1")) }, true},
		{"create b", func() (storage.KeyValue, error) { return s.Create(ctx, "/r/b", []byte("1")) }, true},
		{"create a again", func() (storage.KeyValue, error) { return s.Create(ctx, "/r/a", []byte("x")) }, false},
		{"update a", func() (storage.KeyValue, error) { return s.Update(ctx, "/r/a", []byte("2"), 0) }, true},
		{"update missing", func() (storage.KeyValue, error) { return s.Update(ctx, "/r/c", []byte("2"), 0) }, false},
		{"update b stale", func() (storage.KeyValue, error) { return s.Update(ctx, "/r/b", []byte("2"), 99) }, false},
		{"delete b", func() (storage.KeyValue, error) { return s.Delete(ctx, "/r/b", 0) }, true},
		{"delete b again", func() (storage.KeyValue, error) { return s.Delete(ctx, "/r/b", 0) }, false},
		{"create c", func() (storage.KeyValue, error) { return s.Create(ctx, "/r/c", []byte("1")) }, true},
	}
	want := mustRev(t, s)
	for _, st := range steps {
		kv, err := st.do()
		if (err == nil) != st.ok {
			t.Fatalf("%s: err = %v, want success %v", st.name, err, st.ok)
		}
		if st.ok {
			want++
			if kv.ModRevision != want {
				t.Errorf("%s: ModRevision = %d, want %d", st.name, kv.ModRevision, want)
			}
		}
		if rev := mustRev(t, s); rev != want {
			t.Errorf("%s: CurrentRevision = %d, want %d", st.name, rev, want)
		}
	}
}

// clockSlack is how far a backend's clock may be from the test's: a backend
// on another machine reads its own.
const clockSlack = time.Second

// RunTestModTime: Get and the KeyValues that Create, Update and Delete
// return carry ModTime, the time the write at ModRevision committed (for
// Delete the delete's, with ErrConflict the current key's), and it never
// decreases from one revision to the next.
func RunTestModTime(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := t.Context()
	// during checks that a write's time lies within the call.
	during := func(what string, kv storage.KeyValue, before, after time.Time) {
		t.Helper()
		if kv.ModTime.IsZero() || kv.ModTime.Before(before.Add(-clockSlack)) || kv.ModTime.After(after.Add(clockSlack)) {
			t.Errorf("%s: ModTime %v, want within [%v, %v]", what, kv.ModTime, before, after)
		}
	}
	sameTime := func(what string, got, want storage.KeyValue) {
		t.Helper()
		if !got.ModTime.Equal(want.ModTime) {
			t.Errorf("%s: ModTime %v, want %v from revision %d", what, got.ModTime, want.ModTime, want.ModRevision)
		}
	}
	notBefore := func(what string, later, earlier storage.KeyValue) {
		t.Helper()
		if later.ModTime.Before(earlier.ModTime) {
			t.Errorf("%s: ModTime %v at revision %d is before %v at %d", what, later.ModTime, later.ModRevision, earlier.ModTime, earlier.ModRevision)
		}
	}

	before := time.Now()
	created := mustCreate(t, s, "/mt/a", "1")
	during("Create", created, before, time.Now())
	got, err := s.Get(ctx, "/mt/a")
	if err != nil {
		t.Fatal(err)
	}
	sameTime("Get after Create", got, created)

	before = time.Now()
	updated := mustUpdate(t, s, "/mt/a", "2")
	during("Update", updated, before, time.Now())
	notBefore("Update", updated, created)
	got, _ = s.Get(ctx, "/mt/a")
	sameTime("Get after Update", got, updated)

	other := mustCreate(t, s, "/mt/b", "1")
	notBefore("Create of another key", other, updated)

	conflict, err := s.Update(ctx, "/mt/a", []byte("3"), created.ModRevision)
	if !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("stale Update: err = %v, want ErrConflict", err)
	}
	sameTime("ErrConflict's current KeyValue", conflict, updated)

	before = time.Now()
	deleted := mustDelete(t, s, "/mt/a")
	during("Delete", deleted, before, time.Now())
	notBefore("Delete", deleted, other)
}

// RunTestConcurrentWritersUniqueRevisions: all methods are safe for
// concurrent use; concurrent writes get unique revisions that together are
// exactly the next revisions, and every acknowledged write is readable.
func RunTestConcurrentWritersUniqueRevisions(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := t.Context()
	const writers, perWriter = 8, 20
	start := mustRev(t, s)
	revs := make([][]int64, writers)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range perWriter {
				key := fmt.Sprintf("/cw/%d/%d", g, i)
				kv, err := s.Create(ctx, key, []byte("v"))
				if err != nil {
					t.Errorf("Create(%q): %v", key, err)
					return
				}
				revs[g] = append(revs[g], kv.ModRevision)
				if i%2 == 1 {
					kv, err = s.Update(ctx, key, []byte("w"), kv.ModRevision)
					if err != nil {
						t.Errorf("Update(%q): %v", key, err)
						return
					}
					revs[g] = append(revs[g], kv.ModRevision)
				}
				// Reads run alongside the writes.
				if _, err := s.Get(ctx, key); err != nil {
					t.Errorf("Get(%q) after its write: %v", key, err)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var all []int64
	for g, rs := range revs {
		if !slices.IsSorted(rs) {
			t.Errorf("writer %d saw revisions out of order: %v", g, rs)
		}
		all = append(all, rs...)
	}
	slices.Sort(all)
	for i, r := range all {
		if r != start+int64(i)+1 {
			t.Fatalf("revision #%d is %d, want %d (duplicate or gap)", i, r, start+int64(i)+1)
		}
	}
	if rev := mustRev(t, s); rev != start+int64(len(all)) {
		t.Errorf("CurrentRevision = %d, want %d", rev, start+int64(len(all)))
	}
	if n, err := s.Count(ctx, "/cw/"); err != nil || n != writers*perWriter {
		t.Errorf("Count = %d, %v; want %d", n, err, writers*perWriter)
	}
}

// RunTestValuesSafeToKeep: values passed in may be reused by the caller once
// the call returns, and values returned may be kept and modified without
// changing what the store holds.
func RunTestValuesSafeToKeep(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := t.Context()
	buf := []byte("original")
	if _, err := s.Create(ctx, "/safe/a", buf); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXXXXX")
	got, err := s.Get(ctx, "/safe/a")
	if err != nil || string(got.Value) != "original" {
		t.Fatalf("Get after reusing the input = %q, %v", got.Value, err)
	}
	copy(got.Value, "YYYYYYYY")
	res := mustList(t, s, "/safe/", storage.ListOptions{})
	if len(res.Items) != 1 || string(res.Items[0].Value) != "original" {
		t.Fatalf("List after changing a returned value = %s", fmtKVs(res.Items))
	}
	copy(res.Items[0].Value, "ZZZZZZZZ")
	res.Items[0].Value = append(res.Items[0].Value, "more"...)
	if got, _ := s.Get(ctx, "/safe/a"); string(got.Value) != "original" {
		t.Fatalf("Get after changing a listed value = %q", got.Value)
	}
	upd := []byte("updated!")
	if _, err := s.Update(ctx, "/safe/a", upd, 0); err != nil {
		t.Fatal(err)
	}
	copy(upd, "XXXXXXXX")
	del, err := s.Delete(ctx, "/safe/a", 0)
	if err != nil || string(del.Value) != "updated!" {
		t.Fatalf("Delete = %s, %v; want the value %q", fmtKV(del), err, "updated!")
	}
}

// RunTestContextErrors: a call whose context is already done returns the
// context's error, and a write so refused is not applied.
func RunTestContextErrors(t *testing.T, newStore Factory) {
	s := newStore(t)
	live := t.Context()
	mustCreate(t, s, "/ctx/a", "v")
	ctx := cancelledContext()
	calls := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := s.Get(ctx, "/ctx/a"); return err }},
		{"List", func() error { _, err := s.List(ctx, "/ctx/", storage.ListOptions{}); return err }},
		{"Count", func() error { _, err := s.Count(ctx, "/ctx/"); return err }},
		{"Create", func() error { _, err := s.Create(ctx, "/ctx/b", []byte("v")); return err }},
		{"Update", func() error { _, err := s.Update(ctx, "/ctx/a", []byte("w"), 0); return err }},
		{"Delete", func() error { _, err := s.Delete(ctx, "/ctx/a", 0); return err }},
		{"Watch", func() error {
			w, err := s.Watch(ctx, "/ctx/", storage.WatchOptions{})
			if w != nil {
				w.Stop()
			}
			return err
		}},
		{"CurrentRevision", func() error { _, err := s.CurrentRevision(ctx); return err }},
		{"Compact", func() error { return s.Compact(ctx, 1) }},
		{"CompactedRevision", func() error { _, err := s.CompactedRevision(ctx); return err }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: err = %v, want context.Canceled", c.name, err)
		}
	}
	if _, err := s.Get(live, "/ctx/b"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("refused Create was applied: Get err = %v", err)
	}
	if got, err := s.Get(live, "/ctx/a"); err != nil || string(got.Value) != "v" {
		t.Errorf("refused Update or Delete was applied: Get = %s, %v", fmtKV(got), err)
	}
}

// RunTestClose: calls after Close give ErrUnavailable, and running watches
// end (their channels close).
func RunTestClose(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := t.Context()
	mustCreate(t, s, "/close/a", "v")
	w := mustWatch(t, s, "/close/", storage.WatchOptions{})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, ev := range drainClosed(t, w) {
		if ev.Type != storage.EventError && ev.Type != storage.EventBookmark {
			t.Errorf("watch got %s after Close", fmtEvent(ev))
		}
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := s.Get(ctx, "/close/a"); return err }},
		{"List", func() error { _, err := s.List(ctx, "/close/", storage.ListOptions{}); return err }},
		{"Count", func() error { _, err := s.Count(ctx, "/close/"); return err }},
		{"Create", func() error { _, err := s.Create(ctx, "/close/b", []byte("v")); return err }},
		{"Update", func() error { _, err := s.Update(ctx, "/close/a", []byte("w"), 0); return err }},
		{"Delete", func() error { _, err := s.Delete(ctx, "/close/a", 0); return err }},
		{"Watch", func() error {
			w, err := s.Watch(ctx, "/close/", storage.WatchOptions{})
			if w != nil {
				w.Stop()
			}
			return err
		}},
		{"CurrentRevision", func() error { _, err := s.CurrentRevision(ctx); return err }},
		{"Compact", func() error { return s.Compact(ctx, 1) }},
		{"CompactedRevision", func() error { _, err := s.CompactedRevision(ctx); return err }},
		{"Close", s.Close},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s after Close: err = %v, want ErrUnavailable", c.name, err)
		}
	}
}
