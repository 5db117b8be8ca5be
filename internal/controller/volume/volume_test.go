package volume

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

const waitTimeout = 30 * time.Second

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// run starts a controller on client over dir until the test ends (or stop
// is called).
func run(t *testing.T, client kubernetes.Interface, dir string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := New(Config{Client: client, Dir: dir})
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func class(name, provisioner string, policy corev1.PersistentVolumeReclaimPolicy) *storagev1.StorageClass {
	return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisioner, ReclaimPolicy: &policy}
}

func claim(name, uid, className string) *corev1.PersistentVolumeClaim {
	fs := corev1.PersistentVolumeFilesystem
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(uid)},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To(className), VolumeMode: &fs,
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}},
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
	}
}

func getClaim(t *testing.T, client kubernetes.Interface, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	pvc, err := client.CoreV1().PersistentVolumeClaims("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pvc
}

func volumeGone(client kubernetes.Interface, name string) bool {
	_, err := client.CoreV1().PersistentVolumes().Get(context.Background(), name, metav1.GetOptions{})
	return apierrors.IsNotFound(err)
}

// A claim of a local-path class is provisioned and bound; deleting it
// deletes the volume and its directory (policy Delete).
func TestProvisionBindDelete(t *testing.T) {
	dir := t.TempDir()
	client := fake.NewClientset(class("standard", Provisioner, corev1.PersistentVolumeReclaimDelete), claim("data", "u1", "standard"))
	run(t, client, dir)
	ctx := context.Background()

	waitFor(t, "the claim to be bound", func() bool { return getClaim(t, client, "data").Status.Phase == corev1.ClaimBound })
	pvc := getClaim(t, client, "data")
	if pvc.Spec.VolumeName != "pvc-u1" || pvc.Annotations[annBindCompleted] != "yes" || pvc.Annotations[annStorageProvisioner] != Provisioner {
		t.Fatalf("claim: volumeName %q, annotations %v", pvc.Spec.VolumeName, pvc.Annotations)
	}
	if got := pvc.Status.Capacity[corev1.ResourceStorage]; got.String() != "2Gi" || len(pvc.Status.AccessModes) != 1 {
		t.Fatalf("claim status: capacity %s, access modes %v", got.String(), pvc.Status.AccessModes)
	}
	pv, err := client.CoreV1().PersistentVolumes().Get(ctx, "pvc-u1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pvc-u1")
	if pv.Status.Phase != corev1.VolumeBound || pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != path ||
		pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != "u1" || pv.Spec.StorageClassName != "standard" ||
		pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.Annotations[annProvisionedBy] != Provisioner {
		t.Fatalf("volume: %+v", pv)
	}
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		t.Fatalf("the volume's directory: %v", err)
	}
	waitFor(t, "the ProvisioningSucceeded event", func() bool {
		evs, _ := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		for _, e := range evs.Items {
			if e.Reason == "ProvisioningSucceeded" && e.Message == "Successfully provisioned volume pvc-u1" && e.InvolvedObject.Name == "data" {
				return true
			}
		}
		return false
	})

	if err := client.CoreV1().PersistentVolumeClaims("default").Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the volume to be deleted", func() bool { return volumeGone(client, "pvc-u1") })
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the directory is still there: %v", err)
	}
}

// With policy Retain a volume whose claim is gone is Released and keeps
// its directory; a class of another provisioner and a claim without a
// class are left alone.
func TestRetainAndForeign(t *testing.T) {
	dir := t.TempDir()
	none := claim("classless", "u3", "")
	none.Spec.StorageClassName = nil
	client := fake.NewClientset(
		class("keep", Provisioner, corev1.PersistentVolumeReclaimRetain), claim("kept", "u1", "keep"),
		class("other", "example.com/nfs", corev1.PersistentVolumeReclaimDelete), claim("foreign", "u2", "other"),
		none,
	)
	run(t, client, dir)
	ctx := context.Background()
	waitFor(t, "the claim to be bound", func() bool { return getClaim(t, client, "kept").Status.Phase == corev1.ClaimBound })
	if err := client.CoreV1().PersistentVolumeClaims("default").Delete(ctx, "kept", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the volume to be released", func() bool {
		pv, err := client.CoreV1().PersistentVolumes().Get(ctx, "pvc-u1", metav1.GetOptions{})
		return err == nil && pv.Status.Phase == corev1.VolumeReleased
	})
	if _, err := os.Stat(filepath.Join(dir, "pvc-u1")); err != nil {
		t.Fatalf("a retained volume's directory: %v", err)
	}
	for _, name := range []string{"foreign", "classless"} {
		if pvc := getClaim(t, client, name); pvc.Status.Phase != corev1.ClaimPending || pvc.Spec.VolumeName != "" {
			t.Errorf("claim %s: phase %s, volume %q; want it left Pending", name, pvc.Status.Phase, pvc.Spec.VolumeName)
		}
	}
	for _, name := range []string{"pvc-u2", "pvc-u3"} {
		if !volumeGone(client, name) {
			t.Errorf("volume %s was made", name)
		}
	}
}

// A restart between provisioning and binding finds the volume again: no
// second volume, the claim bound to the first.
func TestRestartAfterProvisioning(t *testing.T) {
	dir := t.TempDir()
	pvc := claim("data", "u1", "standard")
	existing := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-u1", Annotations: map[string]string{annProvisionedBy: Provisioner}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")},
			AccessModes:                   pvc.Spec.AccessModes,
			ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "default", Name: "data", UID: "u1"},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              "standard",
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: filepath.Join(dir, "pvc-u1")}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumePending},
	}
	client := fake.NewClientset(class("standard", LegacyProvisioner, corev1.PersistentVolumeReclaimDelete), pvc, existing)
	run(t, client, dir)
	waitFor(t, "the claim to be bound", func() bool { return getClaim(t, client, "data").Status.Phase == corev1.ClaimBound })
	pvs, err := client.CoreV1().PersistentVolumes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pvs.Items) != 1 || pvs.Items[0].Status.Phase != corev1.VolumeBound {
		t.Fatalf("volumes after the restart: %+v", pvs.Items)
	}
}

// A claim being deleted keeps its pvc-protection finalizer while a
// scheduled, unfinished pod names it, and loses it once none does.
func TestClaimProtection(t *testing.T) {
	now := metav1.Now()
	pvc := claim("data", "u1", "standard")
	pvc.DeletionTimestamp, pvc.Finalizers = &now, []string{PVCProtectionFinalizer}
	user := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "user", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "n", Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	client := fake.NewClientset(pvc, user)
	c := New(Config{Client: client, Dir: t.TempDir()})
	defer c.queue.ShutDown()
	ctx := context.Background()
	if err := c.unprotect(ctx, pvc); err != nil {
		t.Fatal(err)
	}
	if got := getClaim(t, client, "data").Finalizers; len(got) != 1 {
		t.Fatalf("finalizers while a pod uses the claim: %v", got)
	}
	user.Status.Phase = corev1.PodSucceeded
	if _, err := client.CoreV1().Pods("default").UpdateStatus(ctx, user, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.unprotect(ctx, pvc); err != nil {
		t.Fatal(err)
	}
	if got := getClaim(t, client, "data").Finalizers; len(got) != 0 {
		t.Fatalf("finalizers once no pod uses the claim: %v", got)
	}
}
