package admission_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"cella.dev/cella/internal/admission"
	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

func list(pairs ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		l[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return l
}

func pod(name string, res corev1.ResourceRequirements) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "busybox", Command: []string{"sleep", "3600"}, Resources: res,
		}}},
	}
}

func createRange(t *testing.T, cs kubernetes.Interface, ns string, items ...corev1.LimitRangeItem) *corev1.LimitRange {
	t.Helper()
	lr, err := cs.CoreV1().LimitRanges(ns).Create(t.Context(), &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "limits"},
		Spec:       corev1.LimitRangeSpec{Limits: items},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating the LimitRange: %v", err)
	}
	return lr
}

// TestLimitRangeDefaultsUnderCCI: under the cci profile (the default) a
// pod must state CPU and memory; a LimitRange's defaults let one that
// states nothing in, as `kubectl run` creates it, and the pod says what
// was filled in.
func TestLimitRangeDefaultsUnderCCI(t *testing.T) {
	srv := servertest.Start(t)
	cs := srv.Clientset()
	ctx := t.Context()

	_, err := cs.CoreV1().Pods("default").Create(ctx, pod("bare", corev1.ResourceRequirements{}), metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("a pod without resources under cci and no LimitRange: got %v, want 422", err)
	}

	lr := createRange(t, cs, "default", corev1.LimitRangeItem{
		Type: corev1.LimitTypeContainer, Default: list("cpu", "500m", "memory", "1Gi"),
	})
	// Kubernetes' defaulting: defaultRequest follows default.
	if got := lr.Spec.Limits[0].DefaultRequest; !got.Cpu().Equal(resource.MustParse("500m")) || !got.Memory().Equal(resource.MustParse("1Gi")) {
		t.Fatalf("defaultRequest of the stored LimitRange = %v, want the default limits", got)
	}

	p, err := cs.CoreV1().Pods("default").Create(ctx, pod("bare", corev1.ResourceRequirements{}), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("a pod without resources under a LimitRange with defaults: %v", err)
	}
	r := p.Spec.Containers[0].Resources
	if !r.Limits.Cpu().Equal(resource.MustParse("500m")) || !r.Requests.Memory().Equal(resource.MustParse("1Gi")) {
		t.Fatalf("resources = %+v, want the LimitRange's defaults", r)
	}
	want := "LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for container app"
	if got := p.Annotations[admission.LimitRangerAnnotation]; got != want {
		t.Fatalf("annotation %s = %q, want %q", admission.LimitRangerAnnotation, got, want)
	}

	// What a container states is kept: it states only a memory limit, so
	// its memory request is that limit (pod defaulting) and CPU comes from
	// the range.
	p, err = cs.CoreV1().Pods("default").Create(ctx, pod("some", corev1.ResourceRequirements{Limits: list("memory", "2Gi")}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r = p.Spec.Containers[0].Resources
	if !r.Requests.Memory().Equal(resource.MustParse("2Gi")) || !r.Limits.Memory().Equal(resource.MustParse("2Gi")) || !r.Limits.Cpu().Equal(resource.MustParse("500m")) {
		t.Fatalf("resources = %+v, want memory 2Gi as stated and cpu 500m from the range", r)
	}
}

// TestLimitRangeConstraints: min, max and maxLimitRequestRatio refuse a
// pod (403, every broken rule named as Kubernetes words it) and change
// nothing; claims are held to their own min and max.
func TestLimitRangeConstraints(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) { c.Profile = "kubernetes" })
	cs := srv.Clientset()
	ctx := t.Context()
	createRange(t, cs, "default",
		corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: list("cpu", "100m"), Max: list("cpu", "2", "memory", "1Gi"),
			MaxLimitRequestRatio: list("cpu", "4")},
		corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: list("memory", "1536Mi")},
		corev1.LimitRangeItem{Type: corev1.LimitTypePersistentVolumeClaim, Min: list("storage", "1Gi"), Max: list("storage", "10Gi")},
	)

	cases := []struct {
		name  string
		res   corev1.ResourceRequirements
		wants []string
	}{
		{"over max", corev1.ResourceRequirements{Limits: list("cpu", "3", "memory", "512Mi")},
			[]string{"maximum cpu usage per Container is 2, but limit is 3"}},
		{"under min", corev1.ResourceRequirements{Requests: list("cpu", "50m"), Limits: list("cpu", "100m", "memory", "512Mi")},
			[]string{"minimum cpu usage per Container is 100m, but request is 50m"}},
		{"ratio", corev1.ResourceRequirements{Requests: list("cpu", "200m"), Limits: list("cpu", "1", "memory", "512Mi")},
			[]string{"cpu max limit to request ratio per Container is 4, but provided ratio is 5.000000"}},
	}
	for _, tc := range cases {
		_, err := cs.CoreV1().Pods("default").Create(ctx, pod("p", tc.res), metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) {
			t.Fatalf("%s: got %v, want 403 Forbidden", tc.name, err)
		}
		if !strings.HasPrefix(err.Error(), `pods "p" is forbidden: `) {
			t.Errorf("%s: message %q does not start as Kubernetes words it", tc.name, err)
		}
		for _, w := range tc.wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: message %q does not say %q", tc.name, err, w)
			}
		}
	}
	if _, err := cs.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a refused pod was stored: %v", err)
	}
	// A max without a default is the default limit (Kubernetes'
	// LimitRange defaulting), so a container without a memory limit gets
	// the max.
	p, err := cs.CoreV1().Pods("default").Create(ctx, pod("nomem", corev1.ResourceRequirements{Limits: list("cpu", "1")}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Spec.Containers[0].Resources.Limits.Memory(); !got.Equal(resource.MustParse("1Gi")) {
		t.Fatalf("memory limit = %v, want the max 1Gi", got)
	}
	// The Pod limit sums the containers: two of 1Gi are over 1536Mi.
	two := pod("two", corev1.ResourceRequirements{Limits: list("cpu", "1", "memory", "1Gi")})
	two.Spec.Containers = append(two.Spec.Containers, *two.Spec.Containers[0].DeepCopy())
	two.Spec.Containers[1].Name = "side"
	if _, err := cs.CoreV1().Pods("default").Create(ctx, two, metav1.CreateOptions{}); !apierrors.IsForbidden(err) ||
		!strings.Contains(err.Error(), "maximum memory usage per Pod is 1536Mi, but limit is 2Gi") {
		t.Fatalf("two containers over the pod's max: %v", err)
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod("fits", corev1.ResourceRequirements{Limits: list("cpu", "1", "memory", "1Gi")}), metav1.CreateOptions{}); err != nil {
		t.Fatalf("a pod within every limit: %v", err)
	}

	claim := func(name, size string) error {
		_, err := cs.CoreV1().PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: list("storage", size)},
			},
		}, metav1.CreateOptions{})
		return err
	}
	if err := claim("big", "20Gi"); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi") {
		t.Fatalf("a claim over max: %v", err)
	}
	if err := claim("ok", "5Gi"); err != nil {
		t.Fatalf("a claim within limits: %v", err)
	}
}

// TestLimitRangeValidation: a LimitRange whose values contradict each
// other is 422 naming the field, as Kubernetes validates it.
func TestLimitRangeValidation(t *testing.T) {
	srv := servertest.Start(t)
	cs := srv.Clientset()
	cases := []struct {
		item corev1.LimitRangeItem
		want string
	}{
		{corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: list("cpu", "2"), Max: list("cpu", "1")},
			"spec.limits[0].min[cpu]: Invalid value: \"2\": min value 2 is greater than max value 1"},
		{corev1.LimitRangeItem{Type: corev1.LimitTypePod, Default: list("cpu", "1")},
			"spec.limits[0].default: Forbidden: may not be specified when `type` is 'Pod'"},
		{corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, MaxLimitRequestRatio: list("cpu", "500m")},
			"ratio 500m is less than 1"},
		{corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Default: list("memory", "1Gi"), DefaultRequest: list("memory", "2Gi")},
			"default request value 2Gi is greater than default limit value 1Gi"},
	}
	for _, tc := range cases {
		_, err := cs.CoreV1().LimitRanges("default").Create(t.Context(), &corev1.LimitRange{
			ObjectMeta: metav1.ObjectMeta{Name: "bad"},
			Spec:       corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{tc.item}},
		}, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LimitRange %+v: got %v, want 422 saying %q", tc.item, err, tc.want)
		}
	}
}
