package gc_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/util/retry"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/controller/gc"
	"cella.dev/cella/internal/servertest"
)

const ns = "default"

// startGC runs the collector against srv until the test ends.
func startGC(t *testing.T, srv *servertest.Server) kubernetes.Interface {
	t.Helper()
	cs := srv.Clientset()
	mc, err := metadata.NewForConfig(srv.RestConfig())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := gc.New(mc, cs, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return cs
}

func ownerRef(cm *corev1.ConfigMap) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: cm.Name, UID: cm.UID}
}

func createCM(t *testing.T, cs kubernetes.Interface, name string, finalizers []string, owners ...metav1.OwnerReference) *corev1.ConfigMap {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps(ns).Create(t.Context(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: owners, Finalizers: finalizers},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating %s: %v", name, err)
	}
	return cm
}

func deleteCM(t *testing.T, cs kubernetes.Interface, name string, policy metav1.DeletionPropagation) {
	t.Helper()
	if err := cs.CoreV1().ConfigMaps(ns).Delete(t.Context(), name, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
		t.Fatalf("deleting %s: %v", name, err)
	}
}

// eventually polls cond for up to 10s.
func eventually(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 10*time.Second, true, cond); err != nil {
		t.Fatalf("waiting until %s: %v", what, err)
	}
}

func gone(cs kubernetes.Interface, name string) func(ctx context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	}
}

func getCM(t *testing.T, cs kubernetes.Interface, name string) *corev1.ConfigMap {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting %s: %v", name, err)
	}
	return cm
}

func ownerUIDs(cm *corev1.ConfigMap) []types.UID {
	var uids []types.UID
	for _, r := range cm.OwnerReferences {
		uids = append(uids, r.UID)
	}
	return uids
}

func TestGarbageCollector(t *testing.T) {
	srv := servertest.Start(t)
	cs := startGC(t, srv)

	t.Run("background", func(t *testing.T) {
		owner := createCM(t, cs, "bg-owner", nil)
		other := createCM(t, cs, "bg-other", nil)
		createCM(t, cs, "bg-dep", nil, ownerRef(owner))
		shared := createCM(t, cs, "bg-shared", nil, ownerRef(owner), ownerRef(other))
		sec, err := cs.CoreV1().Secrets(ns).Create(t.Context(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "bg-secret", OwnerReferences: []metav1.OwnerReference{ownerRef(owner)}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		deleteCM(t, cs, owner.Name, metav1.DeletePropagationBackground)
		eventually(t, "the dependent is gone", gone(cs, "bg-dep"))
		eventually(t, "the secret is gone", func(ctx context.Context) (bool, error) {
			_, err := cs.CoreV1().Secrets(ns).Get(ctx, sec.Name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		// A dependent with a live owner stays, without the dangling reference.
		eventually(t, "the shared dependent loses its dangling reference", func(ctx context.Context) (bool, error) {
			cm := getCM(t, cs, shared.Name)
			return slices.Equal(ownerUIDs(cm), []types.UID{other.UID}), nil
		})
	})

	t.Run("dangling at creation", func(t *testing.T) {
		createCM(t, cs, "dangling-dep", nil, metav1.OwnerReference{
			APIVersion: "v1", Kind: "ConfigMap", Name: "never-there", UID: "00000000-0000-0000-0000-000000000001",
		})
		eventually(t, "the dependent of a missing owner is gone", gone(cs, "dangling-dep"))
	})

	t.Run("foreground", func(t *testing.T) {
		owner := createCM(t, cs, "fg-owner", nil)
		mid := createCM(t, cs, "fg-mid", nil, ownerRef(owner))
		// The grandchild holds a finalizer of its own, so the chain waits.
		createCM(t, cs, "fg-leaf", []string{"example.com/hold"}, ownerRef(mid))
		deleteCM(t, cs, owner.Name, metav1.DeletePropagationForeground)

		eventually(t, "the leaf is being deleted", func(ctx context.Context) (bool, error) {
			return getCM(t, cs, "fg-leaf").DeletionTimestamp != nil, nil
		})
		for _, name := range []string{owner.Name, mid.Name} {
			cm := getCM(t, cs, name)
			if cm.DeletionTimestamp == nil || !slices.Contains(cm.Finalizers, metav1.FinalizerDeleteDependents) {
				t.Fatalf("%s: deletionTimestamp %v, finalizers %v; want it waiting for its dependents", name, cm.DeletionTimestamp, cm.Finalizers)
			}
		}

		// The collector may still be writing the leaf (its deletion), so
		// the finalizer goes the way any client removes one: read, change,
		// write, again on a conflict.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			leaf := getCM(t, cs, "fg-leaf")
			leaf.Finalizers = slices.DeleteFunc(leaf.Finalizers, func(f string) bool { return f == "example.com/hold" })
			_, err := cs.CoreV1().ConfigMaps(ns).Update(t.Context(), leaf, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"fg-leaf", mid.Name, owner.Name} {
			eventually(t, name+" is gone", gone(cs, name))
		}
	})

	t.Run("orphan", func(t *testing.T) {
		owner := createCM(t, cs, "orphan-owner", nil)
		keeper := createCM(t, cs, "orphan-keeper", nil)
		createCM(t, cs, "orphan-dep", nil, ownerRef(owner), ownerRef(keeper))
		deleteCM(t, cs, owner.Name, metav1.DeletePropagationOrphan)
		eventually(t, "the owner is gone", gone(cs, owner.Name))
		dep := getCM(t, cs, "orphan-dep")
		if got := ownerUIDs(dep); !slices.Equal(got, []types.UID{keeper.UID}) {
			t.Fatalf("orphan-dep owners = %v, want only %s", got, keeper.UID)
		}
		// The dependent stays: give the collector time to do wrong.
		time.Sleep(300 * time.Millisecond)
		getCM(t, cs, "orphan-dep")
	})
}

// TestOwnerInAnotherNamespace: an ownerReference to an owner the collector
// has seen in another namespace is dangling for the dependent (it is
// deleted), and reported on it with the Warning event Kubernetes writes.
func TestOwnerInAnotherNamespace(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) { c.Profile = "kubernetes" })
	cs := startGC(t, srv)
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "other"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	owner, err := cs.CoreV1().ConfigMaps("other").Create(t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A ConfigMap written after the owner, collected: the collectors'
	// watch of ConfigMaps has delivered the owner too.
	createCM(t, cs, "probe", nil, metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "nope", UID: "no-such-uid"})
	eventually(t, "the probe collected", gone(cs, "probe"))

	dep := createCM(t, cs, "dependent", nil, ownerRef(owner))
	eventually(t, "the dependent collected", gone(cs, "dependent"))
	want := `ownerRef [v1/ConfigMap, namespace: default, name: owner, uid: ` + string(owner.UID) + `] does not exist in namespace "default"`
	eventually(t, "the OwnerRefInvalidNamespace event", func(ctx context.Context) (bool, error) {
		l, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=OwnerRefInvalidNamespace,involvedObject.name=dependent"})
		if err != nil {
			return false, err
		}
		for _, e := range l.Items {
			if e.Type != corev1.EventTypeWarning || e.Message != want || e.Source.Component != "garbage-collector-controller" ||
				e.InvolvedObject.UID != dep.UID || e.InvolvedObject.Kind != "ConfigMap" || e.InvolvedObject.APIVersion != "v1" {
				t.Fatalf("event: %+v", e)
			}
		}
		return len(l.Items) > 0, nil
	})
}
