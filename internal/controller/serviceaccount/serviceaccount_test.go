package serviceaccount_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"cella.dev/cella/internal/controller/serviceaccount"
	"cella.dev/cella/internal/servertest"
)

// These tests run against the whole server and the controller it starts.

// eventually polls cond for up to 30s; no test asserts how fast the
// controller is.
func eventually(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 30*time.Second, true, cond); err != nil {
		t.Fatalf("waiting until %s: %v", what, err)
	}
}

func createNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
		Annotations: map[string]string{"namespace.kubernetes.io/flavor": "general-computing"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitDefaults waits until ns holds the default ServiceAccount and a
// kube-root-ca.crt with ca.crt = ca, and returns their uids.
func waitDefaults(t *testing.T, cs kubernetes.Interface, ns string, ca []byte) (saUID, cmUID string) {
	t.Helper()
	eventually(t, "namespace "+ns+" has its default ServiceAccount and kube-root-ca.crt", func(ctx context.Context) (bool, error) {
		sa, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, serviceaccount.DefaultServiceAccount, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, serviceaccount.RootCAConfigMap, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if cm.Data[serviceaccount.RootCAKey] != string(ca) {
			return false, nil
		}
		saUID, cmUID = string(sa.UID), string(cm.UID)
		return true, nil
	})
	return saUID, cmUID
}

func TestEveryNamespaceHasDefaults(t *testing.T) {
	srv := servertest.Start(t)
	cs := srv.Clientset()
	ctx := t.Context()
	if len(srv.CAPEM) == 0 {
		t.Fatal("the test server has no CA")
	}

	// The namespaces that exist at start, and a new one.
	for _, ns := range []string{"default", "kube-system", "kube-public"} {
		waitDefaults(t, cs, ns, srv.CAPEM)
	}
	createNamespace(t, cs, "team-a")
	saUID, cmUID := waitDefaults(t, cs, "team-a", srv.CAPEM)

	// Deleted: made again, as new objects.
	if err := cs.CoreV1().ServiceAccounts("team-a").Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().ConfigMaps("team-a").Delete(ctx, serviceaccount.RootCAConfigMap, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both are made again", func(ctx context.Context) (bool, error) {
		sa, err := cs.CoreV1().ServiceAccounts("team-a").Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		cm, err := cs.CoreV1().ConfigMaps("team-a").Get(ctx, serviceaccount.RootCAConfigMap, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return string(sa.UID) != saUID && string(cm.UID) != cmUID && cm.Data["ca.crt"] == string(srv.CAPEM), nil
	})

	// Changed: ca.crt is put back, other keys go.
	cm, err := cs.CoreV1().ConfigMaps("team-a").Get(ctx, serviceaccount.RootCAConfigMap, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data = map[string]string{"ca.crt": "not a CA", "extra": "x"}
	if _, err := cs.CoreV1().ConfigMaps("team-a").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ca.crt is put back", func(ctx context.Context) (bool, error) {
		cm, err := cs.CoreV1().ConfigMaps("team-a").Get(ctx, serviceaccount.RootCAConfigMap, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return len(cm.Data) == 1 && cm.Data["ca.crt"] == string(srv.CAPEM), nil
	})
}

// TestNamespaceDeletionEmptiesIt checks that the controller does not keep
// a deleted namespace alive by making its defaults again.
func TestNamespaceDeletionEmptiesIt(t *testing.T) {
	srv := servertest.Start(t)
	cs := srv.Clientset()
	createNamespace(t, cs, "doomed")
	waitDefaults(t, cs, "doomed", srv.CAPEM)
	if err := cs.CoreV1().Namespaces().Delete(t.Context(), "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the namespace is gone", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	// Made again with the same name, it gets new defaults.
	createNamespace(t, cs, "doomed")
	waitDefaults(t, cs, "doomed", srv.CAPEM)
}

// TestTokenSecretBeforeItsServiceAccount: a token Secret made before its
// ServiceAccount is filled once the ServiceAccount appears, with its uid.
func TestTokenSecretBeforeItsServiceAccount(t *testing.T) {
	srv := servertest.Start(t)
	cs := srv.Clientset()
	ctx := t.Context()
	_, err := cs.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "later-token", Annotations: map[string]string{corev1.ServiceAccountNameKey: "later"}},
		Type:       corev1.SecretTypeServiceAccountToken,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sa, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "later"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the secret is filled for the new ServiceAccount", func(ctx context.Context) (bool, error) {
		s, err := cs.CoreV1().Secrets("default").Get(ctx, "later-token", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return len(s.Data[corev1.ServiceAccountTokenKey]) > 0 && s.Annotations[corev1.ServiceAccountUIDKey] == string(sa.UID) &&
			string(s.Data[corev1.ServiceAccountRootCAKey]) == string(srv.CAPEM) && string(s.Data[corev1.ServiceAccountNamespaceKey]) == "default", nil
	})
}
