package node

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// claimDir is the host directory of the volume bound to the claim name of
// pod: the bound PersistentVolume's hostPath or local path. A claim that
// is missing, not bound, or bound to a volume of another kind is an error
// (the scheduler holds back pods whose claims are not bound, so it is
// met only when a claim changes under a pod).
func (a *Agent) claimDir(ctx context.Context, pod *corev1.Pod, name string) (string, error) {
	pvc, err := a.client.CoreV1().PersistentVolumeClaims(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("persistentvolumeclaim %q not found", name)
	}
	if err != nil {
		return "", err
	}
	if pvc.Spec.VolumeName == "" || pvc.Status.Phase != corev1.ClaimBound {
		return "", fmt.Errorf("persistentvolumeclaim %q is not bound", name)
	}
	pv, err := a.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("the volume %q of persistentvolumeclaim %q: %w", pvc.Spec.VolumeName, name, err)
	}
	if r := pv.Spec.ClaimRef; r == nil || r.UID != pvc.UID {
		return "", fmt.Errorf("the volume %q is not bound to persistentvolumeclaim %q", pv.Name, name)
	}
	var dir string
	switch {
	case pv.Spec.HostPath != nil:
		dir = pv.Spec.HostPath.Path
		if t := pv.Spec.HostPath.Type; t != nil && *t == corev1.HostPathDirectoryOrCreate {
			if err := os.MkdirAll(dir, 0o777); err != nil {
				return "", err
			}
		}
	case pv.Spec.Local != nil:
		dir = pv.Spec.Local.Path
	default:
		return "", fmt.Errorf("the volume %q of persistentvolumeclaim %q is of a kind this node cannot mount", pv.Name, name)
	}
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("the volume %q of persistentvolumeclaim %q: %w", pv.Name, name, err)
	}
	return dir, nil
}

// emptyDir makes the directory of an emptyDir volume. With medium Memory
// and Cella running as root on Linux, a tmpfs is mounted on it (once; a
// container started later finds it mounted) of the size the kubelet gives
// it (memoryVolumeSize); otherwise the directory is on disk, and a Warning
// event says the memory medium is not available, once, when the
// directory is made. removePodDir unmounts it.
func (a *Agent) emptyDir(pod *corev1.Pod, vol *corev1.Volume, dir string) error {
	_, statErr := os.Stat(dir)
	made := os.IsNotExist(statErr)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	if vol.EmptyDir.Medium != corev1.StorageMediumMemory {
		return nil
	}
	size := memoryVolumeSize(pod, vol.EmptyDir, a.allocatable.Memory())
	err := mountTmpfs(dir, size)
	if err == nil {
		return nil
	}
	if err != errNoTmpfs {
		return fmt.Errorf("mounting a tmpfs for emptyDir volume %q: %w", vol.Name, err)
	}
	if made {
		a.recorder.Eventf(pod, corev1.EventTypeWarning, "MemoryMediumUnavailable",
			"emptyDir volume %q asks for medium Memory, which needs Cella to run as root on Linux; it is a directory on disk", vol.Name)
	}
	return nil
}

// memoryVolumeSize is the size of a memory-backed emptyDir, by the
// kubelet's rule: the node's allocatable memory, lowered to the pod's
// memory limit when the pod has one, lowered to the volume's sizeLimit
// when that is set and smaller. Zero means no size is known.
func memoryVolumeSize(pod *corev1.Pod, ed *corev1.EmptyDirVolumeSource, allocatable *resource.Quantity) int64 {
	size := int64(0)
	if allocatable != nil {
		size = allocatable.Value()
	}
	lower := func(v int64) {
		if v > 0 && (size == 0 || v <= size) {
			size = v
		}
	}
	lower(podMemoryLimit(pod))
	if ed.SizeLimit != nil {
		lower(ed.SizeLimit.Value())
	}
	return size
}

// podMemoryLimit is the pod's memory limit as its cgroup gets it: the
// pod-level limit, else the larger of the sum of its containers' limits
// and its largest init container's limit; 0 when a container has none.
func podMemoryLimit(pod *corev1.Pod) int64 {
	if r := pod.Spec.Resources; r != nil {
		if q, ok := r.Limits[corev1.ResourceMemory]; ok {
			return q.Value()
		}
	}
	var sum int64
	for _, c := range pod.Spec.Containers {
		q, ok := c.Resources.Limits[corev1.ResourceMemory]
		if !ok {
			return 0
		}
		sum += q.Value()
	}
	for _, c := range pod.Spec.InitContainers {
		q, ok := c.Resources.Limits[corev1.ResourceMemory]
		if !ok {
			return 0
		}
		sum = max(sum, q.Value())
	}
	return sum
}

// removePodDir removes the directory of a pod's volumes, unmounting first
// what the agent mounted under it (memory-backed emptyDirs), so the
// removal neither empties a mount it cannot remove nor leaves one behind.
// It is called once the pod's sandbox is removed, and at start for
// directories of pods that are gone.
func (a *Agent) removePodDir(uid types.UID) {
	dir := a.podDir(uid)
	if err := unmountUnder(dir); err != nil {
		a.log.Error("unmounting the volumes of a pod; its directory stays", "uid", uid, "err", err)
		return
	}
	if err := os.RemoveAll(dir); err != nil {
		a.log.Warn("removing the directory of a pod", "uid", uid, "err", err)
	}
}

// sweepPodDirs removes the directories of pods the agent no longer has a
// pod for, left by a Cella that stopped between removing a sandbox and
// its directory. It runs once the pod informer has synced, so every pod
// bound here is known.
func (a *Agent) sweepPodDirs() {
	entries, err := os.ReadDir(a.cfg.Dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || a.pod(types.UID(e.Name())) != nil {
			continue
		}
		a.log.Info("removing the volumes of a pod that is gone", "uid", e.Name())
		a.removePodDir(types.UID(e.Name()))
	}
}
