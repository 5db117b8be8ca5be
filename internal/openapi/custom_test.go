package openapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/openapi"
	kproto "k8s.io/kube-openapi/pkg/util/proto"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// widgetSchema is the openAPIV3Schema of the test's custom resource, in
// the form apiextensions-apiserver's ToKubeOpenAPI gives (int-or-string
// unfolded to anyOf).
const widgetSchema = `{
  "type": "object",
  "description": "A Widget is a test kind.",
  "properties": {
    "spec": {
      "type": "object",
      "description": "What the widget should be.",
      "required": ["size", "ports"],
      "properties": {
        "size": {"type": "integer", "nullable": true, "description": "How big."},
        "color": {"type": "string", "default": "blue"},
        "ports": {
          "type": "array",
          "x-kubernetes-list-type": "map",
          "x-kubernetes-list-map-keys": ["name"],
          "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}
        },
        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"a": {"type": "string"}}},
        "amount": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
        "template": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"data": {"type": "string"}}}
      }
    },
    "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}
  }
}`

func widgets(t *testing.T, versions ...string) []CustomResource {
	t.Helper()
	var s spec.Schema
	if err := json.Unmarshal([]byte(widgetSchema), &s); err != nil {
		t.Fatal(err)
	}
	var out []CustomResource
	for _, v := range versions {
		out = append(out, CustomResource{
			Group: "example.com", Version: v, Kind: "Widget", ListKind: "WidgetList", Resource: "widgets",
			Namespaced: true, Verbs: knownVerbs, Status: true, Scale: true, Schema: &s,
		})
	}
	return out
}

// getJSON fetches path and decodes it, failing unless the status is want.
func getJSON(t *testing.T, url string, want int) map[string]any {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d: %s", url, resp.StatusCode, want, body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return m
}

// TestCustomResources publishes a custom resource in two versions, reads
// its documents through client-go's v3 client (JSON and protobuf) and the
// v2 document over HTTP, then removes it.
func TestCustomResources(t *testing.T) {
	d, srv := startServer(t)
	client := discoveryClient(t, srv).OpenAPIV3()
	before, err := client.Paths()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetCustomResources("widgets.example.com", widgets(t, "v1", "v1beta1")); err != nil {
		t.Fatalf("SetCustomResources: %v", err)
	}

	paths, err := client.Paths()
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != len(before)+2 || paths["apis/example.com/v1"] == nil || paths["apis/example.com/v1beta1"] == nil {
		t.Fatalf("Paths() = %d group-versions, want %d with apis/example.com/v1 and v1beta1", len(paths), len(before)+2)
	}
	j, err := paths["apis/example.com/v1"].Schema("application/json")
	if err != nil {
		t.Fatalf("Schema(json): %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(j, &doc); err != nil {
		t.Fatal(err)
	}
	if _, err := paths["apis/example.com/v1"].Schema(openapi.ContentTypeOpenAPIV3PB); err != nil {
		t.Errorf("Schema(protobuf): %v", err)
	}

	schemas := at(doc, "components", "schemas").(map[string]any)
	widget := schemas["com.example.v1.Widget"]
	for _, tc := range []struct {
		keys []string
		want any
	}{
		{[]string{"description"}, "A Widget is a test kind."},
		{[]string{"x-kubernetes-group-version-kind"}, mustJSON(`[{"group":"example.com","version":"v1","kind":"Widget"}]`)},
		{[]string{"properties", "metadata", "$ref"}, "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
		{[]string{"properties", "apiVersion", "type"}, "string"},
		{[]string{"properties", "kind", "type"}, "string"},
		{[]string{"properties", "spec", "properties", "size", "nullable"}, true},
		{[]string{"properties", "spec", "properties", "color", "default"}, "blue"},
		{[]string{"properties", "spec", "properties", "ports", "x-kubernetes-list-map-keys"}, []any{"name"}},
		{[]string{"properties", "spec", "properties", "extra", "properties", "a", "type"}, "string"},
		{[]string{"properties", "spec", "properties", "template", "properties", "metadata", "$ref"}, "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
		{[]string{"properties", "spec", "properties", "template", "required"}, []any{"kind", "apiVersion"}},
	} {
		if got := at(widget, tc.keys...); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("v3 Widget %s = %v, want %v", strings.Join(tc.keys, "."), got, tc.want)
		}
	}
	if got := at(schemas, "com.example.v1.WidgetList", "properties", "items", "items", "$ref"); got != "#/components/schemas/com.example.v1.Widget" {
		t.Errorf("v3 WidgetList items = %v", got)
	}
	for _, name := range []string{"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta", "io.k8s.apimachinery.pkg.apis.meta.v1.Status", "io.k8s.api.autoscaling.v1.Scale"} {
		if schemas[name] == nil {
			t.Errorf("v3 document lacks %s", name)
		}
	}
	for path, ops := range map[string][]string{
		"/apis/example.com/v1/":                                             {"get"},
		"/apis/example.com/v1/widgets":                                      {"get"},
		"/apis/example.com/v1/namespaces/{namespace}/widgets":               {"get", "post", "delete"},
		"/apis/example.com/v1/namespaces/{namespace}/widgets/{name}":        {"get", "put", "patch", "delete"},
		"/apis/example.com/v1/namespaces/{namespace}/widgets/{name}/status": {"get", "put", "patch"},
		"/apis/example.com/v1/namespaces/{namespace}/widgets/{name}/scale":  {"get", "put", "patch"},
	} {
		for _, op := range ops {
			if at(doc, "paths", path, op) == nil {
				t.Errorf("v3 lacks %s %s", op, path)
			}
		}
	}
	if got := at(doc, "paths", "/apis/example.com/v1/namespaces/{namespace}/widgets/{name}/scale", "get", "responses", "200", "content", "application/json", "schema", "$ref"); got != "#/components/schemas/io.k8s.api.autoscaling.v1.Scale" {
		t.Errorf("scale returns %v", got)
	}
	if got := at(doc, "paths", "/apis/example.com/v1/namespaces/{namespace}/widgets/{name}", "patch", "operationId"); got != "patchExampleComV1NamespacedWidget" {
		t.Errorf("patch operationId = %v", got)
	}
	patch := at(doc, "paths", "/apis/example.com/v1/namespaces/{namespace}/widgets/{name}/status", "patch", "requestBody", "content").(map[string]any)
	if patch["application/apply-patch+yaml"] == nil || patch["application/strategic-merge-patch+json"] != nil {
		t.Errorf("status patch takes %v, want apply and no strategic merge", patch)
	}

	// Swagger 2.0: what v2 cannot say is gone, and kubectl's models parse.
	v2 := getJSON(t, srv.URL+PathV2, http.StatusOK)
	w2 := at(v2, "definitions", "com.example.v1.Widget")
	for _, tc := range []struct {
		keys []string
		want any
	}{
		{[]string{"properties", "metadata", "$ref"}, "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
		{[]string{"properties", "spec", "properties", "size", "type"}, nil},
		{[]string{"properties", "spec", "properties", "size", "nullable"}, nil},
		{[]string{"properties", "spec", "properties", "size", "description"}, "How big."},
		{[]string{"properties", "spec", "properties", "color", "default"}, nil},
		{[]string{"properties", "spec", "required"}, []any{"ports"}},
		{[]string{"properties", "spec", "properties", "extra", "properties"}, nil},
		{[]string{"properties", "spec", "properties", "extra", "type"}, nil},
		{[]string{"properties", "spec", "properties", "amount", "anyOf"}, nil},
		{[]string{"x-kubernetes-group-version-kind"}, mustJSON(`[{"group":"example.com","version":"v1","kind":"Widget"}]`)},
	} {
		if got := at(w2, tc.keys...); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("v2 Widget %s = %v, want %v", strings.Join(tc.keys, "."), got, tc.want)
		}
	}
	if at(v2, "paths", "/apis/example.com/v1beta1/namespaces/{namespace}/widgets/{name}") == nil || at(v2, "paths", "/api/v1/pods") == nil {
		t.Errorf("v2 lacks the custom or the built-in paths")
	}
	pb, err := discoveryClient(t, srv).OpenAPISchema()
	if err != nil {
		t.Fatalf("OpenAPISchema: %v", err)
	}
	models, err := kproto.NewOpenAPIData(pb)
	if err != nil {
		t.Fatalf("NewOpenAPIData: %v", err)
	}
	if models.LookupModel("com.example.v1beta1.Widget") == nil {
		t.Errorf("v2 models lack com.example.v1beta1.Widget")
	}

	// One version goes, then the definition.
	if err := d.SetCustomResources("widgets.example.com", widgets(t, "v1")); err != nil {
		t.Fatal(err)
	}
	getJSON(t, srv.URL+PathV3+"/apis/example.com/v1beta1", http.StatusNotFound)
	getJSON(t, srv.URL+PathV3+"/apis/example.com/v1", http.StatusOK)
	if err := d.SetCustomResources("widgets.example.com", nil); err != nil {
		t.Fatal(err)
	}
	index := getJSON(t, srv.URL+PathV3, http.StatusOK)
	if at(index, "paths", "apis/example.com/v1") != nil || len(at(index, "paths").(map[string]any)) != len(before) {
		t.Errorf("index after removal = %v", at(index, "paths"))
	}
	if at(getJSON(t, srv.URL+PathV2, http.StatusOK), "definitions", "com.example.v1.Widget") != nil {
		t.Errorf("v2 still defines Widget")
	}
}

// TestCustomResourcesConcurrently changes the custom resources while
// clients read the documents (run with -race).
func TestCustomResourcesConcurrently(t *testing.T) {
	d, srv := startServer(t)
	crs := widgets(t, "v1")
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("o%d", i)
			for range 3 {
				r := crs[0]
				r.Resource, r.Kind, r.ListKind = owner+"s", "K"+owner, "K"+owner+"List"
				if err := d.SetCustomResources(owner, []CustomResource{r}); err != nil {
					t.Error(err)
				}
				for _, p := range []string{PathV3, PathV3 + "/apis/example.com/v1"} {
					resp, err := http.Get(srv.URL + p)
					if err != nil {
						t.Error(err)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	doc := getJSON(t, srv.URL+PathV3+"/apis/example.com/v1", http.StatusOK)
	for i := range 4 {
		if at(doc, "components", "schemas", fmt.Sprintf("com.example.v1.Ko%d", i)) == nil {
			t.Errorf("the document lacks Ko%d", i)
		}
	}
}

// TestApplyModels merges two appliers' entries of a map list by its key,
// with the type converter server-side apply builds from ApplyModels.
func TestApplyModels(t *testing.T) {
	models, err := ApplyModels(widgets(t, "v1")[0])
	if err != nil {
		t.Fatal(err)
	}
	tc, err := managedfields.NewTypeConverter(models, false)
	if err != nil {
		t.Fatalf("NewTypeConverter: %v", err)
	}
	obj := func(port string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "example.com/v1", "kind": "Widget",
			"metadata": map[string]any{"name": "w", "ownerReferences": []any{map[string]any{"uid": port, "name": port, "kind": "K", "apiVersion": "v1"}}},
			"spec":     map[string]any{"ports": []any{map[string]any{"name": port, "port": int64(80)}}},
		}}
	}
	a, err := tc.ObjectToTyped(obj("a"))
	if err != nil {
		t.Fatalf("ObjectToTyped: %v", err)
	}
	b, err := tc.ObjectToTyped(obj("b"))
	if err != nil {
		t.Fatal(err)
	}
	merged, err := a.Merge(b)
	if err != nil {
		t.Fatal(err)
	}
	u := merged.AsValue().Unstructured().(map[string]any)
	ports, _, _ := unstructured.NestedSlice(u, "spec", "ports")
	owners, _, _ := unstructured.NestedSlice(u, "metadata", "ownerReferences")
	if len(ports) != 2 || len(owners) != 2 {
		t.Errorf("merged ports %v and ownerReferences %v, want both entries of each", ports, owners)
	}
	bad := obj("a")
	bad.Object["spec"].(map[string]any)["nonsense"] = true
	if _, err := tc.ObjectToTyped(bad); err == nil {
		t.Errorf("ObjectToTyped accepted a field the schema does not know")
	}
}
