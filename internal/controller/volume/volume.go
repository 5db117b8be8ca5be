// Package volume provisions and binds PersistentVolumes for claims of the
// local-path StorageClasses, as kube-controller-manager's PV controller and
// a dynamic provisioner do together. Like every Cella controller it talks
// to the API only through client-go, and it owns one directory per volume
// under Config.Dir, on the machine the node agent mounts them from.
//
// Steps for each claim whose class's provisioner is Provisioner (or the
// LegacyProvisioner older data directories were bootstrapped with):
//  1. A claim without a class, or whose class is missing, waits (the
//     latter with a ProvisioningFailed event, as Kubernetes writes it).
//  2. Provision: make <Dir>/pvc-<claim uid> and create the PersistentVolume
//     pvc-<claim uid> (hostPath to that directory, capacity the claim's
//     request, its access modes and volume mode, claimRef to the claim, the
//     class's name and reclaim policy, annotated provisioned-by), then a
//     ProvisioningSucceeded event. The name is derived from the claim's UID,
//     so a restart between any two steps finds the volume again instead of
//     making a second one.
//  3. Bind: the volume's status.phase Bound; the claim's spec.volumeName
//     with kube's annotations (pv.kubernetes.io/bind-completed,
//     pv.kubernetes.io/bound-by-controller, the storage-provisioner ones);
//     then the claim's status Bound with the volume's capacity and access
//     modes.
//  4. A claim being deleted keeps the pvc-protection finalizer the API
//     server gave it while a scheduled, unfinished pod names it; then the
//     finalizer is removed and the claim goes.
//  5. For each volume whose claim is gone (no claim of that name and UID,
//     confirmed against the API, not the cache): with reclaim policy
//     Delete and provisioned here, remove its directory and then the
//     volume; otherwise mark it Released.
//
// Every write is made from the informers' view; a conflict (the cache was
// behind) is retried from the queue with back-off once the cache has
// caught up.
package volume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"

	"cella.dev/cella/internal/controller/recorder"
)

// Provisioner is the provisioner name of Cella's local-path StorageClasses.
const Provisioner = "cella.dev/local-path"

// PVCProtectionFinalizer is the finalizer the API server puts on every
// claim (Kubernetes' StorageObjectInUseProtection); this controller
// removes it from a claim being deleted once no pod uses the claim.
const PVCProtectionFinalizer = "kubernetes.io/pvc-protection"

// inUseRecheck is how often a claim being deleted that a pod still uses
// is looked at again.
const inUseRecheck = 2 * time.Second

// LegacyProvisioner is the provisioner the default class was created with
// before volumes were provisioned; a class's provisioner cannot change, so
// it is served too.
const LegacyProvisioner = "cella.dev/local"

// Annotations Kubernetes' PV controller and provisioners write.
const (
	annBindCompleted      = "pv.kubernetes.io/bind-completed"
	annBoundByController  = "pv.kubernetes.io/bound-by-controller"
	annProvisionedBy      = "pv.kubernetes.io/provisioned-by"
	annStorageProvisioner = "volume.kubernetes.io/storage-provisioner"
	annBetaProvisioner    = "volume.beta.kubernetes.io/storage-provisioner"
)

// Config is what a Controller needs.
type Config struct {
	Client kubernetes.Interface
	// Dir holds the volumes' directories (<Dir>/pvc-<claim uid>).
	Dir    string
	Logger *slog.Logger
}

// Controller provisions, binds and reclaims local-path volumes.
type Controller struct {
	client   kubernetes.Interface
	dir      string
	log      *slog.Logger
	factory  informers.SharedInformerFactory
	claims   cache.Indexer
	volumes  cache.Indexer
	classes  cache.Indexer
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	recorder *recorder.Legacy
}

// Queue keys: a claim is "claim/<namespace>/<name>", a volume
// "volume/<name>".
const (
	claimKey  = "claim/"
	volumeKey = "volume/"
)

// New returns a controller; Run starts it.
func New(cfg Config) *Controller {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	factory := informers.NewSharedInformerFactory(cfg.Client, 0)
	claimInf := factory.Core().V1().PersistentVolumeClaims().Informer()
	volumeInf := factory.Core().V1().PersistentVolumes().Informer()
	classInf := factory.Storage().V1().StorageClasses().Informer()
	c := &Controller{
		client: cfg.Client, dir: cfg.Dir, log: cfg.Logger, factory: factory,
		claims: claimInf.GetIndexer(), volumes: volumeInf.GetIndexer(), classes: classInf.GetIndexer(),
		synced: []cache.InformerSynced{claimInf.HasSynced, volumeInf.HasSynced, classInf.HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](20*time.Millisecond, 10*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "persistentvolume"}),
		recorder: recorder.NewLegacy(cfg.Client, corev1.EventSource{Component: "persistentvolume-controller"}),
	}
	onClaim := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		pvc, ok := obj.(*corev1.PersistentVolumeClaim)
		if !ok {
			return
		}
		c.queue.Add(claimKey + pvc.Namespace + "/" + pvc.Name)
		// A deleted claim releases its volume; the volume's name is the
		// one the claim was bound to, or the one it would be given.
		if pvc.Spec.VolumeName != "" {
			c.queue.Add(volumeKey + pvc.Spec.VolumeName)
		}
		c.queue.Add(volumeKey + volumeName(pvc))
	}
	onVolume := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		pv, ok := obj.(*corev1.PersistentVolume)
		if !ok {
			return
		}
		c.queue.Add(volumeKey + pv.Name)
		if r := pv.Spec.ClaimRef; r != nil {
			c.queue.Add(claimKey + r.Namespace + "/" + r.Name)
		}
	}
	_, _ = claimInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onClaim, UpdateFunc: func(_, obj any) { onClaim(obj) }, DeleteFunc: onClaim,
	})
	_, _ = volumeInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onVolume, UpdateFunc: func(_, obj any) { onVolume(obj) }, DeleteFunc: onVolume,
	})
	_, _ = classInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		// A class that appears may let waiting claims be provisioned.
		AddFunc: func(any) {
			for _, obj := range c.claims.List() {
				onClaim(obj)
			}
		},
	})
	return c
}

// volumeName is the name of the volume provisioned for pvc.
func volumeName(pvc *corev1.PersistentVolumeClaim) string { return "pvc-" + string(pvc.UID) }

// Run provisions and binds until ctx ends, then waits for its worker.
func (c *Controller) Run(ctx context.Context) {
	defer c.queue.ShutDown()
	c.recorder.Start()
	defer c.recorder.Shutdown()
	c.factory.Start(ctx.Done())
	defer c.factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for c.next(ctx) {
		}
	}()
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
}

func (c *Controller) next(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	var err error
	if name, ok := strings.CutPrefix(key, volumeKey); ok {
		err = c.syncVolume(ctx, name)
	} else {
		err = c.syncClaim(ctx, strings.TrimPrefix(key, claimKey))
	}
	if err != nil {
		if ctx.Err() == nil && !apierrors.IsConflict(err) {
			c.log.Warn("syncing a volume or claim; retrying", "key", key, "err", err)
		}
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// ours reports whether class is provisioned by this controller.
func ours(class *storagev1.StorageClass) bool {
	return class.Provisioner == Provisioner || class.Provisioner == LegacyProvisioner
}

// syncClaim provisions and binds one claim (steps 1 to 3), or lets one
// being deleted go (step 4).
func (c *Controller) syncClaim(ctx context.Context, key string) error {
	obj, exists, err := c.claims.GetByKey(key)
	if err != nil || !exists {
		return err
	}
	pvc := obj.(*corev1.PersistentVolumeClaim)
	if pvc.DeletionTimestamp != nil {
		return c.unprotect(ctx, pvc)
	}
	if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName == "" {
		return nil
	}
	if pvc.Status.Phase == corev1.ClaimBound && pvc.Spec.VolumeName != "" {
		return nil
	}
	if pvc.Spec.VolumeName != "" && pvc.Spec.VolumeName != volumeName(pvc) {
		// Bound by hand to another volume: not this controller's to finish.
		return nil
	}
	className := *pvc.Spec.StorageClassName
	obj, exists, err = c.classes.GetByKey(className)
	if err != nil {
		return err
	}
	if !exists {
		c.recorder.Eventf(pvc, corev1.EventTypeWarning, "ProvisioningFailed", "storageclass.storage.k8s.io %q not found", className)
		return nil
	}
	class := obj.(*storagev1.StorageClass)
	if !ours(class) {
		return nil
	}
	pv, err := c.provision(ctx, pvc, class)
	if err != nil {
		c.recorder.Eventf(pvc, corev1.EventTypeWarning, "ProvisioningFailed", "failed to provision volume with StorageClass %q: %v", className, err)
		return err
	}
	return c.bind(ctx, pvc, pv, class.Provisioner)
}

// unprotect removes the pvc-protection finalizer from a claim being
// deleted once no pod uses it: none that is scheduled and not finished
// names it. While one does, the claim is looked at again after
// inUseRecheck (pods are read from the API, not watched: this controller
// keeps no cache of every pod for the rare claim being deleted).
func (c *Controller) unprotect(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	if !slices.Contains(pvc.Finalizers, PVCProtectionFinalizer) {
		return nil
	}
	pods, err := c.client.CoreV1().Pods(pvc.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == pvc.Name {
				c.queue.AddAfter(claimKey+pvc.Namespace+"/"+pvc.Name, inUseRecheck)
				return nil
			}
		}
	}
	pvc = pvc.DeepCopy()
	pvc.Finalizers = slices.DeleteFunc(pvc.Finalizers, func(f string) bool { return f == PVCProtectionFinalizer })
	_, err = c.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Update(ctx, pvc, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// provision returns the claim's volume, creating it and its directory if
// they do not exist yet.
func (c *Controller) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim, class *storagev1.StorageClass) (*corev1.PersistentVolume, error) {
	name := volumeName(pvc)
	if obj, exists, err := c.volumes.GetByKey(name); err != nil {
		return nil, err
	} else if exists {
		return obj.(*corev1.PersistentVolume), nil
	}
	request, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return nil, errors.New("the claim requests no storage")
	}
	dir := filepath.Join(c.dir, name)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, err
	}
	// MkdirAll applies the umask: containers of any user may write.
	if err := os.Chmod(dir, 0o777); err != nil {
		return nil, err
	}
	policy := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		policy = *class.ReclaimPolicy
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{annProvisionedBy: class.Provisioner},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: request.DeepCopy()},
			AccessModes: append([]corev1.PersistentVolumeAccessMode(nil), pvc.Spec.AccessModes...),
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID, ResourceVersion: pvc.ResourceVersion,
			},
			PersistentVolumeReclaimPolicy: policy,
			StorageClassName:              class.Name,
			VolumeMode:                    pvc.Spec.VolumeMode,
			MountOptions:                  class.MountOptions,
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: ptr.To(corev1.HostPathDirectoryOrCreate)},
			},
		},
	}
	created, err := c.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// Created before a restart, or by a run the cache has not shown.
		return c.client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return nil, err
	}
	c.log.Info("provisioned a volume", "claim", pvc.Namespace+"/"+pvc.Name, "volume", name, "dir", dir)
	c.recorder.Eventf(pvc, corev1.EventTypeNormal, "ProvisioningSucceeded", "Successfully provisioned volume %s", name)
	return created, nil
}

// bind binds pv and pvc to each other: the volume's phase, then the
// claim's volumeName and annotations, then the claim's status.
func (c *Controller) bind(ctx context.Context, pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume, provisioner string) error {
	if r := pv.Spec.ClaimRef; r == nil || r.UID != pvc.UID {
		return fmt.Errorf("volume %s is not for claim %s/%s", pv.Name, pvc.Namespace, pvc.Name)
	}
	if pv.Status.Phase != corev1.VolumeBound {
		pv = pv.DeepCopy()
		pv.Status.Phase = corev1.VolumeBound
		pv.Status.Reason, pv.Status.Message = "", ""
		if _, err := c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	want := map[string]string{
		annBindCompleted: "yes", annBoundByController: "yes",
		annStorageProvisioner: provisioner, annBetaProvisioner: provisioner,
	}
	needs := pvc.Spec.VolumeName != pv.Name
	for k, v := range want {
		needs = needs || pvc.Annotations[k] != v
	}
	if needs {
		pvc = pvc.DeepCopy()
		pvc.Spec.VolumeName = pv.Name
		if pvc.Annotations == nil {
			pvc.Annotations = map[string]string{}
		}
		for k, v := range want {
			pvc.Annotations[k] = v
		}
		updated, err := c.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Update(ctx, pvc, metav1.UpdateOptions{})
		if err != nil {
			return err
		}
		pvc = updated
	}
	pvc = pvc.DeepCopy()
	pvc.Status.Phase = corev1.ClaimBound
	pvc.Status.Capacity = pv.Spec.Capacity.DeepCopy()
	pvc.Status.AccessModes = append([]corev1.PersistentVolumeAccessMode(nil), pv.Spec.AccessModes...)
	if _, err := c.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).UpdateStatus(ctx, pvc, metav1.UpdateOptions{}); err != nil {
		return err
	}
	c.log.Debug("bound a claim", "claim", pvc.Namespace+"/"+pvc.Name, "volume", pv.Name)
	return nil
}

// syncVolume reclaims one volume whose claim is gone (step 5).
func (c *Controller) syncVolume(ctx context.Context, name string) error {
	obj, exists, err := c.volumes.GetByKey(name)
	if err != nil || !exists {
		return err
	}
	pv := obj.(*corev1.PersistentVolume)
	ref := pv.Spec.ClaimRef
	if ref == nil || pv.DeletionTimestamp != nil || pv.Status.Phase == corev1.VolumeReleased || pv.Status.Phase == corev1.VolumeFailed {
		return nil
	}
	if obj, exists, _ := c.claims.GetByKey(ref.Namespace + "/" + ref.Name); exists && obj.(*corev1.PersistentVolumeClaim).UID == ref.UID {
		return nil
	}
	// The cache says the claim is gone; the API must agree, or a claim
	// created a moment ago would lose its volume.
	live, err := c.client.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case err == nil && live.UID == ref.UID:
		return nil
	case err != nil && !apierrors.IsNotFound(err):
		return err
	}
	if pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete && c.provisionedHere(pv) {
		if err := os.RemoveAll(pv.Spec.HostPath.Path); err != nil {
			c.recorder.Eventf(pv, corev1.EventTypeWarning, "VolumeFailedDelete", "%v", err)
			return err
		}
		uid := pv.UID
		err := c.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		c.log.Info("deleted a released volume", "volume", pv.Name, "claim", ref.Namespace+"/"+ref.Name)
		return nil
	}
	pv = pv.DeepCopy()
	pv.Status.Phase = corev1.VolumeReleased
	_, err = c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{})
	return err
}

// provisionedHere reports whether pv is a volume this controller made: its
// annotation says so and its directory is directly under Dir, so a volume
// someone else wrote is never removed from the disk.
func (c *Controller) provisionedHere(pv *corev1.PersistentVolume) bool {
	by := pv.Annotations[annProvisionedBy]
	if (by != Provisioner && by != LegacyProvisioner) || pv.Spec.HostPath == nil {
		return false
	}
	return filepath.Clean(pv.Spec.HostPath.Path) == filepath.Join(c.dir, pv.Name)
}
