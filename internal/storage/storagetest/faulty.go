package storagetest

import (
	"context"
	"sync"

	"cella.dev/cella/internal/storage"
)

// Fault decides what one storage call does before it reaches the backend.
// op is the method name ("Get", "List", "Create", ...) and key the key or
// prefix it names ("" for the revision calls). Returning nil lets the call
// through; returning an error fails the call with it; blocking stalls the
// call; panicking panics in the caller's goroutine.
type Fault func(ctx context.Context, op, key string) error

// Faulty is a storage.Interface that hands every call to the store it
// wraps unless a test has injected a Fault. It lets tests make storage
// fail, stall or panic under a running server (servertest.WithStorage
// installs it); nothing in the cella binary imports it.
//
// Use it as f := &Faulty{} and pass f.Wrap where a wrapper is wanted.
// Close is the wrapped store's own and is never faulted, so a test can
// close the real store under a server.
type Faulty struct {
	storage.Interface

	mu    sync.Mutex
	fault Fault // guarded by mu
}

var _ storage.Interface = (*Faulty)(nil)

// Wrap makes f wrap s and returns f.
func (f *Faulty) Wrap(s storage.Interface) storage.Interface {
	f.Interface = s
	return f
}

// Inject makes every later call run fault first; nil lets calls through
// again. Calls already stalled in a previous fault stay stalled until
// their context ends.
func (f *Faulty) Inject(fault Fault) {
	f.mu.Lock()
	f.fault = fault
	f.mu.Unlock()
}

// Stall is a Fault that holds every call until its context ends, as a
// backend that stopped answering would, and then fails it with the
// context's error.
func Stall(ctx context.Context, _, _ string) error {
	<-ctx.Done()
	return ctx.Err()
}

func (f *Faulty) check(ctx context.Context, op, key string) error {
	f.mu.Lock()
	fault := f.fault
	f.mu.Unlock()
	if fault == nil {
		return nil
	}
	return fault(ctx, op, key)
}

func (f *Faulty) Get(ctx context.Context, key string) (storage.KeyValue, error) {
	if err := f.check(ctx, "Get", key); err != nil {
		return storage.KeyValue{}, err
	}
	return f.Interface.Get(ctx, key)
}

func (f *Faulty) List(ctx context.Context, prefix string, opts storage.ListOptions) (storage.ListResult, error) {
	if err := f.check(ctx, "List", prefix); err != nil {
		return storage.ListResult{}, err
	}
	return f.Interface.List(ctx, prefix, opts)
}

func (f *Faulty) Count(ctx context.Context, prefix string) (int64, error) {
	if err := f.check(ctx, "Count", prefix); err != nil {
		return 0, err
	}
	return f.Interface.Count(ctx, prefix)
}

func (f *Faulty) Create(ctx context.Context, key string, value []byte) (storage.KeyValue, error) {
	if err := f.check(ctx, "Create", key); err != nil {
		return storage.KeyValue{}, err
	}
	return f.Interface.Create(ctx, key, value)
}

func (f *Faulty) Update(ctx context.Context, key string, value []byte, expectedRevision int64) (storage.KeyValue, error) {
	if err := f.check(ctx, "Update", key); err != nil {
		return storage.KeyValue{}, err
	}
	return f.Interface.Update(ctx, key, value, expectedRevision)
}

func (f *Faulty) Delete(ctx context.Context, key string, expectedRevision int64) (storage.KeyValue, error) {
	if err := f.check(ctx, "Delete", key); err != nil {
		return storage.KeyValue{}, err
	}
	return f.Interface.Delete(ctx, key, expectedRevision)
}

func (f *Faulty) Watch(ctx context.Context, prefix string, opts storage.WatchOptions) (storage.Watcher, error) {
	if err := f.check(ctx, "Watch", prefix); err != nil {
		return nil, err
	}
	return f.Interface.Watch(ctx, prefix, opts)
}

func (f *Faulty) CurrentRevision(ctx context.Context) (int64, error) {
	if err := f.check(ctx, "CurrentRevision", ""); err != nil {
		return 0, err
	}
	return f.Interface.CurrentRevision(ctx)
}

func (f *Faulty) Compact(ctx context.Context, revision int64) error {
	if err := f.check(ctx, "Compact", ""); err != nil {
		return err
	}
	return f.Interface.Compact(ctx, revision)
}

func (f *Faulty) CompactedRevision(ctx context.Context) (int64, error) {
	if err := f.check(ctx, "CompactedRevision", ""); err != nil {
		return 0, err
	}
	return f.Interface.CompactedRevision(ctx)
}
