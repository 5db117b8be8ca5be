package node_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestProjectedServiceAccountToken: a pod with a projected
// serviceAccountToken volume reads a token, bound to it, that
// authenticates as its service account.
func TestProjectedServiceAccountToken(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("volumes are mounted into containers only when they are isolated, which needs root")
	}
	srv, cs := startProcess(t, "")
	defer cleanupPods(t, cs)
	ctx := t.Context()
	eventually(t, "the default service account exists", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	mount := filepath.Join(t.TempDir(), "tokens")
	pod := shPod("reader", "cat "+mount+"/token; echo; while true; do sleep 0.1; done", corev1.RestartPolicyAlways)
	pod.Spec.Volumes = []corev1.Volume{{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To(int64(3600))}}},
	}}}}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "token", MountPath: mount, ReadOnly: true}}
	created, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var token string
	eventually(t, "the pod prints its token", func(ctx context.Context) (bool, error) {
		b, err := cs.CoreV1().Pods("default").GetLogs("reader", &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil {
			return false, nil
		}
		token = strings.TrimSpace(string(b))
		return strings.Count(token, ".") == 2, nil
	})

	body := []byte(`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`)
	resp, err := srv.HTTPClient().Do(srv.RequestAs(token, http.MethodPost, "/apis/authentication.k8s.io/v1/selfsubjectreviews", body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r authenticationv1.SelfSubjectReview
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("SelfSubjectReview with the pod's token: %d, %v", resp.StatusCode, err)
	}
	u := r.Status.UserInfo
	if u.Username != "system:serviceaccount:default:default" ||
		len(u.Extra["authentication.kubernetes.io/pod-uid"]) != 1 || u.Extra["authentication.kubernetes.io/pod-uid"][0] != string(created.UID) ||
		len(u.Extra["authentication.kubernetes.io/node-name"]) != 1 || u.Extra["authentication.kubernetes.io/node-name"][0] != "proc-node" {
		t.Errorf("the pod's token authenticates as %+v, want default/default bound to the pod on proc-node", u)
	}
}
