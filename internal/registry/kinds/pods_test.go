package kinds

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/registry"
	"cella.dev/cella/internal/storage"
	"cella.dev/cella/internal/storage/bolt"
)

// res builds a ResourceList from name, quantity pairs.
func res(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func ctr(req, lim corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: "c", Image: "i", Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}
}

// TestPodQOS follows Kubernetes' QoS rules (pkg/apis/core/helper/qos),
// after the defaulting that copies limits into missing requests.
func TestPodQOS(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec corev1.PodSpec
		want corev1.PodQOSClass
	}{
		{"nothing set", corev1.PodSpec{Containers: []corev1.Container{ctr(nil, nil)}}, corev1.PodQOSBestEffort},
		{"only other resources", corev1.PodSpec{Containers: []corev1.Container{ctr(res("ephemeral-storage", "1Gi"), res("nvidia.com/gpu", "1"))}}, corev1.PodQOSBestEffort},
		{"zero requests", corev1.PodSpec{Containers: []corev1.Container{ctr(res("cpu", "0"), nil)}}, corev1.PodQOSBestEffort},
		{"requests equal limits", corev1.PodSpec{Containers: []corev1.Container{ctr(res("cpu", "1", "memory", "1Gi"), res("cpu", "1", "memory", "1Gi"))}}, corev1.PodQOSGuaranteed},
		{"equal in another notation", corev1.PodSpec{Containers: []corev1.Container{ctr(res("cpu", "1000m", "memory", "1024Mi"), res("cpu", "1", "memory", "1Gi"))}}, corev1.PodQOSGuaranteed},
		{"limits only, defaulted", corev1.PodSpec{Containers: []corev1.Container{ctr(nil, res("cpu", "1", "memory", "1Gi"))}}, corev1.PodQOSGuaranteed},
		{"memory limit missing", corev1.PodSpec{Containers: []corev1.Container{ctr(res("cpu", "1"), res("cpu", "1"))}}, corev1.PodQOSBurstable},
		{"requests below limits", corev1.PodSpec{Containers: []corev1.Container{ctr(res("cpu", "500m", "memory", "1Gi"), res("cpu", "1", "memory", "1Gi"))}}, corev1.PodQOSBurstable},
		{"requests only", corev1.PodSpec{Containers: []corev1.Container{ctr(res("memory", "1Gi"), nil)}}, corev1.PodQOSBurstable},
		{"one of two containers limited", corev1.PodSpec{Containers: []corev1.Container{
			ctr(res("cpu", "1", "memory", "1Gi"), res("cpu", "1", "memory", "1Gi")), ctr(nil, nil)}}, corev1.PodQOSBurstable},
		{"init container counts", corev1.PodSpec{
			InitContainers: []corev1.Container{ctr(res("cpu", "100m"), nil)},
			Containers:     []corev1.Container{ctr(res("cpu", "1", "memory", "1Gi"), res("cpu", "1", "memory", "1Gi"))}}, corev1.PodQOSBurstable},
		{"guaranteed init and app containers", corev1.PodSpec{
			InitContainers: []corev1.Container{ctr(nil, res("cpu", "2", "memory", "2Gi"))},
			Containers:     []corev1.Container{ctr(nil, res("cpu", "1", "memory", "1Gi"))}}, corev1.PodQOSGuaranteed},
		{"pod-level resources decide", corev1.PodSpec{
			Resources:  &corev1.ResourceRequirements{Requests: res("cpu", "1", "memory", "1Gi"), Limits: res("cpu", "1", "memory", "1Gi")},
			Containers: []corev1.Container{ctr(nil, nil)}}, corev1.PodQOSGuaranteed},
		{"pod-level requests only", corev1.PodSpec{
			Resources:  &corev1.ResourceRequirements{Requests: res("cpu", "1")},
			Containers: []corev1.Container{ctr(res("cpu", "1", "memory", "1Gi"), res("cpu", "1", "memory", "1Gi"))}}, corev1.PodQOSBurstable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec.DeepCopy()
			defaultPodSpec(spec)
			if got := podQOS(spec); got != tc.want {
				t.Fatalf("QoS = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestPodGracePeriod follows Kubernetes' CheckGracefulDelete for pods.
func TestPodGracePeriod(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	bound := func(phase corev1.PodPhase, tgp *int64) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{NodeName: "n1", TerminationGracePeriodSeconds: tgp}, Status: corev1.PodStatus{Phase: phase}}
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		opt  *int64
		want int64
	}{
		{"the pod's own period", bound(corev1.PodRunning, i64(45)), nil, 45},
		{"30 when the pod has none", bound(corev1.PodRunning, nil), nil, 30},
		{"the requested period", bound(corev1.PodRunning, i64(45)), i64(5), 5},
		{"forced", bound(corev1.PodPending, i64(45)), i64(0), 0},
		{"unbound", &corev1.Pod{Spec: corev1.PodSpec{TerminationGracePeriodSeconds: i64(45)}}, nil, 0},
		{"succeeded", bound(corev1.PodSucceeded, i64(45)), nil, 0},
		{"failed", bound(corev1.PodFailed, i64(45)), i64(10), 0},
		{"a negative pod period is one second", bound(corev1.PodRunning, i64(-5)), nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := podGracePeriod(tc.pod, &metav1.DeleteOptions{GracePeriodSeconds: tc.opt}); got != tc.want {
				t.Fatalf("grace = %d, want %d", got, tc.want)
			}
		})
	}
}

// catalogue builds the catalogue over a bolt store in a temporary
// directory, with the namespace default.
func catalogue(t *testing.T, cfg Config) *Catalog {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "cella.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	cat, err := Build(cfg, func(string) (storage.Interface, error) { return st, nil })
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", Annotations: map[string]string{FlavorAnnotation: "general-computing"}}}
	if _, err := cat.Store("", "namespaces").Create(context.Background(), ns, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	return cat
}

// TestNewPodStatus: with a runtime a new pod is Pending with its QoS
// class and no conditions, for the scheduler to set PodScheduled; without
// one it says NoRuntime.
func TestNewPodStatus(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, runs := range []bool{true, false} {
		cat := catalogue(t, Config{Profile: ProfileKubernetes, RunsPods: runs, Now: func() time.Time { return now }})
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{ctr(nil, res("cpu", "1", "memory", "1Gi"))}}}
		obj, err := cat.Store("", "pods").Create(context.Background(), pod, registry.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		st := obj.(*corev1.Pod).Status
		if st.Phase != corev1.PodPending || st.QOSClass != corev1.PodQOSGuaranteed {
			t.Fatalf("runs pods %v: phase %s QoS %s, want Pending Guaranteed", runs, st.Phase, st.QOSClass)
		}
		switch {
		case runs && len(st.Conditions) != 0:
			t.Fatalf("with a runtime: conditions %+v, want none", st.Conditions)
		case !runs && (len(st.Conditions) != 1 || st.Conditions[0].Reason != "NoRuntime" || !st.Conditions[0].LastTransitionTime.Time.Equal(now)):
			t.Fatalf("without a runtime: conditions %+v, want PodScheduled=False NoRuntime", st.Conditions)
		}
	}
}
