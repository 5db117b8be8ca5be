// Package serviceaccount keeps what every namespace is given, as three of
// kube-controller-manager's controllers do: the serviceaccount controller
// (a ServiceAccount named "default"), the root-ca-cert-publisher (the
// ConfigMap kube-root-ca.crt, whose ca.crt is the CA that signs the API
// server's serving certificate) and the token controller (Secrets of type
// kubernetes.io/service-account-token filled with a token, ca.crt and
// namespace). Like the other controllers it talks to the API only through
// client-go.
//
// Steps for each namespace, looked at when it appears or changes, when its
// default ServiceAccount or its kube-root-ca.crt is deleted, and when that
// ConfigMap changes:
//  1. Skip a namespace that is terminating (deletionTimestamp set or phase
//     Terminating): the namespace controller is emptying it, and the
//     server refuses new content there anyway (403).
//  2. Create the ServiceAccount "default" unless the informer holds one.
//  3. Create kube-root-ca.crt unless the informer holds one; put ca.crt
//     back when it differs from the CA.
//
// Steps for each Secret of type kubernetes.io/service-account-token (see
// tokens.go):
//  1. Skip a Secret without the annotation kubernetes.io/service-account.name,
//     one whose ServiceAccount does not exist (yet), or one whose
//     kubernetes.io/service-account.uid annotation names another uid.
//  2. When data.token is missing or ca.crt or namespace differ, write them
//     (and the uid annotation), conditional on the resourceVersion read.
//
// Conflicts and failures are retried with backoff; AlreadyExists and a
// namespace found terminating end the attempt quietly.
package serviceaccount

import (
	"context"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Names Kubernetes gives what every namespace holds.
const (
	// DefaultServiceAccount is the ServiceAccount every namespace has.
	DefaultServiceAccount = "default"
	// RootCAConfigMap is the ConfigMap that publishes the CA.
	RootCAConfigMap = "kube-root-ca.crt"
	// RootCAKey is the key in RootCAConfigMap that holds the PEM bundle.
	RootCAKey = "ca.crt"

	descriptionAnnotation = "kubernetes.io/description"
	rootCADescription     = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."
)

// TokenSigner signs the token of a legacy service account token Secret, as
// kube-controller-manager's token controller does with the key the API
// server verifies. It must be safe for concurrent use.
type TokenSigner func(namespace, serviceAccount, serviceAccountUID, secret string) (string, error)

// Options configures a Controller.
type Options struct {
	// RootCA is the PEM the kube-root-ca.crt ConfigMaps publish; empty
	// (a server without TLS) publishes none.
	RootCA []byte
	// SignToken fills legacy token Secrets; nil leaves them alone.
	SignToken TokenSigner
}

// Controller keeps every namespace's default ServiceAccount and
// kube-root-ca.crt, and fills legacy token Secrets.
type Controller struct {
	client kubernetes.Interface
	log    *slog.Logger
	opts   Options

	factory   informers.SharedInformerFactory
	caFactory informers.SharedInformerFactory
	nsLister  listersv1.NamespaceLister
	saLister  listersv1.ServiceAccountLister
	cmLister  listersv1.ConfigMapLister
	secLister listersv1.SecretLister
	secIndex  cache.Indexer
	// extra are the factories of optional informers (token Secrets).
	extra  []informers.SharedInformerFactory
	synced []cache.InformerSynced

	// nsQueue holds namespace names; secQueue holds "namespace/name" of
	// token Secrets.
	nsQueue  workqueue.TypedRateLimitingInterface[string]
	secQueue workqueue.TypedRateLimitingInterface[string]
}

func newQueue(name string) workqueue.TypedRateLimitingInterface[string] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, 5*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name})
}

// New returns a controller using client.
func New(client kubernetes.Interface, log *slog.Logger, opts Options) *Controller {
	c := &Controller{
		client: client, log: log, opts: opts,
		factory: informers.NewSharedInformerFactory(client, 0),
		// Only the one ConfigMap of each namespace is watched, not all
		// of them.
		caFactory: informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", RootCAConfigMap).String()
		})),
		nsQueue: newQueue("serviceaccount-namespaces"), secQueue: newQueue("serviceaccount-tokens"),
	}
	ns := c.factory.Core().V1().Namespaces()
	sa := c.factory.Core().V1().ServiceAccounts()
	cm := c.caFactory.Core().V1().ConfigMaps()
	c.nsLister, c.saLister, c.cmLister = ns.Lister(), sa.Lister(), cm.Lister()
	c.synced = []cache.InformerSynced{ns.Informer().HasSynced, sa.Informer().HasSynced, cm.Informer().HasSynced}

	_, _ = ns.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.enqueueNamespace(obj) },
		UpdateFunc: func(_, obj any) { c.enqueueNamespace(obj) },
	})
	_, _ = sa.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.serviceAccountChanged,
		UpdateFunc: func(_, obj any) { c.serviceAccountChanged(obj) },
		DeleteFunc: c.serviceAccountChanged,
	})
	_, _ = cm.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) { c.enqueueNamespace(obj) },
		DeleteFunc: c.enqueueNamespace,
	})
	if opts.SignToken != nil {
		c.watchTokenSecrets()
	}
	return c
}

// enqueueNamespace queues the namespace obj is, or is in.
func (c *Controller) enqueueNamespace(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	if _, isNS := obj.(*corev1.Namespace); isNS {
		c.nsQueue.Add(m.GetName())
		return
	}
	c.nsQueue.Add(m.GetNamespace())
}

// serviceAccountChanged queues the namespace of a default ServiceAccount,
// and the token Secrets that name any ServiceAccount that changed.
func (c *Controller) serviceAccountChanged(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return
	}
	if sa.Name == DefaultServiceAccount {
		c.nsQueue.Add(sa.Namespace)
	}
	if c.opts.SignToken != nil {
		c.enqueueSecretsOf(sa)
	}
}

// Run works until ctx ends, then waits for its workers.
func (c *Controller) Run(ctx context.Context) {
	defer c.nsQueue.ShutDown()
	defer c.secQueue.ShutDown()
	for _, f := range append([]informers.SharedInformerFactory{c.factory, c.caFactory}, c.extra...) {
		f.Start(ctx.Done())
		defer f.Shutdown()
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	var wg sync.WaitGroup
	work := func(q workqueue.TypedRateLimitingInterface[string], sync func(context.Context, string) error, what string) {
		defer wg.Done()
		for {
			key, quit := q.Get()
			if quit {
				return
			}
			if err := sync(ctx, key); err != nil {
				c.log.Debug("sync failed", what, key, "err", err)
				q.AddRateLimited(key)
			} else {
				q.Forget(key)
			}
			q.Done(key)
		}
	}
	wg.Add(2)
	go work(c.nsQueue, c.syncNamespace, "namespace")
	go work(c.secQueue, c.syncSecret, "secret")
	<-ctx.Done()
	c.nsQueue.ShutDown()
	c.secQueue.ShutDown()
	wg.Wait()
}

// terminating reports whether ns is being deleted.
func terminating(ns *corev1.Namespace) bool {
	return ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating
}

// ignorable reports whether err means there is nothing to do: the object
// is already there, or the namespace is gone or going.
func ignorable(err error) bool {
	return err == nil || apierrors.IsAlreadyExists(err) || apierrors.IsNotFound(err) || apierrors.IsForbidden(err)
}

// syncNamespace gives namespace its default ServiceAccount and
// kube-root-ca.crt.
func (c *Controller) syncNamespace(ctx context.Context, name string) error {
	ns, err := c.nsLister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if terminating(ns) {
		return nil
	}
	if _, err := c.saLister.ServiceAccounts(name).Get(DefaultServiceAccount); apierrors.IsNotFound(err) {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultServiceAccount, Namespace: name}}
		if _, err := c.client.CoreV1().ServiceAccounts(name).Create(ctx, sa, metav1.CreateOptions{}); !ignorable(err) {
			return err
		}
	}
	if len(c.opts.RootCA) == 0 {
		return nil
	}
	cm, err := c.cmLister.ConfigMaps(name).Get(RootCAConfigMap)
	switch {
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: RootCAConfigMap, Namespace: name,
				Annotations: map[string]string{descriptionAnnotation: rootCADescription}},
			Data: map[string]string{RootCAKey: string(c.opts.RootCA)},
		}
		_, err = c.client.CoreV1().ConfigMaps(name).Create(ctx, cm, metav1.CreateOptions{})
		if !ignorable(err) {
			return err
		}
		return nil
	case err != nil:
		return err
	}
	if cm.Data[RootCAKey] == string(c.opts.RootCA) && len(cm.Data) == 1 && len(cm.BinaryData) == 0 {
		return nil
	}
	// Put the data back as the publisher keeps it; the update carries the
	// resourceVersion read, so a conflict is retried from a fresh read.
	cm = cm.DeepCopy()
	cm.Data = map[string]string{RootCAKey: string(c.opts.RootCA)}
	cm.BinaryData = nil
	if _, err := c.client.CoreV1().ConfigMaps(name).Update(ctx, cm, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}
