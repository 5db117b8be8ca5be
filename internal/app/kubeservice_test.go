package app_test

import (
	"context"
	"net/url"
	"strconv"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/servertest"
)

// TestKubernetesService: the default namespace holds the `kubernetes`
// Service, its Endpoints and its EndpointSlice, naming this server's
// address and port, and a restart on another port updates them.
func TestKubernetesService(t *testing.T) {
	dir := t.TempDir()
	for i := range 2 {
		srv := servertest.Start(t, servertest.WithDataDir(dir))
		u, err := url.Parse(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(u.Port())
		cs := srv.Clientset()
		ctx := context.Background()
		svc, err := cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		if svc.Spec.ClusterIP != "10.247.0.1" || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 443 || svc.Spec.Ports[0].TargetPort.IntValue() != port {
			t.Errorf("start %d: service %+v, want 10.247.0.1:443 to port %d", i, svc.Spec, port)
		}
		ep, err := cs.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ep.Subsets) != 1 || ep.Subsets[0].Addresses[0].IP != u.Hostname() || ep.Subsets[0].Ports[0].Port != int32(port) {
			t.Errorf("start %d: endpoints %+v, want %s:%d", i, ep.Subsets, u.Hostname(), port)
		}
		slice, err := cs.DiscoveryV1().EndpointSlices("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(slice.Endpoints) != 1 || slice.Endpoints[0].Addresses[0] != u.Hostname() || *slice.Ports[0].Port != int32(port) {
			t.Errorf("start %d: endpoint slice %+v", i, slice)
		}
		srv.Stop()
	}
}
