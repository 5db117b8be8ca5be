package kinds

import (
	"context"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"cella.dev/cella/internal/registry"
)

// evictionBlockedMessage is kube-apiserver's message for an eviction a
// disruption budget refuses.
const evictionBlockedMessage = "Cannot evict pod as it would violate the pod's disruption budget."

// checkDisruptionBudget decides whether evicting pod respects the
// PodDisruptionBudgets of its namespace, as kube-apiserver's eviction
// does, and when it does and a budget covers the pod, takes one disruption
// from that budget's status (compare-and-swap on the budget). A pod that is
// not running, or is being deleted, needs no budget. Refusals:
//
//   - more than one budget selects the pod: 500, as Kubernetes;
//   - the budget's status is older than its spec (observedGeneration <
//     generation; no disruption controller has counted it yet): 429;
//   - no disruption is allowed now: 429 naming the budget, with the
//     healthy pods it needs and has;
//
// an unhealthy (not Ready) pod may go without a disruption when the
// budget is met (unhealthyPodEvictionPolicy IfHealthyBudget, the default)
// or always (AlwaysAllow).
func (b *builder) checkDisruptionBudget(ctx context.Context, pod *corev1.Pod, dryRun bool) error {
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodPending {
		return nil
	}
	pdbs := b.cat.Store("policy", "poddisruptionbudgets")
	if pdbs == nil {
		return nil
	}
	res, err := pdbs.List(ctx, pod.Namespace, registry.ListOptions{})
	if err != nil {
		return err
	}
	var matching []*policyv1.PodDisruptionBudget
	for _, raw := range res.Items {
		obj, err := pdbs.Decode(raw.JSON)
		if err != nil {
			return err
		}
		pdb := obj.(*policyv1.PodDisruptionBudget)
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		matching = append(matching, pdb)
	}
	switch len(matching) {
	case 0:
		return nil
	case 1:
	default:
		return apierrors.NewInternalError(fmt.Errorf("This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."))
	}
	pdb := matching[0]
	if !podReady(pod) {
		policy := policyv1.IfHealthyBudget
		if pdb.Spec.UnhealthyPodEvictionPolicy != nil {
			policy = *pdb.Spec.UnhealthyPodEvictionPolicy
		}
		if policy == policyv1.AlwaysAllow || (pdb.Status.ObservedGeneration >= pdb.Generation && pdb.Status.CurrentHealthy >= pdb.Status.DesiredHealthy && pdb.Status.DesiredHealthy > 0) {
			return nil
		}
	}
	if dryRun {
		return budgetAllows(pdb)
	}
	_, err = pdbs.GuaranteedUpdate(ctx, pdb.Namespace, pdb.Name, nil, func(cur runtime.Object) error {
		p := cur.(*policyv1.PodDisruptionBudget)
		if err := budgetAllows(p); err != nil {
			return err
		}
		p.Status.DisruptionsAllowed--
		if p.Status.DisruptedPods == nil {
			p.Status.DisruptedPods = map[string]metav1.Time{}
		}
		p.Status.DisruptedPods[pod.Name] = metav1.NewTime(b.cfg.Now())
		return nil
	}, registry.WriteOptions{})
	return err
}

// budgetAllows is nil when pdb's status allows one more disruption.
func budgetAllows(pdb *policyv1.PodDisruptionBudget) error {
	if pdb.Status.ObservedGeneration < pdb.Generation {
		return tooManyRequests(fmt.Sprintf("The disruption budget %s is still being processed by the server.", pdb.Name))
	}
	if pdb.Status.DisruptionsAllowed < 0 {
		return apierrors.NewForbidden(policyv1.Resource("poddisruptionbudgets"), pdb.Name, fmt.Errorf("pdb disruptions allowed is negative"))
	}
	if pdb.Status.DisruptionsAllowed == 0 {
		return tooManyRequests(fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", pdb.Name, pdb.Status.DesiredHealthy, pdb.Status.CurrentHealthy))
	}
	return nil
}

// tooManyRequests is the 429 of an eviction a budget refuses, with the
// budget's reason as a DisruptionBudget cause, as kube-apiserver answers.
func tooManyRequests(cause string) error {
	err := apierrors.NewTooManyRequests(evictionBlockedMessage, 10)
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Type: "DisruptionBudget", Message: cause})
	err.ErrStatus.Code = http.StatusTooManyRequests
	return err
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
