package gc

import (
	"context"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"cella.dev/cella/internal/controller/discover"
)

// discover finds the watched resources and adds to c.kinds every
// resource an owner may be, retrying until discovery answers or ctx ends.
// Kinds are never forgotten: an owner of a kind no longer served (a
// custom resource whose definition was deleted) is then looked up, found
// missing, and its dependents collected.
func (c *Controller) discover(ctx context.Context) ([]*resource, error) {
	lists, err := discover.Preferred(ctx, c.disc, false, c.log)
	if err != nil {
		return nil, err
	}
	watched, kinds := c.resources(lists)
	c.kindsMu.Lock()
	defer c.kindsMu.Unlock()
	if c.kinds == nil {
		c.kinds = make(map[schema.GroupKind]*resource, len(kinds))
	}
	for gk, r := range kinds {
		c.kinds[gk] = r
	}
	return watched, nil
}

// kind returns the resource of an owner's group and kind, or nil.
func (c *Controller) kind(gk schema.GroupKind) *resource {
	c.kindsMu.RLock()
	defer c.kindsMu.RUnlock()
	return c.kinds[gk]
}

// resources returns the resources to watch from preferred-version
// discovery, and every resource an owner may be, by kind.
//
// Two kinds of resources are not watched, though served with list, watch
// and delete. Events, as kube-controller-manager's default
// --gc-ignored-resources: they are many, short-lived and no one's owner.
// And a resource of the legacy group extensions that another group serves
// with the same name and kind: it is the same objects under another name,
// which the graph would see twice.
func (c *Controller) resources(lists []*metav1.APIResourceList) (watched []*resource, kinds map[schema.GroupKind]*resource) {
	kinds = make(map[schema.GroupKind]*resource)
	type servedAs struct{ resource, kind string }
	type legacyResource struct {
		*resource
		as servedAs
	}
	var legacy []legacyResource
	elsewhere := make(map[servedAs]bool) // served outside extensions
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "get") {
				continue // subresources are not objects of their own
			}
			res := &resource{gvr: gv.WithResource(r.Name), kind: r.Kind, namespaced: r.Namespaced}
			kinds[schema.GroupKind{Group: gv.Group, Kind: r.Kind}] = res
			if !slices.Contains(r.Verbs, "list") || !slices.Contains(r.Verbs, "watch") || !slices.Contains(r.Verbs, "delete") {
				continue
			}
			switch {
			case r.Name == "events" && (gv.Group == "" || gv.Group == "events.k8s.io"):
				// Not watched: see above.
			case gv.Group == "extensions":
				legacy = append(legacy, legacyResource{res, servedAs{r.Name, r.Kind}})
			default:
				watched = append(watched, res)
				elsewhere[servedAs{r.Name, r.Kind}] = true
			}
		}
	}
	for _, l := range legacy {
		if !elsewhere[l.as] {
			watched = append(watched, l.resource)
		}
	}
	return watched, kinds
}

// listWatch lists and watches the metadata of one resource in every
// namespace.
func (c *Controller) listWatch(gvr schema.GroupVersionResource) cache.ListerWatcher {
	client := c.meta.Resource(gvr)
	return cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return client.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return client.Watch(ctx, opts)
		},
	}, c.meta)
}
