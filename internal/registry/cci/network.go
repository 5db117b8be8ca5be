package cci

import (
	"net/netip"

	"k8s.io/apimachinery/pkg/util/validation/field"

	networkingv1beta1 "cella.dev/cella/internal/apis/networking/v1beta1"
)

// ValidateNetwork checks a Network: attachedVPC, networkID and subnetID are
// set; cidr, if set, is a network address in CIDR notation that does not
// overlap ServiceCIDR; every entry of subnets names a distinct subnet.
// networkType is not checked: CCI documents no closed set of values.
func ValidateNetwork(n *networkingv1beta1.Network) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	for _, f := range []struct{ name, value string }{
		{"attachedVPC", n.Spec.AttachedVPC},
		{"networkID", n.Spec.NetworkID},
		{"subnetID", n.Spec.SubnetID},
	} {
		if f.value == "" {
			errs = append(errs, field.Required(spec.Child(f.name), ""))
		}
	}
	if n.Spec.CIDR != "" {
		if err := validateNetworkCIDR(n.Spec.CIDR, spec.Child("cidr")); err != nil {
			errs = append(errs, err)
		}
	}
	seen := map[string]bool{}
	for i, s := range n.Spec.Subnets {
		path := spec.Child("subnets").Index(i).Child("subnetID")
		switch {
		case s.SubnetID == "":
			errs = append(errs, field.Required(path, ""))
		case seen[s.SubnetID]:
			errs = append(errs, field.Duplicate(path, s.SubnetID))
		}
		seen[s.SubnetID] = true
	}
	return errs
}

func validateNetworkCIDR(cidr string, path *field.Path) *field.Error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return field.Invalid(path, cidr, "must be an address range in CIDR notation, such as 192.168.0.0/24")
	}
	if p.Masked() != p {
		return field.Invalid(path, cidr, "must be a network address: "+p.Masked().String())
	}
	if p.Overlaps(netip.MustParsePrefix(ServiceCIDR)) {
		return field.Invalid(path, cidr, "must not overlap "+ServiceCIDR+", which is reserved for Services")
	}
	return nil
}
