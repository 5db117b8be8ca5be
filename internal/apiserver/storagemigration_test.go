package apiserver_test

import (
	"strings"
	"testing"

	storagemigrationv1 "k8s.io/api/storagemigration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

// TestStorageVersionMigrations: a migration names its resource, keeps it,
// and its status never says it both succeeded and failed.
func TestStorageVersionMigrations(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) { c.Profile = "kubernetes" })
	ctx := t.Context()
	svms := srv.Clientset().StoragemigrationV1().StorageVersionMigrations()

	if _, err := svms.Create(ctx, &storagemigrationv1.StorageVersionMigration{ObjectMeta: metav1.ObjectMeta{Name: "none"}}, metav1.CreateOptions{}); !apierrors.IsInvalid(err) ||
		!strings.Contains(err.Error(), "spec.resource.resource: Required value") {
		t.Errorf("a migration of nothing: %v, want 422", err)
	}
	m, err := svms.Create(ctx, &storagemigrationv1.StorageVersionMigration{
		ObjectMeta: metav1.ObjectMeta{Name: "deployments"},
		Spec:       storagemigrationv1.StorageVersionMigrationSpec{Resource: metav1.GroupResource{Group: "apps", Resource: "deployments"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	m.Status.Conditions = []metav1.Condition{
		{Type: "Succeeded", Status: metav1.ConditionTrue, Reason: "Done", LastTransitionTime: now},
		{Type: "Failed", Status: metav1.ConditionTrue, Reason: "Broken", LastTransitionTime: now},
	}
	if _, err := svms.UpdateStatus(ctx, m, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "Both success and failed conditions cannot be true at the same time") {
		t.Errorf("succeeded and failed: %v, want 422", err)
	}
	m.Status.Conditions = m.Status.Conditions[:1]
	if _, err := svms.UpdateStatus(ctx, m, metav1.UpdateOptions{}); err != nil {
		t.Errorf("succeeded: %v", err)
	}
}
