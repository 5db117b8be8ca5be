package app_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
	"cella.dev/cella/internal/storage/bolt"
)

// startIn starts a server in this process on dir and returns it or the
// error of Start; a started server is closed when the test ends.
func startIn(t *testing.T, dir string, log *slog.Logger) (*app.Server, error) {
	t.Helper()
	cfg := app.NewConfig()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	cfg.Runtime = "none"
	srv, err := app.Start(context.Background(), cfg, log)
	if err == nil {
		t.Cleanup(func() { _ = srv.Close(context.Background()) })
	}
	return srv, err
}

// TestDataDirInUse checks that a second server on a data directory another
// cella holds fails at once with an error naming the holder's PID, instead
// of waiting for bolt's file lock and saying "timeout".
func TestDataDirInUse(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child server")
	}
	dir := filepath.Join(t.TempDir(), "data")
	_, child := startChild(t, dir)
	_, err := startIn(t, dir, nil)
	want := fmt.Sprintf("data directory %s is in use by another cella (pid %d)", dir, child.Process.Pid)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("second server on %s: %v; want %q", dir, err, want)
	}
}

// TestLostStoreRefused checks that once a data directory was initialized,
// a store that is missing, empty, or replaced by a store with no write is
// refused with an error that says how to start fresh on purpose, and that
// doing what it says starts a new, empty cluster.
func TestLostStoreRefused(t *testing.T) {
	dir := t.TempDir()
	srv := servertest.Start(t, servertest.WithDataDir(dir))
	if _, err := srv.Clientset().CoreV1().ConfigMaps("default").Create(t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kept"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	store := filepath.Join(dir, "cella.db")
	marker := filepath.Join(dir, "cella.initialized")
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the first start did not mark the data directory: %v", err)
	}
	saved := filepath.Join(t.TempDir(), "saved.db")
	if err := os.Rename(store, saved); err != nil {
		t.Fatal(err)
	}

	emptyBolt := func(t *testing.T) {
		s, err := bolt.Open(store, bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	for _, tt := range []struct {
		name  string
		setup func(t *testing.T)
	}{
		{"missing", func(t *testing.T) {}},
		{"empty file", func(t *testing.T) {
			if err := os.WriteFile(store, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"store without writes", emptyBolt},
	} {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(store)
			tt.setup(t)
			before, _ := os.ReadFile(store)
			_, err := startIn(t, dir, nil)
			if err == nil {
				t.Fatal("Start on an initialized data directory without its store succeeded")
			}
			for _, want := range []string{dir, "cella.initialized", "missing or empty", "move the data directory away", "storage/bolt: no store"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if after, _ := os.ReadFile(store); !bytes.Equal(before, after) {
				t.Errorf("the refused start changed %s", store)
			}
		})
	}

	// Starting fresh on purpose, as the error says: delete the marker.
	os.Remove(store)
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}
	fresh := servertest.Start(t, servertest.WithDataDir(dir))
	if _, err := fresh.Clientset().CoreV1().ConfigMaps("default").Get(t.Context(), "kept", metav1.GetOptions{}); err == nil {
		t.Error("the fresh cluster has the lost store's config map")
	}
	fresh.Stop()
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the fresh start did not mark the data directory again: %v", err)
	}

	// A data directory from before the mark existed (a store, no marker)
	// starts and is marked.
	if err := os.Rename(saved, store); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}
	old := servertest.Start(t, servertest.WithDataDir(dir))
	if _, err := old.Clientset().CoreV1().ConfigMaps("default").Get(t.Context(), "kept", metav1.GetOptions{}); err != nil {
		t.Errorf("the restored store lost its config map: %v", err)
	}
	old.Stop()
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("an unmarked data directory with a store was not marked: %v", err)
	}
}

// TestDataDirWritableWarns checks that a data directory others may write
// gets one warning at start, and a private one none.
func TestDataDirWritableWarns(t *testing.T) {
	for _, tt := range []struct {
		mode  os.FileMode
		warns int
	}{{0o777, 1}, {0o770, 1}, {0o755, 0}, {0o700, 0}} {
		t.Run(fmt.Sprintf("%04o", tt.mode), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tt.mode); err != nil {
				t.Fatal(err)
			}
			var buf syncBuffer
			if _, err := startIn(t, dir, slog.New(slog.NewTextHandler(&buf, nil))); err != nil {
				t.Fatal(err)
			}
			var warns []string
			for _, line := range strings.Split(buf.String(), "\n") {
				if strings.Contains(line, "level=WARN") && strings.Contains(line, "writable by other users") {
					warns = append(warns, line)
				}
			}
			if len(warns) != tt.warns || (tt.warns > 0 && !strings.Contains(warns[0], "dataDir="+dir)) {
				t.Errorf("mode %04o: warnings %q, want %d naming the directory", tt.mode, warns, tt.warns)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the server's concurrent log writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
