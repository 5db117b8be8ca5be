package openapi

import (
	"reflect"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/kubernetes/scheme"
	smdschema "sigs.k8s.io/structured-merge-diff/v6/schema"
)

// Vendor extensions of list merging, as kube-apiserver writes them from the
// +listType and +listMapKey markers of k8s.io/api.
const (
	extListType     = "x-kubernetes-list-type"
	extListMapKeys  = "x-kubernetes-list-map-keys"
	listTypeAtomic  = "atomic"
	listTypeSet     = "set"
	listTypeMap     = "map"
	modelNameMethod = "OpenAPIModelName"
)

// builtinSchema is the structured-merge-diff schema of the k8s.io/api
// types that client-go ships for server-side apply: the markers that
// reflection cannot see (how each list merges, and by which keys) are in
// it. It is read once, through the type converter the apply path uses.
var builtinSchema = sync.OnceValue(func() *smdschema.Schema {
	tc := applyconfigurations.NewTypeConverter(scheme.Scheme)
	tv, err := tc.ObjectToTyped(&corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}})
	if err != nil {
		return nil
	}
	return tv.Schema()
})

// listMerge says how the list field of the struct type owner merges: its
// x-kubernetes-list-type ("" when unknown: a Cella type, or not a list)
// and, for a map list, its keys.
func listMerge(owner reflect.Type, field string) (listType string, keys []string) {
	m, ok := reflect.PointerTo(owner).MethodByName(modelNameMethod)
	if !ok || m.Type.NumIn() != 1 || m.Type.NumOut() != 1 || m.Type.Out(0).Kind() != reflect.String {
		return "", nil
	}
	sch := builtinSchema()
	if sch == nil {
		return "", nil
	}
	name := reflect.New(owner).MethodByName(modelNameMethod).Call(nil)[0].String()
	td, ok := sch.FindNamedType(name)
	if !ok || td.Map == nil {
		return "", nil
	}
	sf, ok := td.Map.FindField(field)
	if !ok {
		return "", nil
	}
	atom, ok := sch.Resolve(sf.Type)
	if !ok || atom.List == nil {
		return "", nil
	}
	switch atom.List.ElementRelationship {
	case smdschema.Associative:
		if len(atom.List.Keys) == 0 {
			return listTypeSet, nil
		}
		return listTypeMap, atom.List.Keys
	case smdschema.Separable:
		return listTypeSet, nil
	}
	return listTypeAtomic, nil
}
