package apiserver_test

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

// TestMoreKinds: the kinds kubectl's defaults and common charts expect
// (replication controllers, daemon sets, controller revisions, disruption
// budgets, network policies, priority classes) are stored, defaulted and
// validated as Kubernetes does, through client-go.
func TestMoreKinds(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) { c.Profile = "kubernetes" })
	cs := srv.Clientset()
	ctx := t.Context()
	tmpl := &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}

	rc, err := cs.CoreV1().ReplicationControllers("default").Create(ctx, &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "rc"}, Spec: corev1.ReplicationControllerSpec{Template: tmpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rc.Spec.Selector["app"] != "x" || rc.Labels["app"] != "x" || rc.Spec.Replicas == nil || *rc.Spec.Replicas != 1 {
		t.Errorf("replication controller defaults: selector %v labels %v replicas %v", rc.Spec.Selector, rc.Labels, rc.Spec.Replicas)
	}
	if sc, err := cs.CoreV1().ReplicationControllers("default").GetScale(ctx, "rc", metav1.GetOptions{}); err != nil || sc.Spec.Replicas != 1 {
		t.Errorf("replicationcontrollers/scale: %v %+v", err, sc)
	}

	ds, err := cs.AppsV1().DaemonSets("default").Create(ctx, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "ds"},
		Spec:       appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}, Template: *tmpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ds.Spec.RevisionHistoryLimit == nil || *ds.Spec.RevisionHistoryLimit != 10 {
		t.Errorf("daemon set defaults: %+v", ds.Spec.UpdateStrategy)
	}

	cr, err := cs.AppsV1().ControllerRevisions("default").Create(ctx, &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: "cr"}, Revision: 1, Data: runtime.RawExtension{Raw: []byte(`{"a":1}`)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cr.Data = runtime.RawExtension{Raw: []byte(`{"a":2}`)}
	if _, err := cs.AppsV1().ControllerRevisions("default").Update(ctx, cr, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "data: Invalid value") {
		t.Errorf("changing a controller revision's data: %v, want 422", err)
	}

	one := intstr.FromInt32(1)
	_, err = cs.PolicyV1().PodDisruptionBudgets("default").Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "both"}, Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, MaxUnavailable: &one},
	}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "minAvailable and maxUnavailable cannot be both set") {
		t.Errorf("a budget with both: %v, want 422", err)
	}

	np, err := cs.NetworkingV1().NetworkPolicies("default").Create(ctx, &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "np"},
		Spec:       networkingv1.NetworkPolicySpec{Egress: []networkingv1.NetworkPolicyEgressRule{{}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := np.Spec.PolicyTypes; len(got) != 2 || got[0] != networkingv1.PolicyTypeIngress || got[1] != networkingv1.PolicyTypeEgress {
		t.Errorf("network policy types: %v, want Ingress and Egress", got)
	}

	pcs := cs.SchedulingV1().PriorityClasses()
	if pc, err := pcs.Get(ctx, "system-node-critical", metav1.GetOptions{}); err != nil || pc.Value != 2000001000 {
		t.Fatalf("built-in priority class: %v %+v", err, pc)
	}
	for _, tc := range []struct {
		pc   schedulingv1.PriorityClass
		want string
	}{
		{schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-mine"}, Value: 10}, "priority class names with 'system-' prefix are reserved"},
		{schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "huge"}, Value: 2000000000}, "maximum allowed value of a user defined priority is 1000000000"},
	} {
		if _, err := pcs.Create(ctx, &tc.pc, metav1.CreateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("priority class %s: %v, want 422 %q", tc.pc.Name, err, tc.want)
		}
	}
	high, err := pcs.Create(ctx, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	high.Value = 2000
	if _, err := pcs.Update(ctx, high, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "may not be changed in an update") {
		t.Errorf("changing a priority class's value: %v, want 422", err)
	}
}

// TestIngressV1beta1PathTypeDefault: an extensions/v1beta1 Ingress path
// without pathType is ImplementationSpecific, as Kubernetes' defaulting of
// that version makes it, not refused for lacking what networking.k8s.io/v1
// requires.
func TestIngressV1beta1PathTypeDefault(t *testing.T) {
	srv := servertest.Start(t)
	body := []byte(`{"apiVersion":"extensions/v1beta1","kind":"Ingress","metadata":{"name":"old"},` +
		`"spec":{"rules":[{"host":"old.example","http":{"paths":[{"path":"/","backend":{"serviceName":"web","servicePort":80}}]}}]}}`)
	resp, err := srv.HTTPClient().Do(srv.Request("POST", "/apis/extensions/v1beta1/namespaces/default/ingresses", body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("create of a v1beta1 ingress without pathType: %d, want 201", resp.StatusCode)
	}
	ing, err := srv.Clientset().NetworkingV1().Ingresses("default").Get(t.Context(), "old", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pt := ing.Spec.Rules[0].HTTP.Paths[0].PathType; pt == nil || *pt != networkingv1.PathTypeImplementationSpecific {
		t.Fatalf("pathType = %v, want ImplementationSpecific", pt)
	}
}
