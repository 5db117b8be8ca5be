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
// them, for new sandboxes: what Info says and what a sandbox is made of.
// The plain launcher gives each sandbox a loopback address and nothing
// else; the isolated one (isolated_linux.go), chosen when Cella runs as
// root on Linux, gives it network namespaces, a veth on a bridge, a
// cgroup and files of its own, recorded in sandbox.json. What a sandbox
// was made with stays with it: a runtime adopts, runs containers in and
// removes sandboxes of either kind, whichever launcher it has.
type launcher interface {
	// info says what isolation new pods get.
	info() podruntime.Info
	// create makes what the sandbox of p in dir (which exists) needs
	// beyond its directory and records it in sf: its IP, and for
	// isolation sf.Isolation. claim takes a loopback address for the
	// sandbox if no other sandbox of this runtime has it. On error it
	// leaves nothing behind but the address it claimed, in sf.IP.
	create(p podruntime.Pod, dir string, sf *sandboxFile, claim func(netip.Addr) bool) error
}

var (
	_ launcher = plainLauncher{}
	_ launcher = (*isolatedLauncher)(nil)
)

// plainLauncher runs containers as host processes without isolation.
type plainLauncher struct {
	// why says why pods are not isolated.
	why string
}

// plainWhy says why pods run plainly when nothing else is known: the
// platform, or the user Cella runs as.
func plainWhy() string {
	switch {
	case runtime.GOOS != "linux":
		return "pods are isolated only on Linux"
	case os.Geteuid() != 0:
		return "Cella does not run as root"
	}
	return "isolation is turned off"
}

func (l plainLauncher) info() podruntime.Info {
	const plain = "pods run as plain host processes: each has a loopback address of its own, but they share the host's network, process IDs and files, and no cgroup enforces their limits"
	return podruntime.Info{Name: "process", Why: l.why + ": " + plain}
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

// create picks a loopback address from a hash of the pod UID, the next
// free one on a collision. On Linux all of 127.0.0.0/8 reaches the host
// without configuration.
func (plainLauncher) create(p podruntime.Pod, _ string, sf *sandboxFile, claim func(netip.Addr) bool) error {
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
		if claim(addr) {
			sf.IP = addr.String()
			return nil
		}
	}
	return fmt.Errorf("no free loopback address for pod %s", p.UID)
}

// isolation is what an isolated sandbox is made of beyond its directory,
// recorded in sandbox.json so that a restarted runtime finds it (and makes
// again what a reboot took away) and RemoveSandbox undoes it. The files
// that need no record are in the pod's directory:
//
//	<uid>/netns      the pod's network namespace, bind-mounted here
//	<uid>/hosts      mounted at /etc/hosts in its containers
//	<uid>/hostname   mounted at /etc/hostname
type isolation struct {
	// Hostname is the pod's host name: its containers' UTS name.
	Hostname string `json:"hostname"`
	// Bridge is the host's bridge the pod's veth is attached to; Gateway
	// is the bridge's address, in CIDR, the network of the pod's IP.
	Bridge  string `json:"bridge"`
	CIDR    string `json:"cidr"`
	Gateway string `json:"gateway"`
	// Veth is the host's end of the pod's veth pair; the other end is
	// eth0 in the pod's network namespace.
	Veth string `json:"veth"`
	// Reservation is the host-wide file that holds the pod's IP for it.
	Reservation string `json:"reservation"`
	// Cgroup is the pod's cgroup, which holds its limits and, one below
	// it, each container's: the directory in each hierarchy (cgroup v1:
	// by controller; v2: the one under "").
	Cgroup map[string]string `json:"cgroup"`
}

// isolatedSpec is what a shim needs to start an isolated container: the
// pod's namespaces and files, the container's mounts and cgroup.
type isolatedSpec struct {
	// Shim runs ShimMain: the shim re-executes its own binary with
	// Shim[1:] and initArg as the container's first process.
	Shim []string `json:"shim"`
	// NetNS is the pod's network namespace file.
	NetNS    string `json:"netns"`
	Hostname string `json:"hostname"`
	// Hosts and HostnameFile are the pod's /etc/hosts and /etc/hostname.
	Hosts        string `json:"hosts"`
	HostnameFile string `json:"hostnameFile"`
	// MessageFile is the host file mounted at the spec's
	// TerminationMessagePath; the shim reads the message there.
	MessageFile string `json:"messageFile,omitempty"`
	// Mounts are the container's volumes, mounted in order.
	Mounts []mountSpec `json:"mounts,omitempty"`
	// Cgroup is the container's cgroup (by hierarchy, as
	// isolation.Cgroup), made by the shim with Limits and removed once
	// the container has exited.
	Cgroup map[string]string `json:"cgroup"`
	Limits limits            `json:"limits"`
	// StateMount is the runtime's state directory, which holds every
	// pod's network namespace, when it is a mount of its own: the init
	// detaches it whole, with one unmount. Empty (a spec of an earlier
	// Cella, or a host that refused the mount): the init detaches each
	// namespace on its own.
	StateMount string `json:"stateMount,omitempty"`
}

// mountSpec is a podruntime.Mount in a shim spec.
type mountSpec struct {
	HostPath      string `json:"hostPath"`
	ContainerPath string `json:"containerPath"`
	ReadOnly      bool   `json:"readOnly,omitempty"`
}

// limits are podruntime.Resources in a spec; zero is unlimited.
type limits struct {
	MilliCPU    int64 `json:"milliCPU,omitempty"`
	MemoryBytes int64 `json:"memoryBytes,omitempty"`
}

// NetworkConfig configures the network of isolated pods. Its zero value
// is the default.
type NetworkConfig struct {
	// Bridge is the host's bridge pods attach to (DefaultBridge when
	// empty). It is made when missing and never removed: every Cella on
	// the host shares it.
	Bridge string
	// CIDR is the network pod IPs come from when the pod names none
	// (DefaultCIDR when empty). The bridge takes its first address.
	CIDR string
	// StateDir holds the reservations of pod IPs, shared by every Cella on
	// the host (DefaultNetworkStateDir when empty).
	StateDir string
}

// hashName is a short hash of s that may name a file, a cgroup or a
// network interface.
func hashName(s string) string {
	h := fnv.New64a()
	h.Write([]byte(s))
	return fmt.Sprintf("%012x", h.Sum64()>>16)
}

// Defaults of NetworkConfig.
const (
	DefaultBridge          = "cella0"
	DefaultCIDR            = "10.88.0.0/16"
	DefaultNetworkStateDir = "/run/cella/ipam"
)

func (c NetworkConfig) withDefaults() NetworkConfig {
	if c.Bridge == "" {
		c.Bridge = DefaultBridge
	}
	if c.CIDR == "" {
		c.CIDR = DefaultCIDR
	}
	if c.StateDir == "" {
		c.StateDir = DefaultNetworkStateDir
	}
	return c
}
