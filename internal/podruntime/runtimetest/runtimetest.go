// Package runtimetest is the contract suite for podruntime.Runtime. Every
// runtime runs it:
//
//	func TestContract(t *testing.T) {
//		runtimetest.Run(t, runtimetest.Harness{New: ..., Container: ..., ...})
//	}
//
// The suite speaks of containers by what they do (a Behavior: "prints
// hello and world, then exits 0"); the Harness of each runtime makes a
// container that does it: a shell command for the process runtime, pod
// annotations for the sim. Each test names the sentences of the contract
// it checks. Waits poll with a generous deadline (waitTimeout); nothing
// asserts how long a call took.
package runtimetest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"cella.dev/cella/internal/podruntime"
)

// waitTimeout bounds every wait. It is generous because the suite runs
// under -race on shared machines; a correct runtime answers in
// milliseconds.
const waitTimeout = 30 * time.Second

// Behavior is what a container does. Lines are printed on standard output,
// each ending in a newline.
type Behavior int

const (
	// Exit0 prints "hello" and "world" and exits 0.
	Exit0 Behavior = iota
	// Exit3 prints "failing" and exits 3.
	Exit3
	// PrintAttempt prints "attempt N", N the attempt it was started as,
	// and exits 1.
	PrintAttempt
	// Serve prints "serving" and runs until SIGTERM, then prints "bye" and
	// exits 0. Its probes succeed (Harness.Probe with ready).
	Serve
	// NotReady does what Serve does, but its probes fail.
	NotReady
	// Stubborn prints "stubborn" and ignores SIGTERM: only SIGKILL ends it.
	Stubborn
	// Gated prints "one", waits until Harness.Release, prints "two" and
	// exits 0.
	Gated
	// WritesMessage writes "bye" to its TerminationMessagePath, prints
	// "x" and exits 1.
	WritesMessage
	// FailLoudly prints "line 1" to "line 100" and exits 2.
	FailLoudly
	// Echo is started with Stdin: it prints each line of its input as it
	// comes, and runs until stopped.
	Echo
)

// ExecBehavior is what a command run in a container (Runtime.Exec) does.
type ExecBehavior int

const (
	// ExecOutput prints "out" on standard output and "err" on standard
	// error, and exits 3.
	ExecOutput ExecBehavior = iota
	// ExecCat copies its input to its output, and exits 0 when the input
	// ends.
	ExecCat
)

// ProbeKind is the kind of a check.
type ProbeKind string

const (
	ProbeExec ProbeKind = "exec"
	ProbeHTTP ProbeKind = "httpGet"
	ProbeTCP  ProbeKind = "tcpSocket"
)

// Harness adapts one runtime to the suite.
type Harness struct {
	// New returns a runtime that keeps its state in dir, and arranges with
	// t.Cleanup that whatever still runs in it is removed and the runtime
	// closed, also when the test closed it already.
	New func(t *testing.T, dir string) podruntime.Runtime
	// Container returns a container named name that behaves as b when it
	// is started as attempt, and the annotations its pod needs for that
	// (the suite merges those of all a pod's containers).
	Container func(t *testing.T, b Behavior, name string, attempt int) (map[string]string, podruntime.Container)
	// Release lets a Gated container, c as Container returned it, go on.
	Release func(t *testing.T, c podruntime.Container)
	// Exec returns a command that behaves as b when it runs in container
	// name (a Serve container), and the annotations its pod needs for
	// that.
	Exec func(t *testing.T, b ExecBehavior, name string) (map[string]string, []string)
	// Probe returns a check of kind for a container of sandbox sb made a
	// Serve (ready) or a NotReady (!ready) container: the runtime must
	// pass it, eventually, for Serve and fail it for NotReady.
	Probe func(t *testing.T, sb podruntime.Sandbox, kind ProbeKind, ready bool) podruntime.Probe
	// Bubble, when set, runs each test, e.g. inside a testing/synctest
	// bubble.
	Bubble func(t *testing.T, f func(*testing.T))
	// Persistent says a new runtime on the same dir finds the sandboxes
	// and containers of the last one (restart adoption). RestartAdoption is
	// skipped when it is false.
	Persistent bool
}

// Run runs every contract test as a parallel subtest.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		run  func(*testing.T, Harness)
	}{
		{"Sandbox", RunTestSandbox},
		{"ExitZero", RunTestExitZero},
		{"ExitNonZero", RunTestExitNonZero},
		{"StartRunning", RunTestStartRunning},
		{"Stop", RunTestStop},
		{"Attempts", RunTestAttempts},
		{"LogOptions", RunTestLogOptions},
		{"Follow", RunTestFollow},
		{"TruncateLog", RunTestTruncateLog},
		{"TerminationMessage", RunTestTerminationMessage},
		{"RemoveSandbox", RunTestRemoveSandbox},
		{"RestartAdoption", RunTestRestartAdoption},
		{"Probes", RunTestProbes},
		{"ConcurrentPods", RunTestConcurrentPods},
		{"Exec", RunTestExec},
		{"ExecNotRunning", RunTestExecNotRunning},
		{"Attach", RunTestAttach},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.name == "RestartAdoption" && !h.Persistent {
				t.Skip("this runtime keeps its state in memory: a new one finds nothing")
			}
			if h.Bubble != nil {
				h.Bubble(t, func(t *testing.T) { tc.run(t, h) })
				return
			}
			tc.run(t, h)
		})
	}
}

// all is LogOptions for the whole log.
var all = podruntime.LogOptions{TailLines: -1}

// RunTestSandbox: RunSandbox makes a sandbox with an IP of its own and returns
// an existing one as it is; Sandboxes lists them; calls naming a pod
// without a sandbox, or a container never started, are ErrNotFound;
// RemoveSandbox of a pod without one is not an error; Info names the
// runtime.
func RunTestSandbox(t *testing.T, h Harness) {
	rt := h.New(t, t.TempDir())
	ctx := t.Context()
	if info := rt.Info(); info.Name == "" || (info.Isolated && info.Why != "") {
		t.Errorf("Info = %+v; want a name, and no why when isolated", info)
	}
	p := podruntime.Pod{UID: uuid.NewString(), Namespace: "default", Name: "web", Hostname: "web"}
	sb, err := rt.RunSandbox(ctx, p)
	if err != nil {
		t.Fatalf("RunSandbox: %v", err)
	}
	if sb.UID != p.UID || sb.Namespace != "default" || sb.Name != "web" || sb.Created.IsZero() {
		t.Errorf("RunSandbox = %+v; want the pod's UID, namespace, name and a creation time", sb)
	}
	if _, err := netip.ParseAddr(sb.IP); err != nil {
		t.Errorf("sandbox IP %q: %v", sb.IP, err)
	}
	again, err := rt.RunSandbox(ctx, p)
	if err != nil || !sameSandbox(again, sb) {
		t.Errorf("second RunSandbox = %+v, %v; want %+v", again, err, sb)
	}
	other, err := rt.RunSandbox(ctx, podruntime.Pod{UID: uuid.NewString(), Namespace: "default", Name: "db"})
	if err != nil {
		t.Fatalf("RunSandbox: %v", err)
	}
	if other.IP == sb.IP {
		t.Errorf("two sandboxes share the IP %s", sb.IP)
	}
	list := mustSandboxes(t, rt)
	if got, ok := findSandbox(list, sb.UID); !ok || !sameSandbox(got, sb) {
		t.Errorf("Sandboxes = %+v; want it to hold %+v", list, sb)
	}
	if _, ok := findSandbox(list, other.UID); !ok {
		t.Errorf("Sandboxes = %+v; want it to hold %s", list, other.UID)
	}
	st, err := rt.Status(ctx, sb.UID)
	if err != nil || !sameSandbox(st.Sandbox, sb) || len(st.Containers) != 0 {
		t.Errorf("Status = %+v, %v; want the sandbox and no containers", st, err)
	}

	missing := uuid.NewString()
	if _, err := rt.Status(ctx, missing); !errors.Is(err, podruntime.ErrNotFound) {
		t.Errorf("Status of a pod without sandbox: %v, want ErrNotFound", err)
	}
	_, c := h.Container(t, Exit0, "main", 0)
	if err := rt.StartContainer(ctx, missing, c, 0); !errors.Is(err, podruntime.ErrNotFound) {
		t.Errorf("StartContainer in a pod without sandbox: %v, want ErrNotFound", err)
	}
	if _, err := rt.Logs(ctx, sb.UID, "never", all); !errors.Is(err, podruntime.ErrNotFound) {
		t.Errorf("Logs of a container never started: %v, want ErrNotFound", err)
	}
	if err := rt.TruncateLog(ctx, sb.UID, "never"); !errors.Is(err, podruntime.ErrNotFound) {
		t.Errorf("TruncateLog of a container never started: %v, want ErrNotFound", err)
	}
	if _, _, err := rt.Probe(ctx, sb.UID, "never", podruntime.Probe{TCPPort: 80}); !errors.Is(err, podruntime.ErrNotFound) {
		t.Errorf("Probe of a container never started: %v, want ErrNotFound", err)
	}
	if err := rt.StopContainer(ctx, sb.UID, "never", time.Second); err != nil {
		t.Errorf("StopContainer of a container never started: %v, want nil", err)
	}
	if err := rt.RemoveSandbox(ctx, missing); err != nil {
		t.Errorf("RemoveSandbox of a pod without sandbox: %v", err)
	}

	if err := rt.RemoveSandbox(ctx, sb.UID); err != nil {
		t.Fatalf("RemoveSandbox: %v", err)
	}
	if _, ok := findSandbox(mustSandboxes(t, rt), sb.UID); ok {
		t.Errorf("Sandboxes lists a removed sandbox")
	}
	if _, err := rt.Status(ctx, sb.UID); !errors.Is(err, podruntime.ErrNotFound) {
		t.Errorf("Status of a removed sandbox: %v, want ErrNotFound", err)
	}
	if err := rt.RemoveSandbox(ctx, sb.UID); err != nil {
		t.Errorf("second RemoveSandbox: %v", err)
	}
}

// RunTestExitZero: a container that exits 0 is exited, Completed, with exit
// code 0; Changes delivers its pod's UID; its log holds what it printed.
func RunTestExitZero(t *testing.T, h Harness) {
	rt := h.New(t, t.TempDir())
	f := newPod(t, h, rt, 1, map[string]Behavior{"main": Exit0})
	before := time.Now()
	f.start("main", 0)
	waitChange(t, rt, f.sb.UID)
	st := f.waitExited("main", 0)
	if st.ExitCode != 0 || st.Reason != "Completed" || st.Attempt != 0 || st.Message != "" {
		t.Errorf("status = %+v; want exit code 0, Completed, attempt 0, no message", st)
	}
	if st.StartedAt.Before(before.Add(-time.Second)) || st.FinishedAt.Before(st.StartedAt) {
		t.Errorf("status = %+v; want StartedAt now and FinishedAt not before it", st)
	}
	if got := f.logs("main", all); got != "hello\nworld\n" {
		t.Errorf("log = %q, want %q", got, "hello\nworld\n")
	}
}

// RunTestExitNonZero: a container that exits 3 is exited with Error and exit
// code 3.
func RunTestExitNonZero(t *testing.T, h Harness) {
	rt := h.New(t, t.TempDir())
	f := newPod(t, h, rt, 1, map[string]Behavior{"main": Exit3})
	f.start("main", 0)
	waitChange(t, rt, f.sb.UID)
	st := f.waitExited("main", 0)
	if st.ExitCode != 3 || st.Reason != "Error" {
		t.Errorf("status = %+v; want exit code 3, Error", st)
	}
	if got := f.logs("main", all); got != "failing\n" {
		t.Errorf("log = %q, want %q", got, "failing\n")
	}
}

// RunTestStartRunning: StartContainer returns once the container runs; its
// status is running with StartedAt set; starting a container that runs is
// an error and changes nothing.
func RunTestStartRunning(t *testing.T, h Harness) {
	rt := h.New(t, t.TempDir())
	f := newPod(t, h, rt, 2, map[string]Behavior{"main": Serve})
	f.start("main", 0)
	st := f.status("main")
	if st.State != podruntime.StateRunning || st.StartedAt.IsZero() || !st.FinishedAt.IsZero() || st.Reason != "" {
		t.Errorf("status after StartContainer = %+v; want running since StartedAt", st)
	}
	if err := rt.StartContainer(t.Context(), f.sb.UID, f.containers["main"][1], 1); err == nil {
		t.Errorf("StartContainer of a running container succeeded")
	}
	if st2 := f.status("main"); st2.Attempt != 0 || st2.State != podruntime.StateRunning || !st2.StartedAt.Equal(st.StartedAt) {
		t.Errorf("status after the refused start = %+v; want %+v", st2, st)
	}
}

// RunTestStop: StopContainer sends SIGTERM and returns once the container
// exited; one that ignores SIGTERM is killed once grace has passed (exit
// code 137); stopping a container that does not run is not an error.
func RunTestStop(t *testing.T, h Harness) {
	rt := h.New(t, t.TempDir())
	f := newPod(t, h, rt, 1, map[string]Behavior{"serve": Serve, "stubborn": Stubborn})
	ctx := t.Context()
	f.start("serve", 0)
	f.start("stubborn", 0)
	f.waitLog("serve", "serving\n")
	f.waitLog("stubborn", "stubborn\n")

	// A long grace: the container must end on SIGTERM, long before it.
	if err := rt.StopContainer(ctx, f.sb.UID, "serve", 10*time.Minute); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
	if st := f.status("serve"); st.State != podruntime.StateExited || st.ExitCode != 0 || st.Reason != "Completed" {
		t.Errorf("status after StopContainer = %+v; want exited 0 (SIGTERM honoured)", st)
	}
	if got := f.logs("serve", all); got != "serving\nbye\n" {
		t.Errorf("log = %q, want %q", got, "serving\nbye\n")
	}

	if err := rt.StopContainer(ctx, f.sb.UID, "stubborn", time.Second); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
	if st := f.status("stubborn"); st.State != podruntime.StateExited || st.ExitCode != 137 || st.Reason != "Error" {
		t.Errorf("status after StopContainer = %+v; want exited 137 (killed after grace)", st)
	}

	if err := rt.StopContainer(ctx, f.sb.UID, "serve", time.Second); err != nil {
		t.Errorf("StopContainer of an exited container: %v", err)
	}
}

// RunTestAttempts: each start is an attempt with its own log; Logs with
// Previous reads the attempt before the latest, and is ErrNotFound when
// there is none.
func RunTestAttempts(t *testing.T, h Harness) {
	rt := h.New(t, t.TempDir())
	f := newPod(t, h, rt, 3, map[string]Behavior{"c": PrintAttempt})
	f.start("c", 0)
	st := f.waitExited("c", 0)
	if st.ExitCode != 1 || st.Attempt != 0 {
		t.Errorf("attempt 0 status = %+v", st)
	}
	if _, err := rt.Logs(t.Context(), f.sb.UID, "c", podruntime.LogOptions{Previous: true, TailLines: -1}); !errors.Is(err, podruntime.ErrNotFound) {
		t.Errorf("Logs(Previous) of a first attempt: %v, want ErrNotFound", err)
	}
	for n := 1; n <= 2; n++ {
		f.start("c", n)
		if st := f.waitExited("c", n); st.Attempt != n || st.ExitCode != 1 {
			t.Errorf("attempt %d status = %+v", n, st)
		}
		if got, want := f.logs("c", all), fmt.Sprintf("attempt %d\n", n); got != want {
			t.Errorf("attempt %d log = %q, want %q", n, got, want)
		}
		if got, want := f.logs("c", podruntime.LogOptions{Previous: true, TailLines: -1}), fmt.Sprintf("attempt %d\n", n-1); got != want {
			t.Errorf("attempt %d previous log = %q, want %q", n, got, want)
		}
	}
}

// RunTestLogOptions: TailLines, LimitBytes, Timestamps and SinceTime select
// and shape the log as pods/log does.
func RunTestLogOptions(t *testing.T, h Harness) {
	rt := h.New(t, t.TempDir())
	f := newPod(t, h, rt, 1, map[string]Behavior{"g": Gated})
	f.start("g", 0)
	f.waitLog("g", "one\n")
	h.Release(t, f.containers["g"][0])
	f.waitExited("g", 0)

	for _, tc := range []struct {
		o    podruntime.LogOptions
		want string
	}{
		{podruntime.LogOptions{TailLines: -1}, "one\ntwo\n"},
		{podruntime.LogOptions{TailLines: 0}, ""},
		{podruntime.LogOptions{TailLines: 1}, "two\n"},
		{podruntime.LogOptions{TailLines: 5}, "one\ntwo\n"},
		{podruntime.LogOptions{TailLines: -1, LimitBytes: 5}, "one\nt"},
		{podruntime.LogOptions{TailLines: -1, LimitBytes: 4}, "one\n"},
		{podruntime.LogOptions{TailLines: 1, LimitBytes: 100}, "two\n"},
	} {
		if got := f.logs("g", tc.o); got != tc.want {
			t.Errorf("Logs(%+v) = %q, want %q", tc.o, got, tc.want)
		}
	}

	stamped := f.logs("g", podruntime.LogOptions{TailLines: -1, Timestamps: true})
	lines := strings.Split(strings.TrimSuffix(stamped, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("Logs(Timestamps) = %q; want two lines", stamped)
	}
	var times []time.Time
	for i, want := range []string{"one", "two"} {
		ts, text, _ := strings.Cut(lines[i], " ")
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || text != want {
			t.Fatalf("Logs(Timestamps) line %q: %v; want an RFC 3339 time, then %q", lines[i], err, want)
		}
		times = append(times, at)
	}
	if !times[0].Before(times[1]) {
		t.Errorf("line times %v: want the second after the first", times)
	}
	for _, tc := range []struct {
		since time.Time
		want  string
	}{
		{times[0], "one\ntwo\n"},
		{times[1], "two\n"},
		{times[1].Add(time.Nanosecond), ""},
	} {
		if got := f.logs("g", podruntime.LogOptions{TailLines: -1, SinceTime: tc.since}); got != tc.want {
			t.Errorf("Logs(SinceTime %v) = %q, want %q", tc.since, got, tc.want)
		}
	}
	if got, want := f.logs("g", podruntime.LogOptions{TailLines: 1, Timestamps: true}), lines[1]+"\n"; got != want {
		t.Errorf("Logs(TailLines 1, Timestamps) = %q, want %q", got, want)
	}
}

// RunTestFollow: a follower sees lines as they are written and ends when the
// container exits, or when its context ends or it is closed.
func RunTestFollow(t *testing.T, h Harness) {
	rt := h.New(t, t.TempDir())
	f := newPod(t, h, rt, 1, map[string]Behavior{"g": Gated, "serve": Serve})
	f.start("g", 0)
	f.start("serve", 0)
	ctx := t.Context()

	rc, err := rt.Logs(ctx, f.sb.UID, "g", podruntime.LogOptions{TailLines: -1, Follow: true})
	if err != nil {
		t.Fatalf("Logs(Follow): %v", err)
	}
	defer rc.Close()
	br := bufio.NewReader(rc)
	if line, err := readLine(t, br); line != "one\n" || err != nil {
		t.Fatalf("first followed line = %q, %v; want %q", line, err, "one\n")
	}
	h.Release(t, f.containers["g"][0])
	if line, err := readLine(t, br); line != "two\n" || err != nil {
		t.Fatalf("second followed line = %q, %v; want %q", line, err, "two\n")
	}
	if line, err := readLine(t, br); line != "" || err != io.EOF {
		t.Errorf("after the exit: %q, %v; want io.EOF", line, err)
	}

	// Following an exited container returns its log and ends.
	f.waitExited("g", 0)
	if got := f.logs("g", podruntime.LogOptions{TailLines: 1, Follow: true}); got != "two\n" {
		t.Errorf("Logs(Follow, TailLines 1) of an exited container = %q", got)
	}

	// A follower of a running container ends with its context.
	fctx, cancel := context.WithCancel(ctx)
	rc2, err := rt.Logs(fctx, f.sb.UID, "serve", podruntime.LogOptions{TailLines: -1, Follow: true})
	if err != nil {
		t.Fatalf("Logs(Follow): %v", err)
	}
	br2 := bufio.NewReader(rc2)
	if line, err := readLine(t, br2); line != "serving\n" || err != nil {
		t.Fatalf("followed line = %q, %v", line, err)
	}
	cancel()
	if _, err := readLine(t, br2); err == nil {
		t.Errorf("a follower read on after its context ended")
	}
	rc2.Close()

	// And when it is closed.
	rc3, err := rt.Logs(ctx, f.sb.UID, "serve", podruntime.LogOptions{TailLines: 0, Follow: true})
	if err != nil {
		t.Fatalf("Logs(Follow): %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(rc3)
		done <- err
	}()
	rc3.Close()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Errorf("Close did not end a follower's Read")
	}
}

// RunTestTruncateLog: TruncateLog empties the latest attempt's log; lines
// written afterwards are kept.
func RunTestTruncateLog(t *testing.T, h Harness) {
	rt := h.New(t, t.TempDir())
	f := newPod(t, h, rt, 1, map[string]Behavior{"g": Gated})
	f.start("g", 0)
	f.waitLog("g", "one\n")
	if err := rt.TruncateLog(t.Context(), f.sb.UID, "g"); err != nil {
		t.Fatalf("TruncateLog: %v", err)
	}
	if got := f.logs("g", all); got != "" {
		t.Errorf("log after TruncateLog = %q, want it empty", got)
	}
	h.Release(t, f.containers["g"][0])
	f.waitExited("g", 0)
	if got := f.logs("g", all); got != "two\n" {
		t.Errorf("log = %q, want %q", got, "two\n")
	}
}

// RunTestTerminationMessage: the message is what the container wrote to its
// TerminationMessagePath; when it wrote none and failed, with LogOnFailure,
// the last 80 lines of its log; otherwise empty.
func RunTestTerminationMessage(t *testing.T, h Harness) {
	rt := h.New(t, t.TempDir())
	f := newPod(t, h, rt, 1, map[string]Behavior{
		"writes":  WritesMessage,
		"loud":    FailLoudly,
		"quiet":   FailLoudly,
		"success": Exit0,
	})
	for _, name := range []string{"writes", "loud", "success"} {
		f.containers[name][0].LogOnFailure = true
	}
	var tail strings.Builder
	for i := 21; i <= 100; i++ {
		fmt.Fprintf(&tail, "line %d\n", i)
	}
	for _, tc := range []struct {
		name, want string
		code       int
	}{
		{"writes", "bye", 1},
		{"loud", tail.String(), 2},
		{"quiet", "", 2},
		{"success", "", 0},
	} {
		f.start(tc.name, 0)
		st := f.waitExited(tc.name, 0)
		if st.Message != tc.want || st.ExitCode != tc.code {
			t.Errorf("%s: exit code %d, message %q; want %d, %q", tc.name, st.ExitCode, st.Message, tc.code, tc.want)
		}
	}
}

// RunTestRemoveSandbox: RemoveSandbox stops whatever runs in the pod, ends
// its followers and removes its containers and logs.
func RunTestRemoveSandbox(t *testing.T, h Harness) {
	rt := h.New(t, t.TempDir())
	f := newPod(t, h, rt, 1, map[string]Behavior{"serve": Serve, "stubborn": Stubborn})
	ctx := t.Context()
	f.start("serve", 0)
	f.start("stubborn", 0)
	f.waitLog("serve", "serving\n")
	f.waitLog("stubborn", "stubborn\n")
	pids := []int{f.status("serve").PID, f.status("stubborn").PID}

	rc, err := rt.Logs(ctx, f.sb.UID, "serve", podruntime.LogOptions{TailLines: -1, Follow: true})
	if err != nil {
		t.Fatalf("Logs(Follow): %v", err)
	}
	defer rc.Close()
	followed := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(rc)
		followed <- err
	}()

	if err := rt.RemoveSandbox(ctx, f.sb.UID); err != nil {
		t.Fatalf("RemoveSandbox: %v", err)
	}
	select {
	case <-followed:
	case <-time.After(waitTimeout):
		t.Errorf("a follower did not end when its sandbox was removed")
	}
	if _, err := rt.Status(ctx, f.sb.UID); !errors.Is(err, podruntime.ErrNotFound) {
		t.Errorf("Status after RemoveSandbox: %v, want ErrNotFound", err)
	}
	if _, err := rt.Logs(ctx, f.sb.UID, "serve", all); !errors.Is(err, podruntime.ErrNotFound) {
		t.Errorf("Logs after RemoveSandbox: %v, want ErrNotFound", err)
	}
	if _, ok := findSandbox(mustSandboxes(t, rt), f.sb.UID); ok {
		t.Errorf("Sandboxes lists a removed sandbox")
	}
	for _, pid := range pids {
		if pid > 0 {
			waitFor(t, fmt.Sprintf("process %d to be gone", pid), func() bool { return processGone(pid) })
		}
	}
}

// RunTestRestartAdoption: a new runtime on the same state finds the sandboxes
// and the containers the last one left, running or exited, with their
// logs; it sees an adopted container exit by itself (Changes) and stops
// one when asked.
func RunTestRestartAdoption(t *testing.T, h Harness) {
	if !h.Persistent {
		t.Skip("this runtime keeps its state in memory: a new one finds nothing")
	}
	dir := t.TempDir()
	ctx := t.Context()
	rt1 := h.New(t, dir)
	f := newPod(t, h, rt1, 2, map[string]Behavior{"serve": Serve, "done": Exit3, "gated": Gated})
	f.start("serve", 0)
	f.start("done", 0)
	f.start("gated", 0)
	f.waitExited("done", 0)
	f.waitLog("serve", "serving\n")
	f.waitLog("gated", "one\n")
	before := f.status("serve")
	if err := rt1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	rt2 := h.New(t, dir)
	f.rt = rt2
	if got, ok := findSandbox(mustSandboxes(t, rt2), f.sb.UID); !ok || !sameSandbox(got, f.sb) {
		t.Fatalf("Sandboxes after restart = %+v, want %+v", got, f.sb)
	}
	if again, err := rt2.RunSandbox(ctx, f.pod); err != nil || !sameSandbox(again, f.sb) {
		t.Errorf("RunSandbox after restart = %+v, %v; want %+v", again, err, f.sb)
	}
	if st := f.status("serve"); st.State != podruntime.StateRunning || st.PID != before.PID || !st.StartedAt.Equal(before.StartedAt) {
		t.Errorf("adopted status = %+v; want it running as %+v", st, before)
	}
	if st := f.status("done"); st.State != podruntime.StateExited || st.ExitCode != 3 || st.Reason != "Error" {
		t.Errorf("adopted exited status = %+v; want exited 3", st)
	}
	if got := f.logs("done", all); got != "failing\n" {
		t.Errorf("adopted log = %q", got)
	}

	h.Release(t, f.containers["gated"][0])
	waitChange(t, rt2, f.sb.UID)
	if st := f.waitExited("gated", 0); st.ExitCode != 0 || st.Reason != "Completed" {
		t.Errorf("adopted container exited as %+v; want exit code 0", st)
	}
	if got := f.logs("gated", all); got != "one\ntwo\n" {
		t.Errorf("adopted container's log = %q", got)
	}

	if err := rt2.StopContainer(ctx, f.sb.UID, "serve", 10*time.Minute); err != nil {
		t.Fatalf("StopContainer of an adopted container: %v", err)
	}
	if st := f.status("serve"); st.State != podruntime.StateExited || st.ExitCode != 0 {
		t.Errorf("stopped adopted container = %+v; want exited 0", st)
	}
	f.start("serve", 1)
	if got := f.logs("serve", podruntime.LogOptions{Previous: true, TailLines: -1}); got != "serving\nbye\n" {
		t.Errorf("previous log after restart = %q", got)
	}
}

// RunTestProbes: exec, httpGet and tcpSocket checks pass against a ready
// container and fail, as a check that ran (no error, a reason), against
// one that is not; a check of a container that does not run is an error.
func RunTestProbes(t *testing.T, h Harness) {
	rt := h.New(t, t.TempDir())
	f := newPod(t, h, rt, 1, map[string]Behavior{"ready": Serve, "unready": NotReady, "exited": Exit0})
	ctx := t.Context()
	f.start("ready", 0)
	f.start("unready", 0)
	f.start("exited", 0)
	f.waitLog("ready", "serving\n")
	f.waitLog("unready", "serving\n")
	for _, kind := range []ProbeKind{ProbeExec, ProbeHTTP, ProbeTCP} {
		p := h.Probe(t, f.sb, kind, true)
		waitFor(t, fmt.Sprintf("%s probe to pass", kind), func() bool {
			ok, _, err := rt.Probe(ctx, f.sb.UID, "ready", p)
			if err != nil {
				t.Fatalf("%s probe: %v", kind, err)
			}
			return ok
		})

		p = h.Probe(t, f.sb, kind, false)
		ok, reason, err := rt.Probe(ctx, f.sb.UID, "unready", p)
		if ok || reason == "" || err != nil {
			t.Errorf("%s probe of a container not ready = %v, %q, %v; want false, a reason, nil", kind, ok, reason, err)
		}
	}
	f.waitExited("exited", 0)
	if _, _, err := rt.Probe(ctx, f.sb.UID, "exited", h.Probe(t, f.sb, ProbeExec, true)); err == nil {
		t.Errorf("a probe of an exited container ran")
	}
}

// RunTestConcurrentPods: pods started at once all run, and Changes delivers
// each of their UIDs.
func RunTestConcurrentPods(t *testing.T, h Harness) {
	rt := h.New(t, t.TempDir())
	const n = 8
	pods := make([]*podFixture, n)
	for i := range pods {
		pods[i] = newPod(t, h, rt, 1, map[string]Behavior{"main": Exit0})
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, f := range pods {
		wg.Go(func() {
			errs <- rt.StartContainer(t.Context(), f.sb.UID, f.containers["main"][0], 0)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("StartContainer: %v", err)
		}
	}
	want := map[string]bool{}
	for _, f := range pods {
		want[f.sb.UID] = true
	}
	deadline := time.After(waitTimeout)
	for len(want) > 0 {
		select {
		case uid := <-rt.Changes():
			delete(want, uid)
		case <-deadline:
			t.Fatalf("Changes did not deliver %v", slices.Collect(maps.Keys(want)))
		}
	}
	for _, f := range pods {
		if st := f.waitExited("main", 0); st.ExitCode != 0 {
			t.Errorf("pod %s: %+v", f.sb.UID, st)
		}
	}
}

// podFixture is one pod whose containers the suite made from behaviours.
type podFixture struct {
	t          *testing.T
	rt         podruntime.Runtime
	pod        podruntime.Pod
	sb         podruntime.Sandbox
	containers map[string][]podruntime.Container // by name, then attempt
}

// newPod makes a sandbox for a pod of the given containers, each prepared
// for attempts starts.
func newPod(t *testing.T, h Harness, rt podruntime.Runtime, attempts int, behaviours map[string]Behavior) *podFixture {
	t.Helper()
	return newPodWith(t, h, rt, attempts, behaviours, nil)
}

// newPodWith is newPod for a pod that also has the annotations ann.
func newPodWith(t *testing.T, h Harness, rt podruntime.Runtime, attempts int, behaviours map[string]Behavior, ann map[string]string) *podFixture {
	t.Helper()
	f := &podFixture{t: t, rt: rt, containers: map[string][]podruntime.Container{}}
	ann = maps.Clone(ann)
	if ann == nil {
		ann = map[string]string{}
	}
	for name, b := range behaviours {
		for n := range attempts {
			a, c := h.Container(t, b, name, n)
			for k, v := range a {
				ann[k] = v
			}
			f.containers[name] = append(f.containers[name], c)
		}
	}
	uid := uuid.NewString()
	f.pod = podruntime.Pod{UID: uid, Namespace: "default", Name: "pod-" + uid[:8], Hostname: "pod-" + uid[:8], Annotations: ann}
	sb, err := rt.RunSandbox(t.Context(), f.pod)
	if err != nil {
		t.Fatalf("RunSandbox: %v", err)
	}
	f.sb = sb
	return f
}

func (f *podFixture) start(name string, attempt int) {
	f.t.Helper()
	if err := f.rt.StartContainer(f.t.Context(), f.sb.UID, f.containers[name][attempt], attempt); err != nil {
		f.t.Fatalf("StartContainer(%s, attempt %d): %v", name, attempt, err)
	}
}

func (f *podFixture) status(name string) podruntime.ContainerStatus {
	f.t.Helper()
	st, err := f.rt.Status(f.t.Context(), f.sb.UID)
	if err != nil {
		f.t.Fatalf("Status: %v", err)
	}
	if !sameSandbox(st.Sandbox, f.sb) {
		f.t.Errorf("Status sandbox = %+v, want %+v", st.Sandbox, f.sb)
	}
	for _, c := range st.Containers {
		if c.Name == name {
			return c
		}
	}
	f.t.Fatalf("Status has no container %q: %+v", name, st.Containers)
	return podruntime.ContainerStatus{}
}

// waitExited waits until the attempt of container name has exited.
func (f *podFixture) waitExited(name string, attempt int) podruntime.ContainerStatus {
	f.t.Helper()
	var st podruntime.ContainerStatus
	waitFor(f.t, fmt.Sprintf("%s attempt %d to exit", name, attempt), func() bool {
		st = f.status(name)
		return st.Attempt == attempt && st.State == podruntime.StateExited
	})
	if st.FinishedAt.Before(st.StartedAt) || st.StartedAt.IsZero() {
		f.t.Errorf("exited status %+v: want StartedAt <= FinishedAt", st)
	}
	return st
}

func (f *podFixture) logs(name string, o podruntime.LogOptions) string {
	f.t.Helper()
	rc, err := f.rt.Logs(f.t.Context(), f.sb.UID, name, o)
	if err != nil {
		f.t.Fatalf("Logs(%s, %+v): %v", name, o, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		f.t.Fatalf("reading the log of %s: %v", name, err)
	}
	return string(b)
}

// waitLog waits until the log of container name is want.
func (f *podFixture) waitLog(name, want string) {
	f.t.Helper()
	var got string
	waitFor(f.t, fmt.Sprintf("the log of %s to be %q", name, want), func() bool {
		got = f.logs(name, all)
		return got == want
	})
}

// waitFor polls cond until it holds, failing the test after waitTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitChange waits until Changes delivers uid.
func waitChange(t *testing.T, rt podruntime.Runtime, uid string) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case got := <-rt.Changes():
			if got == uid {
				return
			}
		case <-deadline:
			t.Fatalf("Changes did not deliver %s", uid)
		}
	}
}

// readLine reads one line, failing the test if that takes waitTimeout.
func readLine(t *testing.T, br *bufio.Reader) (string, error) {
	t.Helper()
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := br.ReadString('\n')
		ch <- result{line, err}
	}()
	select {
	case r := <-ch:
		return r.line, r.err
	case <-time.After(waitTimeout):
		t.Fatalf("no line within %v", waitTimeout)
		return "", nil
	}
}

func mustSandboxes(t *testing.T, rt podruntime.Runtime) []podruntime.Sandbox {
	t.Helper()
	list, err := rt.Sandboxes(t.Context())
	if err != nil {
		t.Fatalf("Sandboxes: %v", err)
	}
	return list
}

func findSandbox(list []podruntime.Sandbox, uid string) (podruntime.Sandbox, bool) {
	for _, sb := range list {
		if sb.UID == uid {
			return sb, true
		}
	}
	return podruntime.Sandbox{}, false
}

func sameSandbox(a, b podruntime.Sandbox) bool {
	return a.UID == b.UID && a.Namespace == b.Namespace && a.Name == b.Name && a.IP == b.IP && a.Created.Equal(b.Created)
}

// processGone says process pid has exited: /proc has no such process, or
// it is a zombie waiting for its parent.
func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the command name, which is in parentheses.
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z'
}
