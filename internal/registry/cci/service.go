package cci

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ServiceCIDR is the address range CCI reserves for Services' cluster IPs.
const ServiceCIDR = "10.247.0.0/16"

// serviceTypes returns the Service types CCI supports: NodePort is not,
// since CCI has no nodes of the user's to open ports on.
func serviceTypes() []corev1.ServiceType {
	return []corev1.ServiceType{corev1.ServiceTypeClusterIP, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName}
}

// ValidateService checks a Service against CCI's rules: its type is not
// NodePort, and an explicit cluster IP (spec.clusterIP, spec.clusterIPs) is
// None or an address in ServiceCIDR. An address outside that range is
// rejected rather than accepted unrouted: it could collide with the pod
// addresses of a namespace's Network.
func ValidateService(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	if t := svc.Spec.Type; t != "" && !slices.Contains(serviceTypes(), t) {
		errs = append(errs, field.NotSupported(spec.Child("type"), t, serviceTypes()))
	}
	if err := validateClusterIP(svc.Spec.ClusterIP, spec.Child("clusterIP")); err != nil {
		errs = append(errs, err)
	}
	for i, ip := range svc.Spec.ClusterIPs {
		if ip == svc.Spec.ClusterIP {
			continue // reported once, at spec.clusterIP
		}
		if err := validateClusterIP(ip, spec.Child("clusterIPs").Index(i)); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func validateClusterIP(ip string, path *field.Path) *field.Error {
	if ip == "" || ip == corev1.ClusterIPNone {
		return nil
	}
	if addr, err := netip.ParseAddr(ip); err == nil && netip.MustParsePrefix(ServiceCIDR).Contains(addr) {
		return nil
	}
	return field.Invalid(path, ip, "must be empty, None, or an address in "+ServiceCIDR+", the range reserved for Services")
}
