package node_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestEvictionRespectsDisruptionBudget: a running pod that a
// PodDisruptionBudget selects is evicted only while the budget's status
// allows a disruption, which the eviction takes; otherwise the answer is
// 429 with the budget's reason, as kube-apiserver gives it, and the pod
// stays.
func TestEvictionRespectsDisruptionBudget(t *testing.T) {
	_, cs := startSim(t)
	ctx := t.Context()
	pods := cs.CoreV1().Pods("default")
	p := simPod("guarded", nil, corev1.RestartPolicyAlways)
	p.Labels = map[string]string{"app": "guarded"}
	if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	podWhere(t, cs, "guarded", "is ready", func(p *corev1.Pod) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	})
	one := intstr.FromInt32(1)
	pdbs := cs.PolicyV1().PodDisruptionBudgets("default")
	pdb, err := pdbs.Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "keep-one"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "guarded"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	evict := func() error {
		return pods.EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "guarded", Namespace: "default"}})
	}
	cause := func(err error) string {
		var causes []string
		if se, ok := err.(apierrors.APIStatus); ok && se.Status().Details != nil {
			for _, c := range se.Status().Details.Causes {
				causes = append(causes, string(c.Type)+": "+c.Message)
			}
		}
		return strings.Join(causes, "; ")
	}
	// Not yet counted by a disruption controller.
	err = evict()
	if !apierrors.IsTooManyRequests(err) || cause(err) != "DisruptionBudget: The disruption budget keep-one is still being processed by the server." {
		t.Fatalf("evicting under an uncounted budget: %v (%s), want 429", err, cause(err))
	}
	// Counted, and nothing may go.
	pdb.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, DisruptionsAllowed: 0, CurrentHealthy: 1, DesiredHealthy: 1, ExpectedPods: 1}
	if pdb, err = pdbs.UpdateStatus(ctx, pdb, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = evict()
	if !apierrors.IsTooManyRequests(err) || !strings.Contains(err.Error(), "Cannot evict pod as it would violate the pod's disruption budget.") ||
		cause(err) != "DisruptionBudget: The disruption budget keep-one needs 1 healthy pods and has 1 currently" {
		t.Fatalf("evicting with no disruption allowed: %v (%s), want 429", err, cause(err))
	}
	if got, err := pods.Get(ctx, "guarded", metav1.GetOptions{}); err != nil || got.DeletionTimestamp != nil {
		t.Fatalf("a refused eviction touched the pod: %v %v", err, got.DeletionTimestamp)
	}
	// One allowed: the eviction takes it and the pod goes.
	pdb.Status.DisruptionsAllowed, pdb.Status.CurrentHealthy, pdb.Status.ExpectedPods = 1, 2, 2
	if _, err = pdbs.UpdateStatus(ctx, pdb, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := evict(); err != nil {
		t.Fatalf("evicting with a disruption allowed: %v", err)
	}
	after, err := pdbs.Get(ctx, "keep-one", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := after.Status.DisruptedPods["guarded"]; after.Status.DisruptionsAllowed != 0 || !ok {
		t.Fatalf("budget after the eviction: %+v, want the disruption taken and the pod listed", after.Status)
	}
}
