//go:build linux

package process_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"cella.dev/cella/internal/podruntime"
	"cella.dev/cella/internal/podruntime/process"
)

// BenchmarkIsolatedStart starts isolated pods one at a time through the
// runtime alone (RunSandbox, then StartContainer of `sleep 3600`), with 0
// or 100 other pods running. Besides the time per start it reports the
// CPU a start takes, the runtime's, its shim's and its container init's,
// as cpu-ms/op, when the benchmark runs in a cgroup of its own (v1 cpuacct
// or v2 cpu.stat; the pods' cgroups nest in it), for instance
//
//	mkdir /sys/fs/cgroup/cpuacct/bench
//	sh -c 'echo $$ >/sys/fs/cgroup/cpuacct/bench/cgroup.procs; exec go test -run "^$" -bench IsolatedStart ./internal/podruntime/process/'
//
// The shim is the test binary, unless CELLA_BENCH_SHIM names another
// binary whose `runtime-shim` command runs ShimMain, such as cella of the
// same source.
func BenchmarkIsolatedStart(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("isolation needs root: run the benchmark as root")
	}
	for _, others := range []int{0, 100} {
		b.Run(fmt.Sprintf("others=%d", others), func(b *testing.B) { benchStart(b, others) })
	}
}

func benchStart(b *testing.B, others int) {
	shim := testShim
	if s := os.Getenv("CELLA_BENCH_SHIM"); s != "" {
		shim = []string{s, "runtime-shim"}
	}
	dir := b.TempDir()
	rt, err := process.New(process.Config{Dir: dir, Shim: shim})
	if err != nil {
		b.Fatal(err)
	}
	var uids []string
	defer func() {
		for _, uid := range uids {
			if err := rt.RemoveSandbox(context.Background(), uid); err != nil {
				b.Error(err)
			}
		}
		rt.Close()
	}()
	if info := rt.Info(); !info.Isolated {
		b.Skipf("pods are not isolated: %s", info.Why)
	}
	c := podruntime.Container{Name: "c", Command: []string{"sleep", "3600"}, WorkingDir: "/"}
	startPod := func(uid string) {
		uids = append(uids, uid)
		if _, err := rt.RunSandbox(b.Context(), podruntime.Pod{UID: uid, Namespace: "bench", Name: uid}); err != nil {
			b.Fatal(err)
		}
		if err := rt.StartContainer(b.Context(), uid, c, 0); err != nil {
			b.Fatal(err)
		}
	}
	for i := range others {
		startPod(fmt.Sprintf("other-%d", i))
	}
	cpu0, counted := cgroupCPU()
	b.ResetTimer()
	for i := range b.N {
		startPod(fmt.Sprintf("new-%d", i))
	}
	b.StopTimer()
	if cpu1, _ := cgroupCPU(); counted {
		b.ReportMetric(float64(cpu1-cpu0)/1e6/float64(b.N), "cpu-ms/op")
	}
}

// cgroupCPU returns the CPU time, in ns, of the cgroup this process is in,
// and whether it is one of its own rather than the root (the host's).
func cgroupCPU() (int64, bool) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 || parts[2] == "/" {
			continue
		}
		switch {
		case parts[1] == "" && parts[0] == "0":
			bs, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", parts[2], "cpu.stat"))
			if err != nil {
				continue
			}
			for line := range strings.Lines(string(bs)) {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "usage_usec "); ok {
					n, err := strconv.ParseInt(v, 10, 64)
					return n * 1000, err == nil
				}
			}
		case strings.Contains(","+parts[1]+",", ",cpuacct,"):
			bs, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", parts[1], parts[2], "cpuacct.usage"))
			if err != nil {
				continue
			}
			n, err := strconv.ParseInt(strings.TrimSpace(string(bs)), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
