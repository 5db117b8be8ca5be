// Package gc is the garbage collector: it deletes objects whose owners are
// gone, and carries out foreground and orphan deletion, as Kubernetes'
// garbage collector does (simplified). Like kube-controller-manager's, it
// talks to the API only through client-go.
//
// It learns the resources from discovery (each resource with list,
// watch and delete, in its preferred version, less events and the aliases
// of the legacy group extensions), reads discovery again every 30s and
// whenever a CustomResourceDefinition changes, and keeps one metadata
// watch per resource. The watches feed a graph that holds, per
// object, only its resource, namespace, name, ownerReferences and whether
// it is being deleted with a foregroundDeletion or orphan finalizer; no
// object bodies are cached. That is about 170 bytes an object
// (BenchmarkGraphMemory): with 10,000 ConfigMaps the collector holds about
// 3 MiB of heap in all, watches included, plus, while it starts, one list
// of their metadata. The workers start once every watch has listed, so a
// resource that cannot be listed holds the collector back: on a partial
// graph, orphaning would miss dependents, to be collected later.
//
// Steps for an object D that has ownerReferences and no deletionTimestamp,
// looked at when it appears, when its owners change, or when an owner
// leaves the graph:
//  1. Classify each owner. One the graph holds (in D's namespace, or
//     cluster-scoped) is solid, or waiting when it has a deletionTimestamp
//     and the foregroundDeletion finalizer. One the graph holds in another
//     namespace is reported on D with a Warning event
//     OwnerRefInvalidNamespace, as Kubernetes' collector reports it. Any
//     other is looked up with a GET: absent, or present with another uid,
//     is dangling. An owner whose kind discovery does not know, or a
//     namespaced owner of a cluster-scoped D, cannot be resolved and
//     counts as solid, so D stays.
//  2. With a solid owner, remove the dangling and waiting ownerReferences
//     from D; D stays.
//  3. Otherwise, with a waiting owner, delete D with propagationPolicy
//     Foreground, so that D's own dependents go before D and D before its
//     owner.
//  4. Otherwise every owner is dangling: delete D with propagationPolicy
//     Background.
//
// Steps for an object O with a deletionTimestamp:
//  1. With the finalizer orphan: remove O's ownerReference from each
//     dependent the graph holds, then remove the finalizer.
//  2. With the finalizer foregroundDeletion: while the graph holds a
//     dependent of O, queue each dependent (step 3 above deletes it) and
//     wait: O is looked at again as each one leaves. With none left,
//     remove the finalizer; the server then deletes O.
//
// Events are written as kube-controller-manager's collector writes them,
// from the component garbage-collector-controller; the collector writes
// no other event.
//
// Every write states what it read: deletes carry a uid precondition, and
// patches carry the resourceVersion they were computed from and are
// retried on conflict.
package gc

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"

	"cella.dev/cella/internal/controller/recorder"
)

// workers is how many objects are worked on at once.
const workers = 2

// Controller is the garbage collector.
type Controller struct {
	meta  metadata.Interface
	disc  discovery.DiscoveryInterface
	log   *slog.Logger
	queue workqueue.TypedRateLimitingInterface[types.UID]
	graph *graph
	// recorder writes the collector's events, started and shut down by
	// Run.
	recorder *recorder.Legacy

	// kinds resolves an ownerReference's group and kind to a resource
	// (discover, kind); guarded by kindsMu.
	kindsMu sync.RWMutex
	kinds   map[schema.GroupKind]*resource

	// RediscoverEvery is how often discovery is read again for resources
	// that came or went (custom resources); a change of a
	// CustomResourceDefinition makes it read at once. Zero means 30s, as
	// kube-controller-manager's collector resyncs. Set it before Run.
	RediscoverEvery time.Duration
}

// New returns a garbage collector using the given clients (client writes
// its events). Nothing runs until Run.
func New(meta metadata.Interface, client kubernetes.Interface, log *slog.Logger) *Controller {
	c := &Controller{
		meta: meta, disc: client.Discovery(), log: log,
		recorder: recorder.NewLegacy(client, corev1.EventSource{Component: "garbage-collector-controller"}),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[types.UID](50*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: "garbage-collector"}),
	}
	c.graph = newGraph(func(uid types.UID) { c.queue.Add(uid) })
	return c
}

// Run discovers the resources, watches them and collects garbage until ctx
// ends, then waits for its watches and workers. Resources that appear
// later (custom resources) are watched as discovery shows them, and those
// that go are no longer watched.
func (c *Controller) Run(ctx context.Context) {
	var wg sync.WaitGroup
	c.recorder.Start()
	defer func() {
		c.queue.ShutDown()
		wg.Wait()
		c.recorder.Shutdown()
	}()
	discovered, err := c.discover(ctx)
	if err != nil {
		return // ctx ended
	}
	w := &watches{c: c, ctx: ctx, wg: &wg, by: map[schema.GroupVersionResource]*watched{}}
	synced := w.sync(discovered)
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	c.log.Info("garbage collector started", "resources", len(discovered))
	c.graph.enqueueAll()
	for range workers {
		wg.Go(func() {
			for c.processNext(ctx) {
			}
		})
	}
	c.rediscover(ctx, &wg, w)
}

// watches are the reflectors of the watched resources, by resource.
type watches struct {
	c   *Controller
	ctx context.Context
	wg  *sync.WaitGroup
	by  map[schema.GroupVersionResource]*watched
}

// watched is one resource's reflector.
type watched struct {
	res  *resource
	sink *sink
	stop context.CancelFunc
}

// sync starts a reflector for each resource of rs not yet watched and
// stops those of resources rs no longer holds, dropping their objects
// from the graph (their dependents are looked at again). It returns the
// new reflectors' synced functions.
func (w *watches) sync(rs []*resource) []cache.InformerSynced {
	var synced []cache.InformerSynced
	keep := make(map[schema.GroupVersionResource]bool, len(rs))
	for _, res := range rs {
		keep[res.gvr] = true
		if w.by[res.gvr] != nil {
			continue
		}
		ctx, stop := context.WithCancel(w.ctx)
		s := &sink{g: w.c.graph, res: res}
		synced = append(synced, s.hasSynced)
		r := cache.NewReflectorWithOptions(w.c.listWatch(res.gvr), &metav1.PartialObjectMetadata{}, s,
			cache.ReflectorOptions{Name: "garbage-collector " + res.gvr.String()})
		w.wg.Go(func() { r.RunWithContext(ctx) })
		w.by[res.gvr] = &watched{res: res, sink: s, stop: stop}
	}
	for gvr, wd := range w.by {
		if keep[gvr] {
			continue
		}
		wd.stop()
		wd.sink.gone.Store(true)
		w.c.graph.replace(wd.res, nil)
		delete(w.by, gvr)
	}
	return synced
}

// rediscover reads discovery again every RediscoverEvery, and soon after
// any CustomResourceDefinition changes, until ctx ends; new resources are
// watched, and once they have listed every object is looked at again, so
// that dependents of owners of a kind just learned are collected.
func (c *Controller) rediscover(ctx context.Context, wg *sync.WaitGroup, w *watches) {
	every := c.RediscoverEvery
	if every <= 0 {
		every = 30 * time.Second
	}
	kick := make(chan struct{}, 1)
	crds := &kicker{kick: kick}
	r := cache.NewReflectorWithOptions(c.listWatch(crdResource), &metav1.PartialObjectMetadata{}, crds,
		cache.ReflectorOptions{Name: "garbage-collector definitions"})
	wg.Go(func() { r.RunWithContext(ctx) })
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-kick:
		}
		discovered, err := c.discover(ctx)
		if err != nil {
			return // ctx ended
		}
		synced := w.sync(discovered)
		if len(synced) == 0 {
			continue
		}
		if !cache.WaitForCacheSync(ctx.Done(), synced...) {
			return
		}
		c.graph.enqueueAll()
	}
}

// crdResource is where custom resources come from.
var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// kicker is the store of the definitions' reflector: any event asks for
// discovery to be read again.
type kicker struct{ kick chan struct{} }

var _ cache.ReflectorStore = (*kicker)(nil)

func (k *kicker) poke() error {
	select {
	case k.kick <- struct{}{}:
	default:
	}
	return nil
}
func (k *kicker) Add(any) error               { return k.poke() }
func (k *kicker) Update(any) error            { return k.poke() }
func (k *kicker) Delete(any) error            { return k.poke() }
func (k *kicker) Replace([]any, string) error { return k.poke() }
func (k *kicker) Resync() error               { return nil }

func (c *Controller) processNext(ctx context.Context) bool {
	uid, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(uid)
	if err := c.sync(ctx, uid); err != nil {
		c.log.Debug("garbage collection failed", "uid", uid, "err", err)
		c.queue.AddRateLimited(uid)
		return true
	}
	c.queue.Forget(uid)
	return true
}

// sync looks at one object: as an owner being deleted, or as a dependent.
func (c *Controller) sync(ctx context.Context, uid types.UID) error {
	n := c.graph.get(uid)
	switch {
	case n == nil:
		return nil
	case n.needsFinalizing():
		return c.finalize(ctx, uid, n)
	case c.graph.mayBeGarbage(n):
		return c.collect(ctx, uid, n)
	}
	return nil
}

// finalize carries out orphan and foreground deletion of the owner n.
func (c *Controller) finalize(ctx context.Context, uid types.UID, n *node) error {
	live, err := c.getLive(ctx, n.res, n.namespace.Value(), n.name, uid)
	if live == nil || err != nil || live.DeletionTimestamp == nil {
		return err
	}
	if slices.Contains(live.Finalizers, metav1.FinalizerOrphanDependents) {
		for _, d := range c.graph.dependentsOf(uid, n) {
			if err := c.removeOwners(ctx, d, []types.UID{uid}); err != nil {
				return err
			}
		}
		if err := c.removeFinalizer(ctx, n, uid, metav1.FinalizerOrphanDependents); err != nil {
			return err
		}
	}
	if slices.Contains(live.Finalizers, metav1.FinalizerDeleteDependents) {
		deps := c.graph.dependentsOf(uid, n)
		if len(deps) == 0 {
			return c.removeFinalizer(ctx, n, uid, metav1.FinalizerDeleteDependents)
		}
		// Each dependent that leaves the graph queues n again.
		for _, d := range deps {
			c.queue.Add(d.uid)
		}
	}
	return nil
}

// ownerState is what step 1 of the package doc finds for one owner.
type ownerState int

const (
	solid ownerState = iota
	dangling
	waiting
)

// collect runs the dependent steps of the package doc for n.
func (c *Controller) collect(ctx context.Context, uid types.UID, n *node) error {
	live, err := c.getLive(ctx, n.res, n.namespace.Value(), n.name, uid)
	if live == nil || err != nil || live.DeletionTimestamp != nil {
		return err
	}
	var solids int
	var drop []types.UID
	var waits bool
	for _, ref := range live.OwnerReferences {
		st, err := c.ownerState(ctx, uid, n, ref)
		if err != nil {
			return err
		}
		switch st {
		case solid:
			solids++
		case waiting:
			waits = true
			drop = append(drop, ref.UID)
		case dangling:
			drop = append(drop, ref.UID)
		}
	}
	switch {
	case len(drop) == 0:
		return nil
	case solids > 0:
		return c.removeOwners(ctx, dependent{uid: uid, node: n}, drop)
	case waits:
		return c.delete(ctx, uid, n, metav1.DeletePropagationForeground)
	default:
		return c.delete(ctx, uid, n, metav1.DeletePropagationBackground)
	}
}

// ownerState classifies one ownerReference of the dependent dep of uid.
func (c *Controller) ownerState(ctx context.Context, uid types.UID, dep *node, ref metav1.OwnerReference) (ownerState, error) {
	if o := c.graph.get(ref.UID); o != nil {
		if ownedBy(dep, o) {
			if o.waitingForDependents() {
				return waiting, nil
			}
			return solid, nil
		}
		c.reportInvalidNamespace(uid, dep, ref)
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		c.log.Debug("unresolvable owner", "owner", ref.APIVersion, "err", err)
		return solid, nil
	}
	res := c.kind(schema.GroupKind{Group: gv.Group, Kind: ref.Kind})
	if res == nil || (res.namespaced && !dep.res.namespaced) {
		c.log.Debug("unresolvable owner", "owner", ref.APIVersion+"/"+ref.Kind, "dependent", dep.name)
		return solid, nil
	}
	ns := ""
	if res.namespaced {
		ns = dep.namespace.Value()
	}
	o, err := c.getLive(ctx, res, ns, ref.Name, ref.UID)
	switch {
	case err != nil:
		return solid, err
	case o == nil:
		return dangling, nil
	case o.DeletionTimestamp != nil && slices.Contains(o.Finalizers, metav1.FinalizerDeleteDependents):
		return waiting, nil
	}
	return solid, nil
}

// getLive reads an object's metadata. It returns nil, nil when the object
// is gone or has another uid than want.
func (c *Controller) getLive(ctx context.Context, res *resource, ns, name string, want types.UID) (*metav1.PartialObjectMetadata, error) {
	m, err := c.meta.Resource(res.gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("getting %s %s/%s: %w", res.gvr.Resource, ns, name, err)
	}
	if m.UID != want {
		return nil, nil
	}
	return m, nil
}

// delete deletes the object n of uid, unless it was replaced meanwhile.
func (c *Controller) delete(ctx context.Context, uid types.UID, n *node, policy metav1.DeletionPropagation) error {
	ns := n.namespace.Value()
	err := c.meta.Resource(n.res.gvr).Namespace(ns).Delete(ctx, n.name, metav1.DeleteOptions{
		PropagationPolicy: &policy,
		Preconditions:     &metav1.Preconditions{UID: &uid},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or another object of that name
	}
	if err != nil {
		return fmt.Errorf("deleting %s %s/%s: %w", n.res.gvr.Resource, ns, n.name, err)
	}
	c.log.Debug("deleted dependent", "resource", n.res.gvr.Resource, "namespace", ns, "name", n.name, "propagation", policy)
	return nil
}

// removeOwners removes the ownerReferences to owners from d.
func (c *Controller) removeOwners(ctx context.Context, d dependent, owners []types.UID) error {
	return c.patchMeta(ctx, d.uid, d.node, func(m *metav1.PartialObjectMetadata) (string, any, bool) {
		kept := slices.DeleteFunc(slices.Clone(m.OwnerReferences), func(r metav1.OwnerReference) bool {
			return slices.Contains(owners, r.UID)
		})
		return "ownerReferences", kept, len(kept) != len(m.OwnerReferences)
	})
}

// removeFinalizer removes finalizer f from the object n of uid.
func (c *Controller) removeFinalizer(ctx context.Context, n *node, uid types.UID, f string) error {
	return c.patchMeta(ctx, uid, n, func(m *metav1.PartialObjectMetadata) (string, any, bool) {
		kept := slices.DeleteFunc(slices.Clone(m.Finalizers), func(s string) bool { return s == f })
		return "finalizers", kept, len(kept) != len(m.Finalizers)
	})
}

// patchMeta replaces one list field of an object's metadata with what
// change computes from the current object. The merge patch carries the
// resourceVersion it was computed from, so a concurrent write makes it
// fail with a conflict, and it is computed again.
func (c *Controller) patchMeta(ctx context.Context, uid types.UID, n *node, change func(*metav1.PartialObjectMetadata) (field string, value any, changed bool)) error {
	client := c.meta.Resource(n.res.gvr).Namespace(n.namespace.Value())
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		m, err := c.getLive(ctx, n.res, n.namespace.Value(), n.name, uid)
		if m == nil || err != nil {
			return err
		}
		field, value, changed := change(m)
		if !changed {
			return nil
		}
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
			"resourceVersion": m.ResourceVersion,
			field:             value,
		}})
		if err != nil {
			return err
		}
		_, err = client.Patch(ctx, n.name, types.MergePatchType, patch, metav1.PatchOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
}

// reportInvalidNamespace writes the Warning event Kubernetes' collector
// writes on a dependent whose owner it has seen in another namespace (or
// namespaced, for a cluster-scoped dependent): the owner is not in the
// dependent's namespace, so for the dependent it does not exist.
func (c *Controller) reportInvalidNamespace(uid types.UID, dep *node, ref metav1.OwnerReference) {
	ns := dep.namespace.Value()
	c.recorder.Eventf(&corev1.ObjectReference{
		Kind: dep.res.kind, APIVersion: dep.res.gvr.GroupVersion().String(),
		Namespace: ns, Name: dep.name, UID: uid,
	}, corev1.EventTypeWarning, "OwnerRefInvalidNamespace", "ownerRef [%s/%s, namespace: %s, name: %s, uid: %s] does not exist in namespace %q",
		ref.APIVersion, ref.Kind, ns, ref.Name, ref.UID, ns)
}
