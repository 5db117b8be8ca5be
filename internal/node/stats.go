package node

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	metricsv1beta1 "cella.dev/cella/internal/apis/metrics/v1beta1"
	"cella.dev/cella/internal/podruntime"
)

// Resource usage, as metrics-server reports it for kubectl top: the agent
// samples its running pods (through podruntime.StatsReporter) and the
// machine (/proc) every Config.StatsInterval, and a usage is the growth of
// CPU time between the last two samples over their interval, with the
// memory of the last. Until two samples exist there is no usage, which
// kubectl reports as metrics not being available yet.

// window holds the last two samples of one container or of the node.
type window struct {
	prev, last sampled
}

type sampled struct {
	cpu time.Duration
	mem int64
	at  time.Time
	ok  bool
}

func (w *window) add(s sampled) {
	w.prev, w.last = w.last, s
}

// rate returns the CPU usage in millicores, the memory, the end of the
// interval and its length; ok is false before two samples.
func (w *window) rate() (milliCPU, mem int64, at time.Time, span time.Duration, ok bool) {
	if !w.prev.ok || !w.last.ok || !w.last.at.After(w.prev.at) {
		return 0, 0, time.Time{}, 0, false
	}
	span = w.last.at.Sub(w.prev.at)
	used := max(w.last.cpu-w.prev.cpu, 0)
	return int64(used) * 1000 / int64(span), w.last.mem, w.last.at, span, true
}

// usage is the agent's record of samples.
type usage struct {
	mu sync.Mutex
	// pods holds, by pod UID and container name, the samples of running
	// containers; node those of the machine. Guarded by mu.
	pods map[types.UID]map[string]*window
	node window
}

// statsLoop samples until ctx ends.
func (a *Agent) statsLoop(ctx context.Context) {
	rep, ok := a.rt.(podruntime.StatsReporter)
	t := time.NewTicker(a.cfg.StatsInterval)
	defer t.Stop()
	for {
		a.sampleNode()
		if ok {
			a.samplePods(ctx, rep)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// samplePods takes one sample of every pod with a worker.
func (a *Agent) samplePods(ctx context.Context, rep podruntime.StatsReporter) {
	a.mu.Lock()
	uids := make([]types.UID, 0, len(a.workers))
	for uid := range a.workers {
		uids = append(uids, uid)
	}
	a.mu.Unlock()
	seen := map[types.UID]bool{}
	for _, uid := range uids {
		stats, err := rep.Stats(ctx, string(uid))
		if err != nil {
			continue
		}
		seen[uid] = true
		a.stats.mu.Lock()
		byName := a.stats.pods[uid]
		if byName == nil {
			byName = map[string]*window{}
			a.stats.pods[uid] = byName
		}
		running := map[string]bool{}
		for _, s := range stats {
			running[s.Name] = true
			w := byName[s.Name]
			if w == nil {
				w = &window{}
				byName[s.Name] = w
			}
			if w.last.ok && s.CPU < w.last.cpu {
				// A new attempt: its CPU time started again.
				*w = window{}
			}
			w.add(sampled{cpu: s.CPU, mem: s.MemoryBytes, at: s.At, ok: true})
		}
		for name := range byName {
			if !running[name] {
				delete(byName, name)
			}
		}
		a.stats.mu.Unlock()
	}
	a.stats.mu.Lock()
	for uid := range a.stats.pods {
		if !seen[uid] {
			delete(a.stats.pods, uid)
		}
	}
	a.stats.mu.Unlock()
}

// PodUsage returns the pod's usage, as metrics.k8s.io reports it; ok is
// false until two samples of a running container exist.
func (a *Agent) PodUsage(pod *corev1.Pod) (*metricsv1beta1.PodMetrics, bool) {
	a.stats.mu.Lock()
	defer a.stats.mu.Unlock()
	byName := a.stats.pods[pod.UID]
	m := &metricsv1beta1.PodMetrics{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, Labels: pod.Labels},
	}
	for _, c := range pod.Spec.Containers {
		w := byName[c.Name]
		if w == nil {
			continue
		}
		cpu, mem, at, span, ok := w.rate()
		if !ok {
			continue
		}
		m.Timestamp, m.Window = metav1.NewTime(at.Truncate(time.Second)), metav1.Duration{Duration: span.Round(time.Millisecond)}
		m.Containers = append(m.Containers, metricsv1beta1.ContainerMetrics{Name: c.Name, Usage: corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewMilliQuantity(cpu, resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(mem, resource.BinarySI),
		}})
	}
	return m, len(m.Containers) > 0
}

// NodeUsage returns the machine's usage as the node's, ok false until two
// samples exist.
func (a *Agent) NodeUsage() (*metricsv1beta1.NodeMetrics, bool) {
	a.stats.mu.Lock()
	defer a.stats.mu.Unlock()
	cpu, mem, at, span, ok := a.stats.node.rate()
	if !ok {
		return nil, false
	}
	return &metricsv1beta1.NodeMetrics{
		ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName},
		Timestamp:  metav1.NewTime(at.Truncate(time.Second)), Window: metav1.Duration{Duration: span.Round(time.Millisecond)},
		Usage: corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewMilliQuantity(cpu, resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(mem, resource.BinarySI),
		},
	}, true
}

// sampleNode samples the machine: the CPU time of every core that was not
// idle, and the memory in use (MemTotal less MemAvailable), from /proc.
func (a *Agent) sampleNode() {
	s := sampled{at: a.now()}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
		if len(f) > 8 && f[0] == "cpu" {
			var busy uint64
			for i, v := range f[1:9] {
				if i == 3 || i == 4 { // idle, iowait
					continue
				}
				n, _ := strconv.ParseUint(v, 10, 64)
				busy += n
			}
			s.cpu, s.ok = time.Duration(busy)*(time.Second/100), true
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var total, avail int64
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			n, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "MemTotal:":
				total = n * 1024
			case "MemAvailable:":
				avail = n * 1024
			}
		}
		s.mem = total - avail
	}
	a.stats.mu.Lock()
	a.stats.node.add(s)
	a.stats.mu.Unlock()
}
