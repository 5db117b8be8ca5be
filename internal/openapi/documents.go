package openapi

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	openapi_v3 "github.com/google/gnostic-models/openapiv3"
	"google.golang.org/protobuf/proto"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Documents holds the OpenAPI documents of a fixed set of resources. It is
// safe for concurrent use.
//
// New builds the document models; each encoding of each document (JSON,
// protobuf) is produced on its first request, or by Warm, and then kept.
type Documents struct {
	v2 *document
	// v3 maps a group-version path ("api/v1", "apis/apps/v1") to its
	// document.
	v3 map[string]*document
	// v3Index encodes GET /openapi/v3, which needs every v3 document's hash.
	v3Index func() (encoding, error)
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

	// Rendering and encoding wait for the first request (see Warm). The
	// models are immutable from here on, so the lazy steps share them.
	d := &Documents{v3: make(map[string]*document, len(gvs))}
	d.v2 = newDocument(func() ([]byte, error) {
		return renderV2(info, rb.routes, b, newFlavor(false, b.defs)).MarshalJSON()
	}, v2ToProto)
	byGV := map[string][]route{}
	for _, rt := range rb.routes {
		byGV[rt.gv] = append(byGV[rt.gv], rt)
	}
	// The v3 definitions are shared by the group-versions' documents.
	type v3Defs struct {
		flavor *flavor
		defs   map[string]*spec.Schema
	}
	shared := sync.OnceValue(func() v3Defs {
		f := newFlavor(true, b.defs)
		return v3Defs{f, f.definitions(b.defs)}
	})
	for gv, routes := range byGV {
		d.v3[gv] = newDocument(func() ([]byte, error) {
			s := shared()
			return renderV3(info, routes, b, s.flavor, s.defs).MarshalJSON()
		}, v3ToProto)
	}
	d.v3Index = sync.OnceValues(d.encodeV3Index)
	return d, nil
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

func (d *Documents) encodeV3Index() (encoding, error) {
	index := v3IndexJSON{Paths: make(map[string]v3IndexEntry, len(d.v3))}
	for gv, doc := range d.v3 {
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
	for _, doc := range d.all() {
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
	if _, err := d.v3Index(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (d *Documents) all() []*document {
	out := []*document{d.v2}
	for _, gv := range d.GroupVersions() {
		out = append(out, d.v3[gv])
	}
	return out
}

// GroupVersions lists the v3 documents' paths, "api/v1" and "apis/G/V",
// sorted.
func (d *Documents) GroupVersions() []string {
	out := make([]string, 0, len(d.v3))
	for gv := range d.v3 {
		out = append(out, gv)
	}
	slices.Sort(out)
	return out
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
		case s.Type.PkgPath() == parent.Type.PkgPath():
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
