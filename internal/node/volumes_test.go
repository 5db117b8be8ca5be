package node_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"golang.org/x/sys/unix"
)

// claimPod runs script in a pod that mounts the claim at mountPath.
func claimPod(name, claim, mountPath, script string) *corev1.Pod {
	p := shPod(name, script, corev1.RestartPolicyNever)
	p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}}
	p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: mountPath}}
	return p
}

// table reads path as a server-side Table.
func table(t *testing.T, cs kubernetes.Interface, path string) *metav1.Table {
	t.Helper()
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath(path).
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var tab metav1.Table
	if err := json.Unmarshal(raw, &tab); err != nil {
		t.Fatal(err)
	}
	return &tab
}

func columns(tab *metav1.Table) string {
	var names []string
	for _, c := range tab.ColumnDefinitions {
		if c.Priority == 0 {
			names = append(names, c.Name)
		}
	}
	return strings.Join(names, "|")
}

// TestPersistentVolumeClaims: a pod whose claim does not exist is held
// Pending by the scheduler; the claim, created without a class, gets the
// default class and is provisioned and bound; the pod then writes into the
// volume, a second pod reads what it wrote, and deleting the claim deletes
// the volume and its directory.
func TestPersistentVolumeClaims(t *testing.T) {
	srv, cs := startProcess(t, "")
	defer cleanupPods(t, cs)
	ctx := t.Context()
	pods := cs.CoreV1().Pods("default")
	claims := cs.CoreV1().PersistentVolumeClaims("default")

	// Isolated (as root), the agent mounts the volume at /data; otherwise
	// mounts are not applied and the pods use the volume's host path.
	isolated := os.Geteuid() == 0
	if _, err := pods.Create(ctx, claimPod("early", "data", "/data", "true"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	podWhere(t, cs, "early", "is unschedulable for its missing claim", func(p *corev1.Pod) bool {
		c := condition(p, corev1.PodScheduled)
		return c != nil && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable &&
			c.Message == `0/1 nodes are available: persistentvolumeclaim "data" not found.` && p.Spec.NodeName == ""
	})

	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	created, err := claims.Create(ctx, pvc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sc := created.Spec.StorageClassName; sc == nil || *sc != "standard" {
		t.Fatalf("the claim's class = %v, want the default, standard", sc)
	}
	eventually(t, "the claim is bound", func(ctx context.Context) (bool, error) {
		c, err := claims.Get(ctx, "data", metav1.GetOptions{})
		return err == nil && c.Status.Phase == corev1.ClaimBound, err
	})
	pvName := "pvc-" + string(created.UID)
	pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(srv.Config.DataDir, "volumes", pvName)
	if pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != dir || pv.Status.Phase != corev1.VolumeBound {
		t.Fatalf("the volume: %+v", pv)
	}
	podWhere(t, cs, "early", "runs once its claim is bound", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })

	mountPath := "/data"
	if !isolated {
		mountPath = dir
	}
	if _, err := pods.Create(ctx, claimPod("writer", "data", mountPath, "echo kept > "+mountPath+"/greeting"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	podWhere(t, cs, "writer", "succeeds", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	if b, err := os.ReadFile(filepath.Join(dir, "greeting")); err != nil || string(b) != "kept\n" {
		t.Fatalf("the file in the volume's directory: %q, %v", b, err)
	}
	reader := claimPod("reader", "data", mountPath, "cat "+mountPath+"/greeting; trap 'exit 0' TERM; while true; do sleep 0.1; done")
	if _, err := pods.Create(ctx, reader, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reader shows what the writer wrote", func(ctx context.Context) (bool, error) {
		// The log is not there until the container starts.
		b, _ := pods.GetLogs("reader", &corev1.PodLogOptions{}).DoRaw(ctx)
		return string(b) == "kept\n", nil
	})

	// kubectl get pvc,pv.
	if got, want := columns(table(t, cs, "/api/v1/persistentvolumes")), "Name|Capacity|Access Modes|Reclaim Policy|Status|Claim|StorageClass|VolumeAttributesClass|Reason|Age"; got != want {
		t.Errorf("pv columns: %s, want %s", got, want)
	}
	if tab := table(t, cs, "/api/v1/persistentvolumes"); len(tab.Rows) != 1 || !sameCells(tab.Rows[0].Cells[:8], pvName, "1Gi", "RWO", "Delete", "Bound", "default/data", "standard", "<unset>") {
		t.Errorf("pv rows: %v", tab.Rows)
	}
	if tab := table(t, cs, "/api/v1/namespaces/default/persistentvolumeclaims"); len(tab.Rows) != 1 || !sameCells(tab.Rows[0].Cells[:6], "data", "Bound", pvName, "1Gi", "RWO", "standard") {
		t.Errorf("pvc rows: %v", tab.Rows)
	}

	if err := claims.Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The reader still uses the claim: pvc-protection keeps it, and so
	// its volume, until the reader is gone.
	if c, err := claims.Get(ctx, "data", metav1.GetOptions{}); err != nil || c.DeletionTimestamp == nil || !slices.Contains(c.Finalizers, "kubernetes.io/pvc-protection") {
		t.Fatalf("the claim just deleted under a running pod: %+v, %v", c, err)
	}
	if err := pods.Delete(ctx, "reader", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the claim is gone", func(ctx context.Context) (bool, error) {
		_, err := claims.Get(ctx, "data", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	eventually(t, "the volume is deleted", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the volume's directory after the delete: %v", err)
	}
}

func sameCells(cells []any, want ...string) bool {
	for i, w := range want {
		if s, _ := cells[i].(string); s != w {
			return false
		}
	}
	return true
}

// mountOf returns the file system type and options of the mount at dir,
// from /proc/self/mountinfo ("" when dir is no mount point).
func mountOf(t *testing.T, dir string) (fstype, opts string) {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, s := range fields {
			if s == "-" {
				sep = i
				break
			}
		}
		if len(fields) > 4 && fields[4] == dir && sep > 0 && sep+3 < len(fields) {
			fstype, opts = fields[sep+1], fields[sep+3]
		}
	}
	return fstype, opts
}

// TestMemoryEmptyDir: as root, an emptyDir of medium Memory is a tmpfs of
// its sizeLimit, so writing past it fails with ENOSPC inside the pod, and
// it is unmounted and removed with the pod; one a stopped Cella left
// behind for a pod that is gone is unmounted at the next start.
func TestMemoryEmptyDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a memory-backed emptyDir is a tmpfs only when Cella runs as root: run the tests as root to check it")
	}
	// A tmpfs left by a Cella that stopped before it removed the
	// directory of a pod that is gone: the next start unmounts and
	// removes it.
	dataDir := t.TempDir()
	stale := filepath.Join(dataDir, "pods", "0a1b2c3d-gone", "volumes", "scratch")
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", stale, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(stale, unix.MNT_DETACH) })

	srv, cs := startProcess(t, dataDir)
	defer cleanupPods(t, cs)
	eventually(t, "the stale tmpfs is unmounted and its pod's directory removed", func(context.Context) (bool, error) {
		fstype, _ := mountOf(t, stale)
		_, err := os.Stat(filepath.Join(dataDir, "pods", "0a1b2c3d-gone"))
		return fstype == "" && os.IsNotExist(err), nil
	})
	ctx := t.Context()
	pods := cs.CoreV1().Pods("default")
	p := shPod("mem", `dd if=/dev/zero of=/scratch/f bs=1M count=8 2>&1; echo "exit $?"; while true; do sleep 0.1; done`, corev1.RestartPolicyNever)
	p.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{
		EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("4Mi"))}}}}
	p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}
	created, err := pods.Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "dd ends", func(ctx context.Context) (bool, error) {
		// The log is not there until the container starts.
		b, _ := pods.GetLogs("mem", &corev1.PodLogOptions{}).DoRaw(ctx)
		return strings.Contains(string(b), "exit "), nil
	})
	b, _ := pods.GetLogs("mem", &corev1.PodLogOptions{}).DoRaw(ctx)
	if !strings.Contains(string(b), "No space left on device") || !strings.Contains(string(b), "exit 1") {
		t.Errorf("dd past the sizeLimit: %q; want ENOSPC and exit 1", b)
	}
	dir := filepath.Join(srv.Config.DataDir, "pods", string(created.UID), "volumes", "scratch")
	if fstype, opts := mountOf(t, dir); fstype != "tmpfs" || !strings.Contains(opts, "size=4096k") {
		t.Errorf("the volume's mount: %q %q; want tmpfs with size=4096k", fstype, opts)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || int64(st.Blocks)*st.Bsize != 4<<20 {
		t.Errorf("statfs of the volume: %d blocks of %d, %v; want 4 MiB", st.Blocks, st.Bsize, err)
	}

	if err := pods.Delete(ctx, "mem", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(1))}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the pod is gone", func(ctx context.Context) (bool, error) {
		_, err := pods.Get(ctx, "mem", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	eventually(t, "the tmpfs is unmounted and its directory removed", func(context.Context) (bool, error) {
		fstype, _ := mountOf(t, dir)
		_, err := os.Stat(filepath.Dir(dir))
		return fstype == "" && os.IsNotExist(err), nil
	})
}
