package convert

import (
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestHPARoundTrip(t *testing.T) {
	t.Run("v1", func(t *testing.T) { roundTrip(t, HPAV1ToV2, HPAV2ToV1) })
	t.Run("v2", func(t *testing.T) { roundTrip(t, HPAV2ToV1, HPAV1ToV2) })
	t.Run("list v1", func(t *testing.T) { roundTrip(t, HPAListV1ToV2, HPAListV2ToV1) })
	t.Run("list v2", func(t *testing.T) { roundTrip(t, HPAListV2ToV1, HPAListV1ToV2) })
}

func cpuTargetSpec(util int32) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{
			Name:   corev1.ResourceCPU,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: new(util)},
		},
	}
}

func cpuReading(util int32) autoscalingv2.MetricStatus {
	return autoscalingv2.MetricStatus{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricStatus{
			Name:    corev1.ResourceCPU,
			Current: autoscalingv2.MetricValueStatus{AverageUtilization: new(util)},
		},
	}
}

var podsMetric = autoscalingv2.MetricSpec{
	Type: autoscalingv2.PodsMetricSourceType,
	Pods: &autoscalingv2.PodsMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "requests_per_second"},
		Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: new(resource.MustParse("100"))},
	},
}

var memoryMetric = autoscalingv2.MetricSpec{
	Type: autoscalingv2.ResourceMetricSourceType,
	Resource: &autoscalingv2.ResourceMetricSource{
		Name:   corev1.ResourceMemory,
		Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: new(int32(60))},
	},
}

func hpaV2(metrics []autoscalingv2.MetricSpec, current []autoscalingv2.MetricStatus) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"},
			MinReplicas:    new(int32(1)),
			MaxReplicas:    10,
			Metrics:        metrics,
		},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 2, DesiredReplicas: 3, CurrentMetrics: current},
	}
}

func TestHPACPUOnly(t *testing.T) {
	observed := int64(4)
	scaled := metav1.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v1 := &autoscalingv1.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef:                 autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"},
			MinReplicas:                    new(int32(1)),
			MaxReplicas:                    10,
			TargetCPUUtilizationPercentage: new(int32(50)),
		},
		Status: autoscalingv1.HorizontalPodAutoscalerStatus{
			ObservedGeneration: &observed, LastScaleTime: &scaled,
			CurrentReplicas: 2, DesiredReplicas: 3, CurrentCPUUtilizationPercentage: new(int32(42)),
		},
	}
	want := hpaV2([]autoscalingv2.MetricSpec{cpuTargetSpec(50)}, []autoscalingv2.MetricStatus{cpuReading(42)})
	want.Status.ObservedGeneration = &observed
	want.Status.LastScaleTime = &scaled

	got := HPAV1ToV2(v1)
	if !apiequality.Semantic.DeepEqual(got, want) {
		t.Errorf("HPAV1ToV2 =\n%s\nwant\n%s", mustJSON(got), mustJSON(want))
	}
	back := HPAV2ToV1(got)
	if !apiequality.Semantic.DeepEqual(back, v1) {
		t.Errorf("HPAV2ToV1 =\n%s\nwant\n%s", mustJSON(back), mustJSON(v1))
	}
	if back.Annotations != nil {
		t.Errorf("HPAV2ToV1 annotations = %v, want none", back.Annotations)
	}
}

func TestHPAV2Extras(t *testing.T) {
	richCPU := cpuReading(42)
	richCPU.Resource.Current.AverageValue = new(resource.MustParse("210m"))
	full := hpaV2(
		[]autoscalingv2.MetricSpec{podsMetric, cpuTargetSpec(50), memoryMetric},
		[]autoscalingv2.MetricStatus{richCPU},
	)
	full.Annotations = map[string]string{"team": "web"}
	full.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: new(int32(60))},
	}
	full.Status.Conditions = []autoscalingv2.HorizontalPodAutoscalerCondition{{
		Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "ReadyForNewScale",
	}}

	v1 := HPAV2ToV1(full)
	if got := v1.Spec.TargetCPUUtilizationPercentage; got == nil || *got != 50 {
		t.Errorf("targetCPUUtilizationPercentage = %v, want 50", got)
	}
	if got := v1.Status.CurrentCPUUtilizationPercentage; got == nil || *got != 42 {
		t.Errorf("currentCPUUtilizationPercentage = %v, want 42", got)
	}
	for _, key := range []string{"team", HPAMetricsAnnotation, HPACurrentMetricsAnnotation, HPAConditionsAnnotation, HPABehaviorAnnotation} {
		if _, ok := v1.Annotations[key]; !ok {
			t.Errorf("v1 annotations lack %q: %v", key, v1.Annotations)
		}
	}
	if got := HPAV1ToV2(v1); !apiequality.Semantic.DeepEqual(got, full) {
		t.Errorf("round trip =\n%s\nwant\n%s", mustJSON(got), mustJSON(full))
	}

	for _, tc := range []struct {
		name   string
		target *int32
		want   []autoscalingv2.MetricSpec
	}{
		{"v1 client changed the CPU target", new(int32(70)), []autoscalingv2.MetricSpec{podsMetric, cpuTargetSpec(70), memoryMetric}},
		{"v1 client removed the CPU target", nil, []autoscalingv2.MetricSpec{podsMetric, memoryMetric}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			edited := v1.DeepCopy()
			edited.Spec.TargetCPUUtilizationPercentage = tc.target
			got := HPAV1ToV2(edited).Spec.Metrics
			if !apiequality.Semantic.DeepEqual(got, tc.want) {
				t.Errorf("metrics =\n%s\nwant\n%s", mustJSON(got), mustJSON(tc.want))
			}
		})
	}
}

func TestHPAV1CPUAddedToAnnotatedMetrics(t *testing.T) {
	v1 := HPAV2ToV1(hpaV2([]autoscalingv2.MetricSpec{memoryMetric}, nil))
	if v1.Spec.TargetCPUUtilizationPercentage != nil {
		t.Fatalf("targetCPUUtilizationPercentage = %d, want unset", *v1.Spec.TargetCPUUtilizationPercentage)
	}
	v1.Spec.TargetCPUUtilizationPercentage = new(int32(80))
	got := HPAV1ToV2(v1).Spec.Metrics
	if want := []autoscalingv2.MetricSpec{cpuTargetSpec(80), memoryMetric}; !apiequality.Semantic.DeepEqual(got, want) {
		t.Errorf("metrics =\n%s\nwant\n%s", mustJSON(got), mustJSON(want))
	}
}

func TestHPAAnnotationsOwnedByConversion(t *testing.T) {
	t.Run("v2 keys are replaced", func(t *testing.T) {
		in := hpaV2([]autoscalingv2.MetricSpec{cpuTargetSpec(50)}, nil)
		in.Annotations = map[string]string{HPAMetricsAnnotation: "[]", HPABehaviorAnnotation: "{}"}
		if got := HPAV2ToV1(in).Annotations; got != nil {
			t.Errorf("annotations = %v, want none", got)
		}
	})
	t.Run("malformed v1 annotation stays", func(t *testing.T) {
		in := HPAV2ToV1(hpaV2([]autoscalingv2.MetricSpec{cpuTargetSpec(50)}, nil))
		in.Annotations = map[string]string{HPAMetricsAnnotation: "not json"}
		got := HPAV1ToV2(in)
		if got.Annotations[HPAMetricsAnnotation] != "not json" {
			t.Errorf("annotations = %v, want the malformed one kept", got.Annotations)
		}
		if want := []autoscalingv2.MetricSpec{cpuTargetSpec(50)}; !apiequality.Semantic.DeepEqual(got.Spec.Metrics, want) {
			t.Errorf("metrics = %s, want %s", mustJSON(got.Spec.Metrics), mustJSON(want))
		}
	})
}

func TestHPATypeMeta(t *testing.T) {
	checkTypeMeta(t, HPAV1ToV2(&autoscalingv1.HorizontalPodAutoscaler{}), "autoscaling/v2", "HorizontalPodAutoscaler")
	checkTypeMeta(t, HPAV2ToV1(&autoscalingv2.HorizontalPodAutoscaler{}), "autoscaling/v1", "HorizontalPodAutoscaler")
	list := HPAListV2ToV1(&autoscalingv2.HorizontalPodAutoscalerList{Items: []autoscalingv2.HorizontalPodAutoscaler{*hpaV2(nil, nil)}})
	checkTypeMeta(t, list, "autoscaling/v1", "HorizontalPodAutoscalerList")
	checkItemsTypeMeta(t, list)
}
