//go:build e2e

package e2e

import (
	"strings"
	"testing"
)

// TestEventsSim: the ways a user reads a pod's events on a real cluster
// find the scheduler's and the agent's: `kubectl events --for`, `get
// events` with kubectl's field selectors (core/v1 and events.k8s.io/v1
// names), `-o wide` with the source and count columns, and `describe`.
func TestEventsSim(t *testing.T) {
	t.Parallel()
	c := simCluster(t)
	for _, name := range []string{"web", "other"} {
		c.must(t, "run", name, "--image=busybox", "--", "sleep", "3600")
	}
	c.must(t, "wait", "--for=condition=Ready", "pod/web", "pod/other", "--timeout=30s")
	// The agent's Started is written after the pod is Ready is: wait
	// for it before reading.
	c.must(t, "wait", "--for=jsonpath={.reason}=Started", "--timeout=30s", "events",
		"--field-selector=involvedObject.name=web,reason=Started")

	out := c.must(t, "events", "--for", "pod/web")
	wantContains(t, "kubectl events --for pod/web", out, "Scheduled", "Successfully assigned default/web to sim-node",
		"Created", "Created container: web", "Started", "Started container web", "Pod/web")
	if strings.Contains(out, "Pod/other") {
		t.Errorf("kubectl events --for pod/web shows another pod's:\n%s", out)
	}

	out = c.must(t, "get", "events", "--field-selector", "involvedObject.name=web")
	wantContains(t, "kubectl get events --field-selector involvedObject.name=web", out, "LAST SEEN", "Scheduled", "Created", "Started", "pod/web")
	if strings.Contains(out, "pod/other") || strings.Contains(out, "NAME") {
		t.Errorf("kubectl get events --field-selector: another pod's events, or a NAME column Kubernetes does not print:\n%s", out)
	}
	out = c.must(t, "get", "events", "-o", "wide", "--field-selector", "involvedObject.name=web,reason=Started")
	wantContains(t, "kubectl get events -o wide", out, "SOURCE", "COUNT", "kubelet, sim-node", "FIRST SEEN")
	out = c.must(t, "get", "events", "-o", "wide", "--field-selector", "involvedObject.name=web,reason=Scheduled")
	wantContains(t, "kubectl get events -o wide (events.k8s.io writer)", out, "default-scheduler, default-scheduler-")

	out = c.must(t, "get", "events.v1.events.k8s.io", "--field-selector", "regarding.name=web,reportingController=kubelet")
	wantContains(t, "kubectl get events.v1.events.k8s.io --field-selector regarding.name=web", out, "Created", "Started", "pod/web")
	if strings.Contains(out, "Scheduled") {
		t.Errorf("reportingController=kubelet selected the scheduler's event:\n%s", out)
	}

	out = c.must(t, "describe", "pod", "web")
	wantContains(t, "kubectl describe pod web", out, "Events:", "default-scheduler", "Successfully assigned default/web to sim-node",
		"kubelet", "Created container: web", "Started container web")
}
