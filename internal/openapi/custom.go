package openapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// CustomResource is one served version of a custom resource: a kind
// described by a schema rather than a Go type, as a
// CustomResourceDefinition gives it.
type CustomResource struct {
	// Group and Version are the API group (with a dot) and the version.
	Group, Version string
	// Kind and ListKind are the kinds of one object and of a list.
	Kind, ListKind string
	// Resource is the plural, lower-case name in paths.
	Resource string
	// Namespaced reports whether the objects live in namespaces.
	Namespaced bool
	// Verbs are the verbs served, as for Resource.
	Verbs []string
	// Status and Scale report the status and scale subresources.
	Status, Scale bool
	// Schema is the version's openAPIV3Schema in kube-openapi form, as
	// k8s.io/apiextensions-apiserver's Structural.Unfold().ToKubeOpenAPI()
	// gives it; nil when the version has none. It is only read.
	Schema *spec.Schema
	// PreserveUnknownFields is the definition's
	// spec.preserveUnknownFields.
	PreserveUnknownFields bool
}

// kindName and listName are the definition names kube-apiserver gives a
// custom resource's kinds: the group reversed, the version, the kind.
func (c CustomResource) kindName() string {
	return reverseDomain(c.Group) + "." + c.Version + "." + c.Kind
}

func (c CustomResource) listName() string {
	return reverseDomain(c.Group) + "." + c.Version + "." + c.ListKind
}

func validateCustom(rs []CustomResource) error {
	var errs []error
	for i, r := range rs {
		where := fmt.Sprintf("custom resource %d (%s/%s %s)", i, r.Group, r.Version, r.Resource)
		if r.Group == "" || r.Version == "" || r.Kind == "" || r.ListKind == "" || r.Resource == "" {
			errs = append(errs, fmt.Errorf("openapi: %s: Group, Version, Kind, ListKind and Resource are required", where))
		}
		for _, s := range []string{r.Group, r.Version, r.Kind, r.ListKind, r.Resource} {
			if strings.ContainsAny(s, "/{}~") {
				errs = append(errs, fmt.Errorf("openapi: %s: names must not contain '/', '{', '}' or '~'", where))
				break
			}
		}
		for _, v := range r.Verbs {
			if !slices.Contains(knownVerbs, v) {
				errs = append(errs, fmt.Errorf("openapi: %s: unknown verb %q", where, v))
			}
		}
	}
	return errors.Join(errs...)
}

// customResource is a CustomResource with its definitions, in both forms.
type customResource struct {
	CustomResource
	v2, v3 map[string]*spec.Schema // the kind's and the list's
}

func newCustomResource(cr CustomResource) (*customResource, error) {
	c := &customResource{CustomResource: cr}
	var err error
	if c.v2, err = customDefinitions(cr, false); err != nil {
		return nil, err
	}
	if c.v3, err = customDefinitions(cr, true); err != nil {
		return nil, err
	}
	return c, nil
}

// deps lists the definitions those of c refer to.
func (c *customResource) deps() map[string][]string {
	return map[string][]string{
		c.kindName(): {objectMetaName},
		c.listName(): {c.kindName(), listMetaName},
	}
}

// Definition names of the meta/v1 types a custom resource refers to.
const (
	objectMetaName = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
	listMetaName   = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
)

var (
	typeMetaDocs    = metav1.TypeMeta{}.SwaggerDoc()
	objectMetaDoc   = metav1.PartialObjectMetadata{}.SwaggerDoc()["metadata"]
	listMetaDoc     = metav1.PartialObjectMetadataList{}.SwaggerDoc()["metadata"]
	typeScale       = reflect.TypeFor[autoscalingv1.Scale]()
	typeObjectMeta  = reflect.TypeFor[metav1.ObjectMeta]()
	typeListMeta    = reflect.TypeFor[metav1.ListMeta]()
	apiConventions  = "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
	extEmbedded     = "x-kubernetes-embedded-resource"
	descriptionList = "List of %s. More info: " + apiConventions
)

// customDefinitions builds the definitions of cr's kind and list kind as
// kube-apiserver's apiextensions-apiserver does: the version's schema with
// apiVersion, kind and metadata (a reference to ObjectMeta) added, and
// the same for every embedded resource, marked with the kind. Swagger 2.0
// gets the schema converted to what v2 clients can read (toV2), or, when
// unknown fields are kept at the root, a bare object, since kubectl would
// refuse the fields a v2 schema does not name.
func customDefinitions(cr CustomResource, v3 bool) (map[string]*spec.Schema, error) {
	f := &flavor{v3: v3}
	var kind *spec.Schema
	switch {
	case cr.Schema == nil, !v3 && (cr.PreserveUnknownFields || preservesUnknown(cr.Schema)):
		kind = &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}}}
	default:
		var err error
		if kind, err = copySchema(cr.Schema); err != nil {
			return nil, fmt.Errorf("openapi: the schema of %s/%s %s: %w", cr.Group, cr.Version, cr.Kind, err)
		}
		if !v3 {
			toV2(kind)
		}
		kind.SetProperty("metadata", refWithDescription(f, objectMetaName, objectMetaDoc))
		addTypeMeta(kind)
		addEmbeddedMeta(kind, f, v3)
	}
	kind.AddExtension(extGVK, []any{gvk{cr.Group, cr.Version, cr.Kind}.extension()})

	list := &spec.Schema{SchemaProps: spec.SchemaProps{
		Type:        spec.StringOrArray{"object"},
		Description: cr.ListKind + " is a list of " + cr.Kind,
		Required:    []string{"items"},
		Properties: map[string]spec.Schema{
			"items": {SchemaProps: spec.SchemaProps{
				Type:        spec.StringOrArray{"array"},
				Description: fmt.Sprintf(descriptionList, cr.Resource),
				Items:       &spec.SchemaOrArray{Schema: f.refSchema(cr.kindName())},
			}},
			"metadata": refWithDescription(f, listMetaName, listMetaDoc),
		},
	}}
	addTypeMeta(list)
	list.AddExtension(extGVK, []any{gvk{cr.Group, cr.Version, cr.ListKind}.extension()})
	return map[string]*spec.Schema{cr.kindName(): kind, cr.listName(): list}, nil
}

// refWithDescription is a reference with a description beside it, as
// kube-apiserver writes metadata in the schemas of custom resources (in
// both forms: it does not wrap it in allOf there).
func refWithDescription(f *flavor, name, description string) spec.Schema {
	return spec.Schema{SchemaProps: spec.SchemaProps{Ref: f.ref(name), Description: description}}
}

func addTypeMeta(s *spec.Schema) {
	for _, name := range []string{"apiVersion", "kind"} {
		s.SetProperty(name, spec.Schema{SchemaProps: spec.SchemaProps{
			Type: spec.StringOrArray{"string"}, Description: typeMetaDocs[name],
		}})
	}
}

// addEmbeddedMeta gives every x-kubernetes-embedded-resource below s
// apiVersion, kind and metadata, the first two required, as kube-apiserver
// does; in v2 not where unknown fields are kept, since kubectl would then
// refuse the unknown ones.
func addEmbeddedMeta(s *spec.Schema, f *flavor, v3 bool) {
	if s == nil {
		return
	}
	for name, p := range s.Properties {
		addEmbeddedMeta(&p, f, v3)
		s.Properties[name] = p
	}
	if s.Items != nil {
		addEmbeddedMeta(s.Items.Schema, f, v3)
	}
	if s.AdditionalProperties != nil {
		addEmbeddedMeta(s.AdditionalProperties.Schema, f, v3)
	}
	if !v3 && preservesUnknown(s) {
		return
	}
	if embedded, _ := s.Extensions.GetBool(extEmbedded); !embedded {
		return
	}
	addTypeMeta(s)
	s.SetProperty("metadata", refWithDescription(f, objectMetaName, objectMetaDoc))
	for _, name := range []string{"kind", "apiVersion"} {
		if !slices.Contains(s.Required, name) {
			s.Required = append(s.Required, name)
		}
	}
}

func preservesUnknown(s *spec.Schema) bool {
	keep, _ := s.Extensions.GetBool(extPreserveUnknown)
	return keep
}

// copySchema returns a deep copy of s.
func copySchema(s *spec.Schema) (*spec.Schema, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	out := &spec.Schema{}
	if err := json.Unmarshal(data, out); err != nil {
		return nil, err
	}
	return out, nil
}

// toV2 turns an OpenAPI v3 schema of a custom resource into one Swagger 2.0
// clients (kubectl's v2 validation and explain) can read, following the
// rules of kube-apiserver's apiextensions-apiserver: Swagger 2.0 has no
// allOf/oneOf/anyOf/not as it uses them, nor nullable, so those go; a
// nullable value loses its type, items and properties (it may be null,
// which no v2 type admits), and is no longer required in its parent; a
// value that keeps unknown fields loses its items and properties (kubectl
// would refuse fields they do not name) and, when an object, its type; an
// array without items loses its type; and defaults go, as they go from
// every v2 definition.
func toV2(s *spec.Schema) {
	if s == nil {
		return
	}
	s.AllOf, s.OneOf, s.AnyOf, s.Not = nil, nil, nil, nil
	s.Default = nil
	if s.Nullable {
		s.Type, s.Nullable = nil, false
		s.Items, s.Properties = nil, nil
	}
	keep := preservesUnknown(s)
	if keep {
		s.Items, s.Properties = nil, nil
	}
	if s.Items == nil && s.Type.Contains("array") {
		s.Type = nil
	}
	if keep && s.Type.Contains("object") {
		s.Type = nil
	}
	for name, p := range s.Properties {
		if p.Nullable {
			s.Required = slices.DeleteFunc(s.Required, func(r string) bool { return r == name })
		}
	}
	if ap := s.AdditionalProperties; ap != nil && ap.Schema != nil && ap.Schema.Nullable {
		s.Required = nil
	}
	if len(s.Required) == 0 {
		s.Required = nil
	}
	for name, p := range s.Properties {
		toV2(&p)
		s.Properties[name] = p
	}
	if s.Items != nil {
		toV2(s.Items.Schema)
		for i := range s.Items.Schemas {
			toV2(&s.Items.Schemas[i])
		}
	}
	if s.AdditionalProperties != nil {
		toV2(s.AdditionalProperties.Schema)
	}
}

// metaModels are the definitions the documents of custom resources refer
// to beyond their own: the meta/v1 types of metadata and of the
// operations, and autoscaling/v1 Scale. They are the same types, with the
// same names, that New reflects for built-in resources, reflected once
// for every Documents and for ApplyModels.
type metaModels struct {
	// b is sealed: defining a type it lacks panics, so that it can be
	// read concurrently.
	b *schemaBuilder
	// render gives the definitions in Swagger 2.0 and OpenAPI 3.0 form.
	render func() (v2, v3 map[string]*spec.Schema)
}

var sharedMeta = sync.OnceValue(func() *metaModels {
	b := newSchemaBuilder(newNamer(nil))
	for _, t := range []reflect.Type{typeObjectMeta, typeListMeta, typeStatus, typeDeleteOptions, typePatch, typeWatchEvent, typeAPIResourceList, typeScale} {
		b.define(t)
	}
	b.finish(map[string][]gvk{
		b.byType[typeStatus].name: {{"", "v1", "Status"}},
		b.byType[typeScale].name:  {{"autoscaling", "v1", "Scale"}},
	})
	b.sealed = true
	return &metaModels{b: b, render: sync.OnceValues(func() (map[string]*spec.Schema, map[string]*spec.Schema) {
		return newFlavor(false, b.defs).definitions(b.defs), newFlavor(true, b.defs).definitions(b.defs)
	})}
})

func (m *metaModels) deps(name string) []string {
	if d := m.b.defs[name]; d != nil {
		return d.deps
	}
	return nil
}

// ApplyModels returns what server-side apply needs to merge the objects
// of cr by their schema (the models of
// k8s.io/apimachinery/pkg/util/managedfields.NewTypeConverter): the
// definitions of its kind and list kind, marked with their
// group-version-kinds, and those of ObjectMeta and ListMeta and what they
// refer to, all in OpenAPI 3.0 form, as kube-apiserver builds them for
// apply (v3 keeps nullable and the fields of objects that keep unknown
// ones, which the v2 form drops).
func ApplyModels(cr CustomResource) (map[string]*spec.Schema, error) {
	if err := validateCustom([]CustomResource{cr}); err != nil {
		return nil, err
	}
	out, err := customDefinitions(cr, true)
	if err != nil {
		return nil, err
	}
	m := sharedMeta()
	_, v3 := m.render()
	for _, name := range closure([]string{objectMetaName, listMetaName}, m.deps) {
		out[name] = v3[name]
	}
	return out, nil
}
