package process

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"os"
	"runtime"

	"cella.dev/cella/internal/podruntime"
)

// launcher is what differs between running pods plainly and isolating
// them: where a sandbox's address comes from, and what a shim must set up
// before it starts a container. The plain launcher runs host processes on
// loopback addresses; an isolated one (network, PID, mount, UTS and IPC
// namespaces, a veth on a bridge, a cgroup; a later version) replaces it
// when Cella runs as root on Linux, behind the same runtime.
type launcher interface {
	// info says what isolation pods get.
	info() podruntime.Info
	// address picks the IP of p's new sandbox; taken says which addresses
	// other sandboxes hold.
	address(p podruntime.Pod, taken func(netip.Addr) bool) (netip.Addr, error)
	// prepare completes the spec of a container of sandbox sb before its
	// shim starts it.
	prepare(sb podruntime.Sandbox, spec *shimSpec) error
}

// plainLauncher runs containers as host processes without isolation.
type plainLauncher struct{}

func (plainLauncher) info() podruntime.Info {
	const plain = "pods run as plain host processes: each has a loopback address of its own, but they share the host's network, process IDs and files, and no cgroup enforces their limits"
	why := "isolation by namespaces and cgroups comes in a later version of Cella: " + plain
	switch {
	case runtime.GOOS != "linux":
		why = "pods are isolated only on Linux: " + plain
	case os.Geteuid() != 0:
		why = "Cella does not run as root: " + plain
	}
	return podruntime.Info{Name: "process", Why: why}
}

// Loopback addresses for pods: 127.1.0.1 to 127.254.255.254, avoiding
// 127.0.0.0/16 (where Cella and most local services listen) and host
// numbers 0 and 255.
const (
	loopSeconds = 254 // second octet 1..254
	loopThirds  = 256 // third octet 0..255
	loopFourths = 254 // fourth octet 1..254
	loopbacks   = loopSeconds * loopThirds * loopFourths
)

// address picks a loopback address from a hash of the pod UID, the next
// free one on a collision. On Linux all of 127.0.0.0/8 reaches the host
// without configuration.
func (plainLauncher) address(p podruntime.Pod, taken func(netip.Addr) bool) (netip.Addr, error) {
	h := fnv.New32a()
	h.Write([]byte(p.UID))
	start := h.Sum32() % loopbacks
	for i := range uint32(loopbacks) {
		n := (start + i) % loopbacks
		addr := netip.AddrFrom4([4]byte{
			127,
			byte(1 + n/(loopThirds*loopFourths)),
			byte(n / loopFourths % loopThirds),
			byte(1 + n%loopFourths),
		})
		if !taken(addr) {
			return addr, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("no free loopback address for pod %s", p.UID)
}

// prepare adds nothing: the shim starts the command as it is.
func (plainLauncher) prepare(podruntime.Sandbox, *shimSpec) error { return nil }
