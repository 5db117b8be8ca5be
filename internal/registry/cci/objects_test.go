package cci

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	eipv1 "cella.dev/cella/internal/apis/eip/v1"
	networkingv1beta1 "cella.dev/cella/internal/apis/networking/v1beta1"
)

func TestValidateService(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec corev1.ServiceSpec
		want []string
	}{
		{name: "default type", spec: corev1.ServiceSpec{}},
		{name: "ClusterIP in range", spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.247.3.4", ClusterIPs: []string{"10.247.3.4"}}},
		{name: "headless", spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, ClusterIPs: []string{corev1.ClusterIPNone}}},
		{name: "LoadBalancer", spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}},
		{name: "ExternalName", spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example"}},
		{name: "NodePort", spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort}, want: []string{"Unsupported value spec.type"}},
		{name: "unknown type", spec: corev1.ServiceSpec{Type: "Bogus"}, want: []string{"Unsupported value spec.type"}},
		{name: "ClusterIP out of range", spec: corev1.ServiceSpec{ClusterIP: "10.0.0.10", ClusterIPs: []string{"10.0.0.10"}},
			want: []string{"Invalid value spec.clusterIP"}},
		{name: "ClusterIP not an address", spec: corev1.ServiceSpec{ClusterIP: "ten"}, want: []string{"Invalid value spec.clusterIP"}},
		{name: "second family", spec: corev1.ServiceSpec{ClusterIP: "10.247.0.10", ClusterIPs: []string{"10.247.0.10", "fd00::10"}},
			want: []string{"Invalid value spec.clusterIPs[1]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, ValidateService(&corev1.Service{Spec: tc.spec}), tc.want...)
		})
	}
	errs := ValidateService(&corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "1.2.3.4"}})
	checkDetail(t, errs, "spec.type", `"ClusterIP"`, `"LoadBalancer"`, `"ExternalName"`)
	checkDetail(t, errs, "spec.clusterIP", "10.247.0.0/16")
}

func TestValidateNamespace(t *testing.T) {
	key := "metadata.annotations[namespace.kubernetes.io/flavor]"
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		want        []string
	}{
		{"general-computing", map[string]string{FlavorAnnotation: FlavorGeneralComputing}, nil},
		{"gpu-accelerated", map[string]string{FlavorAnnotation: FlavorGPUAccelerated}, nil},
		{"no annotations", nil, []string{"Required value " + key}},
		{"other annotations", map[string]string{"a": "b"}, []string{"Required value " + key}},
		{"unknown flavor", map[string]string{FlavorAnnotation: "arm"}, []string{"Unsupported value " + key}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, ValidateNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", Annotations: tc.annotations}}), tc.want...)
		})
	}
	errs := ValidateNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{FlavorAnnotation: "arm"}}})
	checkDetail(t, errs, key, "general-computing", "gpu-accelerated")
}

func TestValidateNetwork(t *testing.T) {
	valid := networkingv1beta1.NetworkSpec{AttachedVPC: "vpc", NetworkID: "net", SubnetID: "sub", CIDR: "192.168.0.0/24"}
	with := func(change func(*networkingv1beta1.NetworkSpec)) networkingv1beta1.NetworkSpec {
		s := *valid.DeepCopy()
		change(&s)
		return s
	}
	for _, tc := range []struct {
		name string
		spec networkingv1beta1.NetworkSpec
		want []string
	}{
		{name: "valid", spec: valid},
		{name: "no cidr", spec: with(func(s *networkingv1beta1.NetworkSpec) { s.CIDR = "" })},
		{name: "next to the service range", spec: with(func(s *networkingv1beta1.NetworkSpec) { s.CIDR = "10.248.0.0/16" })},
		{name: "empty", spec: networkingv1beta1.NetworkSpec{}, want: []string{
			"Required value spec.attachedVPC", "Required value spec.networkID", "Required value spec.subnetID",
		}},
		{name: "cidr unparsable", spec: with(func(s *networkingv1beta1.NetworkSpec) { s.CIDR = "192.168.0.0" }),
			want: []string{"Invalid value spec.cidr"}},
		{name: "cidr host bits", spec: with(func(s *networkingv1beta1.NetworkSpec) { s.CIDR = "192.168.0.5/24" }),
			want: []string{"Invalid value spec.cidr"}},
		{name: "cidr inside the service range", spec: with(func(s *networkingv1beta1.NetworkSpec) { s.CIDR = "10.247.8.0/24" }),
			want: []string{"Invalid value spec.cidr"}},
		{name: "cidr around the service range", spec: with(func(s *networkingv1beta1.NetworkSpec) { s.CIDR = "10.0.0.0/8" }),
			want: []string{"Invalid value spec.cidr"}},
		{name: "subnets", spec: with(func(s *networkingv1beta1.NetworkSpec) {
			s.Subnets = []networkingv1beta1.Subnet{{SubnetID: "a"}, {}, {SubnetID: "a"}, {SubnetID: "b"}}
		}), want: []string{"Required value spec.subnets[1].subnetID", "Duplicate value spec.subnets[2].subnetID"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, ValidateNetwork(&networkingv1beta1.Network{Spec: tc.spec}), tc.want...)
		})
	}
	errs := ValidateNetwork(&networkingv1beta1.Network{Spec: with(func(s *networkingv1beta1.NetworkSpec) { s.CIDR = "10.247.0.0/20" })})
	checkDetail(t, errs, "spec.cidr", "10.247.0.0/16")
	errs = ValidateNetwork(&networkingv1beta1.Network{Spec: with(func(s *networkingv1beta1.NetworkSpec) { s.CIDR = "192.168.0.5/24" })})
	checkDetail(t, errs, "spec.cidr", "192.168.0.0/24")
}

func TestValidateEIPPool(t *testing.T) {
	attrs := func(change func(*eipv1.EIPAttributes)) *eipv1.EIPAttributes {
		a := &eipv1.EIPAttributes{NetworkType: "5_bgp", IPVersion: 4, Bandwidth: &eipv1.Bandwidth{
			Name: "bw", Size: 5, ShareType: eipv1.ShareTypePer, ChargeMode: eipv1.ChargeModeBandwidth,
		}}
		if change != nil {
			change(a)
		}
		return a
	}
	for _, tc := range []struct {
		name string
		spec eipv1.EIPPoolSpec
		want []string
	}{
		{name: "dynamic", spec: eipv1.EIPPoolSpec{Amount: new(int32(3)), EIPAttributes: attrs(nil)}},
		{name: "dynamic of zero", spec: eipv1.EIPPoolSpec{Amount: new(int32(0))}},
		{name: "dynamic of 500", spec: eipv1.EIPPoolSpec{Amount: new(int32(500))}},
		{name: "shared bandwidth", spec: eipv1.EIPPoolSpec{Amount: new(int32(1)), EIPAttributes: attrs(func(a *eipv1.EIPAttributes) {
			a.Bandwidth = &eipv1.Bandwidth{ID: "bw-1", ShareType: eipv1.ShareTypeWhole}
		})}},
		{name: "static", spec: eipv1.EIPPoolSpec{EIPs: []string{"10.246.173.254", "10.246.172.3", "2001:db8::1"}}},

		{name: "neither", spec: eipv1.EIPPoolSpec{}, want: []string{"Required value spec.amount"}},
		{name: "empty static list", spec: eipv1.EIPPoolSpec{EIPs: []string{}}, want: []string{"Required value spec.amount"}},
		{name: "both", spec: eipv1.EIPPoolSpec{Amount: new(int32(1)), EIPs: []string{"1.2.3.4"}},
			want: []string{"Forbidden spec.eips"}},
		{name: "amount 501", spec: eipv1.EIPPoolSpec{Amount: new(int32(501))}, want: []string{"Invalid value spec.amount"}},
		{name: "amount -1", spec: eipv1.EIPPoolSpec{Amount: new(int32(-1))}, want: []string{"Invalid value spec.amount"}},
		{name: "bad and repeated addresses", spec: eipv1.EIPPoolSpec{EIPs: []string{"1.2.3.4", "1.2.3", "1.2.3.4"}},
			want: []string{"Invalid value spec.eips[1]", "Duplicate value spec.eips[2]"}},
		{name: "static with attributes", spec: eipv1.EIPPoolSpec{EIPs: []string{"1.2.3.4"}, EIPAttributes: attrs(nil)},
			want: []string{"Forbidden spec.eipAttributes"}},
		{name: "ip version", spec: eipv1.EIPPoolSpec{Amount: new(int32(1)), EIPAttributes: attrs(func(a *eipv1.EIPAttributes) { a.IPVersion = 5 })},
			want: []string{"Unsupported value spec.eipAttributes.ipVersion"}},
		{name: "WHOLE without id", spec: eipv1.EIPPoolSpec{Amount: new(int32(1)), EIPAttributes: attrs(func(a *eipv1.EIPAttributes) {
			a.Bandwidth.ShareType = eipv1.ShareTypeWhole
		})}, want: []string{"Required value spec.eipAttributes.bandwidth.id"}},
		{name: "bandwidth values", spec: eipv1.EIPPoolSpec{Amount: new(int32(1)), EIPAttributes: attrs(func(a *eipv1.EIPAttributes) {
			a.Bandwidth.ShareType, a.Bandwidth.ChargeMode, a.Bandwidth.Size = "HALF", "free", -1
		})}, want: []string{
			"Unsupported value spec.eipAttributes.bandwidth.shareType",
			"Unsupported value spec.eipAttributes.bandwidth.chargeMode",
			"Invalid value spec.eipAttributes.bandwidth.size",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, ValidateEIPPool(&eipv1.EIPPool{Spec: tc.spec}), tc.want...)
		})
	}
	errs := ValidateEIPPool(&eipv1.EIPPool{Spec: eipv1.EIPPoolSpec{Amount: new(int32(501))}})
	checkDetail(t, errs, "spec.amount", "from 0 to 500")
	errs = ValidateEIPPool(&eipv1.EIPPool{})
	checkDetail(t, errs, "spec.amount", "0 to 500", "eips")
}
