package crd_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"

	"cella.dev/cella/internal/servertest"
)

// widgetsCRD is a namespaced definition with a schema that defaults,
// enumerates, bounds and checks with CEL, status and scale subresources,
// printer columns, a short name and a category.
const widgetsCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd], categories: [all]}
  scope: Namespaced
  versions:
  - name: v1beta1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    additionalPrinterColumns:
    - {name: Size, type: string, jsonPath: .spec.size}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: string, default: medium, enum: [small, medium, large]}
              replicas: {type: integer, minimum: 0}
            x-kubernetes-validations:
            - {rule: "!has(self.replicas) || self.replicas <= 10", message: "at most 10 replicas"}
          status:
            type: object
            properties:
              replicas: {type: integer}
`

var widgets = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}

func decodeCRD(t *testing.T, doc string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	return decodeCRDB(t, doc)
}

func decodeCRDB(t testing.TB, doc string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict([]byte(doc), crd); err != nil {
		t.Fatal(err)
	}
	return crd
}

// createEstablished creates a definition and waits until it is
// Established.
func createEstablished(t *testing.T, ext apiextensionsclient.Interface, doc string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	ctx := context.Background()
	crd, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, decodeCRD(t, doc), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating the definition: %v", err)
	}
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		crd, err = ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("definition %s not established: %v (status %+v)", crd.Name, err, crd.Status)
	}
	return crd
}

func widget(name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]any{"name": name},
		"spec":     spec,
	}}
}

func TestCustomResourceLifecycle(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	ext := apiextensionsclient.NewForConfigOrDie(srv.RestConfig())
	dyn := dynamic.NewForConfigOrDie(srv.RestConfig())
	crd := createEstablished(t, ext, widgetsCRD)

	if crd.Status.AcceptedNames.Plural != "widgets" || crd.Status.AcceptedNames.ListKind != "WidgetList" {
		t.Errorf("acceptedNames = %+v", crd.Status.AcceptedNames)
	}
	if got := crd.Status.StoredVersions; len(got) != 1 || got[0] != "v1" {
		t.Errorf("storedVersions = %v, want [v1]", got)
	}

	// Discovery lists the resource once the definition is Established.
	disc := discovery.NewDiscoveryClientForConfigOrDie(srv.RestConfig())
	rl, err := disc.ServerResourcesForGroupVersion("example.com/v1")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	found := map[string]metav1.APIResource{}
	for _, r := range rl.APIResources {
		found[r.Name] = r
	}
	if r := found["widgets"]; r.Kind != "Widget" || !r.Namespaced || len(r.ShortNames) != 1 || r.ShortNames[0] != "wd" || len(r.Categories) != 1 {
		t.Errorf("discovery of widgets = %+v", r)
	}
	if _, ok := found["widgets/status"]; !ok {
		t.Error("discovery lacks widgets/status")
	}
	if r := found["widgets/scale"]; r.Kind != "Scale" || r.Group != "autoscaling" {
		t.Errorf("discovery of widgets/scale = %+v", r)
	}
	groups, err := disc.ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	var pref string
	for _, g := range groups.Groups {
		if g.Name == "example.com" {
			pref = g.PreferredVersion.Version
		}
	}
	if pref != "v1" {
		t.Errorf("preferred version of example.com = %q, want v1", pref)
	}

	// An informer on the resource sees what follows.
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, "default", nil)
	inf := factory.ForResource(widgets).Informer()
	events := make(chan string, 100)
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { events <- "add " + obj.(*unstructured.Unstructured).GetName() },
		UpdateFunc: func(_, obj any) { events <- "update " + obj.(*unstructured.Unstructured).GetName() },
		DeleteFunc: func(obj any) {
			if u, ok := obj.(*unstructured.Unstructured); ok {
				events <- "delete " + u.GetName()
			}
		},
	})
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	if !cache.WaitForCacheSync(stop, inf.HasSynced) {
		t.Fatal("informer did not sync")
	}

	ws := dyn.Resource(widgets).Namespace("default")
	// Create: defaults filled, status dropped (a subresource), generation 1.
	w := widget("w1", map[string]any{"replicas": int64(2)})
	w.Object["status"] = map[string]any{"replicas": int64(9)}
	created, err := ws.Create(ctx, w, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if size, _, _ := unstructured.NestedString(created.Object, "spec", "size"); size != "medium" {
		t.Errorf("spec.size = %q, want the default medium", size)
	}
	if _, ok := created.Object["status"]; ok {
		t.Errorf("status kept on create: %v", created.Object["status"])
	}
	if created.GetGeneration() != 1 {
		t.Errorf("generation = %d, want 1", created.GetGeneration())
	}
	waitEvent(t, events, "add w1")

	// Unknown fields: pruned, and refused when fieldValidation is Strict.
	_, err = ws.Create(ctx, widget("w2", map[string]any{"bogus": true}), metav1.CreateOptions{FieldValidation: "Strict"})
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), `unknown field "spec.bogus"`) {
		t.Errorf("strict create with an unknown field: %v, want 400 naming spec.bogus", err)
	}
	pruned, err := ws.Create(ctx, widget("w2", map[string]any{"bogus": true}), metav1.CreateOptions{FieldValidation: "Ignore"})
	if err != nil {
		t.Fatalf("create ignoring unknown fields: %v", err)
	}
	if _, ok, _ := unstructured.NestedFieldNoCopy(pruned.Object, "spec", "bogus"); ok {
		t.Error("unknown field spec.bogus was stored")
	}

	// The schema and its CEL rules: 422 naming the fields.
	_, err = ws.Create(ctx, widget("bad", map[string]any{"size": "huge", "replicas": int64(-1)}), metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.size") || !strings.Contains(err.Error(), "spec.replicas") {
		t.Errorf("invalid create: %v, want 422 naming spec.size and spec.replicas", err)
	}
	_, err = ws.Create(ctx, widget("bad", map[string]any{"replicas": int64(11)}), metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "at most 10 replicas") {
		t.Errorf("create breaking the CEL rule: %v, want 422 with its message", err)
	}

	// Status only through /status; the main resource keeps it.
	cur, err := ws.Get(ctx, "w1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Object["status"] = map[string]any{"replicas": int64(2)}
	st, err := ws.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update status: %v", err)
	}
	if n, _, _ := unstructured.NestedInt64(st.Object, "status", "replicas"); n != 2 || st.GetGeneration() != 1 {
		t.Errorf("after /status: status.replicas %d generation %d, want 2 and 1", n, st.GetGeneration())
	}
	st.Object["status"] = map[string]any{"replicas": int64(7)}
	_ = unstructured.SetNestedField(st.Object, "large", "spec", "size")
	up, err := ws.Update(ctx, st, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if n, _, _ := unstructured.NestedInt64(up.Object, "status", "replicas"); n != 2 || up.GetGeneration() != 2 {
		t.Errorf("after update: status.replicas %d generation %d, want 2 (kept) and 2", n, up.GetGeneration())
	}

	// Scale.
	sc, err := ws.Get(ctx, "w1", metav1.GetOptions{}, "scale")
	if err != nil {
		t.Fatalf("get scale: %v", err)
	}
	if r, _, _ := unstructured.NestedInt64(sc.Object, "spec", "replicas"); r != 2 || sc.GetKind() != "Scale" {
		t.Errorf("scale = %v", sc.Object)
	}
	_, err = ws.Patch(ctx, "w1", types.MergePatchType, []byte(`{"spec":{"replicas":5}}`), metav1.PatchOptions{}, "scale")
	if err != nil {
		t.Fatalf("patch scale: %v", err)
	}
	if cur, _ = ws.Get(ctx, "w1", metav1.GetOptions{}); cur != nil {
		if r, _, _ := unstructured.NestedInt64(cur.Object, "spec", "replicas"); r != 5 {
			t.Errorf("spec.replicas after scaling = %d, want 5", r)
		}
	}

	// Server-side apply owns fields by manager and conflicts.
	apply := []byte(`{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w3"},"spec":{"replicas":1}}`)
	if _, err := ws.Patch(ctx, "w3", types.ApplyPatchType, apply, metav1.PatchOptions{FieldManager: "one"}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	apply = []byte(`{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w3"},"spec":{"replicas":3}}`)
	_, err = ws.Patch(ctx, "w3", types.ApplyPatchType, apply, metav1.PatchOptions{FieldManager: "two"})
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), ".spec.replicas") {
		t.Errorf("conflicting apply: %v, want 409 naming .spec.replicas", err)
	}

	// Another served version reads the same objects.
	v1beta1 := dyn.Resource(schema.GroupVersionResource{Group: "example.com", Version: "v1beta1", Resource: "widgets"}).Namespace("default")
	old, err := v1beta1.Get(ctx, "w1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get through v1beta1: %v", err)
	}
	if old.GetAPIVersion() != "example.com/v1beta1" {
		t.Errorf("apiVersion through v1beta1 = %q", old.GetAPIVersion())
	}

	// Tables use the printer columns.
	req := srv.Request(http.MethodGet, "/apis/example.com/v1/namespaces/default/widgets/w1", nil)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var table metav1.Table
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(body, &table); err != nil {
		t.Fatalf("table: %v: %s", err, body)
	}
	var cols []string
	for _, c := range table.ColumnDefinitions {
		cols = append(cols, c.Name)
	}
	if strings.Join(cols, ",") != "Name,Size,Replicas" || len(table.Rows) != 1 || table.Rows[0].Cells[1] != "large" {
		t.Errorf("table columns %v rows %v", cols, table.Rows)
	}

	// Deleting the definition deletes its objects, then itself, then the
	// endpoints.
	if err := ext.ApiextensionsV1().CustomResourceDefinitions().Delete(ctx, crd.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete definition: %v", err)
	}
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatal("the definition was not removed")
	}
	waitEvent(t, events, "delete w1")
	if _, err := ws.List(ctx, metav1.ListOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("list after the definition is gone: %v, want 404", err)
	}
	if _, err := disc.ServerResourcesForGroupVersion("example.com/v1"); !apierrors.IsNotFound(err) {
		t.Errorf("discovery of example.com/v1 after the definition is gone: %v, want 404", err)
	}

	// Made again, it starts empty.
	createEstablished(t, ext, widgetsCRD)
	list, err := ws.List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 0 {
		t.Errorf("list of a new definition: %v items, err %v; want none", len(list.Items), err)
	}
}

func waitEvent(t *testing.T, events <-chan string, want string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev == want {
				return
			}
		case <-deadline:
			t.Fatalf("no informer event %q", want)
		}
	}
}

// A definition whose kind another of its group has is not accepted, and
// not served.
func TestNameConflict(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	ext := apiextensionsclient.NewForConfigOrDie(srv.RestConfig())
	createEstablished(t, ext, widgetsCRD)
	other := decodeCRD(t, widgetsCRD)
	other.Name = "gadgets.example.com"
	other.Spec.Names = apiextensionsv1.CustomResourceDefinitionNames{Plural: "gadgets", Singular: "gadget", Kind: "Widget"}
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var cond *apiextensionsv1.CustomResourceDefinitionCondition
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, other.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for i, c := range got.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				t.Fatalf("conflicting definition established: %+v", got.Status)
			}
			if c.Type == apiextensionsv1.NamesAccepted {
				cond = &got.Status.Conditions[i]
			}
		}
		return cond != nil, nil
	})
	if err != nil || cond.Status != apiextensionsv1.ConditionFalse || cond.Reason != "KindConflict" || cond.Message != `"Widget" is already in use` {
		t.Fatalf("NamesAccepted = %+v (%v), want False KindConflict", cond, err)
	}
	resp, err := srv.HTTPClient().Do(srv.Request(http.MethodGet, "/apis/example.com/v1/gadgets", nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET of the unaccepted resource = %d, want 404", resp.StatusCode)
	}
}

// Custom resources are served again from the first request after a
// restart.
func TestServedAfterRestart(t *testing.T) {
	dir := t.TempDir()
	srv := servertest.Start(t, servertest.WithDataDir(dir))
	ctx := context.Background()
	createEstablished(t, apiextensionsclient.NewForConfigOrDie(srv.RestConfig()), widgetsCRD)
	ws := dynamic.NewForConfigOrDie(srv.RestConfig()).Resource(widgets).Namespace("default")
	if _, err := ws.Create(ctx, widget("kept", map[string]any{"size": "small"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()

	srv = servertest.Start(t, servertest.WithDataDir(dir))
	got, err := dynamic.NewForConfigOrDie(srv.RestConfig()).Resource(widgets).Namespace("default").Get(ctx, "kept", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	if size, _, _ := unstructured.NestedString(got.Object, "spec", "size"); size != "small" {
		t.Errorf("spec.size after restart = %q", size)
	}
}

// The garbage collector knows custom resources as soon as their
// definition is Established: a ConfigMap owned by a widget goes with the
// widget, and a widget owned by a ConfigMap with the ConfigMap.
func TestGarbageCollection(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	createEstablished(t, apiextensionsclient.NewForConfigOrDie(srv.RestConfig()), widgetsCRD)
	cs := srv.Clientset()
	ws := dynamic.NewForConfigOrDie(srv.RestConfig()).Resource(widgets).Namespace("default")

	owner, err := ws.Create(ctx, widget("owner", map[string]any{}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name:            "owned-by-widget",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "example.com/v1", Kind: "Widget", Name: "owner", UID: owner.GetUID()}},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	owned := widget("owned-by-configmap", map[string]any{})
	owned.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: cm.UID}})
	if _, err := ws.Create(ctx, owned, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	if err := ws.Delete(ctx, "owner", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().ConfigMaps("default").Delete(ctx, "owner", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err1 := cs.CoreV1().ConfigMaps("default").Get(ctx, "owned-by-widget", metav1.GetOptions{})
		_, err2 := ws.Get(ctx, "owned-by-configmap", metav1.GetOptions{})
		return apierrors.IsNotFound(err1) && apierrors.IsNotFound(err2), nil
	})
	if err != nil {
		t.Fatal("the dependents of a deleted widget and of a deleted ConfigMap were not collected")
	}
}

// A default added to a definition's schema shows on the objects stored
// before, as Kubernetes defaults what it reads from storage.
func TestDefaultsOnRead(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	ext := apiextensionsclient.NewForConfigOrDie(srv.RestConfig())
	crd := createEstablished(t, ext, widgetsCRD)
	ws := dynamic.NewForConfigOrDie(srv.RestConfig()).Resource(widgets).Namespace("default")
	if _, err := ws.Create(ctx, widget("old", map[string]any{}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := retryUpdate(ctx, ext, crd.Name, func(c *apiextensionsv1.CustomResourceDefinition) {
		for i := range c.Spec.Versions {
			if c.Spec.Versions[i].Name == "v1" {
				spec := c.Spec.Versions[i].Schema.OpenAPIV3Schema.Properties["spec"]
				p := spec.Properties["replicas"]
				p.Default = &apiextensionsv1.JSON{Raw: []byte("1")}
				spec.Properties["replicas"] = p
				c.Spec.Versions[i].Schema.OpenAPIV3Schema.Properties["spec"] = spec
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := ws.Get(ctx, "old", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		n, ok, _ := unstructured.NestedInt64(got.Object, "spec", "replicas")
		return ok && n == 1, nil
	})
	if err != nil {
		t.Fatalf("the new default does not show on the stored object: %v", err)
	}
	list, err := ws.List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list: %v", err)
	}
	if n, _, _ := unstructured.NestedInt64(list.Items[0].Object, "spec", "replicas"); n != 1 {
		t.Errorf("listed spec.replicas = %d, want the default 1", n)
	}
}

// retryUpdate changes a definition, retrying on conflicts (the server
// writes its status).
func retryUpdate(ctx context.Context, ext apiextensionsclient.Interface, name string, change func(*apiextensionsv1.CustomResourceDefinition)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		c, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(c)
		_, err = ext.ApiextensionsV1().CustomResourceDefinitions().Update(ctx, c, metav1.UpdateOptions{})
		return err
	})
}

// Deleting a namespace deletes the custom resources in it.
func TestNamespaceDeletion(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	createEstablished(t, apiextensionsclient.NewForConfigOrDie(srv.RestConfig()), widgetsCRD)
	cs := srv.Clientset()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: "doomed", Annotations: map[string]string{"namespace.kubernetes.io/flavor": "general-computing"},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ws := dynamic.NewForConfigOrDie(srv.RestConfig()).Resource(widgets).Namespace("doomed")
	if _, err := ws.Create(ctx, widget("w", map[string]any{}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Namespaces().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatal("the namespace holding a custom resource was not deleted")
	}
	if _, err := ws.Get(ctx, "w", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the custom resource of a deleted namespace: %v, want 404", err)
	}
}

// A ResourceQuota limits the number of custom resources by
// count/<resource>.<group>, counted and enforced as for any kind.
func TestQuotaCount(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	createEstablished(t, apiextensionsclient.NewForConfigOrDie(srv.RestConfig()), widgetsCRD)
	ws := dynamic.NewForConfigOrDie(srv.RestConfig()).Resource(widgets).Namespace("default")
	if _, err := ws.Create(ctx, widget("first", map[string]any{}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cs := srv.Clientset()
	name := corev1.ResourceName("count/widgets.example.com")
	if _, err := cs.CoreV1().ResourceQuotas("default").Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{name: resource.MustParse("2")}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		q, err := cs.CoreV1().ResourceQuotas("default").Get(ctx, "widgets", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		used, ok := q.Status.Used[name]
		return ok && used.Value() == 1, nil
	})
	if err != nil {
		t.Fatalf("the quota did not count the existing widget: %v", err)
	}
	if _, err := ws.Create(ctx, widget("second", map[string]any{}), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create within the quota: %v", err)
	}
	_, err = ws.Create(ctx, widget("third", map[string]any{}), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "exceeded quota: widgets") {
		t.Errorf("create past the quota: %v, want 403 exceeded quota", err)
	}
}

// Custom resources have no protobuf form and no patch strategies: a
// protobuf body and a strategic merge patch are 415, as kube-apiserver
// answers them, listing what is accepted.
func TestCustomResourceMediaTypes(t *testing.T) {
	srv := servertest.Start(t)
	createEstablished(t, apiextensionsclient.NewForConfigOrDie(srv.RestConfig()), widgetsCRD)
	for _, c := range []struct{ method, path, contentType string }{
		{http.MethodPost, "/apis/example.com/v1/namespaces/default/widgets", "application/vnd.kubernetes.protobuf"},
		{http.MethodPatch, "/apis/example.com/v1/namespaces/default/widgets/w", "application/strategic-merge-patch+json"},
	} {
		req := srv.Request(c.method, c.path, []byte(`{}`))
		req.Header.Set("Content-Type", c.contentType)
		resp, err := srv.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType || !strings.Contains(string(body), "UnsupportedMediaType") || strings.Contains(string(body), c.contentType+",") {
			t.Errorf("%s %s as %s = %d %s, want 415 not listing it", c.method, c.path, c.contentType, resp.StatusCode, body)
		}
	}
}
