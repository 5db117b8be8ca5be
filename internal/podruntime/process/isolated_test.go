//go:build linux

package process_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"cella.dev/cella/internal/podruntime"
	"cella.dev/cella/internal/podruntime/process"
	"cella.dev/cella/internal/podruntime/runtimetest"
)

// newIsolated returns a runtime on dir that isolates pods, as Cella does
// when it runs as root on Linux; the test is skipped otherwise.
func newIsolated(t *testing.T, dir string) *process.Runtime {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("isolation needs root: run the tests as root to check it")
	}
	rt := startRuntime(t, process.Config{Dir: dir, Shim: testShim})
	if info := rt.Info(); !info.Isolated {
		t.Fatalf("a runtime of root is not isolated: %s", info.Why)
	}
	isolatedDirs.Store(dir, true)
	return rt
}

// isolatedDirs are the state directories of isolated runtimes, where the
// harness finds a sandbox's network namespace.
var isolatedDirs sync.Map

// netnsOf returns the network namespace file of the isolated sandbox uid.
func netnsOf(t *testing.T, uid string) string {
	t.Helper()
	var found string
	isolatedDirs.Range(func(dir, _ any) bool {
		p := filepath.Join(dir.(string), uid, "netns")
		if _, err := os.Stat(p); err == nil {
			found = p
			return false
		}
		return true
	})
	if found == "" {
		t.Fatalf("no network namespace for pod %s", uid)
	}
	return found
}

// listenIn listens on a free port of ip in the network namespace on
// nsPath, as a container of the pod would.
func listenIn(t *testing.T, nsPath, ip string) net.Listener {
	t.Helper()
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// Never unlocked: the thread is left in the pod's namespace and
		// ends with this goroutine.
		runtime.LockOSThread()
		ns, err := netns.GetFromPath(nsPath)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			ch <- result{err: err}
			return
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		ch <- result{ln, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { r.ln.Close() })
	return r.ln
}

// isolatedShell is shell for an isolated container: its working directory
// is mounted at the same path (under its own /tmp it would not be there).
func isolatedShell(t *testing.T, name, script string) podruntime.Container {
	c := shell(t, name, script)
	c.Mounts = append(c.Mounts, podruntime.Mount{HostPath: c.WorkingDir, ContainerPath: c.WorkingDir})
	return c
}

// tool returns a container that runs this test binary's tool (runTool)
// with args; the binary's directory is mounted at its path.
func tool(t *testing.T, name string, args ...string) podruntime.Container {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := isolatedShell(t, name, "")
	c.Command = append([]string{exe, toolArg}, args...)
	c.Mounts = append(c.Mounts, podruntime.Mount{HostPath: filepath.Dir(exe), ContainerPath: filepath.Dir(exe), ReadOnly: true})
	return c
}

var isolatedHarness = func() runtimetest.Harness {
	h := harness
	h.New = func(t *testing.T, dir string) podruntime.Runtime { return newIsolated(t, dir) }
	plain := harness.Container
	h.Container = func(t *testing.T, b runtimetest.Behavior, name string, attempt int) (map[string]string, podruntime.Container) {
		ann, c := plain(t, b, name, attempt)
		c.Mounts = append(c.Mounts, podruntime.Mount{HostPath: c.WorkingDir, ContainerPath: c.WorkingDir})
		return ann, c
	}
	h.Probe = func(t *testing.T, sb podruntime.Sandbox, kind runtimetest.ProbeKind, ready bool) podruntime.Probe {
		switch kind {
		case runtimetest.ProbeHTTP:
			code := http.StatusServiceUnavailable
			if ready {
				code = http.StatusOK
			}
			ln := listenIn(t, netnsOf(t, sb.UID), sb.IP)
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(code)
			})}
			go srv.Serve(ln)
			t.Cleanup(func() { srv.Close() })
			return podruntime.Probe{HTTPGet: &podruntime.HTTPGet{Port: port(ln), Path: "/healthz"}}
		case runtimetest.ProbeTCP:
			ln := listenIn(t, netnsOf(t, sb.UID), sb.IP)
			if !ready {
				ln.Close()
			}
			return podruntime.Probe{TCPPort: port(ln)}
		}
		return harness.Probe(t, sb, kind, ready)
	}
	return h
}()

func TestContractIsolated(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("isolation needs root: run the tests as root to check it")
	}
	runtimetest.Run(t, isolatedHarness)
}

// podWith makes an isolated sandbox for pod uid and starts containers in
// it.
func podWith(t *testing.T, rt podruntime.Runtime, p podruntime.Pod, cs ...podruntime.Container) podruntime.Sandbox {
	t.Helper()
	if p.Namespace == "" {
		p.Namespace, p.Name = "default", p.UID
	}
	sb, err := rt.RunSandbox(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		start(t, rt, p.UID, c, 0)
	}
	return sb
}

// Each container is PID 1 of its own PID namespace, and has the pod's
// host name, /etc/hosts and /etc/hostname.
func TestIsolatedNamespaces(t *testing.T) {
	rt := newIsolated(t, t.TempDir())
	script := `echo "pid $$"; tr '\0' ' ' </proc/1/cmdline; echo; echo "host $(cat /proc/sys/kernel/hostname)"; cat /etc/hostname; grep web /etc/hosts; ls /proc | grep -c '^[0-9]'`
	sb := podWith(t, rt, podruntime.Pod{UID: "p", Hostname: "web"}, isolatedShell(t, "a", script), isolatedShell(t, "b", script))
	for _, name := range []string{"a", "b"} {
		if st := waitExited(t, rt, "p", name); st.ExitCode != 0 {
			t.Fatalf("%s: %+v\n%s", name, st, logs(t, rt, "p", name, everything))
		}
		got := strings.Split(logs(t, rt, "p", name, everything), "\n")
		want := []string{"pid 1", "sh -c " + script + " ", "host web", "web", sb.IP + "\tweb"}
		if len(got) < 6 || !slicesEqual(got[:5], want) {
			t.Errorf("%s printed %q; want it to start with %q", name, got, want)
			continue
		}
		// sh, and the ls and grep of the pipeline: not the host's processes.
		if n, _ := strconv.Atoi(got[5]); n > 4 {
			t.Errorf("%s sees %d processes", name, n)
		}
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var _ = errors.New
var _ = fmt.Sprint
var _ = io.EOF
var _ = bufio.NewReader
var _ = json.Marshal
var _ = netip.Addr{}
var _ = netlink.LinkByName
var _ = time.Second
