package scheduler

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// Claims a pod names must exist and be bound before it is placed, as
// kube-scheduler's VolumeBinding plugin requires of claims whose class
// binds Immediately (the only mode Cella's provisioner has): its PreFilter
// refuses the pod on every node at once, so the pod stays Pending with
// PodScheduled=False, reason Unschedulable, and is tried again when a
// claim changes.

// watchClaims adds the claims informer to factory and requeues the
// pending pods when a claim is added or changes (bound, most often).
func (s *Scheduler) watchClaims(factory informers.SharedInformerFactory) {
	inf := factory.Core().V1().PersistentVolumeClaims().Informer()
	s.claims = inf.GetIndexer()
	s.synced = append(s.synced, inf.HasSynced)
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.requeuePending() },
		UpdateFunc: func(any, any) { s.requeuePending() },
	})
}

// unboundClaims returns, in kube-scheduler's words, why pod's claims keep
// it from every node, or "" when each claim it names exists, is not being
// deleted and is bound.
func (s *Scheduler) unboundClaims(pod *corev1.Pod) string {
	unbound := false
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		name := v.PersistentVolumeClaim.ClaimName
		obj, exists, err := s.claims.GetByKey(pod.Namespace + "/" + name)
		if err != nil || !exists {
			return fmt.Sprintf("persistentvolumeclaim %q not found", name)
		}
		pvc := obj.(*corev1.PersistentVolumeClaim)
		if pvc.DeletionTimestamp != nil {
			return fmt.Sprintf("persistentvolumeclaim %q is being deleted", name)
		}
		if pvc.Spec.VolumeName == "" || pvc.Status.Phase != corev1.ClaimBound {
			unbound = true
		}
	}
	if unbound {
		return "pod has unbound immediate PersistentVolumeClaims"
	}
	return ""
}

// preFilterError is kube-scheduler's message for a pod a PreFilter
// refused before any node was looked at.
func preFilterError(total int, msg string) string {
	return fmt.Sprintf("0/%d nodes are available: %s.", total, msg)
}
