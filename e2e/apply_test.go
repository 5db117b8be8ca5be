//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestServerSideApply: `kubectl apply --server-side` creates the examples
// and a second run changes nothing (no resourceVersion moves); a second
// field manager changing a field kubectl owns is refused with the
// conflict named, and `--force-conflicts` takes the field over.
func TestServerSideApply(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	dir, err := filepath.Abs(filepath.Join("..", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	out := c.must(t, "apply", "--server-side", "-f", dir)
	if got, want := lines(out), suffixed(examplesApplied, " serverside-applied"); !slices.Equal(got, want) {
		t.Fatalf("kubectl apply --server-side printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The Secret is left out: its stringData is folded into data when it
	// is stored, so every apply of stringData differs from the live object
	// and renews the manager's time, in kube-apiserver too.
	withoutSecret := func(rvs []string) []string {
		return slices.DeleteFunc(rvs, func(s string) bool { return strings.HasPrefix(s, "Secret/") })
	}
	before := withoutSecret(resourceVersions(t, c, dir))
	c.must(t, "apply", "--server-side", "-f", dir)
	if after := withoutSecret(resourceVersions(t, c, dir)); !slices.Equal(after, before) {
		t.Errorf("resourceVersions moved on a server-side apply that changed nothing:\nbefore %v\nafter  %v", before, after)
	}
	if g := generation(t, c); g != 1 {
		t.Errorf("generation after an unchanged server-side apply = %d, want 1", g)
	}

	var cm struct {
		Metadata struct {
			ManagedFields []struct {
				Manager, Operation string
			}
		}
	}
	c.getJSON(t, &cm, "configmap", "web-content", "-n", "demo", "--show-managed-fields")
	if len(cm.Metadata.ManagedFields) != 1 || cm.Metadata.ManagedFields[0].Manager != "kubectl" || cm.Metadata.ManagedFields[0].Operation != "Apply" {
		t.Errorf("managedFields of the applied ConfigMap: %+v", cm.Metadata.ManagedFields)
	}

	// Another manager changes a field kubectl applied.
	other := filepath.Join(t.TempDir(), "cm.yaml")
	manifest := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-content\n  namespace: demo\ndata:\n  index.html: replaced\n"
	if err := os.WriteFile(other, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	r := c.run(t, "apply", "--server-side", "--field-manager=ops", "-f", other)
	if r.code == 0 {
		t.Fatalf("a conflicting server-side apply succeeded:\n%s", r)
	}
	wantContains(t, "conflicting apply", r.stderr, "Apply failed with 1 conflict", `conflict with "kubectl"`, ".data.index.html", "--force-conflicts")
	c.must(t, "apply", "--server-side", "--field-manager=ops", "--force-conflicts", "-f", other)
	if got := c.must(t, "get", "configmap", "web-content", "-n", "demo", "-o", `jsonpath={.data.index\.html}`); got != "replaced" {
		t.Errorf("index.html after --force-conflicts = %q, want replaced", got)
	}
	out = c.must(t, "get", "configmap", "web-content", "-n", "demo", "--show-managed-fields", "-o", "yaml")
	// kubectl's entry owned nothing else, so it is gone.
	wantContains(t, "managedFields after --force-conflicts", out, "manager: ops", "operation: Apply")
	if strings.Contains(out, "manager: kubectl") {
		t.Errorf("kubectl still manages the ConfigMap after losing its only field:\n%s", out)
	}
}

// TestApplySet: `kubectl apply --server-side --applyset --prune` records
// its objects on the parent ConfigMap, and pruning deletes the object
// that left the set.
func TestApplySet(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c.mustWith(t, call{stdin: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: sets\n  annotations:\n    namespace.kubernetes.io/flavor: general-computing\n"}, "apply", "-f", "-")
	write("a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: sets\ndata:\n  k: v\n")
	write("b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: sets\ndata:\n  k: v\n")
	env := call{env: []string{"KUBECTL_APPLYSET=true"}}
	c.mustWith(t, env, "apply", "-n", "sets", "--server-side", "--applyset=configmap/set", "--prune", "-f", dir)
	out := c.must(t, "get", "configmap", "set", "-n", "sets", "-o", "yaml")
	wantContains(t, "ApplySet parent", out, "applyset.kubernetes.io/id", "applyset.kubernetes.io/contains-group-kinds")
	if err := os.Remove(filepath.Join(dir, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	out = c.mustWith(t, env, "apply", "-n", "sets", "--server-side", "--applyset=configmap/set", "--prune", "-f", dir)
	wantContains(t, "prune through the ApplySet", out, "configmap/b pruned")
	if r := c.run(t, "get", "configmap", "b", "-n", "sets"); r.code == 0 {
		t.Errorf("configmap/b is still there after the prune:\n%s", r)
	}
}

// TestClientSideToServerSide: objects made by a client-side `kubectl
// apply` move to server-side apply without conflicts (kubectl rewrites
// their managedFields with a JSON patch), and kubectl then owns them as
// its Apply manager.
func TestClientSideToServerSide(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	dir, err := filepath.Abs(filepath.Join("..", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	c.must(t, "apply", "-f", dir)
	c.must(t, "apply", "--server-side", "-f", dir)
	out := c.must(t, "get", "deployment", "web", "-n", "demo", "--show-managed-fields", "-o", "yaml")
	wantContains(t, "managedFields after moving to server-side apply", out, "manager: kubectl", "operation: Apply")
}
