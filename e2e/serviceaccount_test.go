//go:build e2e

package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"cella.dev/cella/internal/app"
)

// TestServiceAccountTokens: `kubectl create token` issues a token that
// works as a bearer token for kubectl and for a plain HTTP client, with
// what RBAC grants the service account and nothing more.
func TestServiceAccountTokens(t *testing.T) {
	t.Parallel()
	c := newCluster(t, func(cfg *app.Config) { cfg.Profile = "kubernetes" })
	c.must(t, "create", "serviceaccount", "robot")
	token := strings.TrimSpace(c.must(t, "create", "token", "robot"))
	if strings.Count(token, ".") != 2 {
		t.Fatalf("kubectl create token printed %q, want a JWT", token)
	}

	t.Run("whoami", func(t *testing.T) {
		out := c.must(t, "auth", "whoami", "--token", token)
		if !regexp.MustCompile(`(?m)^Username\s+system:serviceaccount:default:robot$`).MatchString(out) {
			t.Errorf("want the service account's user name in:\n%s", out)
		}
		if !regexp.MustCompile(`(?m)^Groups\s+\[system:serviceaccounts system:serviceaccounts:default system:authenticated\]$`).MatchString(out) {
			t.Errorf("want the service account groups in:\n%s", out)
		}
	})

	t.Run("bearer", func(t *testing.T) {
		get := func() int {
			req := c.srv.RequestAs(token, http.MethodGet, "/api/v1/namespaces/default/pods", nil)
			resp, err := c.srv.HTTPClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode
		}
		if code := get(); code != http.StatusForbidden {
			t.Fatalf("GET pods with the token and no binding: %d, want 403", code)
		}
		if r := c.run(t, "get", "pods", "--token", token); r.code == 0 || !strings.Contains(r.stderr, `User "system:serviceaccount:default:robot" cannot list resource "pods"`) {
			t.Errorf("kubectl get pods with the token and no binding:\n%s", r)
		}
		c.must(t, "create", "rolebinding", "robot-view", "--clusterrole=view", "--serviceaccount=default:robot")
		deadline := time.Now().Add(30 * time.Second)
		for get() != http.StatusOK {
			if time.Now().After(deadline) {
				t.Fatal("GET pods with the token still refused after the RoleBinding")
			}
			time.Sleep(50 * time.Millisecond)
		}
		c.must(t, "get", "pods", "--token", token)
	})

	t.Run("duration", func(t *testing.T) {
		c.must(t, "create", "token", "robot", "--duration=20m", "--audience=vault")
		r := c.run(t, "create", "token", "robot", "--duration=5m")
		if r.code == 0 || !strings.Contains(r.stderr, "may not specify a duration less than 10 minutes") {
			t.Errorf("a 5 minute token:\n%s", r)
		}
	})

	t.Run("bound to a pod", func(t *testing.T) {
		c.must(t, "run", "p", "--image=busybox", "--overrides", `{"spec":{"serviceAccountName":"robot"}}`)
		bound := strings.TrimSpace(c.must(t, "create", "token", "robot", "--bound-object-kind", "Pod", "--bound-object-name", "p"))
		out := c.must(t, "auth", "whoami", "--token", bound, "-o", "json")
		if !strings.Contains(out, `"authentication.kubernetes.io/pod-name"`) || !strings.Contains(out, `"p"`) {
			t.Errorf("whoami of a pod-bound token lacks the pod name:\n%s", out)
		}
		c.must(t, "delete", "pod", "p", "--wait=false")
		deadline := time.Now().Add(30 * time.Second)
		for {
			r := c.run(t, "auth", "whoami", "--token", bound)
			if r.code != 0 && strings.Contains(r.stderr, "Unauthorized") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the token of a deleted pod still works:\n%s", r)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
