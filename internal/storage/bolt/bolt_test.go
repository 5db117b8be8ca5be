package bolt

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"cella.dev/cella/internal/storage"
	"cella.dev/cella/internal/storage/storagetest"
)

// testOptions shortens the progress interval and the watcher buffer so the
// contract suite exercises bookmarks and slow watchers quickly.
func testOptions(t testing.TB) Options {
	return Options{
		Logger:                 slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		WatcherBufferSize:      256,
		ProgressNotifyInterval: 50 * time.Millisecond,
	}
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// openTest opens a store in a fresh directory and closes it at the end of
// the test, if the test did not.
func openTest(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cella.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("Close: %v", err)
		}
	})
	return s, path
}

func TestContract(t *testing.T) {
	storagetest.RunAll(t, func(t *testing.T) storage.Interface {
		s, _ := openTest(t, testOptions(t))
		return s
	})
}

// TestReopen checks that revisions, values, history and compaction survive a
// restart: List at an old revision and Watch from one work on the reopened
// file.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	s, path := openTest(t, testOptions(t))
	a1, _ := s.Create(ctx, "/re/a", []byte("a1"))
	b1, _ := s.Create(ctx, "/re/b", []byte("b1"))
	a2, _ := s.Update(ctx, "/re/a", []byte("a2"), a1.ModRevision)
	db, _ := s.Delete(ctx, "/re/b", 0)
	c1, _ := s.Create(ctx, "/re/c", []byte("c1"))
	if err := s.Compact(ctx, b1.ModRevision); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(path, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if rev, _ := s.CurrentRevision(ctx); rev != c1.ModRevision {
		t.Errorf("CurrentRevision = %d, want %d", rev, c1.ModRevision)
	}
	if rev, _ := s.CompactedRevision(ctx); rev != b1.ModRevision {
		t.Errorf("CompactedRevision = %d, want %d", rev, b1.ModRevision)
	}
	if got, err := s.Get(ctx, "/re/a"); err != nil || string(got.Value) != "a2" || got.ModRevision != a2.ModRevision {
		t.Errorf("Get = %+v, %v", got, err)
	}
	res, err := s.List(ctx, "/re/", storage.ListOptions{Revision: b1.ModRevision})
	if err != nil || len(res.Items) != 2 || string(res.Items[0].Value) != "a1" || string(res.Items[1].Value) != "b1" {
		t.Errorf("List at %d = %+v, %v", b1.ModRevision, res.Items, err)
	}
	if _, err := s.List(ctx, "/re/", storage.ListOptions{Revision: a1.ModRevision}); !errors.Is(err, storage.ErrCompacted) {
		t.Errorf("List below the compacted revision: %v", err)
	}
	w, err := s.Watch(ctx, "/re/", storage.WatchOptions{Revision: b1.ModRevision})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for _, want := range []int64{a2.ModRevision, db.ModRevision, c1.ModRevision} {
		select {
		case ev := <-w.ResultChan():
			if ev.Revision != want {
				t.Errorf("replayed %+v, want revision %d", ev, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no replayed event")
		}
	}
	kv, err := s.Create(ctx, "/re/d", nil)
	if err != nil || kv.ModRevision != c1.ModRevision+1 {
		t.Errorf("Create after reopen = %+v, %v; want revision %d", kv, err, c1.ModRevision+1)
	}
}

// TestSlowWatcherEnded checks that a watcher whose buffer fills is ended with
// ErrCompacted after the events it did buffer, and never blocks writers.
func TestSlowWatcherEnded(t *testing.T) {
	opts := testOptions(t)
	opts.WatcherBufferSize = 8
	s, _ := openTest(t, opts)
	ctx := t.Context()
	w, err := s.Watch(ctx, "/slow/", storage.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for i := range 100 {
		if _, err := s.Create(ctx, fmt.Sprintf("/slow/%03d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	var last int64
	for ev := range w.ResultChan() {
		if ev.Type == storage.EventError {
			if !errors.Is(ev.Err, storage.ErrCompacted) {
				t.Errorf("EventError %v, want ErrCompacted", ev.Err)
			}
			if _, ok := <-w.ResultChan(); ok {
				t.Error("events after EventError")
			}
			return
		}
		if ev.Revision != last+1 {
			t.Fatalf("event at %d after %d", ev.Revision, last)
		}
		last = ev.Revision
	}
	t.Fatal("channel closed without EventError")
}

// TestGroupCommit checks that concurrent writers share commits.
func TestGroupCommit(t *testing.T) {
	s, _ := openTest(t, testOptions(t))
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := range 20 {
				if _, err := s.Create(t.Context(), fmt.Sprintf("/gc/%d/%d", g, i), []byte("v")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	commits, writes := s.statCommits.Load(), s.statWrites.Load()
	t.Logf("%d writes in %d commits", writes, commits)
	if writes != 640 || commits >= writes {
		t.Errorf("%d writes in %d commits; want 640 writes in fewer commits", writes, commits)
	}
}

func TestOptionsValidate(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "db"), Options{MaxBatchSize: -1, WatcherBufferSize: -1, OpenTimeout: -1})
	if err == nil {
		t.Fatal("Open with negative options succeeded")
	}
	for _, field := range []string{"MaxBatchSize", "WatcherBufferSize", "OpenTimeout"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error %q does not name %s", err, field)
		}
	}
}

func TestOpenRejectsOtherFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put(metaFormat, putUint64(formatVersion+1))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "format") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open of a format %d file: %v, want a format error", formatVersion+1, err)
	}
}

// TestRecordEncoding pins the byte layout documented in
// docs/storage-format.md, including that a record's tail is the keys-bucket
// value.
func TestRecordEncoding(t *testing.T) {
	tests := []struct {
		name    string
		typ     byte
		prevMod int64
		prev    string
		create  int64
		mod     int64
		value   string
		hex     string
	}{
		{"create", recCreate, 0, "", 7, 7, "v1",
			"01" + "052f6b65792f" + "0000000000000000" + "00" + "0000000000000007" + "0000000000000007" + "7631"},
		{"update", recUpdate, 7, "v1", 7, 9, "v2",
			"02" + "052f6b65792f" + "0000000000000007" + "027631" + "0000000000000007" + "0000000000000009" + "7632"},
		{"delete", recDelete, 9, "", 7, 12, "v2",
			"03" + "052f6b65792f" + "0000000000000009" + "00" + "0000000000000007" + "000000000000000c" + "7632"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, tail := encodeRecord(tc.typ, "/key/", tc.prevMod, []byte(tc.prev), tc.create, tc.mod, []byte(tc.value))
			if got := hex.EncodeToString(rec); got != tc.hex {
				t.Errorf("record\n got  %s\n want %s", got, tc.hex)
			}
			c, err := decodeCurrent(rec[tail:])
			if err != nil || c.createRev != tc.create || c.modRev != tc.mod || string(c.value) != tc.value {
				t.Errorf("tail decodes to %+v, %v", c, err)
			}
			r, err := decodeRecord(rec)
			if err != nil || r.typ != tc.typ || string(r.key) != "/key/" || r.prevModRev != tc.prevMod ||
				!bytes.Equal(r.prev, []byte(tc.prev)) || r.createRev != tc.create || r.modRev != tc.mod || string(r.value) != tc.value {
				t.Errorf("decodeRecord = %+v, %v", r, err)
			}
			for n := range len(rec) - currentHeader - len(tc.value) {
				if _, err := decodeRecord(rec[:n]); err == nil {
					t.Errorf("decodeRecord of %d of %d bytes succeeded", n, len(rec))
				}
			}
		})
	}
}

// TestOpenDeletesLeftoverHistory checks that Open finishes a compaction cut
// short after it recorded its revision.
func TestOpenDeletesLeftoverHistory(t *testing.T) {
	ctx := t.Context()
	s, path := openTest(t, testOptions(t))
	for i := range 5 {
		if _, err := s.Create(ctx, fmt.Sprintf("/left/%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(metaCompacted, putUint64(3)) })
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var first int64
	s.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketHistory).Cursor().First()
		first = parseRevKey(k)
		return nil
	})
	if first != 4 {
		t.Errorf("first history record after reopen is %d, want 4", first)
	}
	if res, err := s.List(ctx, "/left/", storage.ListOptions{Revision: 3}); err != nil || len(res.Items) != 3 {
		t.Errorf("List at the compacted revision = %d items, %v", len(res.Items), err)
	}
	if _, err := s.List(ctx, "/left/", storage.ListOptions{Revision: 2}); !errors.Is(err, storage.ErrCompacted) {
		t.Errorf("List below it: %v, want ErrCompacted", err)
	}
}
