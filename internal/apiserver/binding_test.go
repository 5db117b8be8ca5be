package apiserver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"cella.dev/cella/internal/servertest"
)

// runnablePod is a pod the cci profile accepts: one container sized as CCI
// requires.
func runnablePod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "c", Image: "nginx:1.27",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi"),
		}},
	}}}}
}

func binding(pod, node string) *corev1.Binding {
	return &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: pod}, Target: corev1.ObjectReference{Kind: "Node", Name: node}}
}

func podScheduled(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodScheduled {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// TestPodBinding: pods/binding through client-go's Bind sets spec.nodeName
// and PodScheduled=True in one write; a second binding is 409 in
// kube-apiserver's words, a missing pod 404, and nodeName cannot change on
// an ordinary update (422).
func TestPodBinding(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv *servertest.Server) {
		ctx := ctxT(t)
		pods := srv.Clientset().CoreV1().Pods("default")
		if _, err := pods.Create(ctx, runnablePod("p1"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// The node agent's view: a watch of the pods bound to its node
		// sees the pod arrive when it is bound.
		w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=n1"})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()

		if err := pods.Bind(ctx, binding("p1", "n1"), metav1.CreateOptions{}); err != nil {
			t.Fatalf("bind: %v", err)
		}
		got, err := pods.Get(ctx, "p1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Spec.NodeName != "n1" {
			t.Fatalf("spec.nodeName = %q, want n1", got.Spec.NodeName)
		}
		c := podScheduled(got)
		if c == nil || c.Status != corev1.ConditionTrue || c.Reason != "" || c.LastTransitionTime.IsZero() {
			t.Fatalf("PodScheduled after binding = %+v, want True with a transition time and no reason", c)
		}
		select {
		case ev := <-w.ResultChan():
			if p, ok := ev.Object.(*corev1.Pod); ev.Type != watch.Added || !ok || p.Name != "p1" {
				t.Fatalf("watch on spec.nodeName=n1: got %s %T, want ADDED p1", ev.Type, ev.Object)
			}
		case <-ctx.Done():
			t.Fatal("the watch on spec.nodeName=n1 never saw the bound pod")
		}

		err = pods.Bind(ctx, binding("p1", "n2"), metav1.CreateOptions{})
		if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), `pod p1 is already assigned to node "n1"`) {
			t.Fatalf("second bind: want 409 naming the node, got %v", err)
		}
		if err := pods.Bind(ctx, binding("gone", "n1"), metav1.CreateOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("bind of a missing pod: want NotFound, got %v", err)
		}

		got.Spec.NodeName = "n2"
		if _, err := pods.Update(ctx, got, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
			t.Fatalf("changing spec.nodeName by update: want 422, got %v", err)
		}
	})
}

// TestPodBindingHTTP: the raw answers: 201 with a Success Status for
// pods/binding and for the legacy bindings collection, 409 for a pod being
// deleted, 400 when the body names another pod, 422 for a binding with no
// target, 405 for anything but POST.
func TestPodBindingHTTP(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	c := srv.HTTPClient()
	pods := srv.Clientset().CoreV1().Pods("default")
	for _, name := range []string{"h1", "h2"} {
		if _, err := pods.Create(ctx, runnablePod(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	post := func(path, body string) (int, metav1.Status) {
		t.Helper()
		resp, err := c.Do(srv.Request("POST", path, []byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var st metav1.Status
		if err := json.Unmarshal(data, &st); err != nil {
			t.Fatalf("POST %s: body %q is not a Status: %v", path, data, err)
		}
		return resp.StatusCode, st
	}

	code, st := post("/api/v1/namespaces/default/pods/h1/binding",
		`{"apiVersion":"v1","kind":"Binding","metadata":{"name":"h1"},"target":{"apiVersion":"v1","kind":"Node","name":"n1"}}`)
	if code != http.StatusCreated || st.Kind != "Status" || st.Status != metav1.StatusSuccess || st.Code != http.StatusCreated {
		t.Fatalf("pods/binding: %d %+v, want 201 with a Success Status of code 201", code, st)
	}
	code, st = post("/api/v1/namespaces/default/bindings",
		`{"apiVersion":"v1","kind":"Binding","metadata":{"name":"h2"},"target":{"kind":"Node","name":"n1"}}`)
	if code != http.StatusCreated || st.Status != metav1.StatusSuccess {
		t.Fatalf("legacy bindings: %d %+v, want 201 Success", code, st)
	}
	if p, err := pods.Get(ctx, "h2", metav1.GetOptions{}); err != nil || p.Spec.NodeName != "n1" {
		t.Fatalf("legacy binding did not bind: %v %q", err, p.Spec.NodeName)
	}

	if _, err := pods.Create(ctx, runnablePod("h3"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	code, st = post("/api/v1/namespaces/default/pods/h3/binding", `{"metadata":{"name":"other"},"target":{"name":"n1"}}`)
	if code != http.StatusBadRequest || st.Message != "name in URL does not match name in Binding object" {
		t.Fatalf("binding naming another pod: %d %q, want 400", code, st.Message)
	}
	code, st = post("/api/v1/namespaces/default/pods/h3/binding", `{"metadata":{"name":"h3"},"target":{"kind":"Pod","name":""}}`)
	if code != http.StatusUnprocessableEntity || st.Details == nil || len(st.Details.Causes) != 2 {
		t.Fatalf("binding without a node: %d %+v, want 422 with two causes", code, st)
	}

	// A pod held by a finalizer after its delete cannot be bound.
	held := runnablePod("h4")
	held.Finalizers = []string{"example.com/hold"}
	if _, err := pods.Create(ctx, held, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "h4", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	code, st = post("/api/v1/namespaces/default/pods/h4/binding", `{"metadata":{"name":"h4"},"target":{"name":"n1"}}`)
	if code != http.StatusConflict || !strings.Contains(st.Message, "pod h4 is being deleted, cannot be assigned to a host") {
		t.Fatalf("binding a pod being deleted: %d %q, want 409", code, st.Message)
	}

	resp, err := c.Do(srv.Request("GET", "/api/v1/namespaces/default/pods/h1/binding", nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), "POST") {
		t.Fatalf("GET of pods/binding: %d Allow %q, want 405 allowing POST", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// TestPodBindingAuthorization: binding is the verb create on pods/binding,
// which the edit role (which creates pods) does not grant, as in
// Kubernetes; a ClusterRole naming pods/binding does.
func TestPodBindingAuthorization(t *testing.T) {
	srv := startWithNobody(t)
	ctx := ctxT(t)
	admin := srv.Clientset()
	nobody, err := kubernetes.NewForConfig(srv.RestConfigFor(nobodyToken))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Pods("default").Create(ctx, runnablePod("auth"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "nobody-edit"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "nobody"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool {
		_, err := nobody.CoreV1().Pods("default").Get(ctx, "auth", metav1.GetOptions{})
		return err == nil
	}, func() string { return "the edit RoleBinding never took effect" })
	err = nobody.CoreV1().Pods("default").Bind(ctx, binding("auth", "n1"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `cannot create resource "pods/binding" in API group "" in the namespace "default"`) {
		t.Fatalf("bind with edit: want 403 for pods/binding, got %v", err)
	}

	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "binder"},
		Rules: []rbacv1.PolicyRule{{Verbs: []string{"create"}, APIGroups: []string{""}, Resources: []string{"pods/binding"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "nobody-binder"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "binder"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "nobody"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool {
		return nobody.CoreV1().Pods("default").Bind(ctx, binding("auth", "n1"), metav1.CreateOptions{}) == nil
	}, func() string { return "the binder ClusterRoleBinding never took effect" })
}

// TestPodFieldSelectors: the selectors the scheduler and the node agent
// list pods by.
func TestPodFieldSelectors(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	pods := srv.Clientset().CoreV1().Pods("default")
	for _, name := range []string{"a1", "a2", "b1", "free"} {
		if _, err := pods.Create(ctx, runnablePod(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for pod, node := range map[string]string{"a1": "node-a", "a2": "node-a", "b1": "node-b"} {
		if err := pods.Bind(ctx, binding(pod, node), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		selector string
		want     []string
	}{
		{"spec.nodeName=node-a", []string{"a1", "a2"}},
		{"spec.nodeName=node-b,status.phase!=Succeeded,status.phase!=Failed", []string{"b1"}},
		{"spec.nodeName=", []string{"free"}},
		{"spec.schedulerName=default-scheduler,spec.nodeName=", []string{"free"}},
		{"spec.restartPolicy=Always,status.podIP=,status.nominatedNodeName=,spec.hostNetwork=false,spec.nodeName=node-b", []string{"b1"}},
	} {
		t.Run(tc.selector, func(t *testing.T) {
			list, err := srv.Clientset().CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: tc.selector})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range list.Items {
				names = append(names, p.Name)
			}
			if strings.Join(names, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("pods = %v, want %v", names, tc.want)
			}
		})
	}
}

// TestEventFieldSelectors: kubectl describe finds an object's events by
// involvedObject fields; source falls back to reportingController as in
// Kubernetes.
func TestEventFieldSelectors(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	events := srv.Clientset().CoreV1().Events("default")
	now := metav1.NewTime(time.Now())
	for _, e := range []*corev1.Event{
		{ObjectMeta: metav1.ObjectMeta{Name: "n1.1"}, InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: "n1", UID: "uid-n1", APIVersion: "v1"},
			Reason: "NodeReady", Type: corev1.EventTypeNormal, Source: corev1.EventSource{Component: "kubelet"}, FirstTimestamp: now, LastTimestamp: now},
		{ObjectMeta: metav1.ObjectMeta{Name: "p.1"}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p", FieldPath: "spec.containers{c}"},
			Reason: "Pulled", Type: corev1.EventTypeNormal, ReportingController: "cella.dev/node", ReportingInstance: "n1",
			Action: "Pull", EventTime: metav1.NewMicroTime(time.Now())},
	} {
		if _, err := events.Create(ctx, e, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ selector, want string }{
		{"involvedObject.name=n1,involvedObject.namespace=,involvedObject.kind=Node,involvedObject.uid=uid-n1", "n1.1"},
		{"involvedObject.apiVersion=v1,involvedObject.resourceVersion=,reason=NodeReady,type=Normal,source=kubelet", "n1.1"},
		{"involvedObject.fieldPath=spec.containers{c}", "p.1"},
		{"source=cella.dev/node,reportingComponent=cella.dev/node", "p.1"},
	} {
		t.Run(tc.selector, func(t *testing.T) {
			list, err := srv.Clientset().CoreV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: tc.selector})
			if err != nil {
				t.Fatal(err)
			}
			if len(list.Items) != 1 || list.Items[0].Name != tc.want {
				t.Fatalf("events = %d items, want only %s", len(list.Items), tc.want)
			}
		})
	}
}
