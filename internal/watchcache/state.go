package watchcache

import (
	"slices"
	"sort"
	"strings"

	"cella.dev/cella/internal/storage"
)

// The current state is a []storage.KeyValue sorted by key. A sorted slice
// costs a memmove per create or delete, which stays in the microseconds at
// the sizes Cella serves (10,000 keys), and in exchange a page of a list is
// one binary search and one contiguous copy.

// search returns the position of key in kvs and whether it is there.
func search(kvs []storage.KeyValue, key string) (int, bool) {
	return slices.BinarySearchFunc(kvs, key, func(kv storage.KeyValue, key string) int {
		return strings.Compare(kv.Key, key)
	})
}

// prefixRange returns the bounds [lo, hi) of the keys in kvs that start with
// prefix.
func prefixRange(kvs []storage.KeyValue, prefix string) (lo, hi int) {
	lo, _ = search(kvs, prefix)
	rest := kvs[lo:]
	return lo, lo + sort.Search(len(rest), func(i int) bool { return !strings.HasPrefix(rest[i].Key, prefix) })
}

// sameKeys reports whether a and b hold the same keys at the same
// revisions: no write touched them between the two reads.
func sameKeys(a, b []storage.KeyValue) bool {
	return slices.EqualFunc(a, b, func(x, y storage.KeyValue) bool {
		return x.Key == y.Key && x.ModRevision == y.ModRevision && x.CreateRevision == y.CreateRevision
	})
}
