package v1beta1

// The SwaggerDoc methods describe each type for the OpenAPI documents and
// kubectl explain, in the convention of k8s.io/api's generated
// types_swagger_doc_generated.go: the "" key describes the type, the other
// keys are JSON field names. Each call returns a new map.

// SwaggerDoc describes PodMetrics.
func (PodMetrics) SwaggerDoc() map[string]string {
	return map[string]string{
		"":           "PodMetrics is the resource usage of one pod's containers, averaged over window and ending at timestamp.",
		"metadata":   "Standard object's metadata; name and namespace are the pod's. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
		"timestamp":  "End of the interval the usage was measured over.",
		"window":     "Length of the interval the usage was measured over.",
		"containers": "Usage of each container of the pod.",
	}
}

// SwaggerDoc describes ContainerMetrics.
func (ContainerMetrics) SwaggerDoc() map[string]string {
	return map[string]string{
		"":      "ContainerMetrics is the resource usage of one container.",
		"name":  "Name of the container.",
		"usage": "Resource usage: cpu in cores and memory in bytes.",
	}
}

// SwaggerDoc describes PodMetricsList.
func (PodMetricsList) SwaggerDoc() map[string]string {
	return map[string]string{
		"":         "PodMetricsList is a list of PodMetrics.",
		"metadata": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
		"items":    "Items is the list of pod metrics.",
	}
}

// SwaggerDoc describes NodeMetrics.
func (NodeMetrics) SwaggerDoc() map[string]string {
	return map[string]string{
		"":          "NodeMetrics is the resource usage of one node, averaged over window and ending at timestamp.",
		"metadata":  "Standard object's metadata; the name is the node's. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
		"timestamp": "End of the interval the usage was measured over.",
		"window":    "Length of the interval the usage was measured over.",
		"usage":     "Resource usage: cpu in cores and memory in bytes (the working set).",
	}
}

// SwaggerDoc describes NodeMetricsList.
func (NodeMetricsList) SwaggerDoc() map[string]string {
	return map[string]string{
		"":         "NodeMetricsList is a list of NodeMetrics.",
		"metadata": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
		"items":    "Items is the list of node metrics.",
	}
}
