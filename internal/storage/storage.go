// Package storage defines Cella's revisioned key/value contract.
//
// Every backend (bolt, the embedded default; etcd, for scale-out) and the
// watch cache that sits in front of them implement Interface, and all of them
// pass the same contract suite in package storagetest.
//
// The contract is deliberately small and knows nothing of Kubernetes: keys are
// slash-separated strings such as "/registry/configmaps/default/app", values
// are opaque bytes. One global revision counter orders every write across all
// keys, as in etcd: each successful create, update or delete advances it by
// exactly one and stamps the written key with the new revision.
//
// Errors are the sentinels below (compare with errors.Is). The registry turns
// them into Kubernetes Status errors; nothing here writes HTTP.
package storage

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors returned by every backend.
var (
	// ErrNotFound: the key does not exist (Get, Update, Delete).
	ErrNotFound = errors.New("storage: key not found")
	// ErrExists: Create of a key that already exists.
	ErrExists = errors.New("storage: key already exists")
	// ErrConflict: Update or Delete whose expected revision is not the key's
	// current mod revision.
	ErrConflict = errors.New("storage: revision conflict")
	// ErrCompacted: a List or Watch at a revision older than the oldest kept
	// revision, or a continue token that points there.
	ErrCompacted = errors.New("storage: required revision has been compacted")
	// ErrFutureRevision: a List or Watch at a revision newer than the current
	// one.
	ErrFutureRevision = errors.New("storage: required revision is in the future")
	// ErrInvalidContinue: a continue token that does not decode or belongs to
	// another prefix.
	ErrInvalidContinue = errors.New("storage: invalid continue token")
	// ErrUnavailable: the backend cannot answer now (closed, no quorum,
	// timed out). Callers may retry later.
	ErrUnavailable = errors.New("storage: unavailable")
	// ErrNoSpace: a write found no room where the backend keeps its data (a
	// full disk or quota, etcd's space quota); nothing was written. Unlike
	// ErrUnavailable it does not pass by itself: it lasts until an operator
	// frees space, and deletes may still succeed.
	ErrNoSpace = errors.New("storage: no space left")
)

// KeyValue is one stored key at one revision.
type KeyValue struct {
	Key   string
	Value []byte
	// CreateRevision is the revision of the write that created the key.
	CreateRevision int64
	// ModRevision is the revision of the last write to the key.
	ModRevision int64
	// ModTime is the wall-clock time at which the write at ModRevision
	// committed, as the backend's clock read it; it never decreases from
	// one revision to the next while the backend runs. It is set on what
	// Get returns and on the KeyValues that Create, Update and Delete
	// return (for Delete, the time of the delete; with ErrConflict, the
	// current key's). It is zero when the backend did not record it (keys
	// last written by an older version of the backend), and List items and
	// Events leave it zero: nothing reads it there.
	ModTime time.Time
}

// ListOptions selects a page of keys under a prefix.
type ListOptions struct {
	// Revision is the revision to read at. Zero means the current revision.
	// A revision older than the compacted one is ErrCompacted; a revision
	// newer than the current one is ErrFutureRevision.
	Revision int64
	// Limit caps the number of items returned. Zero means no limit. When
	// more items remain, ListResult.Continue is set.
	Limit int64
	// Continue is the token from a previous ListResult. It carries the
	// revision of the first page, so every page reads one snapshot;
	// Revision must then be zero.
	Continue string
	// Stale allows the answer to come from a cache that may lag storage
	// (Kubernetes' resourceVersion=0). Backends ignore it; the watch cache
	// serves such reads from memory and sets ListResult.FromCache.
	Stale bool
}

// ListResult is one page of a List.
type ListResult struct {
	// Items are in ascending key order.
	Items []KeyValue
	// Revision is the revision the page was read at.
	Revision int64
	// Continue is non-empty when more items remain after this page.
	Continue string
	// RemainingItemCount is the number of items after this page when it is
	// known cheaply, or -1.
	RemainingItemCount int64
	// FromCache is true when the page came from a cache (see Stale).
	FromCache bool
}

// EventType says what happened to a key.
type EventType int

const (
	// EventPut: the key was created or updated. Event.Created tells which.
	EventPut EventType = iota + 1
	// EventDelete: the key was deleted. Event.Value holds the last value.
	EventDelete
	// EventBookmark: no key changed, but the watcher has seen every event up
	// to Event.Revision. Key and Value are empty.
	EventBookmark
	// EventError: the watch cannot go on; Event.Err says why (ErrCompacted
	// when the watcher fell behind the kept history). It is the last event
	// before the channel closes.
	EventError
)

// Event is one change seen by a watcher.
type Event struct {
	Type EventType
	Key  string
	// Value is the new value for EventPut and the deleted value for
	// EventDelete.
	Value []byte
	// PrevValue is the value before this event (nil on create).
	PrevValue []byte
	// Revision is the revision of the write (for EventBookmark, the revision
	// the watcher is known to be at).
	Revision int64
	// CreateRevision is the key's create revision (EventPut, EventDelete).
	CreateRevision int64
	// Created marks an EventPut that created the key.
	Created bool
	// InitialEventsEnd marks the EventBookmark that closes the initial state
	// of a watch opened with WatchOptions.InitialState.
	InitialEventsEnd bool
	// Err is set on EventError.
	Err error
}

// WatchOptions says where a watch starts and what it reports.
type WatchOptions struct {
	// Revision: deliver every event with a revision greater than this one,
	// in revision order. Zero means from the current revision (only future
	// events). A revision older than the kept history gives ErrCompacted
	// from Watch; newer than current gives ErrFutureRevision.
	Revision int64
	// InitialState: first deliver one EventPut (Created true) for every key
	// under the prefix as of a snapshot revision S (ignoring Revision), then
	// one EventBookmark with InitialEventsEnd at revision S, then every
	// event after S.
	InitialState bool
	// ProgressNotify asks for an EventBookmark now and then while nothing
	// changes, so a watcher learns how far it has seen.
	ProgressNotify bool
}

// Watcher is a running watch. Events arrive on ResultChan in revision order,
// with no gaps, until Stop is called, the context is cancelled, or an
// EventError ends it; then the channel is closed.
type Watcher interface {
	ResultChan() <-chan Event
	// Stop ends the watch and releases its resources; it is safe to call
	// more than once and from any goroutine.
	Stop()
}

// Interface is the revisioned key/value store. All methods are safe for
// concurrent use. A write returns only after it is durable: an acknowledged
// write survives a crash of the process.
type Interface interface {
	// Get returns the current value of key, or ErrNotFound.
	Get(ctx context.Context, key string) (KeyValue, error)

	// List returns the keys that start with prefix, in key order, at the
	// revision opts ask for.
	List(ctx context.Context, prefix string, opts ListOptions) (ListResult, error)

	// Count returns how many keys start with prefix now.
	Count(ctx context.Context, prefix string) (int64, error)

	// Create stores value under key if the key does not exist, and returns
	// the new KeyValue. An existing key gives ErrExists.
	Create(ctx context.Context, key string, value []byte) (KeyValue, error)

	// Update replaces the value of key if its current mod revision is
	// expectedRevision (zero means any), and returns the new KeyValue.
	// A missing key gives ErrNotFound; another revision gives ErrConflict
	// together with the current KeyValue, so callers can retry without a
	// second read.
	Update(ctx context.Context, key string, value []byte, expectedRevision int64) (KeyValue, error)

	// Delete removes key if its current mod revision is expectedRevision
	// (zero means any). It returns the deleted KeyValue with ModRevision set
	// to the revision of the delete. A missing key gives ErrNotFound; another
	// revision gives ErrConflict with the current KeyValue.
	Delete(ctx context.Context, key string, expectedRevision int64) (KeyValue, error)

	// Watch reports changes to keys that start with prefix. The watch ends
	// when ctx is done or Stop is called.
	Watch(ctx context.Context, prefix string, opts WatchOptions) (Watcher, error)

	// CurrentRevision returns the revision of the latest write (zero for an
	// empty store).
	CurrentRevision(ctx context.Context) (int64, error)

	// Compact discards the history of writes at or before revision R.
	// Afterwards List at a revision below R and Watch from a revision below R
	// give ErrCompacted; List at R and Watch from R (events after R) still
	// work. Compacting to a revision at or below the current compacted one
	// is a no-op; a revision above the current one is ErrFutureRevision.
	Compact(ctx context.Context, revision int64) error

	// CompactedRevision returns R of the latest Compact (zero if nothing was
	// compacted).
	CompactedRevision(ctx context.Context) (int64, error)

	// Close releases the backend. Calls after Close give ErrUnavailable.
	Close() error
}
