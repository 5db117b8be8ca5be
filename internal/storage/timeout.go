package storage

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// WithTimeout returns s with every call bounded to d: a call that has not
// returned after d gives ErrUnavailable, so a backend that stops answering
// is reported as unavailable rather than left to hang. A caller's own
// deadline still wins when it comes first, and the call then ends with
// context.DeadlineExceeded as before. d must be positive.
//
// The bound works through the context, so it holds for calls that honour
// theirs: a write the bolt backend has already handed to its committer
// waits for the commit whatever the context says (see bolt's Store.write).
// Watch and Compact are not bounded: a watch lives as long as its caller
// wants, and compaction is background work that makes progress in steps.
// A timed-out write may still have been applied by a backend that cannot
// take it back; callers learn the outcome by reading again.
func WithTimeout(s Interface, d time.Duration) Interface {
	return &timeoutStore{Interface: s, d: d}
}

type timeoutStore struct {
	Interface
	d time.Duration
}

var _ Interface = (*timeoutStore)(nil)

// errNoAnswer is the cause of the context of a call that ran out of time.
var errNoAnswer = errors.New("storage: no answer in time")

// bound runs call under the store's time limit and turns running out of it
// into ErrUnavailable.
func bound[T any](ctx context.Context, d time.Duration, call func(context.Context) (T, error)) (T, error) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		// A deadline at least as near is set already: by the caller, whose
		// deadline wins anyway, or by a bound further out (the one above a
		// watch cache), which turns running out into ErrUnavailable
		// itself. A timer of our own would never fire first.
		return call(ctx)
	}
	cctx, cancel := context.WithTimeoutCause(ctx, d, errNoAnswer)
	defer cancel()
	v, err := call(cctx)
	if err != nil && errors.Is(err, context.DeadlineExceeded) && context.Cause(cctx) == errNoAnswer {
		err = fmt.Errorf("%w: the backend did not answer within %s", ErrUnavailable, d)
	}
	return v, err
}

func (s *timeoutStore) Get(ctx context.Context, key string) (KeyValue, error) {
	return bound(ctx, s.d, func(ctx context.Context) (KeyValue, error) { return s.Interface.Get(ctx, key) })
}

func (s *timeoutStore) List(ctx context.Context, prefix string, opts ListOptions) (ListResult, error) {
	return bound(ctx, s.d, func(ctx context.Context) (ListResult, error) { return s.Interface.List(ctx, prefix, opts) })
}

func (s *timeoutStore) Count(ctx context.Context, prefix string) (int64, error) {
	return bound(ctx, s.d, func(ctx context.Context) (int64, error) { return s.Interface.Count(ctx, prefix) })
}

func (s *timeoutStore) Create(ctx context.Context, key string, value []byte) (KeyValue, error) {
	return bound(ctx, s.d, func(ctx context.Context) (KeyValue, error) { return s.Interface.Create(ctx, key, value) })
}

func (s *timeoutStore) Update(ctx context.Context, key string, value []byte, expectedRevision int64) (KeyValue, error) {
	return bound(ctx, s.d, func(ctx context.Context) (KeyValue, error) {
		return s.Interface.Update(ctx, key, value, expectedRevision)
	})
}

func (s *timeoutStore) Delete(ctx context.Context, key string, expectedRevision int64) (KeyValue, error) {
	return bound(ctx, s.d, func(ctx context.Context) (KeyValue, error) {
		return s.Interface.Delete(ctx, key, expectedRevision)
	})
}

func (s *timeoutStore) CurrentRevision(ctx context.Context) (int64, error) {
	return bound(ctx, s.d, s.Interface.CurrentRevision)
}

func (s *timeoutStore) CompactedRevision(ctx context.Context) (int64, error) {
	return bound(ctx, s.d, s.Interface.CompactedRevision)
}
