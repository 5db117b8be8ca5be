package openapi

import (
	"slices"
	"strings"

	"k8s.io/kube-openapi/pkg/validation/spec"
)

// flavor writes nodes as the schemas of one document format. Swagger 2.0
// refers to "#/definitions/NAME" and puts a field's description beside its
// $ref. OpenAPI 3.0 refers to "#/components/schemas/NAME" and, since it
// ignores the siblings of $ref, wraps a reference that has any in allOf, as
// kube-apiserver does; it also writes OpenAPIV3OneOfTypes as oneOf.
//
// A flavor is only read once made, so documents may render concurrently.
type flavor struct {
	v3 bool
	// refs holds the reference to every definition the flavor was made
	// for; ref makes the others' (custom resources').
	refs map[string]spec.Ref
}

func newFlavor(v3 bool, defs map[string]*definition) *flavor {
	f := &flavor{v3: v3, refs: make(map[string]spec.Ref, len(defs))}
	for name := range defs {
		f.refs[name] = spec.MustCreateRef(f.prefix() + escapeJSONPointer(name))
	}
	return f
}

func (f *flavor) prefix() string {
	if f.v3 {
		return "#/components/schemas/"
	}
	return "#/definitions/"
}

// ref is the reference to the definition name.
func (f *flavor) ref(name string) spec.Ref {
	if r, ok := f.refs[name]; ok {
		return r
	}
	return spec.MustCreateRef(f.prefix() + escapeJSONPointer(name))
}

func escapeJSONPointer(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// refSchema is a bare reference to a definition.
func (f *flavor) refSchema(name string) *spec.Schema {
	return &spec.Schema{SchemaProps: spec.SchemaProps{Ref: f.ref(name)}}
}

// definitions renders every definition.
func (f *flavor) definitions(defs map[string]*definition) map[string]*spec.Schema {
	out := make(map[string]*spec.Schema, len(defs))
	for name, d := range defs {
		s := f.schema(d.schema)
		if len(d.gvks) > 0 {
			ext := make([]any, len(d.gvks))
			for i, g := range d.gvks {
				ext[i] = g.extension()
			}
			s.AddExtension(extGVK, ext)
		}
		out[name] = &s
	}
	return out
}

func (f *flavor) schema(n *node) spec.Schema {
	var s spec.Schema
	s.Description = n.description
	if n.patchStrategy != "" {
		s.AddExtension(extPatchStrategy, n.patchStrategy)
	}
	if n.patchMergeKey != "" {
		s.AddExtension(extPatchMergeKey, n.patchMergeKey)
	}
	if n.owner != nil {
		if lt, keys := listMerge(n.owner, n.field); lt != "" {
			s.AddExtension(extListType, lt)
			if len(keys) > 0 {
				s.AddExtension(extListMapKeys, keys)
			}
		}
	}
	if n.ref != nil {
		ref := f.refs[n.ref.name]
		if f.v3 && (s.Description != "" || len(s.Extensions) > 0) {
			s.AllOf = []spec.Schema{{SchemaProps: spec.SchemaProps{Ref: ref}}}
		} else {
			s.Ref = ref
		}
		return s
	}
	if f.v3 && len(n.oneOf) > 0 {
		s.OneOf = make([]spec.Schema, len(n.oneOf))
		for i, t := range n.oneOf {
			s.OneOf[i].Type = spec.StringOrArray{t}
		}
	} else if n.typ != "" {
		s.Type = spec.StringOrArray{n.typ}
	}
	s.Format = n.format
	if n.items != nil {
		items := f.schema(n.items)
		s.Items = &spec.SchemaOrArray{Schema: &items}
	}
	if n.values != nil {
		values := f.schema(n.values)
		s.AdditionalProperties = &spec.SchemaOrBool{Allows: true, Schema: &values}
	}
	if len(n.props) > 0 {
		s.Properties = make(map[string]spec.Schema, len(n.props))
		for name, p := range n.props {
			s.Properties[name] = f.schema(p)
			if p.requiredInParent {
				s.Required = append(s.Required, name)
			}
		}
		slices.Sort(s.Required)
	}
	if n.preserveUnknown {
		s.AddExtension(extPreserveUnknown, true)
	}
	if n.intOrString {
		s.AddExtension(extIntOrString, true)
	}
	return s
}
