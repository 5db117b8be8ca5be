package v1

import (
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"cella.dev/cella/internal/apis/apistest"
)

func TestDeepCopy(t *testing.T) {
	apistest.DeepCopy(t, &EIPPool{}, &EIPPoolList{})
}

func TestSwaggerDocs(t *testing.T) {
	apistest.SwaggerDocs(t, EIPPool{}, EIPPoolList{})
}

func TestJSONRoundTrip(t *testing.T) {
	dynamic := &EIPPool{
		TypeMeta:   metav1.TypeMeta{APIVersion: SchemeGroupVersion.String(), Kind: "EIPPool"},
		ObjectMeta: metav1.ObjectMeta{Name: "dynamic", Namespace: "default"},
		Spec: EIPPoolSpec{
			Amount: new(int32(3)),
			EIPAttributes: &EIPAttributes{
				NetworkType: "5_bgp", IPVersion: 4,
				Bandwidth: &Bandwidth{Name: "bw", Size: 5, ShareType: ShareTypePer, ChargeMode: ChargeModeBandwidth},
			},
		},
		Status: EIPPoolStatus{
			Phase: EIPPoolReady, Usage: "1/3",
			EIPs: []EIPStatus{{ID: "eip-1", IPv4: "100.85.221.2", Status: "ACTIVE", BandwidthChargeMode: ChargeModeBandwidth, Pod: "web-0"}},
		},
	}
	static := &EIPPool{
		ObjectMeta: metav1.ObjectMeta{Name: "static", Namespace: "default"},
		Spec:       EIPPoolSpec{EIPs: []string{"10.246.173.254", "10.246.172.3"}},
	}
	apistest.JSONRoundTrip(t, dynamic, static, &EIPPoolList{Items: []EIPPool{*dynamic, *static}})
}

// TestAmountZero checks that a dynamic pool of zero addresses keeps its
// amount through JSON, which is what tells it from a static pool.
func TestAmountZero(t *testing.T) {
	data, err := json.Marshal(EIPPoolSpec{Amount: new(int32(0))})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), `{"amount":0}`; got != want {
		t.Errorf("marshal = %s, want %s", got, want)
	}
}

func TestAddToScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []runtime.Object{&EIPPool{}, &EIPPoolList{}, &metav1.ListOptions{}, &metav1.DeleteOptions{}, &metav1.WatchEvent{}} {
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
