package v1beta1

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"cella.dev/cella/internal/apis/apistest"
)

func TestDeepCopy(t *testing.T) {
	apistest.DeepCopy(t, &Network{}, &NetworkList{})
}

func TestSwaggerDocs(t *testing.T) {
	apistest.SwaggerDocs(t, Network{}, NetworkList{})
}

func TestJSONRoundTrip(t *testing.T) {
	n := &Network{
		TypeMeta:   metav1.TypeMeta{APIVersion: SchemeGroupVersion.String(), Kind: "Network"},
		ObjectMeta: metav1.ObjectMeta{Name: "net", Namespace: "default"},
		Spec: NetworkSpec{
			AttachedVPC: "vpc-1", NetworkID: "net-1", SubnetID: "sub-1",
			CIDR: "192.168.0.0/24", AvailableZone: "az1", NetworkType: "underlay_neutron",
			Subnets: []Subnet{{SubnetID: "sub-2"}},
		},
		Status: NetworkStatus{State: NetworkStateActive},
	}
	apistest.JSONRoundTrip(t, n, &NetworkList{Items: []Network{*n}})
}

func TestAddToScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []runtime.Object{&Network{}, &NetworkList{}, &metav1.ListOptions{}, &metav1.DeleteOptions{}, &metav1.WatchEvent{}} {
		gvks, _, err := s.ObjectKinds(obj)
		if err != nil {
			t.Fatalf("%T: %v", obj, err)
		}
		found := false
		for _, gvk := range gvks {
			found = found || gvk.GroupVersion() == SchemeGroupVersion
		}
		if !found {
			t.Errorf("%T kinds %v, want one in %v", obj, gvks, SchemeGroupVersion)
		}
	}
}
