// Package v1beta1 holds the metrics.k8s.io/v1beta1 API Cella serves for
// kubectl top pod: PodMetrics, the CPU and memory a running pod's containers
// use. The objects are read-only and computed on request, never stored.
//
// The shape matches the upstream resource metrics API, so kubectl and
// client-go decode it unchanged.
package v1beta1
