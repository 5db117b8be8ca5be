//go:build linux

package process_test

import (
	"testing"
	"time"
)

// TestStats: a container's CPU time is the sum over its processes and
// grows while it computes; its memory is their resident set.
func TestStats(t *testing.T) {
	dir := t.TempDir()
	rt := newRuntime(t, dir)
	sandbox(t, rt, "busy")
	start(t, rt, "busy", shell(t, "spin", `while true; do :; done`), 0)
	t.Cleanup(func() { _ = rt.RemoveSandbox(t.Context(), "busy") })
	var first time.Duration
	waitFor(t, "the container to use CPU", func() bool {
		s, err := rt.Stats(t.Context(), "busy")
		if err != nil || len(s) != 1 {
			return false
		}
		first = s[0].CPU
		return first > 0 && s[0].MemoryBytes > 0 && s[0].Name == "spin"
	})
	waitFor(t, "its CPU time to grow", func() bool {
		s, err := rt.Stats(t.Context(), "busy")
		return err == nil && len(s) == 1 && s[0].CPU > first
	})
	if s, err := rt.Stats(t.Context(), "missing"); err == nil || s != nil {
		t.Errorf("Stats of a pod without a sandbox: %v %v", s, err)
	}
}
