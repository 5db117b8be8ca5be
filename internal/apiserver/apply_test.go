package apiserver_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	"cella.dev/cella/internal/servertest"
)

// managers returns the managedFields entries of an object as
// "manager/operation/subresource" strings.
func managers(m metav1.Object) map[string]metav1.ManagedFieldsEntry {
	out := map[string]metav1.ManagedFieldsEntry{}
	for _, e := range m.GetManagedFields() {
		out[e.Manager+"/"+string(e.Operation)+"/"+e.Subresource] = e
	}
	return out
}

func owns(e metav1.ManagedFieldsEntry, field string) bool {
	return e.FieldsV1 != nil && strings.Contains(string(e.FieldsV1.Raw), `"f:`+field+`"`)
}

// TestApplyConfigMap: client-go's typed Apply creates a ConfigMap (201,
// an Apply entry for the manager), applies again to change it, conflicts
// (409 naming the field and its manager, worded as kube-apiserver words
// it) when a second manager applies a field the first owns, and force
// moves the field to the second manager.
func TestApplyConfigMap(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	cms := srv.Clientset().CoreV1().ConfigMaps("default")

	cm, err := cms.Apply(ctx, corev1ac.ConfigMap("applied", "default").WithData(map[string]string{"a": "1", "b": "2"}),
		metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatalf("apply to create: %v", err)
	}
	e, ok := managers(cm)["alice/Apply/"]
	if cm.Data["a"] != "1" || !ok || !owns(e, "a") || !owns(e, "b") {
		t.Fatalf("created by apply: data %v, managedFields %+v", cm.Data, cm.ManagedFields)
	}
	cm2, err := cms.Apply(ctx, corev1ac.ConfigMap("applied", "default").WithData(map[string]string{"a": "10", "b": "2"}),
		metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil || cm2.Data["a"] != "10" || cm2.ResourceVersion == cm.ResourceVersion {
		t.Fatalf("apply to update: %v %v", err, cm2.Data)
	}
	// The same apply again changes nothing and writes nothing.
	cm3, err := cms.Apply(ctx, corev1ac.ConfigMap("applied", "default").WithData(map[string]string{"a": "10", "b": "2"}),
		metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil || cm3.ResourceVersion != cm2.ResourceVersion {
		t.Fatalf("no-op apply: %v, resourceVersion %s then %s", err, cm2.ResourceVersion, cm3.ResourceVersion)
	}

	_, err = cms.Apply(ctx, corev1ac.ConfigMap("applied", "default").WithData(map[string]string{"a": "bob"}),
		metav1.ApplyOptions{FieldManager: "bob"})
	if !apierrors.IsConflict(err) {
		t.Fatalf("conflicting apply: want 409, got %v", err)
	}
	st := err.(apierrors.APIStatus).Status()
	if st.Reason != metav1.StatusReasonConflict || !strings.Contains(st.Message, `Apply failed with 1 conflict: conflict with "alice": .data.a`) {
		t.Fatalf("conflict status: %+v", st)
	}
	if st.Details == nil || len(st.Details.Causes) != 1 || st.Details.Causes[0].Field != ".data.a" || !strings.Contains(st.Details.Causes[0].Message, `conflict with "alice"`) {
		t.Fatalf("conflict causes: %+v", st.Details)
	}

	forced, err := cms.Apply(ctx, corev1ac.ConfigMap("applied", "default").WithData(map[string]string{"a": "bob"}),
		metav1.ApplyOptions{FieldManager: "bob", Force: true})
	if err != nil || forced.Data["a"] != "bob" || forced.Data["b"] != "2" {
		t.Fatalf("forced apply: %v %v", err, forced)
	}
	ms := managers(forced)
	if !owns(ms["bob/Apply/"], "a") || owns(ms["alice/Apply/"], "a") || !owns(ms["alice/Apply/"], "b") {
		t.Fatalf("after force, bob owns a and alice keeps b: %+v", forced.ManagedFields)
	}
}

// TestApplyOptions: an apply must name its fieldManager (422 on
// PatchOptions, as kube-apiserver answers), force is only for apply, an
// apply that sets managedFields is a 400.
func TestApplyOptions(t *testing.T) {
	srv := servertest.Start(t)
	hc := srv.HTTPClient()
	body := []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: opts\ndata:\n  a: \"1\"\n")
	send := func(method, path, ct string, body []byte) (*http.Response, metav1.Status) {
		t.Helper()
		req := srv.Request(method, path, body)
		req.Header.Set("Content-Type", ct)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st metav1.Status
		_ = json.NewDecoder(resp.Body).Decode(&st)
		return resp, st
	}
	const path = "/api/v1/namespaces/default/configmaps/opts"
	resp, st := send(http.MethodPatch, path, "application/apply-patch+yaml", body)
	if resp.StatusCode != http.StatusUnprocessableEntity || st.Message != `PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch` {
		t.Fatalf("apply without fieldManager: %d %q", resp.StatusCode, st.Message)
	}
	resp, _ = send(http.MethodPatch, path+"?fieldManager=m", "application/apply-patch+yaml", body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("apply of YAML to create: %d", resp.StatusCode)
	}
	resp, st = send(http.MethodPatch, path+"?force=true", "application/merge-patch+json", []byte(`{"data":{"b":"2"}}`))
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(st.Message, "force: Forbidden: may not be specified for non-apply patch") {
		t.Fatalf("merge patch with force: %d %q", resp.StatusCode, st.Message)
	}
	resp, st = send(http.MethodPatch, path+"?fieldManager=m", "application/apply-patch+yaml",
		[]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"opts","managedFields":[{"manager":"x","operation":"Apply"}]}}`))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(st.Message, "metadata.managedFields must be nil") {
		t.Fatalf("apply with managedFields: %d %q", resp.StatusCode, st.Message)
	}
	// A field the kind does not have is a 400, strict or not.
	for _, q := range []string{"", "&fieldValidation=Strict"} {
		resp, st = send(http.MethodPatch, path+"?fieldManager=m"+q, "application/apply-patch+yaml",
			[]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: opts\nbogus: 1\n"))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(st.Message, "bogus") {
			t.Fatalf("apply of an unknown field (%q): %d %q", q, resp.StatusCode, st.Message)
		}
	}
	// An apply to the status of a missing object is a 404.
	resp, _ = send(http.MethodPatch, "/api/v1/namespaces/default/pods/missing/status?fieldManager=m", "application/apply-patch+yaml",
		[]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"missing"},"status":{"message":"x"}}`))
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("apply to a missing object's status: %d", resp.StatusCode)
	}
}

// TestManagedFieldsOnUpdates: creates, updates and patches are Update
// entries of the fieldManager, or of the User-Agent's prefix when none is
// named; managedFields: [] resets them.
func TestManagedFieldsOnUpdates(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	cms := srv.Clientset().CoreV1().ConfigMaps("default")
	cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "upd"}, Data: map[string]string{"a": "1"}},
		metav1.CreateOptions{FieldManager: "creator"})
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := managers(cm)["creator/Update/"]; !ok || !owns(e, "a") {
		t.Fatalf("create: %+v", cm.ManagedFields)
	}
	cm.Data["b"] = "2"
	if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "updater"}); err != nil {
		t.Fatal(err)
	}
	if e, ok := managers(cm)["updater/Update/"]; !ok || !owns(e, "b") || owns(e, "a") {
		t.Fatalf("update: %+v", cm.ManagedFields)
	}
	// No fieldManager: the User-Agent's prefix names the manager.
	req := srv.Request(http.MethodPatch, "/api/v1/namespaces/default/configmaps/upd", []byte(`{"data":{"c":"3"}}`))
	req.Header.Set("Content-Type", "application/merge-patch+json")
	req.Header.Set("User-Agent", "my-tool/1.2 (linux)")
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cm, err = cms.Get(ctx, "upd", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if e, ok := managers(cm)["my-tool/Update/"]; resp.StatusCode != http.StatusOK || !ok || !owns(e, "c") {
		t.Fatalf("patch named by User-Agent: %d %+v", resp.StatusCode, cm.ManagedFields)
	}
	// managedFields: [] resets them.
	if cm, err = cms.Patch(ctx, "upd", types.MergePatchType, []byte(`{"metadata":{"managedFields":[{}]}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(cm.ManagedFields) != 0 {
		t.Fatalf("reset: %+v", cm.ManagedFields)
	}
}

// TestApplyStatusAndDeployment: a Deployment created by apply, its status
// applied through /status (an entry with subresource status owning only
// status), and the spec's replicas kept by the first manager.
func TestApplyStatusAndDeployment(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	deps := srv.Clientset().AppsV1().Deployments("default")
	labels := map[string]string{"app": "web"}
	ac := appsv1ac.Deployment("web", "default").WithSpec(appsv1ac.DeploymentSpec().
		WithReplicas(2).
		WithSelector(metav1ac.LabelSelector().WithMatchLabels(labels)).
		WithTemplate(corev1ac.PodTemplateSpec().WithLabels(labels).WithSpec(corev1ac.PodSpec().
			WithContainers(corev1ac.Container().WithName("c").WithImage("nginx").WithResources(
				corev1ac.ResourceRequirements().WithLimits(corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi"),
				}))))))
	d, err := deps.Apply(ctx, ac, metav1.ApplyOptions{FieldManager: "deployer"})
	if err != nil {
		t.Fatalf("apply a Deployment: %v", err)
	}
	if d.Generation != 1 || *d.Spec.Replicas != 2 || !owns(managers(d)["deployer/Apply/"], "replicas") {
		t.Fatalf("deployment: %+v", d)
	}
	st := appsv1ac.Deployment("web", "default").WithStatus(appsv1ac.DeploymentStatus().WithReplicas(2).WithObservedGeneration(1))
	d, err = deps.ApplyStatus(ctx, st, metav1.ApplyOptions{FieldManager: "controller"})
	if err != nil {
		t.Fatalf("apply status: %v", err)
	}
	e, ok := managers(d)["controller/Apply/status"]
	if d.Status.Replicas != 2 || !ok || !owns(e, "replicas") || owns(e, "spec") || *d.Spec.Replicas != 2 {
		t.Fatalf("status apply: %+v %+v", d.Status, d.ManagedFields)
	}
	// A status write through the object is not the status's.
	d, err = deps.Apply(ctx, ac.WithStatus(appsv1ac.DeploymentStatus().WithReplicas(7)), metav1.ApplyOptions{FieldManager: "deployer"})
	if err != nil || d.Status.Replicas != 2 || owns(managers(d)["deployer/Apply/"], "status") {
		t.Fatalf("status through the object: %v %+v", err, d)
	}
}

// TestApplyCCIKindScaleAndDryRun: a CCI kind (no published schema: a
// deduced type) is created and changed by apply with conflicts as for any
// kind; /scale writes are Update entries with subresource scale, and an
// apply to /scale moves the replicas' ownership; dryRun=All stores nothing.
func TestApplyCCIKindScaleAndDryRun(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	hc := srv.HTTPClient()
	send := func(path, ct, body string) (int, map[string]any) {
		t.Helper()
		req := srv.Request(http.MethodPatch, path, []byte(body))
		req.Header.Set("Content-Type", ct)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	const netPath = "/apis/networking.cci.io/v1beta1/namespaces/default/networks/net"
	network := "apiVersion: networking.cci.io/v1beta1\nkind: Network\nmetadata:\n  name: net\nspec:\n  attachedVPC: vpc\n  networkID: nid\n  subnetID: sid\n  cidr: %s\n"
	code, out := send(netPath+"?fieldManager=ops&dryRun=All", "application/apply-patch+yaml", fmt.Sprintf(network, "10.90.0.0/24"))
	if code != http.StatusCreated {
		t.Fatalf("dry-run apply of a Network: %d %v", code, out)
	}
	if code, _ := send(netPath+"?fieldManager=ops", "application/merge-patch+json", `{}`); code != http.StatusNotFound {
		t.Fatalf("a dry-run apply stored the Network: %d", code)
	}
	if code, out = send(netPath+"?fieldManager=ops", "application/apply-patch+yaml", fmt.Sprintf(network, "10.90.0.0/24")); code != http.StatusCreated {
		t.Fatalf("apply of a Network: %d %v", code, out)
	}
	code, out = send(netPath+"?fieldManager=other", "application/apply-patch+yaml", fmt.Sprintf(network, "10.91.0.0/24"))
	if code != http.StatusConflict || !strings.Contains(fmt.Sprint(out["message"]), `conflict with "ops": .spec.cidr`) {
		t.Fatalf("conflicting apply of a Network: %d %v", code, out)
	}
	if code, out = send(netPath+"?fieldManager=other&force=true", "application/apply-patch+yaml", fmt.Sprintf(network, "10.91.0.0/24")); code != http.StatusOK {
		t.Fatalf("forced apply of a Network: %d %v", code, out)
	}

	deps := srv.Clientset().AppsV1().Deployments("default")
	labels := map[string]string{"app": "s"}
	d, err := deps.Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: runnablePod("p").Spec},
	}}, metav1.CreateOptions{FieldManager: "creator"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deps.UpdateScale(ctx, "s", &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "s", ResourceVersion: d.ResourceVersion}, Spec: autoscalingv1.ScaleSpec{Replicas: 3}},
		metav1.UpdateOptions{FieldManager: "scaler"}); err != nil {
		t.Fatal(err)
	}
	if d, err = deps.Get(ctx, "s", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if e, ok := managers(d)["scaler/Update/scale"]; !ok || !owns(e, "replicas") || *d.Spec.Replicas != 3 {
		t.Fatalf("scale update: %+v", d.ManagedFields)
	}
	code, out = send("/apis/apps/v1/namespaces/default/deployments/s/scale?fieldManager=hpa&force=true", "application/apply-patch+yaml",
		"apiVersion: autoscaling/v1\nkind: Scale\nmetadata:\n  name: s\nspec:\n  replicas: 5\n")
	if code != http.StatusOK || out["kind"] != "Scale" {
		t.Fatalf("apply to /scale: %d %v", code, out)
	}
	if d, err = deps.Get(ctx, "s", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	ms := managers(d)
	if *d.Spec.Replicas != 5 || !owns(ms["hpa/Apply/scale"], "replicas") || owns(ms["scaler/Update/scale"], "replicas") {
		t.Fatalf("scale apply: replicas %d, %+v", *d.Spec.Replicas, d.ManagedFields)
	}
}

// TestApplyChecks: an apply goes through the checks of any patch: RBAC's
// patch verb (403 without it, also for an apply that would create), the
// kind's validation (422) and preconditions of the object's immutable
// fields.
func TestApplyChecks(t *testing.T) {
	srv := servertest.Start(t, servertest.WithUsers(t, servertest.User{Name: "reader", Token: "reader-token"}))
	ctx := ctxT(t)
	rbac := srv.Clientset().RbacV1()
	if _, err := rbac.Roles("default").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "cm-create"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "create"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rbac.RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "cm-create"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "reader", APIGroup: "rbac.authorization.k8s.io"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	body := []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: checked\ndata:\n  a: \"1\"\n")
	req := srv.RequestAs("reader-token", http.MethodPatch, "/api/v1/namespaces/default/configmaps/checked?fieldManager=m", body)
	req.Header.Set("Content-Type", "application/apply-patch+yaml")
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("apply without the patch verb: want 403, got %d", resp.StatusCode)
	}

	cms := srv.Clientset().CoreV1().ConfigMaps("default")
	_, err = cms.Apply(ctx, corev1ac.ConfigMap("checked", "default").WithData(map[string]string{"bad key!": "x"}), metav1.ApplyOptions{FieldManager: "m"})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("apply of an invalid ConfigMap: want 422, got %v", err)
	}
	secrets := srv.Clientset().CoreV1().Secrets("default")
	if _, err := secrets.Apply(ctx, corev1ac.Secret("typed", "default").WithType(corev1.SecretTypeOpaque), metav1.ApplyOptions{FieldManager: "m"}); err != nil {
		t.Fatal(err)
	}
	_, err = secrets.Apply(ctx, corev1ac.Secret("typed", "default").WithType(corev1.SecretTypeTLS), metav1.ApplyOptions{FieldManager: "m"})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "type: Invalid value") {
		t.Fatalf("apply changing a Secret's type: want 422 naming type, got %v", err)
	}
}
