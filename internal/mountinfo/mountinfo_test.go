package mountinfo

import (
	"runtime"
	"testing"
)

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/plain`:           "/plain",
		`/with\040space`:   "/with space",
		`/tab\011and\134b`: "/tab\tand\\b",
		`/short\04`:        `/short\04`,
		`/not\999octal`:    `/not\999octal`,
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRead finds the root mount of this process's namespace.
func TestRead(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the mount table is read from /proc, on Linux")
	}
	mounts, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mounts {
		if m.Point == "/" && m.FSType != "" {
			return
		}
	}
	t.Fatalf("no root mount among %d: %+v", len(mounts), mounts)
}
