package kinds

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"cella.dev/cella/internal/registry"
)

func hostPathPV(name string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               res("storage", "1Gi"),
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/x"}},
		},
	}
}

// TestPersistentVolumeRules: defaults (Retain, Filesystem, phase Pending)
// and the essential checks, in Kubernetes' words.
func TestPersistentVolumeRules(t *testing.T) {
	cat := catalogue(t, Config{Profile: ProfileCCI})
	pvs := cat.Store("", "persistentvolumes")
	obj, err := pvs.Create(context.Background(), hostPathPV("ok"), registry.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pv := obj.(*corev1.PersistentVolume)
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain || *pv.Spec.VolumeMode != corev1.PersistentVolumeFilesystem || pv.Status.Phase != corev1.VolumePending {
		t.Fatalf("defaults: policy %s, mode %s, phase %s", pv.Spec.PersistentVolumeReclaimPolicy, *pv.Spec.VolumeMode, pv.Status.Phase)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*corev1.PersistentVolume)
		want   string
	}{
		{"no access modes", func(pv *corev1.PersistentVolume) { pv.Spec.AccessModes = nil }, "spec.accessModes: Required value"},
		{"bad access mode", func(pv *corev1.PersistentVolume) {
			pv.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{"Sometimes"}
		}, `spec.accessModes: Unsupported value: "Sometimes"`},
		{"no capacity", func(pv *corev1.PersistentVolume) { pv.Spec.Capacity = nil }, "spec.capacity: Required value"},
		{"capacity beyond storage", func(pv *corev1.PersistentVolume) { pv.Spec.Capacity = res("storage", "1Gi", "cpu", "1") }, "spec.capacity: Unsupported value"},
		{"bad policy", func(pv *corev1.PersistentVolume) { pv.Spec.PersistentVolumeReclaimPolicy = "Keep" }, `spec.persistentVolumeReclaimPolicy: Unsupported value: "Keep"`},
		{"no source", func(pv *corev1.PersistentVolume) { pv.Spec.HostPath = nil }, "spec: Required value: must specify a volume type"},
		{"two sources", func(pv *corev1.PersistentVolume) {
			pv.Spec.NFS = &corev1.NFSVolumeSource{Server: "s", Path: "/p"}
		}, "may not specify more than 1 volume type"},
		{"hostPath without a path", func(pv *corev1.PersistentVolume) { pv.Spec.HostPath.Path = "" }, "spec.hostPath.path: Required value"},
		{"local without affinity", func(pv *corev1.PersistentVolume) {
			pv.Spec.HostPath, pv.Spec.Local = nil, &corev1.LocalVolumeSource{Path: "/x"}
		}, "spec.nodeAffinity: Required value: Local volume requires node affinity"},
	} {
		pv := hostPathPV("bad")
		tc.mutate(pv)
		_, err := pvs.Create(context.Background(), pv, registry.WriteOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want 422 with %q", tc.name, err, tc.want)
		}
	}
	_, err = pvs.Update(context.Background(), "", "ok", func(cur runtime.Object) (runtime.Object, error) {
		pv := cur.(*corev1.PersistentVolume)
		pv.Spec.HostPath.Path = "/elsewhere"
		return pv, nil
	}, registry.UpdateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.persistentvolumesource is immutable after creation") {
		t.Errorf("changing the source: %v; want 422 immutable", err)
	}
}

// TestDefaultStorageClass: a claim without a class gets the newest class
// annotated as the default; one that names a class, even "", keeps it;
// every new claim carries the pvc-protection finalizer.
func TestDefaultStorageClass(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := now
	cat := catalogue(t, Config{Profile: ProfileKubernetes, Now: func() time.Time { return clock }})
	ctx := context.Background()
	claim := func(name string, class *string) *corev1.PersistentVolumeClaim {
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: class, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: res("storage", "1Gi")}}}
		obj, err := cat.Store("", "persistentvolumeclaims").Create(ctx, pvc, registry.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return obj.(*corev1.PersistentVolumeClaim)
	}
	if c := claim("none-yet", nil); c.Spec.StorageClassName != nil {
		t.Fatalf("without a default class: class %q", *c.Spec.StorageClassName)
	}
	for i, name := range []string{"older", "newer", "plain"} {
		sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "p"}
		if name != "plain" {
			sc.Annotations = map[string]string{IsDefaultClassAnnotation: "true"}
		}
		clock = now.Add(time.Duration(i) * time.Hour)
		if _, err := cat.Store("storage.k8s.io", "storageclasses").Create(ctx, sc, registry.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if c := claim("defaulted", nil); c.Spec.StorageClassName == nil || *c.Spec.StorageClassName != "newer" {
		t.Fatalf("defaulted class = %v, want newer", c.Spec.StorageClassName)
	} else if len(c.Finalizers) != 1 || c.Finalizers[0] != PVCProtectionFinalizer {
		t.Fatalf("a new claim's finalizers: %v, want pvc-protection", c.Finalizers)
	}
	empty := ""
	if c := claim("explicit-none", &empty); *c.Spec.StorageClassName != "" {
		t.Fatalf("an explicit empty class became %q", *c.Spec.StorageClassName)
	}
}
