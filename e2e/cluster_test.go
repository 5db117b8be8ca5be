//go:build e2e

package e2e

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// TestVersion is the first thing a user runs: kubectl reaches the server
// through the kubeconfig it wrote and reads /version.
func TestVersion(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	var v struct {
		ServerVersion struct {
			Major, Minor, GitVersion string
		}
	}
	out := c.must(t, "version", "-o", "json")
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("decoding kubectl version -o json: %v\n%s", err, out)
	}
	if v.ServerVersion.Major != "1" || !strings.HasPrefix(v.ServerVersion.GitVersion, "v1.") {
		t.Errorf("serverVersion = %+v, want major 1 and a v1.x gitVersion", v.ServerVersion)
	}
	r := c.run(t, "version")
	wantContains(t, "kubectl version", r.stdout, "Client Version: v1.", "Server Version: "+v.ServerVersion.GitVersion)
	if strings.Contains(r.stderr, "WARNING") {
		t.Errorf("kubectl version warns:\n%s", r)
	}
}

// TestGetNamespaces: a fresh server has the namespaces every cluster has.
func TestGetNamespaces(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	tb := parseTable(t, c.must(t, "get", "ns"))
	if got, want := strings.Join(tb.header, " "), "NAME STATUS AGE"; got != want {
		t.Errorf("header = %q, want %q", got, want)
	}
	for _, name := range []string{"default", "kube-system", "kube-public"} {
		row := tb.row(name)
		if row == nil {
			t.Errorf("namespace %s missing from:\n%v", name, tb.names())
			continue
		}
		if row["STATUS"] != "Active" {
			t.Errorf("namespace %s STATUS = %q, want Active", name, row["STATUS"])
		}
	}
	// The CCI flavor that lets a user run a pod in default at once.
	if got := c.must(t, "get", "ns", "default", "-o", `jsonpath={.metadata.annotations.namespace\.kubernetes\.io/flavor}`); got != "general-computing" {
		t.Errorf("default namespace flavor = %q, want general-computing", got)
	}
}

// TestAPIResources checks discovery as kubectl prints it: the Kubernetes
// kinds, CCI's own, and none that CCI leaves out.
func TestAPIResources(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	out := c.must(t, "api-resources")
	type res struct{ short, namespaced, kind string }
	// Keyed by NAME and APIVERSION: some names (pods, jobs, events) are
	// served by more than one group.
	got := map[[2]string]res{}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if h := strings.Fields(lines[0]); strings.Join(h, " ") != "NAME SHORTNAMES APIVERSION NAMESPACED KIND" {
		t.Fatalf("header = %q", lines[0])
	}
	for _, l := range lines[1:] {
		// SHORTNAMES may be empty, so read the row from both ends.
		f := strings.Fields(l)
		if len(f) < 4 {
			t.Errorf("short row %q", l)
			continue
		}
		n := len(f)
		r := res{namespaced: f[n-2], kind: f[n-1]}
		if n == 5 {
			r.short = f[1]
		}
		got[[2]string{f[0], f[n-3]}] = r
	}
	for _, w := range []struct {
		name, apiVersion string
		want             res
	}{
		{"namespaces", "v1", res{"ns", "false", "Namespace"}},
		{"pods", "v1", res{"po", "true", "Pod"}},
		{"services", "v1", res{"svc", "true", "Service"}},
		{"configmaps", "v1", res{"cm", "true", "ConfigMap"}},
		{"secrets", "v1", res{"", "true", "Secret"}},
		{"deployments", "apps/v1", res{"deploy", "true", "Deployment"}},
		{"replicasets", "apps/v1", res{"rs", "true", "ReplicaSet"}},
		{"statefulsets", "apps/v1", res{"sts", "true", "StatefulSet"}},
		{"jobs", "batch/v1", res{"", "true", "Job"}},
		{"cronjobs", "batch/v1", res{"cj", "true", "CronJob"}},
		{"ingresses", "networking.k8s.io/v1", res{"ing", "true", "Ingress"}},
		{"horizontalpodautoscalers", "autoscaling/v2", res{"hpa", "true", "HorizontalPodAutoscaler"}},
		{"clusterroles", "rbac.authorization.k8s.io/v1", res{"", "false", "ClusterRole"}},
		{"networks", "networking.cci.io/v1beta1", res{"*", "true", "Network"}},
		{"eippools", "crd.yangtse.cni/v1", res{"*", "true", "EIPPool"}},
		{"jobs", "batch.volcano.sh/v1alpha1", res{"*", "true", "Job"}},
		{"pods", "metrics.k8s.io/v1beta1", res{"", "true", "PodMetrics"}},
		{"selfsubjectaccessreviews", "authorization.k8s.io/v1", res{"", "false", "SelfSubjectAccessReview"}},
		{"selfsubjectreviews", "authentication.k8s.io/v1", res{"", "false", "SelfSubjectReview"}},
	} {
		r, ok := got[[2]string{w.name, w.apiVersion}]
		if !ok {
			t.Errorf("%s %s missing from kubectl api-resources", w.name, w.apiVersion)
			continue
		}
		if w.want.short == "*" { // CCI's own short names are not pinned here.
			w.want.short = r.short
		}
		if r != w.want {
			t.Errorf("%s %s = %+v, want %+v", w.name, w.apiVersion, r, w.want)
		}
	}
	// The kinds kubectl's defaults (apply --prune) expect are served under
	// CCI too; CCI refuses to create daemon sets, and says why.
	for _, k := range [][2]string{{"daemonsets", "apps/v1"}, {"replicationcontrollers", "v1"}, {"controllerrevisions", "apps/v1"},
		{"poddisruptionbudgets", "policy/v1"}, {"networkpolicies", "networking.k8s.io/v1"}, {"priorityclasses", "scheduling.k8s.io/v1"}} {
		if _, ok := got[k]; !ok {
			t.Errorf("%s %s missing from kubectl api-resources", k[0], k[1])
		}
	}
	wantContains(t, "kubectl get priorityclasses", c.must(t, "get", "priorityclasses"), "system-node-critical", "system-cluster-critical")
	ds := c.runWith(t, call{stdin: `{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"agent"},"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"busybox","resources":{"limits":{"cpu":"500m","memory":"1Gi"}}}]}}}}`}, "create", "-f", "-")
	if ds.code == 0 || !strings.Contains(ds.stderr, "CCI does not support DaemonSets") {
		t.Errorf("kubectl create of a DaemonSet under cci: %s", ds)
	}
}

// TestExplain reads the OpenAPI documents the way `kubectl explain` does.
func TestExplain(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	for _, tc := range []struct {
		path string
		want []string // regular expressions, each matched against the output
	}{
		{"pod.spec.containers", []string{
			`(?m)^KIND:\s+Pod$`, `(?m)^VERSION:\s+v1$`,
			`(?m)^FIELD:\s+containers\s+<\[\]Container>$`,
			`(?m)^DESCRIPTION:$`, `(?m)^FIELDS:$`,
			`(?m)^\s+image\s+<string>`,
			`(?m)^\s+name\s+<string>\s+-required-$`,
			`(?m)^\s+resources\s+<ResourceRequirements>$`,
		}},
		{"deployment.spec.replicas", []string{
			`(?m)^KIND:\s+Deployment$`, `(?m)^GROUP:\s+apps$`,
			`(?m)^FIELD:\s+replicas\s+<integer>$`,
		}},
		{"network.spec", []string{
			`(?m)^KIND:\s+Network$`, `(?m)^GROUP:\s+networking.cci.io$`,
			`(?m)^\s+attachedVPC\s+<string>`, `(?m)^\s+cidr\s+<string>`,
		}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			out := c.must(t, "explain", tc.path)
			for _, re := range tc.want {
				if !regexp.MustCompile(re).MatchString(out) {
					t.Errorf("want %s in:\n%s", re, out)
				}
			}
		})
	}
}

// TestAuth: the admin from the kubeconfig may do anything, knows who it
// is, and may act as another user with --as.
func TestAuth(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	t.Run("can-i", func(t *testing.T) {
		if got := c.must(t, "auth", "can-i", "create", "pods"); got != "yes\n" {
			t.Errorf("kubectl auth can-i create pods = %q, want yes", got)
		}
		if got := c.must(t, "auth", "can-i", "delete", "networks.networking.cci.io", "-n", "kube-system"); got != "yes\n" {
			t.Errorf("kubectl auth can-i delete networks = %q, want yes", got)
		}
	})
	t.Run("can-i --list", func(t *testing.T) {
		out := c.must(t, "auth", "can-i", "--list")
		// The admin's rule: every verb on every resource in every group.
		if !regexp.MustCompile(`(?m)^\*\.\*\s+\[\]\s+\[\]\s+\[\*\]$`).MatchString(out) {
			t.Errorf("want a *.* [] [] [*] row in:\n%s", out)
		}
	})
	t.Run("whoami", func(t *testing.T) {
		out := c.must(t, "auth", "whoami")
		if !regexp.MustCompile(`(?m)^Username\s+admin$`).MatchString(out) {
			t.Errorf("want Username admin in:\n%s", out)
		}
		if !regexp.MustCompile(`(?m)^Groups\s+\[.*system:masters.*\]$`).MatchString(out) {
			t.Errorf("want system:masters among the groups in:\n%s", out)
		}
	})
	// --as: the admin may impersonate anyone, and the answers are then
	// the impersonated user's, not the admin's.
	t.Run("--as", func(t *testing.T) {
		c.must(t, "create", "rolebinding", "carol-view", "--clusterrole=view", "--user=carol")
		if got := c.must(t, "auth", "can-i", "list", "pods", "--as=carol"); got != "yes\n" {
			t.Errorf("can-i list pods --as=carol = %q, want yes", got)
		}
		if r := c.run(t, "auth", "can-i", "delete", "pods", "--as=carol"); r.stdout != "no\n" {
			t.Errorf("can-i delete pods --as=carol = %s, want no", r)
		}
		r := c.run(t, "delete", "configmap", "anything", "--as=carol")
		wantContains(t, "kubectl delete --as=carol", r.stderr, `User "carol" cannot delete resource "configmaps"`)
		out := c.must(t, "auth", "whoami", "--as=carol", "--as-group=team")
		if !regexp.MustCompile(`(?m)^Username\s+carol$`).MatchString(out) || !regexp.MustCompile(`(?m)^Groups\s+\[team system:authenticated\]$`).MatchString(out) {
			t.Errorf("whoami --as=carol --as-group=team:\n%s", out)
		}
	})
}

// TestNonAuthoritative203IsSuccess: kubectl takes the watch cache's 203
// answers (resourceVersion=0 reads) as success, for a list and an object.
func TestNonAuthoritative203IsSuccess(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	for _, path := range []string{"/api/v1/namespaces?resourceVersion=0", "/api/v1/namespaces/default?resourceVersion=0"} {
		out := c.must(t, "get", "--raw", path)
		var obj struct{ Kind string }
		if err := json.Unmarshal([]byte(out), &obj); err != nil || (obj.Kind != "NamespaceList" && obj.Kind != "Namespace") {
			t.Errorf("kubectl get --raw %s: %v\n%s", path, err, out)
		}
	}
}
