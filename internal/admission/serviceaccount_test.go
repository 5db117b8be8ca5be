package admission_test

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"cella.dev/cella/internal/admission"
	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

func kubernetesProfile(c *app.Config) { c.Profile = "kubernetes" }

// plainPod is a pod with an init container and a container, each
// stating nothing of service accounts.
func plainPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox", Command: []string{"true"}}},
			Containers:     []corev1.Container{{Name: "app", Image: "busybox", Command: []string{"sleep", "3600"}}},
		},
	}
}

// tokenVolumeJSON is the volume Kubernetes generates, less its name.
const tokenVolumeJSON = `{"projected":{"sources":[` +
	`{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},` +
	`{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]%s}},` +
	`{"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}]}}` +
	`],"defaultMode":420}}`

// TestServiceAccountAdmission: a new pod runs as "default" and gets the
// kube-api-access volume, mounted read-only in each container that does
// not mount that path itself, exactly as kube-apiserver builds it.
func TestServiceAccountAdmission(t *testing.T) {
	srv := servertest.Start(t, kubernetesProfile)
	pods := srv.Clientset().CoreV1().Pods("default")
	ctx := t.Context()

	p := plainPod("plain")
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{
		Name: "own", Image: "busybox", Command: []string{"true"},
		VolumeMounts: []corev1.VolumeMount{{Name: "mine", MountPath: admission.TokenMountPath}},
	})
	p.Spec.Volumes = []corev1.Volume{{Name: "mine", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	got, err := pods.Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.ServiceAccountName != "default" {
		t.Errorf("serviceAccountName = %q, want default", got.Spec.ServiceAccountName)
	}
	if len(got.Spec.Volumes) != 2 {
		t.Fatalf("volumes = %+v, want the pod's and the token's", got.Spec.Volumes)
	}
	vol := got.Spec.Volumes[1]
	if !strings.HasPrefix(vol.Name, "kube-api-access-") || len(vol.Name) != len("kube-api-access-")+5 {
		t.Errorf("the token volume is named %q, want kube-api-access-xxxxx", vol.Name)
	}
	b, _ := json.Marshal(vol.VolumeSource)
	if want := strings.ReplaceAll(tokenVolumeJSON, "%s", ""); string(b) != want {
		t.Errorf("the token volume is\n%s\nwant\n%s", b, want)
	}
	mount := corev1.VolumeMount{Name: vol.Name, ReadOnly: true, MountPath: admission.TokenMountPath}
	for _, c := range append(got.Spec.InitContainers, got.Spec.Containers[0]) {
		if len(c.VolumeMounts) != 1 || !equality.Semantic.DeepEqual(c.VolumeMounts[0], mount) {
			t.Errorf("container %s mounts %+v, want %+v", c.Name, c.VolumeMounts, mount)
		}
	}
	if own := got.Spec.Containers[1].VolumeMounts; len(own) != 1 || own[0].Name != "mine" {
		t.Errorf("the container that mounts the path itself mounts %+v, want its own volume only", own)
	}
	// What admission adds is nobody's, as in Kubernetes: the creator's
	// managed fields name neither the volume nor the account.
	for _, mf := range got.ManagedFields {
		if s := string(mf.FieldsV1.Raw); strings.Contains(s, "kube-api-access") || strings.Contains(s, "serviceAccountName") {
			t.Errorf("managed fields of %s name what admission added: %s", mf.Manager, s)
		}
	}

	// automountServiceAccountToken: the pod's word, else the account's.
	no := plainPod("no-token")
	no.Spec.AutomountServiceAccountToken = ptr.To(false)
	if got, err := pods.Create(ctx, no, metav1.CreateOptions{}); err != nil || len(got.Spec.Volumes) != 0 {
		t.Errorf("a pod with automountServiceAccountToken=false: %v, volumes %+v, want none", err, got.Spec.Volumes)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "quiet"}, AutomountServiceAccountToken: ptr.To(false),
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "registry"}}}
	if _, err := srv.Clientset().CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	q := plainPod("quiet")
	q.Spec.ServiceAccountName = "quiet"
	got, err = pods.Create(ctx, q, metav1.CreateOptions{})
	if err != nil || len(got.Spec.Volumes) != 0 {
		t.Errorf("a pod of a ServiceAccount with automountServiceAccountToken=false: %v, volumes %+v, want none", err, got.Spec.Volumes)
	}
	if err == nil && (len(got.Spec.ImagePullSecrets) != 1 || got.Spec.ImagePullSecrets[0].Name != "registry") {
		t.Errorf("imagePullSecrets = %+v, want the ServiceAccount's", got.Spec.ImagePullSecrets)
	}
	yes := plainPod("loud")
	yes.Spec.ServiceAccountName, yes.Spec.AutomountServiceAccountToken = "quiet", ptr.To(true)
	if got, err := pods.Create(ctx, yes, metav1.CreateOptions{}); err != nil || len(got.Spec.Volumes) != 1 {
		t.Errorf("a pod that asks for a token of a ServiceAccount that says no: %v, volumes %+v, want the token's", err, got.Spec.Volumes)
	}
}

// TestServiceAccountMissing: a pod naming a ServiceAccount that does not
// exist is refused 403 in kube-apiserver's words, named by its
// generateName when it has one.
func TestServiceAccountMissing(t *testing.T) {
	srv := servertest.Start(t, kubernetesProfile)
	pods := srv.Clientset().CoreV1().Pods("default")
	for _, tc := range []struct{ name, generateName, want string }{
		{"ghost", "", `pods "ghost" is forbidden: error looking up service account default/nobody: serviceaccount "nobody" not found`},
		{"", "ghost-", `pods "ghost-" is forbidden: error looking up service account default/nobody: serviceaccount "nobody" not found`},
	} {
		p := plainPod(tc.name)
		p.GenerateName = tc.generateName
		p.Spec.ServiceAccountName = "nobody"
		_, err := pods.Create(t.Context(), p, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) || err.Error() != tc.want {
			t.Errorf("a pod of a missing ServiceAccount: got %v, want 403 %q", err, tc.want)
		}
	}
}

// TestServiceAccountNewNamespace: a pod created right after its
// namespace, before or after the serviceaccount controller made the
// namespace's default ServiceAccount, is admitted with its token, as
// `kubectl create ns x && kubectl run -n x ...` expects.
func TestServiceAccountNewNamespace(t *testing.T) {
	srv := servertest.Start(t, kubernetesProfile)
	cs := srv.Clientset()
	for _, ns := range []string{"fresh-1", "fresh-2", "fresh-3"} {
		if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := cs.CoreV1().Pods(ns).Create(t.Context(), plainPod("first"), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("the first pod of a new namespace: %v", err)
		}
		if len(got.Spec.Volumes) != 1 {
			t.Errorf("the first pod of a new namespace has volumes %+v, want the token's", got.Spec.Volumes)
		}
	}
}

// TestServiceAccountWithoutTLS: a server without TLS publishes no
// kube-root-ca.crt, so the CA source of the token volume is optional
// there (the node agent would otherwise wait for it forever).
func TestServiceAccountWithoutTLS(t *testing.T) {
	srv := servertest.Start(t, kubernetesProfile, func(c *app.Config) { c.TLS = false })
	got, err := srv.Clientset().CoreV1().Pods("default").Create(t.Context(), plainPod("plain"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got.Spec.Volumes[0].VolumeSource)
	if want := strings.ReplaceAll(tokenVolumeJSON, "%s", `,"optional":true`); string(b) != want {
		t.Errorf("the token volume without TLS is\n%s\nwant\n%s", b, want)
	}
}

// TestServiceAccountMirrorPod: a mirror pod is left alone and may not
// name a ServiceAccount.
func TestServiceAccountMirrorPod(t *testing.T) {
	srv := servertest.Start(t, kubernetesProfile)
	pods := srv.Clientset().CoreV1().Pods("default")
	m := plainPod("mirror")
	m.Annotations = map[string]string{"kubernetes.io/config.mirror": "hash"}
	got, err := pods.Create(t.Context(), m, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.ServiceAccountName != "" || len(got.Spec.Volumes) != 0 {
		t.Errorf("a mirror pod got serviceAccountName %q and volumes %+v, want neither", got.Spec.ServiceAccountName, got.Spec.Volumes)
	}
	m = plainPod("mirror-sa")
	m.Annotations = map[string]string{"kubernetes.io/config.mirror": "hash"}
	m.Spec.ServiceAccountName = "default"
	_, err = pods.Create(t.Context(), m, metav1.CreateOptions{})
	if want := `pods "mirror-sa" is forbidden: a mirror pod may not reference service accounts`; !apierrors.IsForbidden(err) || err.Error() != want {
		t.Errorf("a mirror pod naming a ServiceAccount: got %v, want 403 %q", err, want)
	}
}
