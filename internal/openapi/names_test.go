package openapi

import (
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

func TestNames(t *testing.T) {
	for _, tc := range []struct{ fn, in, got, want string }{
		{"packagePrefix", "cella.dev/cella/internal/apis/x", packagePrefix("cella.dev/cella/internal/apis/x"), "dev.cella.cella.internal.apis.x"},
		{"packagePrefix", "k8s.io/api/core/v1", packagePrefix("k8s.io/api/core/v1"), "io.k8s.api.core.v1"},
		{"packagePrefix", "main", packagePrefix("main"), "main"},
		{"groupPrefix", "networking.cci.io", groupPrefix("networking.cci.io"), "io.cci.networking"},
		{"groupPrefix", "batch.volcano.sh", groupPrefix("batch.volcano.sh"), "sh.volcano.batch"},
		{"groupPrefix", "batch", groupPrefix("batch"), "io.k8s.api.batch"},
		{"groupPrefix", "", groupPrefix(""), "io.k8s.api.core"},
		{"groupPrefix", "metrics.k8s.io", groupPrefix("metrics.k8s.io"), "io.k8s.api.metrics"},
		{"operationGroup", "", operationGroup(""), "Core"},
		{"operationGroup", "rbac.authorization.k8s.io", operationGroup("rbac.authorization.k8s.io"), "RbacAuthorization"},
		{"operationGroup", "crd.yangtse.cni", operationGroup("crd.yangtse.cni"), "CrdYangtseCni"},
		{"operationGroup", "my-group.example.com", operationGroup("my-group.example.com"), "MyGroupExampleCom"},
		{"operationTag", "", operationTag("", "v1"), "core_v1"},
		{"operationTag", "rbac.authorization.k8s.io", operationTag("rbac.authorization.k8s.io", "v1"), "rbacAuthorization_v1"},
		{"sanitizeTypeName", "List[a/b.C]", sanitizeTypeName("List[a/b.C]"), "List_a_b.C_"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s(%q) = %q, want %q", tc.fn, tc.in, tc.got, tc.want)
		}
	}

	for pkg, want := range map[string]string{
		"k8s.io/api/autoscaling/v1":        "autoscaling/v1",
		"k8s.io/api/core/v1":               "/v1",
		"k8s.io/api/rbac/v1":               "rbac.authorization.k8s.io/v1",
		"k8s.io/api/flowcontrol/v1":        "flowcontrol.apiserver.k8s.io/v1",
		"k8s.io/api/storage/v1":            "storage.k8s.io/v1",
		"k8s.io/apimachinery/pkg/apis/x":   "",
		"cella.dev/cella/internal/apis/v1": "",
	} {
		g, v, ok := kubernetesGroupVersion(pkg)
		got := ""
		if ok {
			got = g + "/" + v
		}
		if got != want {
			t.Errorf("kubernetesGroupVersion(%q) = %q, want %q", pkg, got, want)
		}
	}
}

// TestDefinitionNames checks which rule names a type.
func TestDefinitionNames(t *testing.T) {
	type local struct{}
	for _, tc := range []struct {
		name      string
		resources []Resource
		typ       reflect.Type
		want      string
	}{
		{"model name", nil, reflect.TypeFor[corev1.Pod](), "io.k8s.api.core.v1.Pod"},
		{"group of the package", testResources(), reflect.TypeFor[Subnet](), "io.cci.networking.v1beta1.Subnet"},
		{"import path", nil, reflect.TypeFor[local](), "dev.cella.cella.internal.openapi.local"},
		{"two group-versions in one package", []Resource{
			{Group: "a.example.com", Version: "v1", Type: reflect.TypeFor[Network]()},
			{Group: "b.example.com", Version: "v1", Type: reflect.TypeFor[Schema]()},
		}, reflect.TypeFor[Subnet](), "dev.cella.cella.internal.openapi.Subnet"},
		{"k8s.io types keep their names", []Resource{
			{Group: "apps", Version: "v1", Type: reflect.TypeFor[appsv1.Deployment]()},
		}, reflect.TypeFor[appsv1.DeploymentSpec](), "io.k8s.api.apps.v1.DeploymentSpec"},
	} {
		if got := newNamer(tc.resources).name(tc.typ); got != tc.want {
			t.Errorf("%s: name(%v) = %q, want %q", tc.name, tc.typ, got, tc.want)
		}
	}
}

// Two local types that claim one model name.
type (
	clashA struct{ A string }
	clashB struct{ B string }
)

func (clashA) OpenAPIModelName() string { return "dev.cella.Clash" }
func (clashB) OpenAPIModelName() string { return "dev.cella.Clash" }

type clashHolder struct {
	A clashA `json:"a"`
	B clashB `json:"b"`
}

func TestNewRejects(t *testing.T) {
	pod := reflect.TypeFor[corev1.Pod]()
	podList := reflect.TypeFor[corev1.PodList]()
	ok := Resource{Version: "v1", Kind: "Pod", Resource: "pods", Namespaced: true, Verbs: allVerbs, Type: pod, ListType: podList}
	with := func(f func(*Resource)) []Resource {
		r := ok
		f(&r)
		return []Resource{r}
	}
	for _, tc := range []struct {
		name      string
		resources []Resource
		want      string
	}{
		{"no kind", with(func(r *Resource) { r.Kind = "" }), "Kind and Resource are required"},
		{"slash in name", with(func(r *Resource) { r.Resource = "pods/x" }), "must not contain"},
		{"twice", []Resource{ok, ok}, "served twice"},
		{"not a struct", with(func(r *Resource) { r.Type = reflect.TypeFor[string]() }), "Type must be a struct"},
		{"pointer type", with(func(r *Resource) { r.Type = reflect.TypeFor[*corev1.Pod]() }), "Type must be a struct"},
		{"no list type", with(func(r *Resource) { r.ListType = nil }), "ListType must be a struct"},
		{"unknown verb", with(func(r *Resource) { r.Verbs = []string{"get", "proxy"} }), `unknown verb "proxy"`},
		{"subresource twice", with(func(r *Resource) {
			r.Subresources = []Subresource{{Name: "status", Type: pod, Verbs: []string{"get"}}, {Name: "status", Type: pod, Verbs: []string{"get"}}}
		}), `subresource "status" served twice`},
		{"subresource verb", with(func(r *Resource) {
			r.Subresources = []Subresource{{Name: "status", Type: pod, Verbs: []string{"list"}}}
		}), `unsupported verb "list"`},
		{"update without a type", with(func(r *Resource) {
			r.Subresources = []Subresource{{Name: "log", Verbs: []string{"update"}}}
		}), "needs a Type"},
		{"name clash", []Resource{{Group: "x.example.com", Version: "v1", Kind: "Clash", Resource: "clashes",
			Verbs: []string{"get"}, Type: reflect.TypeFor[clashHolder]()}}, `both have the definition name "dev.cella.Clash"`},
	} {
		_, err := New(tc.resources, testInfo)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New() error = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := New(nil, testInfo); err != nil {
		t.Errorf("New(nil): %v", err)
	}
}
