package crd

import (
	"context"
	"fmt"
	"maps"
	"time"

	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"cella.dev/cella/internal/openapi"
	"cella.dev/cella/internal/registry"
	"cella.dev/cella/internal/storage"
)

// verbs of a custom resource, as kube-apiserver serves them.
var verbs = []string{"delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"}

// serving is what one definition serves: a Store per served version over
// one storage, and an Endpoint per served version.
type serving struct {
	endpoints []*registry.Endpoint
	// openAPI describes the served versions for the OpenAPI documents.
	openAPI []openapi.CustomResource
	// warnings are what the Manager should log: problems that left a
	// version served less well than its schema asks.
	warnings []error
}

// newStoreFunc makes a Store with the catalogue's shared rules
// (kinds.Catalog.NewStore).
type newStoreFunc func(r *registry.Resource, st storage.Interface) *registry.Store

// buildServing builds the Stores and Endpoints of crd's served versions on
// st. The names are the accepted ones; crd must have passed validation.
func buildServing(crd *apiextensionsv1.CustomResourceDefinition, st storage.Interface, newStore newStoreFunc, terminating func() bool) (*serving, error) {
	storageVersion, err := apihelpers.GetCRDStorageVersion(crd)
	if err != nil {
		return nil, err
	}
	names := crd.Status.AcceptedNames
	group := crd.Spec.Group
	out := &serving{}
	// One converter for every version: a field manager types the object
	// in the version of each managedFields entry.
	typeConverter, err := typeConverterFor(crd)
	if err != nil {
		out.warnings = append(out.warnings, err)
	}
	for _, v := range crd.Spec.Versions {
		if !v.Served {
			continue
		}
		ver, err := newVersion(crd, v.Name)
		if err != nil {
			return nil, fmt.Errorf("version %s: %w", v.Name, err)
		}
		served := schema.GroupVersionKind{Group: group, Version: v.Name, Kind: names.Kind}
		stored := schema.GroupVersion{Group: group, Version: storageVersion}
		r := ver.resource(crd, storageVersion, terminating)
		store := newStore(r, st)
		ep := &registry.Endpoint{
			Group: group, Version: v.Name, Kind: names.Kind, Store: store, Resource: r,
			New: func() runtime.Object {
				u := &unstructured.Unstructured{}
				u.SetGroupVersionKind(served)
				return u
			},
			NewList: func() runtime.Object {
				l := &unstructured.UnstructuredList{}
				l.SetGroupVersionKind(served.GroupVersion().WithKind(names.ListKind))
				return l
			},
			// Versions convert by apiVersion alone (conversion
			// strategy None); every read converts, since objects stored
			// under an earlier storage version keep their apiVersion,
			// and fills the served version's defaults, as kube-apiserver
			// defaults what it reads from storage: a default added to a
			// schema shows on the objects stored before.
			ToStored: setVersion(stored),
			FromStored: func(obj runtime.Object) (runtime.Object, error) {
				out, err := setVersion(served.GroupVersion())(obj)
				if err == nil {
					ver.applyDefaults(out.(*unstructured.Unstructured))
				}
				return out, err
			},
			Verbs:         verbs,
			TypeConverter: typeConverter,
			Prune:         ver.prune,
		}
		if ver.subresources != nil && ver.subresources.Status != nil {
			ep.Subresources = append(ep.Subresources, "status")
		}
		if ver.subresources != nil && ver.subresources.Scale != nil {
			ep.Subresources = append(ep.Subresources, "scale")
		}
		out.endpoints = append(out.endpoints, ep)
		out.openAPI = append(out.openAPI, ver.openAPI)
	}
	return out, nil
}

// setVersion returns a converter that sets an unstructured object's
// apiVersion to gv.
func setVersion(gv schema.GroupVersion) func(runtime.Object) (runtime.Object, error) {
	return func(obj runtime.Object) (runtime.Object, error) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return nil, fmt.Errorf("expected an unstructured object, got %T", obj)
		}
		u.SetAPIVersion(gv.String())
		return u, nil
	}
}

// version is one served version of a definition: its structural schema
// and the strategy of k8s.io/apiextensions-apiserver that validates it.
type version struct {
	name         string
	gv           schema.GroupVersion
	structural   *structuralschema.Structural // nil without a schema
	check        *validator
	subresources *apiextensionsv1.CustomResourceSubresources
	columns      []apiextensionsv1.CustomResourceColumnDefinition
	preserve     bool // spec.preserveUnknownFields
	// openAPI is the version as the OpenAPI documents describe it.
	openAPI openapi.CustomResource
}

func newVersion(crd *apiextensionsv1.CustomResourceDefinition, name string) (*version, error) {
	v := &version{
		name:     name,
		gv:       schema.GroupVersion{Group: crd.Spec.Group, Version: name},
		preserve: crd.Spec.PreserveUnknownFields,
	}
	var err error
	if v.subresources, err = apihelpers.GetSubresourcesForVersion(crd, name); err != nil {
		return nil, err
	}
	val, err := apihelpers.GetSchemaForVersion(crd, name)
	if err != nil {
		return nil, err
	}
	var props *apiextensions.JSONSchemaProps
	if val != nil {
		internal := &apiextensions.CustomResourceValidation{}
		if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(val, internal, nil); err != nil {
			return nil, err
		}
		props = internal.OpenAPIV3Schema
		if v.structural, err = structuralschema.NewStructural(props); err != nil {
			return nil, fmt.Errorf("the schema is not structural: %w", err)
		}
		v.structural = v.structural.DeepCopy()
		if err := structuraldefaulting.PruneDefaults(v.structural); err != nil {
			return nil, err
		}
	}
	v.check = &validator{structural: v.structural}
	if v.check.schema, _, err = apiservervalidation.NewSchemaValidator(props); err != nil {
		return nil, err
	}
	if v.subresources != nil && v.subresources.Status != nil && props != nil && props.Properties != nil {
		if st, ok := props.Properties["status"]; ok {
			if v.check.status, _, err = apiservervalidation.NewSchemaValidator(&st); err != nil {
				return nil, err
			}
		}
	}
	if v.subresources != nil {
		v.check.scale = v.subresources.Scale
	}
	if v.structural != nil {
		v.check.cel = cel.NewValidator(v.structural, true, celconfig.PerCallLimit)
	}
	for _, cv := range crd.Spec.Versions {
		if cv.Name == name {
			v.check.selectable = newSelectableFields(cv.SelectableFields)
			v.columns = cv.AdditionalPrinterColumns
		}
	}
	if len(v.columns) == 0 {
		// Kubernetes' default: the age of the object.
		v.columns = []apiextensionsv1.CustomResourceColumnDefinition{{
			Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp",
			Description: "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
		}}
	}
	if v.openAPI, err = openAPIResource(crd, name); err != nil {
		return nil, err
	}
	return v, nil
}

// prune drops the fields the schema does not know, returning their paths
// (the Endpoint's Prune). Definitions that preserve unknown fields, and
// versions without a schema, keep everything.
func (v *version) prune(obj runtime.Object) []string {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok || v.structural == nil || v.preserve {
		return nil
	}
	return structuralpruning.PruneWithOptions(u.Object, v.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
}

// resource is the registry.Resource of the version: the definition's
// names, scope and subresources with the version's rules. Objects are kept
// in the storage version.
func (v *version) resource(crd *apiextensionsv1.CustomResourceDefinition, storageVersion string, terminating func() bool) *registry.Resource {
	names := crd.Status.AcceptedNames
	storedGVK := schema.GroupVersionKind{Group: crd.Spec.Group, Version: storageVersion, Kind: names.Kind}
	r := &registry.Resource{
		Group: crd.Spec.Group, Version: storageVersion, Kind: names.Kind,
		Plural: names.Plural, Singular: names.Singular,
		Namespaced: crd.Spec.Scope == apiextensionsv1.NamespaceScoped,
		ShortNames: names.ShortNames, Categories: names.Categories,
		HasSpec:   true,
		HasStatus: v.subresources != nil && v.subresources.Status != nil,
		New: func() runtime.Object {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(storedGVK)
			return u
		},
		NewList: func() runtime.Object {
			l := &unstructured.UnstructuredList{}
			l.SetGroupVersionKind(storedGVK.GroupVersion().WithKind(names.ListKind))
			return l
		},
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			u := obj.(*unstructured.Unstructured)
			if v.subresources != nil && v.subresources.Status != nil {
				delete(u.Object, "status") // a create cannot set it
			}
			v.applyDefaults(u)
		},
		PrepareForUpdate: func(_ context.Context, obj, _ runtime.Object) {
			v.applyDefaults(obj.(*unstructured.Unstructured))
		},
		Validate: func(ctx context.Context, obj runtime.Object) field.ErrorList {
			return v.check.validate(ctx, obj.(*unstructured.Unstructured))
		},
		ValidateUpdate: func(ctx context.Context, obj, old runtime.Object) field.ErrorList {
			statusOnly := registry.SubresourceOf(ctx) == "status"
			return v.check.validateUpdate(ctx, obj.(*unstructured.Unstructured), old.(*unstructured.Unstructured), statusOnly)
		},
		AdmitWrite: func(_ context.Context, obj, old runtime.Object) error {
			if old == nil && terminating() {
				return methodNotAllowed(schema.GroupResource{Group: crd.Spec.Group, Resource: names.Plural})
			}
			return nil
		},
		Fields: func(obj runtime.Object) fields.Set {
			return v.check.fields(obj.(*unstructured.Unstructured))
		},
	}
	if sc := v.subresources; sc != nil && sc.Scale != nil {
		r.Scale = scaleFuncs(sc.Scale)
	}
	tableColumns(r, v.columns, time.Now)
	return r
}

// applyDefaults fills the schema's defaults, as kube-apiserver does when
// it decodes a custom resource.
func (v *version) applyDefaults(u *unstructured.Unstructured) {
	if v.structural != nil {
		structuraldefaulting.Default(u.Object, v.structural)
	}
}

// scaleFuncs reads and writes the replicas at the paths the scale
// subresource names.
func scaleFuncs(sc *apiextensionsv1.CustomResourceSubresourceScale) *registry.ScaleFuncs {
	spec, status := splitPath(sc.SpecReplicasPath), splitPath(sc.StatusReplicasPath)
	return &registry.ScaleFuncs{
		Get: func(obj runtime.Object) (int32, int32, string) {
			u := obj.(*unstructured.Unstructured)
			want, _, _ := unstructured.NestedInt64(u.Object, spec...)
			have, _, _ := unstructured.NestedInt64(u.Object, status...)
			var sel string
			if sc.LabelSelectorPath != nil {
				sel, _, _ = unstructured.NestedString(u.Object, splitPath(*sc.LabelSelectorPath)...)
			}
			return int32(want), int32(have), sel
		},
		Set: func(obj runtime.Object, replicas int32) {
			u := obj.(*unstructured.Unstructured)
			_ = unstructured.SetNestedField(u.Object, int64(replicas), spec...)
		},
	}
}

// typeConverterFor gives server-side apply the structure of crd's
// objects: the one each version's schema gives (list types and map keys,
// maps and atomic values, the metadata of every object), built from the
// definitions the OpenAPI documents publish, for every version (served or
// not, as managedFields entries may be of any), as kube-apiserver builds
// it. When the models cannot be built, objects merge by the deduced
// structure (maps merge by key, lists are atomic), kube-apiserver's
// fallback, and the error says why.
func typeConverterFor(crd *apiextensionsv1.CustomResourceDefinition) (managedfields.TypeConverter, error) {
	models := map[string]*spec.Schema{}
	var err error
	for _, v := range crd.Spec.Versions {
		var r openapi.CustomResource
		if r, err = openAPIResource(crd, v.Name); err != nil {
			break
		}
		var m map[string]*spec.Schema
		if m, err = openapi.ApplyModels(r); err != nil {
			break
		}
		maps.Copy(models, m)
	}
	if err == nil {
		var tc managedfields.TypeConverter
		if tc, err = managedfields.NewTypeConverter(models, crd.Spec.PreserveUnknownFields); err == nil {
			return tc, nil
		}
	}
	return managedfields.NewDeducedTypeConverter(), fmt.Errorf("server-side apply merges by the deduced structure, since the schemas could not be converted: %w", err)
}
