package gc

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestResources(t *testing.T) {
	all := []string{"get", "list", "watch", "delete"}
	lists := []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "configmaps", Kind: "ConfigMap", Namespaced: true, Verbs: all},
			{Name: "pods/status", Kind: "Pod", Namespaced: true, Verbs: all},
			{Name: "events", Kind: "Event", Namespaced: true, Verbs: all},
			{Name: "namespaces", Kind: "Namespace", Verbs: all},
		}},
		{GroupVersion: "networking.k8s.io/v1", APIResources: []metav1.APIResource{
			{Name: "ingresses", Kind: "Ingress", Namespaced: true, Verbs: all},
		}},
		{GroupVersion: "extensions/v1beta1", APIResources: []metav1.APIResource{
			{Name: "ingresses", Kind: "Ingress", Namespaced: true, Verbs: all},
			{Name: "widgets", Kind: "Widget", Namespaced: true, Verbs: all},
		}},
		{GroupVersion: "batch.volcano.sh/v1alpha1", APIResources: []metav1.APIResource{
			{Name: "jobs", Kind: "Job", Namespaced: true, Verbs: all},
		}},
		{GroupVersion: "batch/v1", APIResources: []metav1.APIResource{
			{Name: "jobs", Kind: "Job", Namespaced: true, Verbs: all},
		}},
		{GroupVersion: "metrics.k8s.io/v1beta1", APIResources: []metav1.APIResource{
			{Name: "pods", Kind: "PodMetrics", Namespaced: true, Verbs: []string{"get", "list"}},
		}},
	}
	c := &Controller{}
	var got []string
	watched, kinds := c.resources(lists)
	for _, r := range watched {
		got = append(got, r.gvr.GroupResource().String())
	}
	want := []string{"configmaps", "namespaces", "ingresses.networking.k8s.io", "jobs.batch.volcano.sh", "jobs.batch", "widgets.extensions"}
	if !slices.Equal(got, want) {
		t.Errorf("watched %v, want %v", got, want)
	}
	if r := kinds[schema.GroupKind{Group: "metrics.k8s.io", Kind: "PodMetrics"}]; r == nil || !r.namespaced {
		t.Errorf("PodMetrics resolves to %v, want the namespaced pods of metrics.k8s.io", r)
	}
	if r := kinds[schema.GroupKind{Kind: "Event"}]; r == nil {
		t.Error("Event does not resolve: an owner may be of any kind served with get")
	}
}
