//go:build !linux

package bolt

import "os"

// allocate makes path a file of size bytes, written out so that its
// blocks exist (there is no fallocate here).
func allocate(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for n := int64(0); n < size; n += int64(len(buf)) {
		if _, err := f.Write(buf[:min(int64(len(buf)), size-n)]); err != nil {
			return err
		}
	}
	return f.Sync()
}
