//go:build linux

package process_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

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

// sandboxRecord reads what sandbox.json says an isolated sandbox is made
// of.
type sandboxRecord struct {
	IP        string
	Isolation struct {
		Veth, Reservation string
		Cgroup            map[string]string
	}
}

func readRecord(t *testing.T, dir, uid string) sandboxRecord {
	t.Helper()
	var rec sandboxRecord
	b, err := os.ReadFile(filepath.Join(dir, uid, "sandbox.json"))
	if err == nil {
		err = json.Unmarshal(b, &rec)
	}
	if err != nil {
		t.Fatal(err)
	}
	if rec.Isolation.Veth == "" || rec.Isolation.Reservation == "" || len(rec.Isolation.Cgroup) == 0 {
		t.Fatalf("sandbox.json of %s records no isolation: %+v", uid, rec)
	}
	return rec
}

// dialPod connects to addr and returns the first line it reads.
func dialPod(addr string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	return bufio.NewReader(conn).ReadString('\n')
}

// A pod's containers share its network: they reach each other on
// localhost, and the host reaches them on the pod IP, which is from the
// pod network (the default, or the pod's own). Another pod does not see
// the port on its localhost, but reaches it on the pod IP. A restarted
// runtime adopts the running pod with its network; RemoveSandbox leaves
// no veth, namespace, cgroup or reservation behind.
func TestIsolatedNetwork(t *testing.T) {
	dir := t.TempDir()
	rt := newIsolated(t, dir)
	sb := podWith(t, rt, podruntime.Pod{UID: "p", Hostname: "web"}, tool(t, "server", "listen", "0.0.0.0:8080"))
	waitLog(t, rt, "p", "server", "listening\n")
	ip := netip.MustParseAddr(sb.IP)
	if !netip.MustParsePrefix(process.DefaultCIDR).Contains(ip) || ip == netip.MustParseAddr("10.88.0.1") {
		t.Errorf("pod IP %s: want one of %s other than the gateway", ip, process.DefaultCIDR)
	}
	podAddr := net.JoinHostPort(sb.IP, "8080")
	if line, err := dialPod(podAddr); line != "hello from web\n" || err != nil {
		t.Fatalf("from the host to %s: %q, %v", podAddr, line, err)
	}

	start(t, rt, "p", tool(t, "client", "dial", "127.0.0.1:8080"), 0)
	if st := waitExited(t, rt, "p", "client"); st.ExitCode != 0 || logs(t, rt, "p", "client", everything) != "hello from web\n" {
		t.Errorf("a container dialling its pod's localhost: %+v, %q", st, logs(t, rt, "p", "client", everything))
	}

	other := podWith(t, rt, podruntime.Pod{UID: "q"},
		tool(t, "local", "dial", "127.0.0.1:8080"),
		tool(t, "remote", "dial", podAddr))
	if other.IP == sb.IP {
		t.Fatalf("two pods have %s", sb.IP)
	}
	if st := waitExited(t, rt, "q", "local"); st.ExitCode != 1 || !strings.Contains(logs(t, rt, "q", "local", everything), "connection refused") {
		t.Errorf("another pod dialling its localhost reached something: %+v, %q", st, logs(t, rt, "q", "local", everything))
	}
	if st := waitExited(t, rt, "q", "remote"); st.ExitCode != 0 || logs(t, rt, "q", "remote", everything) != "hello from web\n" {
		t.Errorf("another pod dialling the pod IP: %+v, %q", st, logs(t, rt, "q", "remote", everything))
	}

	own := podWith(t, rt, podruntime.Pod{UID: "r", Hostname: "own", CIDR: "10.89.7.0/24"}, tool(t, "server", "listen", ":8080"))
	if !netip.MustParsePrefix("10.89.7.0/24").Contains(netip.MustParseAddr(own.IP)) {
		t.Errorf("pod IP %s: want one of its own network 10.89.7.0/24", own.IP)
	}
	waitLog(t, rt, "r", "server", "listening\n")
	if line, err := dialPod(net.JoinHostPort(own.IP, "8080")); line != "hello from own\n" || err != nil {
		t.Errorf("from the host to a pod of its own network: %q, %v", line, err)
	}

	before := containerStatus(t, rt, "p", "server")
	rt.Close()
	rt = newIsolated(t, dir)
	if st := containerStatus(t, rt, "p", "server"); st.State != podruntime.StateRunning || st.PID != before.PID {
		t.Fatalf("after a restart: %+v, want it running as %+v", st, before)
	}
	if line, err := dialPod(podAddr); line != "hello from web\n" || err != nil {
		t.Fatalf("after a restart, from the host to %s: %q, %v", podAddr, line, err)
	}

	rec := readRecord(t, dir, "p")
	if err := rt.RemoveSandbox(t.Context(), "p"); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(rec.Isolation.Veth); err == nil {
		t.Errorf("veth %s is still there", rec.Isolation.Veth)
	}
	for _, path := range []string{filepath.Join(dir, "p"), rec.Isolation.Reservation} {
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there: %v", path, err)
		}
	}
	for _, cg := range rec.Isolation.Cgroup {
		if _, err := os.Stat(cg); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s is still there: %v", cg, err)
		}
	}
	if _, err := dialPod(podAddr); err == nil {
		t.Errorf("%s answers after RemoveSandbox", podAddr)
	}
}

// A container that allocates past its memory limit is killed by the
// kernel and reported OOMKilled; the limits are in its cgroup.
func TestIsolatedMemoryLimit(t *testing.T) {
	rt := newIsolated(t, t.TempDir())
	hog := isolatedShell(t, "hog", `x=$(head -c 300m /dev/zero | tr '\0' a); echo survived`)
	hog.Resources.MemoryBytes = 32 << 20
	limited := isolatedShell(t, "limited", fmt.Sprintf(serveScript, ""))
	limited.Resources = podruntime.Resources{MemoryBytes: 64 << 20, MilliCPU: 250}
	podWith(t, rt, podruntime.Pod{UID: "p"}, hog, limited)

	st := waitExited(t, rt, "p", "hog")
	if st.Reason != "OOMKilled" || st.ExitCode != 137 {
		t.Errorf("status = %+v; want OOMKilled, exit code 137\n%s", st, logs(t, rt, "p", "hog", everything))
	}

	waitLog(t, rt, "p", "limited", "serving\n")
	pid := containerStatus(t, rt, "p", "limited").PID
	mem, cpu := cgroupLimits(t, pid)
	if mem != strconv.Itoa(64<<20) || cpu != "25000" {
		t.Errorf("cgroup limits of a container of 64Mi and 250m: memory %s, CPU quota %s", mem, cpu)
	}
}

// A container's processes, its command and what that starts, are in the
// container's cgroup in every hierarchy the pod's cgroup has (under
// cgroup v1 the init enters the v1 ones itself, and is moved into the
// unified one of a hybrid host).
func TestIsolatedCgroupHierarchies(t *testing.T) {
	dir := t.TempDir()
	rt := newIsolated(t, dir)
	c := isolatedShell(t, "c", "sleep 600 & echo started; wait")
	podWith(t, rt, podruntime.Pod{UID: "p"}, c)
	waitLog(t, rt, "p", "c", "started\n")
	pid := containerStatus(t, rt, "p", "c").PID
	rec := readRecord(t, dir, "p")
	for hierarchy, pod := range rec.Isolation.Cgroup {
		b, err := os.ReadFile(filepath.Join(pod, "c-c", "cgroup.procs"))
		if err != nil {
			t.Errorf("hierarchy %q: %v", hierarchy, err)
			continue
		}
		procs := strings.Fields(string(b))
		// The command (PID 1 of the container) and its sleep.
		if len(procs) != 2 || !slices.Contains(procs, strconv.Itoa(pid)) {
			t.Errorf("hierarchy %q: the container's cgroup holds %v; want %d and its child", hierarchy, procs, pid)
		}
	}
}

// cgroupLimits reads the memory limit and CPU quota of the cgroup of
// process pid.
func cgroupLimits(t *testing.T, pid int) (mem, cpu string) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	v2 := false
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		v2 = true
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		switch {
		case v2 && parts[0] == "0":
			dir := filepath.Join("/sys/fs/cgroup", parts[2])
			quota, _, _ := strings.Cut(read(filepath.Join(dir, "cpu.max")), " ")
			return read(filepath.Join(dir, "memory.max")), quota
		case !v2 && parts[1] == "memory":
			mem = read(filepath.Join("/sys/fs/cgroup/memory", parts[2], "memory.limit_in_bytes"))
		case !v2 && (parts[1] == "cpu" || parts[1] == "cpu,cpuacct"):
			cpu = read(filepath.Join("/sys/fs/cgroup", parts[1], parts[2], "cpu.cfs_quota_us"))
		}
	}
	return mem, cpu
}

// A container sees the host's files with its volumes at their mount paths
// (read-only when asked), a /tmp and a /dev of its own, and its
// termination message file; an exec probe runs in its namespaces and sees
// what it sees.
func TestIsolatedFiles(t *testing.T) {
	rt := newIsolated(t, t.TempDir())
	vol, ro := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "greeting"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostOnly, err := os.CreateTemp("", "host-only-")
	if err != nil {
		t.Fatal(err)
	}
	hostOnly.Close()
	defer os.Remove(hostOnly.Name())
	_, hostLog := os.Stat("/dev/termination-log")

	script := `cat /tmp/vol/greeting; echo written > /tmp/vol/out
if echo x 2>/dev/null > /opt-ro-test/f; then echo read-only volume written; fi
test -e ` + hostOnly.Name() + ` && echo the host's /tmp is visible
test -c /dev/null && test -e /dev/pts/ptmx && test -d /dev/shm || echo no devices
test -e /dev/vda && echo the host's devices are visible
printf bye > /dev/termination-log
touch /tmp/only-in-the-container-7d1f
` + fmt.Sprintf(serveScript, "")
	c := isolatedShell(t, "c", script)
	c.TerminationMessagePath = "/dev/termination-log"
	c.Mounts = append(c.Mounts,
		podruntime.Mount{HostPath: vol, ContainerPath: "/tmp/vol"},
		podruntime.Mount{HostPath: ro, ContainerPath: "/tmp/ro", ReadOnly: true})
	c.Command[2] = strings.ReplaceAll(c.Command[2], "/opt-ro-test", "/tmp/ro")
	podWith(t, rt, podruntime.Pod{UID: "p", Hostname: "files"}, c)
	waitLog(t, rt, "p", "c", "hi\nserving\n")
	if b, err := os.ReadFile(filepath.Join(vol, "out")); string(b) != "written\n" {
		t.Errorf("the container's write to its volume: %q, %v", b, err)
	}
	if _, err := os.Stat("/tmp/only-in-the-container-7d1f"); err == nil {
		t.Errorf("a file of the container's /tmp is in the host's")
	}

	for _, probe := range []string{
		"test -e /tmp/only-in-the-container-7d1f",
		"grep -q only-in-the-container /proc/1/cmdline",
		`test "$(cat /proc/sys/kernel/hostname)" = files`,
	} {
		ok, reason, err := rt.Probe(t.Context(), "p", "c", podruntime.Probe{Exec: []string{"sh", "-c", probe}})
		if !ok || err != nil {
			t.Errorf("exec probe %q: %v, %q, %v; want it to pass in the container", probe, ok, reason, err)
		}
	}

	if err := rt.StopContainer(t.Context(), "p", "c", time.Minute); err != nil {
		t.Fatal(err)
	}
	st := containerStatus(t, rt, "p", "c")
	if st.Message != "bye" {
		t.Errorf("termination message %q, want bye", st.Message)
	}
	if _, err := os.Stat("/dev/termination-log"); hostLog != nil && err == nil {
		t.Errorf("the container made the host's /dev/termination-log")
	}
	if got := logs(t, rt, "p", "c", everything); got != "hi\nserving\nbye\n" {
		t.Errorf("log = %q", got)
	}
}

// A runtime that starts after a reboot (the pod's namespace, veth, cgroup
// and IP reservation gone, its sandbox.json still there) makes them again
// with the pod's IP.
func TestIsolatedAdoptAfterReboot(t *testing.T) {
	dir := t.TempDir()
	rt := newIsolated(t, dir)
	sb := podWith(t, rt, podruntime.Pod{UID: "p", Hostname: "web"})
	rt.Close()
	rec := readRecord(t, dir, "p")
	link, err := netlink.LinkByName(rec.Isolation.Veth)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkDel(link); err != nil {
		t.Fatal(err)
	}
	if err := unix.Unmount(filepath.Join(dir, "p", "netns"), unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	for _, cg := range rec.Isolation.Cgroup {
		if err := os.Remove(cg); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(rec.Isolation.Reservation); err != nil {
		t.Fatal(err)
	}
	// They are not synced: a crash of the host may leave them empty, or
	// take them.
	hosts, err := os.ReadFile(filepath.Join(dir, "p", "hosts"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, "p", "hosts"), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "p", "hostname")); err != nil {
		t.Fatal(err)
	}

	rt = newIsolated(t, dir)
	if b, err := os.ReadFile(filepath.Join(dir, "p", "hosts")); string(b) != string(hosts) {
		t.Errorf("hosts after the reboot: %q, %v; want %q", b, err, hosts)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "p", "hostname")); string(b) != "web\n" {
		t.Errorf("hostname after the reboot: %q, %v", b, err)
	}
	if b, err := os.ReadFile(rec.Isolation.Reservation); err != nil || string(b) != filepath.Join(dir, "p") {
		t.Errorf("reservation of %s after the reboot: %q, %v", sb.IP, b, err)
	}
	start(t, rt, "p", tool(t, "server", "listen", ":8080"), 0)
	waitLog(t, rt, "p", "server", "listening\n")
	if line, err := dialPod(net.JoinHostPort(sb.IP, "8080")); line != "hello from web\n" || err != nil {
		t.Errorf("from the host to the pod after the reboot: %q, %v", line, err)
	}
}

// A pod network that overlaps a network the host reaches through another
// link is refused: the pods would cut the host off from it.
func TestIsolatedNetworkOverlap(t *testing.T) {
	rt := newIsolated(t, t.TempDir())
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var taken string
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		if link, err := netlink.LinkByIndex(r.LinkIndex); err == nil && link.Attrs().Name != process.DefaultBridge && link.Attrs().Name != "lo" {
			if ones, _ := r.Dst.Mask.Size(); ones >= 8 && ones <= 29 && r.Dst.IP.To4() != nil {
				taken = r.Dst.String()
				break
			}
		}
	}
	if taken == "" {
		t.Skip("the host has no route of its own to overlap")
	}
	_, err = rt.RunSandbox(t.Context(), podruntime.Pod{UID: "p", Namespace: "default", Name: "p", CIDR: taken})
	if err == nil || !strings.Contains(err.Error(), "overlaps the host's network") {
		t.Fatalf("a pod network of %s, the host's: %v", taken, err)
	}
	if list, _ := rt.Sandboxes(t.Context()); len(list) != 0 {
		t.Errorf("a refused sandbox is listed: %+v", list)
	}
}

// The runtime's state directory, which holds the pods' network
// namespaces, is a mount of its own, so that a container's init detaches
// them all with one unmount; a container sees none of it. The namespaces
// an earlier Cella mounted in the directory before it was one are moved
// into it, and their pods keep their network.
func TestIsolatedStateMount(t *testing.T) {
	dir := t.TempDir()
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	rt := newIsolated(t, dir)
	sb := podWith(t, rt, podruntime.Pod{UID: "p", Hostname: "web"})
	start(t, rt, "p", tool(t, "server", "listen", ":8080"), 0)
	waitLog(t, rt, "p", "server", "listening\n")
	if mountsAt(t, "self", real) != 1 {
		t.Fatalf("%s is not a mount of its own", real)
	}
	_, pid := startedIDs(t, dir, "p", "server", 0)
	for _, m := range mountTable(t, strconv.Itoa(pid)) {
		if m.fstype == "nsfs" || m.point == real || strings.HasPrefix(m.point, real+"/") {
			t.Errorf("the container sees %s (%s)", m.point, m.fstype)
		}
	}

	// As an earlier Cella left it: the namespace mounted in the
	// directory, which is not a mount.
	rt.Close()
	nsPath := filepath.Join(real, "p", "netns")
	ns, err := os.Open(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Unmount(real, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	err = unix.Mount("/proc/self/fd/"+strconv.Itoa(int(ns.Fd())), nsPath, "none", unix.MS_BIND, "")
	ns.Close()
	if err != nil {
		t.Fatal(err)
	}
	if mountsAt(t, "self", real) != 0 {
		t.Fatalf("%s is still a mount", real)
	}

	rt = newIsolated(t, dir)
	var stateID string
	var inside []mountEntry
	for _, m := range mountTable(t, "self") {
		switch {
		case m.point == real:
			stateID = m.id
		case m.point == nsPath:
			inside = append(inside, m)
		}
	}
	if stateID == "" || len(inside) != 1 || inside[0].parent != stateID || inside[0].fstype != "nsfs" {
		t.Errorf("after the restart: state directory mount %q, mounts on %s %+v; want the namespace alone, in the state directory", stateID, nsPath, inside)
	}
	if line, err := dialPod(net.JoinHostPort(sb.IP, "8080")); line != "hello from web\n" || err != nil {
		t.Errorf("from the host to the pod after the restart: %q, %v", line, err)
	}
}

// mountEntry is one line of a mount table.
type mountEntry struct{ id, parent, point, fstype string }

// mountTable reads the mount table of process pid ("self" for the test's).
func mountTable(t *testing.T, pid string) []mountEntry {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []mountEntry
	for line := range strings.Lines(string(b)) {
		pre, post, _ := strings.Cut(line, " - ")
		f := strings.Fields(pre)
		if len(f) < 5 {
			continue
		}
		fstype, _, _ := strings.Cut(post, " ")
		out = append(out, mountEntry{id: f[0], parent: f[1], point: f[4], fstype: fstype})
	}
	return out
}

// mountsAt counts the mounts on point in the mount table of process pid.
func mountsAt(t *testing.T, pid, point string) int {
	t.Helper()
	n := 0
	for _, m := range mountTable(t, pid) {
		if m.point == point {
			n++
		}
	}
	return n
}
