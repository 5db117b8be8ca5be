package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"cella.dev/cella/internal/storage"
	"cella.dev/cella/internal/storage/storagetest"
)

// fullStore opens a store on a 2 MiB tmpfs, writes /small/00 to
// /small/49 and fills the disk with the file it returns.
func fullStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := storagetest.MountTmpfs(t, 2<<20)
	s, err := Open(filepath.Join(dir, "cella.db"), testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	for i := range 50 {
		if _, err := s.Create(context.Background(), fmt.Sprintf("/small/%02d", i), bytes.Repeat([]byte{'s'}, 100)); err != nil {
			t.Fatal(err)
		}
	}
	filler := filepath.Join(dir, "filler")
	storagetest.FillDisk(t, filler)
	return s, filler
}

// TestDiskFull fills the disk under a store: a write that needs new space
// fails with storage.ErrNoSpace, DiskFull reports it, a delete
// still commits and clears it, and writes work again once space is freed.
func TestDiskFull(t *testing.T) {
	s, filler := fullStore(t)
	ctx := context.Background()

	big := bytes.Repeat([]byte{'b'}, 512<<10)
	_, err := s.Create(ctx, "/big", big)
	if !errors.Is(err, storage.ErrNoSpace) {
		t.Fatalf("Create on a full disk: %v, want storage.ErrNoSpace", err)
	}
	if err := s.DiskFull(); !errors.Is(err, storage.ErrNoSpace) {
		t.Fatalf("DiskFull after a failed commit = %v, want storage.ErrNoSpace", err)
	}
	if _, err := s.Get(ctx, "/big"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get of the failed create: %v, want ErrNotFound", err)
	}

	for i := range 5 {
		if _, err := s.Delete(ctx, fmt.Sprintf("/small/%02d", i), 0); err != nil {
			t.Fatalf("Delete on a full disk: %v", err)
		}
	}
	if err := s.DiskFull(); err != nil {
		t.Errorf("DiskFull after a delete committed = %v, want nil", err)
	}
	if n, _ := s.Count(ctx, "/small/"); n != 45 {
		t.Errorf("%d small keys after 5 deletes, want 45", n)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "/big", big); err != nil {
		t.Fatalf("Create once space is freed: %v", err)
	}
}

// TestDiskFullBatchedDelete: on a full disk, a delete committed in the
// same batch as a create that needs new pages still succeeds (deletes are
// tried again alone), and the create fails with storage.ErrNoSpace.
func TestDiskFullBatchedDelete(t *testing.T) {
	s, _ := fullStore(t)
	ctx := context.Background()

	// Both ops go into the queue under one lock before the committer is
	// woken, so they are taken as one batch.
	big := &op{kind: opCreate, key: "/big", value: bytes.Repeat([]byte{'b'}, 512<<10), done: make(chan struct{})}
	del := &op{kind: opDelete, key: "/small/00", done: make(chan struct{})}
	s.qmu.Lock()
	s.queue = append(s.queue, big, del)
	s.qmu.Unlock()
	s.wake()
	<-big.done
	<-del.done
	if !errors.Is(big.err, storage.ErrNoSpace) {
		t.Fatalf("the big create on a full disk: %v, want storage.ErrNoSpace", big.err)
	}
	if del.err != nil {
		t.Fatalf("a delete batched with it: %v, want it committed", del.err)
	}
	if _, err := s.Get(ctx, "/small/00"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get of the deleted key: %v, want ErrNotFound", err)
	}
}
