package openapi

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Vendor extensions this package writes.
const (
	extGVK             = "x-kubernetes-group-version-kind"
	extAction          = "x-kubernetes-action"
	extPatchStrategy   = "x-kubernetes-patch-strategy"
	extPatchMergeKey   = "x-kubernetes-patch-merge-key"
	extIntOrString     = "x-kubernetes-int-or-string"
	extPreserveUnknown = "x-kubernetes-preserve-unknown-fields"
	formatIntOrString  = "int-or-string"
)

// The methods below are how Kubernetes types with a custom JSON form
// (metav1.Time, resource.Quantity, intstr.IntOrString, metav1.Duration)
// describe themselves; openapi-gen reads them too.
type (
	schemaTyper interface {
		OpenAPISchemaType() []string
	}
	schemaFormatter interface {
		OpenAPISchemaFormat() string
	}
	oneOfTyper interface {
		OpenAPIV3OneOfTypes() []string
	}
	swaggerDocer interface {
		SwaggerDoc() map[string]string
	}
)

var (
	timeType       = reflect.TypeFor[time.Time]()
	durationType   = reflect.TypeFor[time.Duration]()
	rawMessageType = reflect.TypeFor[json.RawMessage]()
)

// gvk is a group-version-kind as the x-kubernetes-group-version-kind
// extension spells it.
type gvk struct {
	Group, Version, Kind string
}

func (g gvk) extension() map[string]any {
	return map[string]any{"group": g.Group, "version": g.Version, "kind": g.Kind}
}

// node is a schema in a form both document formats are rendered from
// (see flavor). It is either a reference to a definition, with at most a
// description and patch extensions beside it, or a type.
type node struct {
	ref         *definition
	typ, format string
	// oneOf, if set, replaces typ in OpenAPI v3 (OpenAPIV3OneOfTypes).
	oneOf       []string
	description string
	items       *node            // of an array
	values      *node            // of a map
	props       map[string]*node // of an object
	// patchStrategy and patchMergeKey come from the struct tags of a field.
	patchStrategy, patchMergeKey string
	// owner and field name the struct field a list node is, so that how
	// it merges is looked up when a document is rendered (lists.go), not
	// at startup.
	owner           reflect.Type
	field           string
	preserveUnknown bool
	intOrString     bool
	// requiredInParent marks a field its struct requires. Go types carry no
	// +required markers at run time, so this follows the API conventions:
	// a field without omitempty that is not a pointer is required.
	requiredInParent bool
}

// definition is the schema of one named Go struct type.
type definition struct {
	name   string
	goType reflect.Type
	schema *node
	// deps are the names of the definitions this one refers to directly,
	// sorted.
	deps []string
	// gvks are the kinds served with this type, set by finish.
	gvks []gvk
}

// schemaBuilder turns Go types into definitions by reflection. It is used by
// one goroutine during New; its definitions do not change after.
type schemaBuilder struct {
	namer  namer
	defs   map[string]*definition
	byType map[reflect.Type]*definition
	errs   []error
	// sealed, once set, makes define of a type not yet defined panic, so
	// that a builder shared between goroutines is only read.
	sealed bool
}

func newSchemaBuilder(n namer) *schemaBuilder {
	return &schemaBuilder{
		namer:  n,
		defs:   map[string]*definition{},
		byType: map[reflect.Type]*definition{},
	}
}

// define returns the definition of the struct type t, building it (and
// everything it refers to) on first use. A type is registered before its
// fields are walked, so recursive types end in a reference to themselves.
func (b *schemaBuilder) define(t reflect.Type) *definition {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if d, ok := b.byType[t]; ok {
		return d
	}
	if b.sealed {
		panic(fmt.Sprintf("openapi: %v is not defined in a sealed schema builder", t))
	}
	name := b.namer.name(t)
	if other, ok := b.defs[name]; ok {
		b.errs = append(b.errs, fmt.Errorf("openapi: types %v and %v both have the definition name %q", other.goType, t, name))
	}
	d := &definition{name: name, goType: t}
	b.defs[name] = d
	b.byType[t] = d

	docs := swaggerDoc(t)
	if typ, ok := implements[schemaTyper](t); ok {
		d.schema = customSchema(typ.OpenAPISchemaType(), t)
	} else {
		var deps []string
		d.schema = b.objectSchema(t, docs, &deps)
		slices.Sort(deps)
		d.deps = slices.Compact(deps)
	}
	d.schema.description = docs[""]
	return d
}

// customSchema is the schema of a type that names its own JSON type.
func customSchema(types []string, t reflect.Type) *node {
	n := &node{}
	if len(types) == 1 {
		n.typ = types[0]
	}
	if f, ok := implements[schemaFormatter](t); ok {
		n.format = f.OpenAPISchemaFormat()
	}
	if o, ok := implements[oneOfTyper](t); ok {
		n.oneOf = o.OpenAPIV3OneOfTypes()
	}
	n.intOrString = n.format == formatIntOrString
	return n
}

// implements reports whether t or *t has the method set of I, returning a
// zero value to call it on. It allocates only when it does.
func implements[I any](t reflect.Type) (I, bool) {
	if !reflect.PointerTo(t).Implements(reflect.TypeFor[I]()) {
		var none I
		return none, false
	}
	return reflect.New(t).Interface().(I), true
}

// swaggerDoc returns the descriptions of t and its fields, by JSON name.
func swaggerDoc(t reflect.Type) map[string]string {
	if d, ok := implements[swaggerDocer](t); ok {
		return d.SwaggerDoc()
	}
	return missingDocs[t]
}

// missingDocs describes the apimachinery types that have no SwaggerDoc
// method (openapi-gen reads their Go comments instead, which reflection
// cannot).
var missingDocs = map[reflect.Type]map[string]string{
	reflect.TypeFor[metav1.Time](): {
		"": "Time is a timestamp in RFC 3339 form, to the second, e.g. \"2024-01-02T15:04:05Z\".",
	},
	reflect.TypeFor[metav1.MicroTime](): {
		"": "MicroTime is a timestamp in RFC 3339 form, to the microsecond, e.g. \"2024-01-02T15:04:05.000001Z\".",
	},
	reflect.TypeFor[metav1.Duration](): {
		"": "Duration is a length of time in Go's notation, e.g. \"90s\" or \"1h30m\".",
	},
	reflect.TypeFor[resource.Quantity](): {
		"": "Quantity is a decimal number with an optional suffix: a binary one (Ki, Mi, Gi, Ti, Pi, Ei), " +
			"a decimal one (m, k, M, G, T, P, E) or an exponent (e3, E-2), e.g. \"250m\", \"1.5\", \"128Mi\". " +
			"The server stores it in canonical form, which may be written differently from what was sent.",
	},
	reflect.TypeFor[intstr.IntOrString](): {
		"": "IntOrString holds either an integer or a string, e.g. a port number or a port name, or a count or a percentage.",
	},
	reflect.TypeFor[runtime.RawExtension](): {
		"": "RawExtension holds a complete embedded object, with its own apiVersion and kind.",
	},
	reflect.TypeFor[metav1.WatchEvent](): {
		"":       "WatchEvent is one event of a watch stream.",
		"type":   "Type of the event: ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.",
		"object": "Object is the object that changed; for ERROR, a Status; for BOOKMARK, an object of the watched kind that carries only metadata.resourceVersion.",
	},
}

// objectSchema describes a struct as encoding/json writes it. docs is the
// struct's SwaggerDoc.
func (b *schemaBuilder) objectSchema(t reflect.Type, docs map[string]string, deps *[]string) *node {
	n := &node{typ: "object", props: make(map[string]*node, t.NumField())}
	b.collectFields(t, docs, n.props, map[string]int{}, nil, deps)
	return n
}

// collectFields adds the JSON fields of struct t to props, flattening
// embedded structs that have no JSON name, as encoding/json does; as there,
// the shallowest field of a name wins (of two at one depth, the first).
// depths records the depth of each field in props. embedding holds the
// embedded types on the current path (its length is the depth), which also
// stops a type embedding itself through a pointer.
func (b *schemaBuilder) collectFields(t reflect.Type, docs map[string]string, props map[string]*node, depths map[string]int, embedding []reflect.Type, deps *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			et := ft
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				if !slices.Contains(embedding, et) {
					b.collectFields(et, swaggerDoc(et), props, depths, append(embedding, et), deps)
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if d, ok := depths[name]; ok && d <= len(embedding) {
			continue
		}
		n := b.schemaOf(ft, deps)
		if n == nil {
			continue
		}
		if hasOption(opts, "string") && isScalar(ft) {
			n = &node{typ: "string"}
		}
		n.description = docs[name]
		n.requiredInParent = !hasOption(opts, "omitempty") && ft.Kind() != reflect.Pointer && name != "apiVersion" && name != "kind"
		n.patchStrategy = f.Tag.Get("patchStrategy")
		n.patchMergeKey = f.Tag.Get("patchMergeKey")
		if n.typ == "array" {
			n.owner, n.field = t, name
		}
		props[name] = n
		depths[name] = len(embedding)
	}
}

func hasOption(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

func isScalar(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	}
	return false
}

// schemaOf returns a new schema of a value of type t: a reference for named
// structs, an inline schema otherwise. It returns nil for types
// encoding/json cannot write (channels, functions, complex numbers).
func (b *schemaBuilder) schemaOf(t reflect.Type, deps *[]string) *node {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case rawMessageType:
		return freeForm()
	case timeType:
		return &node{typ: "string", format: "date-time"}
	case durationType:
		return &node{typ: "integer", format: "int64"}
	}
	if t.Kind() != reflect.Struct && t.Name() != "" {
		// Named scalars such as corev1.Protocol are inlined, as in
		// kube-apiserver's documents, unless they describe themselves.
		if typ, ok := implements[schemaTyper](t); ok {
			return customSchema(typ.OpenAPISchemaType(), t)
		}
	}
	switch t.Kind() {
	case reflect.Struct:
		if t.Name() == "" {
			return b.objectSchema(t, nil, deps)
		}
		d := b.define(t)
		*deps = append(*deps, d.name)
		return &node{ref: d}
	case reflect.Interface:
		return freeForm()
	case reflect.Bool:
		return &node{typ: "boolean"}
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16:
		return &node{typ: "integer", format: "int32"}
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return &node{typ: "integer", format: "int64"}
	case reflect.Float32:
		return &node{typ: "number", format: "float"}
	case reflect.Float64:
		return &node{typ: "number", format: "double"}
	case reflect.String:
		return &node{typ: "string"}
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			return &node{typ: "string", format: "byte"}
		}
		items := b.schemaOf(t.Elem(), deps)
		if items == nil {
			return nil
		}
		return &node{typ: "array", items: items}
	case reflect.Map:
		if t.Elem().Kind() == reflect.Interface {
			return freeForm()
		}
		values := b.schemaOf(t.Elem(), deps)
		if values == nil {
			return nil
		}
		return &node{typ: "object", values: values}
	}
	return nil
}

// freeForm is the schema of a value whose shape Go does not tell (any,
// json.RawMessage): an object whose fields are kept as sent.
func freeForm() *node {
	return &node{typ: "object", preserveUnknown: true}
}

// finish records the group-version-kinds served with each definition.
// kinds lists them per definition name.
func (b *schemaBuilder) finish(kinds map[string][]gvk) {
	for name, gvks := range kinds {
		if d := b.defs[name]; d != nil {
			d.gvks = gvks
		}
	}
}
