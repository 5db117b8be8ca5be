package serviceaccount

import (
	"bytes"
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// secretsByServiceAccount indexes token Secrets by "namespace/name" of the
// ServiceAccount their annotation names.
const secretsByServiceAccount = "serviceaccount"

// watchTokenSecrets adds the informer of token Secrets and its handlers.
func (c *Controller) watchTokenSecrets() {
	f := informers.NewSharedInformerFactoryWithOptions(c.client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("type", string(corev1.SecretTypeServiceAccountToken)).String()
	}))
	inf := f.Core().V1().Secrets()
	_ = inf.Informer().AddIndexers(cache.Indexers{secretsByServiceAccount: func(obj any) ([]string, error) {
		s, ok := obj.(*corev1.Secret)
		if !ok || s.Annotations[corev1.ServiceAccountNameKey] == "" {
			return nil, nil
		}
		return []string{s.Namespace + "/" + s.Annotations[corev1.ServiceAccountNameKey]}, nil
	}})
	c.secLister = inf.Lister()
	c.synced = append(c.synced, inf.Informer().HasSynced)
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			c.secQueue.Add(key)
		}
	}
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	})
	c.secIndex = inf.Informer().GetIndexer()
	c.extra = append(c.extra, f)
}

// enqueueSecretsOf queues the token Secrets that name sa.
func (c *Controller) enqueueSecretsOf(sa *corev1.ServiceAccount) {
	objs, err := c.secIndex.ByIndex(secretsByServiceAccount, sa.Namespace+"/"+sa.Name)
	if err != nil {
		return
	}
	for _, o := range objs {
		if key, err := cache.MetaNamespaceKeyFunc(o); err == nil {
			c.secQueue.Add(key)
		}
	}
}

// syncSecret fills one token Secret, as kube-controller-manager's token
// controller does: data.token signed for its ServiceAccount, data.ca.crt
// and data.namespace, and the annotation kubernetes.io/service-account.uid.
func (c *Controller) syncSecret(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	s, err := c.secLister.Secrets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	saName := s.Annotations[corev1.ServiceAccountNameKey]
	if saName == "" || s.DeletionTimestamp != nil {
		return nil
	}
	sa, err := c.saLister.ServiceAccounts(ns).Get(saName)
	if apierrors.IsNotFound(err) {
		// Looked at again when the ServiceAccount appears.
		return nil
	}
	if err != nil {
		return err
	}
	if uid := s.Annotations[corev1.ServiceAccountUIDKey]; uid != "" && uid != string(sa.UID) {
		// The Secret was made for an earlier ServiceAccount of that name;
		// its token stays refused.
		return nil
	}
	needToken := len(s.Data[corev1.ServiceAccountTokenKey]) == 0
	needCA := len(c.opts.RootCA) > 0 && !bytes.Equal(s.Data[corev1.ServiceAccountRootCAKey], c.opts.RootCA)
	needNS := string(s.Data[corev1.ServiceAccountNamespaceKey]) != ns
	needUID := s.Annotations[corev1.ServiceAccountUIDKey] == ""
	if !needToken && !needCA && !needNS && !needUID {
		return nil
	}
	s = s.DeepCopy()
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	if needToken {
		tok, err := c.opts.SignToken(ns, sa.Name, string(sa.UID), s.Name)
		if err != nil {
			return err
		}
		s.Data[corev1.ServiceAccountTokenKey] = []byte(tok)
	}
	if len(c.opts.RootCA) > 0 {
		s.Data[corev1.ServiceAccountRootCAKey] = c.opts.RootCA
	}
	s.Data[corev1.ServiceAccountNamespaceKey] = []byte(ns)
	s.Annotations[corev1.ServiceAccountUIDKey] = string(sa.UID)
	// Conditional on the resourceVersion read: a conflict is retried
	// from the informer's newer copy.
	if _, err := c.client.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}
