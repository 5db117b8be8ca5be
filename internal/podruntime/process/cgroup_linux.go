package process

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fs"
	"github.com/opencontainers/cgroups/fs2"
)

// Cgroups. Each isolated pod has a cgroup named pod-<id> under a parent
// named cella, with the pod's limits; each container attempt has one
// below it, c-<name>, with the container's limits, made by its shim
// before the container's command runs and removed once it has exited.
//
// Under cgroup v1 the parent is made, in each hierarchy, under the cgroup
// Cella itself runs in, so that whatever limits Cella's service holds its
// pods too. Under cgroup v2 a cgroup that holds processes cannot hand
// controllers to its children, so the parent is /cella at the root of the
// hierarchy. The directories are recorded with the sandbox and the
// container's spec, so a Cella that restarts in another cgroup still finds
// them. The opencontainers/cgroups managers (fs for v1, fs2 for v2) make
// the directories and write the limits.

// cgroupParent names the cgroup that holds the pods' cgroups.
const cgroupParent = "cella"

// cpuPeriod is the CFS period CPU limits are a quota of, as the kubelet's.
const cpuPeriod = 100_000 // µs

// podCgroupPaths returns the directories, by hierarchy, of the cgroup of
// the pod named id (not made yet).
func podCgroupPaths(id string) (map[string]string, error) {
	cg := &cgroups.Cgroup{Resources: &cgroups.Resources{SkipDevices: true}}
	if cgroups.IsCgroup2UnifiedMode() {
		cg.Path = "/" + cgroupParent + "/pod-" + id
		m, err := fs2.NewManager(cg, "")
		if err != nil {
			return nil, err
		}
		return m.GetPaths(), nil
	}
	// Relative: under Cella's own cgroup in each hierarchy.
	cg.Path = cgroupParent + "/pod-" + id
	m, err := fs.NewManager(cg, nil)
	if err != nil {
		return nil, err
	}
	paths := m.GetPaths()
	// Devices are not limited (SkipDevices): the manager makes no
	// devices cgroup.
	delete(paths, "devices")
	return paths, nil
}

// safeCgroupName matches container names used as they are in a cgroup's
// name.
var safeCgroupName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)

// childCgroupPaths returns the directories of the cgroup of container
// name below the pod's.
func childCgroupPaths(pod map[string]string, name string) map[string]string {
	leaf := "c-" + name
	if !safeCgroupName.MatchString(name) {
		leaf = "c-" + hashName(name)
	}
	paths := make(map[string]string, len(pod))
	for k, dir := range pod {
		paths[k] = filepath.Join(dir, leaf)
	}
	return paths
}

// cgroupManager returns a manager of the cgroup at paths.
func cgroupManager(paths map[string]string) (cgroups.Manager, error) {
	cg := &cgroups.Cgroup{Resources: &cgroups.Resources{SkipDevices: true}}
	if cgroups.IsCgroup2UnifiedMode() {
		return fs2.NewManager(cg, paths[""])
	}
	return fs.NewManager(cg, maps.Clone(paths))
}

// resources are the cgroup settings of limits l for the cgroup at paths.
func resources(paths map[string]string, l limits) *cgroups.Resources {
	res := &cgroups.Resources{SkipDevices: true}
	if l.MemoryBytes > 0 {
		res.Memory = l.MemoryBytes
		// No swap beyond the limit: the limit is the container's memory,
		// as the kubelet sets it.
		if swapAccounted(paths) {
			res.MemorySwap = l.MemoryBytes
		}
	}
	if l.MilliCPU > 0 {
		res.CpuPeriod = cpuPeriod
		res.CpuQuota = max(l.MilliCPU*cpuPeriod/1000, 1000)
	}
	return res
}

// swapAccounted says whether the cgroup at paths can limit memory and
// swap together.
func swapAccounted(paths map[string]string) bool {
	if cgroups.IsCgroup2UnifiedMode() {
		return true // fs2 ignores swap where the kernel has none
	}
	dir, ok := paths["memory"]
	if !ok {
		return false
	}
	// The file is in every memory cgroup when swap is accounted: look at
	// the parent, which exists.
	_, err := os.Stat(filepath.Join(filepath.Dir(dir), "memory.memsw.limit_in_bytes"))
	return err == nil
}

// setMu serializes Manager.Set: the v1 manager's subsystems are package
// variables of the cgroups module, and its blkio subsystem remembers file
// names in one without a lock.
var setMu sync.Mutex

// makeCgroup makes the cgroup at paths (and its parents) with limits l.
func makeCgroup(paths map[string]string, l limits) (cgroups.Manager, error) {
	m, err := cgroupManager(paths)
	if err != nil {
		return nil, err
	}
	if err := m.Apply(-1); err != nil {
		return nil, fmt.Errorf("making cgroup %s: %w", anyPath(paths), err)
	}
	setMu.Lock()
	err = m.Set(resources(paths, l))
	setMu.Unlock()
	if err != nil {
		removeCgroup(paths)
		return nil, fmt.Errorf("setting the limits of cgroup %s: %w", anyPath(paths), err)
	}
	return m, nil
}

// oomKills is how many processes of the cgroup of m the kernel killed for
// want of memory, its children's included.
func oomKills(m cgroups.Manager) uint64 {
	n, _ := m.OOMKillCount()
	return n
}

// removeWaitCgroup bounds how long removeCgroup kills what is left in a
// cgroup before it gives up.
const removeWaitCgroup = 10 * time.Second

// removeCgroup kills whatever still runs in the cgroup at paths and in
// its children, and removes them all. A cgroup that does not exist is not
// an error.
func removeCgroup(paths map[string]string) error {
	if len(paths) == 0 {
		return nil
	}
	deadline := time.Now().Add(removeWaitCgroup)
	for {
		pids := cgroupPids(paths)
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		err := cgroups.RemovePaths(maps.Clone(paths))
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("removing cgroup %s: %w", anyPath(paths), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cgroupPids lists the processes in the cgroup at paths and its
// children, in every hierarchy.
func cgroupPids(paths map[string]string) []int {
	seen := map[int]bool{}
	var pids []int
	for _, dir := range paths {
		list, err := cgroups.GetAllPids(dir)
		if err != nil {
			continue // gone, or never made
		}
		for _, pid := range list {
			if !seen[pid] {
				seen[pid] = true
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// addToCgroup moves process pid into the cgroup at paths.
func addToCgroup(paths map[string]string, pid int) error {
	for _, dir := range paths {
		if err := cgroups.WriteCgroupProc(dir, pid); err != nil {
			return fmt.Errorf("moving process %d into cgroup %s: %w", pid, dir, err)
		}
	}
	return nil
}

// enterThread moves the calling thread, which must be locked to its
// goroutine, into the cgroup v1 hierarchies of the cgroup at paths (all
// but the unified one, paths[""]) by writing 0 to their tasks files.
// Moving oneself one thread at a time takes no global lock; moving a
// process (cgroup.procs, addToCgroup) takes the lock of all migrations,
// whose first taker waits for an RCU grace period (about 10 ms).
func enterThread(paths map[string]string) error {
	for k, dir := range paths {
		if k == "" {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, "tasks"), os.O_WRONLY, 0)
		if err == nil {
			_, err = f.Write([]byte("0"))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return fmt.Errorf("moving into cgroup %s: %w", dir, err)
		}
	}
	return nil
}

// anyPath names the cgroup at paths in messages: its memory directory, or
// any.
func anyPath(paths map[string]string) string {
	if p, ok := paths["memory"]; ok {
		return p
	}
	for _, p := range paths {
		return p
	}
	return "(none)"
}
