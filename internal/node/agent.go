// Package node is Cella's node agent: the kubelet's job for the machine
// Cella runs on. Like every Cella controller it is an API client over
// loopback (client-go), and it drives a podruntime.Runtime.
//
// What it does, in order:
//  1. Registers its Node (capacity and allocatable from the machine, the
//     usual labels, node info, Ready and pressure conditions), then keeps it
//     fresh: the Lease in kube-node-lease every 10 s, the Node's status
//     every minute and whenever it changes.
//  2. Watches the pods bound to its node (spec.nodeName) and gives each a
//     pod worker (podworker.go), which alone acts on that pod: it resolves
//     the spec (resolve.go), runs the sandbox, the init containers in order
//     and the containers, restarts them by the pod's restartPolicy with
//     Kubernetes' back-off, runs probes and hooks (probes.go), stops a
//     deleted pod gracefully and then deletes it for good, and writes the
//     pod's status (status.go) and Events.
//  3. Finds, after a restart, the sandboxes the runtime still has: those of
//     pods still bound here are adopted by their workers (restartCount
//     stays true), the others are removed.
//  4. Serves the streaming subresources of its pods to the API server
//     (Logs, TruncateLog: the apiserver.PodConnector).
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"cella.dev/cella/internal/controller/recorder"
	"cella.dev/cella/internal/podruntime"
)

// Config is what an Agent needs.
type Config struct {
	// NodeName names the Node (default: the host name).
	NodeName string
	Client   kubernetes.Interface
	Runtime  podruntime.Runtime
	// Dir holds the pods' volumes (<Dir>/<uid>/volumes/<name>).
	Dir string
	// Version is reported as the kubelet version (status.nodeInfo).
	Version string
	// MaxPods is the pods capacity (default 110, as the kubelet's).
	MaxPods int
	// Capacity, when set, is reported instead of the machine's CPU and
	// memory (a simulated node pretends to be as large as a scale test
	// needs).
	Capacity corev1.ResourceList
	// LeaseInterval is how often the Lease is renewed (default 10 s);
	// StatusInterval how often the Node's status is written when nothing
	// changed (default 1 min); StatsInterval how often usage is sampled
	// for kubectl top (default 10 s).
	LeaseInterval, StatusInterval, StatsInterval time.Duration
	Logger                                       *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Agent runs the pods bound to one node.
type Agent struct {
	cfg     Config
	client  kubernetes.Interface
	rt      podruntime.Runtime
	log     *slog.Logger
	now     func() time.Time
	factory informers.SharedInformerFactory
	pods    cache.Indexer
	synced  cache.InformerSynced
	// recorder writes the agent's Events as the kubelet's, source
	// {kubelet, <node name>}.
	recorder *recorder.Legacy
	// hostIP is the node's InternalIP.
	hostIP string
	// allocatable is the node's, for resourceFieldRef defaults.
	allocatable corev1.ResourceList
	// stats holds the usage samples (stats.go).
	stats usage
	// networks is where pod networks are read (network.go).
	networks networks

	mu sync.Mutex
	// workers holds the pod workers by pod UID. Guarded by mu.
	workers map[types.UID]*podWorker
	// ctx is Run's; workers run under it.
	ctx context.Context
	wg  sync.WaitGroup
}

// New returns an agent; Run starts it.
func New(cfg Config) (*Agent, error) {
	if cfg.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("node: no node name and no host name: %w", err)
		}
		cfg.NodeName = strings.ToLower(h)
	}
	if cfg.MaxPods <= 0 {
		cfg.MaxPods = 110
	}
	if cfg.LeaseInterval <= 0 {
		cfg.LeaseInterval = 10 * time.Second
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = time.Minute
	}
	if cfg.StatsInterval <= 0 {
		cfg.StatsInterval = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	factory := informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = "spec.nodeName=" + cfg.NodeName
	}))
	inf := factory.Core().V1().Pods().Informer()
	_ = inf.AddIndexers(cache.Indexers{byUID: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok {
			return []string{string(p.UID)}, nil
		}
		return nil, nil
	}})
	a := &Agent{
		cfg: cfg, client: cfg.Client, rt: cfg.Runtime, log: cfg.Logger, now: cfg.Now,
		factory: factory, pods: inf.GetIndexer(), synced: inf.HasSynced,
		recorder: recorder.NewLegacy(cfg.Client, corev1.EventSource{Component: "kubelet", Host: cfg.NodeName}),
		hostIP:   hostIP(),
		workers:  map[types.UID]*podWorker{},
		stats:    usage{pods: map[types.UID]map[string]*window{}},
	}
	a.allocatable = a.capacity()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { a.podChanged(obj) },
		UpdateFunc: func(_, obj any) { a.podChanged(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			a.podChanged(obj)
		},
	})
	return a, nil
}

const byUID = "uid"

// NodeName is the name of the agent's Node.
func (a *Agent) NodeName() string { return a.cfg.NodeName }

// Run registers the node and runs pods until ctx ends. Pods keep running
// when it returns: a later agent on the same runtime adopts them.
func (a *Agent) Run(ctx context.Context) error {
	a.mu.Lock()
	a.ctx = ctx
	a.mu.Unlock()
	a.recorder.Start()
	defer a.recorder.Shutdown()
	if err := a.register(ctx); err != nil {
		return err
	}
	// Before the pods' informer, which starts their workers.
	if err := a.startNetworks(ctx); err != nil {
		a.wg.Wait()
		return err
	}
	a.factory.Start(ctx.Done())
	defer a.factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), a.synced) {
		a.wg.Wait()
		return ctx.Err()
	}
	a.adopt(ctx)
	a.wg.Add(4)
	go func() { defer a.wg.Done(); a.statsLoop(ctx) }()
	go func() { defer a.wg.Done(); a.leaseLoop(ctx) }()
	go func() { defer a.wg.Done(); a.statusLoop(ctx) }()
	go func() { defer a.wg.Done(); a.changesLoop(ctx) }()
	<-ctx.Done()
	a.wg.Wait()
	return nil
}

// podChanged wakes (or starts) the worker of a pod the informer reported.
func (a *Agent) podChanged(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	a.wake(p.UID, p.Namespace, p.Name)
}

// wake signals the worker of uid, starting one if there is none.
func (a *Agent) wake(uid types.UID, namespace, name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ctx == nil {
		return
	}
	w, ok := a.workers[uid]
	if !ok {
		w = newPodWorker(a, uid, namespace, name)
		a.workers[uid] = w
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			w.run(a.ctx)
			a.mu.Lock()
			delete(a.workers, uid)
			a.mu.Unlock()
		}()
	}
	w.signal()
}

// changesLoop wakes the worker of each pod whose containers changed.
func (a *Agent) changesLoop(ctx context.Context) {
	ch := a.rt.Changes()
	for {
		select {
		case <-ctx.Done():
			return
		case uid := <-ch:
			a.mu.Lock()
			w := a.workers[types.UID(uid)]
			a.mu.Unlock()
			if w != nil {
				w.signal()
			}
		}
	}
}

// pod returns the pod of uid from the informer's cache, or nil.
func (a *Agent) pod(uid types.UID) *corev1.Pod {
	objs, _ := a.pods.ByIndex(byUID, string(uid))
	if len(objs) == 0 {
		return nil
	}
	return objs[0].(*corev1.Pod)
}

// adopt matches the runtime's sandboxes with the pods bound here: a
// sandbox whose pod is gone is removed; the others are picked up by their
// workers, which the informer starts.
func (a *Agent) adopt(ctx context.Context) {
	boxes, err := a.rt.Sandboxes(ctx)
	if err != nil {
		a.log.Error("listing the runtime's sandboxes", "err", err)
		return
	}
	for _, sb := range boxes {
		if p := a.pod(types.UID(sb.UID)); p != nil {
			a.log.Info("adopting a running pod", "pod", p.Namespace+"/"+p.Name, "uid", sb.UID)
			continue
		}
		a.log.Info("removing the sandbox of a pod that is gone", "pod", sb.Namespace+"/"+sb.Name, "uid", sb.UID)
		if err := a.rt.RemoveSandbox(ctx, sb.UID); err != nil {
			a.log.Error("removing a sandbox", "uid", sb.UID, "err", err)
		}
		a.removePodDir(types.UID(sb.UID))
	}
	a.sweepPodDirs()
}

// podDir is where the agent keeps a pod's volumes.
func (a *Agent) podDir(uid types.UID) string {
	return a.cfg.Dir + "/" + string(uid)
}

// register creates the Node, or brings an existing one up to date.
func (a *Agent) register(ctx context.Context) error {
	want := a.nodeObject()
	nodes := a.client.CoreV1().Nodes()
	for {
		cur, err := nodes.Get(ctx, want.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			if _, err = nodes.Create(ctx, want, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("node: registering %s: %w", want.Name, err)
			}
			continue
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			a.log.Warn("registering the node; retrying", "err", err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
			continue
		}
		for k, v := range want.Labels {
			if cur.Labels == nil {
				cur.Labels = map[string]string{}
			}
			cur.Labels[k] = v
		}
		if cur, err = nodes.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsConflict(err) {
				continue
			}
			return fmt.Errorf("node: updating %s: %w", want.Name, err)
		}
		cur.Status = want.Status
		if _, err := nodes.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsConflict(err) {
				continue
			}
			return fmt.Errorf("node: writing the status of %s: %w", want.Name, err)
		}
		a.log.Info("node registered", "node", want.Name, "runtime", a.rt.Info().Name, "isolated", a.rt.Info().Isolated)
		return nil
	}
}

// nodeObject is the Node as the agent reports it now.
func (a *Agent) nodeObject() *corev1.Node {
	now := apiTime(a.now())
	info := a.rt.Info()
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	capacity := a.capacity()
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: a.cfg.NodeName,
			Labels: map[string]string{
				corev1.LabelHostname:       a.cfg.NodeName,
				corev1.LabelOSStable:       runtime.GOOS,
				corev1.LabelArchStable:     runtime.GOARCH,
				"beta.kubernetes.io/os":    runtime.GOOS,
				"beta.kubernetes.io/arch":  runtime.GOARCH,
				"node.cella.dev/runtime":   info.Name,
				"node.cella.dev/isolation": map[bool]string{true: "on", false: "off"}[info.Isolated],
			},
		},
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity.DeepCopy(),
			Phase:       corev1.NodeRunning,
			Conditions: []corev1.NodeCondition{
				cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
				cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
				cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
				cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
			},
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: a.hostIP},
				{Type: corev1.NodeHostName, Address: a.cfg.NodeName},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 0}},
			NodeInfo: corev1.NodeSystemInfo{
				MachineID:               readTrimmed("/etc/machine-id"),
				SystemUUID:              readTrimmed("/sys/class/dmi/id/product_uuid"),
				BootID:                  readTrimmed("/proc/sys/kernel/random/boot_id"),
				KernelVersion:           kernelVersion(),
				OSImage:                 osImage(),
				ContainerRuntimeVersion: info.Name + "://" + a.cfg.Version,
				KubeletVersion:          a.cfg.Version,
				OperatingSystem:         runtime.GOOS,
				Architecture:            runtime.GOARCH,
			},
		},
	}
}

// capacity is what the machine has: its cores, memory, pods and disk.
func (a *Agent) capacity() corev1.ResourceList {
	l := corev1.ResourceList{
		corev1.ResourceCPU:  *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourcePods: *resource.NewQuantity(int64(a.cfg.MaxPods), resource.DecimalSI),
	}
	if mem := memTotal(); mem > 0 {
		l[corev1.ResourceMemory] = *resource.NewQuantity(mem, resource.BinarySI)
	}
	for name, q := range a.cfg.Capacity {
		l[name] = q.DeepCopy()
	}
	var st syscall.Statfs_t
	if dir := a.cfg.Dir; dir != "" {
		_ = os.MkdirAll(dir, 0o700)
		if syscall.Statfs(dir, &st) == nil {
			l[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(int64(st.Blocks)*int64(st.Bsize), resource.BinarySI)
		}
	}
	return l
}

// leaseLoop renews the node's Lease in kube-node-lease.
func (a *Agent) leaseLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.LeaseInterval)
	defer t.Stop()
	for {
		if err := a.renewLease(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("renewing the node lease", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *Agent) renewLease(ctx context.Context) error {
	leases := a.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(a.now())
	cur, err := leases.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		l := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Namespace: corev1.NamespaceNodeLease},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(a.cfg.NodeName),
				LeaseDurationSeconds: ptr.To(int32(40)),
				RenewTime:            &now,
			},
		}
		if n, err := a.client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{}); err == nil {
			l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.Name, UID: n.UID}}
		}
		_, err = leases.Create(ctx, l, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	cur.Spec.HolderIdentity = ptr.To(a.cfg.NodeName)
	cur.Spec.RenewTime = &now
	_, err = leases.Update(ctx, cur, metav1.UpdateOptions{})
	return err
}

// statusLoop writes the Node's heartbeat conditions.
func (a *Agent) statusLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.StatusInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := a.client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("reading the node for its heartbeat", "err", err)
			}
			continue
		}
		want := a.nodeObject()
		now := apiTime(a.now())
		for i := range want.Status.Conditions {
			c := &want.Status.Conditions[i]
			for _, old := range n.Status.Conditions {
				if old.Type == c.Type && old.Status == c.Status {
					c.LastTransitionTime = old.LastTransitionTime
				}
			}
			c.LastHeartbeatTime = now
		}
		n.Status = want.Status
		if _, err := a.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
			a.log.Warn("writing the node's heartbeat", "err", err)
		}
	}
}

// hostIP returns the machine's first non-loopback IPv4 address, or
// 127.0.0.1.
func hostIP() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
				return n.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

func readTrimmed(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// memTotal reads MemTotal from /proc/meminfo, in bytes (0 if unknown).
func memTotal() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb int64
		if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
			return kb * 1024
		}
	}
	return 0
}

func kernelVersion() string {
	if v := readTrimmed("/proc/sys/kernel/osrelease"); v != "" {
		return v
	}
	return runtime.GOOS
}

// osImage is PRETTY_NAME of /etc/os-release.
func osImage() string {
	b, err := os.ReadFile("/etc/os-release")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				return strings.Trim(v, `"`)
			}
		}
	}
	return runtime.GOOS
}

// errPodGone is returned by a worker's steps when its pod left the API.
var errPodGone = errors.New("node: the pod is gone")
