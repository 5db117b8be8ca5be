package registry

import (
	"context"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
)

// Endpoint is one served group/version of a stored resource. Most resources
// are served only in their stored version; legacy versions (batch/v1beta1
// cronjobs, extensions/v1beta1 ingresses, ...) are Endpoints over the same
// Store with converters.
type Endpoint struct {
	Group, Version, Kind string
	Store                *Store
	// New and NewList make objects of the served version.
	New, NewList func() runtime.Object
	// ToStored and FromStored convert between the served and the stored
	// version; both are nil when the two are the same.
	ToStored, FromStored func(runtime.Object) (runtime.Object, error)
	// FieldLabels, when set, maps a field selector's label and value in
	// the served version to the stored kind's (Resource.Fields), as
	// Kubernetes' field label conversion functions do (events.k8s.io's
	// regarding.name is involvedObject.name); an error is the 400 answer.
	FieldLabels func(label, value string) (string, string, error)
	// Subresources served besides the object ("status", "scale", ...).
	Subresources []string
	// Creates are the subresources served only by POST on an object's path
	// (pods/binding), by name.
	Creates map[string]*SubresourceCreate
	// Verbs served on the resource.
	Verbs []string
	// Create, when set, makes the endpoint a create-only virtual kind
	// (access reviews, the legacy bindings): the object is acted on, never
	// stored as such, and Store is nil. obj carries the namespace of the
	// URL for a namespaced kind. It returns the response object (a
	// metav1.Status for kinds that answer one) or a Status error.
	Create func(ctx context.Context, obj runtime.Object, o WriteOptions) (runtime.Object, error)
	// Get and List, when set, make the endpoint a read-only computed kind
	// (pod metrics): objects are derived on each request, never stored,
	// and Store is nil. Get returns a NotFound Status for unknown names.
	Get  func(ctx context.Context, namespace, name string) (runtime.Object, error)
	List func(ctx context.Context, namespace string) (runtime.Object, error)
	// Resource describes a virtual endpoint (Store nil); for stored
	// endpoints it is Store.Resource.
	Resource *Resource

	// TypeConverter, when set, gives server-side apply and managedFields
	// the structure of the served kind (custom resources, from their
	// schema); otherwise the server picks one.
	TypeConverter managedfields.TypeConverter
	// Prune, when set, is applied to every decoded write of the served
	// version (a create or update body, a patched object, an apply patch)
	// before anything else: it drops what the kind's schema does not know,
	// as kube-apiserver's decoding of custom resources does, and returns
	// the dropped fields' paths, which fieldValidation judges as unknown
	// fields. (Defaults are the Resource's to fill, when it prepares a
	// write.)
	Prune func(obj runtime.Object) (unknown []string)
}

// SubresourceCreate serves POST on a subresource of one object, as
// kube-apiserver's named creaters do (pods/binding): the body is an object
// of Kind, decoded into New, whose namespace the server has checked against
// the URL.
type SubresourceCreate struct {
	// Kind of the body, in the endpoint's group and version (Binding)
	// unless GroupVersion names another (policy/v1 for an Eviction).
	Kind         string
	GroupVersion *schema.GroupVersion
	New          func() runtime.Object
	// Create acts on the object namespace/name with the body obj and
	// returns the response object (a metav1.Status for pods/binding) or a
	// Status error.
	Create func(ctx context.Context, namespace, name string, obj runtime.Object, o WriteOptions) (runtime.Object, error)
}

// GroupVersion of the served version.
func (e *Endpoint) GroupVersion() schema.GroupVersion {
	return schema.GroupVersion{Group: e.Group, Version: e.Version}
}

// GroupVersionKind of the served version.
func (e *Endpoint) GroupVersionKind() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: e.Group, Version: e.Version, Kind: e.Kind}
}

// Converted reports whether the endpoint converts.
func (e *Endpoint) Converted() bool { return e.FromStored != nil }

// ToServed turns stored JSON into served-version JSON. Without conversion it
// returns data unchanged.
func (e *Endpoint) ToServed(data []byte) ([]byte, error) {
	if e.FromStored == nil {
		return data, nil
	}
	obj, err := e.Store.Decode(data)
	if err != nil {
		return nil, err
	}
	out, err := e.FromStored(obj)
	if err != nil {
		return nil, fmt.Errorf("converting %s to %s: %w", e.Store.Resource.Kind, e.GroupVersion(), err)
	}
	out.GetObjectKind().SetGroupVersionKind(e.GroupVersionKind())
	return json.Marshal(out)
}

// ServedObject decodes stored JSON into a served-version object.
func (e *Endpoint) ServedObject(data []byte) (runtime.Object, error) {
	obj, err := e.Store.Decode(data)
	if err != nil {
		return nil, err
	}
	if e.FromStored != nil {
		if obj, err = e.FromStored(obj); err != nil {
			return nil, err
		}
	}
	obj.GetObjectKind().SetGroupVersionKind(e.GroupVersionKind())
	return obj, nil
}

// FromServedObject converts a served-version object to the stored version.
func (e *Endpoint) FromServedObject(obj runtime.Object) (runtime.Object, error) {
	if e.ToStored == nil {
		return obj, nil
	}
	return e.ToStored(obj)
}

// ToServedObject converts a stored-version object to the served version.
func (e *Endpoint) ToServedObject(obj runtime.Object) (runtime.Object, error) {
	if e.FromStored != nil {
		var err error
		if obj, err = e.FromStored(obj); err != nil {
			return nil, err
		}
	}
	obj.GetObjectKind().SetGroupVersionKind(e.GroupVersionKind())
	return obj, nil
}
