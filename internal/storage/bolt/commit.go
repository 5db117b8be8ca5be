package bolt

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"cella.dev/cella/internal/storage"
)

// opKind is the kind of a queued write.
type opKind uint8

const (
	opCreate opKind = iota + 1
	opUpdate
	opDelete
)

// States of an op. The committer moves a pending op to taken before applying
// it; a caller whose ctx ends moves it to cancelled. Exactly one of the two
// wins, so a write that returned a ctx error was never applied.
const (
	opPending int32 = iota
	opTaken
	opCancelled
)

// op is one queued write. The caller owns it until it is queued; then the
// committer owns it until it closes done, after which kv and err are the
// result.
type op struct {
	kind     opKind
	key      string
	value    []byte
	expected int64
	state    atomic.Int32

	kv   storage.KeyValue
	err  error
	done chan struct{}
}

// Create stores value under key if the key does not exist.
func (s *Store) Create(ctx context.Context, key string, value []byte) (storage.KeyValue, error) {
	return s.write(ctx, &op{kind: opCreate, key: key, value: value})
}

// Update replaces the value of key if its mod revision is expectedRevision
// (zero means any).
func (s *Store) Update(ctx context.Context, key string, value []byte, expectedRevision int64) (storage.KeyValue, error) {
	return s.write(ctx, &op{kind: opUpdate, key: key, value: value, expected: expectedRevision})
}

// Delete removes key if its mod revision is expectedRevision (zero means any).
func (s *Store) Delete(ctx context.Context, key string, expectedRevision int64) (storage.KeyValue, error) {
	return s.write(ctx, &op{kind: opDelete, key: key, expected: expectedRevision})
}

// write queues o for the committer and waits for its result. value is read
// until write returns and not retained afterwards. If ctx ends before the
// committer takes o, write returns ctx.Err() and o is never applied; once
// taken, write waits for the commit, which does not depend on ctx.
func (s *Store) write(ctx context.Context, o *op) (storage.KeyValue, error) {
	if err := ctx.Err(); err != nil {
		return storage.KeyValue{}, err
	}
	if len(o.key) == 0 || len(o.key) > bolt.MaxKeySize {
		return storage.KeyValue{}, fmt.Errorf("storage/bolt: key length %d out of range [1, %d]", len(o.key), bolt.MaxKeySize)
	}
	if len(o.value) > maxValueSize {
		return storage.KeyValue{}, fmt.Errorf("storage/bolt: value of %d bytes exceeds %d", len(o.value), maxValueSize)
	}
	o.done = make(chan struct{})
	s.qmu.Lock()
	if s.qclosed {
		s.qmu.Unlock()
		return storage.KeyValue{}, errClosed
	}
	s.queue = append(s.queue, o)
	s.qmu.Unlock()
	s.wake()
	select {
	case <-o.done:
		return o.kv, o.err
	case <-ctx.Done():
		if o.state.CompareAndSwap(opPending, opCancelled) {
			return storage.KeyValue{}, ctx.Err()
		}
		<-o.done
		return o.kv, o.err
	}
}

// wake makes sure the committer looks at the queue again.
func (s *Store) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// commitLoop is the committer goroutine, started by Open and joined by Close
// through committerDone. It is the only writer of the keys and history
// buckets and of s.rev. After Close marks the queue closed it drains what
// was queued and returns.
func (s *Store) commitLoop() {
	defer close(s.committerDone)
	var batch []*op
	for range s.kick {
		for {
			// Yield once so that writers just woken by the previous
			// commit can queue their next write and share this one: on
			// few cores the committer would otherwise split the writers
			// into two alternating halves, each paying its own fsync.
			runtime.Gosched()
			batch = s.takeBatch(batch[:0])
			if len(batch) == 0 {
				break
			}
			s.commit(batch)
			clear(batch) // drop references to finished ops
		}
		s.qmu.Lock()
		done := s.qclosed && len(s.queue) == 0
		s.qmu.Unlock()
		if done {
			return
		}
	}
}

// takeBatch moves up to MaxBatchSize queued ops, oldest first, into batch.
func (s *Store) takeBatch(batch []*op) []*op {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	n := min(len(s.queue), s.opts.MaxBatchSize)
	batch = append(batch, s.queue[:n]...)
	rest := copy(s.queue, s.queue[n:])
	clear(s.queue[rest:])
	s.queue = s.queue[:rest]
	return batch
}

// commit applies batch in one read-write transaction, each op checked on its
// own, commits it (bolt writes the pages, fdatasyncs, writes the meta page,
// fdatasyncs), and only then publishes the events and acknowledges the
// callers. If the transaction fails, every op in it fails and the revision
// does not move; except that on a full disk the deletes of a failed batch
// are tried again by themselves (one write that needed new pages must not
// keep deletes, which free space, from committing), and if they fail
// alone, once more after the store's reserve is given back (reserve.go).
func (s *Store) commit(batch []*op) {
	taken := batch[:0:0]
	for _, o := range batch {
		if o.state.CompareAndSwap(opPending, opTaken) {
			taken = append(taken, o)
		}
	}
	if len(taken) == 0 {
		return
	}
	defer func() {
		for _, o := range taken {
			close(o.done)
		}
	}()
	if err := s.commitOps(taken); !errors.Is(err, storage.ErrNoSpace) {
		return
	}
	var deletes []*op
	for _, o := range taken {
		if o.kind == opDelete {
			deletes = append(deletes, o)
		}
	}
	if len(deletes) == 0 {
		return
	}
	err := storage.ErrNoSpace
	if len(deletes) < len(taken) {
		err = s.commitOps(deletes)
	}
	if errors.Is(err, storage.ErrNoSpace) && s.releaseReserve() {
		_ = s.commitOps(deletes)
	}
}

// commitOps applies ops in one transaction and sets each op's result; it
// returns the error every op got, if the transaction failed.
func (s *Store) commitOps(ops []*op) error {
	for _, o := range ops {
		o.kv, o.err = storage.KeyValue{}, nil // a retry starts afresh
	}
	events, rev, err := s.apply(ops)
	if err != nil {
		if isNoSpace(err) {
			err = fmt.Errorf("%w: commit: %v", storage.ErrNoSpace, err)
			// Once is enough: while the disk stays full every write fails
			// alike, and /readyz says so.
			if s.noSpace.Swap(&err) == nil {
				s.log.Error("commit failed: the disk is full; writes fail until space is freed", "path", s.path, "ops", len(ops), "err", err)
			}
		} else {
			s.log.Error("commit failed", "ops", len(ops), "err", err)
			err = fmt.Errorf("%w: commit: %v", storage.ErrUnavailable, err)
		}
		for _, o := range ops {
			o.kv, o.err = storage.KeyValue{}, err
		}
		return err
	}
	if len(events) == 0 {
		return nil
	}
	if s.noSpace.Swap(nil) != nil {
		s.log.Info("commits succeed again after the disk was full", "path", s.path)
	}
	s.rev.Store(rev)
	s.statCommits.Add(1)
	s.statWrites.Add(int64(len(events)))
	s.hub.publish(events)
	s.retryReserve()
	return nil
}

// apply runs ops in one transaction and commits it if any op succeeded. It
// sets each op's result and returns the events of the successful ops in
// revision order and the new revision.
func (s *Store) apply(ops []*op) (events []storage.Event, rev int64, err error) {
	tx, err := s.db.Begin(true)
	if err != nil {
		return nil, 0, err
	}
	defer func() {
		if err != nil || len(events) == 0 {
			_ = tx.Rollback()
		}
	}()
	keys := tx.Bucket(bucketKeys)
	hist := tx.Bucket(bucketHistory)
	rev = s.rev.Load()
	now := s.commitTime()
	events = make([]storage.Event, 0, len(ops))
	for _, o := range ops {
		ev, ok, err := applyOp(keys, hist, o, rev+1, now)
		if err != nil {
			return nil, 0, err
		}
		if ok {
			rev++
			events = append(events, ev)
		}
	}
	if len(events) == 0 {
		return nil, rev, nil
	}
	if err := tx.Bucket(bucketMeta).Put(metaRevision, putUint64(rev)); err != nil {
		return nil, 0, err
	}
	if err := tx.Commit(); err != nil {
		return nil, 0, err
	}
	return events, rev, nil
}

// commitTime returns the time to record for the writes of the next
// transaction, in Unix nanoseconds: the clock, but never earlier than the
// previous transaction's, so that times follow revisions even when the
// clock steps back. Only the committer calls it.
func (s *Store) commitTime() int64 {
	t := max(s.opts.Now().UnixNano(), s.lastCommitTime)
	s.lastCommitTime = t
	return t
}

// modTime converts a recorded commit time; 0 (not recorded) is the zero
// Time.
func modTime(unixNano int64) time.Time {
	if unixNano == 0 {
		return time.Time{}
	}
	return time.Unix(0, unixNano)
}

// applyOp applies o at revision rev, committed at time now, inside a write
// transaction. A rejected op (exists, not found, conflict) gets its error in
// o.err and returns ok false; err is a failure of the transaction itself.
func applyOp(keys, hist *bolt.Bucket, o *op, rev, now int64) (ev storage.Event, ok bool, err error) {
	k := keyBytes(o.key)
	cur := keys.Get(k)
	var c current
	if cur != nil {
		if c, err = decodeCurrent(cur); err != nil {
			return ev, false, err
		}
	}
	var rec []byte
	var tail int
	switch o.kind {
	case opCreate:
		if cur != nil {
			o.err = storage.ErrExists
			return ev, false, nil
		}
		rec, tail = encodeRecord(recCreate, o.key, 0, nil, rev, rev, now, o.value)
		o.kv = storage.KeyValue{Key: o.key, Value: o.value, CreateRevision: rev, ModRevision: rev, ModTime: modTime(now)}
		ev = storage.Event{Type: storage.EventPut, Key: o.key, Value: rec[tail+timedHeader:],
			Revision: rev, CreateRevision: rev, Created: true}
	case opUpdate, opDelete:
		if cur == nil {
			o.err = storage.ErrNotFound
			return ev, false, nil
		}
		if o.expected != 0 && o.expected != c.modRev {
			o.err = storage.ErrConflict
			o.kv = storage.KeyValue{Key: o.key, Value: clone(c.value), CreateRevision: c.createRev, ModRevision: c.modRev, ModTime: modTime(c.modTime)}
			return ev, false, nil
		}
		if o.kind == opUpdate {
			rec, tail = encodeRecord(recUpdate, o.key, c.modRev, c.value, c.createRev, rev, now, o.value)
			o.kv = storage.KeyValue{Key: o.key, Value: o.value, CreateRevision: c.createRev, ModRevision: rev, ModTime: modTime(now)}
			ev = storage.Event{Type: storage.EventPut, Key: o.key, Value: rec[tail+timedHeader:],
				PrevValue: rec[tail-len(c.value) : tail], Revision: rev, CreateRevision: c.createRev}
			break
		}
		rec, tail = encodeRecord(recDelete, o.key, c.modRev, nil, c.createRev, rev, now, c.value)
		last := rec[tail+timedHeader:]
		o.kv = storage.KeyValue{Key: o.key, Value: clone(last), CreateRevision: c.createRev, ModRevision: rev, ModTime: modTime(now)}
		ev = storage.Event{Type: storage.EventDelete, Key: o.key, Value: last, PrevValue: last,
			Revision: rev, CreateRevision: c.createRev}
	default:
		return ev, false, errors.New("storage/bolt: unknown op")
	}
	// Bolt keeps references to rec until the transaction ends; rec is never
	// written again, so events may share it after the commit.
	if o.kind == opDelete {
		err = keys.Delete(k)
	} else {
		err = keys.Put(k, rec[tail:])
	}
	if err != nil {
		return ev, false, err
	}
	rk := makeRevKey(rev)
	if err := hist.Put(rk[:], rec); err != nil {
		return ev, false, err
	}
	return ev, true, nil
}
