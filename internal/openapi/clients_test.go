package openapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	openapi_v3 "github.com/google/gnostic-models/openapiv3"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/openapi"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/spec3"
	kproto "k8s.io/kube-openapi/pkg/util/proto"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

var testInfo = Info{Title: "Kubernetes", Version: "v1.37.0"}

// startServer starts a real HTTP server for fresh documents of testResources.
func startServer(t *testing.T) (*Documents, *httptest.Server) {
	t.Helper()
	d, err := New(testResources(), testInfo)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/openapi/", d)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return d, srv
}

func discoveryClient(t *testing.T, srv *httptest.Server) *discovery.DiscoveryClient {
	t.Helper()
	return discovery.NewDiscoveryClientForConfigOrDie(&rest.Config{Host: srv.URL})
}

// TestOpenAPIV2Protobuf is what kubectl does with the v2 document: client-go
// asks for protobuf only, and kube-openapi builds models from it.
func TestOpenAPIV2Protobuf(t *testing.T) {
	_, srv := startServer(t)
	doc, err := discoveryClient(t, srv).OpenAPISchema()
	if err != nil {
		t.Fatalf("OpenAPISchema: %v", err)
	}
	if doc.GetSwagger() != "2.0" || doc.GetInfo().GetTitle() != "Kubernetes" {
		t.Errorf("swagger %q, title %q", doc.GetSwagger(), doc.GetInfo().GetTitle())
	}
	models, err := kproto.NewOpenAPIData(doc)
	if err != nil {
		t.Fatalf("NewOpenAPIData: %v", err)
	}
	pod, ok := models.LookupModel("io.k8s.api.core.v1.Pod").(*kproto.Kind)
	if !ok {
		t.Fatalf("io.k8s.api.core.v1.Pod is %T, want a Kind", models.LookupModel("io.k8s.api.core.v1.Pod"))
	}
	gvks, _ := pod.GetExtensions()[extGVK].([]any)
	if len(gvks) != 1 || gvks[0].(map[any]any)["kind"] != "Pod" {
		t.Errorf("Pod %s = %v", extGVK, gvks)
	}
	spec := pod.Fields["spec"].(*kproto.Ref).SubSchema().(*kproto.Kind)
	containers, ok := spec.Fields["containers"].(*kproto.Array)
	if !ok {
		t.Fatalf("PodSpec.containers is %T, want an Array", spec.Fields["containers"])
	}
	if got := containers.GetExtensions()[extPatchMergeKey]; got != "name" {
		t.Errorf("containers %s = %v, want name", extPatchMergeKey, got)
	}
	if got := containers.GetExtensions()[extListType]; got != "map" {
		t.Errorf("containers %s = %v, want map", extListType, got)
	}
	if got, _ := containers.GetExtensions()[extListMapKeys].([]any); len(got) != 1 || got[0] != "name" {
		t.Errorf("containers %s = %v, want [name]", extListMapKeys, got)
	}
	container := containers.SubType.(*kproto.Ref).SubSchema().(*kproto.Kind)
	if image, ok := container.Fields["image"].(*kproto.Primitive); !ok || image.Type != "string" {
		t.Errorf("Container.image = %#v", container.Fields["image"])
	}
	if !strings.Contains(container.GetDescription(), "container") {
		t.Errorf("Container description = %q", container.GetDescription())
	}
	network, ok := models.LookupModel("io.cci.networking.v1beta1.Network").(*kproto.Kind)
	if !ok || network.Fields["spec"] == nil {
		t.Errorf("Network model = %#v", models.LookupModel("io.cci.networking.v1beta1.Network"))
	}
}

// TestOpenAPIV3Clients reads every group-version through client-go's v3
// client, as kubectl explain does, in JSON and in protobuf.
func TestOpenAPIV3Clients(t *testing.T) {
	d, srv := startServer(t)
	client := discoveryClient(t, srv).OpenAPIV3()
	paths, err := client.Paths()
	if err != nil {
		t.Fatalf("Paths: %v", err)
	}
	var got []string
	for gv := range paths {
		got = append(got, gv)
	}
	slices.Sort(got)
	if want := d.GroupVersions(); !slices.Equal(got, want) {
		t.Errorf("Paths() = %v, want %v", got, want)
	}
	for _, want := range []string{"api/v1", "apis/apps/v1", "apis/networking.cci.io/v1beta1", "apis/rbac.authorization.k8s.io/v1"} {
		if !slices.Contains(got, want) {
			t.Errorf("Paths() lacks %s", want)
		}
	}
	for gv, p := range paths {
		j, err := p.Schema("application/json")
		if err != nil {
			t.Fatalf("%s: Schema(json): %v", gv, err)
		}
		var doc map[string]any
		if err := json.Unmarshal(j, &doc); err != nil {
			t.Fatalf("%s: %v", gv, err)
		}
		if doc["openapi"] != "3.0.0" {
			t.Errorf("%s: openapi = %v", gv, doc["openapi"])
		}
		pb, err := p.Schema(openapi.ContentTypeOpenAPIV3PB)
		if err != nil {
			t.Fatalf("%s: Schema(protobuf): %v", gv, err)
		}
		var v3 openapi_v3.Document
		if err := proto.Unmarshal(pb, &v3); err != nil {
			t.Fatalf("%s: protobuf: %v", gv, err)
		}
		if len(v3.GetPaths().GetPath()) == 0 || len(v3.GetComponents().GetSchemas().GetAdditionalProperties()) == 0 {
			t.Errorf("%s: protobuf document has no paths or schemas", gv)
		}
	}
}

// TestKubectlExplainAndValidation follows kubectl: explain finds the schema
// of a kind by its group-version-kind in the group-version's components and
// walks fields through allOf; server-side validation is used only when the
// kind's PATCH operation takes fieldValidation.
func TestKubectlExplainAndValidation(t *testing.T) {
	_, srv := startServer(t)
	root := openapi3.NewRoot(discoveryClient(t, srv).OpenAPIV3())
	for _, gvk := range []schema.GroupVersionKind{
		{Version: "v1", Kind: "Pod"},
		{Version: "v1", Kind: "Namespace"},
		{Group: "apps", Version: "v1", Kind: "Deployment"},
		{Group: "networking.cci.io", Version: "v1beta1", Kind: "Network"},
	} {
		doc, err := root.GVSpec(gvk.GroupVersion())
		if err != nil {
			t.Fatalf("GVSpec(%v): %v", gvk.GroupVersion(), err)
		}
		var kind *spec.Schema
		for _, s := range doc.Components.Schemas {
			var gvks []struct{ Group, Version, Kind string }
			if err := s.Extensions.GetObject(extGVK, &gvks); err == nil && slices.Contains(gvks, struct{ Group, Version, Kind string }{gvk.Group, gvk.Version, gvk.Kind}) {
				kind = s
			}
		}
		if kind == nil {
			t.Errorf("%v: no component carries its %s", gvk, extGVK)
			continue
		}
		md := kind.Properties["metadata"]
		if len(md.AllOf) != 1 || !strings.HasSuffix(md.AllOf[0].Ref.String(), "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta") || md.Description == "" {
			t.Errorf("%v: metadata = %+v, want allOf [ObjectMeta] with a description", gvk, md.SchemaProps)
		}
		if !patchTakes(doc.Paths.Paths, gvk, "fieldValidation") {
			t.Errorf("%v: no PATCH operation with query parameter fieldValidation", gvk)
		}
	}

	doc, err := root.GVSpec(schema.GroupVersion{Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	pod := doc.Components.Schemas["io.k8s.api.core.v1.Pod"]
	spec := doc.Components.Schemas[refName(pod.Properties["spec"].AllOf[0].Ref.String())]
	containers := spec.Properties["containers"]
	if containers.Items == nil || containers.Items.Schema == nil || refName(containers.Items.Schema.Ref.String()) != "io.k8s.api.core.v1.Container" {
		t.Errorf("pod.spec.containers = %+v, want an array of Container", containers.SchemaProps)
	}
}

func refName(ref string) string { return ref[strings.LastIndex(ref, "/")+1:] }

// patchTakes is kubectl's test for a query parameter (cli-runtime's
// supportsQueryParamV3): the PATCH operation of the kind names it.
func patchTakes(paths map[string]*spec3.Path, gvk schema.GroupVersionKind, name string) bool {
	for _, p := range paths {
		op := p.Patch
		if op == nil {
			continue
		}
		var got map[string]string
		if err := op.Extensions.GetObject(extGVK, &got); err != nil || got["group"] != gvk.Group || got["version"] != gvk.Version || got["kind"] != gvk.Kind {
			continue
		}
		for _, param := range op.Parameters {
			if param.Name == name && param.In == "query" {
				return true
			}
		}
	}
	return false
}

// TestTypeConverter builds the structured-merge-diff type converter that
// client-go and server-side apply build from the v3 documents, and types a
// Pod with it.
func TestTypeConverter(t *testing.T) {
	_, srv := startServer(t)
	tc, err := openapi.NewTypeConverter(discoveryClient(t, srv).OpenAPIV3(), false)
	if err != nil {
		t.Fatalf("NewTypeConverter: %v", err)
	}
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", Labels: map[string]string{"a": "b"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(pod)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tc.ObjectToTyped(pod); err != nil {
		t.Errorf("ObjectToTyped(Pod): %v", err)
	}
	u["spec"].(map[string]any)["nonsense"] = true
	if _, err := tc.ObjectToTyped(&unstructured.Unstructured{Object: u}); err == nil {
		t.Errorf("ObjectToTyped accepted an unknown field in a Pod")
	}

	// A client that merges with the document (its list types and keys,
	// or the patch merge keys beside them) keeps both containers, by name,
	// as the server's own server-side apply does, and replaces an atomic
	// list (args) whole.
	a, b := pod.DeepCopy(), pod.DeepCopy()
	a.Spec.Containers[0].Args = []string{"x", "y"}
	b.Spec.Containers = []corev1.Container{{Name: "c", Args: []string{"z"}}, {Name: "d", Image: "busybox"}}
	ta, err := tc.ObjectToTyped(a)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := tc.ObjectToTyped(b)
	if err != nil {
		t.Fatal(err)
	}
	merged, err := ta.Merge(tb)
	if err != nil {
		t.Fatalf("merging two pods: %v", err)
	}
	var out corev1.Pod
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(merged.AsValue().Unstructured().(map[string]any), &out); err != nil {
		t.Fatal(err)
	}
	cs := out.Spec.Containers
	if len(cs) != 2 || cs[0].Name != "c" || cs[0].Image != "nginx" || strings.Join(cs[0].Args, ",") != "z" || cs[1].Name != "d" {
		t.Errorf("merged containers = %+v, want c (nginx, args z) and d", cs)
	}
}

func TestConditionalAndCaching(t *testing.T) {
	d, srv := startServer(t)
	get := func(path string, header ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	j, _ := d.served.Load().v3["apis/apps/v1"].json()
	for _, tc := range []struct {
		path, accept string
		contentType  string
	}{
		{PathV2, "application/json", "application/json"},
		{PathV2, mediaV2ProtoAt, mediaV2Proto},
		{PathV2, mediaV2Proto, mediaV2Proto},
		{PathV3, "application/json", "application/json"},
		{PathV3 + "/apis/apps/v1", "application/json", "application/json"},
		{PathV3 + "/apis/apps/v1", mediaV3ProtoAt, mediaV3Proto},
		{PathV3 + "/apis/apps/v1?hash=" + j.hash, "*/*", "application/json"},
	} {
		first := get(tc.path, "Accept", tc.accept)
		etag := first.Header.Get("ETag")
		if first.StatusCode != http.StatusOK || first.Header.Get("Content-Type") != tc.contentType ||
			len(etag) < 3 || etag[0] != '"' || strings.HasPrefix(etag, "W/") {
			t.Errorf("GET %s (%s): %d, Content-Type %q, ETag %q", tc.path, tc.accept, first.StatusCode, first.Header.Get("Content-Type"), etag)
			continue
		}
		wantCache := cacheNoCache
		if strings.Contains(tc.path, "?hash=") {
			wantCache = cacheImmutable
			if first.Header.Get("Expires") == "" {
				t.Errorf("GET %s: no Expires", tc.path)
			}
		}
		if got := first.Header.Get("Cache-Control"); got != wantCache {
			t.Errorf("GET %s: Cache-Control %q, want %q", tc.path, got, wantCache)
		}
		again := get(tc.path, "Accept", tc.accept, "If-None-Match", etag)
		if again.StatusCode != http.StatusNotModified || again.Header.Get("ETag") != etag {
			t.Errorf("GET %s with If-None-Match: %d, ETag %q", tc.path, again.StatusCode, again.Header.Get("ETag"))
		}
		changed := get(tc.path, "Accept", tc.accept, "If-None-Match", `"other"`)
		if changed.StatusCode != http.StatusOK {
			t.Errorf("GET %s with another If-None-Match: %d", tc.path, changed.StatusCode)
		}
	}

	stale := get(PathV3+"/apis/apps/v1?hash=0123", "Accept", "application/json")
	if stale.StatusCode != http.StatusMovedPermanently || stale.Header.Get("Location") != v3URL("apis/apps/v1", j.hash) {
		t.Errorf("stale hash: %d, Location %q", stale.StatusCode, stale.Header.Get("Location"))
	}
}

func TestV3Index(t *testing.T) {
	d, srv := startServer(t)
	resp, err := http.Get(srv.URL + PathV3)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var index struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&index); err != nil {
		t.Fatal(err)
	}
	if len(index.Paths) != len(d.served.Load().v3) {
		t.Errorf("index has %d paths, want %d", len(index.Paths), len(d.served.Load().v3))
	}
	j, _ := d.served.Load().v3["api/v1"].json()
	if got, want := index.Paths["api/v1"].ServerRelativeURL, "/openapi/v3/api/v1?hash="+j.hash; got != want {
		t.Errorf("api/v1 URL = %q, want %q", got, want)
	}
}

func TestErrorsAreStatus(t *testing.T) {
	_, srv := startServer(t)
	for _, tc := range []struct {
		method, path, accept string
		code                 int
		reason               metav1.StatusReason
	}{
		{"GET", PathV2, "text/html", 406, metav1.StatusReasonNotAcceptable},
		{"GET", PathV2, "application/json;q=0", 406, metav1.StatusReasonNotAcceptable},
		{"GET", PathV3 + "/apis/apps/v1", mediaV2Proto, 406, metav1.StatusReasonNotAcceptable},
		{"GET", PathV3, mediaV3Proto, 406, metav1.StatusReasonNotAcceptable},
		{"GET", PathV3 + "/apis/nope/v1", "application/json", 404, metav1.StatusReasonNotFound},
		{"GET", PathV3 + "/api/v2", "application/json", 404, metav1.StatusReasonNotFound},
		{"GET", "/openapi/v4", "application/json", 404, metav1.StatusReasonNotFound},
		{"POST", PathV2, "application/json", 405, metav1.StatusReasonMethodNotAllowed},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		req.Header.Set("Accept", tc.accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var status metav1.Status
		err = json.NewDecoder(resp.Body).Decode(&status)
		resp.Body.Close()
		if err != nil || resp.StatusCode != tc.code || status.Kind != "Status" || status.APIVersion != "v1" ||
			status.Status != metav1.StatusFailure || status.Reason != tc.reason || status.Code != int32(tc.code) {
			t.Errorf("%s %s (Accept %s): %d %+v (%v)", tc.method, tc.path, tc.accept, resp.StatusCode, status, err)
		}
		if tc.code == 406 && !strings.Contains(status.Message, "application/json") {
			t.Errorf("406 message %q does not list the accepted types", status.Message)
		}
	}
}

// TestFirstRequestsConcurrently runs the lazy encodings from many requests
// at once; -race checks that they share the models safely.
func TestFirstRequestsConcurrently(t *testing.T) {
	d, srv := startServer(t)
	paths := []string{PathV2, PathV3}
	for _, gv := range d.GroupVersions() {
		paths = append(paths, PathV3+"/"+gv)
	}
	var wg sync.WaitGroup
	for _, p := range paths {
		for _, accept := range []string{"application/json", mediaV2Proto, mediaV3Proto} {
			wg.Go(func() {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+p, nil)
				req.Header.Set("Accept", accept)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotAcceptable {
					t.Errorf("GET %s (%s): %d", p, accept, resp.StatusCode)
				}
			})
		}
	}
	wg.Wait()
	if err := d.Warm(context.Background()); err != nil {
		t.Errorf("Warm: %v", err)
	}
}
