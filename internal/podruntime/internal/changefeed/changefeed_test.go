package changefeed

import (
	"testing"
	"testing/synctest"
)

// A UID added while it waits for delivery is delivered once; Add does not
// wait for a receiver; order is kept.
func TestFeed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := New()
		defer f.Close()
		for _, uid := range []string{"a", "b", "a", "c", "b", "a"} {
			f.Add(uid)
		}
		var got []string
		for range 3 {
			got = append(got, <-f.C())
		}
		if want := []string{"a", "b", "c"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Errorf("delivered %v, want %v", got, want)
		}
		synctest.Wait()
		select {
		case uid := <-f.C():
			t.Errorf("delivered %q again", uid)
		default:
		}
		// Once delivered, a UID is queued again.
		f.Add("a")
		if uid := <-f.C(); uid != "a" {
			t.Errorf("delivered %q, want a", uid)
		}
	})
}
