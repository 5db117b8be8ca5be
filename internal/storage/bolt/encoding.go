package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"
)

// The on-disk layout is specified in docs/storage-format.md; this file is its
// only encoder and decoder. Changing anything here changes the file format and
// must bump formatVersion.

// formatVersion is the value of metaFormat written by this code. Open
// refuses files with a newer version and upgrades version 1 files, whose
// records this code still reads, by rewriting only metaFormat.
const formatVersion = 2

// Bucket names at the root of the bolt file.
var (
	bucketMeta    = []byte("meta")
	bucketKeys    = []byte("keys")
	bucketHistory = []byte("history")
)

// Keys of bucketMeta. Each value is an 8-byte big-endian unsigned integer.
var (
	metaFormat    = []byte("format")
	metaRevision  = []byte("revision")
	metaCompacted = []byte("compacted")
)

// Record types, the first byte of a history record.
const (
	recCreate byte = 1
	recUpdate byte = 2
	recDelete byte = 3
)

// current is a decoded value of bucketKeys. Value aliases the bytes it was
// decoded from.
type current struct {
	createRev int64
	modRev    int64
	// modTime is the commit time of modRev in Unix nanoseconds, or 0 for a
	// record written by format 1, which did not record it.
	modTime int64
	value   []byte
}

// timedFlag is bit 63 of the createRev field of a bucketKeys value. Every
// record this code writes sets it, to say that modTime follows modRev.
// Format 1 records never have it: revisions stay below 2^63.
const timedFlag = uint64(1) << 63

// Lengths of the fixed part of a bucketKeys value: createRev and modRev,
// then modTime when the record is timed.
const (
	untimedHeader = 16
	timedHeader   = 24
)

// decodeCurrent decodes a bucketKeys value of either kind.
func decodeCurrent(b []byte) (current, error) {
	if len(b) < untimedHeader {
		return current{}, fmt.Errorf("storage/bolt: corrupt key record of %d bytes", len(b))
	}
	create := binary.BigEndian.Uint64(b[0:8])
	c := current{
		createRev: int64(create &^ timedFlag),
		modRev:    int64(binary.BigEndian.Uint64(b[8:16])),
		value:     b[untimedHeader:],
	}
	if create&timedFlag != 0 {
		if len(b) < timedHeader {
			return current{}, fmt.Errorf("storage/bolt: corrupt key record of %d bytes", len(b))
		}
		c.modTime = int64(binary.BigEndian.Uint64(b[16:24]))
		c.value = b[timedHeader:]
	}
	return c, nil
}

// record is a decoded history record. Its slices alias the bytes it was
// decoded from.
type record struct {
	typ        byte
	key        []byte
	prevModRev int64
	prev       []byte
	createRev  int64
	modRev     int64
	modTime    int64
	value      []byte
}

// encodeRecord returns a history record and the offset of its tail. The tail,
// rec[tail:], is byte for byte the timed bucketKeys value for the written
// key (createRev with timedFlag, modRev, modTime, value), so one allocation
// serves both puts and, after the commit, the event's Value and PrevValue;
// the value starts at tail+timedHeader. prev and value are copied.
func encodeRecord(typ byte, key string, prevModRev int64, prev []byte, createRev, modRev, modTime int64, value []byte) (rec []byte, tail int) {
	n := 1 + uvarintLen(uint64(len(key))) + len(key) + 8 +
		uvarintLen(uint64(len(prev))) + len(prev) + timedHeader + len(value)
	rec = make([]byte, n)
	rec[0] = typ
	i := 1
	i += binary.PutUvarint(rec[i:], uint64(len(key)))
	i += copy(rec[i:], key)
	binary.BigEndian.PutUint64(rec[i:], uint64(prevModRev))
	i += 8
	i += binary.PutUvarint(rec[i:], uint64(len(prev)))
	i += copy(rec[i:], prev)
	tail = i
	binary.BigEndian.PutUint64(rec[i:], uint64(createRev)|timedFlag)
	binary.BigEndian.PutUint64(rec[i+8:], uint64(modRev))
	binary.BigEndian.PutUint64(rec[i+16:], uint64(modTime))
	copy(rec[i+timedHeader:], value)
	return rec, tail
}

var errCorruptRecord = errors.New("storage/bolt: corrupt history record")

// decodeRecord decodes a history record of either format without copying.
func decodeRecord(b []byte) (record, error) {
	var r record
	if len(b) < 1 {
		return r, errCorruptRecord
	}
	r.typ = b[0]
	if r.typ < recCreate || r.typ > recDelete {
		return r, errCorruptRecord
	}
	i := 1
	kl, n := binary.Uvarint(b[i:])
	if n <= 0 || uint64(len(b)-i-n) < kl {
		return r, errCorruptRecord
	}
	i += n
	r.key = b[i : i+int(kl)]
	i += int(kl)
	if len(b)-i < 8 {
		return r, errCorruptRecord
	}
	r.prevModRev = int64(binary.BigEndian.Uint64(b[i:]))
	i += 8
	pl, n := binary.Uvarint(b[i:])
	if n <= 0 || uint64(len(b)-i-n) < pl {
		return r, errCorruptRecord
	}
	i += n
	r.prev = b[i : i+int(pl)]
	i += int(pl)
	c, err := decodeCurrent(b[i:])
	if err != nil {
		return r, errCorruptRecord
	}
	r.createRev, r.modRev, r.modTime, r.value = c.createRev, c.modRev, c.modTime, c.value
	return r, nil
}

// revKey is a bucketHistory key: the revision as 8 big-endian bytes, so that
// bolt's byte order is revision order.
type revKey [8]byte

func makeRevKey(rev int64) revKey {
	var k revKey
	binary.BigEndian.PutUint64(k[:], uint64(rev))
	return k
}

// parseRevKey decodes a bucketHistory key; it returns -1 for a malformed key.
func parseRevKey(k []byte) int64 {
	if len(k) != 8 {
		return -1
	}
	return int64(binary.BigEndian.Uint64(k))
}

// getUint64 reads an 8-byte meta value; a missing value is zero.
func getUint64(b []byte) (int64, error) {
	if b == nil {
		return 0, nil
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("storage/bolt: corrupt meta value of %d bytes", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

func putUint64(v int64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(v))
	return b
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// keyBytes returns the bytes of s without copying. The result must only be
// read: it is passed to bolt's Get, Seek and Put, which never modify a key
// (Put clones it), and avoids an allocation per call on the read path.
func keyBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
