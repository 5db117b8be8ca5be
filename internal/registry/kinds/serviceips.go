package kinds

import (
	"context"
	"net/netip"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"cella.dev/cella/internal/registry"
)

// serviceIPs serves networking.k8s.io/v1's ServiceCIDRs and IPAddresses,
// stored and validated as Kubernetes does. Cella's cluster IPs come from
// its one range (serviceCIDR), which the ServiceCIDR "kubernetes"
// describes (DefaultServiceCIDR); it neither allocates from other
// ServiceCIDRs nor records its allocations as IPAddresses.
func (b *builder) serviceIPs() {
	b.stored(&registry.Resource{
		Group: "networking.k8s.io", Version: "v1", Kind: "ServiceCIDR", Plural: "servicecidrs", Singular: "servicecidr",
		New:     func() runtime.Object { return &networkingv1.ServiceCIDR{} },
		NewList: func() runtime.Object { return &networkingv1.ServiceCIDRList{} },
		HasSpec: true, HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			obj.(*networkingv1.ServiceCIDR).Status = networkingv1.ServiceCIDRStatus{}
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return validateServiceCIDRs(obj.(*networkingv1.ServiceCIDR).Spec.CIDRs)
		},
		ValidateUpdate: func(ctx context.Context, obj, old runtime.Object) field.ErrorList {
			if registry.SubresourceOf(ctx) == "status" {
				return nil
			}
			return validateServiceCIDRUpdate(obj.(*networkingv1.ServiceCIDR).Spec.CIDRs, old.(*networkingv1.ServiceCIDR).Spec.CIDRs)
		},
		Columns: []metav1.TableColumnDefinition{
			col("CIDRs", "string", networkingv1.ServiceCIDRSpec{}.SwaggerDoc()["cidrs"]),
			ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			c := obj.(*networkingv1.ServiceCIDR)
			return []any{strings.Join(c.Spec.CIDRs, ","), b.age(c)}
		},
	}, "status")
	b.stored(rules(&registry.Resource{
		Group: "networking.k8s.io", Version: "v1", Kind: "IPAddress", Plural: "ipaddresses", Singular: "ipaddress",
		ShortNames: []string{"ip"},
		New:        func() runtime.Object { return &networkingv1.IPAddress{} },
		NewList:    func() runtime.Object { return &networkingv1.IPAddressList{} },
		// An IPAddress is named by its address, in canonical form.
		ValidateName: func(name string, _ bool) []string {
			var msgs []string
			for _, e := range validation.IsValidIP(&field.Path{}, name) {
				msgs = append(msgs, e.Detail)
			}
			return msgs
		},
		Columns: []metav1.TableColumnDefinition{
			col("ParentRef", "string", networkingv1.IPAddressSpec{}.SwaggerDoc()["parentRef"]),
			ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			a := obj.(*networkingv1.IPAddress)
			parent := "<none>"
			if r := a.Spec.ParentRef; r != nil {
				parent = strings.ToLower(schema.GroupResource{Group: r.Group, Resource: r.Resource}.String())
				if r.Namespace != "" {
					parent += "/" + r.Namespace
				}
				parent += "/" + r.Name
			}
			return []any{parent, b.age(a)}
		},
	}, validateIPAddress, func(a, o *networkingv1.IPAddress) []change {
		return []change{{"spec.parentRef", a.Spec.ParentRef, o.Spec.ParentRef}}
	}))
}

// DefaultServiceCIDR is the ServiceCIDR "kubernetes" that kube-apiserver
// creates for its --service-cluster-ip-range: Cella's range of cluster
// IPs.
func DefaultServiceCIDR() *networkingv1.ServiceCIDR {
	return &networkingv1.ServiceCIDR{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes"},
		Spec:       networkingv1.ServiceCIDRSpec{CIDRs: []string{serviceCIDR.String()}},
	}
}

// validateServiceCIDRs checks a ServiceCIDR's ranges as Kubernetes does:
// one or two, one of each IP family, each in canonical form.
func validateServiceCIDRs(cidrs []string) field.ErrorList {
	p := field.NewPath("spec", "cidrs")
	switch {
	case len(cidrs) == 0:
		return field.ErrorList{field.Required(p, "at least one CIDR required")}
	case len(cidrs) > 2:
		return field.ErrorList{field.Invalid(p, cidrs, "may only hold up to 2 values")}
	case len(cidrs) == 2:
		a, errA := netip.ParsePrefix(cidrs[0])
		c, errC := netip.ParsePrefix(cidrs[1])
		if errA != nil || errC != nil || a.Addr().Is4() == c.Addr().Is4() {
			return field.ErrorList{field.Invalid(p, cidrs, "may specify no more than one IP for each IP family, i.e 192.168.0.0/24 and 2001:db8::/64")}
		}
	}
	var errs field.ErrorList
	for i, c := range cidrs {
		errs = append(errs, validation.IsValidCIDR(p.Index(i), c)...)
	}
	return errs
}

// validateServiceCIDRUpdate keeps a ServiceCIDR's ranges, but for a
// second range of the other family added to a single one (a cluster made
// dual-stack), as Kubernetes allows.
func validateServiceCIDRUpdate(now, was []string) field.ErrorList {
	p := field.NewPath("spec", "cidrs")
	var errs field.ErrorList
	switch {
	case len(now) == len(was):
		for i := range was {
			if now[i] != was[i] {
				errs = append(errs, field.Invalid(p.Index(i), now[i], apivalidation.FieldImmutableErrorMsg))
			}
		}
	case len(was) == 1 && len(now) == 2:
		if now[0] != was[0] {
			errs = append(errs, field.Invalid(p.Index(0), now[0], apivalidation.FieldImmutableErrorMsg))
		}
		errs = append(errs, validateServiceCIDRs(now)...)
	default:
		errs = append(errs, field.Invalid(p, now, apivalidation.FieldImmutableErrorMsg))
	}
	return errs
}

// validateIPAddress checks an IPAddress's parent reference, which is
// required: a resource and a name, each a path segment, and a group that
// is a DNS subdomain when set.
func validateIPAddress(a *networkingv1.IPAddress) field.ErrorList {
	r := a.Spec.ParentRef
	p := field.NewPath("spec", "parentRef")
	if r == nil {
		return field.ErrorList{field.Required(p, "")}
	}
	var errs field.ErrorList
	if r.Group != "" {
		errs = append(errs, invalidEach(p.Child("group"), r.Group, validation.IsDNS1123Subdomain(r.Group))...)
	}
	segment := func(name, v string, required bool) {
		if v == "" {
			if required {
				errs = append(errs, field.Required(p.Child(name), ""))
			}
			return
		}
		for _, msg := range path.IsValidPathSegmentName(v) {
			errs = append(errs, field.Invalid(p.Child(name), v, msg))
		}
	}
	segment("resource", r.Resource, true)
	segment("name", r.Name, true)
	segment("namespace", r.Namespace, false)
	return errs
}
