package process

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"cella.dev/cella/internal/mountinfo"
)

// The network of isolated pods. Every Cella on the host shares one bridge
// (NetworkConfig.Bridge), which holds the first address of each pod
// network in use as the pods' gateway; the host reaches pod IPs through
// it. A pod has a network namespace of its own, bind-mounted on
// <uid>/netns so that it outlives the processes in it (and Cella), and a
// veth pair: one end on the bridge, the other eth0 in the pod with the pod
// IP, and a default route through the gateway. Pod IPs are reserved
// host-wide, one file per address (networkState), so that several Cellas
// on one host never hand out the same one.
//
// Pods reach the host (the gateway address) and each other; nothing is
// forwarded or masqueraded beyond the host (no NAT yet).

// podIfName is the name of the pod's end of its veth pair.
const podIfName = "eth0"

// parseCIDR reads an IPv4 pod network with room for a gateway and pods.
func parseCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("pod network %q: %v", s, err)
	}
	if !p.Addr().Is4() || p.Bits() > 29 || p.Bits() < 8 {
		return netip.Prefix{}, fmt.Errorf("pod network %q: want an IPv4 network from /8 to /29", s)
	}
	return p.Masked(), nil
}

// gatewayOf is the first address of network cidr: the bridge's.
func gatewayOf(cidr netip.Prefix) netip.Addr { return cidr.Addr().Next() }

// ensureBridge makes the bridge name if it is missing, gives it the
// gateway address of cidr and brings it up. Another Cella doing the same
// at once is no error. A network that overlaps another one of the bridge
// is refused.
func ensureBridge(name string, cidr netip.Prefix) (netlink.Link, error) {
	br, err := netlink.LinkByName(name)
	if err != nil {
		if !isLinkNotFound(err) {
			return nil, fmt.Errorf("bridge %s: %w", name, err)
		}
		la := netlink.NewLinkAttrs()
		la.Name = name
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("making bridge %s: %w", name, err)
		}
		if br, err = netlink.LinkByName(name); err != nil {
			return nil, fmt.Errorf("bridge %s: %w", name, err)
		}
	}
	if _, ok := br.(*netlink.Bridge); !ok {
		return nil, fmt.Errorf("%s is a %s, not a bridge", name, br.Type())
	}
	addrs, err := netlink.AddrList(br, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("addresses of bridge %s: %w", name, err)
	}
	gw := gatewayOf(cidr)
	have := false
	for _, a := range addrs {
		ip, _ := netip.AddrFromSlice(a.IP.To4())
		ones, _ := a.Mask.Size()
		p := netip.PrefixFrom(ip, ones).Masked()
		switch {
		case p == cidr && ip == gw:
			have = true
		case p.Overlaps(cidr):
			return nil, fmt.Errorf("pod network %s overlaps %s, which bridge %s serves already", cidr, p, name)
		}
	}
	if err := checkRoutes(br, cidr); err != nil {
		return nil, err
	}
	if !have {
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(gw.AsSlice()), Mask: net.CIDRMask(cidr.Bits(), 32)}}
		if err := netlink.AddrAdd(br, addr); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("giving bridge %s the address %s: %w", name, addr, err)
		}
	}
	if br.Attrs().Flags&net.FlagUp == 0 {
		if err := netlink.LinkSetUp(br); err != nil {
			return nil, fmt.Errorf("bringing bridge %s up: %w", name, err)
		}
	}
	return br, nil
}

// checkRoutes refuses a pod network that overlaps a route of the host
// through another link than bridge br: the pods would cut the host off
// from that network. The default route overlaps everything and is not
// counted.
func checkRoutes(br netlink.Link, cidr netip.Prefix) error {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("reading the host's routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst == nil || r.LinkIndex == br.Attrs().Index {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		ip, ok := netip.AddrFromSlice(r.Dst.IP.To4())
		if !ok || ones == 0 {
			continue
		}
		if dst := netip.PrefixFrom(ip, ones).Masked(); dst.Overlaps(cidr) {
			via := strconv.Itoa(r.LinkIndex)
			if link, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
				via = link.Attrs().Name
			}
			return fmt.Errorf("pod network %s overlaps the host's network %s on %s", cidr, dst, via)
		}
	}
	return nil
}

func isLinkNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}

// networkState keeps the host-wide reservations of pod IPs: in dir, for
// each network, a directory (its CIDR with '_' for '/') of files named by
// address, each holding its owner (a sandbox directory). Operations on a
// network hold an exclusive flock on its directory's lock file, across
// Cellas. A reservation whose owner directory no longer exists (removed
// by hand, or a test's temporary directory) is stale and taken again.
type networkState struct{ dir string }

// lock takes the lock of network cidr and returns its directory and the
// unlock.
func (s networkState) lock(cidr netip.Prefix) (string, func(), error) {
	dir := filepath.Join(s.dir, strings.ReplaceAll(cidr.String(), "/", "_"))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", nil, err
	}
	if err := flock(f); err != nil {
		f.Close()
		return "", nil, err
	}
	return dir, func() { f.Close() }, nil
}

func flock(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// reserve reserves a free address of cidr for owner, starting from one
// picked by a hash of owner, and returns it with its reservation file.
// The network's address, gateway and broadcast address are never given.
func (s networkState) reserve(cidr netip.Prefix, owner string) (netip.Addr, string, error) {
	dir, unlock, err := s.lock(cidr)
	if err != nil {
		return netip.Addr{}, "", fmt.Errorf("reserving a pod IP: %w", err)
	}
	defer unlock()
	base := binary.BigEndian.Uint32(cidr.Addr().AsSlice())
	size := uint32(1) << (32 - cidr.Bits())
	hosts := size - 3 // less the network, the gateway and broadcast
	h := fnv.New32a()
	h.Write([]byte(owner))
	start := h.Sum32() % hosts
	for i := range hosts {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], base+2+(start+i)%hosts)
		addr := netip.AddrFrom4(b)
		file := filepath.Join(dir, addr.String())
		if held, _ := reservationOwner(file); held != "" && held != owner {
			continue
		}
		if err := os.WriteFile(file, []byte(owner), 0o600); err != nil {
			return netip.Addr{}, "", fmt.Errorf("reserving pod IP %s: %w", addr, err)
		}
		return addr, file, nil
	}
	return netip.Addr{}, "", fmt.Errorf("no free address in pod network %s", cidr)
}

// keep makes sure that reservation file of address addr of cidr is held
// by owner, as after a reboot that emptied the state directory.
func (s networkState) keep(cidr netip.Prefix, file, owner string) error {
	_, unlock, err := s.lock(cidr)
	if err != nil {
		return err
	}
	defer unlock()
	switch held, _ := reservationOwner(file); held {
	case owner:
		return nil
	case "":
		return os.WriteFile(file, []byte(owner), 0o600)
	default:
		return fmt.Errorf("pod IP %s is reserved by %s", filepath.Base(file), held)
	}
}

// release drops the reservation file if owner holds it.
func (s networkState) release(cidr netip.Prefix, file, owner string) error {
	_, unlock, err := s.lock(cidr)
	if err != nil {
		return err
	}
	defer unlock()
	if held, _ := reservationOwner(file); held == owner {
		if err := os.Remove(file); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// reservationOwner returns who holds a reservation file: "" when nobody
// does, or the owner's directory is gone.
func reservationOwner(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	owner := string(b)
	if _, err := os.Stat(owner); err != nil {
		return "", nil
	}
	return owner, nil
}

// makeNetNS makes a network namespace and bind-mounts it on path, so that
// it lives on without a process in it.
func makeNetNS(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread is left in the new namespace, and
		// ends with this goroutine.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("making a network namespace: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind-mounting the network namespace on %s: %w", path, err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// netnsMounted says whether path holds a bind-mounted namespace.
func netnsMounted(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// removeNetNS unmounts the namespace on path and removes the file.
func removeNetNS(path string) error {
	if netnsMounted(path) {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmounting network namespace %s: %w", path, err)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// makeVeth makes the veth pair of a pod: hostName on bridge br, and eth0
// in the namespace on nsPath with address ip in cidr and a default route
// through the gateway, lo up beside it. A link left by an earlier try
// with hostName is replaced.
func makeVeth(hostName string, br netlink.Link, nsPath string, ip netip.Addr, cidr netip.Prefix) error {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("opening network namespace %s: %w", nsPath, err)
	}
	defer ns.Close()
	if old, err := netlink.LinkByName(hostName); err == nil {
		_ = netlink.LinkDel(old)
	}
	la := netlink.NewLinkAttrs()
	la.Name = hostName
	la.MasterIndex = br.Attrs().Index
	// The host's end is made up; the pod's is brought up in its namespace.
	la.Flags = net.FlagUp
	veth := &netlink.Veth{LinkAttrs: la, PeerName: podIfName, PeerNamespace: netlink.NsFd(int(ns))}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("making veth %s: %w", hostName, err)
	}
	if err := configurePod(ns, ip, cidr); err != nil {
		netlink.LinkDel(veth)
		return err
	}
	return nil
}

// configurePod brings lo and eth0 up in the pod's namespace ns, with ip
// in cidr and a default route through the gateway.
func configurePod(ns netns.NsHandle, ip netip.Addr, cidr netip.Prefix) error {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("entering the pod's network namespace: %w", err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("bringing lo up in the pod: %w", err)
	}
	eth, err := h.LinkByName(podIfName)
	if err != nil {
		return fmt.Errorf("the pod's %s: %w", podIfName, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(ip.AsSlice()), Mask: net.CIDRMask(cidr.Bits(), 32)}}
	if err := h.AddrAdd(eth, addr); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("giving the pod's %s the address %s: %w", podIfName, addr, err)
	}
	if err := h.LinkSetUp(eth); err != nil {
		return fmt.Errorf("bringing the pod's %s up: %w", podIfName, err)
	}
	route := &netlink.Route{LinkIndex: eth.Attrs().Index, Gw: net.IP(gatewayOf(cidr).AsSlice())}
	if err := h.RouteAdd(route); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("adding the pod's default route: %w", err)
	}
	return nil
}

// podNetworkUp says whether the veth hostName exists and the namespace on
// nsPath has eth0 with ip: what a running pod's network is.
func podNetworkUp(hostName, nsPath string, ip netip.Addr) bool {
	if _, err := netlink.LinkByName(hostName); err != nil || !netnsMounted(nsPath) {
		return false
	}
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return false
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return false
	}
	defer h.Close()
	eth, err := h.LinkByName(podIfName)
	if err != nil {
		return false
	}
	addrs, _ := h.AddrList(eth, netlink.FAMILY_V4)
	for _, a := range addrs {
		if got, _ := netip.AddrFromSlice(a.IP.To4()); got == ip {
			return true
		}
	}
	return false
}

// removeVeth deletes the veth hostName, and so its peer in the pod.
func removeVeth(hostName string) error {
	link, err := netlink.LinkByName(hostName)
	if err != nil {
		if isLinkNotFound(err) {
			return nil
		}
		return err
	}
	if err := netlink.LinkDel(link); err != nil && !errors.Is(err, syscall.ENODEV) {
		return fmt.Errorf("deleting veth %s: %w", hostName, err)
	}
	return nil
}

// The pods' network namespaces are bind-mounted on <uid>/netns in the
// runtime's state directory, and every container's mount namespace starts
// as a copy of the host's, those mounts included; its init detaches them,
// so that a container holds no other pod's network. One unmount per pod
// would make the start of the N-th pod cost N unmounts (each waiting for
// the kernel), so the state directory is made a mount of its own, a bind
// mount of itself, and the init detaches it whole with one unmount
// (isolatedSpec.StateMount). It is shared, in a peer group of its own, as
// `ip netns` keeps /run/netns: a mount namespace made on the host later
// (a service's) receives the unmount of a pod's namespace too, and never
// keeps it alive. It stays mounted while a pod's namespace is in it, so
// namespaces outlive Cella.

// ownStateMount makes dir, the runtime's state directory, a mount of its
// own, unless it is one already, and returns its real path. Namespaces an
// earlier Cella mounted in dir before it was one are mounted again inside
// it.
func ownStateMount(dir string) (string, error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	mounts, err := mountinfo.Read()
	if err != nil {
		return "", err
	}
	var inside []string
	for _, m := range mounts {
		if m.Point == real {
			return real, nil
		}
		if m.FSType == "nsfs" && strings.HasPrefix(m.Point, real+"/") {
			inside = append(inside, m.Point)
		}
	}
	// Held open while they are mounted again: an unmounted namespace
	// with no process in it would end.
	held := make([]int, 0, len(inside))
	defer func() {
		for _, fd := range held {
			unix.Close(fd)
		}
	}()
	for _, p := range inside {
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", fmt.Errorf("network namespace %s: %w", p, err)
		}
		held = append(held, fd)
	}
	remount := func() error {
		var errs []error
		for i, p := range inside {
			if err := unix.Mount("/proc/self/fd/"+strconv.Itoa(held[i]), p, "none", unix.MS_BIND, ""); err != nil {
				errs = append(errs, fmt.Errorf("mounting network namespace %s again: %w", p, err))
			}
		}
		return errors.Join(errs...)
	}
	for _, p := range inside {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
			return "", errors.Join(fmt.Errorf("moving network namespace %s: %w", p, err), remount())
		}
	}
	err = unix.Mount(real, real, "none", unix.MS_BIND, "")
	if err == nil {
		// Out of the parent's peer group first, so the pods' mounts
		// are not copied to its peers; then shared in a group of its
		// own.
		if err = unix.Mount("", real, "", unix.MS_PRIVATE, ""); err == nil {
			err = unix.Mount("", real, "", unix.MS_SHARED, "")
		}
		if err != nil {
			unix.Unmount(real, unix.MNT_DETACH)
		}
	}
	if err != nil {
		return "", errors.Join(fmt.Errorf("bind-mounting %s on itself: %w", real, err), remount())
	}
	if err := remount(); err != nil {
		return real, err
	}
	return real, nil
}

// releaseStateMount unmounts dir, the state directory, when it is a bind
// mount of itself (as ownStateMount makes it; a file system mounted there
// by the host's owner stays) and nothing is mounted in it any more: a
// closed runtime leaves the host as it found it, unless pods outlive it.
func releaseStateMount(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	type entry struct{ id, parent, dev, root, point string }
	byID := map[string]entry{}
	var self *entry
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		e := entry{id: f[0], parent: f[1], dev: f[2], root: mountinfo.Unescape(f[3]), point: mountinfo.Unescape(f[4])}
		byID[e.id] = e
		switch {
		case strings.HasPrefix(e.point, dir+"/"):
			return // in use
		case e.point == dir:
			self = &e
		}
	}
	if self == nil {
		return
	}
	parent, ok := byID[self.parent]
	if !ok || parent.dev != self.dev {
		return
	}
	if rel, err := filepath.Rel(parent.point, dir); err != nil || filepath.Join(parent.root, rel) != self.root {
		return
	}
	// Lazily: a shim's open files in it stay as they are, and their
	// paths lead to the same files on the file system below.
	_ = unix.Unmount(dir, unix.MNT_DETACH)
}
