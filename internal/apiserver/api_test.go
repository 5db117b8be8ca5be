package apiserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

// eachBackend runs fn once per storage backend, as every API test does.
func eachBackend(t *testing.T, fn func(t *testing.T, srv *servertest.Server)) {
	for _, b := range servertest.Backends {
		t.Run(b, func(t *testing.T) {
			fn(t, servertest.Start(t))
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestConfigMapLifecycle(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv *servertest.Server) {
		ctx := ctxT(t)
		cs := srv.Clientset()
		cms := cs.CoreV1().ConfigMaps("default")
		cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app", Labels: map[string]string{"tier": "web"}}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if cm.UID == "" || cm.ResourceVersion == "" || cm.CreationTimestamp.IsZero() {
			t.Fatalf("create did not fill metadata: %+v", cm.ObjectMeta)
		}
		_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			t.Fatalf("second create: want AlreadyExists, got %v", err)
		}
		got, err := cms.Get(ctx, "app", metav1.GetOptions{})
		if err != nil || got.Data["k"] != "v" || got.ResourceVersion != cm.ResourceVersion {
			t.Fatalf("get: %v %+v", err, got)
		}
		got.Data["k"] = "v2"
		upd, err := cms.Update(ctx, got, metav1.UpdateOptions{})
		if err != nil || upd.ResourceVersion == got.ResourceVersion {
			t.Fatalf("update: %v", err)
		}
		// A stale resourceVersion is a 409 Conflict.
		got.Data["k"] = "v3"
		if _, err := cms.Update(ctx, got, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
			t.Fatalf("stale update: want Conflict, got %v", err)
		}
		list, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "tier=web"})
		if err != nil || len(list.Items) != 1 {
			t.Fatalf("list by label: %v %d", err, len(list.Items))
		}
		list, err = cms.List(ctx, metav1.ListOptions{LabelSelector: "tier=db"})
		if err != nil || len(list.Items) != 0 {
			t.Fatalf("list by other label: %v %d", err, len(list.Items))
		}
		// Patches of all three kinds.
		for _, p := range []struct {
			typ  types.PatchType
			body string
			want string
		}{
			{types.MergePatchType, `{"data":{"m":"1"}}`, "1"},
			{types.StrategicMergePatchType, `{"data":{"m":"2"}}`, "2"},
			{types.JSONPatchType, `[{"op":"replace","path":"/data/m","value":"3"}]`, "3"},
		} {
			out, err := cms.Patch(ctx, "app", p.typ, []byte(p.body), metav1.PatchOptions{})
			if err != nil || out.Data["m"] != p.want {
				t.Fatalf("%s patch: %v %v", p.typ, err, out)
			}
		}
		// dryRun changes nothing.
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dry"}}, metav1.CreateOptions{DryRun: []string{"All"}}); err != nil {
			t.Fatalf("dry run create: %v", err)
		}
		if _, err := cms.Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("dry run stored the object: %v", err)
		}
		if err := cms.Delete(ctx, "app", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if _, err := cms.Get(ctx, "app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("get after delete: want NotFound, got %v", err)
		}
	})
}

func TestValidationAndNamespaces(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv *servertest.Server) {
		ctx := ctxT(t)
		cs := srv.Clientset()
		_, err := cs.CoreV1().ConfigMaps("nope").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
		if !apierrors.IsNotFound(err) {
			t.Fatalf("create in a missing namespace: want NotFound, got %v", err)
		}
		_, err = cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name"}}, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) {
			t.Fatalf("bad name: want Invalid, got %v", err)
		}
		// A CCI violation: CPU not a multiple of 0.25 core.
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "nginx",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("300m"), corev1.ResourceMemory: resource.MustParse("1Gi"),
			}},
		}}}}
		_, err = cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) {
			t.Fatalf("CCI pod: want Invalid, got %v", err)
		}
		se := err.(apierrors.APIStatus).Status()
		if se.Details == nil || len(se.Details.Causes) == 0 || !strings.Contains(se.Details.Causes[0].Field, "resources") {
			t.Fatalf("CCI pod: causes do not name the field: %+v", se.Details)
		}
		pod.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU] = resource.MustParse("500m")
		created, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("valid pod: %v", err)
		}
		if created.Status.Phase != corev1.PodPending {
			t.Fatalf("pod phase = %q, want Pending", created.Status.Phase)
		}
		if got := created.Spec.Containers[0].Resources.Requests.Cpu().String(); got != "500m" {
			t.Fatalf("requests not filled from limits: cpu %s", got)
		}
	})
}

func TestWatchSeesEveryChange(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv *servertest.Server) {
		ctx := ctxT(t)
		cms := srv.Clientset().CoreV1().ConfigMaps("default")
		first, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "w0"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		defer w.Stop()
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "w1"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cms.Patch(ctx, "w1", types.MergePatchType, []byte(`{"data":{"a":"b"}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := cms.Delete(ctx, "w1", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		want := []watch.EventType{watch.Added, watch.Modified, watch.Deleted}
		for i, typ := range want {
			select {
			case ev := <-w.ResultChan():
				cm, ok := ev.Object.(*corev1.ConfigMap)
				if ev.Type != typ || !ok || cm.Name != "w1" {
					t.Fatalf("event %d: got %s %T, want %s of w1", i, ev.Type, ev.Object, typ)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("event %d (%s) did not arrive", i, typ)
			}
		}
	})
}

// TestInformerSyncs runs a client-go informer with default settings (which
// opens a watch-list with sendInitialEvents) and checks it syncs and sees
// every create, update and delete.
func TestInformerSyncs(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv *servertest.Server) {
		ctx := ctxT(t)
		cs := srv.Clientset()
		deps := cs.AppsV1().Deployments("default")
		pre, err := deps.Create(ctx, deployment("before"), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		factory := informers.NewSharedInformerFactory(cs, 0)
		inf := factory.Apps().V1().Deployments().Informer()
		var mu sync.Mutex
		seen := map[string][]string{}
		record := func(kind string, obj any) {
			if d, ok := obj.(*appsv1.Deployment); ok {
				mu.Lock()
				seen[d.Name] = append(seen[d.Name], kind)
				mu.Unlock()
			}
		}
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { record("add", o) },
			UpdateFunc: func(_, o any) { record("update", o) },
			DeleteFunc: func(o any) { record("delete", o) },
		})
		stop := make(chan struct{})
		defer close(stop)
		factory.Start(stop)
		syncCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if !cache.WaitForCacheSync(syncCtx.Done(), inf.HasSynced) {
			t.Fatal("informer did not sync")
		}
		if _, err := deps.Create(ctx, deployment("after"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := deps.Patch(ctx, "after", types.MergePatchType, []byte(`{"spec":{"replicas":3}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := deps.Delete(ctx, "after", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return strings.Join(seen["after"], ",") == "add,update,delete" && strings.Join(seen[pre.Name], ",") == "add"
		}, func() string { mu.Lock(); defer mu.Unlock(); return fmt.Sprint(seen) })
	})
}

func deployment(name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1.27",
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi"),
					}}}}},
			},
		},
	}
}

func waitFor(t *testing.T, d time.Duration, ok func() bool, state func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met in %v; state: %s", d, state())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRestartKeepsObjects(t *testing.T) {
	dir := t.TempDir()
	srv := servertest.Start(t, servertest.WithDataDir(dir))
	ctx := ctxT(t)
	if _, err := srv.Clientset().CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, StringData: map[string]string{"a": "b"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	token := srv.Token
	srv.Stop()
	srv2 := servertest.Start(t, servertest.WithDataDir(dir))
	if srv2.Token != token {
		t.Fatalf("token changed across restart")
	}
	s, err := srv2.Clientset().CoreV1().Secrets("default").Get(ctx, "s", metav1.GetOptions{})
	if err != nil || string(s.Data["a"]) != "b" {
		t.Fatalf("secret after restart: %v %v", err, s)
	}
}

func TestStatusCodesBasic(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.HTTPClient()
	do := func(r *http.Request) (*http.Response, metav1.Status) {
		t.Helper()
		resp, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var st metav1.Status
		_ = json.Unmarshal(body, &st)
		return resp, st
	}
	noAuth, _ := http.NewRequest("GET", srv.URL+"/api/v1/namespaces", nil)
	if resp, st := do(noAuth); resp.StatusCode != 401 || st.Reason != metav1.StatusReasonUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no credentials: %d %s", resp.StatusCode, st.Reason)
	}
	if resp, st := do(srv.Request("GET", "/api/v1/namespaces/default/configmaps/none", nil)); resp.StatusCode != 404 || st.Reason != metav1.StatusReasonNotFound || st.Details.Name != "none" {
		t.Fatalf("missing object: %d %+v", resp.StatusCode, st)
	}
	if resp, _ := do(srv.Request("GET", "/api/v1/nothings", nil)); resp.StatusCode != 404 {
		t.Fatalf("missing resource: %d", resp.StatusCode)
	}
	if resp, st := do(srv.Request("PUT", "/api/v1/namespaces/default/configmaps", []byte(`{}`))); resp.StatusCode != 405 || st.Reason != metav1.StatusReasonMethodNotAllowed || resp.Header.Get("Allow") == "" {
		t.Fatalf("PUT on a collection: %d %s allow=%q", resp.StatusCode, st.Reason, resp.Header.Get("Allow"))
	}
	if resp, st := do(srv.Request("POST", "/api/v1/namespaces/default/configmaps", []byte(`{"metadata":`))); resp.StatusCode != 400 || st.Reason != metav1.StatusReasonBadRequest {
		t.Fatalf("malformed JSON: %d %s", resp.StatusCode, st.Reason)
	}
	r := srv.Request("POST", "/api/v1/namespaces/default/configmaps", []byte(`{"metadata":{"name":"x"}}`))
	r.Header.Set("Content-Type", "text/plain")
	if resp, _ := do(r); resp.StatusCode != 415 {
		t.Fatalf("text body: %d", resp.StatusCode)
	}
	r = srv.Request("GET", "/api/v1/namespaces", nil)
	r.Header.Set("Accept", "text/html")
	if resp, st := do(r); resp.StatusCode != 406 || st.Reason != "NotAcceptable" {
		t.Fatalf("Accept text/html: %d %s", resp.StatusCode, st.Reason)
	}
	if resp, _ := do(srv.Request("GET", "/api/v1/namespaces?resourceVersion=0", nil)); resp.StatusCode != 203 {
		t.Fatalf("resourceVersion=0 list: %d, want 203 from the watch cache", resp.StatusCode)
	}
	if resp, _ := do(srv.Request("GET", "/api/v1/namespaces?labelSelector=a%3D%3D%3Db", nil)); resp.StatusCode != 400 {
		t.Fatalf("bad selector: %d", resp.StatusCode)
	}
	if resp, _ := do(srv.Request("POST", "/api/v1/namespaces/default/configmaps", []byte(`{"metadata":{"name":"c1"}}`))); resp.StatusCode != 201 || resp.Header.Get("Location") != "/api/v1/namespaces/default/configmaps/c1" {
		t.Fatalf("create: %d location=%q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestNamespaceDeletionDrains(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv *servertest.Server) {
		ctx := ctxT(t)
		cs := srv.Clientset()
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "gone", Annotations: map[string]string{"namespace.kubernetes.io/flavor": "general-computing"}}}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.CoreV1().ConfigMaps("gone").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := cs.CoreV1().Namespaces().Delete(ctx, "gone", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		// While it drains, new content is refused with 403.
		_, err := cs.CoreV1().ConfigMaps("gone").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late"}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsForbidden(err) && !apierrors.IsNotFound(err) {
			t.Fatalf("create in a terminating namespace: want Forbidden, got %v", err)
		}
		waitFor(t, 15*time.Second, func() bool {
			_, err := cs.CoreV1().Namespaces().Get(ctx, "gone", metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		}, func() string { return "namespace still exists" })
		if _, err := cs.CoreV1().ConfigMaps("gone").Get(ctx, "c", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("content survived its namespace: %v", err)
		}
	})
}

// TestWatchTooOldIsInBand410 watches from a resourceVersion older than the
// kept history: Kubernetes answers 200 with one ERROR event whose Status is
// a 410, and client-go relists on it.
func TestWatchTooOldIsInBand410(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) { c.WatchHistory = 5 })
	ctx := ctxT(t)
	cms := srv.Clientset().CoreV1().ConfigMaps("default")
	first, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "h0"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("h%d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
	if err != nil {
		t.Fatalf("watch: want the stream to open (200), got %v", err)
	}
	defer w.Stop()
	select {
	case ev := <-w.ResultChan():
		st, ok := ev.Object.(*metav1.Status)
		if ev.Type != watch.Error || !ok || st.Code != http.StatusGone || st.Reason != metav1.StatusReasonExpired {
			t.Fatalf("got %s %+v, want an ERROR event with a 410 Expired Status", ev.Type, ev.Object)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
}

// TestRateLimitIs429WithRetryAfter sends more than the per-user burst as a
// user outside system:masters (any answer counts, a 403 too); the admin,
// in system:masters, is exempt.
func TestRateLimitIs429WithRetryAfter(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) { c.RateQPS, c.RateBurst = 1, 2 },
		servertest.WithUsers(t, servertest.User{Name: "limited", Token: "limited-token"}))
	c := srv.HTTPClient()
	var got *http.Response
	for i := 0; i < 5; i++ {
		resp, err := c.Do(srv.RequestAs("limited-token", "GET", "/api/v1/namespaces/default", nil))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			got = resp
			break
		}
	}
	if got == nil {
		t.Fatal("no 429 after 5 requests with burst 2 at 1 qps")
	}
	if got.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	for i := 0; i < 10; i++ {
		resp, err := c.Do(srv.Request("GET", "/api/v1/namespaces/default", nil))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("the admin's request %d: %d, want 200 (system:masters is exempt)", i, resp.StatusCode)
		}
	}
}

// TestDeleteWithFinalizerIs202 deletes an object that a finalizer holds:
// 202 with the object and its deletionTimestamp; removing the finalizer
// completes the delete.
func TestDeleteWithFinalizerIs202(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	cms := srv.Clientset().CoreV1().ConfigMaps("default")
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: []string{"example.com/hold"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	resp, err := srv.HTTPClient().Do(srv.Request("DELETE", "/api/v1/namespaces/default/configmaps/held", nil))
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	_ = json.NewDecoder(resp.Body).Decode(&cm)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || cm.DeletionTimestamp == nil {
		t.Fatalf("delete: %d deletionTimestamp=%v, want 202 with it set", resp.StatusCode, cm.DeletionTimestamp)
	}
	if _, err := cms.Patch(ctx, "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatalf("removing the finalizer: %v", err)
	}
	if _, err := cms.Get(ctx, "held", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("object still there after its last finalizer went: %v", err)
	}
}
