package admission_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"cella.dev/cella/internal/servertest"
)

// warnings collects the Warning headers client-go hands to its handler.
type warnings struct{ texts []string }

func (w *warnings) HandleWarningHeaderWithContext(_ context.Context, code int, _ string, text string) {
	if code == 299 {
		w.texts = append(w.texts, text)
	}
}

// warnedClient is a clientset for srv that records the warnings it gets.
func warnedClient(t *testing.T, srv *servertest.Server) (kubernetes.Interface, *warnings) {
	t.Helper()
	w := &warnings{}
	cfg := rest.CopyConfig(srv.RestConfig())
	cfg.WarningHandlerWithContext = w
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs, w
}

func labelledNamespace(t *testing.T, cs kubernetes.Interface, name string, labels map[string]string) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func privilegedPod(name string) *corev1.Pod {
	p := plainPod(name)
	p.Spec.InitContainers = nil
	p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	return p
}

// TestPodSecurityEnforce: a namespace labelled enforce=restricted refuses
// a privileged pod with 403 and kube-apiserver's message, listing every
// check the pod fails; an unlabelled namespace allows it.
func TestPodSecurityEnforce(t *testing.T) {
	srv := servertest.Start(t, kubernetesProfile)
	cs := srv.Clientset()
	labelledNamespace(t, cs, "strict", map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	labelledNamespace(t, cs, "open", nil)

	_, err := cs.CoreV1().Pods("strict").Create(t.Context(), privilegedPod("root"), metav1.CreateOptions{})
	want := `pods "root" is forbidden: violates PodSecurity "restricted:latest": ` +
		`privileged (container "app" must not set securityContext.privileged=true), ` +
		`allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false), ` +
		`unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]), ` +
		`runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true), ` +
		`seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`
	if !apierrors.IsForbidden(err) || err.Error() != want {
		t.Errorf("a privileged pod under enforce=restricted: got %v, want 403 %q", err, want)
	}

	// Over plain HTTP: the status code and the Status body's reason.
	body := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"raw"},"spec":{"containers":[{"name":"app","image":"busybox","securityContext":{"privileged":true}}]}}`)
	resp, err := srv.HTTPClient().Do(srv.Request(http.MethodPost, "/api/v1/namespaces/strict/pods", body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST of a privileged pod under enforce=restricted: %s, want 403", resp.Status)
	}

	if _, err := cs.CoreV1().Pods("open").Create(t.Context(), privilegedPod("root"), metav1.CreateOptions{}); err != nil {
		t.Errorf("a privileged pod in an unlabelled namespace: %v, want it admitted", err)
	}
}

// TestPodSecurityWarn: a namespace labelled warn=baseline admits a pod
// that breaks baseline with a Warning header in kube-apiserver's words;
// an unlabelled namespace gives none; pod templates get warnings, never
// refusals, even under enforce.
func TestPodSecurityWarn(t *testing.T) {
	srv := servertest.Start(t, kubernetesProfile)
	cs, w := warnedClient(t, srv)
	labelledNamespace(t, cs, "warned", map[string]string{"pod-security.kubernetes.io/warn": "baseline"})
	labelledNamespace(t, cs, "open", nil)

	if _, err := cs.CoreV1().Pods("warned").Create(t.Context(), privilegedPod("root"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("a privileged pod under warn=baseline: %v, want it admitted", err)
	}
	want := `would violate PodSecurity "baseline:latest": privileged (container "app" must not set securityContext.privileged=true)`
	if len(w.texts) != 1 || w.texts[0] != want {
		t.Errorf("warnings = %q, want [%q]", w.texts, want)
	}

	w.texts = nil
	if _, err := cs.CoreV1().Pods("open").Create(t.Context(), privilegedPod("root"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(w.texts) != 0 {
		t.Errorf("warnings in an unlabelled namespace = %q, want none", w.texts)
	}

	// A Deployment under enforce=baseline: admitted, warned.
	labelledNamespace(t, cs, "strict", map[string]string{"pod-security.kubernetes.io/enforce": "baseline"})
	w.texts = nil
	p := privilegedPod("")
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "root"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "root"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "root"}}, Spec: p.Spec},
		},
	}
	if _, err := cs.AppsV1().Deployments("strict").Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("a privileged Deployment under enforce=baseline: %v, want it admitted", err)
	}
	if len(w.texts) != 1 || w.texts[0] != want {
		t.Errorf("warnings for the Deployment = %q, want [%q]", w.texts, want)
	}
}

// TestPodSecurityNamespaceLabels: labels that name no level are refused
// (422), and raising the enforce level warns of the existing pods that
// break it.
func TestPodSecurityNamespaceLabels(t *testing.T) {
	srv := servertest.Start(t, kubernetesProfile)
	cs, w := warnedClient(t, srv)
	_, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: "bad", Labels: map[string]string{"pod-security.kubernetes.io/enforce": "bogus"},
	}}, metav1.CreateOptions{})
	want := `Namespace "bad" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "bogus": must be one of privileged, baseline, restricted`
	if !apierrors.IsInvalid(err) || err.Error() != want {
		t.Errorf("a namespace with a bogus level: got %v, want 422 %q", err, want)
	}

	labelledNamespace(t, cs, "busy", nil)
	for _, name := range []string{"root-a", "root-b"} {
		if _, err := cs.CoreV1().Pods("busy").Create(t.Context(), privilegedPod(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	w.texts = nil
	ns, err := cs.CoreV1().Namespaces().Get(t.Context(), "busy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns.Labels["pod-security.kubernetes.io/enforce"] = "baseline"
	if _, err := cs.CoreV1().Namespaces().Update(t.Context(), ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	wantWarn := []string{
		`existing pods in namespace "busy" violate the new PodSecurity enforce level "baseline:latest"`,
		`root-a (and 1 other pod): privileged`,
	}
	if strings.Join(w.texts, "\n") != strings.Join(wantWarn, "\n") {
		t.Errorf("warnings = %q, want %q", w.texts, wantWarn)
	}
}
