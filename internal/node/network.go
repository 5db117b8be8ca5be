package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	netv1beta1 "cella.dev/cella/internal/apis/networking/v1beta1"
)

// networks is where the agent reads the pod network of isolated pods: the
// spec.cidr of the namespace's CCI Network (networking.cci.io/v1beta1).
// An informer on Networks keeps them, so that starting a pod in a
// namespace with a Network costs no request. A namespace the cache has no
// Network with a CIDR for is asked of the API, so a Network made just
// before its pods is found; a change of a Network's CIDR reaches new pods
// as soon as the informer has it. Set by startNetworks before the workers
// start, read-only after.
type networks struct {
	// served is false when the server has no Networks (a profile
	// without them): every namespace has the runtime's default.
	served bool
	// index holds the Networks by namespace; nil when no informer could
	// be made on the agent's client, and networkCIDR asks the API every
	// time.
	index cache.Indexer
}

// startNetworks starts the informer of Networks, when the runtime
// isolates pods and the server serves Networks, and waits until it has
// synced. The informer ends with ctx; an error is ctx's.
func (a *Agent) startNetworks(ctx context.Context) error {
	if !a.rt.Info().Isolated {
		return nil
	}
	gv := netv1beta1.SchemeGroupVersion.String()
	_, err := a.client.Discovery().ServerResourcesForGroupVersion(gv)
	if apierrors.IsNotFound(err) {
		return nil
	}
	a.networks.served = true
	if err != nil {
		a.log.Warn("no cache of Networks: reading them for every pod", "err", fmt.Errorf("discovering %s: %w", gv, err))
		return nil
	}
	rc, err := networksClient(a.client.CoreV1().RESTClient())
	if err != nil {
		a.log.Warn("no cache of Networks: reading them for every pod", "err", err)
		return nil
	}
	lw := cache.NewListWatchFromClient(rc, "networks", "", fields.Everything())
	inf := cache.NewSharedIndexInformer(lw, &netv1beta1.Network{}, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	a.wg.Add(1)
	go func() { defer a.wg.Done(); inf.Run(ctx.Done()) }()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return ctx.Err()
	}
	a.networks.index = inf.GetIndexer()
	return nil
}

// networksClient returns a REST client for networking.cci.io/v1beta1 on
// the server and the HTTP client (transport, credentials) of core, the
// core group's client of the agent's clientset.
func networksClient(core rest.Interface) (*rest.RESTClient, error) {
	rc, ok := core.(*rest.RESTClient)
	if !ok || rc == nil || rc.Client == nil {
		return nil, fmt.Errorf("the agent's client is a %T, not a REST client", core)
	}
	u := rc.Get().URL()
	base := &url.URL{Scheme: u.Scheme, Host: u.Host}
	s := runtime.NewScheme()
	if err := netv1beta1.AddToScheme(s); err != nil {
		return nil, err
	}
	gv := netv1beta1.SchemeGroupVersion
	codecs := serializer.NewCodecFactory(s)
	return rest.NewRESTClient(base, "/apis/"+gv.Group+"/"+gv.Version, rest.ClientContentConfig{
		ContentType:  runtime.ContentTypeJSON,
		GroupVersion: gv,
		Negotiator:   runtime.NewClientNegotiator(codecs.WithoutConversion(), gv),
	}, nil, rc.Client)
}

// networkCIDR is the pod network of namespace ns, for a runtime that
// isolates pods: the spec.cidr of the namespace's Network, the first by
// name that has one, or "" for the runtime's default when the namespace
// has none (or the server serves no Networks). The cache answers when it
// has a Network with a CIDR for ns; otherwise the API does, so that a
// Network the cache has not seen yet is not missed.
//
// This is the agent's side of per-namespace pod networks (issue 8); the
// runtime refuses a network that overlaps the host's routes.
func (a *Agent) networkCIDR(ctx context.Context, ns string) (string, error) {
	if !a.networks.served {
		return "", nil
	}
	if a.networks.index != nil {
		objs, err := a.networks.index.ByIndex(cache.NamespaceIndex, ns)
		if err != nil {
			return "", err
		}
		items := make([]netv1beta1.Network, 0, len(objs))
		for _, o := range objs {
			if n, ok := o.(*netv1beta1.Network); ok {
				items = append(items, *n)
			}
		}
		if cidr := firstCIDR(items); cidr != "" {
			return cidr, nil
		}
	}
	list, err := a.getNetworks(ctx, ns)
	if err != nil {
		return "", err
	}
	return firstCIDR(list.Items), nil
}

// firstCIDR is the spec.cidr of the first Network by name that has one,
// or "". It sorts items.
func firstCIDR(items []netv1beta1.Network) string {
	slices.SortFunc(items, func(x, y netv1beta1.Network) int { return strings.Compare(x.Name, y.Name) })
	for _, n := range items {
		if n.Spec.CIDR != "" {
			return n.Spec.CIDR
		}
	}
	return ""
}

// getNetworks lists the Networks of namespace ns from the API.
func (a *Agent) getNetworks(ctx context.Context, ns string) (*netv1beta1.NetworkList, error) {
	raw, err := a.client.CoreV1().RESTClient().Get().
		AbsPath("/apis", netv1beta1.GroupName, netv1beta1.SchemeGroupVersion.Version, "namespaces", ns, "networks").
		DoRaw(ctx)
	if apierrors.IsNotFound(err) {
		return &netv1beta1.NetworkList{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the Networks of namespace %s: %w", ns, err)
	}
	var list netv1beta1.NetworkList
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("reading the Networks of namespace %s: %w", ns, err)
	}
	return &list, nil
}
