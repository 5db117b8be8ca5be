package warning

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestHeaders: warnings become Warning headers as kube-apiserver writes
// them (299, agent "-", quotes and backslashes escaped), once per text;
// past 4096 characters in all every text is cut to 256 and what no longer
// fits is dropped.
func TestHeaders(t *testing.T) {
	h := http.Header{}
	ctx := WithRecorder(context.Background(), NewHeaders(h))
	Add(ctx, `would violate "x"`)
	Add(ctx, `would violate "x"`)
	Add(ctx, `a\b`)
	Add(ctx, "")
	want := []string{`299 - "would violate \"x\""`, `299 - "a\\b"`}
	if got := h.Values("Warning"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("Warning headers = %q, want %q", got, want)
	}

	h = http.Header{}
	ctx = WithRecorder(context.Background(), NewHeaders(h))
	long := func(c string) string { return strings.Repeat(c, 1500) }
	Add(ctx, long("a"))
	Add(ctx, long("b"))
	if n := len(h.Values("Warning")); n != 2 {
		t.Fatalf("%d headers under the limit, want 2", n)
	}
	Add(ctx, long("c")) // 4500 characters: all are cut
	got := h.Values("Warning")
	if len(got) != 3 {
		t.Fatalf("%d headers once over the limit, want 3", len(got))
	}
	for _, v := range got {
		if len(v) != len(`299 - ""`)+256 {
			t.Errorf("a header over the limit is %d bytes, want the text cut to 256", len(v))
		}
	}

	Add(context.Background(), "nowhere") // no recorder: dropped, no panic
}
