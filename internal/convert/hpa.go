package convert

import (
	"encoding/json"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// autoscaling/v1 can say one thing about metrics: a target (and current)
// CPU utilization. What autoscaling/v2 says beyond that travels in
// annotations on the v1 object, so a v1 client's read-modify-write keeps
// it. The values are autoscaling/v2 JSON, not the autoscaling/v1-shaped
// JSON Kubernetes keeps under autoscaling.alpha.kubernetes.io/*; the keys
// are Cella's own so that nothing mistakes one format for the other.
//
// These keys belong to the conversion: v2 -> v1 overwrites or removes them,
// and v1 -> v2 consumes them. An annotation that does not parse is left in
// place as an ordinary annotation.
const (
	// HPAMetricsAnnotation holds spec.metrics when the list is more than
	// one CPU utilization target.
	HPAMetricsAnnotation = "autoscaling.cella.dev/metrics"
	// HPACurrentMetricsAnnotation holds status.currentMetrics when the list
	// is more than one CPU utilization reading.
	HPACurrentMetricsAnnotation = "autoscaling.cella.dev/current-metrics"
	// HPAConditionsAnnotation holds status.conditions.
	HPAConditionsAnnotation = "autoscaling.cella.dev/conditions"
	// HPABehaviorAnnotation holds spec.behavior.
	HPABehaviorAnnotation = "autoscaling.cella.dev/behavior"
)

// HPAV1ToV2 converts an autoscaling/v1 HorizontalPodAutoscaler to
// autoscaling/v2.
//
// spec.targetCPUUtilizationPercentage becomes a Resource metric on cpu with
// a Utilization target, and status.currentCPUUtilizationPercentage a
// Resource reading on cpu with averageUtilization. If the object carries
// the annotations HPAV2ToV1 writes, the metric lists come from them, with
// the CPU entry updated (or added first, or removed) to agree with the v1
// field, since a v1 client can only have changed that.
func HPAV1ToV2(in *autoscalingv1.HorizontalPodAutoscaler) *autoscalingv2.HorizontalPodAutoscaler {
	in = in.DeepCopy()
	out := &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: autoscalingv2.SchemeGroupVersion.String(), Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: in.ObjectMeta,
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{
				Kind:       in.Spec.ScaleTargetRef.Kind,
				Name:       in.Spec.ScaleTargetRef.Name,
				APIVersion: in.Spec.ScaleTargetRef.APIVersion,
			},
			MinReplicas: in.Spec.MinReplicas,
			MaxReplicas: in.Spec.MaxReplicas,
		},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{
			ObservedGeneration: in.Status.ObservedGeneration,
			LastScaleTime:      in.Status.LastScaleTime,
			CurrentReplicas:    in.Status.CurrentReplicas,
			DesiredReplicas:    in.Status.DesiredReplicas,
		},
	}
	meta := &out.ObjectMeta

	var metrics []autoscalingv2.MetricSpec
	takeAnnotation(meta, HPAMetricsAnnotation, &metrics)
	out.Spec.Metrics = setCPU(metrics, in.Spec.TargetCPUUtilizationPercentage, cpuTarget, func(p *int32) autoscalingv2.MetricSpec {
		return autoscalingv2.MetricSpec{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{
				Name:   corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: p},
			},
		}
	})

	var current []autoscalingv2.MetricStatus
	takeAnnotation(meta, HPACurrentMetricsAnnotation, &current)
	out.Status.CurrentMetrics = setCPU(current, in.Status.CurrentCPUUtilizationPercentage, cpuCurrent, func(p *int32) autoscalingv2.MetricStatus {
		return autoscalingv2.MetricStatus{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{
				Name:    corev1.ResourceCPU,
				Current: autoscalingv2.MetricValueStatus{AverageUtilization: p},
			},
		}
	})

	takeAnnotation(meta, HPAConditionsAnnotation, &out.Status.Conditions)
	takeAnnotation(meta, HPABehaviorAnnotation, &out.Spec.Behavior)
	return out
}

// HPAV2ToV1 converts an autoscaling/v2 HorizontalPodAutoscaler to
// autoscaling/v1: the first CPU utilization target and reading become the
// v1 fields, and the annotations above keep the rest.
func HPAV2ToV1(in *autoscalingv2.HorizontalPodAutoscaler) *autoscalingv1.HorizontalPodAutoscaler {
	in = in.DeepCopy()
	out := &autoscalingv1.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: autoscalingv1.SchemeGroupVersion.String(), Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: in.ObjectMeta,
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{
				Kind:       in.Spec.ScaleTargetRef.Kind,
				Name:       in.Spec.ScaleTargetRef.Name,
				APIVersion: in.Spec.ScaleTargetRef.APIVersion,
			},
			MinReplicas: in.Spec.MinReplicas,
			MaxReplicas: in.Spec.MaxReplicas,
		},
		Status: autoscalingv1.HorizontalPodAutoscalerStatus{
			ObservedGeneration: in.Status.ObservedGeneration,
			LastScaleTime:      in.Status.LastScaleTime,
			CurrentReplicas:    in.Status.CurrentReplicas,
			DesiredReplicas:    in.Status.DesiredReplicas,
		},
	}
	meta := &out.ObjectMeta
	had := len(meta.Annotations)
	for _, key := range []string{HPAMetricsAnnotation, HPACurrentMetricsAnnotation, HPAConditionsAnnotation, HPABehaviorAnnotation} {
		delete(meta.Annotations, key)
	}

	var alone bool
	out.Spec.TargetCPUUtilizationPercentage, alone = getCPU(in.Spec.Metrics, cpuTarget)
	if !alone {
		putAnnotation(meta, HPAMetricsAnnotation, in.Spec.Metrics)
	}
	out.Status.CurrentCPUUtilizationPercentage, alone = getCPU(in.Status.CurrentMetrics, cpuCurrent)
	if !alone {
		putAnnotation(meta, HPACurrentMetricsAnnotation, in.Status.CurrentMetrics)
	}
	if in.Status.Conditions != nil {
		putAnnotation(meta, HPAConditionsAnnotation, in.Status.Conditions)
	}
	if in.Spec.Behavior != nil {
		putAnnotation(meta, HPABehaviorAnnotation, in.Spec.Behavior)
	}
	if len(meta.Annotations) == 0 && had > 0 {
		meta.Annotations = nil // only conversion keys were there
	}
	return out
}

// cpuTarget returns the utilization of m if m is a CPU utilization target,
// as autoscaling/v1 can express it, else nil; and whether m says nothing
// more than that.
func cpuTarget(m *autoscalingv2.MetricSpec) (util *int32, bare bool) {
	r := m.Resource
	if m.Type != autoscalingv2.ResourceMetricSourceType || r == nil || r.Name != corev1.ResourceCPU ||
		r.Target.Type != autoscalingv2.UtilizationMetricType || r.Target.AverageUtilization == nil {
		return nil, false
	}
	bare = m.Object == nil && m.Pods == nil && m.ContainerResource == nil && m.External == nil &&
		r.Target.Value == nil && r.Target.AverageValue == nil
	return r.Target.AverageUtilization, bare
}

// cpuCurrent returns the utilization of m if m is a CPU utilization
// reading, else nil; and whether m says nothing more than that.
func cpuCurrent(m *autoscalingv2.MetricStatus) (util *int32, bare bool) {
	r := m.Resource
	if m.Type != autoscalingv2.ResourceMetricSourceType || r == nil || r.Name != corev1.ResourceCPU ||
		r.Current.AverageUtilization == nil {
		return nil, false
	}
	bare = m.Object == nil && m.Pods == nil && m.ContainerResource == nil && m.External == nil &&
		r.Current.Value == nil && r.Current.AverageValue == nil
	return r.Current.AverageUtilization, bare
}

// getCPU returns a copy of the utilization of the first CPU entry of list
// (nil if there is none), and whether the v1 field alone says all the list
// does: the list is empty, or holds just that entry, bare.
func getCPU[M any](list []M, cpu func(*M) (*int32, bool)) (util *int32, alone bool) {
	for i := range list {
		if p, bare := cpu(&list[i]); p != nil {
			return new(*p), len(list) == 1 && bare
		}
	}
	return nil, len(list) == 0
}

// setCPU makes the first CPU entry of list agree with util: updated in
// place, removed if util is nil, or added first (made by bare) if missing.
func setCPU[M any](list []M, util *int32, cpu func(*M) (*int32, bool), bare func(*int32) M) []M {
	for i := range list {
		if p, _ := cpu(&list[i]); p != nil {
			if util == nil {
				return append(list[:i:i], list[i+1:]...)
			}
			*p = *util
			return list
		}
	}
	if util == nil {
		return list
	}
	return append([]M{bare(util)}, list...)
}

// putAnnotation stores v as JSON under key.
func putAnnotation(meta *metav1.ObjectMeta, key string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		return // the autoscaling/v2 types always marshal
	}
	if meta.Annotations == nil {
		meta.Annotations = map[string]string{}
	}
	meta.Annotations[key] = string(data)
}

// takeAnnotation decodes the JSON under key into v and removes the key. An
// annotation that does not decode is left alone and v unchanged.
func takeAnnotation(meta *metav1.ObjectMeta, key string, v any) {
	data, ok := meta.Annotations[key]
	if !ok || json.Unmarshal([]byte(data), v) != nil {
		return
	}
	delete(meta.Annotations, key)
	if len(meta.Annotations) == 0 {
		meta.Annotations = nil
	}
}

// HPAListV1ToV2 converts a list with HPAV1ToV2.
func HPAListV1ToV2(in *autoscalingv1.HorizontalPodAutoscalerList) *autoscalingv2.HorizontalPodAutoscalerList {
	return &autoscalingv2.HorizontalPodAutoscalerList{
		TypeMeta: metav1.TypeMeta{APIVersion: autoscalingv2.SchemeGroupVersion.String(), Kind: "HorizontalPodAutoscalerList"},
		ListMeta: *in.ListMeta.DeepCopy(),
		Items:    convertItems(in.Items, HPAV1ToV2),
	}
}

// HPAListV2ToV1 converts a list with HPAV2ToV1.
func HPAListV2ToV1(in *autoscalingv2.HorizontalPodAutoscalerList) *autoscalingv1.HorizontalPodAutoscalerList {
	return &autoscalingv1.HorizontalPodAutoscalerList{
		TypeMeta: metav1.TypeMeta{APIVersion: autoscalingv1.SchemeGroupVersion.String(), Kind: "HorizontalPodAutoscalerList"},
		ListMeta: *in.ListMeta.DeepCopy(),
		Items:    convertItems(in.Items, HPAV2ToV1),
	}
}
