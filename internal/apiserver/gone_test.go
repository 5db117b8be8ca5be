package apiserver_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

// TestExpiredListIs410: once storage history is compacted past a list's
// revision, its continue token and an exact-version list of that revision
// reply HTTP 410 Expired; the continue 410 carries a fresh token that
// lists the rest.
func TestExpiredListIs410(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) { c.CompactionInterval = 100 * time.Millisecond })
	ctx := ctxT(t)
	cms := srv.Clientset().CoreV1().ConfigMaps("default")
	for i := range 3 {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("page-%d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := cms.List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil || first.Continue == "" {
		t.Fatalf("first page: %v continue=%q", err, first.Continue)
	}
	rv := first.ResourceVersion

	// Writes move the revision on; compaction follows one interval behind.
	c := srv.HTTPClient()
	var gone reply
	waitFor(t, 20*time.Second, func() bool {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "tick-"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		gone = call(t, c, srv.Request("GET", "/api/v1/namespaces/default/configmaps?limit=1&continue="+url.QueryEscape(first.Continue), nil))
		return gone.code == http.StatusGone
	}, func() string { return fmt.Sprintf("continue still answers %d", gone.code) })
	if gone.status.Reason != metav1.StatusReasonExpired || gone.status.Code != 410 || gone.status.Continue == "" {
		t.Fatalf("expired continue: %+v", gone.status)
	}
	// The fresh token lists the rest, through client-go as well.
	rest, err := cms.List(ctx, metav1.ListOptions{Limit: 500, Continue: gone.status.Continue})
	if err != nil || len(rest.Items) == 0 {
		t.Fatalf("listing with the fresh token: %v %d items", err, len(rest.Items))
	}
	for _, it := range rest.Items {
		if it.Name == first.Items[0].Name {
			t.Fatalf("the fresh token repeats the first page's item %s", it.Name)
		}
	}

	// An exact-version list of the compacted revision.
	a := call(t, c, srv.Request("GET", "/api/v1/namespaces/default/configmaps?resourceVersionMatch=Exact&resourceVersion="+rv, nil))
	if a.code != http.StatusGone || a.status.Reason != metav1.StatusReasonExpired {
		t.Fatalf("exact list of a compacted revision: %d %s", a.code, a.status.Reason)
	}
	_, err = cms.List(ctx, metav1.ListOptions{ResourceVersion: rv, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Fatalf("client-go exact list of a compacted revision: want Expired, got %v", err)
	}
}
