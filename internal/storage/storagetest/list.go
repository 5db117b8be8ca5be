package storagetest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"cella.dev/cella/internal/storage"
)

// model tracks what a store should hold, to compare List results with.
type model map[string]storage.KeyValue

// under returns the model's keys under prefix in key order.
func (m model) under(prefix string) []storage.KeyValue {
	var out []storage.KeyValue
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if strings.HasPrefix(k, prefix) {
			out = append(out, m[k])
		}
	}
	return out
}

// listAll follows continue tokens from a first page read with opts and
// returns every item and the pages' revision, checking that every page reads
// the first page's revision.
func listAll(t *testing.T, s storage.Interface, prefix string, opts storage.ListOptions) ([]storage.KeyValue, int64) {
	t.Helper()
	res := mustList(t, s, prefix, opts)
	items, rev := res.Items, res.Revision
	for pages := 1; res.Continue != ""; pages++ {
		if pages > 1000 {
			t.Fatal("more than 1000 pages")
		}
		if opts.Limit > 0 && int64(len(res.Items)) != opts.Limit {
			t.Errorf("a page with a continue token has %d items, want the limit %d", len(res.Items), opts.Limit)
		}
		res = mustList(t, s, prefix, storage.ListOptions{Limit: opts.Limit, Continue: res.Continue})
		if res.Revision != rev {
			t.Errorf("page %d read revision %d, want the first page's %d", pages+1, res.Revision, rev)
		}
		items = append(items, res.Items...)
	}
	return items, rev
}

// RunTestListOrderAndPrefix: List returns the keys that start with prefix,
// in ascending key order, at the current revision; a prefix never matches
// beyond its bytes ("/a/" does not match "/ab/x"). Count agrees.
func RunTestListOrderAndPrefix(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := t.Context()
	keys := []string{
		"/registry/pods/a/2", "/registry/pods/ab/x", "/registry/pods/a/10", "/registry/pods/a",
		"/registry/pods/a/1", "/registry/pods/a0/z", "/registry/pods/a.x", "/registry/pod/a/1",
		"/registry/pods/b/1", "/registry/pods/a/\xffz", "/registry/podsx/a/1",
	}
	m := model{}
	for i, k := range keys {
		m[k] = mustCreate(t, s, k, fmt.Sprintf("v%d", i))
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"/registry/pods/a/", []string{"/registry/pods/a/1", "/registry/pods/a/10", "/registry/pods/a/2", "/registry/pods/a/\xffz"}},
		{"/registry/pods/ab/", []string{"/registry/pods/ab/x"}},
		{"/registry/pods/b/", []string{"/registry/pods/b/1"}},
		{"/registry/pods/c/", nil},
		{"/registry/pod/", []string{"/registry/pod/a/1"}},
		{"/registry/pods/", []string{"/registry/pods/a", "/registry/pods/a.x", "/registry/pods/a/1", "/registry/pods/a/10",
			"/registry/pods/a/2", "/registry/pods/a/\xffz", "/registry/pods/a0/z", "/registry/pods/ab/x", "/registry/pods/b/1"}},
		{"/", slices.Sorted(slices.Values(keys))},
	}
	rev := mustRev(t, s)
	for _, tc := range tests {
		t.Run(strings.ReplaceAll(tc.prefix, "/", "_"), func(t *testing.T) {
			res := mustList(t, s, tc.prefix, storage.ListOptions{})
			var want []storage.KeyValue
			for _, k := range tc.want {
				want = append(want, m[k])
			}
			checkKVs(t, "List", res.Items, want)
			if res.Revision != rev {
				t.Errorf("Revision = %d, want the current %d", res.Revision, rev)
			}
			if res.Continue != "" || (res.RemainingItemCount != 0 && res.RemainingItemCount != -1) {
				t.Errorf("unlimited List: Continue %q, RemainingItemCount %d", res.Continue, res.RemainingItemCount)
			}
			if n, err := s.Count(ctx, tc.prefix); err != nil || n != int64(len(tc.want)) {
				t.Errorf("Count = %d, %v; want %d", n, err, len(tc.want))
			}
		})
	}
}

// RunTestListPagination: Limit caps a page and sets Continue exactly when
// more items remain; the token carries the first page's revision, so every
// page reads one snapshot although writes happen between pages;
// RemainingItemCount is exact or -1.
func RunTestListPagination(t *testing.T, newStore Factory) {
	s := newStore(t)
	const prefix = "/page/"
	m := model{}
	for i := range 20 {
		k := fmt.Sprintf("%sk%02d", prefix, i*2)
		m[k] = mustCreate(t, s, k, fmt.Sprintf("v%d", i))
	}
	mustCreate(t, s, "/page0", "outside")
	mustCreate(t, s, "/pagf/x", "outside")
	snapshot := m.under(prefix)

	tests := []struct {
		limit int64
		pages int
	}{{1, 20}, {3, 7}, {7, 3}, {10, 2}, {19, 2}, {20, 1}, {21, 1}, {1000, 1}}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("limit %d", tc.limit), func(t *testing.T) {
			first := mustList(t, s, prefix, storage.ListOptions{Limit: tc.limit})
			res, rev := first, first.Revision
			items := res.Items
			pages := 1
			deletedLast := false
			var undo []func() // restores the keys after the row
			for res.Continue != "" {
				remaining := int64(len(snapshot) - len(items))
				if res.RemainingItemCount != -1 && res.RemainingItemCount != remaining {
					t.Errorf("page %d: RemainingItemCount = %d, want %d or -1", pages, res.RemainingItemCount, remaining)
				}
				// Writes between pages must not show: change a key already
				// returned and one still to come, delete the last key once,
				// and create a key among those still to come.
				next := snapshot[len(items)].Key
				last := snapshot[len(snapshot)-1].Key
				mustUpdate(t, s, items[len(items)-1].Key, "changed")
				if next != last || !deletedLast {
					mustUpdate(t, s, next, "changed")
				}
				if !deletedLast && next != last {
					mustDelete(t, s, last)
					deletedLast = true
					undo = append(undo, func() { mustCreate(t, s, last, "recreated") })
				}
				added := next + "a"
				mustCreate(t, s, added, "added")
				undo = append(undo, func() { mustDelete(t, s, added) })

				res = mustList(t, s, prefix, storage.ListOptions{Limit: tc.limit, Continue: res.Continue})
				pages++
				if res.Revision != rev {
					t.Errorf("page %d read revision %d, want %d", pages, res.Revision, rev)
				}
				if int64(len(res.Items)) > tc.limit || len(res.Items) == 0 {
					t.Errorf("page %d has %d items with limit %d", pages, len(res.Items), tc.limit)
				}
				items = append(items, res.Items...)
			}
			if pages != tc.pages {
				t.Errorf("got %d pages, want %d", pages, tc.pages)
			}
			if res.RemainingItemCount != 0 && res.RemainingItemCount != -1 {
				t.Errorf("last page: RemainingItemCount = %d, want 0 or -1", res.RemainingItemCount)
			}
			checkKVs(t, "pages", items, snapshot)
			for _, f := range undo {
				f()
			}
		})
		// Restore the snapshot's values for the next row; revisions move on.
		for _, kv := range m.under(prefix) {
			got, err := s.Update(t.Context(), kv.Key, kv.Value, 0)
			if err != nil {
				t.Fatal(err)
			}
			m[kv.Key] = got
		}
		snapshot = m.under(prefix)
	}
}

// RunTestListAtRevision: List at an older revision returns the keys as they
// were then, created, updated and deleted ones alike, with their revisions
// of that time; pages of such a list all read that revision.
func RunTestListAtRevision(t *testing.T, newStore Factory) {
	s := newStore(t)
	const prefix = "/hist/"
	m := model{}
	type snap struct {
		rev   int64
		items []storage.KeyValue
	}
	snaps := []snap{{mustRev(t, s), nil}}
	record := func(kv storage.KeyValue, deleted bool) {
		if deleted {
			delete(m, kv.Key)
		} else {
			m[kv.Key] = kv
		}
		snaps = append(snaps, snap{kv.ModRevision, m.under(prefix)})
	}
	record(mustCreate(t, s, prefix+"a", "a1"), false)
	record(mustCreate(t, s, prefix+"b", "b1"), false)
	mustCreate(t, s, "/hist0/x", "outside")
	record(mustCreate(t, s, prefix+"c", "c1"), false)
	record(mustUpdate(t, s, prefix+"a", "a2"), false)
	record(mustDelete(t, s, prefix+"b"), true)
	mustUpdate(t, s, "/hist0/x", "outside2")
	record(mustCreate(t, s, prefix+"b", "b2"), false)
	record(mustUpdate(t, s, prefix+"c", "c2"), false)
	record(mustDelete(t, s, prefix+"a"), true)
	record(mustCreate(t, s, prefix+"d", "d1"), false)
	record(mustUpdate(t, s, prefix+"b", "b3"), false)

	// Every revision, including those of writes outside the prefix, reads
	// the latest snapshot at or before it.
	cur := mustRev(t, s)
	for rev := int64(1); rev <= cur; rev++ {
		i, _ := slices.BinarySearchFunc(snaps, rev, func(sn snap, r int64) int { return int(sn.rev - r) })
		if i == len(snaps) || snaps[i].rev != rev {
			i--
		}
		want := snaps[i].items
		t.Run(fmt.Sprintf("revision %d", rev), func(t *testing.T) {
			res := mustList(t, s, prefix, storage.ListOptions{Revision: rev})
			if res.Revision != rev {
				t.Errorf("Revision = %d, want %d", res.Revision, rev)
			}
			checkKVs(t, "List", res.Items, want)
			items, pageRev := listAll(t, s, prefix, storage.ListOptions{Revision: rev, Limit: 1})
			if pageRev != rev {
				t.Errorf("paged Revision = %d, want %d", pageRev, rev)
			}
			checkKVs(t, "paged List", items, want)
		})
	}
}

// RunTestFutureRevision: List, Watch and Compact at a revision newer than the
// current one give ErrFutureRevision; at the current one they work.
func RunTestFutureRevision(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := t.Context()
	mustCreate(t, s, "/f/a", "v")
	cur := mustRev(t, s)
	if _, err := s.List(ctx, "/f/", storage.ListOptions{Revision: cur + 1}); !errors.Is(err, storage.ErrFutureRevision) {
		t.Errorf("List at %d: err = %v, want ErrFutureRevision", cur+1, err)
	}
	w, err := s.Watch(ctx, "/f/", storage.WatchOptions{Revision: cur + 1})
	if !errors.Is(err, storage.ErrFutureRevision) {
		t.Errorf("Watch from %d: err = %v, want ErrFutureRevision", cur+1, err)
	}
	if w != nil {
		w.Stop()
	}
	if err := s.Compact(ctx, cur+1); !errors.Is(err, storage.ErrFutureRevision) {
		t.Errorf("Compact(%d): err = %v, want ErrFutureRevision", cur+1, err)
	}
	if res := mustList(t, s, "/f/", storage.ListOptions{Revision: cur}); len(res.Items) != 1 {
		t.Errorf("List at the current revision: %s", fmtKVs(res.Items))
	}
	mustWatch(t, s, "/f/", storage.WatchOptions{Revision: cur})
}

// RunTestInvalidContinue: a continue token that does not decode gives
// ErrInvalidContinue; Revision must be zero with a token.
func RunTestInvalidContinue(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := t.Context()
	for i := range 3 {
		mustCreate(t, s, fmt.Sprintf("/ic/%d", i), "v")
	}
	for _, token := range []string{"not a token!", "bm90IGpzb24", storage.EncodeContinue("/ic/", "/ic/", 1)} {
		if _, err := s.List(ctx, "/ic/", storage.ListOptions{Continue: token}); !errors.Is(err, storage.ErrInvalidContinue) {
			t.Errorf("List with continue %q: err = %v, want ErrInvalidContinue", token, err)
		}
	}
	first := mustList(t, s, "/ic/", storage.ListOptions{Limit: 1})
	if _, err := s.List(ctx, "/ic/", storage.ListOptions{Continue: first.Continue, Revision: first.Revision - 1}); err == nil {
		t.Error("List with a continue token and another Revision succeeded, want an error")
	}
}

// RunTestCompaction: after Compact(R), List below R and Watch from below R
// give ErrCompacted, as does a continue token that points there; List at R
// and Watch from R still work. Compacting at or below the compacted revision
// is a no-op; CompactedRevision reports R.
func RunTestCompaction(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := t.Context()
	const prefix = "/compact/"
	m := model{}
	for i := range 4 {
		k := fmt.Sprintf("%s%d", prefix, i)
		m[k] = mustCreate(t, s, k, "v1")
	}
	oldToken := mustList(t, s, prefix, storage.ListOptions{Limit: 1}).Continue
	m[prefix+"1"] = mustUpdate(t, s, prefix+"1", "v2")
	delete(m, prefix+"2")
	mustDelete(t, s, prefix+"2")
	r := mustRev(t, s)
	atR := m.under(prefix)
	tokenAtR := mustList(t, s, prefix, storage.ListOptions{Limit: 1}).Continue
	var after []storage.KeyValue
	after = append(after, mustUpdate(t, s, prefix+"0", "v3"))
	after = append(after, mustCreate(t, s, prefix+"9", "v1"))
	cur := mustRev(t, s)

	if err := s.Compact(ctx, r); err != nil {
		t.Fatalf("Compact(%d): %v", r, err)
	}
	if got, err := s.CompactedRevision(ctx); err != nil || got != r {
		t.Errorf("CompactedRevision = %d, %v; want %d", got, err, r)
	}
	if _, err := s.List(ctx, prefix, storage.ListOptions{Revision: r - 1}); !errors.Is(err, storage.ErrCompacted) {
		t.Errorf("List at %d: err = %v, want ErrCompacted", r-1, err)
	}
	if _, err := s.List(ctx, prefix, storage.ListOptions{Continue: oldToken}); !errors.Is(err, storage.ErrCompacted) {
		t.Errorf("List with a token below %d: err = %v, want ErrCompacted", r, err)
	}
	w, err := s.Watch(ctx, prefix, storage.WatchOptions{Revision: r - 1})
	if !errors.Is(err, storage.ErrCompacted) {
		t.Errorf("Watch from %d: err = %v, want ErrCompacted", r-1, err)
	}
	if w != nil {
		w.Stop()
	}

	checkKVs(t, "List at the compacted revision", mustList(t, s, prefix, storage.ListOptions{Revision: r}).Items, atR)
	res := mustList(t, s, prefix, storage.ListOptions{Continue: tokenAtR})
	checkKVs(t, "continue at the compacted revision", res.Items, atR[1:])
	items, _ := listAll(t, s, prefix, storage.ListOptions{Revision: r, Limit: 2})
	checkKVs(t, "paged List at the compacted revision", items, atR)

	w = mustWatch(t, s, prefix, storage.WatchOptions{Revision: r})
	for _, kv := range after {
		if ev := nextChange(t, w); ev.Key != kv.Key || ev.Revision != kv.ModRevision {
			t.Errorf("watch from the compacted revision got %s, want %s", fmtEvent(ev), fmtKV(kv))
		}
	}
	expectSentinel(t, s, w, prefix+"sentinel")

	for _, rev := range []int64{r - 1, r, 0} {
		if err := s.Compact(ctx, rev); err != nil {
			t.Errorf("Compact(%d) after Compact(%d): %v, want a no-op", rev, r, err)
		}
	}
	if got, _ := s.CompactedRevision(ctx); got != r {
		t.Errorf("CompactedRevision = %d after no-op compactions, want %d", got, r)
	}
	cur = mustRev(t, s)
	if err := s.Compact(ctx, cur); err != nil {
		t.Fatalf("Compact(current %d): %v", cur, err)
	}
	now := mustList(t, s, prefix, storage.ListOptions{})
	if res := mustList(t, s, prefix, storage.ListOptions{Revision: cur}); res.Revision != cur {
		t.Errorf("List at the current, compacted revision %d read %d", cur, res.Revision)
	} else {
		checkKVs(t, "List at the current, compacted revision", res.Items, now.Items)
	}
	w = mustWatch(t, s, prefix, storage.WatchOptions{Revision: cur})
	expectSentinel(t, s, w, prefix+"sentinel2")
}
