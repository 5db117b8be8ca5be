package sim_test

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"cella.dev/cella/internal/podruntime"
	"cella.dev/cella/internal/podruntime/sim"
)

// startPod makes a sandbox with annotations (each key gets sim.Prefix) and
// starts container "c" in it.
func startPod(t *testing.T, rt *sim.Runtime, uid string, knobs map[string]string) error {
	t.Helper()
	ann := map[string]string{}
	for k, v := range knobs {
		ann[sim.Prefix+k] = v
	}
	if _, err := rt.RunSandbox(t.Context(), podruntime.Pod{UID: uid, Namespace: "ns", Name: uid, Annotations: ann}); err != nil {
		t.Fatal(err)
	}
	return rt.StartContainer(t.Context(), uid, podruntime.Container{Name: "c"}, 0)
}

func status(t *testing.T, rt *sim.Runtime, uid string) podruntime.ContainerStatus {
	t.Helper()
	st, err := rt.Status(t.Context(), uid)
	if err != nil || len(st.Containers) != 1 {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	return st.Containers[0]
}

func logOf(t *testing.T, rt *sim.Runtime, uid string) string {
	t.Helper()
	rc, err := rt.Logs(t.Context(), uid, "c", podruntime.LogOptions{TailLines: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newRuntime(t *testing.T) *sim.Runtime {
	rt := sim.New(sim.Config{})
	t.Cleanup(func() { rt.Close() })
	return rt
}

// The lifecycle follows the annotations to the nanosecond of the clock:
// start-delay, run-time, exit-code, and the default log.
func TestLifecycleTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newRuntime(t)
		begin := time.Now()
		if err := startPod(t, rt, "p", map[string]string{"start-delay": "3s", "run-time": "10s", "exit-code": "42"}); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(begin); got != 3*time.Second {
			t.Errorf("StartContainer took %v of the clock, want the start-delay 3s", got)
		}
		st := status(t, rt, "p")
		if st.State != podruntime.StateRunning || !st.StartedAt.Equal(begin.Add(3*time.Second)) {
			t.Errorf("status = %+v; want running since the start-delay", st)
		}
		time.Sleep(10*time.Second - time.Nanosecond)
		if st := status(t, rt, "p"); st.State != podruntime.StateRunning {
			t.Errorf("exited before its run-time: %+v", st)
		}
		if uid := <-rt.Changes(); uid != "p" {
			t.Errorf("Changes delivered %q", uid)
		}
		st = status(t, rt, "p")
		if st.State != podruntime.StateExited || st.ExitCode != 42 || st.Reason != "Error" || !st.FinishedAt.Equal(begin.Add(13*time.Second)) {
			t.Errorf("status = %+v; want exited 42 after its run-time", st)
		}
		want := "sim: container c started\nsim: container c exited with code 42\n"
		if got := logOf(t, rt, "p"); got != want {
			t.Errorf("log = %q, want %q", got, want)
		}
	})
}

// A container's own annotations win over the pod's.
func TestPerContainerKnobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newRuntime(t)
		ann := map[string]string{
			sim.Prefix + "run-time": "0s", sim.Prefix + "exit-code": "1",
			sim.Prefix + "b.exit-code": "2", sim.Prefix + "b.log": "I am {container}, attempt {attempt}",
		}
		if _, err := rt.RunSandbox(t.Context(), podruntime.Pod{UID: "p", Annotations: ann}); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"a", "b"} {
			if err := rt.StartContainer(t.Context(), "p", podruntime.Container{Name: name}, 4); err != nil {
				t.Fatal(err)
			}
		}
		<-rt.Changes()
		synctest.Wait()
		st, _ := rt.Status(t.Context(), "p")
		if len(st.Containers) != 2 || st.Containers[0].ExitCode != 1 || st.Containers[1].ExitCode != 2 {
			t.Errorf("statuses = %+v; want a exit 1 (the pod's) and b exit 2 (its own)", st.Containers)
		}
		rc, _ := rt.Logs(t.Context(), "p", "b", podruntime.LogOptions{TailLines: 1, Previous: false})
		b, _ := io.ReadAll(rc)
		if string(b) != "sim: container b exited with code 2\n" {
			t.Errorf("b's last line = %q", b)
		}
		rc, _ = rt.Logs(t.Context(), "p", "b", podruntime.LogOptions{TailLines: -1})
		b, _ = io.ReadAll(rc)
		if !strings.HasPrefix(string(b), "I am b, attempt 4\n") {
			t.Errorf("b's log = %q", b)
		}
	})
}

// Bad values fail StartContainer with ErrInvalid naming the annotation;
// config-error is ErrInvalid with its text; start-error is a plain error.
func TestStartFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newRuntime(t)
		for _, tc := range []struct {
			knobs   map[string]string
			invalid bool
			text    string
		}{
			{map[string]string{"run-time": "soon"}, true, sim.Prefix + "run-time"},
			{map[string]string{"start-delay": "-1s"}, true, sim.Prefix + "start-delay"},
			{map[string]string{"c.exit-code": "three"}, true, sim.Prefix + "c.exit-code"},
			{map[string]string{"ignore-sigterm": "maybe"}, true, sim.Prefix + "ignore-sigterm"},
			{map[string]string{"config-error": "secret \"db\" not found"}, true, "secret \"db\" not found"},
			{map[string]string{"start-error": "exec: \"server\": executable file not found in $PATH"}, false, "executable file not found"},
		} {
			uid := strings.Join(mapsKeys(tc.knobs), ",")
			err := startPod(t, rt, uid, tc.knobs)
			if err == nil || errors.Is(err, podruntime.ErrInvalid) != tc.invalid || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("%v: StartContainer = %v; want an error with %q, ErrInvalid %v", tc.knobs, err, tc.text, tc.invalid)
			}
			if st, _ := rt.Status(t.Context(), uid); len(st.Containers) != 0 {
				t.Errorf("%v: a failed start left %+v", tc.knobs, st.Containers)
			}
		}
	})
}

func mapsKeys(m map[string]string) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// Probes pass from readiness-delay after the start until fail-probes-after.
func TestProbeWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newRuntime(t)
		if err := startPod(t, rt, "p", map[string]string{"readiness-delay": "5s", "fail-probes-after": "20s"}); err != nil {
			t.Fatal(err)
		}
		probe := func() bool {
			ok, reason, err := rt.Probe(t.Context(), "p", "c", podruntime.Probe{TCPPort: 80})
			if err != nil || ok == (reason != "") {
				t.Fatalf("Probe = %v, %q, %v", ok, reason, err)
			}
			return ok
		}
		for _, step := range []struct {
			sleep time.Duration
			want  bool
		}{
			{0, false}, {5*time.Second - 1, false}, {1, true}, {10 * time.Second, true}, {5*time.Second - 1, true}, {1, false},
		} {
			time.Sleep(step.sleep)
			if got := probe(); got != step.want {
				t.Errorf("after %v more: probe %v, want %v", step.sleep, got, step.want)
			}
		}
	})
}

// StopContainer of a container that ignores SIGTERM takes the whole grace
// period; one that honours it stops at once.
func TestStopGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newRuntime(t)
		if err := startPod(t, rt, "stubborn", map[string]string{"ignore-sigterm": "true"}); err != nil {
			t.Fatal(err)
		}
		if err := startPod(t, rt, "polite", nil); err != nil {
			t.Fatal(err)
		}
		begin := time.Now()
		if err := rt.StopContainer(t.Context(), "stubborn", "c", 7*time.Second); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(begin); got != 7*time.Second {
			t.Errorf("stopping a container that ignores SIGTERM took %v, want the grace 7s", got)
		}
		if st := status(t, rt, "stubborn"); st.ExitCode != 137 {
			t.Errorf("status = %+v, want exit 137", st)
		}
		begin = time.Now()
		if err := rt.StopContainer(t.Context(), "polite", "c", 7*time.Second); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(begin); got != 0 {
			t.Errorf("stopping a container that honours SIGTERM took %v", got)
		}
		if st := status(t, rt, "polite"); st.ExitCode != 0 || st.Reason != "Completed" {
			t.Errorf("status = %+v, want exit 0", st)
		}
	})
}

// Addresses come from a hash of the UID: the same pod gets the same one
// from another runtime; a collision takes the next free one; a pod's CIDR
// is honoured; the network and broadcast addresses are never given.
func TestAddresses(t *testing.T) {
	ctx := context.Background()
	a, b := sim.New(sim.Config{}), sim.New(sim.Config{})
	defer a.Close()
	defer b.Close()
	sa, _ := a.RunSandbox(ctx, podruntime.Pod{UID: "one"})
	sb, _ := b.RunSandbox(ctx, podruntime.Pod{UID: "one"})
	if sa.IP != sb.IP || !netip.MustParsePrefix(sim.DefaultCIDR).Contains(netip.MustParseAddr(sa.IP)) {
		t.Errorf("the same UID got %s and %s; want one address in %s", sa.IP, sb.IP, sim.DefaultCIDR)
	}

	small := sim.New(sim.Config{})
	defer small.Close()
	seen := map[string]bool{}
	for i := range 6 {
		sb, err := small.RunSandbox(ctx, podruntime.Pod{UID: string(rune('a' + i)), CIDR: "192.168.7.0/29"})
		if err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
		if seen[sb.IP] || sb.IP == "192.168.7.0" || sb.IP == "192.168.7.7" || !strings.HasPrefix(sb.IP, "192.168.7.") {
			t.Errorf("pod %d got %s (seen %v)", i, sb.IP, seen)
		}
		seen[sb.IP] = true
	}
	if _, err := small.RunSandbox(ctx, podruntime.Pod{UID: "full", CIDR: "192.168.7.0/29"}); err == nil {
		t.Errorf("a seventh pod got an address in a /29")
	}
	if err := small.RemoveSandbox(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := small.RunSandbox(ctx, podruntime.Pod{UID: "full", CIDR: "192.168.7.0/29"}); err != nil {
		t.Errorf("a removed pod's address was not freed: %v", err)
	}
	if _, err := small.RunSandbox(ctx, podruntime.Pod{UID: "v6", CIDR: "fd00::/64"}); !errors.Is(err, podruntime.ErrInvalid) {
		t.Errorf("an IPv6 CIDR: %v, want ErrInvalid", err)
	}
}

// The clock is injectable: a runtime on a manual clock moves only when it
// is advanced.
func TestInjectedClock(t *testing.T) {
	clock := &manualClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	rt := sim.New(sim.Config{Now: clock.Now, AfterFunc: clock.AfterFunc})
	defer rt.Close()
	if err := startPod(t, rt, "p", map[string]string{"run-time": "1m", "log": "hi"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(59 * time.Second)
	if st := status(t, rt, "p"); st.State != podruntime.StateRunning {
		t.Fatalf("exited early: %+v", st)
	}
	clock.Advance(time.Second)
	if uid := <-rt.Changes(); uid != "p" {
		t.Fatalf("Changes delivered %q", uid)
	}
	st := status(t, rt, "p")
	if st.State != podruntime.StateExited || !st.FinishedAt.Equal(clock.now) || !st.StartedAt.Equal(clock.now.Add(-time.Minute)) {
		t.Errorf("status = %+v; want exited at the clock's time", st)
	}
	rc, _ := rt.Logs(t.Context(), "p", "c", podruntime.LogOptions{TailLines: 1, Timestamps: true})
	b, _ := io.ReadAll(rc)
	if want := "2026-01-02T03:05:05.000000000Z sim: container c exited with code 0\n"; string(b) != want {
		t.Errorf("log = %q, want %q", b, want)
	}
}

// manualClock is a clock whose time moves only by Advance, which runs the
// functions that came due.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

type manualTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	tm := &manualTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, tm)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !tm.stopped
		tm.stopped = true
		return was
	}
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []func()
	for _, tm := range c.timers {
		if !tm.stopped && !tm.at.After(c.now) {
			tm.stopped = true
			due = append(due, tm.f)
		}
	}
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

// After Close nothing changes by itself: timers are stopped.
func TestCloseStopsTimers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := sim.New(sim.Config{})
		if err := startPod(t, rt, "p", map[string]string{"run-time": "1s"}); err != nil {
			t.Fatal(err)
		}
		rt.Close()
		time.Sleep(time.Minute)
		if st := status(t, rt, "p"); st.State != podruntime.StateRunning {
			t.Errorf("a closed runtime's container exited: %+v", st)
		}
	})
}

// BenchmarkPodLifecycle measures what one pod costs the agent: a sandbox,
// a container that exits, its status, the sandbox removed.
func BenchmarkPodLifecycle(b *testing.B) {
	rt := sim.New(sim.Config{})
	defer rt.Close()
	ctx := context.Background()
	ann := map[string]string{sim.Prefix + "run-time": "0s"}
	go func() {
		for range rt.Changes() {
		}
	}()
	b.ReportAllocs()
	var seq atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			uid := "pod-" + strconv.FormatInt(seq.Add(1), 10)
			if _, err := rt.RunSandbox(ctx, podruntime.Pod{UID: uid, Annotations: ann}); err != nil {
				b.Fatal(err)
			}
			if err := rt.StartContainer(ctx, uid, podruntime.Container{Name: "main"}, 0); err != nil {
				b.Fatal(err)
			}
			if _, err := rt.Status(ctx, uid); err != nil {
				b.Fatal(err)
			}
			if err := rt.RemoveSandbox(ctx, uid); err != nil {
				b.Fatal(err)
			}
		}
	})
}
