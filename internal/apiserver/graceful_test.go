package apiserver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/servertest"
)

// deletePod sends DELETE for a pod with the query q and returns the code
// and the pod the body holds (zero when the body is not a pod).
func deletePod(t *testing.T, srv *servertest.Server, name, q string) (int, corev1.Pod) {
	t.Helper()
	path := "/api/v1/namespaces/default/pods/" + name
	if q != "" {
		path += "?" + q
	}
	resp, err := srv.HTTPClient().Do(srv.Request("DELETE", path, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var p corev1.Pod
	if err := json.Unmarshal(data, &p); err != nil || p.Kind != "Pod" {
		return resp.StatusCode, corev1.Pod{}
	}
	return resp.StatusCode, p
}

// boundPod creates a pod and binds it to node n1.
func boundPod(t *testing.T, srv *servertest.Server, name string) {
	t.Helper()
	ctx := ctxT(t)
	pods := srv.Clientset().CoreV1().Pods("default")
	if _, err := pods.Create(ctx, runnablePod(name), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Bind(ctx, binding(name, "n1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestPodGracefulDelete: a pod on a node is marked, not removed: 202 with
// deletionTimestamp a grace period ahead; a second delete may shorten the
// grace period but not lengthen it; the pod's status may still be written;
// a delete with gracePeriodSeconds=0 removes it (200 with the pod, as
// kube-apiserver answers pod deletes).
func TestPodGracefulDelete(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv *servertest.Server) {
		ctx := ctxT(t)
		pods := srv.Clientset().CoreV1().Pods("default")
		boundPod(t, srv, "g1")

		before := time.Now().Truncate(time.Second)
		code, p := deletePod(t, srv, "g1", "")
		if code != http.StatusAccepted || p.DeletionTimestamp == nil || p.DeletionGracePeriodSeconds == nil {
			t.Fatalf("delete of a bound pod: %d %+v, want 202 with the deletion marks", code, p.ObjectMeta)
		}
		if g := *p.DeletionGracePeriodSeconds; g != 30 {
			t.Fatalf("deletionGracePeriodSeconds = %d, want the pod's terminationGracePeriodSeconds, 30", g)
		}
		deadline := p.DeletionTimestamp.Time
		if deadline.Before(before.Add(30 * time.Second)) {
			t.Fatalf("deletionTimestamp %v is not 30s after the delete (%v)", deadline, before)
		}

		code, p = deletePod(t, srv, "g1", "gracePeriodSeconds=10")
		if code != http.StatusAccepted || *p.DeletionGracePeriodSeconds != 10 || !p.DeletionTimestamp.Time.Equal(deadline.Add(-20*time.Second)) {
			t.Fatalf("shortening to 10s: %d grace %v at %v, want 202, 10s, %v", code, *p.DeletionGracePeriodSeconds, p.DeletionTimestamp, deadline.Add(-20*time.Second))
		}
		code, p = deletePod(t, srv, "g1", "gracePeriodSeconds=60")
		if code != http.StatusAccepted || *p.DeletionGracePeriodSeconds != 10 {
			t.Fatalf("lengthening to 60s: %d grace %v, want 202 and 10s kept", code, *p.DeletionGracePeriodSeconds)
		}

		// The node agent reports the containers stopping: the pod stays.
		cur, err := pods.Get(ctx, "g1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur.Status.Phase = corev1.PodRunning
		if _, err := pods.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("status update in the grace period: %v", err)
		}
		if _, err := pods.Get(ctx, "g1", metav1.GetOptions{}); err != nil {
			t.Fatalf("a status update in the grace period removed the pod: %v", err)
		}

		code, p = deletePod(t, srv, "g1", "gracePeriodSeconds=0")
		if code != http.StatusOK || p.Name != "g1" {
			t.Fatalf("delete with gracePeriodSeconds=0: %d %q, want 200 with the pod", code, p.Name)
		}
		if _, err := pods.Get(ctx, "g1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("pod still there after a delete with no grace: %v", err)
		}
	})
}

// TestPodDeleteAtOnce: what no node runs, or what has finished, goes at
// once (200), and so does a forced delete of a running pod.
func TestPodDeleteAtOnce(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	pods := srv.Clientset().CoreV1().Pods("default")

	if _, err := pods.Create(ctx, runnablePod("unbound"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	boundPod(t, srv, "done")
	done, err := pods.Get(ctx, "done", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done.Status.Phase = corev1.PodSucceeded
	if _, err := pods.UpdateStatus(ctx, done, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	boundPod(t, srv, "forced")

	for name, q := range map[string]string{"unbound": "", "done": "", "forced": "gracePeriodSeconds=0"} {
		code, _ := deletePod(t, srv, name, q)
		if code != http.StatusOK {
			t.Errorf("delete %s: %d, want 200", name, code)
		}
		if _, err := pods.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("%s still there after its delete: %v", name, err)
		}
	}
}

// TestPodDeleteCollectionIsGraceful: deleting every pod of a namespace (as
// namespace deletion does) marks the bound ones and removes the others.
func TestPodDeleteCollectionIsGraceful(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	pods := srv.Clientset().CoreV1().Pods("default")
	boundPod(t, srv, "c1")
	if _, err := pods.Create(ctx, runnablePod("c2"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	list, err := pods.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "c1" || list.Items[0].DeletionTimestamp == nil {
		t.Fatalf("after deletecollection: %d pods, want only c1, marked for deletion", len(list.Items))
	}
}
