package app

import "errors"

// A full disk. The bolt backend answers a commit that failed for want of
// space with storage.ErrNoSpace, which the registry turns into a 500 that
// says the disk is full (registry/errors.go), and remembers it until a
// commit succeeds (bolt.Store.DiskFull), which isReady turns into this
// /readyz answer.

// errNotReadyDiskFull is what /readyz answers while the latest commit
// failed for want of space.
var errNotReadyDiskFull = errors.New("storage is full: the latest write found no space left on the disk that holds the store")
