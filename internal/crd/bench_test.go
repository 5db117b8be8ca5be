package crd_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"

	"cella.dev/cella/internal/servertest"
)

// BenchmarkEstablish measures one definition from its create to being
// served: the create, the Manager building its Stores and endpoints and
// writing Established, a client seeing Established, and discovery listing
// the group-version. Each iteration creates a definition of a group of
// its own.
//
//	go test -run '^$' -bench Establish -benchtime 50x ./internal/crd/
func BenchmarkEstablish(b *testing.B) {
	srv := servertest.Start(b)
	ctx := context.Background()
	ext := apiextensionsclient.NewForConfigOrDie(srv.RestConfig())
	disc := discovery.NewDiscoveryClientForConfigOrDie(srv.RestConfig())
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		group := fmt.Sprintf("g%d.example.com", i)
		crd := decodeCRDB(b, widgetsCRD)
		crd.Name = "widgets." + group
		crd.Spec.Group = group
		if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		err := wait.PollUntilContextTimeout(ctx, time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			got, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, c := range got.Status.Conditions {
				if c.Type == "Established" && c.Status == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := disc.ServerResourcesForGroupVersion(group + "/v1"); err != nil {
			b.Fatalf("discovery of an Established definition: %v", err)
		}
	}
}
