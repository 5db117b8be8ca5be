package watchcache

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"cella.dev/cella/internal/storage"
)

// fill creates n keys of size bytes under prefix, directly in the store.
func fill(b *testing.B, s storage.Interface, prefix string, n, size int) {
	b.Helper()
	value := make([]byte, size)
	for i := range n {
		if _, err := s.Create(b.Context(), fmt.Sprintf("%s%06d", prefix, i), value); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStaleList lists 1,000 objects of 1 KiB from memory, as a
// resourceVersion=0 LIST does.
func BenchmarkStaleList(b *testing.B) {
	for _, limit := range []int64{0, 500} {
		b.Run(fmt.Sprintf("limit=%d", limit), func(b *testing.B) {
			s := newMemStore()
			fill(b, s, "/p/", 1000, 1024)
			c, err := New(s, "/p/", Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.List(b.Context(), "/p/", storage.ListOptions{Stale: true, Limit: limit}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFanout100 measures one write until each of 100 watchers has
// received it.
func BenchmarkFanout100(b *testing.B) {
	s := newMemStore()
	c, err := New(s, "/p/", Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var got sync.WaitGroup
	var readers sync.WaitGroup
	for range 100 {
		w, err := c.Watch(b.Context(), "/p/", storage.WatchOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer w.Stop()
		readers.Go(func() {
			for range w.ResultChan() {
				got.Done()
			}
		})
	}
	value := make([]byte, 1024)
	i := 0
	for b.Loop() {
		got.Add(100)
		if _, err := c.Create(b.Context(), fmt.Sprintf("/p/%d", i), value); err != nil {
			b.Fatal(err)
		}
		got.Wait()
		i++
	}
	b.StopTimer()
	c.Close()
	readers.Wait()
}

// BenchmarkMemory10k reports the heap the cache adds over a store holding
// 10,000 objects of 1 KiB written through it (state and full history); the
// values themselves are shared with the store.
func BenchmarkMemory10k(b *testing.B) {
	for b.Loop() {
		s := newMemStore()
		base := heapInUse()
		c, err := New(s, "/p/", Options{})
		if err != nil {
			b.Fatal(err)
		}
		fill(b, c, "/p/", 10000, 1024)
		if err := c.WaitFresh(b.Context(), 10000); err != nil {
			b.Fatal(err)
		}
		withStore := heapInUse()
		c.Close()
		cacheless := newMemStore()
		base2 := heapInUse()
		fill(b, cacheless, "/p/", 10000, 1024)
		storeOnly := heapInUse() - base2
		b.ReportMetric(float64(withStore-base-storeOnly)/10000, "cache-B/object")
		runtime.KeepAlive(s)
		runtime.KeepAlive(cacheless)
	}
}

func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}
