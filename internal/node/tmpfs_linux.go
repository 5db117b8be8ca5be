package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"cella.dev/cella/internal/mountinfo"
)

// errNoTmpfs says a tmpfs cannot be mounted here: Cella does not run as
// root.
var errNoTmpfs = errors.New("node: mounting a tmpfs needs root")

// mountTmpfs mounts a tmpfs of size bytes (0: the kernel's default, half
// of memory) on dir, unless one is mounted there already.
func mountTmpfs(dir string, size int64) error {
	if os.Geteuid() != 0 {
		return errNoTmpfs
	}
	mounted, err := isMountPoint(dir)
	if err != nil || mounted {
		return err
	}
	opts := "mode=1777"
	if size > 0 {
		opts += fmt.Sprintf(",size=%d", size)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		if errors.Is(err, unix.EPERM) {
			return errNoTmpfs
		}
		return err
	}
	return nil
}

// isMountPoint reports whether dir is on another device than its parent.
func isMountPoint(dir string) (bool, error) {
	var st, parent unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return false, err
	}
	if err := unix.Lstat(filepath.Dir(dir), &parent); err != nil {
		return false, err
	}
	return st.Dev != parent.Dev, nil
}

// unmountUnder unmounts every mount point at or below dir in this
// process's mount namespace, deepest first.
func unmountUnder(dir string) error {
	dir = filepath.Clean(dir)
	mounts, err := mountinfo.Read()
	if err != nil {
		return err
	}
	var points []string
	for _, m := range mounts {
		if m.Point == dir || strings.HasPrefix(m.Point, dir+"/") {
			points = append(points, m.Point)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("unmounting %s: %w", p, err)
		}
	}
	return nil
}
