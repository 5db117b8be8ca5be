package node_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	netv1beta1 "cella.dev/cella/internal/apis/networking/v1beta1"
	"cella.dev/cella/internal/servertest"
)

// networkOf reads spec.cidr of the Network name in namespace ns.
func networkOf(t *testing.T, cs kubernetes.Interface, ns, name string) netip.Prefix {
	t.Helper()
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/apis", netv1beta1.GroupName, "v1beta1", "namespaces", ns, "networks", name).DoRaw(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var n netv1beta1.Network
	if err := json.Unmarshal(raw, &n); err != nil {
		t.Fatal(err)
	}
	return netip.MustParsePrefix(n.Spec.CIDR)
}

// TestProcessIsolation: as root the process runtime isolates pods. A pod
// gets its IP from its namespace's Network (the bootstrap's default
// Network in default), and the Node says isolation is on; a container
// that allocates past its memory limit is killed, reported OOMKilled, and
// restarted with restartCount counting.
func TestProcessIsolation(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the process runtime isolates pods only as root: run the tests as root to check it")
	}
	_, cs := startProcess(t, "")
	defer cleanupPods(t, cs)
	ctx := t.Context()
	pods := cs.CoreV1().Pods("default")

	hog := shPod("hog", `echo eating; x=$(head -c 300m /dev/zero | tr '\0' a); echo survived`, corev1.RestartPolicyAlways)
	hog.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}
	if _, err := pods.Create(ctx, hog, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := podWhere(t, cs, "hog", "is restarted after an OOM kill", func(p *corev1.Pod) bool {
		if len(p.Status.ContainerStatuses) != 1 {
			return false
		}
		cs := p.Status.ContainerStatuses[0]
		return cs.RestartCount >= 1 && cs.LastTerminationState.Terminated != nil
	})
	last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated
	if last.Reason != "OOMKilled" || last.ExitCode != 137 {
		t.Errorf("last termination: %+v; want OOMKilled, exit code 137", last)
	}
	cidr := networkOf(t, cs, "default", "default-network")
	if ip, err := netip.ParseAddr(p.Status.PodIP); err != nil || !cidr.Contains(ip) {
		t.Errorf("podIP %q: want one of the namespace's Network %s", p.Status.PodIP, cidr)
	}
	n, err := cs.CoreV1().Nodes().Get(ctx, "proc-node", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Labels["node.cella.dev/isolation"]; got != "on" {
		t.Errorf("node label node.cella.dev/isolation = %q, want on", got)
	}
	evs, err := cs.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=hog"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		if e.Reason == "IsolationOff" {
			t.Errorf("event %s: %s", e.Reason, e.Message)
		}
	}
}

// TestProcessIsolationNetworksCached: the agent reads the pod network of
// isolated pods from its cache of Networks, not with a request per pod;
// the pods of a namespace still get its Network's addresses.
func TestProcessIsolationNetworksCached(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the process runtime isolates pods only as root: run the tests as root to check it")
	}
	srv, cs := startProcess(t, "")
	defer cleanupPods(t, cs)
	const n = 4
	for i := range n {
		if _, err := cs.CoreV1().Pods("default").Create(t.Context(), shPod(fmt.Sprintf("p%d", i), "sleep 60", corev1.RestartPolicyAlways), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cidr := networkOf(t, cs, "default", "default-network")
	for i := range n {
		p := podWhere(t, cs, fmt.Sprintf("p%d", i), "runs", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		if ip, err := netip.ParseAddr(p.Status.PodIP); err != nil || !cidr.Contains(ip) {
			t.Errorf("pod %s: podIP %q, want one of the namespace's Network %s", p.Name, p.Status.PodIP, cidr)
		}
	}
	if lists := networkLists(t, srv); lists >= n {
		t.Errorf("%d lists of Networks for %d pods; want the cache's (one, or a few after a failed watch)", lists, n)
	}
}

// networkLists reads the server's count of lists of Networks, whatever
// their scope and answer.
func networkLists(t *testing.T, srv *servertest.Server) int {
	t.Helper()
	resp, err := srv.HTTPClient().Do(srv.Request("GET", "/metrics", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	total := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") ||
			!strings.Contains(line, `group="networking.cci.io",resource="networks",subresource="",verb="list"`) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.Atoi(fields[len(fields)-1])
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		total += v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}
