package apiserver

import (
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"cella.dev/cella/internal/registry"
)

// fieldManagers keeps metadata.managedFields for every write, as
// kube-apiserver's handlers do: creates, updates and non-apply patches are
// Update operations of the request's manager, server-side apply is an Apply
// operation that merges and may conflict. It holds one
// managedfields.FieldManager per served kind and subresource, built on
// first use and kept (building one parses no schema; client-go's is parsed
// once per process).
//
// Managers work in the served version: the live object is converted to the
// endpoint's version before it is handed over, and the result back to the
// stored version afterwards. Kinds of k8s.io/api take their structure
// (list types, map keys) from the schema client-go ships with its apply
// configurations; every other kind (the CCI kinds) from a deduced type, in
// which maps merge by key and lists are atomic, until their schemas exist.
//
// It is safe for concurrent use.
type fieldManagers struct {
	kinds *servedKinds
	// builtin converts the k8s.io/api kinds; deduced everything else.
	builtin, deduced managedfields.TypeConverter

	mu sync.Mutex
	// byKey is guarded by mu.
	byKey map[fieldManagerKey]*managedfields.FieldManager
}

type fieldManagerKey struct {
	ep          *registry.Endpoint
	subresource string
}

// newFieldManagers keeps the field managers of the endpoints routes
// serves at the time of each write.
func newFieldManagers(scheme *runtime.Scheme, routes func() *routeTable) *fieldManagers {
	kinds := &servedKinds{scheme: scheme, byGVK: func(gvk schema.GroupVersionKind) *registry.Endpoint {
		return routes().byGVK[gvk]
	}}
	return &fieldManagers{
		kinds:   kinds,
		builtin: applyconfigurations.NewTypeConverter(scheme),
		deduced: managedfields.NewDeducedTypeConverter(),
		byKey:   map[fieldManagerKey]*managedfields.FieldManager{},
	}
}

// get returns the field manager of ep's served kind through subresource
// ("" for the object itself, "status" or "scale").
func (f *fieldManagers) get(ep *registry.Endpoint, subresource string) (*managedfields.FieldManager, error) {
	key := fieldManagerKey{ep: ep, subresource: subresource}
	f.mu.Lock()
	defer f.mu.Unlock()
	if fm := f.byKey[key]; fm != nil {
		return fm, nil
	}
	gv := ep.GroupVersion()
	fm, err := managedfields.NewDefaultFieldManager(f.typeConverter(ep), f.kinds, noDefaults{}, f.kinds,
		ep.GroupVersionKind(), gv, subresource, resetFields(ep, subresource))
	if err != nil {
		return nil, err
	}
	f.byKey[key] = fm
	return fm, nil
}

// forget drops the field managers of endpoints no longer served (those of
// a custom resource whose definition changed or went away).
func (f *fieldManagers) forget(eps []*registry.Endpoint) {
	if len(eps) == 0 {
		return
	}
	gone := make(map[*registry.Endpoint]bool, len(eps))
	for _, ep := range eps {
		gone[ep] = true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for key := range f.byKey {
		if gone[key.ep] {
			delete(f.byKey, key)
		}
	}
}

// typeConverter picks the endpoint's own schema when it has one (custom
// resources), else the structured schema when it knows the kind, which
// holds for the k8s.io/api kinds, else the deduced type.
func (f *fieldManagers) typeConverter(ep *registry.Endpoint) managedfields.TypeConverter {
	if ep.TypeConverter != nil {
		return ep.TypeConverter
	}
	probe := ep.New()
	probe.GetObjectKind().SetGroupVersionKind(ep.GroupVersionKind())
	if _, err := f.builtin.ObjectToTyped(probe); err == nil {
		return f.builtin
	}
	return f.deduced
}

// resetFields are the fields a write through subresource cannot change,
// which the Store puts back from the stored object (prepareForUpdate), so
// that nobody comes to own them there: status through the object of a kind
// with a status subresource, everything but status through /status,
// everything but the replicas through /scale (the field manager of /scale
// works on the parent kind), and everything but what a kind's own
// subresource writes (registry.SubresourceUpdate.Fields) through it.
func resetFields(ep *registry.Endpoint, subresource string) map[fieldpath.APIVersion]fieldpath.Filter {
	v := fieldpath.APIVersion(ep.GroupVersion().String())
	top := func(names ...string) *fieldpath.Set {
		set := fieldpath.NewSet()
		for _, n := range names {
			set.Insert(fieldpath.MakePathOrDie(n))
		}
		return set
	}
	if u := ep.Resource.SubresourceUpdates[subresource]; u != nil && subresource != "" {
		return map[fieldpath.APIVersion]fieldpath.Filter{v: fieldpath.NewIncludeMatcherFilter(
			fieldpath.MakePrefixMatcherOrDie(toAny(u.Fields)...))}
	}
	switch subresource {
	case "":
		if !ep.Resource.HasStatus {
			return nil
		}
		return map[fieldpath.APIVersion]fieldpath.Filter{v: fieldpath.NewExcludeSetFilter(top("status"))}
	case "status":
		// Status, and the metadata a status write may change too.
		return map[fieldpath.APIVersion]fieldpath.Filter{v: fieldpath.NewIncludeMatcherFilter(
			fieldpath.MakePrefixMatcherOrDie("status"), fieldpath.MakePrefixMatcherOrDie("metadata"))}
	case "scale":
		return map[fieldpath.APIVersion]fieldpath.Filter{v: fieldpath.NewIncludeMatcherFilter(
			fieldpath.MakePrefixMatcherOrDie("spec", "replicas"))}
	}
	return nil
}

// toAny is path as the elements of a fieldpath matcher.
func toAny(path []string) []any {
	out := make([]any, len(path))
	for i, p := range path {
		out[i] = p
	}
	return out
}

// noDefaults is the defaulter the field managers are given: Cella's kinds
// are defaulted by their PrepareForCreate and PrepareForUpdate rules, which
// run on the merged object afterwards.
type noDefaults struct{}

func (noDefaults) Default(runtime.Object) {}

// servedKinds converts and creates objects of the served kinds for the
// field managers: between an unstructured object and its Go type, and
// between two served versions of one kind through the stored version (the
// endpoints' converters). A version it cannot reach is a NotRegistered
// error, for which the field manager drops that version's managers as
// kube-apiserver does.
type servedKinds struct {
	scheme *runtime.Scheme
	// byGVK finds the endpoint serving a kind in the current route table.
	byGVK func(schema.GroupVersionKind) *registry.Endpoint
}

var (
	_ runtime.ObjectConvertor = (*servedKinds)(nil)
	_ runtime.ObjectCreater   = (*servedKinds)(nil)
)

// New makes an empty object of a served kind.
func (k *servedKinds) New(gvk schema.GroupVersionKind) (runtime.Object, error) {
	ep := k.byGVK(gvk)
	if ep == nil {
		return k.scheme.New(gvk)
	}
	obj := ep.New()
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	return obj, nil
}

// Convert is the scheme's.
func (k *servedKinds) Convert(in, out, context any) error { return k.scheme.Convert(in, out, context) }

// ConvertFieldLabel is the scheme's.
func (k *servedKinds) ConvertFieldLabel(gvk schema.GroupVersionKind, label, value string) (string, string, error) {
	return k.scheme.ConvertFieldLabel(gvk, label, value)
}

// ConvertToVersion returns in, typed or unstructured, as a typed object of
// the version target picks; in is not changed.
func (k *servedKinds) ConvertToVersion(in runtime.Object, target runtime.GroupVersioner) (runtime.Object, error) {
	from := in.GetObjectKind().GroupVersionKind()
	if from.Empty() {
		kinds, _, err := k.scheme.ObjectKinds(in)
		if err != nil {
			return nil, err
		}
		from = kinds[0]
	}
	to, ok := target.KindForGroupVersionKinds([]schema.GroupVersionKind{from})
	if !ok {
		return nil, runtime.NewNotRegisteredGVKErrForTarget("cella", from, target)
	}
	src, dst := k.byGVK(from), k.byGVK(to)
	if src == nil {
		return nil, runtime.NewNotRegisteredErrForKind("cella", from)
	}
	if dst == nil {
		return nil, runtime.NewNotRegisteredErrForKind("cella", to)
	}
	var obj runtime.Object
	if u, ok := in.(*unstructured.Unstructured); ok && isUnstructured(src) {
		obj = u.DeepCopy()
	} else if u, ok := in.(runtime.Unstructured); ok {
		obj = src.New()
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), obj); err != nil {
			return nil, err
		}
	} else {
		obj = in.DeepCopyObject()
	}
	if from != to {
		stored, err := src.FromServedObject(obj)
		if err != nil {
			return nil, err
		}
		if obj, err = dst.ToServedObject(stored); err != nil {
			return nil, err
		}
	}
	obj.GetObjectKind().SetGroupVersionKind(to)
	return obj, nil
}

// managerOrUserAgent is the manager of a write, as kube-apiserver names
// it: the fieldManager parameter, else the User-Agent up to its first "/"
// with only printable characters, at most 128 bytes.
func managerOrUserAgent(manager, userAgent string) string {
	if manager != "" {
		return manager
	}
	prefix, _, _ := strings.Cut(userAgent, "/")
	var b strings.Builder
	for _, r := range prefix {
		if !unicode.IsPrint(r) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > metavalidation.FieldManagerMaxLength {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// tracker returns the registry's Track hook for a write through
// subresource that is not an apply: the write becomes an Update operation
// of manager, computed in the served version. An error of the field
// manager keeps the live object's managedFields, as kube-apiserver does.
func (h *resourceHandler) tracker(subresource, manager string) func(live, obj runtime.Object) (runtime.Object, error) {
	gvk := h.ep.GroupVersionKind()
	return func(live, obj runtime.Object) (runtime.Object, error) {
		fm, err := h.s.fields.get(h.ep, subresource)
		if err != nil {
			return nil, fmt.Errorf("field manager of %s: %w", gvk, err)
		}
		servedLive := h.ep.New()
		if live != nil {
			if servedLive, err = h.ep.ToServedObject(live.DeepCopyObject()); err != nil {
				return nil, err
			}
		}
		served, err := h.ep.ToServedObject(obj)
		if err != nil {
			return nil, err
		}
		servedLive.GetObjectKind().SetGroupVersionKind(gvk)
		served.GetObjectKind().SetGroupVersionKind(gvk)
		out := fm.UpdateNoErrors(servedLive, served, manager)
		return h.ep.FromServedObject(out)
	}
}

// isUnstructured reports endpoints whose objects are unstructured (custom
// resources).
func isUnstructured(ep *registry.Endpoint) bool {
	_, ok := ep.New().(*unstructured.Unstructured)
	return ok
}
