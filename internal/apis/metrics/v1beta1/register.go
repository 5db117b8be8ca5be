package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of this package.
const GroupName = "metrics.k8s.io"

// SchemeGroupVersion is the group and version of every kind in this package.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1beta1"}

// Resource qualifies a resource name, such as "pods", with this group.
func Resource(resource string) schema.GroupResource {
	return SchemeGroupVersion.WithResource(resource).GroupResource()
}

// AddToScheme registers PodMetrics, NodeMetrics, their lists and the metav1 option
// types (ListOptions, DeleteOptions, WatchEvent, ...) under
// SchemeGroupVersion.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion, &PodMetrics{}, &PodMetricsList{}, &NodeMetrics{}, &NodeMetricsList{})
	metav1.AddToGroupVersion(s, SchemeGroupVersion)
	return nil
}
