package v1beta1

import (
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"cella.dev/cella/internal/apis/apistest"
)

func TestDeepCopy(t *testing.T) {
	apistest.DeepCopy(t, &PodMetrics{}, &PodMetricsList{}, &NodeMetrics{}, &NodeMetricsList{})
}

func TestSwaggerDocs(t *testing.T) {
	apistest.SwaggerDocs(t, PodMetrics{}, PodMetricsList{}, NodeMetrics{}, NodeMetricsList{})
}

func samplePodMetrics() *PodMetrics {
	return &PodMetrics{
		TypeMeta:   metav1.TypeMeta{APIVersion: SchemeGroupVersion.String(), Kind: "PodMetrics"},
		ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "default"},
		Timestamp:  metav1.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Window:     metav1.Duration{Duration: 30 * time.Second},
		Containers: []ContainerMetrics{{
			Name: "main",
			Usage: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("250m"),
				corev1.ResourceMemory: resource.MustParse("64Mi"),
			},
		}},
	}
}

func TestJSONRoundTrip(t *testing.T) {
	m := samplePodMetrics()
	apistest.JSONRoundTrip(t, m, &PodMetricsList{Items: []PodMetrics{*m}})
}

// TestWireShape pins the JSON kubectl top pod reads.
func TestWireShape(t *testing.T) {
	got, err := json.Marshal(samplePodMetrics())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kind":"PodMetrics","apiVersion":"metrics.k8s.io/v1beta1","metadata":{"name":"web-0","namespace":"default"},` +
		`"timestamp":"2026-01-02T03:04:05Z","window":"30s","containers":[{"name":"main","usage":{"cpu":"250m","memory":"64Mi"}}]}`
	if string(got) != want {
		t.Errorf("JSON =\n%s\nwant\n%s", got, want)
	}
}

func TestAddToScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []runtime.Object{&PodMetrics{}, &PodMetricsList{}} {
		gvks, _, err := s.ObjectKinds(obj)
		if err != nil || len(gvks) != 1 || gvks[0].GroupVersion() != SchemeGroupVersion {
			t.Errorf("%T: kinds %v, %v; want one in %v", obj, gvks, err, SchemeGroupVersion)
		}
	}
}
