package apiserver

import (
	"fmt"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"cella.dev/cella/internal/registry"
)

// routeTable is what the server serves at one moment: the endpoints, the
// index the router looks them up in, and the discovery documents built
// from them. A table is never changed once built; SetDynamicEndpoints
// builds a new one and swaps it in, so a request that looked its endpoint
// up keeps a consistent view to its answer, and readers take no lock.
type routeTable struct {
	endpoints []*registry.Endpoint
	// byRoute maps "group/version/resource" to its endpoint.
	byRoute map[string]*registry.Endpoint
	// byGVK maps the served kinds of stored endpoints (the field managers'
	// creater and converter).
	byGVK map[schema.GroupVersionKind]*registry.Endpoint
	disc  *discovery
}

func newRouteTable(eps []*registry.Endpoint) (*routeTable, error) {
	t := &routeTable{
		endpoints: eps,
		byRoute:   make(map[string]*registry.Endpoint, len(eps)),
		byGVK:     make(map[schema.GroupVersionKind]*registry.Endpoint, len(eps)),
	}
	for _, ep := range eps {
		key := routeKey(ep.Group, ep.Version, ep.Resource.Plural)
		if _, dup := t.byRoute[key]; dup {
			return nil, fmt.Errorf("apiserver: endpoint %s registered twice", key)
		}
		t.byRoute[key] = ep
		if ep.Store != nil && ep.New != nil {
			t.byGVK[ep.GroupVersionKind()] = ep
		}
	}
	var err error
	if t.disc, err = buildDiscovery(eps); err != nil {
		return nil, err
	}
	return t, nil
}

func routeKey(group, version, resource string) string {
	return group + "/" + version + "/" + resource
}

// endpoint returns the endpoint of a resource path, or nil.
func (t *routeTable) endpoint(group, version, resource string) *registry.Endpoint {
	return t.byRoute[routeKey(group, version, resource)]
}

// routes returns the table being served.
func (s *Server) routes() *routeTable { return s.served.Load() }

// SetDynamicEndpoints serves eps on behalf of owner (a
// CustomResourceDefinition's name), replacing whatever owner served
// before; an empty eps stops serving them. Routing, discovery and the
// field managers see the change at once. It fails, changing nothing, when
// an endpoint's path is already served by another owner or the
// catalogue.
func (s *Server) SetDynamicEndpoints(owner string, eps []*registry.Endpoint) error {
	s.dynMu.Lock()
	defer s.dynMu.Unlock()
	all := append([]*registry.Endpoint(nil), s.cfg.Endpoints...)
	for _, o := range slices.Sorted(maps.Keys(s.dynamic)) {
		if o != owner {
			all = append(all, s.dynamic[o]...)
		}
	}
	all = append(all, eps...)
	t, err := newRouteTable(all)
	if err != nil {
		return err
	}
	old := s.dynamic[owner]
	if len(eps) == 0 {
		delete(s.dynamic, owner)
	} else {
		s.dynamic[owner] = eps
	}
	s.served.Store(t)
	s.fields.forget(old)
	return nil
}
