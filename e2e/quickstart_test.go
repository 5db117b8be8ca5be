//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cella.dev/cella/internal/app"
)

// TestQuickStart follows the README's quick start on the binary's
// defaults (profile cci, runtime process): apply examples/, then run a
// pod with `kubectl run` as the README shows it, read its logs, run a
// command in it, see its usage and delete it.
func TestQuickStart(t *testing.T) {
	t.Parallel()
	def := app.NewConfig()
	if def.Runtime != "process" || def.Profile != "cci" {
		t.Fatalf("the binary's defaults are runtime %q, profile %q; the quick start assumes process and cci", def.Runtime, def.Profile)
	}
	c := newCluster(t, func(c *app.Config) {
		c.Runtime, c.Profile, c.NodeName = def.Runtime, def.Profile, "quick-node"
		c.MetricsResolution = 200 * time.Millisecond
	})
	// As processCluster: the pods go, and their sandboxes with them,
	// before the server stops.
	t.Cleanup(func() {
		if r := c.run(t, "delete", "pods", "--all", "-n", "demo", "--grace-period=1", "--timeout=60s"); r.code != 0 {
			t.Errorf("deleting the test's pods:\n%s", r)
		}
		dir := filepath.Join(c.srv.Config.DataDir, "runtime")
		deadline := time.Now().Add(callTimeout)
		for {
			if entries, _ := os.ReadDir(dir); len(entries) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("sandboxes left in %s", dir)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	dir, err := filepath.Abs(filepath.Join("..", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	c.must(t, "apply", "-f", dir)

	// Without the LimitRange of examples/ CCI refuses a pod that states no
	// resources, and says why.
	r := c.run(t, "run", "nolimits", "--image=busybox", "--command", "--", "sh", "-c", "sleep 3600")
	if r.code == 0 || !strings.Contains(r.stderr, "every container must set cpu limits") {
		t.Errorf("kubectl run in default (no LimitRange) under cci: %s", r)
	}

	c.must(t, "-n", "demo", "run", "web", "--image=busybox", "--command", "--", "sh", "-c", "while true; do echo hi; sleep 1; done")
	c.must(t, "-n", "demo", "wait", "--for=condition=Ready", "pod/web", "--timeout=30s")
	wantContains(t, "kubectl get pod", c.must(t, "-n", "demo", "get", "pod", "web", "-o", "jsonpath={.spec.containers[0].resources.limits.cpu} {.status.phase}"), "500m Running")

	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(c.must(t, "-n", "demo", "logs", "web"), "hi\nhi\n") {
		if time.Now().After(deadline) {
			t.Fatal("kubectl logs never showed two lines of hi")
		}
		time.Sleep(100 * time.Millisecond)
	}
	wantContains(t, "kubectl exec", c.must(t, "-n", "demo", "exec", "web", "--", "sh", "-c", "echo inside $HOSTNAME"), "inside web")

	deadline = time.Now().Add(20 * time.Second)
	for {
		r := c.run(t, "-n", "demo", "top", "pod", "web")
		if r.code == 0 {
			if row := parseTable(t, r.stdout).row("web"); row["MEMORY(bytes)"] == "" {
				t.Errorf("kubectl top pod: %s", r.stdout)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubectl top pod never answered: %s", r)
		}
		time.Sleep(200 * time.Millisecond)
	}
	wantContains(t, "kubectl delete", c.must(t, "-n", "demo", "delete", "pod", "web", "--grace-period=1", "--timeout=30s"), `pod "web" deleted`)
}
