package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// writeTestStore writes a store at path with enough keys to span many pages
// and closes it. It returns the bytes bbolt's meta page says the file holds
// (its high-water mark times its page size) and the page size.
func writeTestStore(t *testing.T, path string) (used, pageSize int64) {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for i := range 300 {
		if _, err := s.Create(ctx, fmt.Sprintf("/t/%04d", i), bytes.Repeat([]byte{'v'}, 200+i*10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		used, pageSize = tx.Size(), int64(db.Info().PageSize)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return used, pageSize
}

// copyPrefix writes the first n bytes of src to dst.
func copyPrefix(t *testing.T, src, dst string, n int64) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, io.LimitReader(in, n)); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenTruncated checks that a store cut short at any point is refused
// with an error that names the file, where bbolt alone would map it and die
// of SIGBUS on the first page past the end.
func TestOpenTruncated(t *testing.T) {
	dir := t.TempDir()
	whole := filepath.Join(dir, "whole.db")
	used, ps := writeTestStore(t, whole)
	if used < 20*ps {
		t.Fatalf("the test store uses only %d bytes; it should span many pages", used)
	}
	for _, n := range []int64{1, 100, 4096, ps + ps/2, 2 * ps, 3 * ps, used / 2, used - ps, used - 1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("cut-%d.db", n))
			copyPrefix(t, whole, path, n)
			s, err := Open(path, Options{})
			if err == nil {
				s.Close()
				t.Fatalf("Open of a store truncated to %d of %d bytes succeeded", n, used)
			}
			msg := err.Error()
			if !strings.Contains(msg, path) || !(strings.Contains(msg, "truncated") || strings.Contains(msg, "damaged")) {
				t.Errorf("Open error %q should name %s and say it is truncated or damaged", msg, path)
			}
		})
	}
	// The check is no stricter than the format: the file cut right after
	// its last used page still opens and reads.
	path := filepath.Join(dir, "exact.db")
	copyPrefix(t, whole, path, used)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open of a store cut at its high-water mark (%d bytes): %v", used, err)
	}
	defer s.Close()
	if n, err := s.Count(t.Context(), "/t/"); err != nil || n != 300 {
		t.Errorf("Count = %d, %v; want 300", n, err)
	}
}

// TestOpenDamagedMeta checks that a file whose meta pages are both invalid
// is an error naming the file.
func TestOpenDamagedMeta(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cella.db")
	if err := os.WriteFile(path, bytes.Repeat([]byte{0xab}, 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open of a file of garbage succeeded")
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("Open error %q should name %s and say it is damaged", err, path)
	}
}

// TestOpenMustExist checks that with MustExist a missing, empty or
// never-written store is ErrNoStore and is left as it was, and that a store
// with a write opens.
func TestOpenMustExist(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	if _, err := Open(missing, Options{MustExist: true}); !errors.Is(err, ErrNoStore) {
		t.Errorf("Open of a missing file: %v, want ErrNoStore", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open with MustExist created the file: %v", err)
	}

	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(empty, Options{MustExist: true}); !errors.Is(err, ErrNoStore) {
		t.Errorf("Open of an empty file: %v, want ErrNoStore", err)
	}
	if fi, _ := os.Stat(empty); fi.Size() != 0 {
		t.Errorf("Open with MustExist wrote %d bytes to an empty file", fi.Size())
	}

	path := filepath.Join(dir, "cella.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(path, Options{MustExist: true}); !errors.Is(err, ErrNoStore) || !strings.Contains(err.Error(), path) {
		t.Errorf("Open of a store at revision 0: %v, want ErrNoStore naming the file", err)
	}
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(t.Context(), "/k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path, Options{MustExist: true})
	if err != nil {
		t.Fatalf("Open of a store with a write: %v", err)
	}
	s.Close()
}

// TestOpenWritesNothing checks that opening a store in the current format
// commits no transaction, so a store on a full disk still opens.
func TestOpenWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cella.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(t.Context(), "/k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	txid := func() int {
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		tx, err := db.Begin(false)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		return tx.ID()
	}
	before := txid()
	for range 3 {
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	if after := txid(); after != before {
		t.Errorf("opening the store three times moved its transaction id from %d to %d", before, after)
	}
}

// TestOpenLockedSaysSo checks that a file another Store holds is refused
// with an error that says so, not bbolt's bare "timeout".
func TestOpenLockedSaysSo(t *testing.T) {
	s, path := openTest(t, Options{})
	_ = s
	_, err := Open(path, Options{OpenTimeout: 100 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "another process holds the file's lock") || !strings.Contains(err.Error(), path) {
		t.Fatalf("second Open: %v, want an error naming %s and the lock", err, path)
	}
}
