//go:build e2e

package e2e

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// examplesApplied lists, in file order, what `kubectl apply -f examples/`
// reports for each object in examples/.
var examplesApplied = []string{
	"namespace/demo",
	"limitrange/pod-defaults",
	"network.networking.cci.io/demo-network",
	"configmap/web-content",
	"secret/web-credentials",
	"deployment.apps/web",
	"service/web",
	"job.batch/hello",
	"cronjob.batch/tick",
	"ingress.networking.k8s.io/web",
}

// TestExamples walks a new user through examples/: apply it, look at what
// it made, then change the deployment every way kubectl offers. The
// subtests share one server and run in order; each leaves the deployment
// as the next expects.
func TestExamples(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	dir, err := filepath.Abs(filepath.Join("..", "examples"))
	if err != nil {
		t.Fatal(err)
	}

	// A user's first apply creates everything, in file order. The rest of
	// the test needs it, so it is not a subtest.
	out := c.must(t, "apply", "-f", dir)
	if got, want := lines(out), suffixed(examplesApplied, " created"); !slices.Equal(got, want) {
		t.Fatalf("kubectl apply -f examples/ printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	t.Run("apply again", func(t *testing.T) {
		before := resourceVersions(t, c, dir)
		out := c.must(t, "apply", "-f", dir)
		want := suffixed(examplesApplied, " unchanged")
		// kubectl always sends the secret's stringData again, since the
		// server folds it into data and never returns it, and so reports
		// "configured" (kubernetes/kubernetes#87736). The server must still
		// see that nothing changed: no resourceVersion moves.
		want[slices.Index(examplesApplied, "secret/web-credentials")] = "secret/web-credentials configured"
		if got := lines(out); !slices.Equal(got, want) {
			t.Errorf("second kubectl apply printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if after := resourceVersions(t, c, dir); !slices.Equal(after, before) {
			t.Errorf("resourceVersions moved on an apply that changed nothing:\nbefore %v\nafter  %v", before, after)
		}
		if g := generation(t, c); g != 1 {
			t.Errorf("generation after an unchanged apply = %d, want 1", g)
		}
	})

	t.Run("get all -o wide", func(t *testing.T) {
		out := c.must(t, "get", "all", "-n", "demo", "-o", "wide")
		for _, re := range []string{
			`(?m)^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\s+SELECTOR$`,
			`(?m)^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR$`,
			// No pod of web ever runs: READY stays 0 of 2.
			`(?m)^deployment\.apps/web\s+0/2\s+\d+\s+0\s+\S+\s+nginx\s+nginx:1\.27\s+app=web$`,
			`(?m)^job\.batch/hello\s+.*\b0/1\s+.*\bhello\s+busybox:1\.36\s+\S*controller-uid=\S+$`,
			`(?m)^cronjob\.batch/tick\s+\*/15 \* \* \* \*\s+.*\btick\s+busybox:1\.36\b`,
		} {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("want %s in:\n%s", re, out)
			}
		}
		m := regexp.MustCompile(`(?m)^service/web\s+ClusterIP\s+(\S+)\s+<none>\s+80/TCP\s+\S+\s+app=web$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("want a ClusterIP row for service/web in:\n%s", out)
		}
		// CCI keeps 10.247.0.0/16 for Services.
		if ip, err := netip.ParseAddr(m[1]); err != nil || !netip.MustParsePrefix("10.247.0.0/16").Contains(ip) {
			t.Errorf("service/web CLUSTER-IP = %q, want an address in 10.247.0.0/16", m[1])
		}
		// Cella has no container runtime yet: any pod there is stays Pending.
		for _, m := range regexp.MustCompile(`(?m)^(pod/\S+)\s+\S+\s+(\S+)`).FindAllStringSubmatch(out, -1) {
			if m[2] != "Pending" {
				t.Errorf("%s STATUS = %s, want Pending", m[1], m[2])
			}
		}
	})

	t.Run("get the rest", func(t *testing.T) {
		out := c.must(t, "get", "ingress", "-n", "demo")
		if re := `(?m)^web\s+<none>\s+web\.demo\.example\s+80\s+\S+$`; !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("want %s in:\n%s", re, out)
		}
		out = c.must(t, "get", "networks", "-n", "demo")
		if !regexp.MustCompile(`(?m)^demo-network\s`).MatchString(out) {
			t.Errorf("want demo-network in:\n%s", out)
		}
		if got := c.must(t, "get", "network", "demo-network", "-n", "demo", "-o", "jsonpath={.status.state}"); got != "Active" {
			t.Errorf("network status.state = %q, want Active", got)
		}
		if got := c.must(t, "get", "cm", "web-content", "-n", "demo", "-o", `jsonpath={.data.index\.html}`); !strings.Contains(got, "Hello from Cella") {
			t.Errorf("configmap index.html = %q", got)
		}
		// stringData is folded into data, base64 encoded.
		if got := c.must(t, "get", "secret", "web-credentials", "-n", "demo", "-o", "jsonpath={.data.username}"); got != "ZGVtbw==" {
			t.Errorf("secret data.username = %q, want ZGVtbw== (demo)", got)
		}
	})

	t.Run("get -o yaml", func(t *testing.T) {
		out := c.must(t, "get", "deploy", "web", "-n", "demo", "-o", "yaml")
		for _, re := range []string{
			`(?m)^apiVersion: apps/v1$`, `(?m)^kind: Deployment$`,
			`(?m)^  name: web$`, `(?m)^  namespace: demo$`,
			`(?m)^  generation: 1$`,
			`(?m)^  resourceVersion: "\d+"$`,
			`(?m)^  uid: [0-9a-f-]{36}$`,
			`(?m)^  creationTimestamp: "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"$`,
			`(?m)^    kubectl\.kubernetes\.io/last-applied-configuration: \|`,
			`(?m)^  replicas: 2$`,
			// What the API server defaults.
			`(?m)^  revisionHistoryLimit: 10$`,
			`(?m)^  progressDeadlineSeconds: 600$`,
			`(?m)^    type: RollingUpdate$`,
			`(?m)^      maxSurge: 25%$`,
			`(?m)^        imagePullPolicy: IfNotPresent$`,
			`(?m)^      restartPolicy: Always$`,
			`(?m)^      dnsPolicy: ClusterFirst$`,
			`(?m)^status:`,
		} {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("want %s in:\n%s", re, out)
			}
		}
		var d appsv1.Deployment
		c.getJSON(t, &d, "deploy", "web", "-n", "demo")
		ctr := d.Spec.Template.Spec.Containers
		if len(ctr) != 1 {
			t.Fatalf("containers = %+v", ctr)
		}
		lim, req := ctr[0].Resources.Limits, ctr[0].Resources.Requests
		if lim.Cpu().String() != "500m" || lim.Memory().String() != "1Gi" || !req.Cpu().Equal(*lim.Cpu()) || !req.Memory().Equal(*lim.Memory()) {
			t.Errorf("resources = %+v, want cpu 500m and memory 1Gi limits and equal requests", ctr[0].Resources)
		}
	})

	t.Run("describe", func(t *testing.T) {
		out := c.must(t, "describe", "deploy", "web", "-n", "demo")
		for _, re := range []string{
			`(?m)^Name:\s+web$`, `(?m)^Namespace:\s+demo$`,
			`(?m)^CreationTimestamp:\s+\S.*$`,
			`(?m)^Labels:\s+app=web$`,
			`(?m)^Selector:\s+app=web$`,
			`(?m)^Replicas:\s+2 desired \| \d+ updated \| \d+ total \| 0 available \| \d+ unavailable$`,
			`(?m)^StrategyType:\s+RollingUpdate$`,
			`(?m)^RollingUpdateStrategy:\s+25% max unavailable, 25% max surge$`,
			`(?m)^Pod Template:$`,
			`(?m)^\s+Image:\s+nginx:1\.27$`,
			`(?m)^\s+cpu:\s+500m$`, `(?m)^\s+memory:\s+1Gi$`,
			`(?m)^\s+WEB_USER:\s+<set to the key 'username' in secret 'web-credentials'>`,
		} {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("want %s in:\n%s", re, out)
			}
		}
	})

	t.Run("label", func(t *testing.T) {
		wantContains(t, "kubectl label", c.must(t, "label", "deploy", "web", "-n", "demo", "tier=frontend"), "deployment.apps/web labeled")
		// Selecting by the new label finds it, and a different value does not.
		if got := c.must(t, "get", "deploy", "-n", "demo", "-l", "tier=frontend", "-o", "name"); got != "deployment.apps/web\n" {
			t.Errorf("get -l tier=frontend = %q", got)
		}
		r := c.run(t, "get", "deploy", "-n", "demo", "-l", "tier=backend", "-o", "name")
		if r.code != 0 || r.stdout != "" {
			t.Errorf("get -l tier=backend: want nothing:\n%s", r)
		}
		// Changing a label needs --overwrite.
		r = c.run(t, "label", "deploy", "web", "-n", "demo", "tier=edge")
		if r.code == 0 || !strings.Contains(r.stderr, "already has a value (frontend)") {
			t.Errorf("label without --overwrite: want a refusal:\n%s", r)
		}
		c.must(t, "label", "deploy", "web", "-n", "demo", "tier=edge", "--overwrite")
		tb := parseTable(t, c.must(t, "get", "deploy", "web", "-n", "demo", "-L", "tier"))
		if row := tb.row("web"); row["TIER"] != "edge" {
			t.Errorf("get -L tier row = %v, want TIER edge", row)
		}
		wantContains(t, "kubectl label tier-", c.must(t, "label", "deploy", "web", "-n", "demo", "tier-"), "deployment.apps/web unlabeled")
		if got := c.must(t, "get", "deploy", "web", "-n", "demo", "-o", "jsonpath={.metadata.labels}"); got != `{"app":"web"}` {
			t.Errorf("labels after removing tier = %s", got)
		}
		if g := generation(t, c); g != 1 {
			t.Errorf("generation after label changes = %d, want 1: metadata does not bump it", g)
		}
	})

	t.Run("annotate", func(t *testing.T) {
		wantContains(t, "kubectl annotate", c.must(t, "annotate", "deploy", "web", "-n", "demo", "example.com/owner=team-a"), "deployment.apps/web annotated")
		if got := c.must(t, "get", "deploy", "web", "-n", "demo", "-o", `jsonpath={.metadata.annotations.example\.com/owner}`); got != "team-a" {
			t.Errorf("annotation = %q, want team-a", got)
		}
		if g := generation(t, c); g != 1 {
			t.Errorf("generation after annotate = %d, want 1", g)
		}
	})

	t.Run("scale", func(t *testing.T) {
		wantContains(t, "kubectl scale", c.must(t, "scale", "deploy", "web", "-n", "demo", "--replicas=3"), "deployment.apps/web scaled")
		if got := replicas(t, c); got != 3 {
			t.Errorf("spec.replicas = %d, want 3", got)
		}
		if g := generation(t, c); g != 2 {
			t.Errorf("generation after scale = %d, want 2", g)
		}
		// The precondition form: refused when the current count differs.
		r := c.run(t, "scale", "deploy", "web", "-n", "demo", "--current-replicas=2", "--replicas=5")
		if r.code == 0 {
			t.Errorf("scale --current-replicas=2 on 3 replicas: want a refusal:\n%s", r)
		}
		if got := replicas(t, c); got != 3 {
			t.Errorf("spec.replicas after a refused scale = %d, want 3", got)
		}
	})

	t.Run("patch", func(t *testing.T) {
		for _, tc := range []struct {
			typ, patch string
			specChange bool
			check      func(t *testing.T, d *appsv1.Deployment)
		}{
			{"json", `[{"op":"replace","path":"/spec/replicas","value":4},{"op":"add","path":"/metadata/labels/patched","value":"json"}]`, true,
				func(t *testing.T, d *appsv1.Deployment) {
					if *d.Spec.Replicas != 4 || d.Labels["patched"] != "json" {
						t.Errorf("replicas %d labels %v, want 4 and patched=json", *d.Spec.Replicas, d.Labels)
					}
				}},
			{"merge", `{"metadata":{"labels":{"patched":"merge"},"annotations":{"example.com/owner":null}}}`, false,
				func(t *testing.T, d *appsv1.Deployment) {
					if d.Labels["patched"] != "merge" || d.Labels["app"] != "web" {
						t.Errorf("labels %v, want patched=merge beside app=web", d.Labels)
					}
					if _, ok := d.Annotations["example.com/owner"]; ok {
						t.Errorf("annotations %v: null in a merge patch should remove owner", d.Annotations)
					}
				}},
			// A strategic patch merges containers by name: the image
			// changes and the CCI resources stay. (A merge patch would
			// replace the list and drop them.)
			{"strategic", `{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.28"}]}}}}`, true,
				func(t *testing.T, d *appsv1.Deployment) {
					ctr := d.Spec.Template.Spec.Containers
					if len(ctr) != 1 || ctr[0].Image != "nginx:1.28" || ctr[0].Resources.Limits.Cpu().String() != "500m" || len(ctr[0].VolumeMounts) != 1 {
						t.Errorf("containers = %+v, want nginx:1.28 with its resources and mounts kept", ctr)
					}
				}},
		} {
			t.Run(tc.typ, func(t *testing.T) {
				before := generation(t, c)
				out := c.must(t, "patch", "deploy", "web", "-n", "demo", "--type="+tc.typ, "-p", tc.patch)
				wantContains(t, "kubectl patch", out, "deployment.apps/web patched")
				var d appsv1.Deployment
				c.getJSON(t, &d, "deploy", "web", "-n", "demo")
				tc.check(t, &d)
				want := before
				if tc.specChange {
					want++
				}
				if d.Generation != want {
					t.Errorf("generation %d -> %d, want %d", before, d.Generation, want)
				}
			})
		}
	})

	t.Run("edit", func(t *testing.T) {
		// An editor that saves without change cancels the edit.
		r := c.runWith(t, call{env: []string{"KUBE_EDITOR=true"}}, "edit", "deploy", "web", "-n", "demo")
		if r.code != 0 || !strings.Contains(r.stdout+r.stderr, "Edit cancelled, no changes made.") {
			t.Errorf("edit with EDITOR=true: want a cancelled edit:\n%s", r)
		}
		// An editor script that changes the image, as a user would.
		editor := filepath.Join(t.TempDir(), "editor.sh")
		script := "#!/bin/sh\nsed -i 's#image: nginx:.*#image: nginx:1.29#' \"$1\"\n"
		if err := os.WriteFile(editor, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		before := generation(t, c)
		out := c.mustWith(t, call{env: []string{"KUBE_EDITOR=" + editor}}, "edit", "deploy", "web", "-n", "demo")
		wantContains(t, "kubectl edit", out, "deployment.apps/web edited")
		if got := c.must(t, "get", "deploy", "web", "-n", "demo", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); got != "nginx:1.29" {
			t.Errorf("image after edit = %q, want nginx:1.29", got)
		}
		if g := generation(t, c); g != before+1 {
			t.Errorf("generation after edit = %d, want %d", g, before+1)
		}
	})

	t.Run("delete --wait", func(t *testing.T) {
		out := c.must(t, "delete", "cm", "web-content", "-n", "demo", "--wait")
		if !regexp.MustCompile(`(?m)^configmap "web-content" deleted`).MatchString(out) {
			t.Errorf("kubectl delete printed %q", out)
		}
		r := c.run(t, "get", "cm", "web-content", "-n", "demo")
		if r.code != 1 || !strings.Contains(r.stderr, `Error from server (NotFound): configmaps "web-content" not found`) {
			t.Errorf("get after delete: want NotFound:\n%s", r)
		}
	})
}

// resourceVersions returns "kind/name resourceVersion" for every object
// in the files under dir.
func resourceVersions(t testing.TB, c *cluster, dir string) []string {
	t.Helper()
	out := c.must(t, "get", "-f", dir, "-o", `jsonpath={range .items[*]}{.kind}/{.metadata.name} {.metadata.resourceVersion}{"\n"}{end}`)
	return lines(out)
}

// generation returns the web deployment's metadata.generation.
func generation(t testing.TB, c *cluster) int64 {
	t.Helper()
	return jsonpathInt(t, c, "{.metadata.generation}")
}

// replicas returns the web deployment's spec.replicas.
func replicas(t testing.TB, c *cluster) int64 {
	t.Helper()
	return jsonpathInt(t, c, "{.spec.replicas}")
}

func jsonpathInt(t testing.TB, c *cluster, path string) int64 {
	t.Helper()
	out := c.must(t, "get", "deploy", "web", "-n", "demo", "-o", "jsonpath="+path)
	n, err := strconv.ParseInt(out, 10, 64)
	if err != nil {
		t.Fatalf("jsonpath %s = %q: %v", path, out, err)
	}
	return n
}

// lines splits output into its non-empty lines.
func lines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func suffixed(ss []string, suffix string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s + suffix
	}
	return out
}
