package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// A pod is held back while a claim it names is missing, being deleted or
// not bound, in kube-scheduler's words.
func TestUnboundClaims(t *testing.T) {
	claims := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	now := metav1.Now()
	for _, pvc := range []*corev1.PersistentVolumeClaim{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "bound"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv1"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "pending"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "going", DeletionTimestamp: &now}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv2"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}},
	} {
		if err := claims.Add(pvc); err != nil {
			t.Fatal(err)
		}
	}
	s := &Scheduler{claims: claims}
	pod := func(names ...string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}}
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		for _, n := range names {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: n, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: n}}})
		}
		return p
	}
	for _, tc := range []struct {
		pod  *corev1.Pod
		want string
	}{
		{pod(), ""},
		{pod("bound"), ""},
		{pod("bound", "pending"), "pod has unbound immediate PersistentVolumeClaims"},
		{pod("missing"), `persistentvolumeclaim "missing" not found`},
		{pod("going"), `persistentvolumeclaim "going" is being deleted`},
	} {
		if got := s.unboundClaims(tc.pod); got != tc.want {
			t.Errorf("claims %v: %q, want %q", tc.pod.Spec.Volumes, got, tc.want)
		}
	}
	if got := preFilterError(1, "pod has unbound immediate PersistentVolumeClaims"); got != "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims." {
		t.Errorf("message: %q", got)
	}
}
