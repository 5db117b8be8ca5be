package cci

import (
	"fmt"
	"net/netip"

	"k8s.io/apimachinery/pkg/util/validation/field"

	eipv1 "cella.dev/cella/internal/apis/eip/v1"
)

// ValidateEIPPool checks an EIPPool. A pool is either dynamic, with amount
// (0 to eipv1.MaxAmount) and optional eipAttributes, or static, with a
// non-empty list of distinct IP addresses in eips; it must be one of the
// two. A dynamic pool of 0 is valid: it can be scaled up later.
//
// In eipAttributes, ipVersion is 4 or 6 (0 meaning 4), bandwidth.shareType
// PER or WHOLE with WHOLE needing bandwidth.id, and bandwidth.chargeMode
// bandwidth or traffic. networkType and bandwidth size depend on the region
// and are not checked.
func ValidateEIPPool(p *eipv1.EIPPool) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	dynamic, static := p.Spec.Amount != nil, len(p.Spec.EIPs) > 0
	switch {
	case dynamic && static:
		errs = append(errs, field.Forbidden(spec.Child("eips"), "a pool is dynamic (amount) or static (eips), not both"))
	case !dynamic && !static:
		errs = append(errs, field.Required(spec.Child("amount"),
			fmt.Sprintf("set amount (0 to %d) for a dynamic pool, or eips for a static pool", eipv1.MaxAmount)))
	}
	if a := p.Spec.Amount; a != nil && (*a < 0 || *a > eipv1.MaxAmount) {
		errs = append(errs, field.Invalid(spec.Child("amount"), *a, fmt.Sprintf("must be from 0 to %d", eipv1.MaxAmount)))
	}
	seen := map[netip.Addr]bool{}
	for i, ip := range p.Spec.EIPs {
		path := spec.Child("eips").Index(i)
		addr, err := netip.ParseAddr(ip)
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(path, ip, "must be an IP address"))
		case seen[addr]:
			errs = append(errs, field.Duplicate(path, ip))
		}
		seen[addr] = true
	}
	if attrs := p.Spec.EIPAttributes; attrs != nil {
		path := spec.Child("eipAttributes")
		if static && !dynamic {
			errs = append(errs, field.Forbidden(path, "applies to dynamic pools (amount) only"))
		}
		errs = append(errs, validateEIPAttributes(attrs, path)...)
	}
	return errs
}

func validateEIPAttributes(a *eipv1.EIPAttributes, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if v := a.IPVersion; v != 0 && v != 4 && v != 6 {
		errs = append(errs, field.NotSupported(path.Child("ipVersion"), v, []string{"4", "6"}))
	}
	b := a.Bandwidth
	if b == nil {
		return errs
	}
	bw := path.Child("bandwidth")
	switch b.ShareType {
	case "", eipv1.ShareTypePer:
	case eipv1.ShareTypeWhole:
		if b.ID == "" {
			errs = append(errs, field.Required(bw.Child("id"), "a WHOLE (shared) bandwidth is named by its id"))
		}
	default:
		errs = append(errs, field.NotSupported(bw.Child("shareType"), b.ShareType, []string{eipv1.ShareTypePer, eipv1.ShareTypeWhole}))
	}
	if m := b.ChargeMode; m != "" && m != eipv1.ChargeModeBandwidth && m != eipv1.ChargeModeTraffic {
		errs = append(errs, field.NotSupported(bw.Child("chargeMode"), m, []string{eipv1.ChargeModeBandwidth, eipv1.ChargeModeTraffic}))
	}
	if b.Size < 0 {
		errs = append(errs, field.Invalid(bw.Child("size"), b.Size, "must be positive (Mbit/s)"))
	}
	return errs
}
