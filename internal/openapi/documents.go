package openapi

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	openapi_v3 "github.com/google/gnostic-models/openapiv3"
	"google.golang.org/protobuf/proto"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Documents holds the OpenAPI documents of a fixed set of built-in
// resources and of the custom resources set at run time. It is safe for
// concurrent use.
//
// New builds the document models; each encoding of each document (JSON,
// protobuf) is produced on its first request, or by Warm, and then kept
// until a change of the custom resources replaces the document.
type Documents struct {
	info Info
	// b, routes and query describe the built-in resources; with what
	// follows, they are not changed after New.
	b     *schemaBuilder
	query queryParams
	// routes holds the built-in resources' paths by group-version path.
	routes        map[string][]route
	subresourceGV func(Resource, Subresource) (string, string)
	// builtinV2 and builtinV3 are the documents of the built-in resources
	// alone.
	builtinV2 *document
	builtinV3 map[string]*document
	// v3Defs renders the built-in definitions in v3 form, once; staticV2
	// renders the built-in part of the v2 document, once, for the v2
	// documents that add custom resources to it.
	v3Defs   func() v3Defs
	staticV2 func() v2Static

	// mu serializes SetCustomResources.
	mu sync.Mutex
	// custom holds the custom resources of each owner. Guarded by mu.
	custom map[string][]*customResource
	// served is what is served; it is replaced whole, under mu, and never
	// changed.
	served atomic.Pointer[served]
}

// served is the set of documents served at one moment.
type served struct {
	v2 *document
	// v3 maps a group-version path ("api/v1", "apis/apps/v1") to its
	// document.
	v3 map[string]*document
	// v3Index encodes GET /openapi/v3, which needs every v3 document's hash.
	v3Index func() (encoding, error)
}

// v3Defs are the built-in definitions in v3 form, shared by the
// group-versions' documents.
type v3Defs struct {
	flavor *flavor
	defs   map[string]*spec.Schema
}

// v2Static is the v2 document of the built-in resources and its flavor.
// It is only read.
type v2Static struct {
	swagger *spec.Swagger
	flavor  *flavor
}

// document is one OpenAPI document and its encodings. Each function runs
// its work once (sync.OnceValues) and returns the same result after.
type document struct {
	json  func() (encoding, error)
	proto func() (encoding, error)
}

// encoding is one representation of a document.
type encoding struct {
	data []byte
	// hash is the upper-case hex SHA-512 of data, as kube-apiserver computes
	// it; the ETag is the quoted hash.
	hash string
}

func newEncoding(data []byte) encoding {
	sum := sha512.Sum512(data)
	return encoding{data: data, hash: strings.ToUpper(hex.EncodeToString(sum[:]))}
}

// New builds the documents for resources. It reports every invalid
// resource, and any two Go types that would share a definition name.
func New(resources []Resource, info Info) (*Documents, error) {
	if err := validate(resources); err != nil {
		return nil, err
	}
	b := newSchemaBuilder(newNamer(resources))
	rb := &routeBuilder{schemas: b, query: newQueryParams(), subresourceGV: subresourceGV(resources)}

	// Group-versions in order of first appearance; each gets its resource
	// list path.
	var gvs []gvk
	for _, r := range resources {
		g := gvk{Group: r.Group, Version: r.Version}
		if !slices.Contains(gvs, g) {
			gvs = append(gvs, g)
			rb.addGroupVersion(r.Group, r.Version)
		}
	}
	for _, r := range resources {
		rb.addResource(r)
	}
	// Status is returned by every failing request, so it is always defined.
	b.define(typeStatus)
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	b.finish(kindsByDefinition(resources, b, rb.subresourceGV, gvs))
	b.sealed = true

	// Rendering and encoding wait for the first request (see Warm). The
	// models are immutable from here on, so the lazy steps share them.
	d := &Documents{
		info: info, b: b, query: rb.query, subresourceGV: rb.subresourceGV,
		routes: map[string][]route{}, builtinV3: make(map[string]*document, len(gvs)),
		custom: map[string][]*customResource{},
	}
	d.builtinV2 = newDocument(func() ([]byte, error) {
		return renderV2(info, rb.routes, b, newFlavor(false, b.defs)).MarshalJSON()
	}, v2ToProto)
	d.staticV2 = sync.OnceValue(func() v2Static {
		f := newFlavor(false, b.defs)
		return v2Static{renderV2(info, rb.routes, b, f), f}
	})
	for _, rt := range rb.routes {
		d.routes[rt.gv] = append(d.routes[rt.gv], rt)
	}
	d.v3Defs = sync.OnceValue(func() v3Defs {
		f := newFlavor(true, b.defs)
		return v3Defs{f, f.definitions(b.defs)}
	})
	builtinDeps := func(name string) []string { return b.defs[name].deps }
	for gv, routes := range d.routes {
		d.builtinV3[gv] = newDocument(func() ([]byte, error) {
			s := d.v3Defs()
			return renderV3(info, routes, s.flavor, s.defs, builtinDeps).MarshalJSON()
		}, v3ToProto)
	}
	d.served.Store(newServed(d.builtinV2, maps.Clone(d.builtinV3)))
	return d, nil
}

func newServed(v2 *document, v3 map[string]*document) *served {
	s := &served{v2: v2, v3: v3}
	s.v3Index = sync.OnceValues(s.encodeV3Index)
	return s
}

// SetCustomResources serves the documents of rs on behalf of owner (a
// CustomResourceDefinition's name), replacing whatever owner had before;
// an empty rs removes them. Each served group-version of rs gets its v3
// document (with the built-in resources of that group-version, if any),
// and the v2 document holds them all. Requests see the change at once;
// the documents it changes are rendered on their first request. It fails,
// changing nothing, when a custom resource is invalid.
func (d *Documents) SetCustomResources(owner string, rs []CustomResource) error {
	if err := validateCustom(rs); err != nil {
		return err
	}
	prepared := make([]*customResource, 0, len(rs))
	for _, r := range rs {
		c, err := newCustomResource(r)
		if err != nil {
			return err
		}
		prepared = append(prepared, c)
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	touched := map[string]bool{}
	for _, c := range append(slices.Clone(d.custom[owner]), prepared...) {
		touched[groupVersionPath(c.Group, c.Version)] = true
	}
	if len(prepared) == 0 {
		delete(d.custom, owner)
	} else {
		d.custom[owner] = prepared
	}

	// The custom resources of every group-version, in the order of their
	// owners' names.
	byGV := map[string][]*customResource{}
	for _, o := range slices.Sorted(maps.Keys(d.custom)) {
		for _, c := range d.custom[o] {
			gv := groupVersionPath(c.Group, c.Version)
			byGV[gv] = append(byGV[gv], c)
		}
	}
	cur := d.served.Load()
	v3 := maps.Clone(cur.v3)
	for gv := range touched {
		switch {
		case len(byGV[gv]) > 0:
			v3[gv] = d.customV3(gv, byGV[gv])
		case d.builtinV3[gv] != nil:
			v3[gv] = d.builtinV3[gv]
		default:
			delete(v3, gv)
		}
	}
	v2 := d.builtinV2
	if len(byGV) > 0 {
		v2 = d.customV2(byGV)
	}
	d.served.Store(newServed(v2, v3))
	return nil
}

// customRoutes lays out the paths of the custom resources of the
// group-version gv, with its resource list path unless a built-in
// resource has given it already.
func (d *Documents) customRoutes(gv string, crs []*customResource) []route {
	rb := &routeBuilder{schemas: sharedMeta().b, query: d.query, subresourceGV: d.subresourceGV}
	if len(d.routes[gv]) == 0 {
		rb.addGroupVersion(crs[0].Group, crs[0].Version)
	}
	for _, c := range crs {
		r := Resource{
			Group: c.Group, Version: c.Version, Kind: c.Kind, Resource: c.Resource,
			Namespaced: c.Namespaced, Verbs: c.Verbs, custom: true,
		}
		if c.Status {
			r.Subresources = append(r.Subresources, Subresource{Name: "status", Verbs: []string{"get", "update", "patch"}, def: c.kindName()})
		}
		if c.Scale {
			r.Subresources = append(r.Subresources, Subresource{
				Name: "scale", Group: "autoscaling", Version: "v1", Kind: "Scale", Type: typeScale,
				Verbs: []string{"get", "update", "patch"},
			})
		}
		rb.addResourceAs(r, c.kindName(), c.listName())
	}
	return rb.routes
}

// customV3 is the v3 document of the group-version gv, which serves crs.
func (d *Documents) customV3(gv string, crs []*customResource) *document {
	routes := append(slices.Clone(d.routes[gv]), d.customRoutes(gv, crs)...)
	return newDocument(func() ([]byte, error) {
		builtin := d.v3Defs()
		meta := sharedMeta()
		_, metaV3 := meta.render()
		defs := maps.Clone(builtin.defs)
		for name, s := range metaV3 {
			if _, ok := defs[name]; !ok {
				defs[name] = s
			}
		}
		deps := map[string][]string{}
		for _, c := range crs {
			maps.Copy(defs, c.v3)
			maps.Copy(deps, c.deps())
		}
		return renderV3(d.info, routes, builtin.flavor, defs, func(name string) []string {
			if ds, ok := deps[name]; ok {
				return ds
			}
			if def := d.b.defs[name]; def != nil {
				return def.deps
			}
			return meta.deps(name)
		}).MarshalJSON()
	}, v3ToProto)
}

// customV2 is the v2 document of the built-in resources and of the custom
// resources byGV.
func (d *Documents) customV2(byGV map[string][]*customResource) *document {
	var routes []route
	var crs []*customResource
	for _, gv := range slices.Sorted(maps.Keys(byGV)) {
		routes = append(routes, d.customRoutes(gv, byGV[gv])...)
		crs = append(crs, byGV[gv]...)
	}
	return newDocument(func() ([]byte, error) {
		static := d.staticV2()
		metaV2, _ := sharedMeta().render()
		sw := *static.swagger
		paths := maps.Clone(sw.Paths.Paths)
		params := maps.Clone(sw.Parameters)
		defs := maps.Clone(sw.Definitions)
		for name, s := range metaV2 {
			if _, ok := defs[name]; !ok {
				defs[name] = *s
			}
		}
		for _, c := range crs {
			for name, s := range c.v2 {
				defs[name] = *s
			}
		}
		addV2Paths(paths, params, routes, static.flavor)
		sw.Paths, sw.Parameters, sw.Definitions = &spec.Paths{Paths: paths}, params, defs
		return sw.MarshalJSON()
	}, v2ToProto)
}

func newDocument(marshal func() ([]byte, error), toProto func([]byte) ([]byte, error)) *document {
	doc := &document{}
	doc.json = sync.OnceValues(func() (encoding, error) {
		data, err := marshal()
		if err != nil {
			return encoding{}, fmt.Errorf("openapi: encoding JSON: %w", err)
		}
		return newEncoding(data), nil
	})
	doc.proto = sync.OnceValues(func() (encoding, error) {
		j, err := doc.json()
		if err != nil {
			return encoding{}, err
		}
		data, err := toProto(j.data)
		if err != nil {
			return encoding{}, fmt.Errorf("openapi: encoding protobuf: %w", err)
		}
		return newEncoding(data), nil
	})
	return doc
}

// The protobuf forms are gnostic's, parsed from the JSON as kube-apiserver
// does. Parsing goes through YAML and is the slowest step, hence lazy.

func v2ToProto(data []byte) ([]byte, error) {
	doc, err := openapi_v2.ParseDocument(data)
	if err != nil {
		return nil, err
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(doc)
}

func v3ToProto(data []byte) ([]byte, error) {
	doc, err := openapi_v3.ParseDocument(data)
	if err != nil {
		return nil, err
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(doc)
}

// v3IndexJSON is the body of GET /openapi/v3.
type v3IndexJSON struct {
	Paths map[string]v3IndexEntry `json:"paths"`
}

type v3IndexEntry struct {
	ServerRelativeURL string `json:"serverRelativeURL"`
}

func (s *served) encodeV3Index() (encoding, error) {
	index := v3IndexJSON{Paths: make(map[string]v3IndexEntry, len(s.v3))}
	for gv, doc := range s.v3 {
		j, err := doc.json()
		if err != nil {
			return encoding{}, err
		}
		index.Paths[gv] = v3IndexEntry{ServerRelativeURL: v3URL(gv, j.hash)}
	}
	data, err := json.Marshal(index)
	if err != nil {
		return encoding{}, fmt.Errorf("openapi: encoding the v3 index: %w", err)
	}
	return newEncoding(data), nil
}

// v3URL is the immutable address of one version of a v3 document.
func v3URL(gv, hash string) string {
	return "/openapi/v3/" + gv + "?" + url.Values{"hash": {hash}}.Encode()
}

// Warm produces every encoding now rather than on first request, and
// returns the first error. A server may call it in the background after it
// is ready.
func (d *Documents) Warm(ctx context.Context) error {
	var errs []error
	s := d.served.Load()
	for _, doc := range s.all() {
		for _, enc := range []func() (encoding, error){doc.json, doc.proto} {
			if ctx.Err() != nil {
				// The server is stopping; what was not rendered is rendered
				// on first use.
				return nil
			}
			if _, err := enc(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if _, err := s.v3Index(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (s *served) all() []*document {
	out := []*document{s.v2}
	for _, gv := range slices.Sorted(maps.Keys(s.v3)) {
		out = append(out, s.v3[gv])
	}
	return out
}

// GroupVersions lists the v3 documents' paths served now, "api/v1" and
// "apis/G/V", sorted.
func (d *Documents) GroupVersions() []string {
	return slices.Sorted(maps.Keys(d.served.Load().v3))
}

// subresourceGV returns the function that finds the group-version of a
// subresource's kind: its own Group and Version when set; else that of a
// served resource whose Type is in the same package as the subresource's
// Type; else that of a k8s.io/api package; else the parent's.
func subresourceGV(resources []Resource) func(Resource, Subresource) (string, string) {
	byPkg := map[string][2]string{}
	for _, r := range resources {
		if r.Type != nil {
			if _, ok := byPkg[r.Type.PkgPath()]; !ok {
				byPkg[r.Type.PkgPath()] = [2]string{r.Group, r.Version}
			}
		}
	}
	return func(parent Resource, s Subresource) (string, string) {
		switch {
		case s.Version != "":
			return s.Group, s.Version
		case s.Type == nil || s.Type == parent.Type:
			return parent.Group, parent.Version
		case parent.Type != nil && s.Type.PkgPath() == parent.Type.PkgPath():
			return parent.Group, parent.Version
		}
		if gv, ok := byPkg[s.Type.PkgPath()]; ok {
			return gv[0], gv[1]
		}
		if g, v, ok := kubernetesGroupVersion(s.Type.PkgPath()); ok {
			return g, v
		}
		return parent.Group, parent.Version
	}
}

// kindsByDefinition lists, per definition, the group-version-kinds served
// with it: each resource's kind and list kind, each subresource's kind, and,
// as kube-apiserver does, every served group-version for the meta/v1 types
// that every group-version accepts (DeleteOptions, WatchEvent), and core v1
// for Status.
func kindsByDefinition(resources []Resource, b *schemaBuilder, subGV func(Resource, Subresource) (string, string), gvs []gvk) map[string][]gvk {
	out := map[string][]gvk{}
	add := func(name string, g gvk) {
		if !slices.Contains(out[name], g) {
			out[name] = append(out[name], g)
		}
	}
	for _, r := range resources {
		add(b.byType[r.Type].name, gvk{r.Group, r.Version, r.Kind})
		if r.ListType != nil {
			add(b.byType[r.ListType].name, gvk{r.Group, r.Version, r.Kind + "List"})
		}
		for _, s := range r.Subresources {
			if s.Type == nil || isOptions(s.Type) || s.Type == r.Type {
				continue
			}
			g, v := subGV(r, s)
			kind := s.Kind
			if kind == "" {
				kind = s.Type.Name()
			}
			add(b.byType[s.Type].name, gvk{g, v, kind})
		}
	}
	for _, t := range []struct {
		name string
		kind string
	}{{b.byType[typeDeleteOptions].nameOrEmpty(), "DeleteOptions"}, {b.byType[typeWatchEvent].nameOrEmpty(), "WatchEvent"}} {
		if t.name == "" {
			continue
		}
		for _, g := range gvs {
			add(t.name, gvk{g.Group, g.Version, t.kind})
		}
	}
	add(b.byType[typeStatus].name, gvk{"", "v1", "Status"})
	for _, list := range out {
		slices.SortFunc(list, func(a, b gvk) int {
			return strings.Compare(a.Group+"/"+a.Version+"/"+a.Kind, b.Group+"/"+b.Version+"/"+b.Kind)
		})
	}
	return out
}

func (d *definition) nameOrEmpty() string {
	if d == nil {
		return ""
	}
	return d.name
}
