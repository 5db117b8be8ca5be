package bolt

import (
	"os"
	"time"
)

// The reserve is a file of ReserveBytes next to the store (PATH.reserve),
// its blocks allocated, that the store gives back to the file system when
// the disk is full and a commit of deletes fails: deletes are how an
// operator frees space through the API, and bbolt cannot commit even a
// delete when its file has no free page left and the disk no room for a
// new one. Only deletes are retried in the room the reserve leaves; other
// writes keep failing with storage.ErrNoSpace until space is freed. The
// committer makes the reserve again after a later commit succeeds, when
// there is room for it.

// reservePath is where the reserve of the store at path lives.
func reservePath(path string) string { return path + ".reserve" }

// makeReserve allocates the reserve if it is missing. A disk without room
// for it leaves it missing, for a later try.
func (s *Store) makeReserve() {
	s.lastReserveTry = time.Now()
	if s.opts.ReserveBytes <= 0 {
		return
	}
	p := reservePath(s.path)
	if st, err := os.Stat(p); err == nil && st.Size() >= s.opts.ReserveBytes {
		s.reserveMissing.Store(false)
		return
	}
	if err := allocate(p, s.opts.ReserveBytes); err != nil {
		_ = os.Remove(p)
		s.reserveMissing.Store(true)
		return
	}
	s.reserveMissing.Store(false)
}

// releaseReserve removes the reserve, reporting whether there was one.
func (s *Store) releaseReserve() bool {
	if s.opts.ReserveBytes <= 0 {
		return false
	}
	err := os.Remove(reservePath(s.path))
	s.reserveMissing.Store(true)
	s.lastReserveTry = time.Now()
	if err != nil {
		return false
	}
	s.log.Warn("the disk is full: gave back the store's reserve so that deletes can commit", "path", s.path, "bytes", s.opts.ReserveBytes)
	return true
}

// retryReserve remakes a missing reserve after a successful commit, at
// most once a second, so that a full disk costs a commit no more than a
// failed allocation now and then.
func (s *Store) retryReserve() {
	if !s.reserveMissing.Load() || time.Since(s.lastReserveTry) < time.Second {
		return
	}
	s.makeReserve()
}
