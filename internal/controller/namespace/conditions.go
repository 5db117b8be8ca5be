package namespace

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// deletionReport is what one pass over a namespace being deleted found,
// turned into the conditions Kubernetes' namespace controller keeps on a
// terminating namespace, in its reasons and words.
type deletionReport struct {
	// discovery is the error of discovery, if any.
	discovery error
	// failed holds the errors of collections that could not be deleted
	// or listed.
	failed []string
	// resources counts the objects left per resource; finalizers counts
	// the objects left per finalizer they carry.
	resources  map[schema.GroupVersionResource]int
	finalizers map[string]int
}

// remain records the objects of gvr still in the namespace.
func (r *deletionReport) remain(gvr schema.GroupVersionResource, items []metav1.PartialObjectMetadata) {
	if len(items) == 0 {
		return
	}
	if r.resources == nil {
		r.resources, r.finalizers = map[schema.GroupVersionResource]int{}, map[string]int{}
	}
	r.resources[gvr] += len(items)
	for _, it := range items {
		for _, f := range it.Finalizers {
			r.finalizers[f]++
		}
	}
}

// conditionTypes are the conditions the controller owns, in the order it
// writes them.
var conditionTypes = []corev1.NamespaceConditionType{
	corev1.NamespaceDeletionDiscoveryFailure,
	corev1.NamespaceDeletionGVParsingFailure,
	corev1.NamespaceDeletionContentFailure,
	corev1.NamespaceContentRemaining,
	corev1.NamespaceFinalizersRemaining,
}

// okConditions are the False conditions of a namespace with nothing in
// the way.
var okConditions = map[corev1.NamespaceConditionType][2]string{ // reason, message
	corev1.NamespaceDeletionDiscoveryFailure: {"ResourcesDiscovered", "All resources successfully discovered"},
	corev1.NamespaceDeletionGVParsingFailure: {"ParsedGroupVersions", "All legacy kube types successfully parsed"},
	corev1.NamespaceDeletionContentFailure:   {"ContentDeleted", "All content successfully deleted, may be waiting on finalization"},
	corev1.NamespaceContentRemaining:         {"ContentRemoved", "All content successfully removed"},
	corev1.NamespaceFinalizersRemaining:      {"ContentRemoved", "All content successfully removed"},
}

// failing returns the True conditions of the report.
func (r *deletionReport) failing() map[corev1.NamespaceConditionType][2]string {
	out := map[corev1.NamespaceConditionType][2]string{}
	if r.discovery != nil {
		out[corev1.NamespaceDeletionDiscoveryFailure] = [2]string{"DiscoveryFailed", r.discovery.Error()}
	}
	if len(r.failed) > 0 {
		msgs := append([]string(nil), r.failed...)
		sort.Strings(msgs)
		out[corev1.NamespaceDeletionContentFailure] = [2]string{"ContentDeletionFailed",
			fmt.Sprintf("Failed to delete all resource types, %d remaining: %v", len(msgs), strings.Join(msgs, ", "))}
	}
	if len(r.resources) > 0 {
		var left []string
		for gvr, n := range r.resources {
			left = append(left, fmt.Sprintf("%s.%s has %d resource instances", gvr.Resource, gvr.Group, n))
		}
		sort.Strings(left)
		out[corev1.NamespaceContentRemaining] = [2]string{"SomeResourcesRemain", "Some resources are remaining: " + strings.Join(left, ", ")}
	}
	if len(r.finalizers) > 0 {
		var left []string
		for f, n := range r.finalizers {
			left = append(left, fmt.Sprintf("%s in %d resource instances", f, n))
		}
		sort.Strings(left)
		out[corev1.NamespaceFinalizersRemaining] = [2]string{"SomeFinalizerRemain", "Some finalizers are remaining: " + strings.Join(left, ", ")}
	}
	return out
}

// apply sets the controller's conditions on ns and reports whether any
// changed. A condition's lastTransitionTime moves only when its status
// does.
func (r *deletionReport) apply(ns *corev1.Namespace, now metav1.Time) bool {
	failing := r.failing()
	changed := false
	for _, t := range conditionTypes {
		status, rm := corev1.ConditionFalse, okConditions[t]
		if f, ok := failing[t]; ok {
			status, rm = corev1.ConditionTrue, f
		}
		var cur *corev1.NamespaceCondition
		for i := range ns.Status.Conditions {
			if ns.Status.Conditions[i].Type == t {
				cur = &ns.Status.Conditions[i]
			}
		}
		switch {
		case cur == nil:
			ns.Status.Conditions = append(ns.Status.Conditions, corev1.NamespaceCondition{
				Type: t, Status: status, LastTransitionTime: now, Reason: rm[0], Message: rm[1],
			})
			changed = true
		case cur.Status != status || cur.Reason != rm[0] || cur.Message != rm[1]:
			if cur.Status != status {
				cur.LastTransitionTime = now
			}
			cur.Status, cur.Reason, cur.Message = status, rm[0], rm[1]
			changed = true
		}
	}
	return changed
}
