package openapi

import (
	"net/http"
	"slices"
	"strings"

	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Both documents declare bearer tokens, as kube-apiserver's do.
const securityName = "BearerToken"

var security = []map[string][]string{{securityName: {}}}

// renderV2 builds the Swagger 2.0 document: every route, every definition.
func renderV2(info Info, routes []route, b *schemaBuilder, f *flavor) *spec.Swagger {
	paths := make(map[string]spec.PathItem, len(routes))
	shared := map[string]spec.Parameter{}
	addV2Paths(paths, shared, routes, f)
	defs := make(spec.Definitions, len(b.defs))
	for name, s := range f.definitions(b.defs) {
		defs[name] = *s
	}
	return &spec.Swagger{SwaggerProps: spec.SwaggerProps{
		Swagger:     "2.0",
		Info:        &spec.Info{InfoProps: spec.InfoProps{Title: info.Title, Version: info.Version}},
		Paths:       &spec.Paths{Paths: paths},
		Definitions: defs,
		Parameters:  shared,
		SecurityDefinitions: spec.SecurityDefinitions{securityName: &spec.SecurityScheme{SecuritySchemeProps: spec.SecuritySchemeProps{
			Type: "apiKey", Name: "authorization", In: "header", Description: "Bearer Token authentication",
		}}},
		Security: security,
	}}
}

// addV2Paths adds the path items of routes to paths, and the parameters
// they share to shared.
func addV2Paths(paths map[string]spec.PathItem, shared map[string]spec.Parameter, routes []route, f *flavor) {
	for _, rt := range routes {
		item := spec.PathItem{}
		for _, p := range rt.params {
			item.Parameters = append(item.Parameters, v2Param(p))
		}
		for i := range rt.ops {
			o := &rt.ops[i]
			op := &spec.Operation{OperationProps: spec.OperationProps{
				ID:          o.id,
				Description: o.description,
				Tags:        []string{o.tag},
				Consumes:    o.consumes,
				Produces:    o.produces,
				Responses:   &spec.Responses{ResponsesProps: spec.ResponsesProps{StatusCodeResponses: map[int]spec.Response{}}},
			}}
			if o.body != "" {
				op.Parameters = append(op.Parameters, spec.Parameter{ParamProps: spec.ParamProps{
					Name: "body", In: "body", Required: o.method != http.MethodDelete,
					Schema: f.refSchema(o.body),
				}})
			}
			for _, p := range o.params {
				if p.shared == "" {
					op.Parameters = append(op.Parameters, v2Param(p))
					continue
				}
				shared[p.shared] = v2Param(p)
				op.Parameters = append(op.Parameters, spec.Parameter{Refable: spec.Refable{Ref: spec.MustCreateRef("#/parameters/" + p.shared)}})
			}
			for _, r := range o.responses {
				op.Responses.StatusCodeResponses[r.code] = spec.Response{ResponseProps: spec.ResponseProps{
					Description: r.description, Schema: v2ResponseSchema(f, r.schema),
				}}
			}
			op.Responses.StatusCodeResponses[http.StatusUnauthorized] = spec.Response{ResponseProps: spec.ResponseProps{Description: "Unauthorized"}}
			addOperationExtensions(&op.VendorExtensible, o)
			setV2Method(&item, o.method, op)
		}
		paths[rt.path] = item
	}
}

func v2Param(p param) spec.Parameter {
	return spec.Parameter{
		ParamProps:   spec.ParamProps{Name: p.name, In: p.in, Description: p.description, Required: p.required},
		SimpleSchema: spec.SimpleSchema{Type: p.typ},
		// go-restful marks every parameter so; kube-apiserver's documents
		// carry it.
		CommonValidations: spec.CommonValidations{UniqueItems: true},
	}
}

func v2ResponseSchema(f *flavor, name string) *spec.Schema {
	if name == "" {
		return &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"string"}}}
	}
	return f.refSchema(name)
}

func addOperationExtensions(v *spec.VendorExtensible, o *operation) {
	if o.action != "" {
		v.AddExtension(extAction, o.action)
	}
	if o.gvk.Kind != "" {
		v.AddExtension(extGVK, o.gvk.extension())
	}
}

func setV2Method(item *spec.PathItem, method string, op *spec.Operation) {
	switch method {
	case http.MethodGet:
		item.Get = op
	case http.MethodPut:
		item.Put = op
	case http.MethodPost:
		item.Post = op
	case http.MethodDelete:
		item.Delete = op
	case http.MethodPatch:
		item.Patch = op
	}
}

// renderV3 builds the OpenAPI 3.0 document of one group-version: its routes
// and the definitions they reach. defs are all definitions in v3 form, and
// deps gives the names each refers to directly.
func renderV3(info Info, routes []route, f *flavor, defs map[string]*spec.Schema, deps func(string) []string) *spec3.OpenAPI {
	paths := make(map[string]*spec3.Path, len(routes))
	shared := map[string]*spec3.Parameter{}
	var roots []string
	for _, rt := range routes {
		item := &spec3.Path{}
		for _, p := range rt.params {
			item.Parameters = append(item.Parameters, v3Param(p))
		}
		for i := range rt.ops {
			o := &rt.ops[i]
			roots = append(roots, o.defs()...)
			op := &spec3.Operation{OperationProps: spec3.OperationProps{
				OperationId: o.id,
				Description: o.description,
				Tags:        []string{o.tag},
				Responses: &spec3.Responses{ResponsesProps: spec3.ResponsesProps{
					StatusCodeResponses: make(map[int]*spec3.Response, len(o.responses)+1),
				}},
			}}
			for _, p := range o.params {
				if p.shared == "" {
					op.Parameters = append(op.Parameters, v3Param(p))
					continue
				}
				shared[p.shared] = v3Param(p)
				op.Parameters = append(op.Parameters, &spec3.Parameter{Refable: spec.Refable{Ref: spec.MustCreateRef("#/components/parameters/" + p.shared)}})
			}
			if o.body != "" {
				op.RequestBody = &spec3.RequestBody{RequestBodyProps: spec3.RequestBodyProps{
					Content:  v3Content(o.consumes, f.refSchema(o.body)),
					Required: o.method != http.MethodDelete,
				}}
			}
			for _, r := range o.responses {
				s := &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"string"}}}
				if r.schema != "" {
					s = f.refSchema(r.schema)
				}
				op.Responses.StatusCodeResponses[r.code] = &spec3.Response{ResponseProps: spec3.ResponseProps{
					Description: r.description, Content: v3Content(o.produces, s),
				}}
			}
			op.Responses.StatusCodeResponses[http.StatusUnauthorized] = &spec3.Response{ResponseProps: spec3.ResponseProps{Description: "Unauthorized"}}
			addOperationExtensions(&op.VendorExtensible, o)
			setV3Method(item, o.method, op)
		}
		paths[rt.path] = item
	}
	schemas := map[string]*spec.Schema{}
	for _, name := range closure(roots, deps) {
		schemas[name] = defs[name]
	}
	return &spec3.OpenAPI{
		Version: "3.0.0",
		Info:    &spec.Info{InfoProps: spec.InfoProps{Title: info.Title, Version: info.Version}},
		Paths:   &spec3.Paths{Paths: paths},
		Components: &spec3.Components{
			Schemas:    schemas,
			Parameters: shared,
			SecuritySchemes: spec3.SecuritySchemes{securityName: &spec3.SecurityScheme{SecuritySchemeProps: spec3.SecuritySchemeProps{
				Type: "apiKey", Name: "authorization", In: "header", Description: "Bearer Token authentication",
			}}},
		},
		SecurityRequirement: security,
	}
}

func v3Param(p param) *spec3.Parameter {
	return &spec3.Parameter{ParameterProps: spec3.ParameterProps{
		Name: p.name, In: p.in, Description: p.description, Required: p.required,
		Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{p.typ}, UniqueItems: true}},
	}}
}

func v3Content(mediaTypes []string, s *spec.Schema) map[string]*spec3.MediaType {
	out := make(map[string]*spec3.MediaType, len(mediaTypes))
	for _, m := range mediaTypes {
		out[m] = &spec3.MediaType{MediaTypeProps: spec3.MediaTypeProps{Schema: s}}
	}
	return out
}

func setV3Method(item *spec3.Path, method string, op *spec3.Operation) {
	switch method {
	case http.MethodGet:
		item.Get = op
	case http.MethodPut:
		item.Put = op
	case http.MethodPost:
		item.Post = op
	case http.MethodDelete:
		item.Delete = op
	case http.MethodPatch:
		item.Patch = op
	}
}

// closure returns the definitions reachable from roots, sorted.
func closure(roots []string, deps func(string) []string) []string {
	seen := map[string]bool{}
	stack := slices.Clone(roots)
	for len(stack) > 0 {
		name := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[name] {
			continue
		}
		seen[name] = true
		stack = append(stack, deps(name)...)
	}
	out := make([]string, 0, len(seen))
	for name := range seen {
		out = append(out, name)
	}
	slices.SortFunc(out, strings.Compare)
	return out
}
