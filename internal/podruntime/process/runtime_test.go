//go:build linux

package process_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"cella.dev/cella/internal/podruntime"
	"cella.dev/cella/internal/podruntime/process"
)

const waitTimeout = 30 * time.Second

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

func sandbox(t *testing.T, rt podruntime.Runtime, uid string) podruntime.Sandbox {
	t.Helper()
	sb, err := rt.RunSandbox(t.Context(), podruntime.Pod{UID: uid, Namespace: "default", Name: uid})
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

func start(t *testing.T, rt podruntime.Runtime, uid string, c podruntime.Container, n int) {
	t.Helper()
	if err := rt.StartContainer(t.Context(), uid, c, n); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
}

func containerStatus(t *testing.T, rt podruntime.Runtime, uid, name string) podruntime.ContainerStatus {
	t.Helper()
	st, err := rt.Status(t.Context(), uid)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %q in %+v", name, st.Containers)
	return podruntime.ContainerStatus{}
}

func waitExited(t *testing.T, rt podruntime.Runtime, uid, name string) podruntime.ContainerStatus {
	t.Helper()
	var st podruntime.ContainerStatus
	waitFor(t, name+" to exit", func() bool {
		st = containerStatus(t, rt, uid, name)
		return st.State == podruntime.StateExited
	})
	return st
}

func logs(t *testing.T, rt podruntime.Runtime, uid, name string, o podruntime.LogOptions) string {
	t.Helper()
	rc, err := rt.Logs(t.Context(), uid, name, o)
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

var everything = podruntime.LogOptions{TailLines: -1}

func waitLog(t *testing.T, rt podruntime.Runtime, uid, name, want string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("the log of %s to be %q", name, want), func() bool {
		return logs(t, rt, uid, name, everything) == want
	})
}

// startedIDs reads the PIDs of attempt n's shim and process from its
// started file.
func startedIDs(t *testing.T, dir, uid, name string, n int) (shim, proc int) {
	t.Helper()
	var st struct {
		Shim, Process struct{ PID int }
	}
	b, err := os.ReadFile(filepath.Join(dir, uid, "containers", name, strconv.Itoa(n)+".started.json"))
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		t.Fatal(err)
	}
	return st.Shim.PID, st.Process.PID
}

// gone says process pid has exited: /proc has no such process, or it is a
// zombie waiting for its parent.
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z'
}

// A container without a command is a config error the agent can report.
func TestNoCommand(t *testing.T) {
	rt := newRuntime(t, t.TempDir())
	sandbox(t, rt, "p")
	err := rt.StartContainer(t.Context(), "p", podruntime.Container{Name: "nginx"}, 0)
	if !errors.Is(err, podruntime.ErrInvalid) || !strings.Contains(err.Error(), "the process runtime runs a container's command") || !strings.Contains(err.Error(), "images come with a later version") {
		t.Errorf("StartContainer without a command: %v", err)
	}
}

// A command that cannot be started is an error of StartContainer (not a
// config error) and leaves no attempt behind.
func TestCommandNotFound(t *testing.T) {
	rt := newRuntime(t, t.TempDir())
	sandbox(t, rt, "p")
	c := shell(t, "c", "")
	c.Command = []string{"no-such-program-anywhere"}
	err := rt.StartContainer(t.Context(), "p", c, 0)
	if err == nil || errors.Is(err, podruntime.ErrInvalid) || !strings.Contains(err.Error(), `"no-such-program-anywhere": executable file not found in $PATH`) {
		t.Fatalf("StartContainer of a missing program: %v", err)
	}
	if st, _ := rt.Status(t.Context(), "p"); len(st.Containers) != 0 {
		t.Errorf("a failed start left %+v", st.Containers)
	}
	start(t, rt, "p", shell(t, "c", "echo fine"), 0)
	if st := waitExited(t, rt, "p", "c"); st.ExitCode != 0 {
		t.Errorf("status = %+v", st)
	}
}

// The command gets its environment (a default PATH when it has none) and
// working directory, and both streams are logged; a line longer than a
// record is written in parts and read back whole.
func TestEnvironmentAndOutput(t *testing.T) {
	rt := newRuntime(t, t.TempDir())
	sandbox(t, rt, "p")
	c := shell(t, "env", `echo "$FOO $PWD"; echo oops >&2`)
	c.Env = append(c.Env, "FOO=bar")
	start(t, rt, "p", c, 0)
	waitExited(t, rt, "p", "env")
	// Two pipes: the order between the streams is not kept.
	got := strings.Split(logs(t, rt, "p", "env", everything), "\n")
	slices.Sort(got)
	if want := []string{"", "bar " + c.WorkingDir, "oops"}; !slices.Equal(got, want) {
		t.Errorf("log lines = %q, want %q", got, want)
	}
	bare := podruntime.Container{Name: "bare", Command: []string{"sh", "-c", `echo "$PATH"`}, WorkingDir: workDir(t)}
	start(t, rt, "p", bare, 0)
	waitExited(t, rt, "p", "bare")
	if got := logs(t, rt, "p", "bare", everything); got != "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n" {
		t.Errorf("PATH of a container without one = %q", got)
	}
	long := shell(t, "long", `head -c 40000 /dev/zero | tr '\0' x; echo; printf tail`)
	start(t, rt, "p", long, 0)
	waitExited(t, rt, "p", "long")
	if got, want := logs(t, rt, "p", "long", everything), strings.Repeat("x", 40000)+"\ntail\n"; got != want {
		t.Errorf("log of a long line: %d bytes, want %d", len(got), len(want))
	}
}

// Logs rotate at MaxLogBytes, one rotated file is kept, and Logs reads
// across both.
func TestLogRotation(t *testing.T) {
	dir := t.TempDir()
	rt, err := process.New(process.Config{Dir: dir, Shim: testShim, MaxLogBytes: 4096, Plain: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	sandbox(t, rt, "p")
	start(t, rt, "p", shell(t, "c", `i=1; while [ $i -le 500 ]; do echo "line $i"; i=$((i+1)); done`), 0)
	waitExited(t, rt, "p", "c")

	cdir := filepath.Join(dir, "p", "containers", "c")
	files, _ := filepath.Glob(filepath.Join(cdir, "0.log*"))
	if len(files) != 2 {
		t.Fatalf("log files %v; want the log and one rotated file", files)
	}
	record := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stdout F line \d+$`)
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if len(b) > 4096 {
			t.Errorf("%s holds %d bytes, over the 4096 of MaxLogBytes", f, len(b))
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if !record.MatchString(line) {
				t.Fatalf("%s: line %q is not a CRI log record", f, line)
			}
		}
	}
	lines := strings.Split(strings.TrimSuffix(logs(t, rt, "p", "c", everything), "\n"), "\n")
	first, _ := strconv.Atoi(strings.TrimPrefix(lines[0], "line "))
	if first <= 1 || lines[len(lines)-1] != "line 500" {
		t.Fatalf("log from %q to %q; want the end, without the start rotated away", lines[0], lines[len(lines)-1])
	}
	for i, line := range lines {
		if line != fmt.Sprintf("line %d", first+i) {
			t.Fatalf("line %d of the log is %q, want line %d: the rotated file and the log do not join", i, line, first+i)
		}
	}
	if got := logs(t, rt, "p", "c", podruntime.LogOptions{TailLines: 2}); got != "line 499\nline 500\n" {
		t.Errorf("TailLines 2 = %q", got)
	}
	// TruncateLog empties both files.
	if err := rt.TruncateLog(t.Context(), "p", "c"); err != nil {
		t.Fatal(err)
	}
	if got := logs(t, rt, "p", "c", everything); got != "" {
		t.Errorf("log after TruncateLog = %q", got)
	}
}

// childEnv switches the test binary into startGated: a Cella that starts a
// container and exits, leaving it running.
const childEnv = "CELLA_TEST_START_GATED"

// startGated runs in a child process: it starts, in the sandbox of pod p in
// dir, a container that prints one, waits for the file gate in its working
// directory, prints two and exits 7.
func startGated(dir, workdir string) error {
	rt, err := process.New(process.Config{Dir: dir, Shim: testShim, Plain: true})
	if err != nil {
		return err
	}
	defer rt.Close()
	ctx := context.Background()
	if _, err := rt.RunSandbox(ctx, podruntime.Pod{UID: "p", Namespace: "default", Name: "p"}); err != nil {
		return err
	}
	c := podruntime.Container{
		Name:       "c",
		Command:    []string{"sh", "-c", "echo one; while [ ! -e gate ]; do sleep 0.02; done; echo two; exit 7"},
		WorkingDir: workdir,
	}
	return rt.StartContainer(ctx, "p", c, 0)
}

// A Cella that exits leaves its containers running; the next adopts them
// (their shims are no children of it), sees them exit and reads their exit
// codes.
func TestAdoptionAfterExit(t *testing.T) {
	dir, workdir := t.TempDir(), workDir(t)
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childEnv+"="+dir+"\n"+workdir)
	if out, err := child.CombinedOutput(); err != nil {
		t.Fatalf("the first Cella: %v\n%s", err, out)
	}
	rt := newRuntime(t, dir)
	st := containerStatus(t, rt, "p", "c")
	if st.State != podruntime.StateRunning || st.PID == 0 {
		t.Fatalf("adopted status = %+v; want it running", st)
	}
	shimPID, _ := startedIDs(t, dir, "p", "c", 0)
	if ppid := parentOf(t, shimPID); ppid == os.Getpid() {
		t.Fatalf("the shim is a child of this process: the test proves nothing")
	}
	waitLog(t, rt, "p", "c", "one\n")
	if err := os.WriteFile(filepath.Join(workdir, "gate"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case uid := <-rt.Changes():
		if uid != "p" {
			t.Errorf("Changes delivered %q", uid)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("Changes did not deliver the exit of an adopted container")
	}
	st = containerStatus(t, rt, "p", "c")
	if st.State != podruntime.StateExited || st.ExitCode != 7 || st.Reason != "Error" {
		t.Errorf("status = %+v; want exited 7", st)
	}
	if got := logs(t, rt, "p", "c", everything); got != "one\ntwo\n" {
		t.Errorf("log = %q", got)
	}
}

func parentOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}

// The shim passes SIGTERM on to the container's process group.
func TestShimForwardsSIGTERM(t *testing.T) {
	dir := t.TempDir()
	rt := newRuntime(t, dir)
	sandbox(t, rt, "p")
	start(t, rt, "p", shell(t, "c", `trap 'echo got TERM; exit 0' TERM; echo ready; while :; do sleep 1 & wait $!; done 2>/dev/null`), 0)
	waitLog(t, rt, "p", "c", "ready\n")
	shimPID, _ := startedIDs(t, dir, "p", "c", 0)
	if err := syscall.Kill(shimPID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	st := waitExited(t, rt, "p", "c")
	if st.ExitCode != 0 {
		t.Errorf("status = %+v; want exit 0 from the trap", st)
	}
	if got := logs(t, rt, "p", "c", everything); got != "ready\ngot TERM\n" {
		t.Errorf("log = %q", got)
	}
}

// When the main process exits, the rest of its group is killed, as a PID
// namespace would: a background process holding the output open does not
// keep the container running.
func TestGroupEndsWithMain(t *testing.T) {
	rt := newRuntime(t, t.TempDir())
	sandbox(t, rt, "p")
	c := shell(t, "c", `sleep 300 & echo $! > bg; echo started`)
	start(t, rt, "p", c, 0)
	if st := waitExited(t, rt, "p", "c"); st.ExitCode != 0 {
		t.Errorf("status = %+v", st)
	}
	b, err := os.ReadFile(filepath.Join(c.WorkingDir, "bg"))
	if err != nil {
		t.Fatal(err)
	}
	bg, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	waitFor(t, "the background process to be killed", func() bool { return gone(bg) })
	if got := logs(t, rt, "p", "c", everything); got != "started\n" {
		t.Errorf("log = %q", got)
	}
}

// A shim that is killed cannot record the exit: the container is killed
// too and reported exited with 137 and a message that says why.
func TestLostShim(t *testing.T) {
	dir := t.TempDir()
	rt := newRuntime(t, dir)
	sandbox(t, rt, "p")
	start(t, rt, "p", shell(t, "c", fmt.Sprintf(serveScript, "")), 0)
	waitLog(t, rt, "p", "c", "serving\n")
	shimPID, pid := startedIDs(t, dir, "p", "c", 0)
	if err := syscall.Kill(shimPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st := waitExited(t, rt, "p", "c")
	if st.ExitCode != 137 || !strings.Contains(st.Message, "shim ended without recording its exit") {
		t.Errorf("status = %+v", st)
	}
	waitFor(t, "the container to be killed", func() bool { return gone(pid) })
}

// A state that names a live process which is not the container's (its PID
// reused: another start time, or another boot) makes the container exited,
// and that process is never signalled.
func TestPIDReuseGuard(t *testing.T) {
	stranger := exec.Command("sleep", "300")
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stranger.Process.Kill(); stranger.Wait() })
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(stranger.Process.Pid) + "/stat")
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	realStart, _ := strconv.ParseUint(fields[19], 10, 64)
	bootID, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")

	for _, tc := range []struct {
		name  string
		boot  string
		start uint64
	}{
		{"another start time", strings.TrimSpace(string(bootID)), realStart + 1},
		{"another boot", "00000000-0000-0000-0000-000000000000", realStart},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cdir := filepath.Join(dir, "p", "containers", "c")
			if err := os.MkdirAll(cdir, 0o700); err != nil {
				t.Fatal(err)
			}
			writeJSON(t, filepath.Join(dir, "p", "sandbox.json"), map[string]any{
				"uid": "p", "namespace": "default", "name": "p", "ip": "127.9.9.9", "created": time.Now(),
			})
			id := map[string]any{"pid": stranger.Process.Pid, "start": tc.start}
			writeJSON(t, filepath.Join(cdir, "0.started.json"), map[string]any{
				"bootID": tc.boot, "shim": id, "process": id, "startedAt": time.Now().Add(-time.Minute),
			})
			if err := os.WriteFile(filepath.Join(cdir, "0.log"), nil, 0o600); err != nil {
				t.Fatal(err)
			}

			rt := newRuntime(t, dir)
			st := containerStatus(t, rt, "p", "c")
			if st.State != podruntime.StateExited || st.ExitCode != 137 {
				t.Errorf("status = %+v; want exited: the process is not the container's", st)
			}
			if err := rt.StopContainer(t.Context(), "p", "c", 0); err != nil {
				t.Error(err)
			}
			if err := rt.RemoveSandbox(t.Context(), "p"); err != nil {
				t.Error(err)
			}
			if gone(stranger.Process.Pid) {
				t.Fatalf("a process with a reused PID was killed")
			}
		})
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err == nil {
		err = os.WriteFile(path, b, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// Exec probes run with the container's environment and working directory
// and fail when they time out; httpGet probes send the probe's headers and
// pass on a redirect; gRPC probes are not supported yet.
func TestProbeDetails(t *testing.T) {
	rt := newRuntime(t, t.TempDir())
	sb := sandbox(t, rt, "p")
	c := shell(t, "c", fmt.Sprintf(serveScript, ""))
	c.Env = append(c.Env, "FOO=bar")
	start(t, rt, "p", c, 0)
	waitLog(t, rt, "p", "c", "serving\n")
	ctx := t.Context()

	for _, tc := range []struct {
		name   string
		probe  podruntime.Probe
		ok     bool
		reason string
	}{
		{"env and dir", podruntime.Probe{Exec: []string{"sh", "-c", `test "$FOO" = bar && test "$PWD" = ` + c.WorkingDir}}, true, ""},
		{"output as reason", podruntime.Probe{Exec: []string{"sh", "-c", "echo not healthy; exit 1"}}, false, "not healthy"},
		{"silent failure", podruntime.Probe{Exec: []string{"false"}}, false, `command "false" exited with code 1`},
		{"timeout", podruntime.Probe{Exec: []string{"sleep", "30"}, Timeout: 100 * time.Millisecond}, false, "timed out after 100ms"},
	} {
		ok, reason, err := rt.Probe(ctx, "p", "c", tc.probe)
		if ok != tc.ok || !strings.Contains(reason, tc.reason) || err != nil {
			t.Errorf("%s: Probe = %v, %q, %v; want %v, %q", tc.name, ok, reason, err, tc.ok, tc.reason)
		}
	}
	if _, _, err := rt.Probe(ctx, "p", "c", podruntime.Probe{Exec: []string{"no-such-probe-program"}}); err == nil {
		t.Errorf("an exec probe of a missing program ran")
	}

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Probe") != "yes" || r.Host != "example.test" || !strings.HasPrefix(r.UserAgent(), "kube-probe/") {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, "http://elsewhere.test/", http.StatusFound)
	}))
	srv.Listener = listen(t, sb.IP)
	srv.Start()
	defer srv.Close()
	p := podruntime.Probe{HTTPGet: &podruntime.HTTPGet{Port: port(srv.Listener), Path: "healthz", Headers: map[string]string{"X-Probe": "yes", "Host": "example.test"}}}
	if ok, reason, err := rt.Probe(ctx, "p", "c", p); !ok || err != nil {
		t.Errorf("httpGet probe = %v, %q, %v; want a pass", ok, reason, err)
	}
	p.HTTPGet.Headers = nil
	if ok, reason, err := rt.Probe(ctx, "p", "c", p); ok || reason != "HTTP probe failed with statuscode: 400" || err != nil {
		t.Errorf("httpGet probe without the headers = %v, %q, %v", ok, reason, err)
	}
}

// Each pod has a loopback address of its own outside 127.0.0.0/16, kept
// across a restart; Info says pods are not isolated and why.
func TestAddressesAndInfo(t *testing.T) {
	dir := t.TempDir()
	rt := newRuntime(t, dir)
	seen := map[string]bool{}
	for i := range 5 {
		sb := sandbox(t, rt, "pod-"+strconv.Itoa(i))
		addr := netip.MustParseAddr(sb.IP)
		if !netip.MustParsePrefix("127.0.0.0/8").Contains(addr) || netip.MustParsePrefix("127.0.0.0/16").Contains(addr) || seen[sb.IP] {
			t.Errorf("pod %d got %s", i, sb.IP)
		}
		seen[sb.IP] = true
	}
	rt.Close()
	again := newRuntime(t, dir)
	list, _ := again.Sandboxes(t.Context())
	if len(list) != 5 {
		t.Fatalf("after a restart: %d sandboxes", len(list))
	}
	for _, sb := range list {
		if !seen[sb.IP] {
			t.Errorf("after a restart %s has %s", sb.UID, sb.IP)
		}
	}
	info := again.Info()
	if info.Name != "process" || info.Isolated || !strings.Contains(info.Why, "plain host processes") {
		t.Errorf("Info = %+v", info)
	}
}

// A gRPC probe asks the standard health service on the pod's IP: SERVING
// passes, another status fails naming it, a closed port fails to connect,
// and the service the probe names is the one asked about.
func TestProbeGRPC(t *testing.T) {
	rt := newRuntime(t, t.TempDir())
	sb := sandbox(t, rt, "p")
	start(t, rt, "p", shell(t, "c", fmt.Sprintf(serveScript, "")), 0)
	waitLog(t, rt, "p", "c", "serving\n")
	ctx := t.Context()

	ln := listen(t, sb.IP)
	hs := health.NewServer()
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
	closed := listen(t, sb.IP)
	closed.Close()

	for _, tc := range []struct {
		name   string
		probe  podruntime.Probe
		ok     bool
		reason string
	}{
		{"serving", podruntime.Probe{GRPCPort: port(ln)}, true, ""},
		{"not serving", podruntime.Probe{GRPCPort: port(ln), GRPCService: "db"}, false, `service unhealthy (responded with "NOT_SERVING")`},
		{"unknown service", podruntime.Probe{GRPCPort: port(ln), GRPCService: "nosuch"}, false, "error: health rpc probe failed: rpc error: code = NotFound"},
		{"closed port", podruntime.Probe{GRPCPort: port(closed), Timeout: 500 * time.Millisecond}, false, "timeout: failed to connect service"},
	} {
		ok, reason, err := rt.Probe(ctx, "p", "c", tc.probe)
		if ok != tc.ok || !strings.Contains(reason, tc.reason) || err != nil {
			t.Errorf("%s: Probe = %v, %q, %v; want %v, %q", tc.name, ok, reason, err, tc.ok, tc.reason)
		}
	}
}
