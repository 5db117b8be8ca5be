package apiserver_test

import (
	"strings"
	"testing"

	resourcev1 "k8s.io/api/resource/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

// TestDynamicResources: resource.k8s.io/v1 claims get their defaults
// and keep their spec; a request is exact or a list of alternatives,
// never both; a claim is reserved only once allocated; a slice selects
// its nodes one way; a device taint records when it was added;
// kubectl's columns.
func TestDynamicResources(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) { c.Profile = "kubernetes" })
	ctx := t.Context()
	rv1 := srv.Clientset().ResourceV1()

	claim, err := rv1.ResourceClaims("default").Create(ctx, &resourcev1.ResourceClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "gpu"},
		Spec: resourcev1.ResourceClaimSpec{Devices: resourcev1.DeviceClaim{Requests: []resourcev1.DeviceRequest{
			{Name: "one", Exactly: &resourcev1.ExactDeviceRequest{DeviceClassName: "gpus"}},
		}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e := claim.Spec.Devices.Requests[0].Exactly; e.AllocationMode != resourcev1.DeviceAllocationModeExactCount || e.Count != 1 {
		t.Errorf("request defaults: %+v", e)
	}
	claim.Spec.Devices.Requests[0].Exactly.Count = 2
	if _, err := rv1.ResourceClaims("default").Update(ctx, claim, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec: Invalid value") {
		t.Errorf("changing a claim's spec: %v, want 422", err)
	}
	claim.Spec.Devices.Requests[0].Exactly.Count = 1
	claim.Status.ReservedFor = []resourcev1.ResourceClaimConsumerReference{{Resource: "pods", Name: "p", UID: "u"}}
	if _, err := rv1.ResourceClaims("default").UpdateStatus(ctx, claim, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "may not be specified when `allocated` is not set") {
		t.Errorf("reserving an unallocated claim: %v, want 422", err)
	}

	_, err = rv1.ResourceClaims("default").Create(ctx, &resourcev1.ResourceClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "bad"},
		Spec: resourcev1.ResourceClaimSpec{Devices: resourcev1.DeviceClaim{Requests: []resourcev1.DeviceRequest{
			{Name: "both", Exactly: &resourcev1.ExactDeviceRequest{DeviceClassName: "gpus"}, FirstAvailable: []resourcev1.DeviceSubRequest{{Name: "a", DeviceClassName: "gpus"}}},
			{Name: "neither"},
		}}},
	}, metav1.CreateOptions{})
	for _, msg := range []string{"exactly one of `exactly` or `firstAvailable` is required, but multiple fields are set", "spec.devices.requests[1]: Required value: exactly one of `exactly` or `firstAvailable` is required"} {
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), msg) {
			t.Errorf("bad requests: %v, want 422 saying %q", err, msg)
		}
	}

	node := "node-1"
	allNodes := true
	_, err = rv1.ResourceSlices().Create(ctx, &resourcev1.ResourceSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "two-ways"},
		Spec: resourcev1.ResourceSliceSpec{
			Driver: "gpu.example.com", Pool: resourcev1.ResourcePool{Name: "p", ResourceSliceCount: 1},
			NodeName: &node, AllNodes: &allNodes,
		},
	}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "but multiple fields are set") {
		t.Errorf("a slice selecting nodes two ways: %v, want 422", err)
	}
	if _, err := rv1.ResourceSlices().Create(ctx, &resourcev1.ResourceSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1-gpus"},
		Spec: resourcev1.ResourceSliceSpec{
			Driver: "gpu.example.com", Pool: resourcev1.ResourcePool{Name: "node-1", ResourceSliceCount: 1},
			NodeName: &node, Devices: []resourcev1.Device{{Name: "gpu-0"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	tab := tableOf(t, srv, "/apis/resource.k8s.io/v1/namespaces/default/resourceclaims")
	if got := columns(tab); got != "Name State Age" || len(tab.Rows) != 1 || !strings.HasPrefix(cells(tab.Rows[0]), "gpu | pending | ") {
		t.Errorf("claims table: %s %+v", got, tab.Rows)
	}
	tab = tableOf(t, srv, "/apis/resource.k8s.io/v1/resourceslices")
	if got := columns(tab); got != "Name Node Driver Pool Age" || len(tab.Rows) != 1 || !strings.HasPrefix(cells(tab.Rows[0]), "node-1-gpus | node-1 | gpu.example.com | node-1 | ") {
		t.Errorf("slices table: %s %+v", got, tab.Rows)
	}
	slices, err := rv1.ResourceSlices().List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=node-1"})
	if err != nil || len(slices.Items) != 1 {
		t.Errorf("slices of node-1: %v %v", err, slices)
	}

	rule, err := rv1.DeviceTaintRules().Create(ctx, &resourcev1.DeviceTaintRule{
		ObjectMeta: metav1.ObjectMeta{Name: "broken"},
		Spec:       resourcev1.DeviceTaintRuleSpec{Taint: resourcev1.DeviceTaint{Key: "example.com/broken", Effect: resourcev1.DeviceTaintEffectNoSchedule}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rule.Spec.Taint.TimeAdded == nil {
		t.Error("a new taint has no timeAdded")
	}
	_, err = rv1.DeviceTaintRules().Create(ctx, &resourcev1.DeviceTaintRule{
		ObjectMeta: metav1.ObjectMeta{Name: "odd"},
		Spec:       resourcev1.DeviceTaintRuleSpec{Taint: resourcev1.DeviceTaint{Key: "example.com/odd", Effect: "Sometimes"}},
	}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `spec.taint.effect: Unsupported value: "Sometimes"`) {
		t.Errorf("an unknown effect: %v, want 422", err)
	}
}
