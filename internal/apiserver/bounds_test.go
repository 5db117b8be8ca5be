package apiserver_test

import (
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

// TestJSONPatchCopyBomb: a JSON patch whose "copy" operations double the
// object again and again is refused with 413 once the copies add more than
// kube-apiserver's 3 MiB, instead of growing the server's memory
// exponentially; the object is unchanged.
func TestJSONPatchCopyBomb(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	cms := srv.Clientset().CoreV1().ConfigMaps("default")
	orig, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bomb"}, Data: map[string]string{"a": strings.Repeat("x", 1000)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Each pair of ops copies the annotations into themselves and adds a
	// 1 KB value: after 14 pairs they hold about 16 MiB, well past the
	// copy limit, yet small enough to apply without it.
	ops := []string{}
	ops = append(ops, `{"op":"add","path":"/metadata/annotations","value":{}}`)
	for i := 0; i < 14; i++ {
		ops = append(ops, fmt.Sprintf(`{"op":"copy","from":"/metadata/annotations","path":"/metadata/annotations/c%d"}`, i))
		ops = append(ops, fmt.Sprintf(`{"op":"copy","from":"/data/a","path":"/metadata/annotations/d%d"}`, i))
	}
	_, err = cms.Patch(ctx, "bomb", types.JSONPatchType, []byte("["+strings.Join(ops, ",")+"]"), metav1.PatchOptions{})
	if !apierrors.IsRequestEntityTooLargeError(err) {
		t.Fatalf("copy bomb: want 413 RequestEntityTooLarge, got %v", err)
	}
	got, err := cms.Get(ctx, "bomb", metav1.GetOptions{})
	if err != nil || got.ResourceVersion != orig.ResourceVersion {
		t.Fatalf("the object changed: %v %s -> %s", err, orig.ResourceVersion, got.ResourceVersion)
	}
}

// TestJSONPatchTooManyOperations: more than 10,000 operations is a 413, as
// in kube-apiserver, before any is applied.
func TestJSONPatchTooManyOperations(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	cms := srv.Clientset().CoreV1().ConfigMaps("default")
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "many"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ops := make([]string, 10001)
	for i := range ops {
		ops[i] = `{"op":"test","path":"/metadata/name","value":"many"}`
	}
	_, err := cms.Patch(ctx, "many", types.JSONPatchType, []byte("["+strings.Join(ops, ",")+"]"), metav1.PatchOptions{})
	if !apierrors.IsRequestEntityTooLargeError(err) || !strings.Contains(err.Error(), "The allowed maximum operations in a JSON patch is 10000, got 10001") {
		t.Fatalf("want 413 naming the operation limit, got %v", err)
	}
	// At the limit it is applied.
	if _, err := cms.Patch(ctx, "many", types.JSONPatchType, []byte("["+strings.Join(ops[:10000], ",")+"]"), metav1.PatchOptions{}); err != nil {
		t.Fatalf("10,000 operations: %v", err)
	}
}

// TestStrategicMergeQuadratic: a strategic merge of a long list into a long
// list compares every pair of elements; one over the budget is a 413
// before any work is done, while the same list size applied with a merge
// patch (linear) is accepted, and so is a small strategic patch of the
// large object.
func TestStrategicMergeQuadratic(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) { c.Profile = "kubernetes" })
	ctx := ctxT(t)
	deps := srv.Clientset().AppsV1().Deployments("default")
	const n = 3000
	env := make([]corev1.EnvVar, n)
	for i := range env {
		env[i] = corev1.EnvVar{Name: fmt.Sprintf("E%d", i), Value: "v"}
	}
	labels := map[string]string{"app": "q"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "q"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox", Env: env}}},
			},
		},
	}
	orig, err := deps.Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	penv := make([]string, n)
	for i := range penv {
		penv[i] = fmt.Sprintf(`{"name":"P%d","value":"w"}`, i)
	}
	big := `{"spec":{"template":{"spec":{"containers":[{"name":"c","env":[` + strings.Join(penv, ",") + `]}]}}}}`
	_, err = deps.Patch(ctx, "q", types.StrategicMergePatchType, []byte(big), metav1.PatchOptions{})
	if !apierrors.IsRequestEntityTooLargeError(err) || !strings.Contains(err.Error(), "strategic merge patch") {
		t.Fatalf("want 413 for a quadratic strategic merge, got %v", err)
	}
	if got, err := deps.Get(ctx, "q", metav1.GetOptions{}); err != nil || got.ResourceVersion != orig.ResourceVersion {
		t.Fatalf("the object changed: %v", err)
	}
	small := `{"spec":{"template":{"spec":{"containers":[{"name":"c","env":[{"name":"E7","value":"changed"}]}]}}}}`
	got, err := deps.Patch(ctx, "q", types.StrategicMergePatchType, []byte(small), metav1.PatchOptions{})
	if err != nil || len(got.Spec.Template.Spec.Containers[0].Env) != n {
		t.Fatalf("small strategic patch of the large object: %v", err)
	}
	merge := `{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"busybox","env":[` + strings.Join(penv, ",") + `]}]}}}}`
	if _, err := deps.Patch(ctx, "q", types.MergePatchType, []byte(merge), metav1.PatchOptions{}); err != nil {
		t.Fatalf("merge patch of the same size: %v", err)
	}
}

// TestObjectSizeLimits: ConfigMap and Secret data over 1 MiB is a 422 in
// Kubernetes' words; any object whose stored form would pass 1.5 MiB
// (etcd's request limit) is a 413, whether it arrives whole or is made by
// a patch; nothing is stored.
func TestObjectSizeLimits(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	cms := srv.Clientset().CoreV1().ConfigMaps("default")
	over := strings.Repeat("x", 1<<20+1)
	_, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "big"}, Data: map[string]string{"a": over}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "Too long: may not be more than 1048576 bytes") {
		t.Fatalf("ConfigMap over 1 MiB: want 422 Too long, got %v", err)
	}
	secrets := srv.Clientset().CoreV1().Secrets("default")
	_, err = secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "big"}, Data: map[string][]byte{"a": []byte(over)}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "data: Too long") {
		t.Fatalf("Secret over 1 MiB: want 422 on data, got %v", err)
	}
	// Exactly 1 MiB is accepted.
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "edge"}, Data: map[string]string{"a": over[1:]}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("ConfigMap of exactly 1 MiB: %v", err)
	}
	// The stored form can pass 1.5 MiB with less than 1 MiB of data: JSON
	// escapes each '<' as six bytes.
	escaped := strings.Repeat("<", 300<<10)
	_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "escaped"}, Data: map[string]string{"a": escaped}}, metav1.CreateOptions{})
	if !apierrors.IsRequestEntityTooLargeError(err) {
		t.Fatalf("stored form over 1.5 MiB: want 413, got %v", err)
	}
	if _, err := cms.Get(ctx, "escaped", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the refused object was stored: %v", err)
	}
	// A patch that makes an object too large is refused the same way.
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "small"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	patch := fmt.Sprintf(`{"data":{"b":%q}}`, escaped)
	if _, err := cms.Patch(ctx, "small", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); !apierrors.IsRequestEntityTooLargeError(err) {
		t.Fatalf("patch past the stored limit: want 413, got %v", err)
	}
}

// TestDecodingBombs: bodies built to make decoding expensive are refused
// with 400 at a bounded cost: a YAML "billion laughs" of nested aliases
// (the YAML library refuses excessive aliasing) and JSON nested a million
// levels deep (the JSON decoder stops at 10,000).
func TestDecodingBombs(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.HTTPClient()
	var y strings.Builder
	y.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: laughs\n  annotations:\n    a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n")
	for i := 1; i < 12; i++ {
		fmt.Fprintf(&y, "    a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d,", i-1), 10), ","))
	}
	deep := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"data":` + strings.Repeat("[", 1<<20) + strings.Repeat("]", 1<<20) + `}`
	for _, tc := range []struct{ name, ct, body string }{
		{"yaml aliases", "application/yaml", y.String()},
		{"deep json", "application/json", deep},
	} {
		req := srv.Request("POST", "/api/v1/namespaces/default/configmaps", []byte(tc.body))
		req.Header.Set("Content-Type", tc.ct)
		m := call(t, c, req)
		if m.code != 400 || !strings.Contains(string(m.body), `"reason":"BadRequest"`) {
			t.Errorf("%s: want 400 BadRequest, got %d %.300s", tc.name, m.code, m.body)
		}
	}
}
