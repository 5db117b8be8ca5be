package apiserver_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/servertest"
)

// TestUnconditionalUpdate: an update without metadata.resourceVersion (as
// `kubectl replace -f file` sends) applies to the current object, as
// Kubernetes allows for built-in kinds; a stale one is still 409.
func TestUnconditionalUpdate(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	cms := srv.Clientset().CoreV1().ConfigMaps("default")
	first, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "plain"}, Data: map[string]string{"v": "1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cms.Update(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "plain"}, Data: map[string]string{"v": "2"}}, metav1.UpdateOptions{})
	if err != nil || got.Data["v"] != "2" || got.ResourceVersion == first.ResourceVersion || got.UID != first.UID {
		t.Fatalf("unconditional update: %v %+v", err, got)
	}
	stale := first.DeepCopy()
	stale.Data = map[string]string{"v": "3"}
	if _, err := cms.Update(ctx, stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("update with a stale resourceVersion: want Conflict, got %v", err)
	}
}
