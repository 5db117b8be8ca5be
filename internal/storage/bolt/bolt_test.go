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
// value and that format 1 records, which have no modTime, still decode.
func TestRecordEncoding(t *testing.T) {
	const when = 1_000_000_000 // the commit time, 1 s after the epoch
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
			"01" + "052f6b65792f" + "0000000000000000" + "00" + "8000000000000007" + "0000000000000007" + "000000003b9aca00" + "7631"},
		{"update", recUpdate, 7, "v1", 7, 9, "v2",
			"02" + "052f6b65792f" + "0000000000000007" + "027631" + "8000000000000007" + "0000000000000009" + "000000003b9aca00" + "7632"},
		{"delete", recDelete, 9, "", 7, 12, "v2",
			"03" + "052f6b65792f" + "0000000000000009" + "00" + "8000000000000007" + "000000000000000c" + "000000003b9aca00" + "7632"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, tail := encodeRecord(tc.typ, "/key/", tc.prevMod, []byte(tc.prev), tc.create, tc.mod, when, []byte(tc.value))
			if got := hex.EncodeToString(rec); got != tc.hex {
				t.Errorf("record\n got  %s\n want %s", got, tc.hex)
			}
			c, err := decodeCurrent(rec[tail:])
			if err != nil || c.createRev != tc.create || c.modRev != tc.mod || c.modTime != when || string(c.value) != tc.value {
				t.Errorf("tail decodes to %+v, %v", c, err)
			}
			r, err := decodeRecord(rec)
			if err != nil || r.typ != tc.typ || string(r.key) != "/key/" || r.prevModRev != tc.prevMod ||
				!bytes.Equal(r.prev, []byte(tc.prev)) || r.createRev != tc.create || r.modRev != tc.mod ||
				r.modTime != when || string(r.value) != tc.value {
				t.Errorf("decodeRecord = %+v, %v", r, err)
			}
			for n := range len(rec) - len(tc.value) {
				if _, err := decodeRecord(rec[:n]); err == nil {
					t.Errorf("decodeRecord of %d of %d bytes succeeded", n, len(rec))
				}
			}
		})
	}

	// Format 1 wrote the same records without the flag and modTime.
	v1, _ := hex.DecodeString("02" + "052f6b65792f" + "0000000000000007" + "027631" + "0000000000000007" + "0000000000000009" + "7632")
	r, err := decodeRecord(v1)
	if err != nil || r.createRev != 7 || r.modRev != 9 || r.modTime != 0 || string(r.prev) != "v1" || string(r.value) != "v2" {
		t.Errorf("format 1 update record decodes to %+v, %v", r, err)
	}
	c, err := decodeCurrent(v1[len(v1)-18:])
	if err != nil || c.createRev != 7 || c.modRev != 9 || c.modTime != 0 || string(c.value) != "v2" {
		t.Errorf("format 1 key record decodes to %+v, %v", c, err)
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

// TestOpenUpgradesFormat1 checks that a file written by format 1, whose
// records carry no modTime, opens: its keys read with a zero ModTime, its
// history still serves old reads and watches, new writes are timed, and the
// file is marked format 2.
func TestOpenUpgradesFormat1(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "cella.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	// What format 1 wrote for: create /v1/a = "a1" at 1, update to "a2" at 2.
	unhex := func(s string) []byte { b, _ := hex.DecodeString(s); return b }
	err = db.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket(bucketMeta)
		keys, _ := tx.CreateBucket(bucketKeys)
		hist, _ := tx.CreateBucket(bucketHistory)
		r1, r2 := makeRevKey(1), makeRevKey(2)
		return errors.Join(
			meta.Put(metaFormat, putUint64(1)),
			meta.Put(metaRevision, putUint64(2)),
			keys.Put([]byte("/v1/a"), unhex("0000000000000001"+"0000000000000002"+"6132")),
			hist.Put(r1[:], unhex("01"+"052f76312f61"+"0000000000000000"+"00"+"0000000000000001"+"0000000000000001"+"6131")),
			hist.Put(r2[:], unhex("02"+"052f76312f61"+"0000000000000001"+"026131"+"0000000000000001"+"0000000000000002"+"6132")),
		)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s, err := Open(path, testOptions(t))
	if err != nil {
		t.Fatalf("Open of a format 1 file: %v", err)
	}
	defer s.Close()
	got, err := s.Get(ctx, "/v1/a")
	if err != nil || string(got.Value) != "a2" || got.CreateRevision != 1 || got.ModRevision != 2 || !got.ModTime.IsZero() {
		t.Errorf("Get of a format 1 key = %+v, %v; want a2 at 1/2 with no ModTime", got, err)
	}
	if res, err := s.List(ctx, "/v1/", storage.ListOptions{Revision: 1}); err != nil || len(res.Items) != 1 || string(res.Items[0].Value) != "a1" {
		t.Errorf("List at 1 = %+v, %v", res.Items, err)
	}
	before := time.Now()
	upd, err := s.Update(ctx, "/v1/a", []byte("a3"), 2)
	if err != nil || upd.ModRevision != 3 || upd.ModTime.Before(before.Truncate(time.Millisecond)) {
		t.Fatalf("Update = %+v, %v", upd, err)
	}
	if got, _ := s.Get(ctx, "/v1/a"); !got.ModTime.Equal(upd.ModTime) || got.CreateRevision != 1 {
		t.Errorf("Get after Update = %+v, want ModTime %v", got, upd.ModTime)
	}
	var replayed []string
	wf, err := s.Watch(ctx, "/v1/", storage.WatchOptions{Revision: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer wf.Stop()
	for range 2 {
		select {
		case ev := <-wf.ResultChan():
			replayed = append(replayed, fmt.Sprintf("%d:%s<-%s", ev.Revision, ev.Value, ev.PrevValue))
		case <-time.After(10 * time.Second):
			t.Fatal("no replayed event")
		}
	}
	if want := "2:a2<-a1 3:a3<-a2"; strings.Join(replayed, " ") != want {
		t.Errorf("replayed %q, want %q", strings.Join(replayed, " "), want)
	}
	var format int64
	s.db.View(func(tx *bolt.Tx) error {
		format, _ = getUint64(tx.Bucket(bucketMeta).Get(metaFormat))
		return nil
	})
	if format != formatVersion {
		t.Errorf("format after open = %d, want %d", format, formatVersion)
	}
}

// TestModTimeFollowsRevisions checks that commit times never go back, even
// when the clock does.
func TestModTimeFollowsRevisions(t *testing.T) {
	clock := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	opts := testOptions(t)
	opts.Now = func() time.Time { return clock } // read by the committer only, between writes
	s, _ := openTest(t, opts)
	ctx := t.Context()
	a, err := s.Create(ctx, "/clock/a", nil)
	if err != nil || !a.ModTime.Equal(clock) {
		t.Fatalf("Create = %+v, %v; want ModTime %v", a, err, clock)
	}
	clock = clock.Add(-time.Hour)
	b, err := s.Create(ctx, "/clock/b", nil)
	if err != nil || !b.ModTime.Equal(a.ModTime) {
		t.Errorf("Create after the clock stepped back = %+v, %v; want ModTime %v", b, err, a.ModTime)
	}
}
