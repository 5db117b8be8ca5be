package app

import (
	"context"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	metricsv1beta1 "cella.dev/cella/internal/apis/metrics/v1beta1"
	"cella.dev/cella/internal/registry"
	"cella.dev/cella/internal/registry/kinds"
)

// UsageSource reports the measured CPU and memory of a running pod's
// containers; ok is false when the pod has no measurement.
type UsageSource func(pod *corev1.Pod) (m *metricsv1beta1.PodMetrics, ok bool)

// NodeUsageSource reports the measured usage of every node that has one.
type NodeUsageSource func() []*metricsv1beta1.NodeMetrics

// nodeMetricsEndpoint serves metrics.k8s.io/v1beta1 nodes (kubectl top
// node): the usage of each node its agent has measured. Without a runtime
// (usage nil) the list is empty.
func nodeMetricsEndpoint(usage NodeUsageSource) *registry.Endpoint {
	res := &registry.Resource{Group: metricsv1beta1.GroupName, Version: "v1beta1", Kind: "NodeMetrics", Plural: "nodes", Singular: ""}
	measure := func() []*metricsv1beta1.NodeMetrics {
		if usage == nil {
			return nil
		}
		ms := usage()
		for _, m := range ms {
			m.Kind, m.APIVersion = "NodeMetrics", metricsv1beta1.SchemeGroupVersion.String()
		}
		return ms
	}
	return &registry.Endpoint{
		Group: metricsv1beta1.GroupName, Version: "v1beta1", Kind: "NodeMetrics", Resource: res,
		Verbs: []string{"get", "list"},
		New:   func() runtime.Object { return &metricsv1beta1.NodeMetrics{} }, NewList: func() runtime.Object { return &metricsv1beta1.NodeMetricsList{} },
		Get: func(_ context.Context, _, name string) (runtime.Object, error) {
			for _, m := range measure() {
				if m.Name == name {
					return m, nil
				}
			}
			return nil, apierrors.NewNotFound(metricsv1beta1.Resource("nodes"), name)
		},
		List: func(context.Context, string) (runtime.Object, error) {
			out := &metricsv1beta1.NodeMetricsList{Items: []metricsv1beta1.NodeMetrics{}}
			out.Kind, out.APIVersion = "NodeMetricsList", metricsv1beta1.SchemeGroupVersion.String()
			for _, m := range measure() {
				out.Items = append(out.Items, *m)
			}
			return out, nil
		},
	}
}

// podMetricsEndpoint serves metrics.k8s.io/v1beta1 pods (kubectl top pod):
// one PodMetrics per running pod that usage can measure. Without a runtime
// (usage nil) no pod runs, so the list is empty and a get is NotFound,
// which is what kube's metrics server answers for pods it has no samples of.
func podMetricsEndpoint(cat *kinds.Catalog, usage UsageSource) *registry.Endpoint {
	pods := cat.Store("", "pods")
	res := &registry.Resource{Group: metricsv1beta1.GroupName, Version: "v1beta1", Kind: "PodMetrics", Plural: "pods", Singular: "", Namespaced: true}
	measure := func(pod *corev1.Pod) (*metricsv1beta1.PodMetrics, bool) {
		if usage == nil || pod.Status.Phase != corev1.PodRunning {
			return nil, false
		}
		return usage(pod)
	}
	return &registry.Endpoint{
		Group: metricsv1beta1.GroupName, Version: "v1beta1", Kind: "PodMetrics", Resource: res,
		Verbs: []string{"get", "list"},
		New:   func() runtime.Object { return &metricsv1beta1.PodMetrics{} }, NewList: func() runtime.Object { return &metricsv1beta1.PodMetricsList{} },
		Get: func(ctx context.Context, ns, name string) (runtime.Object, error) {
			obj, err := pods.GetObject(ctx, ns, name)
			if err != nil {
				return nil, err
			}
			m, ok := measure(obj.(*corev1.Pod))
			if !ok {
				return nil, apierrors.NewNotFound(metricsv1beta1.Resource("pods"), name)
			}
			m.Kind, m.APIVersion = "PodMetrics", metricsv1beta1.SchemeGroupVersion.String()
			return m, nil
		},
		List: func(ctx context.Context, ns string) (runtime.Object, error) {
			page, err := pods.List(ctx, ns, registry.ListOptions{})
			if err != nil {
				return nil, err
			}
			out := &metricsv1beta1.PodMetricsList{Items: []metricsv1beta1.PodMetrics{}}
			out.Kind, out.APIVersion = "PodMetricsList", metricsv1beta1.SchemeGroupVersion.String()
			out.ResourceVersion = strconv.FormatInt(page.ResourceVersion, 10)
			for _, it := range page.Items {
				obj, err := pods.Decode(it.JSON)
				if err != nil {
					return nil, err
				}
				if m, ok := measure(obj.(*corev1.Pod)); ok {
					out.Items = append(out.Items, *m)
				}
			}
			return out, nil
		},
	}
}
