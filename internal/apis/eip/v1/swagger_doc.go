package v1

// The SwaggerDoc methods describe each type for the OpenAPI documents and
// kubectl explain, in the convention of k8s.io/api's generated
// types_swagger_doc_generated.go: the "" key describes the type, the other
// keys are JSON field names. Each call returns a new map.

// SwaggerDoc describes EIPPool.
func (EIPPool) SwaggerDoc() map[string]string {
	return map[string]string{
		"":         "EIPPool is a pool of elastic IP addresses that pods in its namespace are bound to. A pool whose addresses are in use cannot be deleted.",
		"metadata": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
		"spec":     "Spec is the desired pool: amount for a dynamic pool, or eips for a static pool.",
		"status":   "Status is the most recently observed state of the pool. Read-only.",
	}
}

// SwaggerDoc describes EIPPoolSpec.
func (EIPPoolSpec) SwaggerDoc() map[string]string {
	return map[string]string{
		"":              "EIPPoolSpec is the desired pool. Set exactly one of amount (a dynamic pool) and eips (a static pool).",
		"amount":        "Number of addresses of a dynamic pool, 0 to 500. The pool can be scaled by changing it.",
		"eips":          "Existing, unused elastic IP addresses that make up a static pool.",
		"eipAttributes": "Attributes of the addresses a dynamic pool creates.",
	}
}

// SwaggerDoc describes EIPAttributes.
func (EIPAttributes) SwaggerDoc() map[string]string {
	return map[string]string{
		"":            "EIPAttributes describes the addresses a dynamic pool creates.",
		"networkType": "Line type of the addresses, such as 5_bgp, 5_sbgp, 5_telcom, 5_union or 5_ipv6.",
		"ipVersion":   "IP version of the addresses: 4 or 6. Defaults to 4.",
		"bandwidth":   "Bandwidth the addresses use.",
	}
}

// SwaggerDoc describes Bandwidth.
func (Bandwidth) SwaggerDoc() map[string]string {
	return map[string]string{
		"":           "Bandwidth is the bandwidth of a pool's addresses.",
		"id":         "ID of an existing shared bandwidth. Required when shareType is WHOLE.",
		"name":       "Name of the dedicated bandwidth to create.",
		"size":       "Bandwidth size in Mbit/s.",
		"shareType":  "PER for a dedicated bandwidth per address, WHOLE for a shared bandwidth.",
		"chargeMode": "Billing mode: bandwidth or traffic. Defaults to bandwidth.",
	}
}

// SwaggerDoc describes EIPPoolStatus.
func (EIPPoolStatus) SwaggerDoc() map[string]string {
	return map[string]string{
		"":        "EIPPoolStatus is the observed state of an EIPPool.",
		"phase":   "Lifecycle phase of the pool: Pending, Ready or Failed.",
		"usage":   "Addresses in use and in total, as \"used/total\".",
		"eips":    "Addresses of the pool and the pods they are bound to.",
		"message": "Human-readable detail about the phase, such as why the pool failed.",
	}
}

// SwaggerDoc describes EIPStatus.
func (EIPStatus) SwaggerDoc() map[string]string {
	return map[string]string{
		"":                    "EIPStatus is one address of a pool.",
		"id":                  "ID of the elastic IP.",
		"alias":               "Display name of the elastic IP.",
		"ipv4":                "IPv4 address.",
		"ipv6":                "IPv6 address.",
		"networkType":         "Line type of the address.",
		"status":              "State of the elastic IP, such as ACTIVE or DOWN.",
		"bandwidthSize":       "Bandwidth size in Mbit/s.",
		"bandwidthShareType":  "PER (dedicated) or WHOLE (shared).",
		"bandWidthChargeMode": "Billing mode: bandwidth or traffic.",
		"pod":                 "Name of the pod in the pool's namespace bound to this address; empty while the address is free.",
	}
}

// SwaggerDoc describes EIPPoolList.
func (EIPPoolList) SwaggerDoc() map[string]string {
	return map[string]string{
		"":         "EIPPoolList is a list of EIPPools.",
		"metadata": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
		"items":    "Items is the list of EIPPools.",
	}
}
