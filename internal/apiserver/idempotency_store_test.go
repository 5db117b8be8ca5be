package apiserver

import (
	"testing"
	"testing/synctest"
	"time"
)

// TestMemoryIdempotencyStore checks the store's bookkeeping that the API
// tests cannot reach: expiry on the store's clock, release, and the cap on
// remembered keys (oldest completed first, never one in flight).
func TestMemoryIdempotencyStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ttl = time.Hour
		s := newMemoryIdempotencyStore(ttl, 2, time.Now)
		key := func(k string) idempotencyKey {
			return idempotencyKey{User: "u", Collection: "/api/v1/configmaps", Key: k}
		}
		claim := func(k string) (idempotencyEntry, bool) {
			t.Helper()
			return s.Claim(key(k))
		}
		mustClaim := func(k string) {
			t.Helper()
			if held, ok := claim(k); !ok {
				t.Fatalf("Claim(%s) refused, held by %+v", k, held)
			}
		}
		complete := func(k string) {
			t.Helper()
			s.Complete(key(k), idempotencyEntry{Location: "/" + k, Name: k})
		}

		mustClaim("a")
		if held, ok := claim("a"); ok || !held.InFlight {
			t.Fatalf("second Claim(a) = %+v, %v; want in flight", held, ok)
		}
		s.Release(key("a"))
		mustClaim("a")
		complete("a")
		if held, ok := claim("a"); ok || held.InFlight || held.Location != "/a" {
			t.Fatalf("Claim(a) after Complete = %+v, %v; want done at /a", held, ok)
		}
		// Per user: another user's same key is free.
		if _, ok := s.Claim(idempotencyKey{User: "v", Collection: "/api/v1/configmaps", Key: "a"}); !ok {
			t.Fatal("another user's key a was held")
		}
		s.Release(idempotencyKey{User: "v", Collection: "/api/v1/configmaps", Key: "a"})

		time.Sleep(ttl - time.Nanosecond)
		if _, ok := claim("a"); ok {
			t.Fatal("a expired early")
		}
		time.Sleep(time.Nanosecond)
		mustClaim("a") // expired: claimed afresh
		complete("a")

		// The cap is 2. With a and b done, claiming c forgets a, the oldest.
		time.Sleep(time.Minute)
		mustClaim("b")
		complete("b")
		mustClaim("c")
		if _, ok := claim("b"); ok {
			t.Fatal("b was forgotten before the older a")
		}
		// a was forgotten; claiming it again forgets b, the one left done.
		mustClaim("a")
		if _, ok := s.entries[key("b")]; ok {
			t.Fatal("b was remembered over the cap")
		}
		// Keys in flight are never forgotten, even over the cap.
		mustClaim("d")
		for _, k := range []string{"a", "c", "d"} {
			if held, ok := claim(k); ok || !held.InFlight {
				t.Fatalf("Claim(%s) = %+v, %v; want in flight", k, held, ok)
			}
		}
		if len(s.done) != 0 || len(s.entries) != 3 {
			t.Fatalf("done queue %d, entries %d; want 0 and 3", len(s.done), len(s.entries))
		}
	})
}
