package namespace_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

// TestConditionsExplainWhatIsLeft runs the server's namespace controller:
// a namespace being deleted whose ConfigMap holds a finalizer says so in
// its conditions, in Kubernetes' words, and goes once the finalizer does.
func TestConditionsExplainWhatIsLeft(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) { c.Profile = "kubernetes" })
	cs := srv.Clientset()
	ctx := t.Context()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps("doomed").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: []string{"example.com/hold"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Namespaces().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	want := map[corev1.NamespaceConditionType]corev1.NamespaceCondition{
		corev1.NamespaceDeletionDiscoveryFailure: {Status: corev1.ConditionFalse, Reason: "ResourcesDiscovered", Message: "All resources successfully discovered"},
		corev1.NamespaceDeletionContentFailure:   {Status: corev1.ConditionFalse, Reason: "ContentDeleted", Message: "All content successfully deleted, may be waiting on finalization"},
		corev1.NamespaceContentRemaining:         {Status: corev1.ConditionTrue, Reason: "SomeResourcesRemain", Message: "Some resources are remaining: configmaps. has 1 resource instances"},
		corev1.NamespaceFinalizersRemaining:      {Status: corev1.ConditionTrue, Reason: "SomeFinalizerRemain", Message: "Some finalizers are remaining: example.com/hold in 1 resource instances"},
	}
	var got []corev1.NamespaceCondition
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		ns, err := cs.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		got = ns.Status.Conditions
		matched := 0
		for _, c := range got {
			if w, ok := want[c.Type]; ok && c.Status == w.Status && c.Reason == w.Reason && c.Message == w.Message && !c.LastTransitionTime.IsZero() {
				matched++
			}
		}
		return matched == len(want), nil
	})
	if err != nil {
		t.Fatalf("conditions: %v: %+v", err, got)
	}

	if _, err := cs.CoreV1().ConfigMaps("doomed").Patch(ctx, "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("the namespace stays: %v", err)
	}
}
