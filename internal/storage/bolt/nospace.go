package bolt

import (
	"errors"
	"strings"
	"syscall"
)

// isNoSpace reports whether err from bbolt came from a full disk or quota.
// bbolt wraps the error of a page write, but formats the one of growing the
// file with %s, so the text is matched as well.
func isNoSpace(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, syscall.ENOSPC.Error()) || strings.Contains(msg, syscall.EDQUOT.Error())
}

// DiskFull returns the error of the latest commit if it failed for want of
// disk space, wrapping storage.ErrNoSpace, and nil once a later commit succeeds (or
// if none failed so). Writes are refused while the disk stays full, but a
// delete often still commits: bbolt reuses the pages earlier commits freed,
// and a delete needs few.
func (s *Store) DiskFull() error {
	if p := s.noSpace.Load(); p != nil {
		return *p
	}
	return nil
}
