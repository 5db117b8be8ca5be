package node_test

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/servertest"
)

// TestOneStatusWritePerStart: a pod that starts and runs takes one status
// write, not a write on the informer's stale copy (409), a GET and the
// same status again: the agent syncs from what its own write returned
// until the informer catches up.
func TestOneStatusWritePerStart(t *testing.T) {
	srv, cs := startSim(t)
	const pods = 20
	var names []string
	for i := range pods {
		name := fmt.Sprintf("once-%02d", i)
		names = append(names, name)
		if _, err := cs.CoreV1().Pods("default").Create(t.Context(), simPod(name, nil, corev1.RestartPolicyAlways), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range names {
		podWhere(t, cs, name, "is Running and Ready", func(p *corev1.Pod) bool {
			c := condition(p, corev1.PodReady)
			return p.Status.Phase == corev1.PodRunning && c != nil && c.Status == corev1.ConditionTrue
		})
	}
	// A request is counted once answered, which may be just after its
	// client saw the write.
	var got map[string]int
	eventually(t, "the status writes are counted", func(context.Context) (bool, error) {
		got = statusUpdates(t, srv)
		return got["200"] >= pods, nil
	})
	if got["409"] != 0 || got["200"] != pods {
		t.Errorf("pods/status updates by code: %v; want %d answered 200 and none 409", got, pods)
	}
}

// statusUpdates reads the server's count of pods/status updates by code.
func statusUpdates(t *testing.T, srv *servertest.Server) map[string]int {
	t.Helper()
	resp, err := srv.HTTPClient().Do(srv.Request("GET", "/metrics", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") ||
			!strings.Contains(line, `resource="pods",subresource="status",verb="update"`) {
			continue
		}
		code, _, _ := strings.Cut(strings.TrimPrefix(line, `apiserver_request_total{code="`), `"`)
		fields := strings.Fields(line)
		n, err := strconv.Atoi(fields[len(fields)-1])
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		got[code] += n
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}
