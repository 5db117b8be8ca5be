package apiserver_test

import (
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

// TestServiceCIDRsAndIPAddresses: the ServiceCIDR "kubernetes" describes
// the cluster IPs and is Ready; a ServiceCIDR's ranges are checked and
// keep, but for becoming dual-stack; an IPAddress is named by its address
// in canonical form and needs a parent; kubectl's columns.
func TestServiceCIDRsAndIPAddresses(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) { c.Profile = "kubernetes" })
	ctx := t.Context()
	net := srv.Clientset().NetworkingV1()

	def, err := net.ServiceCIDRs().Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(def.Spec.CIDRs) != 1 || !meta.IsStatusConditionTrue(def.Status.Conditions, networkingv1.ServiceCIDRConditionReady) {
		t.Errorf("the default ServiceCIDR: %+v %+v", def.Spec, def.Status)
	}

	_, err = net.ServiceCIDRs().Create(ctx, &networkingv1.ServiceCIDR{
		ObjectMeta: metav1.ObjectMeta{Name: "two-v4"}, Spec: networkingv1.ServiceCIDRSpec{CIDRs: []string{"10.1.0.0/16", "10.2.0.0/16"}},
	}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "may specify no more than one IP for each IP family") {
		t.Errorf("two IPv4 ranges: %v, want 422", err)
	}
	_, err = net.ServiceCIDRs().Create(ctx, &networkingv1.ServiceCIDR{
		ObjectMeta: metav1.ObjectMeta{Name: "sloppy"}, Spec: networkingv1.ServiceCIDRSpec{CIDRs: []string{"fd00:2:0:0::/112"}},
	}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `must be in canonical form ("fd00:2::/112")`) {
		t.Errorf("a range not in canonical form: %v, want 422", err)
	}
	sc, err := net.ServiceCIDRs().Create(ctx, &networkingv1.ServiceCIDR{
		ObjectMeta: metav1.ObjectMeta{Name: "extra"}, Spec: networkingv1.ServiceCIDRSpec{CIDRs: []string{"10.1.0.0/16"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sc.Spec.CIDRs = append(sc.Spec.CIDRs, "fd00:1::/112")
	if _, err := net.ServiceCIDRs().Update(ctx, sc, metav1.UpdateOptions{}); err != nil {
		t.Errorf("making a ServiceCIDR dual-stack: %v", err)
	}

	_, err = net.IPAddresses().Create(ctx, &networkingv1.IPAddress{
		ObjectMeta: metav1.ObjectMeta{Name: "fd00:1:0:0::10"},
		Spec:       networkingv1.IPAddressSpec{ParentRef: &networkingv1.ParentReference{Resource: "services", Namespace: "default", Name: "a"}},
	}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "must be in canonical form") {
		t.Errorf("an address not in canonical form: %v, want 422", err)
	}
	_, err = net.IPAddresses().Create(ctx, &networkingv1.IPAddress{ObjectMeta: metav1.ObjectMeta{Name: "10.1.0.9"}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.parentRef: Required value") {
		t.Errorf("an address without a parent: %v, want 422", err)
	}
	if _, err := net.IPAddresses().Create(ctx, &networkingv1.IPAddress{
		ObjectMeta: metav1.ObjectMeta{Name: "10.1.0.10"},
		Spec:       networkingv1.IPAddressSpec{ParentRef: &networkingv1.ParentReference{Resource: "services", Namespace: "default", Name: "a"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	tab := tableOf(t, srv, "/apis/networking.k8s.io/v1/servicecidrs/extra")
	if got := columns(tab); got != "Name CIDRs Age" || len(tab.Rows) != 1 || !strings.HasPrefix(cells(tab.Rows[0]), "extra | 10.1.0.0/16,fd00:1::/112 | ") {
		t.Errorf("ServiceCIDR table: %s %+v", got, tab.Rows)
	}
	tab = tableOf(t, srv, "/apis/networking.k8s.io/v1/ipaddresses/10.1.0.10")
	if got := columns(tab); got != "Name ParentRef Age" || len(tab.Rows) != 1 || !strings.HasPrefix(cells(tab.Rows[0]), "10.1.0.10 | services/default/a | ") {
		t.Errorf("IPAddress table: %s %+v", got, tab.Rows)
	}
}
