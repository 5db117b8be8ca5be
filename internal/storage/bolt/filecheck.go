package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
)

// ErrNoStore means Open was told the store must exist (Options.MustExist)
// and found none: the file is missing, empty, or holds no write.
var ErrNoStore = errors.New("storage/bolt: no store")

// The layout of a bbolt meta page, as bbolt v1 writes it (its
// internal/common/page.go and meta.go), in the machine's byte order. The
// page header is id u64, flags u16, count u16, overflow u32; the meta
// follows it.
const (
	metaMagic       = 0xED0CDAED
	metaVersion     = 2
	pageHeaderSize  = 16
	metaOffMagic    = pageHeaderSize + 0  // u32
	metaOffVersion  = pageHeaderSize + 4  // u32
	metaOffPageSize = pageHeaderSize + 8  // u32
	metaOffPgid     = pageHeaderSize + 40 // u64: the high-water mark, pages in use are below it
	metaOffTxid     = pageHeaderSize + 48 // u64
	metaOffChecksum = pageHeaderSize + 56 // u64: FNV-64a of the meta up to here
	metaEnd         = metaOffChecksum + 8
)

// fileMeta is what checkFile needs from one meta page.
type fileMeta struct {
	pageSize int64
	pgid     int64
	txid     uint64
}

// decodeMeta decodes and validates the meta page at the start of b, as
// bbolt's Meta.Validate does: magic, version, checksum.
func decodeMeta(b []byte) (fileMeta, error) {
	if len(b) < metaEnd {
		return fileMeta{}, errors.New("cut short")
	}
	ne := binary.NativeEndian
	if ne.Uint32(b[metaOffMagic:]) != metaMagic {
		return fileMeta{}, errors.New("no bbolt magic number")
	}
	if v := ne.Uint32(b[metaOffVersion:]); v != metaVersion {
		return fileMeta{}, fmt.Errorf("bbolt version %d, want %d", v, metaVersion)
	}
	h := fnv.New64a()
	h.Write(b[pageHeaderSize:metaOffChecksum])
	if ne.Uint64(b[metaOffChecksum:]) != h.Sum64() {
		return fileMeta{}, errors.New("checksum mismatch")
	}
	m := fileMeta{
		pageSize: int64(ne.Uint32(b[metaOffPageSize:])),
		pgid:     int64(ne.Uint64(b[metaOffPgid:])),
		txid:     ne.Uint64(b[metaOffTxid:]),
	}
	if m.pageSize < 512 || m.pgid < 2 || m.pgid > 1<<48 {
		return fileMeta{}, fmt.Errorf("page size %d or high-water mark %d out of range", m.pageSize, m.pgid)
	}
	return m, nil
}

// checkFile looks at the file at path with plain reads before bbolt maps it.
// bbolt trusts its meta page: a file shorter than the meta page's high-water
// mark says is mapped all the same, and the first read of a page past the
// end kills the process with SIGBUS. checkFile returns an error naming the
// file instead when it is shorter than that, or when neither meta page is
// valid. A missing or empty file is a new store, or, with mustExist, an
// error wrapping ErrNoStore.
func checkFile(path string, mustExist bool) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		if mustExist {
			return fmt.Errorf("%w: %s does not exist", ErrNoStore, path)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("storage/bolt: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("storage/bolt: %w", err)
	}
	size := fi.Size()
	if size == 0 {
		if mustExist {
			return fmt.Errorf("%w: %s is empty (0 bytes)", ErrNoStore, path)
		}
		return nil // bbolt writes the first pages of a new file
	}
	damaged := func(format string, args ...any) error {
		return fmt.Errorf("storage/bolt: %s is damaged: %s; restore it from a backup", path, fmt.Sprintf(format, args...))
	}

	// Meta page 0 is at offset 0 and gives the page size, and with it the
	// offset of meta page 1. When page 0 is invalid, look for page 1 at
	// each page size bbolt may have used, as bbolt does.
	buf := make([]byte, metaEnd)
	read := func(off int64) (fileMeta, error) {
		if off+metaEnd > size {
			return fileMeta{}, errors.New("past the end of the file")
		}
		if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
			return fileMeta{}, err
		}
		return decodeMeta(buf)
	}
	m0, err0 := read(0)
	var m1 fileMeta
	var err1 error
	if err0 == nil {
		m1, err1 = read(m0.pageSize)
	} else {
		err1 = errors.New("not found at any page size")
		for ps := int64(1024); ps <= 1<<24 && ps < size; ps <<= 1 {
			if m, err := read(ps); err == nil && m.pageSize == ps {
				m1, err1 = m, nil
				break
			}
		}
	}
	// bbolt uses the valid meta page with the higher transaction id.
	var m fileMeta
	switch {
	case err0 != nil && err1 != nil:
		if size < 2*1024 {
			return damaged("it is %d bytes long, too short for the two meta pages a store begins with", size)
		}
		return damaged("neither meta page is valid (page 0: %v; page 1: %v)", err0, err1)
	case err1 != nil:
		m = m0
	case err0 != nil:
		m = m1
	case m1.txid > m0.txid:
		m = m1
	default:
		m = m0
	}
	if need := m.pgid * m.pageSize; size < need {
		return fmt.Errorf("storage/bolt: %s is truncated: it is %d bytes long, but its meta page says its %d pages of %d bytes take %d; restore it from a backup",
			path, size, m.pgid, m.pageSize, need)
	}
	return nil
}
