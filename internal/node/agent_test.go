package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

// These tests run the whole server with the sim runtime: the scheduler
// binds, the agent runs the pods, and everything is seen through the API
// as a client sees it.

const nodeName = "sim-node"

func startSim(t *testing.T) (*servertest.Server, kubernetes.Interface) {
	t.Helper()
	srv := servertest.Start(t, func(c *app.Config) {
		c.Runtime, c.Profile, c.NodeName = "sim", "kubernetes", nodeName
	})
	return srv, srv.Clientset()
}

// eventually polls cond for up to 30 s (generous: the machine may be
// busy; nothing here asserts speed).
func eventually(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 30*time.Second, true, cond); err != nil {
		t.Fatalf("waiting until %s: %v", what, err)
	}
}

func simPod(name string, ann map[string]string, policy corev1.RestartPolicy) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: ann},
		Spec: corev1.PodSpec{
			RestartPolicy: policy,
			Containers:    []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sh", "-c", "true"}}},
		},
	}
}

// podWhere waits until the pod satisfies cond and returns it.
func podWhere(t *testing.T, cs kubernetes.Interface, name, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var got *corev1.Pod
	eventually(t, name+" "+what, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		got = p
		return cond(p), nil
	})
	return got
}

func condition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// TestNodeRegistered: the agent registers its Node (Ready, labels,
// capacity) and renews its Lease in kube-node-lease.
func TestNodeRegistered(t *testing.T) {
	_, cs := startSim(t)
	ctx := t.Context()
	var n *corev1.Node
	eventually(t, "the node is registered and Ready", func(ctx context.Context) (bool, error) {
		var err error
		n, err = cs.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if n.Labels[corev1.LabelHostname] != nodeName || n.Labels[corev1.LabelOSStable] == "" || n.Labels[corev1.LabelArchStable] == "" {
		t.Errorf("labels: %v", n.Labels)
	}
	if n.Status.Capacity.Cpu().IsZero() || n.Status.Allocatable.Pods().Value() != 10000 || n.Status.NodeInfo.KubeletVersion == "" {
		t.Errorf("capacity %v allocatable %v info %+v", n.Status.Capacity, n.Status.Allocatable, n.Status.NodeInfo)
	}
	eventually(t, "the node's lease exists", func(ctx context.Context) (bool, error) {
		l, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, nodeName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil && l.Spec.RenewTime != nil && ptr.Deref(l.Spec.HolderIdentity, "") == nodeName, err
	})
	_ = ctx
}

// TestPodRunsToCompletion: a pod is scheduled (Scheduled event, nodeName),
// runs (Running, Ready, podIP) and completes (Succeeded, exit 0 reason
// Completed, Ready false), with the kubelet's events.
func TestPodRunsToCompletion(t *testing.T) {
	_, cs := startSim(t)
	ctx := t.Context()
	pods := cs.CoreV1().Pods("default")
	if _, err := pods.Create(ctx, simPod("done", map[string]string{"sim.cella.dev/run-time": "1s"}, corev1.RestartPolicyNever), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := podWhere(t, cs, "done", "runs", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	if p.Spec.NodeName != nodeName || p.Status.PodIP == "" || p.Status.HostIP == "" || p.Status.StartTime == nil {
		t.Errorf("running pod: node %q podIP %q hostIP %q start %v", p.Spec.NodeName, p.Status.PodIP, p.Status.HostIP, p.Status.StartTime)
	}
	if c := condition(p, corev1.PodScheduled); c == nil || c.Status != corev1.ConditionTrue {
		t.Errorf("PodScheduled: %+v", c)
	}
	p = podWhere(t, cs, "done", "succeeds", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	cst := p.Status.ContainerStatuses
	if len(cst) != 1 || cst[0].State.Terminated == nil || cst[0].State.Terminated.ExitCode != 0 || cst[0].State.Terminated.Reason != "Completed" {
		t.Fatalf("container status: %+v", cst)
	}
	if c := condition(p, corev1.PodReady); c == nil || c.Status != corev1.ConditionFalse || c.Reason != "PodCompleted" {
		t.Errorf("Ready after completion: %+v", c)
	}
	want := map[string]bool{"Scheduled": false, "Created": false, "Started": false}
	eventually(t, "the pod's events are written", func(ctx context.Context) (bool, error) {
		evs, err := cs.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", "done").String()})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if _, ok := want[e.Reason]; ok {
				want[e.Reason] = true
			}
		}
		for _, seen := range want {
			if !seen {
				return false, nil
			}
		}
		return true, nil
	})
}

// TestCrashLoopBackOff: a container that keeps failing under
// restartPolicy Always is restarted (restartCount grows) with Kubernetes'
// back-off, reported as Waiting CrashLoopBackOff with its last exit.
func TestCrashLoopBackOff(t *testing.T) {
	_, cs := startSim(t)
	ctx := t.Context()
	ann := map[string]string{"sim.cella.dev/run-time": "10ms", "sim.cella.dev/exit-code": "2"}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, simPod("crash", ann, corev1.RestartPolicyAlways), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := podWhere(t, cs, "crash", "is in CrashLoopBackOff", func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CrashLoopBackOff"
	})
	c := p.Status.ContainerStatuses[0]
	if c.RestartCount < 1 || c.LastTerminationState.Terminated == nil || c.LastTerminationState.Terminated.ExitCode != 2 || c.LastTerminationState.Terminated.Reason != "Error" {
		t.Fatalf("crash-looping container: %+v", c)
	}
	if !strings.Contains(c.State.Waiting.Message, "back-off 10s restarting failed container=c pod=crash_default") {
		t.Errorf("waiting message %q", c.State.Waiting.Message)
	}
	if p.Status.Phase != corev1.PodRunning {
		t.Errorf("phase %s, want Running (restartPolicy Always)", p.Status.Phase)
	}
}

// TestInitContainersRunFirst: init containers run one after the other to
// a successful exit before the containers start; a failing one under
// restartPolicy Never fails the pod.
func TestInitContainersRunFirst(t *testing.T) {
	_, cs := startSim(t)
	ctx := t.Context()
	pod := simPod("inits", map[string]string{"sim.cella.dev/i1.run-time": "200ms", "sim.cella.dev/i2.run-time": "200ms"}, corev1.RestartPolicyNever)
	pod.Spec.InitContainers = []corev1.Container{
		{Name: "i1", Image: "busybox", Command: []string{"true"}},
		{Name: "i2", Image: "busybox", Command: []string{"true"}},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := podWhere(t, cs, "inits", "is initialized and running", func(p *corev1.Pod) bool {
		c := condition(p, corev1.PodInitialized)
		return c != nil && c.Status == corev1.ConditionTrue && p.Status.Phase == corev1.PodRunning
	})
	i1, i2 := p.Status.InitContainerStatuses[0].State.Terminated, p.Status.InitContainerStatuses[1].State.Terminated
	run := p.Status.ContainerStatuses[0].State.Running
	if i1 == nil || i2 == nil || run == nil {
		t.Fatalf("statuses: %+v %+v", p.Status.InitContainerStatuses, p.Status.ContainerStatuses)
	}
	if i2.StartedAt.Before(&i1.FinishedAt) || run.StartedAt.Before(&i2.FinishedAt) {
		t.Errorf("out of order: i1 %v-%v, i2 %v-%v, c from %v", i1.StartedAt, i1.FinishedAt, i2.StartedAt, i2.FinishedAt, run.StartedAt)
	}

	bad := simPod("bad-init", map[string]string{"sim.cella.dev/i1.run-time": "10ms", "sim.cella.dev/i1.exit-code": "1"}, corev1.RestartPolicyNever)
	bad.Spec.InitContainers = []corev1.Container{{Name: "i1", Image: "busybox", Command: []string{"false"}}}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, bad, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p = podWhere(t, cs, "bad-init", "fails", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if p.Status.ContainerStatuses[0].State.Waiting == nil {
		t.Errorf("the container started after a failed init container: %+v", p.Status.ContainerStatuses[0])
	}
}

// TestGracefulDelete: deleting a running pod answers 202 with a
// deletionTimestamp; the agent stops it and removes it; a forced delete
// (grace 0) removes at once.
func TestGracefulDelete(t *testing.T) {
	srv, cs := startSim(t)
	ctx := t.Context()
	pods := cs.CoreV1().Pods("default")
	for _, name := range []string{"graceful", "forced"} {
		if _, err := pods.Create(ctx, simPod(name, nil, corev1.RestartPolicyAlways), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		podWhere(t, cs, name, "runs", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	}
	resp, err := srv.HTTPClient().Do(srv.Request(http.MethodDelete, "/api/v1/namespaces/default/pods/graceful", nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE of a running pod: %d, want 202", resp.StatusCode)
	}
	eventually(t, "the deleted pod is gone", func(ctx context.Context) (bool, error) {
		_, err := pods.Get(ctx, "graceful", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err := pods.Delete(ctx, "forced", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "forced", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after a forced delete: %v", err)
	}
}

// TestUnschedulable: a pod no node fits stays Pending with PodScheduled
// False, reason Unschedulable, in kube-scheduler's words, and a
// FailedScheduling event.
func TestUnschedulable(t *testing.T) {
	_, cs := startSim(t)
	ctx := t.Context()
	pod := simPod("nowhere", nil, corev1.RestartPolicyAlways)
	pod.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Before the node registers the message is "no nodes available to
	// schedule pods"; once it has, the pod is tried again.
	want := "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
	p := podWhere(t, cs, "nowhere", "is unschedulable on the node", func(p *corev1.Pod) bool {
		c := condition(p, corev1.PodScheduled)
		return c != nil && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable && c.Message == want
	})
	if p.Spec.NodeName != "" {
		t.Errorf("nodeName %q", p.Spec.NodeName)
	}
	eventually(t, "a FailedScheduling event is written", func(ctx context.Context) (bool, error) {
		evs, err := cs.EventsV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			// The first one may say there were no nodes yet: later ones
			// of the same reason extend its series, as client-go's
			// recorder does, and keep its note.
			if e.Regarding.Name == "nowhere" && e.Reason == "FailedScheduling" {
				return true, nil
			}
		}
		return false, nil
	})
}

// TestLogs: pods/log serves what the container printed, as text, with
// Range (206, 416) and DELETE (205).
func TestLogs(t *testing.T) {
	srv, cs := startSim(t)
	ctx := t.Context()
	ann := map[string]string{"sim.cella.dev/log": "hello\nworld"}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, simPod("talker", ann, corev1.RestartPolicyAlways), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	podWhere(t, cs, "talker", "runs", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	body, err := cs.CoreV1().Pods("default").GetLogs("talker", &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil || string(body) != "hello\nworld\n" {
		t.Fatalf("logs: %q %v", body, err)
	}
	hc := srv.HTTPClient()
	get := func(rng string) (*http.Response, string) {
		req := srv.Request(http.MethodGet, "/api/v1/namespaces/default/pods/talker/log", nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, got := get("bytes=6-10")
	if resp.StatusCode != http.StatusPartialContent || got != "world" || resp.Header.Get("Content-Range") != "bytes 6-10/12" {
		t.Errorf("Range 6-10: %d %q %q", resp.StatusCode, got, resp.Header.Get("Content-Range"))
	}
	resp, _ = get("bytes=100-")
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable || resp.Header.Get("Content-Range") != "bytes */12" {
		t.Errorf("Range past the end: %d %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
	resp, _ = get("")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Accept-Ranges") != "bytes" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("plain GET: %d %v", resp.StatusCode, resp.Header)
	}
	// A log is text: a client that takes only JSON gets 406.
	jreq := srv.Request(http.MethodGet, "/api/v1/namespaces/default/pods/talker/log", nil)
	jreq.Header.Set("Accept", "application/json")
	jresp, err := hc.Do(jreq)
	if err != nil {
		t.Fatal(err)
	}
	jresp.Body.Close()
	if jresp.StatusCode != http.StatusNotAcceptable {
		t.Errorf("GET log with Accept: application/json: %d, want 406", jresp.StatusCode)
	}
	dresp, err := hc.Do(srv.Request(http.MethodDelete, "/api/v1/namespaces/default/pods/talker/log", nil))
	if err != nil {
		t.Fatal(err)
	}
	dresp.Body.Close()
	if dresp.StatusCode != http.StatusResetContent {
		t.Fatalf("DELETE log: %d, want 205", dresp.StatusCode)
	}
	if body, err := cs.CoreV1().Pods("default").GetLogs("talker", &corev1.PodLogOptions{}).DoRaw(ctx); err != nil || len(body) != 0 {
		t.Fatalf("logs after DELETE: %q %v", body, err)
	}
	_ = fmt.Sprint
}

// TestEviction: pods/eviction (client-go's EvictV1, what kubectl drain
// uses) marks a running pod DisruptionTarget and deletes it gracefully;
// the agent then stops and removes it. A missing pod is 404.
func TestEviction(t *testing.T) {
	_, cs := startSim(t)
	ctx := t.Context()
	pods := cs.CoreV1().Pods("default")
	if _, err := pods.Create(ctx, simPod("evictee", nil, corev1.RestartPolicyAlways), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	podWhere(t, cs, "evictee", "runs", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "evictee", Namespace: "default"}}
	if err := pods.EvictV1(ctx, ev); err != nil {
		t.Fatalf("evict: %v", err)
	}
	eventually(t, "the evicted pod is gone", func(ctx context.Context) (bool, error) {
		_, err := pods.Get(ctx, "evictee", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	ev.Name = "missing"
	if err := pods.EvictV1(ctx, ev); !apierrors.IsNotFound(err) {
		t.Fatalf("evicting a missing pod: %v, want NotFound", err)
	}
}

// TestTop: metrics.k8s.io reports the usage the runtime measures, as
// kubectl top reads it: a sim pod's cpu-usage and memory-usage knobs, and
// the machine's usage for the node, once two samples exist.
func TestTop(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) {
		c.Runtime, c.Profile, c.NodeName = "sim", "kubernetes", nodeName
		c.MetricsResolution = 100 * time.Millisecond
	})
	cs := srv.Clientset()
	ctx := t.Context()
	ann := map[string]string{"sim.cella.dev/cpu-usage": "250m", "sim.cella.dev/memory-usage": "64Mi"}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, simPod("busy", ann, corev1.RestartPolicyAlways), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	podWhere(t, cs, "busy", "runs", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	var pm struct {
		Containers []struct {
			Name  string
			Usage map[string]string
		}
	}
	eventually(t, "pod metrics exist", func(ctx context.Context) (bool, error) {
		body, err := cs.CoreV1().RESTClient().Get().AbsPath("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/busy").DoRaw(ctx)
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return true, json.Unmarshal(body, &pm)
	})
	if len(pm.Containers) != 1 || pm.Containers[0].Usage["memory"] != "64Mi" {
		t.Fatalf("pod metrics: %+v", pm)
	}
	cpu := resource.MustParse(pm.Containers[0].Usage["cpu"])
	if m := cpu.MilliValue(); m < 200 || m > 300 {
		t.Errorf("cpu usage %s, want about 250m", pm.Containers[0].Usage["cpu"])
	}
	eventually(t, "node metrics exist", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().RESTClient().Get().AbsPath("/apis/metrics.k8s.io/v1beta1/nodes/" + nodeName).DoRaw(ctx)
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
}
