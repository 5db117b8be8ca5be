package bolt

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"cella.dev/cella/internal/storage"
)

// benchValue is about the size of a small ConfigMap or a Pod's JSON.
var benchValue = make([]byte, 1024)

func benchStore(b *testing.B) *Store {
	b.Helper()
	s, _ := openTest(b, Options{})
	return s
}

// BenchmarkGet reads one of 10,000 keys from parallel goroutines.
func BenchmarkGet(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	const n = 10000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("/registry/configmaps/ns%d/cm%d", i%10, i)
	}
	fill(b, s, keys)
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(7919))
		for pb.Next() {
			i++
			if _, err := s.Get(ctx, keys[i%n]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkCreateParallel creates keys from many goroutines, each waiting
// for its write to be durable; group commit lets them share fsyncs. It
// reports the writes per commit achieved.
func BenchmarkCreateParallel(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	var seq atomic.Int64
	b.SetParallelism(32) // 32 writers per GOMAXPROCS, as many API requests would be
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := fmt.Sprintf("/registry/pods/bench/p%d", seq.Add(1))
			if _, err := s.Create(ctx, key, benchValue); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if c := s.statCommits.Load(); c > 0 {
		b.ReportMetric(float64(s.statWrites.Load())/float64(c), "writes/commit")
	}
}

// BenchmarkList1000 lists a prefix holding 1,000 keys, next to others.
func BenchmarkList1000(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	var keys []string
	for ns := range 3 {
		for i := range 1000 {
			keys = append(keys, fmt.Sprintf("/registry/pods/ns%d/p%04d", ns, i))
		}
	}
	fill(b, s, keys)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := s.List(ctx, "/registry/pods/ns1/", storage.ListOptions{})
		if err != nil || len(res.Items) != 1000 {
			b.Fatalf("List: %d items, %v", len(res.Items), err)
		}
	}
}

// fill creates keys with benchValue, 500 to a commit.
func fill(b *testing.B, s *Store, keys []string) {
	b.Helper()
	ctx := context.Background()
	for start := 0; start < len(keys); start += 500 {
		end := min(start+500, len(keys))
		errs := make(chan error, end-start)
		for _, k := range keys[start:end] {
			go func() {
				_, err := s.Create(ctx, k, benchValue)
				errs <- err
			}()
		}
		for range end - start {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
	}
}
