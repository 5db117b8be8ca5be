package app

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"cella.dev/cella/internal/storage"
	"cella.dev/cella/internal/storage/bolt"
)

// A full disk. The bolt backend marks a commit that failed for want of
// space with bolt.ErrNoSpace (and storage.ErrUnavailable, so that without
// this file it is a plain 503) and remembers it until a commit succeeds
// (bolt.Store.DiskFull). This file turns both into answers that say what
// is wrong: the writes get a 500 Status, /readyz a 503.
//
// It lives here, above storage, because storage must not import k8s.io and
// the registry's error seam knows no disk-full sentinel; the Status error it
// builds passes through the registry unchanged (registry/errors.go returns
// API Status errors as they are).

// diskFullMessage is the message of a write that failed.
const diskFullMessage = "the disk that holds the store is full (no space left on device): writes fail until space is freed"

// errNotReadyDiskFull is what /readyz answers while the latest commit
// failed for want of space.
var errNotReadyDiskFull = errors.New("storage is full: the latest write found no space left on the disk that holds the store")

// diskFullStore answers the writes of the store it wraps that fail with
// bolt.ErrNoSpace as a 500 InternalError whose message says the disk is
// full. 500, as kube-apiserver answers etcd's "mvcc: database space
// exceeded", and not 503: a 503 with Retry-After makes client-go retry by
// itself what only an operator can fix, and 507 Insufficient Storage is
// WebDAV's, which no Kubernetes client knows.
type diskFullStore struct {
	storage.Interface
}

// Create is the wrapped Create with the disk-full answer.
func (s diskFullStore) Create(ctx context.Context, key string, value []byte) (storage.KeyValue, error) {
	kv, err := s.Interface.Create(ctx, key, value)
	return kv, diskFullError(err)
}

// Update is the wrapped Update with the disk-full answer.
func (s diskFullStore) Update(ctx context.Context, key string, value []byte, expectedRevision int64) (storage.KeyValue, error) {
	kv, err := s.Interface.Update(ctx, key, value, expectedRevision)
	return kv, diskFullError(err)
}

// Delete is the wrapped Delete with the disk-full answer. A delete needs
// little new space and usually commits on a full disk; when it does not, it
// is answered like any other write.
func (s diskFullStore) Delete(ctx context.Context, key string, expectedRevision int64) (storage.KeyValue, error) {
	kv, err := s.Interface.Delete(ctx, key, expectedRevision)
	return kv, diskFullError(err)
}

// diskFullError returns err, joined with the disk-full Status when it is
// bolt.ErrNoSpace: errors.As finds the Status for the error writer, while
// errors.Is still sees the storage sentinels and the log line keeps the
// backend's words (the file and the system error).
func diskFullError(err error) error {
	if err == nil || !errors.Is(err, bolt.ErrNoSpace) {
		return err
	}
	return &noSpaceError{status: apierrors.NewInternalError(errors.New(diskFullMessage)), err: err}
}

// noSpaceError is a write that failed on a full disk.
type noSpaceError struct {
	status *apierrors.StatusError
	err    error
}

func (e *noSpaceError) Error() string   { return e.err.Error() }
func (e *noSpaceError) Unwrap() []error { return []error{e.status, e.err} }
