package openapi

import (
	"fmt"
	"hash/fnv"
	"net/http"
	"reflect"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Media types named in operations. They are what Cella serves, which is less
// than kube-apiserver: no protobuf or CBOR objects, and no
// application/apply-patch+yaml until server-side apply exists.
var (
	mediaObjects = []string{"application/json", "application/yaml"}
	mediaList    = []string{"application/json", "application/yaml", "application/json;stream=watch"}
	mediaWatch   = []string{"application/json;stream=watch"}
	mediaPatch   = []string{"application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json"}
	// mediaCustomPatch are the patches of custom resources, as
	// kube-apiserver lists them: no strategic merge, which needs Go
	// types, and server-side apply.
	mediaCustomPatch = []string{"application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"}
	mediaText        = []string{"text/plain"}
	mediaAny         = []string{"*/*"}
)

// Types of the meta/v1 objects that operations send and return.
var (
	typeStatus          = reflect.TypeFor[metav1.Status]()
	typeDeleteOptions   = reflect.TypeFor[metav1.DeleteOptions]()
	typePatch           = reflect.TypeFor[metav1.Patch]()
	typeWatchEvent      = reflect.TypeFor[metav1.WatchEvent]()
	typeAPIResourceList = reflect.TypeFor[metav1.APIResourceList]()
)

// param is a path or query parameter.
type param struct {
	name, in, description string
	// typ is the OpenAPI type: string, boolean or integer.
	typ      string
	required bool
	// shared, if set, is the key under which the documents define the
	// parameter once, for operations to refer to. See sharedParams.
	shared string
}

// response is one status code of an operation. schema is the definition
// name of the body, or "" for text.
type response struct {
	code        int
	description string
	schema      string
}

// operation is one HTTP method on one path, in a form both documents are
// rendered from.
type operation struct {
	method      string // http.MethodGet, ...
	id          string
	description string
	tag         string
	action      string
	gvk         gvk
	params      []param // query parameters, sorted by name
	body        string  // definition name of the request body, or ""
	consumes    []string
	produces    []string
	responses   []response
}

// route is one path with its operations.
type route struct {
	gv     string // "api/v1", "apis/apps/v1"
	path   string
	params []param // path parameters
	ops    []operation
}

// queryParams are the query parameters kube-apiserver derives from the
// meta/v1 option structs, described by their SwaggerDoc.
type queryParams struct {
	list, create, update, patch, delete, deleteCollection []param
}

func newQueryParams() queryParams {
	list := sharedParams(paramsOf(reflect.TypeFor[metav1.ListOptions]()))
	del := sharedParams(paramsOf(reflect.TypeFor[metav1.DeleteOptions]()))
	return queryParams{
		list:             list,
		create:           paramsOf(reflect.TypeFor[metav1.CreateOptions]()),
		update:           paramsOf(reflect.TypeFor[metav1.UpdateOptions]()),
		patch:            paramsOf(reflect.TypeFor[metav1.PatchOptions]()),
		delete:           del,
		deleteCollection: mergeParams(list, del),
	}
}

// paramsOf turns the scalar fields of an options struct into query
// parameters. Embedded structs (TypeMeta) and nested structs
// (DeleteOptions.Preconditions) are not query parameters. A list of strings
// is a repeated parameter of type string, as kube-apiserver describes it.
func paramsOf(t reflect.Type) []param {
	docs := swaggerDoc(t)
	var out []param
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous || !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		var typ string
		switch ft.Kind() {
		case reflect.String:
			typ = "string"
		case reflect.Bool:
			typ = "boolean"
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			typ = "integer"
		default:
			continue
		}
		out = append(out, param{name: name, in: "query", description: docs[name], typ: typ})
	}
	slices.SortFunc(out, func(a, b param) int { return strings.Compare(a.name, b.name) })
	return out
}

// sharedParams marks params to be defined once per document and referred
// to, as kube-apiserver does in Swagger 2.0: the long descriptions of the
// list and delete options would otherwise make up most of the documents.
// The parameters of create, update and patch stay inline, where kubectl
// looks for fieldValidation and dryRun. The key is the name and a hash of
// the rest, so that two parameters of one name cannot collide.
func sharedParams(params []param) []param {
	out := slices.Clone(params)
	for i := range out {
		h := fnv.New32a()
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s", out[i].in, out[i].name, out[i].typ, out[i].description)
		out[i].shared = fmt.Sprintf("%s-%08x", out[i].name, h.Sum32())
	}
	return out
}

func mergeParams(a, b []param) []param {
	out := slices.Clone(a)
	for _, p := range b {
		if !slices.ContainsFunc(out, func(q param) bool { return q.name == p.name }) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b param) int { return strings.Compare(a.name, b.name) })
	return out
}

// routeBuilder lays out the paths of resources the way kube-apiserver does.
type routeBuilder struct {
	schemas *schemaBuilder
	query   queryParams
	// subresourceGV finds the group-version of a subresource's Type.
	subresourceGV func(parent Resource, s Subresource) (group, version string)
	routes        []route
}

func (rb *routeBuilder) def(t reflect.Type) string {
	return rb.schemas.define(t).name
}

// addGroupVersion adds GET /api/v1/ or /apis/G/V/, the resource list.
func (rb *routeBuilder) addGroupVersion(group, version string) {
	gv := groupVersionPath(group, version)
	rb.routes = append(rb.routes, route{
		gv:   gv,
		path: "/" + gv + "/",
		ops: []operation{{
			method:      http.MethodGet,
			id:          "get" + operationGroup(group) + upperFirst(version) + "APIResources",
			description: "get available resources",
			tag:         operationTag(group, version),
			consumes:    mediaObjects,
			produces:    mediaObjects,
			responses:   []response{{200, "OK", rb.def(typeAPIResourceList)}},
		}},
	})
}

// addResource adds the collection, object, watch and subresource paths of r.
func (rb *routeBuilder) addResource(r Resource) {
	var list string
	if r.ListType != nil {
		list = rb.def(r.ListType)
	}
	rb.addResourceAs(r, rb.def(r.Type), list)
}

// addResourceAs adds the paths of r, whose objects and lists are the
// definitions obj and list ("" when r serves no list).
func (rb *routeBuilder) addResourceAs(r Resource, obj, list string) {
	gv := groupVersionPath(r.Group, r.Version)
	prefix := "/" + gv
	scope, ns := "", ""
	var nsParams []param
	if r.Namespaced {
		scope, ns = "/namespaces/{namespace}", "Namespaced"
		nsParams = []param{{name: "namespace", in: "path", required: true, typ: "string",
			description: "namespace of the objects"}}
	}
	nameParam := param{name: "name", in: "path", required: true, typ: "string", description: "name of the " + r.Kind}
	itemParams := append(slices.Clone(nsParams), nameParam)
	gp := operationGroup(r.Group) + upperFirst(r.Version)
	tag := operationTag(r.Group, r.Version)
	kind := gvk{r.Group, r.Version, r.Kind}
	has := func(v string) bool { return slices.Contains(r.Verbs, v) }

	op := func(method, verb, action, description string) operation {
		return operation{method: method, id: verb + gp + ns + r.Kind, description: description,
			tag: tag, action: action, gvk: kind, consumes: mediaAny, produces: mediaObjects}
	}

	// The collection: list, create, deletecollection.
	collection := route{gv: gv, path: prefix + scope + "/" + r.Resource, params: nsParams}
	if has("list") || has("watch") {
		o := op(http.MethodGet, "list", "list", "list or watch objects of kind "+r.Kind)
		o.params, o.produces = rb.query.list, mediaList
		o.responses = []response{{200, "OK", list}}
		collection.ops = append(collection.ops, o)
	}
	if has("create") {
		o := op(http.MethodPost, "create", "post", "create "+article(r.Kind)+" "+r.Kind)
		o.params, o.body, o.consumes = rb.query.create, obj, mediaObjects
		o.responses = []response{{200, "OK", obj}, {201, "Created", obj}, {202, "Accepted", obj}}
		collection.ops = append(collection.ops, o)
	}
	if has("deletecollection") {
		o := op(http.MethodDelete, "delete", "deletecollection", "delete collection of "+r.Kind)
		o.id = "delete" + gp + "Collection" + ns + r.Kind
		o.params, o.body, o.consumes = rb.query.deleteCollection, rb.def(typeDeleteOptions), mediaObjects
		o.responses = []response{{200, "OK", rb.def(typeStatus)}}
		collection.ops = append(collection.ops, o)
	}
	rb.add(collection)

	if r.Namespaced && (has("list") || has("watch")) {
		o := op(http.MethodGet, "list", "list", "list or watch objects of kind "+r.Kind)
		o.id = "list" + gp + r.Kind + "ForAllNamespaces"
		o.params, o.produces = rb.query.list, mediaList
		o.responses = []response{{200, "OK", list}}
		rb.add(route{gv: gv, path: prefix + "/" + r.Resource, ops: []operation{o}})
	}

	// The object: get, update, patch, delete.
	item := route{gv: gv, path: prefix + scope + "/" + r.Resource + "/{name}", params: itemParams}
	if has("get") {
		o := op(http.MethodGet, "read", "get", "read the specified "+r.Kind)
		o.responses = []response{{200, "OK", obj}}
		item.ops = append(item.ops, o)
	}
	if has("update") {
		o := op(http.MethodPut, "replace", "put", "replace the specified "+r.Kind)
		o.params, o.body, o.consumes = rb.query.update, obj, mediaObjects
		o.responses = []response{{200, "OK", obj}, {201, "Created", obj}}
		item.ops = append(item.ops, o)
	}
	if has("patch") {
		o := op(http.MethodPatch, "patch", "patch", "partially update the specified "+r.Kind)
		o.params, o.body, o.consumes = rb.query.patch, rb.def(typePatch), patchMedia(r)
		o.responses = []response{{200, "OK", obj}, {201, "Created", obj}}
		item.ops = append(item.ops, o)
	}
	if has("delete") {
		o := op(http.MethodDelete, "delete", "delete", "delete "+article(r.Kind)+" "+r.Kind)
		o.params, o.body, o.consumes = rb.query.delete, rb.def(typeDeleteOptions), mediaObjects
		o.responses = []response{{200, "OK", obj}, {202, "Accepted", obj}}
		item.ops = append(item.ops, o)
	}
	rb.add(item)

	// The legacy watch paths, which Cella serves as kube-apiserver does.
	if has("watch") {
		event := rb.def(typeWatchEvent)
		watch := func(path, id, action, description string, params []param) {
			o := op(http.MethodGet, "watch", action, description)
			o.id, o.params, o.produces = id, rb.query.list, mediaWatch
			o.responses = []response{{200, "OK", event}}
			rb.add(route{gv: gv, path: path, params: params, ops: []operation{o}})
		}
		watch(prefix+"/watch"+scope+"/"+r.Resource, "watch"+gp+ns+r.Kind+"List", "watchlist",
			"watch individual changes to a list of "+r.Kind+"; deprecated: use the 'watch' parameter with a list operation instead", nsParams)
		if r.Namespaced {
			watch(prefix+"/watch/"+r.Resource, "watch"+gp+r.Kind+"ListForAllNamespaces", "watchlist",
				"watch individual changes to a list of "+r.Kind+"; deprecated: use the 'watch' parameter with a list operation instead", nil)
		}
		watch(prefix+"/watch"+scope+"/"+r.Resource+"/{name}", "watch"+gp+ns+r.Kind, "watch",
			"watch changes to an object of kind "+r.Kind+"; deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter", itemParams)
	}

	for _, s := range r.Subresources {
		rb.addSubresource(r, s, item)
	}
}

func (rb *routeBuilder) addSubresource(r Resource, s Subresource, item route) {
	gv := item.gv
	gp := operationGroup(r.Group) + upperFirst(r.Version)
	ns := ""
	if r.Namespaced {
		ns = "Namespaced"
	}
	suffix := upperFirst(toCamel(s.Name))
	rt := route{gv: gv, path: item.path + "/" + s.Name, params: item.params}

	sg, sv := rb.subresourceGV(r, s)
	skind := s.Kind
	if skind == "" && s.Type != nil {
		skind = s.Type.Name()
	}
	if skind == "" {
		skind = r.Kind
	}
	subKind := gvk{sg, sv, skind}
	parentKind := gvk{r.Group, r.Version, r.Kind}

	var body string
	var query []param
	switch {
	case isOptions(s.Type):
		query = paramsOf(s.Type)
	case s.Type != nil:
		body = rb.def(s.Type)
	case s.def != "":
		body = s.def
	}
	base := operation{tag: operationTag(r.Group, r.Version), consumes: mediaAny, produces: mediaObjects, gvk: subKind}

	if slices.Contains(connectSubresources, s.Name) {
		for _, v := range s.Verbs {
			method := verbMethod[v]
			name := upperFirst(strings.ToLower(method))
			o := base
			o.method, o.action = method, "connect"
			o.id = "connect" + gp + name + ns + r.Kind + suffix
			o.description = "connect " + method + " requests to " + s.Name + " of " + r.Kind
			o.params, o.produces = query, mediaAny
			o.responses = []response{{200, "OK", ""}}
			rt.ops = append(rt.ops, o)
		}
		rb.add(rt)
		return
	}

	for _, v := range s.Verbs {
		o := base
		o.method = verbMethod[v]
		switch v {
		case "get":
			o.id, o.action = "read"+gp+ns+r.Kind+suffix, "get"
			o.description = "read " + s.Name + " of the specified " + r.Kind
			if body == "" {
				// A text stream such as pods/log: the operation is on the
				// parent kind, its options are query parameters.
				o.gvk, o.params, o.produces = parentKind, query, mediaText
			}
			o.responses = []response{{200, "OK", body}}
		case "update":
			o.id, o.action = "replace"+gp+ns+r.Kind+suffix, "put"
			o.description = "replace " + s.Name + " of the specified " + r.Kind
			o.params, o.body, o.consumes = rb.query.update, body, mediaObjects
			o.responses = []response{{200, "OK", body}, {201, "Created", body}}
		case "patch":
			o.id, o.action = "patch"+gp+ns+r.Kind+suffix, "patch"
			o.description = "partially update " + s.Name + " of the specified " + r.Kind
			o.params, o.body, o.consumes = rb.query.patch, rb.def(typePatch), patchMedia(r)
			o.responses = []response{{200, "OK", body}, {201, "Created", body}}
		case "create":
			o.id, o.action = "create"+gp+ns+r.Kind+suffix, "post"
			o.description = "create " + s.Name + " of " + article(r.Kind) + " " + r.Kind
			o.params, o.body, o.consumes = rb.query.create, body, mediaObjects
			o.responses = []response{{200, "OK", body}, {201, "Created", body}, {202, "Accepted", body}}
		case "delete":
			o.id, o.action = "delete"+gp+ns+r.Kind+suffix, "delete"
			o.description = "delete " + s.Name + " of the specified " + r.Kind
			o.params, o.body, o.consumes = rb.query.delete, rb.def(typeDeleteOptions), mediaObjects
			o.responses = []response{{200, "OK", body}, {202, "Accepted", body}}
		}
		if body == "" && v != "get" {
			o.responses = []response{{200, "OK", ""}}
		}
		rt.ops = append(rt.ops, o)
	}
	rb.add(rt)
}

// patchMedia lists the patch bodies r's PATCH operations take.
func patchMedia(r Resource) []string {
	if r.custom {
		return mediaCustomPatch
	}
	return mediaPatch
}

var verbMethod = map[string]string{
	"get":    http.MethodGet,
	"create": http.MethodPost,
	"update": http.MethodPut,
	"patch":  http.MethodPatch,
	"delete": http.MethodDelete,
}

// add keeps a route that has operations.
func (rb *routeBuilder) add(r route) {
	if len(r.ops) > 0 {
		rb.routes = append(rb.routes, r)
	}
}

// article is "an" before a vowel sound (roughly), else "a", as in kube's
// "create an Ingress".
func article(word string) string {
	if word != "" && strings.ContainsRune("AEIOUaeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

// defs lists the definitions an operation refers to.
func (o *operation) defs() []string {
	var out []string
	if o.body != "" {
		out = append(out, o.body)
	}
	for _, r := range o.responses {
		if r.schema != "" {
			out = append(out, r.schema)
		}
	}
	return out
}
