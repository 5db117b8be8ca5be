// Package v1 holds CCI's crd.yangtse.cni/v1 API: the EIPPool object, a pool
// of elastic (public) IP addresses that pods in a namespace draw from.
//
// A pool is dynamic (spec.amount addresses created to spec.eipAttributes) or
// static (the existing addresses listed in spec.eips). The shape follows
// CCI's published EIPPool, so manifests written for CCI apply unchanged.
package v1
