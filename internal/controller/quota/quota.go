// Package quota is the resource quota controller: it keeps each
// ResourceQuota's status (hard, used) true to what its namespace holds, as
// kube-controller-manager's does, and like it talks to the API only
// through client-go. The quota admission (internal/admission) charges
// status.used before each create is written; this controller counts, so
// that deletes give usage back, a new quota learns what is already there,
// and a charge whose write failed is corrected. Both measure objects with
// internal/resourcequota.
//
// It learns the namespaced resources from discovery, to list what a
// count/<resource>.<group> name counts, and reads discovery again (at most
// every second) when a quota names a resource it has not seen: a custom
// resource whose definition came later.
//
// Steps for a quota Q, looked at when it appears, when spec.hard differs
// from status.hard, when status.used lacks a tracked name of spec.hard,
// when an object Q may count leaves its namespace (or a pod there
// finishes, or an object's spec changes), and every Resync:
//  1. Read Q from the API.
//  2. For each resource a tracked name of spec.hard measures, make sure its
//     objects are watched (the watch is what queues Q on a delete) and
//     list them in Q's namespace, live; add up what each consumes.
//  3. A name whose count is at least status.used takes the count at once.
//     A lower count may be a create that admission has charged and not
//     yet written, which a count cannot tell from a failed one; it is
//     taken only when the same count was found, at the same
//     resourceVersion of Q, at least Settle earlier (every charge changes
//     Q's resourceVersion). Until then the old value stays and Q is looked
//     at again after Settle. So a charge is not undone while its write is
//     in flight, unless that write takes longer than Settle.
//  4. Write status {hard: spec.hard, used} if it changed, conditional on
//     Q's resourceVersion from step 1. A conflict means a charge came
//     between: Q is looked at again.
package quota

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"cella.dev/cella/internal/controller/discover"
	"cella.dev/cella/internal/resourcequota"
)

// workers is how many quotas are counted at once.
const workers = 2

// Options tune the controller. The zero value uses the defaults.
type Options struct {
	// Resync is how often every quota is counted again, whatever happened:
	// the bound on how long a lost event or a charge for a failed write
	// can skew status.used. Zero means 5 minutes, kube-controller-manager's
	// --resource-quota-sync-period.
	Resync time.Duration
	// Settle is how long a lower count must hold before it is written
	// (step 3 of the package doc). Zero means 3 seconds: longer than a
	// create takes between its charge and its write on a loaded machine,
	// or the count, which cannot see the object yet, undoes the charge.
	Settle time.Duration
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Controller is the resource quota controller.
type Controller struct {
	client kubernetes.Interface
	meta   metadata.Interface
	disc   discovery.DiscoveryInterface
	log    *slog.Logger
	opts   Options
	queue  workqueue.TypedRateLimitingInterface[string]

	// typed informs on quotas and, once a quota counts them, pods;
	// metas on every other resource a quota counts.
	typed  informers.SharedInformerFactory
	metas  metadatainformer.SharedInformerFactory
	quotas cache.SharedIndexInformer

	// resources maps each namespaced resource to the version it is listed
	// in; learned is when discovery was last read. Guarded by resMu.
	resMu     sync.RWMutex
	resources map[schema.GroupResource]schema.GroupVersionResource
	learned   time.Time

	mu sync.Mutex
	// watched holds the resources whose objects are watched. Guarded by mu.
	watched map[schema.GroupResource]bool
	// lower holds, per quota key, a lower count waiting to settle. Guarded
	// by mu.
	lower map[string]lowerCount
}

// lowerCount is a count below status.used, seen at a resourceVersion of
// the quota at a time.
type lowerCount struct {
	resourceVersion string
	used            corev1.ResourceList
	since           time.Time
}

// New returns a quota controller using the given clients. Nothing runs
// until Run.
func New(client kubernetes.Interface, meta metadata.Interface, log *slog.Logger, opts Options) *Controller {
	if opts.Resync <= 0 {
		opts.Resync = 5 * time.Minute
	}
	if opts.Settle <= 0 {
		opts.Settle = 3 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	typed := informers.NewSharedInformerFactory(client, 0)
	c := &Controller{
		client: client, meta: meta, disc: client.Discovery(), log: log, opts: opts,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](20*time.Millisecond, 5*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "resourcequota"}),
		typed:   typed,
		metas:   metadatainformer.NewSharedInformerFactory(meta, 0),
		quotas:  typed.Core().V1().ResourceQuotas().Informer(),
		watched: map[schema.GroupResource]bool{},
		lower:   map[string]lowerCount{},
	}
	_, _ = c.quotas.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		UpdateFunc: func(_, obj any) {
			if q, ok := obj.(*corev1.ResourceQuota); ok && c.stale(q) {
				c.enqueue(q)
			}
		},
	})
	return c
}

// Run discovers the resources and keeps the quotas counted until ctx ends,
// then waits for its workers and informers.
func (c *Controller) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer func() {
		c.queue.ShutDown()
		wg.Wait()
		c.typed.Shutdown()
		c.metas.Shutdown()
	}()
	if err := c.discover(ctx); err != nil {
		return // ctx ended
	}
	c.typed.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.quotas.HasSynced) {
		return
	}
	wg.Go(func() {
		t := time.NewTicker(c.opts.Resync)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				for _, obj := range c.quotas.GetStore().List() {
					c.enqueue(obj)
				}
			}
		}
	})
	for range workers {
		wg.Go(func() {
			for c.processNext(ctx) {
			}
		})
	}
	<-ctx.Done()
}

// discover fills c.resources, retrying until discovery answers or ctx
// ends.
func (c *Controller) discover(ctx context.Context) error {
	lists, err := discover.Preferred(ctx, c.disc, true, c.log)
	if err != nil {
		return err
	}
	c.fill(lists)
	return nil
}

// fill sets c.resources from preferred-version discovery of namespaced
// resources.
func (c *Controller) fill(lists []*metav1.APIResourceList) {
	resources := map[schema.GroupResource]schema.GroupVersionResource{}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if !strings.Contains(r.Name, "/") && slices.Contains(r.Verbs, "list") && slices.Contains(r.Verbs, "watch") {
				resources[gv.WithResource(r.Name).GroupResource()] = gv.WithResource(r.Name)
			}
		}
	}
	c.resMu.Lock()
	c.resources, c.learned = resources, c.opts.Now()
	c.resMu.Unlock()
}

// tracked returns the names of hard the controller counts, by the
// resource that each measures.
func (c *Controller) tracked(hard corev1.ResourceList) map[schema.GroupResource][]corev1.ResourceName {
	out := map[schema.GroupResource][]corev1.ResourceName{}
	for n := range hard {
		gr, ok := resourcequota.Source(n)
		if _, served := c.resource(gr); ok && served {
			out[gr] = append(out[gr], n)
		}
	}
	return out
}

// resource returns the version gr is listed in, if discovery showed it.
func (c *Controller) resource(gr schema.GroupResource) (schema.GroupVersionResource, bool) {
	c.resMu.RLock()
	defer c.resMu.RUnlock()
	gvr, ok := c.resources[gr]
	return gvr, ok
}

// rediscoverAfter is the least time between two reads of discovery for
// names of quotas that no known resource measures; unknownRetry is when a
// quota with such a name is looked at again.
const (
	rediscoverAfter = time.Second
	unknownRetry    = 2 * time.Second
)

// learn reads discovery again when hard names a resource it did not show
// (a custom resource whose definition came after), at most every
// rediscoverAfter. It reports whether such a name remains.
func (c *Controller) learn(hard corev1.ResourceList) (unknown bool) {
	missing := func() bool {
		for n := range hard {
			if gr, ok := resourcequota.Source(n); ok {
				if _, served := c.resource(gr); !served {
					return true
				}
			}
		}
		return false
	}
	if !missing() {
		return false
	}
	c.resMu.RLock()
	recent := c.opts.Now().Sub(c.learned) < rediscoverAfter
	c.resMu.RUnlock()
	if recent {
		return true
	}
	lists, err := c.disc.ServerPreferredNamespacedResources()
	if len(lists) == 0 && err != nil {
		c.log.Debug("reading discovery", "err", err)
		return true
	}
	c.fill(lists)
	return missing()
}

// stale reports whether q's status does not yet reflect its spec: hard
// differs, or a tracked name has no usage.
func (c *Controller) stale(q *corev1.ResourceQuota) bool {
	if !equality.Semantic.DeepEqual(q.Spec.Hard, q.Status.Hard) {
		return true
	}
	for _, names := range c.tracked(q.Spec.Hard) {
		for _, n := range names {
			if _, ok := q.Status.Used[n]; !ok {
				return true
			}
		}
	}
	return false
}

func (c *Controller) enqueue(obj any) {
	key, err := cache.MetaNamespaceKeyFunc(obj)
	if err == nil {
		c.queue.Add(key)
	}
}

// enqueueNamespace queues every quota in the namespace of obj, an object
// or a deleted object's tombstone.
func (c *Controller) enqueueNamespace(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	ns, _, _ := cache.SplitMetaNamespaceKey(key)
	quotas, _ := c.quotas.GetIndexer().ByIndex(cache.NamespaceIndex, ns)
	for _, q := range quotas {
		c.enqueue(q)
	}
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	again, err := c.sync(ctx, key)
	switch {
	case err != nil:
		c.log.Debug("counting quota failed", "quota", key, "err", err)
		c.queue.AddRateLimited(key)
	case again:
		c.queue.Forget(key)
		c.queue.AddAfter(key, c.opts.Settle)
	default:
		c.queue.Forget(key)
	}
	return true
}

// sync runs the package doc's steps for one quota. again is true when a
// lower count is waiting to settle.
func (c *Controller) sync(ctx context.Context, key string) (again bool, err error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return false, nil
	}
	q, err := c.client.CoreV1().ResourceQuotas(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		delete(c.lower, key)
		c.mu.Unlock()
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if c.learn(q.Spec.Hard) {
		// A name no known resource measures: look again later, when
		// discovery may show it (a definition being established).
		c.queue.AddAfter(key, unknownRetry)
	}
	counted, err := c.count(ctx, ns, q.Spec.Hard)
	if err != nil {
		return false, err
	}
	used, again := c.settle(key, q, counted)
	if equality.Semantic.DeepEqual(q.Status.Hard, q.Spec.Hard) && equality.Semantic.DeepEqual(q.Status.Used, used) {
		return again, nil
	}
	q.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard.DeepCopy(), Used: used}
	updated, err := c.client.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, q, metav1.UpdateOptions{})
	if err != nil {
		return false, err
	}
	if again {
		// Our own write changed the resourceVersion; the lower count still
		// holds from when it was found.
		c.mu.Lock()
		if l, ok := c.lower[key]; ok {
			l.resourceVersion = updated.ResourceVersion
			c.lower[key] = l
		}
		c.mu.Unlock()
	}
	return again, nil
}

// count lists, live, the objects of ns that the tracked names of hard
// measure, and adds up what they consume under those names.
func (c *Controller) count(ctx context.Context, ns string, hard corev1.ResourceList) (corev1.ResourceList, error) {
	used := corev1.ResourceList{}
	for gr, names := range c.tracked(hard) {
		if err := c.watch(ctx, gr); err != nil {
			return nil, err
		}
		objs, err := c.list(ctx, gr, ns)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			used[n] = resource.Quantity{}
		}
		for _, o := range objs {
			u := resourcequota.Usage(gr, o)
			for _, n := range names {
				if q, ok := u[n]; ok {
					sum := used[n]
					sum.Add(q)
					used[n] = sum
				}
			}
		}
	}
	return used, nil
}

// list returns the objects of gr in ns: typed for pods and services, which
// are measured by more than their count, metadata for the rest.
func (c *Controller) list(ctx context.Context, gr schema.GroupResource, ns string) ([]runtime.Object, error) {
	var out []runtime.Object
	switch gr {
	case schema.GroupResource{Resource: "pods"}:
		l, err := c.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case schema.GroupResource{Resource: "services"}:
		l, err := c.client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	default:
		gvr, _ := c.resource(gr)
		l, err := c.meta.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	}
	return out, nil
}

// watch makes sure the objects of gr are watched, and that the watch has
// listed, so that any delete after the count that follows queues the
// namespace's quotas.
func (c *Controller) watch(ctx context.Context, gr schema.GroupResource) error {
	c.mu.Lock()
	seen := c.watched[gr]
	c.watched[gr] = true
	c.mu.Unlock()
	var inf cache.SharedIndexInformer
	if gr == (schema.GroupResource{Resource: "pods"}) {
		inf = c.typed.Core().V1().Pods().Informer()
		if !seen {
			_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
				UpdateFunc: func(old, obj any) {
					o, ok1 := old.(*corev1.Pod)
					p, ok2 := obj.(*corev1.Pod)
					if ok1 && ok2 && finished(p) && !finished(o) {
						c.enqueueNamespace(p)
					}
				},
				DeleteFunc: c.enqueueNamespace,
			})
			c.typed.Start(ctx.Done())
		}
	} else {
		gvr, _ := c.resource(gr)
		inf = c.metas.ForResource(gvr).Informer()
		if !seen {
			_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
				UpdateFunc: func(old, obj any) {
					o, ok1 := old.(*metav1.PartialObjectMetadata)
					m, ok2 := obj.(*metav1.PartialObjectMetadata)
					if ok1 && ok2 && m.Generation != o.Generation {
						c.enqueueNamespace(m)
					}
				},
				DeleteFunc: c.enqueueNamespace,
			})
			c.metas.Start(ctx.Done())
		}
	}
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return ctx.Err()
	}
	return nil
}

func finished(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// settle is step 3 of the package doc: it returns the usage to write for
// q given the count just made, and whether a lower count is waiting.
func (c *Controller) settle(key string, q *corev1.ResourceQuota, counted corev1.ResourceList) (corev1.ResourceList, bool) {
	used := corev1.ResourceList{}
	lower := false
	for n, v := range counted {
		if old, ok := q.Status.Used[n]; ok && v.Cmp(old) < 0 {
			used[n], lower = old, true
			continue
		}
		used[n] = v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !lower {
		delete(c.lower, key)
		return used, false
	}
	now := c.opts.Now()
	l, ok := c.lower[key]
	if ok && l.resourceVersion == q.ResourceVersion && equality.Semantic.DeepEqual(l.used, counted) {
		if now.Sub(l.since) >= c.opts.Settle {
			delete(c.lower, key)
			return maps.Clone(counted), false
		}
		return used, true
	}
	c.lower[key] = lowerCount{resourceVersion: q.ResourceVersion, used: counted, since: now}
	return used, true
}
