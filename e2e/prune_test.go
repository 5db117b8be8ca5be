//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestApplyPruneDefaultAllowlist: `kubectl apply --prune -l` without
// --prune-allowlist walks kubectl's default list of kinds (config maps,
// endpoints, namespaces, claims, volumes, pods, replication controllers,
// secrets, services, jobs, cron jobs, ingresses, daemon sets, deployments,
// replica sets, stateful sets), so every one of them must be served under
// the cci profile too; what left the directory is deleted, the rest kept.
func TestApplyPruneDefaultAllowlist(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cm := func(name string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  labels: {app: prune}\ndata: {a: \"1\"}\n"
	}
	write("keep.yaml", cm("keep"))
	write("gone.yaml", cm("gone"))
	wantContains(t, "first apply", c.must(t, "apply", "-f", dir, "--prune", "-l", "app=prune"),
		"configmap/keep created", "configmap/gone created")
	if err := os.Remove(filepath.Join(dir, "gone.yaml")); err != nil {
		t.Fatal(err)
	}
	r := c.run(t, "apply", "-f", dir, "--prune", "-l", "app=prune")
	if r.code != 0 || !strings.Contains(r.stdout, "configmap/gone pruned") {
		t.Fatalf("apply --prune after removing a file: %s", r)
	}
	if strings.Contains(r.stderr, "the server doesn't have a resource type") || strings.Contains(r.stderr, "error") {
		t.Errorf("apply --prune complained: %s", r.stderr)
	}
	if r := c.run(t, "get", "configmap", "gone"); r.code == 0 {
		t.Errorf("the pruned config map is still there: %s", r)
	}
	c.must(t, "get", "configmap", "keep")
}
