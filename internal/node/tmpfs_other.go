//go:build !linux

package node

import "errors"

// errNoTmpfs says a tmpfs cannot be mounted here: not Linux.
var errNoTmpfs = errors.New("node: tmpfs mounts need Linux")

func mountTmpfs(string, int64) error { return errNoTmpfs }

// unmountUnder has nothing to unmount: the agent mounts nothing here.
func unmountUnder(string) error { return nil }
