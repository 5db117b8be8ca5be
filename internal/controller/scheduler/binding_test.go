package scheduler_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/controller/scheduler"
	"cella.dev/cella/internal/servertest"
)

// bindingGate holds every pods/binding request the scheduler sends until
// want of them are in flight at once, or until a deadline passes (so a
// scheduler that binds one pod at a time is slow and seen, not stuck).
type bindingGate struct {
	want int
	open chan struct{}
	once sync.Once

	mu       sync.Mutex
	inflight int // guarded by mu
	most     int // guarded by mu
}

func newBindingGate(want int) *bindingGate {
	return &bindingGate{want: want, open: make(chan struct{})}
}

func (g *bindingGate) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/binding") {
			return rt.RoundTrip(req)
		}
		g.mu.Lock()
		g.inflight++
		g.most = max(g.most, g.inflight)
		if g.inflight >= g.want {
			g.once.Do(func() { close(g.open) })
		}
		g.mu.Unlock()
		defer func() {
			g.mu.Lock()
			g.inflight--
			g.mu.Unlock()
		}()
		select {
		case <-g.open:
		case <-time.After(3 * time.Second):
		case <-req.Context().Done():
		}
		return rt.RoundTrip(req)
	})
}

func (g *bindingGate) mostInFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.most
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// startScheduler runs a scheduler against a real server that runs none of
// its own (no runtime), through a client whose bindings pass gate, with
// one Ready node of cpu cores.
func startScheduler(t *testing.T, gate *bindingGate, cpu string) kubernetes.Interface {
	t.Helper()
	srv := servertest.Start(t, func(c *app.Config) { c.Profile = "kubernetes" })
	cs := srv.Clientset()
	ctx := t.Context()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	node, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status = corev1.NodeStatus{
		Allocatable: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("8Gi"),
			corev1.ResourcePods: resource.MustParse("110"),
		},
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
	}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	rc := srv.RestConfig()
	rc.WrapTransport = gate.wrap
	sc := kubernetes.NewForConfigOrDie(rc)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		scheduler.New(sc, slog.New(slog.DiscardHandler)).Run(runCtx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return cs
}

func podRequestingCPU(name, cpu string) *corev1.Pod {
	var req corev1.ResourceList
	if cpu != "" {
		req = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "busybox", Resources: corev1.ResourceRequirements{Requests: req},
		}}},
	}
}

// waitPods polls (generously: the machine may be busy) until every pod
// named satisfies cond.
func waitPods(t *testing.T, cs kubernetes.Interface, what string, cond func(*corev1.Pod) bool, names ...string) map[string]*corev1.Pod {
	t.Helper()
	got := map[string]*corev1.Pod{}
	err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		for _, n := range names {
			p, err := cs.CoreV1().Pods("default").Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			got[n] = p
			if !cond(p) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("waiting until the pods %s: %v", what, err)
	}
	return got
}

// TestBindingsOverlap: the scheduler places the next pod while earlier
// bindings are still being written, so several are in flight at once and
// share the store's commits; every pod ends bound.
func TestBindingsOverlap(t *testing.T) {
	const pods = 4
	gate := newBindingGate(pods)
	cs := startScheduler(t, gate, "4")
	var names []string
	for i := range pods {
		p := podRequestingCPU("p"+string(rune('a'+i)), "")
		names = append(names, p.Name)
		if _, err := cs.CoreV1().Pods("default").Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitPods(t, cs, "are bound", func(p *corev1.Pod) bool { return p.Spec.NodeName == "n1" }, names...)
	if n := gate.mostInFlight(); n < pods {
		t.Errorf("at most %d bindings were in flight at once, want %d: the scheduler binds one pod at a time", n, pods)
	}
}

// TestBindingInFlightTakesRoom: a pod whose binding is still in flight
// already takes its room on the node, so the next pod, which would fit
// only without it, is Unschedulable rather than bound beside it.
func TestBindingInFlightTakesRoom(t *testing.T) {
	gate := newBindingGate(2) // never reached: one pod is bound
	cs := startScheduler(t, gate, "1")
	for _, name := range []string{"big-1", "big-2"} {
		if _, err := cs.CoreV1().Pods("default").Create(t.Context(), podRequestingCPU(name, "600m"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	got := waitPods(t, cs, "are placed or refused", func(p *corev1.Pod) bool {
		if p.Spec.NodeName != "" {
			return true
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonUnschedulable {
				return true
			}
		}
		return false
	}, "big-1", "big-2")
	bound := 0
	for _, p := range got {
		if p.Spec.NodeName != "" {
			bound++
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && !strings.Contains(c.Message, "Insufficient cpu") {
				t.Errorf("%s: PodScheduled message %q, want Insufficient cpu", p.Name, c.Message)
			}
		}
	}
	if bound != 1 {
		t.Errorf("%d pods bound, want 1 (each takes 0.6 of 1 core)", bound)
	}
}
