package bolt

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"

	"cella.dev/cella/internal/storage"
)

// remainingCountCap bounds the keys List walks past a full page to fill
// ListResult.RemainingItemCount; beyond it the count is reported as -1.
const remainingCountCap = 10000

// List returns the keys under prefix at the revision opts ask for.
//
// At the current revision it walks the keys bucket. At an older revision R it
// first scans the history after R: the oldest record after R of each key
// under the prefix says what the key held at R (absent if the record is a
// create, else its previous value and revisions), and those keys are merged
// into the walk over the current keys. The cost of an old read therefore
// grows with the number of writes since R.
func (s *Store) List(ctx context.Context, prefix string, opts storage.ListOptions) (storage.ListResult, error) {
	var after string
	target := opts.Revision
	if opts.Continue != "" {
		a, rev, err := storage.DecodeContinue(prefix, opts.Continue)
		if err != nil {
			return storage.ListResult{}, err
		}
		if opts.Revision != 0 && opts.Revision != rev {
			return storage.ListResult{}, fmt.Errorf("%w: revision %d given with a token for revision %d",
				storage.ErrInvalidContinue, opts.Revision, rev)
		}
		after, target = a, rev
	}
	if target < 0 {
		return storage.ListResult{}, fmt.Errorf("%w: negative revision %d", storage.ErrCompacted, target)
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return storage.ListResult{}, err
	}
	defer tx.Rollback()
	cur, compacted, err := readMeta(tx)
	if err != nil {
		return storage.ListResult{}, err
	}
	switch {
	case target == 0:
		target = cur
	case target > cur:
		return storage.ListResult{}, storage.ErrFutureRevision
	case target < compacted:
		return storage.ListResult{}, storage.ErrCompacted
	}

	it, err := newListIter(tx, keyBytes(prefix), keyBytes(after), target, cur)
	if err != nil {
		return storage.ListResult{}, err
	}
	p := newPage()
	for opts.Limit <= 0 || int64(p.len()) < opts.Limit {
		e, ok, err := it.next()
		if err != nil {
			return storage.ListResult{}, err
		}
		if !ok {
			break
		}
		p.add(e)
	}
	res := storage.ListResult{Items: p.finish(), Revision: target}
	if opts.Limit <= 0 || int64(len(res.Items)) < opts.Limit {
		return res, nil
	}
	// A full page: walk on to see whether anything remains.
	var remaining int64
	for remaining <= remainingCountCap {
		_, ok, err := it.next()
		if err != nil {
			return storage.ListResult{}, err
		}
		if !ok {
			break
		}
		remaining++
	}
	if remaining > 0 {
		res.Continue = storage.EncodeContinue(prefix, res.Items[len(res.Items)-1].Key, target)
	}
	res.RemainingItemCount = remaining
	if remaining > remainingCountCap {
		res.RemainingItemCount = -1
	}
	return res, nil
}

// readMeta returns the revision and compacted revision seen by tx.
func readMeta(tx *bolt.Tx) (rev, compacted int64, err error) {
	meta := tx.Bucket(bucketMeta)
	if rev, err = getUint64(meta.Get(metaRevision)); err != nil {
		return 0, 0, err
	}
	compacted, err = getUint64(meta.Get(metaCompacted))
	return rev, compacted, err
}

// entry is one key at the revision a listIter reads. Its slices alias bolt
// memory and are valid only inside the transaction.
type entry struct {
	key       []byte
	value     []byte
	createRev int64
	modRev    int64
}

// overlayEntry is the state at the read revision of a key written since.
type overlayEntry struct {
	entry
	present bool
}

// listIter walks the keys under a prefix, after a start key, as they were at
// a revision: the keys bucket merged with an overlay built from the history
// after that revision.
type listIter struct {
	c      *bolt.Cursor
	ck, cv []byte // the cursor's current item, nil when past the prefix
	prefix []byte
	over   []overlayEntry // sorted by key
	oi     int
}

// newListIter returns an iterator over the keys under prefix that sort after
// after (all keys when after is empty) as of revision target; cur is the
// revision tx reads.
func newListIter(tx *bolt.Tx, prefix, after []byte, target, cur int64) (*listIter, error) {
	it := &listIter{c: tx.Bucket(bucketKeys).Cursor(), prefix: prefix}
	if target < cur {
		over, err := buildOverlay(tx, prefix, after, target)
		if err != nil {
			return nil, err
		}
		it.over = over
	}
	var k, v []byte
	if len(after) == 0 {
		k, v = it.c.Seek(prefix)
	} else {
		// The first key after 'after' is the first one at or after
		// after+"\x00".
		start := make([]byte, len(after)+1)
		copy(start, after)
		k, v = it.c.Seek(start)
	}
	it.setCursor(k, v)
	return it, nil
}

// buildOverlay reads the history after target and returns, for each key under
// prefix and after 'after' written since, its state at target.
func buildOverlay(tx *bolt.Tx, prefix, after []byte, target int64) ([]overlayEntry, error) {
	var over []overlayEntry
	seen := make(map[string]struct{})
	c := tx.Bucket(bucketHistory).Cursor()
	start := makeRevKey(target + 1)
	for k, v := c.Seek(start[:]); k != nil; k, v = c.Next() {
		r, err := decodeRecord(v)
		if err != nil {
			return nil, err
		}
		if !bytes.HasPrefix(r.key, prefix) || (len(after) > 0 && bytes.Compare(r.key, after) <= 0) {
			continue
		}
		if _, ok := seen[string(r.key)]; ok {
			continue
		}
		seen[string(r.key)] = struct{}{}
		e := overlayEntry{entry: entry{key: r.key, createRev: r.createRev, modRev: r.prevModRev}}
		switch r.typ {
		case recUpdate:
			e.present, e.value = true, r.prev
		case recDelete:
			e.present, e.value = true, r.value
		}
		over = append(over, e)
	}
	slices.SortFunc(over, func(a, b overlayEntry) int { return bytes.Compare(a.key, b.key) })
	return over, nil
}

func (it *listIter) setCursor(k, v []byte) {
	if k == nil || !bytes.HasPrefix(k, it.prefix) {
		it.ck, it.cv = nil, nil
		return
	}
	it.ck, it.cv = k, v
}

// next returns the next key at the iterator's revision, or ok false at the
// end.
func (it *listIter) next() (e entry, ok bool, err error) {
	for {
		haveOver := it.oi < len(it.over)
		if it.ck == nil && !haveOver {
			return entry{}, false, nil
		}
		if haveOver && (it.ck == nil || bytes.Compare(it.over[it.oi].key, it.ck) <= 0) {
			o := it.over[it.oi]
			it.oi++
			if it.ck != nil && bytes.Equal(o.key, it.ck) {
				it.setCursor(it.c.Next())
			}
			if !o.present {
				continue
			}
			return o.entry, true, nil
		}
		c, err := decodeCurrent(it.cv)
		if err != nil {
			return entry{}, false, err
		}
		e = entry{key: it.ck, value: c.value, createRev: c.createRev, modRev: c.modRev}
		it.setCursor(it.c.Next())
		return e, true, nil
	}
}

// page collects the entries of a List and copies them out of bolt memory in
// finish, with one allocation each for the items, all keys and all values.
// Sizing the copies exactly, rather than appending to growing buffers, keeps
// a 1000-item list of 1 KiB values near 1 MiB allocated instead of several.
type page struct {
	entries    []entry // alias bolt memory: valid until the transaction ends
	keyBytes   int
	valueBytes int
	pooled     *[]entry
}

// entryPool recycles the scratch entry slices of pages.
var entryPool = sync.Pool{New: func() any { s := make([]entry, 0, 256); return &s }}

// maxPooledEntries bounds the scratch slices kept for reuse.
const maxPooledEntries = 1 << 14

func newPage() page {
	p := entryPool.Get().(*[]entry)
	return page{entries: (*p)[:0], pooled: p}
}

func (p *page) add(e entry) {
	p.entries = append(p.entries, e)
	p.keyBytes += len(e.key)
	p.valueBytes += len(e.value)
}

func (p *page) len() int { return len(p.entries) }

// finish copies the entries into KeyValues and releases the scratch slice;
// it must run inside the transaction the entries came from. Values are
// capped so that appending to one never writes into the next.
func (p *page) finish() []storage.KeyValue {
	items := make([]storage.KeyValue, len(p.entries))
	var kb strings.Builder
	kb.Grow(p.keyBytes)
	for _, e := range p.entries {
		kb.Write(e.key)
	}
	keys := kb.String()
	values := make([]byte, p.valueBytes)
	var k, v int
	for i, e := range p.entries {
		ke, ve := k+len(e.key), v+copy(values[v:], e.value)
		items[i] = storage.KeyValue{Key: keys[k:ke], Value: values[v:ve:ve], CreateRevision: e.createRev, ModRevision: e.modRev}
		k, v = ke, ve
	}
	if cap(p.entries) <= maxPooledEntries {
		clear(p.entries)
		*p.pooled = p.entries[:0]
		entryPool.Put(p.pooled)
	}
	p.entries, p.pooled = nil, nil
	return items
}
