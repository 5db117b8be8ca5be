//go:build e2e

package e2e

import (
	"strings"
	"testing"

	"cella.dev/cella/internal/app"
)

// TestAdmission: a user's first steps in a new namespace run into
// ServiceAccount and PodSecurity admission as they would on a cluster:
// `kubectl create ns` then `kubectl run` at once works and the pod mounts
// its token; under warn=restricted kubectl prints the warning the
// server sends; under enforce=baseline a privileged pod is refused in
// kube-apiserver's words; a missing ServiceAccount is refused.
func TestAdmission(t *testing.T) {
	t.Parallel()
	c := newCluster(t, func(cfg *app.Config) { cfg.Profile = "kubernetes" })
	c.must(t, "create", "ns", "team")
	c.must(t, "run", "-n", "team", "first", "--image=busybox", "--", "sleep", "3600")
	if out := c.must(t, "get", "pod", "-n", "team", "first", "-o", "jsonpath={.spec.serviceAccountName} {.spec.containers[0].volumeMounts[0].mountPath}"); out != "default /var/run/secrets/kubernetes.io/serviceaccount" {
		t.Errorf("the first pod of a new namespace: account and mount %q", out)
	}

	c.must(t, "label", "ns", "team", "pod-security.kubernetes.io/warn=restricted")
	r := c.run(t, "run", "-n", "team", "warned", "--image=busybox", "--", "sleep", "3600")
	want := `Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "warned" must set securityContext.allowPrivilegeEscalation=false), ` +
		`unrestricted capabilities (container "warned" must set securityContext.capabilities.drop=["ALL"]), ` +
		`runAsNonRoot != true (pod or container "warned" must set securityContext.runAsNonRoot=true), ` +
		`seccompProfile (pod or container "warned" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`
	if r.code != 0 || !strings.Contains(r.stderr, want+"\n") || !strings.Contains(r.stdout, "pod/warned created") {
		t.Errorf("kubectl run under warn=restricted, want the pod created and on stderr\n%s\n%s", want, r)
	}

	c.must(t, "label", "ns", "team", "pod-security.kubernetes.io/enforce=baseline")
	r = c.run(t, "run", "-n", "team", "root", "--image=busybox", "--privileged", "--", "sleep", "3600")
	want = `Error from server (Forbidden): pods "root" is forbidden: violates PodSecurity "baseline:latest": privileged (container "root" must not set securityContext.privileged=true)`
	if r.code == 0 || strings.TrimSpace(r.stderr) != want {
		t.Errorf("kubectl run --privileged under enforce=baseline, want\n%s\n%s", want, r)
	}

	r = c.run(t, "run", "-n", "team", "ghost", "--image=busybox", "--overrides", `{"spec":{"serviceAccountName":"nobody"}}`, "--", "sleep", "3600")
	want = `Error from server (Forbidden): pods "ghost" is forbidden: error looking up service account team/nobody: serviceaccount "nobody" not found`
	if r.code == 0 || strings.TrimSpace(r.stderr) != want {
		t.Errorf("kubectl run with a missing ServiceAccount, want\n%s\n%s", want, r)
	}
}
