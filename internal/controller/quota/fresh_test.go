package quota_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"cella.dev/cella/internal/servertest"
)

// TestFreshQuotaStatus: a quota is created with an empty status, as in
// Kubernetes, so an object created right after it is admitted rather than
// refused with "status unknown"; the controller then writes status.hard
// and status.used together (no version of the quota has one without the
// other) and counts what was created meanwhile.
func TestFreshQuotaStatus(t *testing.T) {
	srv := servertest.Start(t)
	cs := srv.Clientset()
	ctx := t.Context()
	quotas := cs.CoreV1().ResourceQuotas(ns)
	w, err := quotas.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	created, err := quotas.Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "fresh"},
		Spec:       corev1.ResourceQuotaSpec{Hard: resources("configmaps", "10", "count/secrets", "10")},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(created.Status.Hard) != 0 || len(created.Status.Used) != 0 {
		t.Fatalf("a new quota's status: want empty, got %+v", created.Status)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "right-after"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("a create right after the quota: %v", err)
	}
	for ev := range w.ResultChan() {
		if ev.Type == watch.Error {
			t.Fatalf("watch error: %v", ev.Object)
		}
		q := ev.Object.(*corev1.ResourceQuota)
		if len(q.Status.Hard) > 0 && len(q.Status.Used) < len(q.Status.Hard) {
			t.Fatalf("a quota version with status.hard but not every status.used: %+v", q.Status)
		}
		if equality.Semantic.DeepEqual(q.Status.Hard, q.Spec.Hard) {
			n := q.Status.Used[corev1.ResourceConfigMaps]
			// kube-root-ca.crt may or may not exist; right-after does.
			if n.Value() < 1 {
				t.Fatalf("the configmap created meanwhile is not counted: %+v", q.Status.Used)
			}
			return
		}
	}
	t.Fatal("the watch ended before the controller counted the quota")
}
