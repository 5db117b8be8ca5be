package openapi

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// documents builds testResources and decodes its v2 document and its v3
// documents by group-version.
func documents(t *testing.T) (v2 map[string]any, v3 map[string]map[string]any) {
	t.Helper()
	d, err := New(testResources(), testInfo)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	decode := func(doc *document) map[string]any {
		enc, err := doc.json()
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(enc.data, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	v3 = map[string]map[string]any{}
	for gv, doc := range d.served.Load().v3 {
		v3[gv] = decode(doc)
	}
	return decode(d.served.Load().v2), v3
}

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

func mustJSON(s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		panic(err)
	}
	return v
}

// TestGolden pins the whole description of the local, CRD-ish kind: its
// definitions and paths in both documents.
func TestGolden(t *testing.T) {
	v2, v3 := documents(t)
	pick := func(m any, keep func(string) bool) map[string]any {
		out := map[string]any{}
		for k, v := range m.(map[string]any) {
			if keep(k) {
				out[k] = v
			}
		}
		return out
	}
	local := func(name string) bool { return strings.HasPrefix(name, "io.cci.") }
	ours := func(path string) bool { return strings.Contains(path, "/networking.cci.io/") }
	gv := v3["apis/networking.cci.io/v1beta1"]
	for file, doc := range map[string]any{
		"network.v2.json": map[string]any{
			"definitions": pick(v2["definitions"], local),
			"paths":       pick(v2["paths"], ours),
		},
		"network.v3.json": map[string]any{
			"components": pick(at(gv, "components", "schemas"), local),
			"paths":      gv["paths"],
		},
	} {
		got, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, '\n')
		path := filepath.Join("testdata", file)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update to write it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generated document; run go test -update and review the diff", path)
		}
	}
}

// TestSpecialTypes checks the types with a custom JSON form against what
// kube-apiserver serves for them.
func TestSpecialTypes(t *testing.T) {
	v2, v3 := documents(t)
	core := v3["api/v1"]
	for _, tc := range []struct {
		name   string
		v2, v3 string // JSON of the expected keys (description aside)
		gv     string // a v3 document that holds it
	}{
		{"io.k8s.apimachinery.pkg.util.intstr.IntOrString",
			`{"type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": true}`,
			`{"oneOf": [{"type": "integer"}, {"type": "string"}], "format": "int-or-string", "x-kubernetes-int-or-string": true}`, "api/v1"},
		{"io.k8s.apimachinery.pkg.api.resource.Quantity",
			`{"type": "string"}`,
			`{"oneOf": [{"type": "string"}, {"type": "number"}]}`, "api/v1"},
		{"io.k8s.apimachinery.pkg.apis.meta.v1.Time",
			`{"type": "string", "format": "date-time"}`, `{"type": "string", "format": "date-time"}`, "api/v1"},
		{"io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime",
			`{"type": "string", "format": "date-time"}`, `{"type": "string", "format": "date-time"}`, "apis/events.k8s.io/v1"},
		{"io.k8s.apimachinery.pkg.apis.meta.v1.Duration",
			`{"type": "string"}`, `{"type": "string"}`, "apis/networking.cci.io/v1beta1"},
		{"io.k8s.apimachinery.pkg.runtime.RawExtension",
			`{"type": "object"}`, `{"type": "object"}`, "api/v1"},
		{"io.k8s.apimachinery.pkg.apis.meta.v1.Status",
			`{"x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Status"}]}`,
			`{"x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Status"}]}`, "api/v1"},
		{"io.k8s.api.autoscaling.v1.Scale",
			`{"x-kubernetes-group-version-kind": [{"group": "autoscaling", "version": "v1", "kind": "Scale"}]}`,
			`{"x-kubernetes-group-version-kind": [{"group": "autoscaling", "version": "v1", "kind": "Scale"}]}`, "apis/apps/v1"},
		{"io.k8s.api.apps.v1.DeploymentList",
			`{"x-kubernetes-group-version-kind": [{"group": "apps", "version": "v1", "kind": "DeploymentList"}]}`,
			`{"x-kubernetes-group-version-kind": [{"group": "apps", "version": "v1", "kind": "DeploymentList"}]}`, "apis/apps/v1"},
	} {
		for _, f := range []struct {
			doc  any
			want string
		}{{at(v2, "definitions", tc.name), tc.v2}, {at(v3[tc.gv], "components", "schemas", tc.name), tc.v3}} {
			got, _ := f.doc.(map[string]any)
			if got == nil {
				t.Errorf("%s: not defined", tc.name)
				continue
			}
			for k, want := range mustJSON(f.want).(map[string]any) {
				if !reflect.DeepEqual(got[k], want) {
					t.Errorf("%s: %s = %v, want %v", tc.name, k, got[k], want)
				}
			}
			if got["description"] == "" || got["description"] == nil {
				t.Errorf("%s: no description", tc.name)
			}
		}
	}

	// Types that every group-version accepts list them all.
	for _, name := range []string{"io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions", "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent"} {
		got, _ := at(v2, "definitions", name, extGVK).([]any)
		for _, want := range []string{`{"group": "", "version": "v1"`, `{"group": "apps", "version": "v1"`, `{"group": "networking.cci.io", "version": "v1beta1"`} {
			kind := name[strings.LastIndex(name, ".")+1:]
			if !slices.ContainsFunc(got, func(g any) bool { return reflect.DeepEqual(g, mustJSON(want+`, "kind": "`+kind+`"}`)) }) {
				t.Errorf("%s: %s lacks %s", name, extGVK, want)
			}
		}
	}

	// In v3 a described reference is wrapped in allOf; a bare one is not.
	pod := at(core, "components", "schemas", "io.k8s.api.core.v1.Pod", "properties")
	if got := at(pod, "metadata"); at(got, "$ref") != nil || at(got, "description") == nil ||
		!reflect.DeepEqual(at(got, "allOf"), mustJSON(`[{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]`)) {
		t.Errorf("v3 Pod.metadata = %v", got)
	}
	if got := at(v2, "definitions", "io.k8s.api.core.v1.Pod", "properties", "metadata", "$ref"); got != "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" {
		t.Errorf("v2 Pod.metadata $ref = %v", got)
	}
	items := at(core, "components", "schemas", "io.k8s.api.core.v1.PodList", "properties", "items", "items")
	if !reflect.DeepEqual(items, mustJSON(`{"$ref": "#/components/schemas/io.k8s.api.core.v1.Pod"}`)) {
		t.Errorf("v3 PodList.items.items = %v", items)
	}
}

// TestV3Components checks that each group-version's document holds exactly
// the definitions its paths reach.
func TestV3Components(t *testing.T) {
	_, v3 := documents(t)
	apps := at(v3["apis/apps/v1"], "components", "schemas").(map[string]any)
	for _, want := range []string{"io.k8s.api.apps.v1.Deployment", "io.k8s.api.core.v1.PodSpec", "io.k8s.api.autoscaling.v1.Scale", "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"} {
		if apps[want] == nil {
			t.Errorf("apps/v1 lacks %s", want)
		}
	}
	for _, unwanted := range []string{"io.k8s.api.core.v1.Pod", "io.k8s.api.rbac.v1.Role", "io.cci.networking.v1beta1.Network"} {
		if apps[unwanted] != nil {
			t.Errorf("apps/v1 holds %s", unwanted)
		}
	}
	// Every reference in every document resolves.
	for gv, doc := range v3 {
		schemas := at(doc, "components", "schemas").(map[string]any)
		params, _ := at(doc, "components", "parameters").(map[string]any)
		walkRefs(doc, func(ref string) {
			name := ref[strings.LastIndex(ref, "/")+1:]
			switch {
			case strings.HasPrefix(ref, "#/components/schemas/") && schemas[name] != nil:
			case strings.HasPrefix(ref, "#/components/parameters/") && params[name] != nil:
			default:
				t.Errorf("%s: dangling $ref %s", gv, ref)
			}
		})
	}
}

func walkRefs(v any, visit func(string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if s, ok := e.(string); ok && k == "$ref" {
				visit(s)
			}
			walkRefs(e, visit)
		}
	case []any:
		for _, e := range v {
			walkRefs(e, visit)
		}
	}
}

// TestOperations checks the operations kubectl and client tools rely on,
// in both documents.
func TestOperations(t *testing.T) {
	v2, v3 := documents(t)
	const (
		pods = "/api/v1/namespaces/{namespace}/pods"
		pod  = pods + "/{name}"
	)
	for _, tc := range []struct {
		path, method, id, action string
		gvk                      string   // JSON
		params                   []string // query parameters among the operation's
		media                    []string // v2 consumes (write) or produces (read)
	}{
		{"/api/v1/", "get", "getCoreV1APIResources", "", "", nil, []string{"application/json"}},
		{pods, "get", "listCoreV1NamespacedPod", "list", `{"group": "", "version": "v1", "kind": "Pod"}`,
			[]string{"labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch", "allowWatchBookmarks"},
			[]string{"application/json;stream=watch"}},
		{"/api/v1/pods", "get", "listCoreV1PodForAllNamespaces", "list", `{"group": "", "version": "v1", "kind": "Pod"}`, []string{"labelSelector"}, nil},
		{pods, "post", "createCoreV1NamespacedPod", "post", "", []string{"dryRun", "fieldManager", "fieldValidation"}, []string{"application/json"}},
		{pods, "delete", "deleteCoreV1CollectionNamespacedPod", "deletecollection", "", []string{"labelSelector", "gracePeriodSeconds", "propagationPolicy", "dryRun"}, nil},
		{pod, "get", "readCoreV1NamespacedPod", "get", "", nil, nil},
		{pod, "put", "replaceCoreV1NamespacedPod", "put", "", []string{"dryRun", "fieldManager", "fieldValidation"}, nil},
		{pod, "patch", "patchCoreV1NamespacedPod", "patch", `{"group": "", "version": "v1", "kind": "Pod"}`,
			[]string{"dryRun", "fieldManager", "fieldValidation", "force"},
			[]string{"application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json"}},
		{pod, "delete", "deleteCoreV1NamespacedPod", "delete", "", []string{"gracePeriodSeconds", "propagationPolicy"}, nil},
		{pod + "/status", "patch", "patchCoreV1NamespacedPodStatus", "patch", `{"group": "", "version": "v1", "kind": "Pod"}`, []string{"fieldValidation"}, nil},
		{pod + "/log", "get", "readCoreV1NamespacedPodLog", "get", `{"group": "", "version": "v1", "kind": "Pod"}`, []string{"container", "follow", "tailLines"}, []string{"text/plain"}},
		{pod + "/exec", "post", "connectCoreV1PostNamespacedPodExec", "connect", `{"group": "", "version": "v1", "kind": "PodExecOptions"}`, []string{"command", "container", "stdin", "tty"}, nil},
		{pod + "/exec", "get", "connectCoreV1GetNamespacedPodExec", "connect", "", nil, nil},
		{pod + "/eviction", "post", "createCoreV1NamespacedPodEviction", "post", `{"group": "policy", "version": "v1", "kind": "Eviction"}`, nil, nil},
		{"/api/v1/watch/namespaces/{namespace}/pods", "get", "watchCoreV1NamespacedPodList", "watchlist", "", []string{"labelSelector"}, []string{"application/json;stream=watch"}},
		{"/api/v1/watch/pods", "get", "watchCoreV1PodListForAllNamespaces", "watchlist", "", nil, nil},
		{"/api/v1/watch/namespaces/{namespace}/pods/{name}", "get", "watchCoreV1NamespacedPod", "watch", "", nil, nil},
		{"/api/v1/namespaces/{name}", "get", "readCoreV1Namespace", "get", `{"group": "", "version": "v1", "kind": "Namespace"}`, nil, nil},
		{"/api/v1/namespaces/{name}/finalize", "put", "replaceCoreV1NamespaceFinalize", "put", "", nil, nil},
		{"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", "get", "readAppsV1NamespacedDeploymentScale", "get", `{"group": "autoscaling", "version": "v1", "kind": "Scale"}`, nil, nil},
		{"/apis/rbac.authorization.k8s.io/v1/clusterroles", "get", "listRbacAuthorizationV1ClusterRole", "list", "", nil, nil},
		{"/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "post", "createAuthorizationV1SelfSubjectAccessReview", "post", "", nil, nil},
		{"/apis/networking.cci.io/v1beta1/namespaces/{namespace}/networks/{name}", "patch", "patchNetworkingCciIoV1beta1NamespacedNetwork", "patch",
			`{"group": "networking.cci.io", "version": "v1beta1", "kind": "Network"}`, []string{"fieldValidation"}, nil},
	} {
		name := strings.ToUpper(tc.method) + " " + tc.path
		op2, _ := at(v2, "paths", tc.path, tc.method).(map[string]any)
		gv := strings.Join(strings.Split(strings.TrimPrefix(tc.path, "/"), "/")[:2], "/")
		if strings.HasPrefix(tc.path, "/apis/") {
			gv = strings.Join(strings.Split(strings.TrimPrefix(tc.path, "/"), "/")[:3], "/")
		}
		op3, _ := at(v3[gv], "paths", tc.path, tc.method).(map[string]any)
		if op2 == nil || op3 == nil {
			t.Errorf("%s: no operation (v2 %v, v3 %v)", name, op2 != nil, op3 != nil)
			continue
		}
		for doc, op := range map[string]map[string]any{"v2": op2, "v3": op3} {
			if op["operationId"] != tc.id {
				t.Errorf("%s %s: operationId %v, want %s", doc, name, op["operationId"], tc.id)
			}
			if tc.action != "" && op[extAction] != tc.action {
				t.Errorf("%s %s: %s %v, want %s", doc, name, extAction, op[extAction], tc.action)
			}
			if tc.gvk != "" && !reflect.DeepEqual(op[extGVK], mustJSON(tc.gvk)) {
				t.Errorf("%s %s: %s %v, want %s", doc, name, extGVK, op[extGVK], tc.gvk)
			}
			var refs map[string]any
			if doc == "v2" {
				refs, _ = v2["parameters"].(map[string]any)
			} else {
				refs, _ = at(v3[gv], "components", "parameters").(map[string]any)
			}
			var got []string
			params, _ := op["parameters"].([]any)
			for _, p := range params {
				if ref, ok := at(p, "$ref").(string); ok {
					p = refs[ref[strings.LastIndex(ref, "/")+1:]]
				}
				if at(p, "in") == "query" {
					got = append(got, at(p, "name").(string))
				}
			}
			for _, want := range tc.params {
				if !slices.Contains(got, want) {
					t.Errorf("%s %s: query parameters %v lack %s", doc, name, got, want)
				}
			}
		}
		var media []any
		if tc.method == "get" {
			media, _ = op2["produces"].([]any)
		} else {
			media, _ = op2["consumes"].([]any)
		}
		for _, want := range tc.media {
			if !slices.Contains(media, any(want)) {
				t.Errorf("v2 %s: media types %v lack %s", name, media, want)
			}
		}
	}
	// Only the verbs served have operations.
	if at(v2, "paths", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "get") != nil {
		t.Errorf("a create-only resource has a list operation")
	}
	// A patch operation keeps fieldValidation inline, where kubectl looks.
	for _, p := range at(v3["api/v1"], "paths", "/api/v1/namespaces/{namespace}/pods/{name}", "patch", "parameters").([]any) {
		if at(p, "$ref") != nil {
			t.Errorf("v3 PATCH pod has a shared parameter %v", p)
		}
	}
}
