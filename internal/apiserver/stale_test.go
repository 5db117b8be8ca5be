package apiserver_test

import (
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/servertest"
)

// TestResourceVersion0ReadsAre203: GET and LIST with resourceVersion=0 are
// answered from the watch cache with 203; reads without it, or with an
// exact version, go to storage and answer 200; client-go takes 203 as
// success.
func TestResourceVersion0ReadsAre203(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	cms := srv.Clientset().CoreV1().ConfigMaps("default")
	cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cached"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := srv.HTTPClient()
	for _, tc := range []struct {
		path string
		code int
	}{
		{"/api/v1/namespaces/default/configmaps/cached?resourceVersion=0", http.StatusNonAuthoritativeInfo},
		{"/api/v1/namespaces/default/configmaps?resourceVersion=0", http.StatusNonAuthoritativeInfo},
		{"/api/v1/namespaces/default/configmaps/cached", http.StatusOK},
		{"/api/v1/namespaces/default/configmaps/cached?resourceVersion=" + cm.ResourceVersion, http.StatusOK},
		{"/api/v1/namespaces/default/configmaps", http.StatusOK},
		{"/api/v1/namespaces/default/configmaps?resourceVersion=" + cm.ResourceVersion + "&resourceVersionMatch=Exact", http.StatusOK},
	} {
		a := call(t, c, srv.Request("GET", tc.path, nil))
		if a.code != tc.code || !strings.Contains(string(a.body), `"cached"`) {
			t.Fatalf("GET %s: %d, want %d: %s", tc.path, a.code, tc.code, a.body)
		}
	}
	// The cache's name lookup is exact: a longer name is not the object.
	if a := call(t, c, srv.Request("GET", "/api/v1/namespaces/default/configmaps/cach?resourceVersion=0", nil)); a.code != http.StatusNotFound {
		t.Fatalf("GET of a missing name that prefixes another: %d", a.code)
	}
	if a := call(t, c, srv.Request("GET", "/api/v1/namespaces/default/configmaps/cached?resourceVersion=x", nil)); a.code != http.StatusBadRequest {
		t.Fatalf("GET with a malformed resourceVersion: %d", a.code)
	}
	got, err := cms.Get(ctx, "cached", metav1.GetOptions{ResourceVersion: "0"})
	if err != nil || got.Data["k"] != "v" {
		t.Fatalf("client-go get with resourceVersion=0: %v %+v", err, got)
	}
	list, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	// The namespace's kube-root-ca.crt, and "cached".
	if err != nil || len(list.Items) != 2 {
		t.Fatalf("client-go list with resourceVersion=0: %v", err)
	}
	if _, err := cms.Get(ctx, "absent", metav1.GetOptions{ResourceVersion: "0"}); !apierrors.IsNotFound(err) {
		t.Fatalf("client-go get of a missing object from the cache: %v", err)
	}
}
