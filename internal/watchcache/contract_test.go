package watchcache_test

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"cella.dev/cella/internal/storage"
	"cella.dev/cella/internal/storage/bolt"
	"cella.dev/cella/internal/storage/storagetest"
	"cella.dev/cella/internal/watchcache"
)

// TestContract holds the cache to the storage contract: the shared suite
// runs against a cache of "/" (every key the suite writes) over a bolt
// store.
func TestContract(t *testing.T) {
	storagetest.RunAll(t, func(t *testing.T) storage.Interface {
		log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
		b, err := bolt.Open(filepath.Join(t.TempDir(), "cella.db"), bolt.Options{Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		c, err := watchcache.New(b, "/", watchcache.Options{ProgressInterval: 50 * time.Millisecond, Logger: log})
		if err != nil {
			b.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() {
			c.Close() // the test may have closed it already
			b.Close()
		})
		return c
	})
}
