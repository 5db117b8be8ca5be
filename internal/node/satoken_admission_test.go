package node_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

// TestGeneratedTokenVolume: a pod that says nothing of service accounts
// gets, from ServiceAccount admission, the kube-api-access volume at
// /var/run/secrets/kubernetes.io/serviceaccount, starts under the process
// runtime, and reads there a token that the API server accepts, the CA
// bundle and its namespace. Without TLS there is no kube-root-ca.crt, and
// the pod starts all the same, without ca.crt.
func TestGeneratedTokenVolume(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("volumes are mounted into containers only when they are isolated, which needs root")
	}
	for _, tls := range []bool{true, false} {
		name := "tls"
		if !tls {
			name = "plain"
		}
		t.Run(name, func(t *testing.T) {
			srv := servertest.Start(t, func(c *app.Config) {
				c.Runtime, c.Profile, c.NodeName, c.TLS = "process", "kubernetes", "proc-node", tls
			})
			cs := srv.Clientset()
			defer cleanupPods(t, cs)
			const dir = "/var/run/secrets/kubernetes.io/serviceaccount"
			pod := shPod("reader", "ls "+dir+"; cat "+dir+"/namespace; echo; cat "+dir+"/token; echo; while true; do sleep 0.1; done", corev1.RestartPolicyAlways)
			created, err := cs.CoreV1().Pods("default").Create(t.Context(), pod, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(created.Spec.Volumes); n != 1 || !strings.HasPrefix(created.Spec.Volumes[0].Name, "kube-api-access-") {
				t.Fatalf("volumes = %+v, want the generated kube-api-access one", created.Spec.Volumes)
			}
			var lines []string
			eventually(t, "the pod prints its files, namespace and token", func(ctx context.Context) (bool, error) {
				b, err := cs.CoreV1().Pods("default").GetLogs("reader", &corev1.PodLogOptions{}).DoRaw(ctx)
				if err != nil {
					return false, nil
				}
				lines = strings.Fields(string(b))
				return len(lines) > 0 && strings.Count(lines[len(lines)-1], ".") == 2, nil
			})
			want := []string{"ca.crt", "namespace", "token", "default"}
			if !tls {
				want = want[1:]
			}
			if got := lines[:len(lines)-1]; strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("the pod printed %q before its token, want %q", got, want)
			}
			token := lines[len(lines)-1]
			resp, err := srv.HTTPClient().Do(srv.RequestAs(token, http.MethodGet, "/api/v1/namespaces/default/pods", nil))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			// The default ServiceAccount may not list pods (403); what
			// matters is that the token authenticates.
			if resp.StatusCode == http.StatusUnauthorized {
				t.Fatalf("the pod's token was refused: %s", resp.Status)
			}
		})
	}
}
