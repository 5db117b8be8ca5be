// Package mountinfo reads the mount table of the calling process's mount
// namespace (/proc/self/mountinfo, Linux), for the node agent and the
// process runtime, which both unmount what they find there. It is a leaf:
// it imports nothing of Cella.
package mountinfo

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// Mount is one mount of the table.
type Mount struct {
	// Point is where it is mounted, unescaped.
	Point string
	// FSType is its file system type ("tmpfs", "nsfs", ...).
	FSType string
}

// Read returns the mounts of the calling process's mount namespace, in the
// table's order (parents before their children).
func Read() ([]Mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Mount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "id parent dev root mountpoint options [optional...] - fstype source super"
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields := strings.Fields(pre)
		if !ok || len(fields) < 5 {
			continue
		}
		fstype, _, _ := strings.Cut(post, " ")
		out = append(out, Mount{Point: Unescape(fields[4]), FSType: fstype})
	}
	return out, sc.Err()
}

// Unescape undoes the kernel's octal escapes (\040 for a space) of a path
// in the mount table.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
