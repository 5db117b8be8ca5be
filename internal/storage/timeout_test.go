package storage_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"cella.dev/cella/internal/storage"
	"cella.dev/cella/internal/storage/bolt"
	"cella.dev/cella/internal/storage/storagetest"
)

func openBolt(t *testing.T) storage.Interface {
	t.Helper()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "cella.db"), bolt.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestTimeoutContract: the bounded store is still a storage.Interface.
func TestTimeoutContract(t *testing.T) {
	storagetest.RunAll(t, func(t *testing.T) storage.Interface {
		return storage.WithTimeout(openBolt(t), 10*time.Second)
	})
}

// TestTimeoutStalledBackend: a call the backend does not answer within the
// bound is ErrUnavailable; a caller deadline that comes first stays
// context.DeadlineExceeded, so the API can tell 503 from 504.
func TestTimeoutStalledBackend(t *testing.T) {
	f := &storagetest.Faulty{}
	s := storage.WithTimeout(f.Wrap(openBolt(t)), 50*time.Millisecond)
	f.Inject(storagetest.Stall)

	start := time.Now()
	_, err := s.Get(t.Context(), "/k")
	if !errors.Is(err, storage.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stalled Get = %v, want only ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("stalled Get took %s", d)
	}
	if _, err := s.Create(t.Context(), "/k", []byte("v")); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("stalled Create = %v, want ErrUnavailable", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	s = storage.WithTimeout(f, time.Minute)
	if _, err := s.Get(ctx, "/k"); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Get past the caller's deadline = %v, want only DeadlineExceeded", err)
	}

	f.Inject(nil)
	if _, err := s.Create(t.Context(), "/k", []byte("v")); err != nil {
		t.Fatalf("Create after the stall: %v", err)
	}
}
