// Package namespace is the namespace lifecycle controller: when a namespace
// is marked for deletion it deletes everything the namespace holds, then
// clears the namespace's spec.finalizers through /finalize, which lets the
// API server remove it. Like kube-controller-manager's, it talks to the API
// only through client-go.
//
// Steps for each namespace with a deletionTimestamp:
//  1. Find every namespaced resource that supports deletecollection
//     (discovery).
//  2. Delete each collection in the namespace.
//  3. Write what stands in the way into the namespace's status.conditions,
//     as Kubernetes' namespace controller does (conditions.go): discovery
//     that failed, collections that could not be deleted, content and
//     finalizers remaining; each condition False with its "ok" reason
//     otherwise. Like Kubernetes', the controller writes no Events: kubectl
//     describe namespace shows these conditions.
//  4. If anything is left (objects with finalizers), try again later.
//  5. Remove "kubernetes" from spec.finalizers via the finalize subresource.
package namespace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Controller drains and finalizes deleted namespaces.
type Controller struct {
	client    kubernetes.Interface
	meta      metadata.Interface
	discovery discovery.DiscoveryInterface
	log       *slog.Logger
	queue     workqueue.TypedRateLimitingInterface[string]
	factory   informers.SharedInformerFactory
	lister    cache.Indexer
	synced    cache.InformerSynced
}

// New returns a controller using the given clients.
func New(client kubernetes.Interface, meta metadata.Interface, log *slog.Logger) *Controller {
	factory := informers.NewSharedInformerFactory(client, 0)
	inf := factory.Core().V1().Namespaces().Informer()
	c := &Controller{
		client: client, meta: meta, discovery: client.Discovery(), log: log,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, 5*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespace"}),
		factory: factory, lister: inf.GetIndexer(), synced: inf.HasSynced,
	}
	enqueue := func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
			c.queue.Add(ns.Name)
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	})
	return c
}

// Run processes namespaces until ctx ends, then waits for its workers.
func (c *Controller) Run(ctx context.Context) {
	defer c.queue.ShutDown()
	c.factory.Start(ctx.Done())
	defer c.factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for c.processNext(ctx) {
		}
	}()
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
}

func (c *Controller) processNext(ctx context.Context) bool {
	name, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(name)
	requeue, err := c.sync(ctx, name)
	switch {
	case err != nil:
		c.log.Debug("namespace sync failed", "namespace", name, "err", err)
		c.queue.AddRateLimited(name)
	case requeue:
		c.queue.AddAfter(name, 200*time.Millisecond)
	default:
		c.queue.Forget(name)
	}
	return true
}

// sync drains one namespace. requeue is true while objects remain.
func (c *Controller) sync(ctx context.Context, name string) (requeue bool, err error) {
	ns, err := c.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if ns.DeletionTimestamp == nil || !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		return false, nil
	}
	var report deletionReport
	lists, err := c.discovery.ServerPreferredNamespacedResources()
	if err != nil {
		report.discovery = err
		if len(lists) == 0 {
			return false, c.writeConditions(ctx, ns, &report, err)
		}
	}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if !slices.Contains(r.Verbs, "deletecollection") || !slices.Contains(r.Verbs, "list") {
				continue
			}
			gvr := gv.WithResource(r.Name)
			client := c.meta.Resource(gvr).Namespace(name)
			// As Kubernetes' deleter: a failure is kept for the
			// namespace's conditions and the other resources go on.
			if err := client.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil && !apierrors.IsNotFound(err) {
				report.failed = append(report.failed, err.Error())
				continue
			}
			left, err := client.List(ctx, metav1.ListOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				report.failed = append(report.failed, err.Error())
				continue
			}
			if left != nil {
				report.remain(gvr, left.Items)
			}
		}
	}
	if err := c.writeConditions(ctx, ns, &report, nil); err != nil {
		return false, err
	}
	if len(report.failed) > 0 {
		return false, fmt.Errorf("deleting the content of namespace %s: %s", name, strings.Join(report.failed, ", "))
	}
	if len(report.resources) > 0 {
		return true, nil
	}
	ns.Spec.Finalizers = slices.DeleteFunc(ns.Spec.Finalizers, func(f corev1.FinalizerName) bool { return f == corev1.FinalizerKubernetes })
	if _, err := c.client.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return false, err
	}
	c.log.Info("namespace deleted", "namespace", name)
	return false, nil
}

// writeConditions writes the namespace's deletion conditions when they
// changed (status, reason or message), and returns err.
func (c *Controller) writeConditions(ctx context.Context, ns *corev1.Namespace, r *deletionReport, err error) error {
	next := ns.DeepCopy()
	if !r.apply(next, metav1.Now()) {
		return err
	}
	updated, uerr := c.client.CoreV1().Namespaces().UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if uerr != nil && !apierrors.IsNotFound(uerr) {
		return errors.Join(err, uerr)
	}
	if uerr == nil {
		*ns = *updated
	}
	return err
}
