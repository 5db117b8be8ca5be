package crd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"

	"cella.dev/cella/internal/servertest"
)

// gadgetsCRD has a list merged by key (x-kubernetes-list-type: map) and
// described fields.
const gadgetsCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.org
spec:
  group: example.org
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
    schema:
      openAPIV3Schema:
        type: object
        description: A Gadget is a thing with ports.
        properties:
          spec:
            type: object
            description: GadgetSpec is what the gadget should be.
            properties:
              label: {type: string, nullable: true, description: What the gadget is called.}
              ports:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties:
                    name: {type: string}
                    port: {type: integer}
          status:
            type: object
            properties:
              ready: {type: boolean}
`

var gadgets = schema.GroupVersionResource{Group: "example.org", Version: "v1", Resource: "gadgets"}

// at walks decoded JSON by object keys.
func at(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// TestOpenAPIOfCustomResources reads a definition's OpenAPI documents as
// clients do, from the moment it is Established (it is published before),
// until it is deleted.
func TestOpenAPIOfCustomResources(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	ext := apiextensionsclient.NewForConfigOrDie(srv.RestConfig())
	oa := discovery.NewDiscoveryClientForConfigOrDie(srv.RestConfig()).OpenAPIV3()
	createEstablished(t, ext, gadgetsCRD)

	paths, err := oa.Paths()
	if err != nil {
		t.Fatalf("Paths: %v", err)
	}
	gv := paths["apis/example.org/v1"]
	if gv == nil {
		t.Fatalf("/openapi/v3 lacks apis/example.org/v1 once the definition is Established")
	}
	data, err := gv.Schema("application/json")
	if err != nil {
		t.Fatalf("Schema: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	gadget := at(doc, "components", "schemas", "org.example.v1.Gadget")
	for _, tc := range []struct {
		keys []string
		want string
	}{
		{[]string{"description"}, "A Gadget is a thing with ports."},
		{[]string{"x-kubernetes-group-version-kind"}, "[map[group:example.org kind:Gadget version:v1]]"},
		{[]string{"properties", "spec", "description"}, "GadgetSpec is what the gadget should be."},
		{[]string{"properties", "spec", "properties", "ports", "x-kubernetes-list-map-keys"}, "[name]"},
		{[]string{"properties", "metadata", "$ref"}, "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
		{[]string{"properties", "kind", "type"}, "string"},
	} {
		if got := fmt.Sprint(at(gadget, tc.keys...)); got != tc.want {
			t.Errorf("v3 Gadget %v = %s, want %s", tc.keys, got, tc.want)
		}
	}
	if at(doc, "components", "schemas", "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta") == nil || at(doc, "components", "schemas", "org.example.v1.GadgetList") == nil {
		t.Errorf("v3 document lacks ObjectMeta or GadgetList")
	}
	if at(doc, "paths", "/apis/example.org/v1/namespaces/{namespace}/gadgets/{name}/status", "patch") == nil {
		t.Errorf("v3 document lacks the status subresource's PATCH")
	}

	// Swagger 2.0 over plain HTTP: nullable is something v2 cannot say.
	resp, err := srv.HTTPClient().Do(srv.Request(http.MethodGet, "/openapi/v2", nil))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var v2 map[string]any
	if err := json.Unmarshal(body, &v2); err != nil {
		t.Fatalf("GET /openapi/v2: %d: %v", resp.StatusCode, err)
	}
	label := at(v2, "definitions", "org.example.v1.Gadget", "properties", "spec", "properties", "label")
	if label == nil || at(label, "nullable") != nil || at(label, "type") != nil || at(label, "description") != "What the gadget is called." {
		t.Errorf("v2 Gadget spec.label = %v, want its description without type or nullable", label)
	}

	// Deleted, the definition's documents go.
	if err := ext.ApiextensionsV1().CustomResourceDefinitions().Delete(ctx, "gadgets.example.org", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		paths, err := oa.Paths()
		return err == nil && paths["apis/example.org/v1"] == nil, nil
	})
	if err != nil {
		t.Errorf("/openapi/v3 still lists apis/example.org/v1 after the definition was deleted")
	}
}

// TestApplyMergesByListMapKeys has two field managers apply an entry each
// of a list the schema merges by key: both keep theirs, and one that drops
// its entry removes only that one. By the deduced structure the list would
// be atomic, and the second apply would conflict.
func TestApplyMergesByListMapKeys(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	createEstablished(t, apiextensionsclient.NewForConfigOrDie(srv.RestConfig()), gadgetsCRD)
	gs := dynamic.NewForConfigOrDie(srv.RestConfig()).Resource(gadgets).Namespace("default")

	apply := func(manager string, ports ...any) *unstructured.Unstructured {
		t.Helper()
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "example.org/v1", "kind": "Gadget",
			"metadata": map[string]any{"name": "g"},
			"spec":     map[string]any{"ports": ports},
		}}
		got, err := gs.Apply(ctx, "g", obj, metav1.ApplyOptions{FieldManager: manager})
		if err != nil {
			t.Fatalf("apply by %s: %v", manager, err)
		}
		return got
	}
	port := func(name string, n int64) any { return map[string]any{"name": name, "port": n} }
	names := func(u *unstructured.Unstructured) []string {
		ports, _, _ := unstructured.NestedSlice(u.Object, "spec", "ports")
		var out []string
		for _, p := range ports {
			out = append(out, fmt.Sprint(p.(map[string]any)["name"], "=", p.(map[string]any)["port"]))
		}
		return out
	}

	apply("a", port("http", 80))
	got := apply("b", port("metrics", 9090))
	if fmt.Sprint(names(got)) != "[http=80 metrics=9090]" {
		t.Errorf("after two appliers, ports = %v, want http=80 and metrics=9090", names(got))
	}
	managers := map[string]bool{}
	for _, mf := range got.GetManagedFields() {
		managers[mf.Manager] = true
	}
	if !managers["a"] || !managers["b"] {
		t.Errorf("managers = %v, want a and b", managers)
	}
	got = apply("a", port("http", 8080))
	if fmt.Sprint(names(got)) != "[http=8080 metrics=9090]" {
		t.Errorf("after a changed its port, ports = %v", names(got))
	}
	got = apply("a")
	if fmt.Sprint(names(got)) != "[metrics=9090]" {
		t.Errorf("after a dropped its entry, ports = %v, want metrics=9090 only", names(got))
	}
}

// TestApplyAcrossVersions has two field managers apply through two
// versions of a definition: each keeps its entry of the keyed list and
// its managedFields entry, since the field manager types the object in
// the version of every entry (with a converter of one version only, the
// entry of the other would be dropped).
func TestApplyAcrossVersions(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	twoVersions := strings.Replace(gadgetsCRD, "  versions:\n  - name: v1\n", "  versions:\n  - name: v1beta1\n    served: true\n    storage: false\n    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n          spec:\n            type: object\n            properties:\n              ports:\n                type: array\n                x-kubernetes-list-type: map\n                x-kubernetes-list-map-keys: [name]\n                items:\n                  type: object\n                  required: [name]\n                  properties:\n                    name: {type: string}\n                    port: {type: integer}\n  - name: v1\n", 1)
	createEstablished(t, apiextensionsclient.NewForConfigOrDie(srv.RestConfig()), twoVersions)
	dyn := dynamic.NewForConfigOrDie(srv.RestConfig())

	apply := func(manager, version, port string) *unstructured.Unstructured {
		t.Helper()
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "example.org/" + version, "kind": "Gadget",
			"metadata": map[string]any{"name": "g"},
			"spec":     map[string]any{"ports": []any{map[string]any{"name": port}}},
		}}
		gvr := gadgets
		gvr.Version = version
		got, err := dyn.Resource(gvr).Namespace("default").Apply(ctx, "g", obj, metav1.ApplyOptions{FieldManager: manager})
		if err != nil {
			t.Fatalf("apply by %s through %s: %v", manager, version, err)
		}
		return got
	}
	apply("old", "v1beta1", "http")
	got := apply("new", "v1", "metrics")
	ports, _, _ := unstructured.NestedSlice(got.Object, "spec", "ports")
	managers := map[string]string{}
	for _, mf := range got.GetManagedFields() {
		managers[mf.Manager] = mf.APIVersion
	}
	if len(ports) != 2 || managers["old"] != "example.org/v1beta1" || managers["new"] != "example.org/v1" {
		t.Errorf("ports %v, managers %v; want both ports, old at v1beta1 and new at v1", ports, managers)
	}
}
