package process

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"cella.dev/cella/internal/podruntime"
)

// isolatedLauncher makes sandboxes with network namespaces, a veth on the
// bridge and a cgroup (see the package doc, netns_linux.go and
// cgroup_linux.go).
type isolatedLauncher struct {
	net   NetworkConfig
	state networkState
	cidr  netip.Prefix // the default pod network
}

// newIsolatedLauncher returns the isolated launcher, or why pods cannot be
// isolated here: not root, or the host refuses a bridge or a cgroup.
func newIsolatedLauncher(cfg NetworkConfig) (*isolatedLauncher, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("Cella does not run as root")
	}
	cfg = cfg.withDefaults()
	cidr, err := parseCIDR(cfg.CIDR)
	if err != nil {
		return nil, err
	}
	if _, err := ensureBridge(cfg.Bridge, cidr); err != nil {
		return nil, err
	}
	// The parent of the pods' cgroups, made now so a host without usable
	// cgroups says so at once.
	paths, err := podCgroupPaths("probe")
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	parent := map[string]string{}
	for k, dir := range paths {
		parent[k] = filepath.Dir(dir)
	}
	if _, err := makeCgroup(parent, limits{}); err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	return &isolatedLauncher{net: cfg, state: networkState{dir: cfg.StateDir}, cidr: cidr}, nil
}

func (l *isolatedLauncher) info() podruntime.Info {
	return podruntime.Info{Name: "process", Isolated: true}
}

// podID names the veth and the cgroup of the pod in dir: a hash of the
// directory, which is unique on the host (pod UIDs are unique only within
// one Cella).
func podID(dir string) string { return hashName(dir) }

// vethName is the host end of the veth of the pod in dir (at most 15
// bytes, as Linux wants).
func vethName(dir string) string { return "cv" + podID(dir) }

// create makes the pod's network (a reserved IP, its namespace, a veth
// pair on the bridge), its cgroup and its /etc files.
func (l *isolatedLauncher) create(p podruntime.Pod, dir string, sf *sandboxFile, _ func(netip.Addr) bool) (err error) {
	cidr := l.cidr
	if p.CIDR != "" {
		if cidr, err = parseCIDR(p.CIDR); err != nil {
			return fmt.Errorf("%w: %v", podruntime.ErrInvalid, err)
		}
	}
	hostname := p.Hostname
	if hostname == "" {
		hostname = p.Name
	}
	// Linux takes at most 64 bytes; the kubelet cuts at 63, and then
	// trailing dashes and dots.
	if len(hostname) > 63 {
		hostname = strings.TrimRight(hostname[:63], "-.")
	}
	iso := &isolation{
		Hostname: hostname,
		Bridge:   l.net.Bridge,
		CIDR:     cidr.String(),
		Gateway:  gatewayOf(cidr).String(),
		Veth:     vethName(dir),
	}
	defer func() {
		if err != nil {
			iso.remove(dir, l.state)
		}
	}()
	br, err := ensureBridge(l.net.Bridge, cidr)
	if err != nil {
		return err
	}
	ip, file, err := l.state.reserve(cidr, dir)
	if err != nil {
		return err
	}
	iso.Reservation = file
	// The pod's files need only its IP and host name: they are written
	// while the network and the cgroup are made.
	etc := make(chan error, 1)
	go func() { etc <- writeEtc(dir, hostname, ip) }()
	err = makeNetworkAndCgroup(p, dir, iso, br, ip, cidr)
	if etcErr := <-etc; err == nil {
		err = etcErr
	}
	if err != nil {
		return err
	}
	sf.IP = ip.String()
	sf.Isolation = iso
	return nil
}

// makeNetworkAndCgroup makes the network namespace of the pod in dir, its
// veth pair on bridge br with address ip in cidr, and its cgroup, recording
// the cgroup in iso.
func makeNetworkAndCgroup(p podruntime.Pod, dir string, iso *isolation, br netlink.Link, ip netip.Addr, cidr netip.Prefix) error {
	if err := makeNetNS(filepath.Join(dir, "netns")); err != nil {
		return err
	}
	if err := makeVeth(iso.Veth, br, filepath.Join(dir, "netns"), ip, cidr); err != nil {
		return err
	}
	paths, err := podCgroupPaths(podID(dir))
	if err != nil {
		return err
	}
	iso.Cgroup = paths
	_, err = makeCgroup(iso.Cgroup, limits{MilliCPU: p.Resources.MilliCPU, MemoryBytes: p.Resources.MemoryBytes})
	return err
}

// writeEtc writes the pod's hosts and hostname files, as the kubelet
// writes them, in the pod's directory dir, unless they hold that already.
// They are not synced: after a crash of the host, adopt writes them again
// from sandbox.json (see Durability in the package doc). A container
// bind-mounts them, so a file that changes is written in place, never
// replaced.
func writeEtc(dir, hostname string, ip netip.Addr) error {
	hosts := "# Kubernetes-managed hosts file.\n" +
		"127.0.0.1\tlocalhost\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\n" +
		"fe00::0\tip6-mcastprefix\n" +
		"fe00::1\tip6-allnodes\n" +
		"fe00::2\tip6-allrouters\n" +
		ip.String() + "\t" + hostname + "\n"
	if err := writeChanged(filepath.Join(dir, "hosts"), []byte(hosts), 0o644); err != nil {
		return err
	}
	return writeChanged(filepath.Join(dir, "hostname"), []byte(hostname+"\n"), 0o644)
}

// writeChanged writes data to the file path, made with mode perm whatever
// the umask, unless it holds data already.
func writeChanged(path string, data []byte, perm os.FileMode) error {
	if b, err := os.ReadFile(path); err == nil && string(b) == string(data) {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// adopt makes again what a reboot took from the sandbox in dir, whose IP
// is ip: its reservation, bridge, namespace, veth and cgroup, and its
// hosts and hostname files. What exists is kept as it is.
func (iso *isolation) adopt(dir string, ip string, state networkState) error {
	cidr, err := parseCIDR(iso.CIDR)
	if err != nil {
		return err
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return err
	}
	if err := state.keep(cidr, iso.Reservation, dir); err != nil {
		return err
	}
	if err := writeEtc(dir, iso.Hostname, addr); err != nil {
		return err
	}
	nsPath := filepath.Join(dir, "netns")
	if !podNetworkUp(iso.Veth, nsPath, addr) {
		br, err := ensureBridge(iso.Bridge, cidr)
		if err != nil {
			return err
		}
		if err := removeNetNS(nsPath); err != nil {
			return err
		}
		if err := makeNetNS(nsPath); err != nil {
			return err
		}
		if err := makeVeth(iso.Veth, br, nsPath, addr, cidr); err != nil {
			return err
		}
	}
	m, err := cgroupManager(iso.Cgroup)
	if err != nil {
		return err
	}
	if !m.Exists() {
		// Its limits came with the pod, which the record does not keep:
		// the pod's containers keep theirs.
		if err := m.Apply(-1); err != nil {
			return err
		}
	}
	return nil
}

// remove undoes what create made, as far as it got: it kills what still
// runs in the pod's cgroup and removes the cgroup, the veth, the
// namespace and the reservation. It may be repeated.
func (iso *isolation) remove(dir string, state networkState) error {
	var errs []error
	if iso.Cgroup != nil {
		errs = append(errs, removeCgroup(iso.Cgroup))
	}
	if iso.Veth != "" {
		errs = append(errs, removeVeth(iso.Veth))
	}
	errs = append(errs, removeNetNS(filepath.Join(dir, "netns")))
	if iso.Reservation != "" {
		if cidr, err := parseCIDR(iso.CIDR); err == nil {
			errs = append(errs, state.release(cidr, iso.Reservation, dir))
		}
	}
	return errors.Join(errs...)
}

// removeLeftovers removes what a sandbox in dir whose creation did not
// finish (Cella stopped in the middle) may have left: its namespace, veth
// and cgroup, found by the names create gives them. Its reservation, if
// any, is stale once dir is removed.
func removeLeftovers(dir string) error {
	iso := &isolation{Veth: vethName(dir)}
	if paths, err := podCgroupPaths(podID(dir)); err == nil {
		iso.Cgroup = paths
	}
	return iso.remove(dir, networkState{})
}

// prepare completes the spec of attempt a of container c, in the sandbox
// in dir, for a shim that isolates it; stateMount is the runtime's
// Runtime.stateMount. The container does not see the runtime's state
// directory (the parent of dir), so nothing is mounted in it.
func (iso *isolation) prepare(dir string, shim []string, stateMount string, c podruntime.Container, a *attempt, spec *shimSpec) error {
	state := filepath.Dir(dir)
	inState := func(p string) bool { return p == state || strings.HasPrefix(p, state+"/") }
	is := &isolatedSpec{
		StateMount:   stateMount,
		Shim:         shim,
		NetNS:        filepath.Join(dir, "netns"),
		Hostname:     iso.Hostname,
		Hosts:        filepath.Join(dir, "hosts"),
		HostnameFile: filepath.Join(dir, "hostname"),
		Cgroup:       childCgroupPaths(iso.Cgroup, c.Name),
		Limits:       limits{MilliCPU: c.Resources.MilliCPU, MemoryBytes: c.Resources.MemoryBytes},
	}
	for _, m := range c.Mounts {
		if !filepath.IsAbs(m.ContainerPath) || !filepath.IsAbs(m.HostPath) {
			return fmt.Errorf("%w: mount of %q at %q: both paths must be absolute", podruntime.ErrInvalid, m.HostPath, m.ContainerPath)
		}
		if inState(filepath.Clean(m.ContainerPath)) {
			return fmt.Errorf("%w: mount at %q: containers do not see Cella's runtime directory %s", podruntime.ErrInvalid, m.ContainerPath, state)
		}
		is.Mounts = append(is.Mounts, mountSpec{HostPath: m.HostPath, ContainerPath: filepath.Clean(m.ContainerPath), ReadOnly: m.ReadOnly})
	}
	if spec.TerminationMessagePath != "" {
		if !filepath.IsAbs(spec.TerminationMessagePath) {
			return fmt.Errorf("%w: termination message path %q is not absolute", podruntime.ErrInvalid, spec.TerminationMessagePath)
		}
		if inState(filepath.Clean(spec.TerminationMessagePath)) {
			return fmt.Errorf("%w: termination message path %q: containers do not see Cella's runtime directory %s", podruntime.ErrInvalid, spec.TerminationMessagePath, state)
		}
		is.MessageFile = a.path(".termination-log")
	}
	spec.Isolated = is
	return nil
}

// startIn starts cmd as a process of the running isolated container of
// spec whose main process is proc: in its network, PID, UTS and IPC
// namespaces, under its root (the root of its mount namespace, through
// /proc/<pid>/root: Go cannot join a mount namespace, which a process
// with threads may not) and in its cgroup. cmd.Dir is a path in the
// container; cmd.Path must have been found there (lookPathIn).
func startIn(cmd *exec.Cmd, proc procID, spec *shimSpec) error {
	if !live(proc) {
		return errNotRunning
	}
	pid := strconv.Itoa(proc.PID)
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	// Opened first, so all name the same process.
	for _, ns := range []string{"net", "uts", "ipc", "pid"} {
		fd, err := unix.Open("/proc/"+pid+"/ns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("entering the container: %w", err)
		}
		fds = append(fds, fd)
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Chroot = "/proc/" + pid + "/root"
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread joins the container's namespaces
		// (the PID namespace for its children), and ends with this
		// goroutine.
		runtime.LockOSThread()
		for _, fd := range fds {
			if err := unix.Setns(fd, 0); err != nil {
				errc <- fmt.Errorf("entering the container: %w", err)
				return
			}
		}
		errc <- cmd.Start()
	}()
	if err := <-errc; err != nil {
		return err
	}
	if err := addToCgroup(spec.Isolated.Cgroup, cmd.Process.Pid); err != nil && !errors.Is(err, os.ErrNotExist) {
		cmd.Process.Kill()
		cmd.Wait()
		return err
	}
	return nil
}

// lookPathIn finds the executable of name as the container's PATH says,
// in the file system under root; the path it returns is the container's.
func lookPathIn(root, name string, env []string) (string, error) {
	if root == "" || strings.Contains(name, "/") {
		return lookPath(name, env)
	}
	var pathEnv string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(filepath.Join(root, p)); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", name)
}
