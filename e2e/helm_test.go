//go:build e2e

package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cella.dev/cella/internal/app"
)

// helmTimeout bounds one helm invocation. Helm 4's default waits for hooks
// only, and the chart's hooks are ConfigMaps, ready once they exist (or
// gone once deleted), so a call is a few dozen requests and a short watch
// against a loopback server.
const helmTimeout = 2 * time.Minute

// helmBuild finds the helm binary once per test process, on the first
// Helm test, so that the other e2e tests never wait for its build.
var helmBuild = sync.OnceValues(findHelm)

// findHelm returns $HELM when set, and otherwise builds the pinned Helm
// with scripts/build-helm.sh, which prints the binary's path as its last
// line.
func findHelm() (string, error) {
	if p := os.Getenv("HELM"); p != "" {
		return exec.LookPath(p)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "build-helm.sh"))
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building helm: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	bin := lines[len(lines)-1]
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("build-helm.sh printed %q: %v", bin, err)
	}
	return bin, nil
}

// helmClient is a helm pointed at one cluster, with its cache,
// configuration and data (repositories, plugins) in a directory of the
// test's own, so nothing on the host leaks in.
type helmClient struct {
	bin string
	env []string
}

// newHelm returns a helm for c, building it first if this is the first
// Helm test of the process.
func newHelm(t *testing.T, c *cluster) *helmClient {
	t.Helper()
	bin, err := helmBuild()
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	env := make([]string, 0, len(c.env)+3)
	for _, kv := range c.env {
		if !strings.HasPrefix(kv, "HELM_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	return &helmClient{bin: bin, env: env}
}

// helmResult is what one helm call did.
type helmResult struct{ result }

func (r helmResult) String() string {
	return "helm" + strings.TrimPrefix(r.result.String(), "kubectl")
}

// run runs helm with args and returns what it did; it never fails the test
// by itself.
func (h *helmClient) run(t testing.TB, args ...string) helmResult {
	t.Helper()
	return helmResult{runTool(t, h.bin, h.env, "", helmTimeout, args...)}
}

// must runs helm and fails the test unless it exits 0; it returns stdout.
func (h *helmClient) must(t testing.TB, args ...string) string {
	t.Helper()
	r := h.run(t, args...)
	if r.code != 0 {
		t.Fatalf("want exit code 0:\n%s", r)
	}
	return r.stdout
}

// helmKinds lists, as `kubectl get -o name` prints them, the objects the
// demo chart makes for a release named demo.
var helmKinds = []string{
	"configmap/demo-content",
	"deployment.apps/demo",
	"ingress.networking.k8s.io/demo",
	"job.batch/demo-hello",
	"poddisruptionbudget.policy/demo",
	"role.rbac.authorization.k8s.io/demo",
	"rolebinding.rbac.authorization.k8s.io/demo",
	"secret/demo-credentials",
	"service/demo",
	"serviceaccount/demo",
	"widget.demo.cella.dev/demo",
}

// helmObjectKinds is the resource list `kubectl get` takes to list the
// chart's objects.
const helmObjectKinds = "configmaps,deployments.apps,ingresses.networking.k8s.io,jobs.batch,poddisruptionbudgets.policy,roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io,secrets,services,serviceaccounts,widgets.demo.cella.dev"

// TestHelm takes a release of the chart in testdata/charts/demo through
// its life with Helm 4's defaults (server-side apply, no waiting but for
// hooks) under both profiles: install, upgrade, history, rollback, status,
// uninstall, and checks with kubectl after each step what is on the
// server.
func TestHelm(t *testing.T) {
	t.Parallel()
	chart, err := filepath.Abs(filepath.Join("testdata", "charts", "demo"))
	if err != nil {
		t.Fatal(err)
	}
	for _, profile := range []string{"cci", "kubernetes"} {
		t.Run(profile, func(t *testing.T) {
			t.Parallel()
			helmLifecycle(t, newRelease(t, profile), chart)
		})
	}
}

// TestHelmFromClientSide moves a release that Helm 3 installed, with
// client-side apply, to Helm 4's server-side apply: Helm 4 turns each
// object's Update entry into its Apply entry and applies the chart again,
// which changes nothing. The Job, whose selector and pod labels the server
// generated, is where a server that lets the creator own them fails: the
// apply would remove both, and both are immutable.
func TestHelmFromClientSide(t *testing.T) {
	t.Parallel()
	chart, err := filepath.Abs(filepath.Join("testdata", "charts", "demo"))
	if err != nil {
		t.Fatal(err)
	}
	r := newRelease(t, "cci")
	wantContains(t, "helm install --server-side=false", r.h.must(t, "install", "demo", chart, "-n", r.ns, "--server-side=false"), "STATUS: deployed")
	var md struct{ ApplyMethod string }
	if err := json.Unmarshal([]byte(r.h.must(t, "get", "metadata", "demo", "-n", r.ns, "-o", "json")), &md); err != nil || md.ApplyMethod != "csa" {
		t.Fatalf("helm get metadata after a client-side install: %v, applyMethod %q, want csa", err, md.ApplyMethod)
	}
	wantContains(t, "helm upgrade --server-side=true", r.h.must(t, "upgrade", "demo", chart, "-n", r.ns, "--server-side=true"), "STATUS: deployed", "REVISION: 2")
	r.wantServerSideApply(t, "the move to server-side apply")
	r.wantObjects(t, "the move to server-side apply", helmKinds)
	r.wantState(t, "the move to server-side apply", state{2, "hello", ""})
}

// newRelease starts a server with profile and prepares the namespace shop
// for the release demo: under cci a namespace names its flavor, and its
// workloads need a Network; the kubernetes profile takes either.
func newRelease(t *testing.T, profile string) *release {
	t.Helper()
	c := newCluster(t, func(cfg *app.Config) { cfg.Profile = profile })
	c.mustWith(t, call{stdin: `
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  annotations:
    namespace.kubernetes.io/flavor: general-computing
---
apiVersion: networking.cci.io/v1beta1
kind: Network
metadata:
  name: shop-network
  namespace: shop
spec:
  attachedVPC: shop-vpc
  networkID: shop-network-id
  subnetID: shop-subnet-id
  cidr: 10.91.0.0/24
`}, "apply", "-f", "-")
	return &release{c: c, h: newHelm(t, c), ns: "shop"}
}

// release is the release demo of the demo chart in one namespace of one
// cluster. Its methods read it back, each failing the test it is given.
type release struct {
	c  *cluster
	h  *helmClient
	ns string
}

// objects lists, sorted and as `kubectl get -o name` names them, the
// objects that carry the release's labels.
func (r *release) objects(t *testing.T) []string {
	t.Helper()
	got := lines(r.c.must(t, "get", helmObjectKinds, "-n", r.ns, "-l", "app.kubernetes.io/instance=demo", "-o", "name"))
	slices.Sort(got)
	return got
}

func (r *release) wantObjects(t *testing.T, step string, want []string) {
	t.Helper()
	if got := r.objects(t); !slices.Equal(got, want) {
		t.Errorf("after %s the release's objects are\n%s\nwant\n%s", step, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// state is what the test's upgrade changes: the deployment's replicas and
// the greeting and banner keys of the ConfigMap (banner "" when the key is
// absent, as it is when the release leaves it out).
type state struct {
	replicas         int64
	greeting, banner string
}

func (r *release) wantState(t *testing.T, step string, want state) {
	t.Helper()
	var d struct {
		Spec struct{ Replicas int64 }
	}
	r.c.getJSON(t, &d, "deployment", "demo", "-n", r.ns)
	var cm struct{ Data map[string]string }
	r.c.getJSON(t, &cm, "configmap", "demo-content", "-n", r.ns)
	got := state{d.Spec.Replicas, cm.Data["greeting"], cm.Data["banner"]}
	// The chart's custom resource carries the greeting too, and the
	// default its definition's schema gives size.
	var w struct {
		Spec struct{ Greeting, Size string }
	}
	r.c.getJSON(t, &w, "widgets.demo.cella.dev", "demo", "-n", r.ns)
	if w.Spec.Greeting != want.greeting || w.Spec.Size != "small" {
		t.Errorf("after %s: the widget's spec is %+v, want greeting %q and the default size small", step, w.Spec, want.greeting)
	}
	if _, ok := cm.Data["banner"]; ok && want.banner == "" {
		t.Errorf("after %s: the ConfigMap still holds banner %q", step, got.banner)
	}
	if got != want {
		t.Errorf("after %s: %+v, want %+v", step, got, want)
	}
}

// secrets reads the secrets Helm keeps the release's revisions in, and
// returns their labels by name.
func (r *release) secrets(t *testing.T) map[string]map[string]string {
	t.Helper()
	var list struct {
		Items []struct {
			Metadata struct {
				Name   string
				Labels map[string]string
			}
			Type string
			Data map[string]string
		}
	}
	r.c.getJSON(t, &list, "secrets", "-n", r.ns, "-l", "owner=helm,name=demo")
	got := map[string]map[string]string{}
	for _, s := range list.Items {
		if s.Type != "helm.sh/release.v1" {
			t.Errorf("release secret %s has type %q, want helm.sh/release.v1", s.Metadata.Name, s.Type)
		}
		if _, err := base64.StdEncoding.DecodeString(s.Data["release"]); err != nil || len(s.Data["release"]) == 0 {
			t.Errorf("release secret %s: data.release is not base64 (%v)", s.Metadata.Name, err)
		}
		got[s.Metadata.Name] = s.Metadata.Labels
	}
	return got
}

// wantServerSideApply checks that Helm applied the deployment server-side:
// its fields are owned by an Apply entry of manager helm, and the release
// records the method.
func (r *release) wantServerSideApply(t *testing.T, step string) {
	t.Helper()
	type entry struct{ Manager, Operation string }
	var d struct {
		Metadata struct{ ManagedFields []entry }
	}
	r.c.getJSON(t, &d, "deployment", "demo", "-n", r.ns, "--show-managed-fields")
	if !slices.Contains(d.Metadata.ManagedFields, entry{"helm", "Apply"}) {
		t.Errorf("after %s: no Apply entry of manager helm in the deployment's managedFields %+v", step, d.Metadata.ManagedFields)
	}
	var md struct{ ApplyMethod string }
	if err := json.Unmarshal([]byte(r.h.must(t, "get", "metadata", "demo", "-n", r.ns, "-o", "json")), &md); err != nil {
		t.Fatalf("helm get metadata -o json: %v", err)
	}
	if md.ApplyMethod != "ssa" {
		t.Errorf("after %s: helm get metadata says applyMethod %q, want ssa", step, md.ApplyMethod)
	}
}

// wantHooks checks the hooks of the step that rendered revision: its
// pre-hook stays, recording the revision; its post-hook is gone, as its
// delete policy asks once it has succeeded.
func (r *release) wantHooks(t *testing.T, step, revision string) {
	t.Helper()
	if got := r.c.must(t, "get", "configmap", "demo-pre-hook", "-n", r.ns, "-o", "jsonpath={.data.revision}"); got != revision {
		t.Errorf("after %s: the pre-hook records revision %q, want %q", step, got, revision)
	}
	if res := r.c.run(t, "get", "configmap", "demo-post-hook", "-n", r.ns); res.code == 0 || !strings.Contains(res.stderr, "NotFound") {
		t.Errorf("after %s: the post-hook is still there:\n%s", step, res)
	}
}

// revision is one row of `helm history -o json`.
type revision struct {
	Revision    int
	Status      string
	Description string
}

func (r *release) wantHistory(t *testing.T, step string, want []revision) {
	t.Helper()
	var got []revision
	if err := json.Unmarshal([]byte(r.h.must(t, "history", "demo", "-n", r.ns, "-o", "json")), &got); err != nil {
		t.Fatalf("helm history -o json: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("helm history after %s = %+v, want %+v", step, got, want)
	}
}

// helmLifecycle is TestHelm's walk through the life of r. Each step
// needs the one before it, so the walk stops at the first that fails.
func helmLifecycle(t *testing.T, r *release, chart string) {
	h, ns := r.h, r.ns
	steps := []struct {
		name string
		f    func(t *testing.T)
	}{
		{"install", func(t *testing.T) {
			out := h.must(t, "install", "demo", chart, "-n", ns)
			wantContains(t, "helm install", out, "NAME: demo", "STATUS: deployed", "REVISION: 1", `demo serves "hello" with 2 replicas.`)
			r.wantObjects(t, "install", helmKinds)
			r.wantState(t, "install", state{2, "hello", ""})
			r.wantServerSideApply(t, "install")
			r.wantHooks(t, "install", "1")
			rel := r.secrets(t)
			want := map[string]string{"owner": "helm", "name": "demo", "status": "deployed", "version": "1"}
			if l := rel["sh.helm.release.v1.demo.v1"]; len(rel) != 1 || !mapContains(l, want) {
				t.Errorf("release secrets after install %v, want only sh.helm.release.v1.demo.v1, labelled %v", rel, want)
			}
		}},
		{"upgrade", func(t *testing.T) {
			out := h.must(t, "upgrade", "demo", chart, "-n", ns,
				"--set", "replicas=3", "--set", "greeting=bonjour", "--set", "banner=sale", "--set", "ingress.enabled=false")
			wantContains(t, "helm upgrade", out, `Release "demo" has been upgraded.`, "STATUS: deployed", "REVISION: 2", `demo serves "bonjour" with 3 replicas.`)
			r.wantState(t, "upgrade", state{3, "bonjour", "sale"})
			// The ingress left the chart, so Helm deleted it.
			r.wantObjects(t, "upgrade", slices.DeleteFunc(slices.Clone(helmKinds), func(o string) bool { return strings.HasPrefix(o, "ingress.") }))
			r.wantServerSideApply(t, "upgrade")
			r.wantHooks(t, "upgrade", "2")
		}},
		{"history", func(t *testing.T) {
			r.wantHistory(t, "upgrade", []revision{
				{1, "superseded", "Install complete"},
				{2, "deployed", "Upgrade complete"},
			})
			rel := r.secrets(t)
			if len(rel) != 2 || rel["sh.helm.release.v1.demo.v1"]["status"] != "superseded" || rel["sh.helm.release.v1.demo.v2"]["status"] != "deployed" {
				t.Errorf("release secrets after upgrade: %v", rel)
			}
		}},
		{"rollback", func(t *testing.T) {
			out := h.must(t, "rollback", "demo", "1", "-n", ns)
			wantContains(t, "helm rollback", out, "Rollback was a success!")
			// Back to revision 1: the ingress is created again, and the
			// banner, which only revision 2 applied, is gone.
			r.wantState(t, "rollback", state{2, "hello", ""})
			r.wantObjects(t, "rollback", helmKinds)
			r.wantServerSideApply(t, "rollback")
			// A rollback runs the hooks of the revision it goes back to,
			// as that revision rendered them.
			r.wantHooks(t, "rollback", "1")
			r.wantHistory(t, "rollback", []revision{
				{1, "superseded", "Install complete"},
				{2, "superseded", "Upgrade complete"},
				{3, "deployed", "Rollback to 1"},
			})
		}},
		{"status", func(t *testing.T) {
			var st struct {
				Name    string
				Version int
				Info    struct{ Status string }
			}
			if err := json.Unmarshal([]byte(h.must(t, "status", "demo", "-n", ns, "-o", "json")), &st); err != nil {
				t.Fatalf("helm status -o json: %v", err)
			}
			if st.Name != "demo" || st.Version != 3 || st.Info.Status != "deployed" {
				t.Errorf("helm status = %+v, want demo revision 3 deployed", st)
			}
			// Helm 4 lists the release's objects as the server's tables
			// print them.
			wantContains(t, "helm status", h.must(t, "status", "demo", "-n", ns), "STATUS: deployed", "REVISION: 3", "RESOURCES:",
				"==> v1/Deployment", "==> v1/PodDisruptionBudget", "==> v1/Ingress", "==> v1/RoleBinding")
			var ls []struct{ Name, Status, Revision string }
			if err := json.Unmarshal([]byte(h.must(t, "list", "-n", ns, "-o", "json")), &ls); err != nil {
				t.Fatalf("helm list -o json: %v", err)
			}
			if len(ls) != 1 || ls[0].Name != "demo" || ls[0].Status != "deployed" || ls[0].Revision != "3" {
				t.Errorf("helm list = %+v, want demo revision 3 deployed", ls)
			}
		}},
		{"uninstall", func(t *testing.T) {
			out := h.must(t, "uninstall", "demo", "-n", ns)
			wantContains(t, "helm uninstall", out, `release "demo" uninstalled`)
			// Deletion is asynchronous where an object has finalizers, so
			// poll.
			deadline := time.Now().Add(time.Minute)
			for {
				got := r.objects(t)
				if len(got) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after uninstall the release's objects are still there:\n%s", strings.Join(got, "\n"))
				}
				time.Sleep(200 * time.Millisecond)
			}
			if rel := r.secrets(t); len(rel) != 0 {
				t.Errorf("release secrets after uninstall: %v", rel)
			}
			res := h.run(t, "status", "demo", "-n", ns)
			if res.code == 0 || !strings.Contains(res.stderr, "release: not found") {
				t.Errorf("helm status after uninstall:\n%s", res)
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.f) {
			return
		}
	}
}

// mapContains reports whether m holds every key of want with its value.
func mapContains(m, want map[string]string) bool {
	for k, v := range want {
		if m[k] != v {
			return false
		}
	}
	return true
}
