// Package bolt is Cella's embedded storage backend: storage.Interface on a
// single bbolt file.
//
// The file holds the current value of every key, a history of every write
// keyed by revision, and the global revision counter; docs/storage-format.md
// specifies it byte by byte. Reads are bolt read transactions and run
// concurrently. Writes go through one committer goroutine that applies every
// write queued at that moment in one read-write transaction (group commit)
// and acknowledges the callers only after that transaction is on disk.
// Watchers are fed from memory after each commit and replay older events from
// the history bucket.
package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"cella.dev/cella/internal/storage"
)

var _ storage.Interface = (*Store)(nil)

// Defaults for the zero fields of Options.
const (
	DefaultMaxBatchSize           = 1000
	DefaultReserveBytes           = 256 << 10
	DefaultWatcherBufferSize      = 1024
	DefaultProgressNotifyInterval = 5 * time.Second
	DefaultInitialMmapSize        = 256 << 20
	DefaultOpenTimeout            = 10 * time.Second
)

// maxValueSize bounds a stored value. A history record holds a value, the
// previous value and the key, and must fit in one bolt value.
const maxValueSize = 512 << 20

// Options tunes a Store. The zero value is ready to use; a zero field takes
// the default named after it.
type Options struct {
	// Logger receives the store's few log lines (open, compaction, commit
	// failures, watchers that fell behind). Nil discards them.
	Logger *slog.Logger
	// MaxBatchSize caps the writes applied in one transaction.
	MaxBatchSize int
	// ReserveBytes is the size of the reserve file kept next to the store
	// and given back when the disk is full, so that deletes still commit
	// (reserve.go). Zero means DefaultReserveBytes; negative, none.
	ReserveBytes int64
	// WatcherBufferSize is how many undelivered events a watcher may hold
	// before it is ended with storage.ErrCompacted. Writers never wait for
	// watchers.
	WatcherBufferSize int
	// ProgressNotifyInterval is how long a watcher opened with
	// ProgressNotify may go without events before it gets a bookmark.
	ProgressNotifyInterval time.Duration
	// InitialMmapSize is the initial size of bolt's memory map. A remap waits
	// for every open read transaction, so a map larger than the file keeps
	// writers from stalling behind readers. It reserves address space only.
	InitialMmapSize int
	// OpenTimeout bounds the wait for the file lock held by another process.
	OpenTimeout time.Duration
	// MustExist makes Open refuse, creating and changing nothing, a file
	// that is missing, empty, or holds no write yet (no Cella buckets, or
	// revision 0): the error wraps ErrNoStore. The owner sets it when it
	// knows a store was created at the path before, so that a lost store
	// is not silently replaced by an empty one.
	MustExist bool
	// Now is the clock that stamps each commit's writes with their
	// KeyValue.ModTime. Nil means time.Now.
	Now func() time.Time
}

// validate fills defaults and reports every bad field.
func (o *Options) validate() error {
	var errs []error
	if o.MaxBatchSize < 0 {
		errs = append(errs, fmt.Errorf("MaxBatchSize %d is negative", o.MaxBatchSize))
	}
	if o.WatcherBufferSize < 0 {
		errs = append(errs, fmt.Errorf("WatcherBufferSize %d is negative", o.WatcherBufferSize))
	}
	if o.ProgressNotifyInterval < 0 {
		errs = append(errs, fmt.Errorf("ProgressNotifyInterval %v is negative", o.ProgressNotifyInterval))
	}
	if o.InitialMmapSize < 0 {
		errs = append(errs, fmt.Errorf("InitialMmapSize %d is negative", o.InitialMmapSize))
	}
	if o.OpenTimeout < 0 {
		errs = append(errs, fmt.Errorf("OpenTimeout %v is negative", o.OpenTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("storage/bolt: invalid options: %w", err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBatchSize == 0 {
		o.MaxBatchSize = DefaultMaxBatchSize
	}
	if o.ReserveBytes == 0 {
		o.ReserveBytes = DefaultReserveBytes
	}
	if o.WatcherBufferSize == 0 {
		o.WatcherBufferSize = DefaultWatcherBufferSize
	}
	if o.ProgressNotifyInterval == 0 {
		o.ProgressNotifyInterval = DefaultProgressNotifyInterval
	}
	if o.InitialMmapSize == 0 {
		o.InitialMmapSize = DefaultInitialMmapSize
	}
	if o.OpenTimeout == 0 {
		o.OpenTimeout = DefaultOpenTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Store is a storage.Interface on one bbolt file. It is safe for concurrent
// use. Byte slices it returns are never written again by the store and may be
// kept; slices in Events are shared by every watcher and must not be modified.
type Store struct {
	db   *bolt.DB
	log  *slog.Logger
	opts Options
	path string

	// rev is the revision of the latest durable write. Only the committer
	// stores it, after a commit and before publishing or acknowledging.
	rev atomic.Int64
	// lastCommitTime is the commit time, in Unix nanoseconds, of the latest
	// transaction; only the committer uses it (see commitTime).
	lastCommitTime int64
	// compacted mirrors metaCompacted; Compact stores it after its commit.
	compacted atomic.Int64
	// closed is set by Close before anything is torn down.
	closed atomic.Bool

	// qmu guards the write queue.
	qmu     sync.Mutex
	queue   []*op // guarded by qmu
	qclosed bool  // guarded by qmu; no more ops are accepted
	// kick wakes the committer; it has room for one pending wake-up.
	kick chan struct{}
	// committerDone is closed when the committer goroutine returns.
	committerDone chan struct{}
	// noSpace holds the error of the latest commit when it failed for want
	// of disk space, and nil once a commit succeeds; only the committer
	// stores it (see DiskFull).
	noSpace atomic.Pointer[error]
	// reserveMissing says the reserve (reserve.go) is not there;
	// lastReserveTry is when it was last given back or made (committer
	// only, after Open).
	reserveMissing atomic.Bool
	lastReserveTry time.Time

	// compactMu serializes Compact calls.
	compactMu sync.Mutex

	hub *hub

	// Commit statistics, for benchmarks and tests.
	statCommits atomic.Int64
	statWrites  atomic.Int64
}

// Open opens or creates the store at path. The directory must exist. Only
// one Store (in any process) may have a path open at a time; Open waits up to
// Options.OpenTimeout for the file lock.
//
// Before bbolt maps the file, Open checks it against its meta pages
// (checkFile), so a truncated or damaged file is an error naming it, never a
// crash. Opening an existing file writes nothing unless its format must be
// upgraded, so a store on a full disk still opens.
func Open(path string, opts Options) (*Store, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	log := opts.Logger.With("component", "storage/bolt")
	if err := checkFile(path, opts.MustExist); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         opts.OpenTimeout,
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: opts.InitialMmapSize,
		NoStatistics:    true,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("storage/bolt: open %s: another process holds the file's lock (waited %s)", path, opts.OpenTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("storage/bolt: open %s: %w", path, err)
	}
	rev, compacted, upgraded, err := initFile(db, opts.MustExist)
	if errors.Is(err, ErrNoStore) {
		_ = db.Close()
		return nil, fmt.Errorf("%w: %s holds no Cella data (no buckets, or revision 0)", ErrNoStore, path)
	}
	if err == nil {
		err = deleteHistory(db, compacted)
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("storage/bolt: open %s: %w", path, err)
	}
	s := &Store{
		db:            db,
		log:           log,
		opts:          opts,
		path:          path,
		kick:          make(chan struct{}, 1),
		committerDone: make(chan struct{}),
	}
	s.rev.Store(rev)
	s.compacted.Store(compacted)
	s.hub = newHub(s, rev)
	s.makeReserve()
	go s.commitLoop()
	if upgraded != 0 {
		log.Info("upgraded the file format", "path", path, "from", upgraded, "to", formatVersion)
	}
	log.Info("opened", "path", path, "revision", rev, "compacted", compacted)
	return s, nil
}

// initFile creates the buckets of a new file, checks the format of an
// existing one, and returns its revision and compacted revision. A format 1
// file is upgraded by recording the new version, which stops older code from
// opening it; upgradedFrom is then 1. A file already in the current format
// is only read. With mustExist, a file without the buckets or at revision 0
// is ErrNoStore and is left as it is.
func initFile(db *bolt.DB, mustExist bool) (rev, compacted, upgradedFrom int64, err error) {
	current := false
	err = db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil || tx.Bucket(bucketKeys) == nil || tx.Bucket(bucketHistory) == nil {
			if mustExist {
				return ErrNoStore
			}
			return nil
		}
		r, err := getUint64(meta.Get(metaRevision))
		if err != nil {
			return err
		}
		if mustExist && r == 0 {
			return ErrNoStore
		}
		format, err := getUint64(meta.Get(metaFormat))
		if err != nil || format != formatVersion {
			return err
		}
		c, err := getUint64(meta.Get(metaCompacted))
		rev, compacted, current = r, c, true
		return err
	})
	if err != nil || current {
		return rev, compacted, 0, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketKeys); err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketHistory); err != nil {
			return err
		}
		format, err := getUint64(meta.Get(metaFormat))
		if err != nil {
			return err
		}
		switch format {
		case 0:
			if err := meta.Put(metaFormat, putUint64(formatVersion)); err != nil {
				return err
			}
		case 1:
			// Format 2 only adds modTime to the records it writes and
			// reads format 1 records as they are.
			if err := meta.Put(metaFormat, putUint64(formatVersion)); err != nil {
				return err
			}
			upgradedFrom = 1
		case formatVersion:
		default:
			return fmt.Errorf("unsupported format version %d (want %d)", format, formatVersion)
		}
		if rev, err = getUint64(meta.Get(metaRevision)); err != nil {
			return err
		}
		compacted, err = getUint64(meta.Get(metaCompacted))
		return err
	})
	return rev, compacted, upgradedFrom, err
}

// Close stops accepting calls, commits and acknowledges the writes already
// queued, ends every watch (their channels close), waits for the store's
// goroutines and closes the file. Calls after Close, Close included, give
// storage.ErrUnavailable.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return errClosed
	}
	s.qmu.Lock()
	s.qclosed = true
	s.qmu.Unlock()
	s.wake()
	<-s.committerDone
	s.hub.close()
	// Compact may still hold a write transaction; bolt's Close waits for it.
	err := s.db.Close()
	s.log.Info("closed", "path", s.path, "revision", s.rev.Load())
	if err != nil {
		return fmt.Errorf("storage/bolt: close: %w", err)
	}
	return nil
}

// errClosed is returned by every call after Close.
var errClosed = fmt.Errorf("%w: store is closed", storage.ErrUnavailable)

// begin starts a read transaction for a call made with ctx.
func (s *Store) begin(ctx context.Context) (*bolt.Tx, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, errClosed
	}
	tx, err := s.db.Begin(false)
	if err != nil {
		return nil, boltErr(err)
	}
	return tx, nil
}

// boltErr maps bolt's closed-database error to storage.ErrUnavailable.
func boltErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return errClosed
	}
	return fmt.Errorf("storage/bolt: %w", err)
}

// Get returns the current value of key.
func (s *Store) Get(ctx context.Context, key string) (storage.KeyValue, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return storage.KeyValue{}, err
	}
	defer tx.Rollback()
	v := tx.Bucket(bucketKeys).Get(keyBytes(key))
	if v == nil {
		return storage.KeyValue{}, storage.ErrNotFound
	}
	c, err := decodeCurrent(v)
	if err != nil {
		return storage.KeyValue{}, err
	}
	return storage.KeyValue{
		Key:            key,
		Value:          clone(c.value),
		CreateRevision: c.createRev,
		ModRevision:    c.modRev,
		ModTime:        modTime(c.modTime),
	}, nil
}

// Count returns how many keys start with prefix now. It walks the keys, so it
// costs time linear in the answer.
func (s *Store) Count(ctx context.Context, prefix string) (int64, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	p := keyBytes(prefix)
	var n int64
	c := tx.Bucket(bucketKeys).Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		n++
	}
	return n, nil
}

// CurrentRevision returns the revision of the latest durable write.
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if s.closed.Load() {
		return 0, errClosed
	}
	return s.rev.Load(), nil
}

// CompactedRevision returns the revision of the latest Compact.
func (s *Store) CompactedRevision(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if s.closed.Load() {
		return 0, errClosed
	}
	return s.compacted.Load(), nil
}

// compactChunk is how many history records one compaction transaction
// deletes, so that a large compaction never holds the writer lock for long.
const compactChunk = 10000

// Compact discards the history at or before revision. It records the new
// compacted revision durably first, then deletes history records in chunks of
// separate transactions, interleaved with ordinary writes. If ctx ends or the
// process dies part way, the revision stays compacted and the remaining
// records are deleted by the next Compact or Open; they are never read.
func (s *Store) Compact(ctx context.Context, revision int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return errClosed
	}
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	var noop bool
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		cur, err := getUint64(meta.Get(metaRevision))
		if err != nil {
			return err
		}
		old, err := getUint64(meta.Get(metaCompacted))
		if err != nil {
			return err
		}
		if revision > cur {
			return storage.ErrFutureRevision
		}
		if revision <= old {
			noop = true
			return nil
		}
		return meta.Put(metaCompacted, putUint64(revision))
	})
	if errors.Is(err, storage.ErrFutureRevision) {
		return err
	}
	if err != nil {
		return boltErr(err)
	}
	if noop {
		return nil
	}
	s.compacted.Store(revision)
	s.log.Info("compacted", "revision", revision)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		more, err := deleteHistoryChunk(s.db, revision)
		if err != nil {
			return boltErr(err)
		}
		if !more {
			return nil
		}
	}
}

// deleteHistory deletes every history record at or before revision, the
// leftovers of a compaction cut short.
func deleteHistory(db *bolt.DB, revision int64) error {
	var leftover bool
	err := db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketHistory).Cursor().First()
		leftover = k != nil && parseRevKey(k) <= revision
		return nil
	})
	if err != nil || !leftover {
		return err
	}
	for {
		more, err := deleteHistoryChunk(db, revision)
		if err != nil || !more {
			return err
		}
	}
}

// deleteHistoryChunk deletes up to compactChunk history records at or before
// revision and reports whether any may remain.
func deleteHistoryChunk(db *bolt.DB, revision int64) (more bool, err error) {
	err = db.Update(func(tx *bolt.Tx) error {
		h := tx.Bucket(bucketHistory)
		revs := make([]int64, 0, 64)
		c := h.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			r := parseRevKey(k)
			if r > revision || len(revs) == compactChunk {
				break
			}
			revs = append(revs, r)
		}
		more = len(revs) == compactChunk
		// Deleting through a separate key, not the cursor, because deleting
		// under a cursor makes its next step skip an item.
		for _, r := range revs {
			k := makeRevKey(r)
			if err := h.Delete(k[:]); err != nil {
				return err
			}
		}
		return nil
	})
	return more, err
}

func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
