//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"cella.dev/cella/internal/app"
)

// simCluster is a cluster that runs pods with the sim runtime, under the
// kubernetes profile (kubectl run sets no resources, which CCI requires).
func simCluster(t *testing.T) *cluster {
	return newCluster(t, func(c *app.Config) { c.Runtime, c.Profile, c.NodeName = "sim", "kubernetes", "sim-node" })
}

// TestRunPodSim: the pod commands a user types after `kubectl run` behave
// as on a real cluster: the pod is scheduled and runs (wait, get, describe
// with its events), its logs print, the node is listed and described, and
// delete removes the pod.
func TestRunPodSim(t *testing.T) {
	t.Parallel()
	c := simCluster(t)
	out := c.must(t, "run", "web", "--image=busybox", "--annotations=sim.cella.dev/log=hello\nworld", "--", "sh", "-c", "while true; do echo hi; sleep 1; done")
	wantContains(t, "kubectl run", out, "pod/web created")
	c.must(t, "wait", "--for=condition=Ready", "pod/web", "--timeout=20s")

	// (-o wide's "NOMINATED NODE" header has a space, which parseTable
	// cannot tell from a column break: read the node with jsonpath.)
	row := parseTable(t, c.must(t, "get", "pods", "-o", "wide")).row("web")
	if row["READY"] != "1/1" || row["STATUS"] != "Running" || row["IP"] == "<none>" {
		t.Errorf("kubectl get pods -o wide: %v", row)
	}
	if node := c.must(t, "get", "pod", "web", "-o", "jsonpath={.spec.nodeName}"); node != "sim-node" {
		t.Errorf("spec.nodeName = %q", node)
	}
	if got := c.must(t, "logs", "web"); got != "hello\nworld\n" {
		t.Errorf("kubectl logs = %q", got)
	}
	if got := c.must(t, "logs", "web", "--tail=1"); got != "world\n" {
		t.Errorf("kubectl logs --tail=1 = %q", got)
	}
	desc := c.must(t, "describe", "pod", "web")
	wantContains(t, "kubectl describe pod", desc, "Node:", "sim-node", "Status:", "Running", "Scheduled", "Successfully assigned default/web to sim-node", "Started container web")

	nodes := parseTable(t, c.must(t, "get", "nodes"))
	if n := nodes.row("sim-node"); n["STATUS"] != "Ready" || n["VERSION"] == "" {
		t.Errorf("kubectl get nodes: %v", n)
	}
	wide := c.must(t, "get", "nodes", "-o", "wide")
	wantContains(t, "kubectl get nodes -o wide", wide, "INTERNAL-IP", "CONTAINER-RUNTIME", "sim://")
	wantContains(t, "kubectl describe node", c.must(t, "describe", "node", "sim-node"), "Ready", "KubeletReady", "default", "web", "Allocatable:")

	wantContains(t, "kubectl delete pod", c.must(t, "delete", "pod", "web", "--timeout=30s"), `pod "web" deleted`)
	if r := c.run(t, "get", "pod", "web"); r.code == 0 || !strings.Contains(r.stderr, "NotFound") {
		t.Errorf("after delete: %s", r)
	}
}

// TestForceDeletePodSim: --grace-period=0 --force removes a running pod at
// once, with kubectl's warning.
func TestForceDeletePodSim(t *testing.T) {
	t.Parallel()
	c := simCluster(t)
	c.must(t, "run", "doomed", "--image=busybox", "--", "sleep", "3600")
	c.must(t, "wait", "--for=condition=Ready", "pod/doomed", "--timeout=20s")
	r := c.run(t, "delete", "pod", "doomed", "--grace-period=0", "--force")
	if r.code != 0 || !strings.Contains(r.stdout, `pod "doomed" force deleted`) {
		t.Fatalf("force delete: %s", r)
	}
	if r := c.run(t, "get", "pod", "doomed"); r.code == 0 {
		t.Errorf("the pod is still there: %s", r)
	}
}

// TestRunPodProcess: with the process runtime `kubectl run` starts a real
// process, `kubectl logs` prints what it wrote, `kubectl logs -f` follows
// it, and `kubectl delete` stops it.
func TestRunPodProcess(t *testing.T) {
	t.Parallel()
	c := newCluster(t, func(c *app.Config) { c.Runtime, c.Profile, c.NodeName = "process", "kubernetes", "proc-node" })
	// The trap: as root the container is isolated, and its shell is PID 1
	// of its namespace, which ignores SIGTERM unless it handles it (as on
	// any cluster).
	c.must(t, "run", "counter", "--image=busybox", "--", "sh", "-c", "trap 'exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done")
	c.must(t, "wait", "--for=condition=Ready", "pod/counter", "--timeout=20s")
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := c.must(t, "logs", "counter")
		if strings.Contains(out, "tick 2\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubectl logs never showed three ticks: %q", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// -f follows until kubectl is stopped; a timeout of one second is
	// enough to see lines arrive while it runs.
	r := c.run(t, "logs", "-f", "counter", "--request-timeout=2s")
	if !strings.Contains(r.stdout, "tick 0\n") {
		t.Errorf("kubectl logs -f: %s", r)
	}
	wantContains(t, "kubectl delete", c.must(t, "delete", "pod", "counter", "--timeout=30s"), `pod "counter" deleted`)
}

// TestDrainSim: kubectl drain cordons the node and evicts its pods through
// pods/eviction (found in discovery); the pods go, and the node is
// unschedulable until uncordoned.
func TestDrainSim(t *testing.T) {
	t.Parallel()
	c := simCluster(t)
	c.must(t, "run", "evictee", "--image=busybox", "--", "sleep", "3600")
	c.must(t, "wait", "--for=condition=Ready", "pod/evictee", "--timeout=20s")
	out := c.must(t, "drain", "sim-node", "--force", "--timeout=30s")
	wantContains(t, "kubectl drain", out, "node/sim-node cordoned", "evicting pod default/evictee", "pod/evictee evicted", "node/sim-node drained")
	if r := c.run(t, "get", "pod", "evictee"); r.code == 0 {
		t.Errorf("the evicted pod is still there: %s", r)
	}
	wantContains(t, "kubectl get nodes", c.must(t, "get", "nodes"), "Ready,SchedulingDisabled")
	c.must(t, "uncordon", "sim-node")
}

// TestTopSim: kubectl top pod and kubectl top node print the usage the
// agent measures (the sim pod's usage knobs).
func TestTopSim(t *testing.T) {
	t.Parallel()
	c := newCluster(t, func(c *app.Config) {
		c.Runtime, c.Profile, c.NodeName = "sim", "kubernetes", "sim-node"
		c.MetricsResolution = 200 * time.Millisecond
	})
	c.must(t, "run", "busy", "--image=busybox", "--annotations=sim.cella.dev/cpu-usage=250m", "--annotations=sim.cella.dev/memory-usage=64Mi", "--", "sleep", "3600")
	c.must(t, "wait", "--for=condition=Ready", "pod/busy", "--timeout=20s")
	var out string
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := c.run(t, "top", "pod", "busy")
		if r.code == 0 {
			out = r.stdout
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubectl top pod never answered: %s", r)
		}
		time.Sleep(200 * time.Millisecond)
	}
	row := parseTable(t, out).row("busy")
	if row["MEMORY(bytes)"] != "64Mi" || !strings.HasSuffix(row["CPU(cores)"], "m") {
		t.Errorf("kubectl top pod: %v\n%s", row, out)
	}
	nodes := parseTable(t, c.must(t, "top", "node")).row("sim-node")
	if nodes["CPU(cores)"] == "" || nodes["MEMORY(bytes)"] == "" {
		t.Errorf("kubectl top node: %v", nodes)
	}
}
