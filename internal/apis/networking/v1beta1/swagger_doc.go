package v1beta1

// The SwaggerDoc methods describe each type for the OpenAPI documents and
// kubectl explain, in the convention of k8s.io/api's generated
// types_swagger_doc_generated.go: the "" key describes the type, the other
// keys are JSON field names. Each call returns a new map.

// SwaggerDoc describes Network.
func (Network) SwaggerDoc() map[string]string {
	return map[string]string{
		"":         "Network binds a namespace to a subnet of a VPC. Workloads need a Network in their namespace before their pods can run.",
		"metadata": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
		"spec":     "Spec is the desired network: the VPC, subnet and address range pods use.",
		"status":   "Status is the most recently observed state of the network. Read-only.",
	}
}

// SwaggerDoc describes NetworkSpec.
func (NetworkSpec) SwaggerDoc() map[string]string {
	return map[string]string{
		"":              "NetworkSpec is the desired network of a namespace.",
		"attachedVPC":   "ID of the VPC the network belongs to. Required.",
		"networkID":     "ID of the VPC network behind subnetID. Required.",
		"subnetID":      "ID of the subnet pods take their addresses from. Required.",
		"cidr":          "Address range of the subnet in CIDR notation, such as 192.168.0.0/24. It must not overlap 10.247.0.0/16, which is reserved for Services.",
		"availableZone": "Availability zone of the subnet.",
		"networkType":   "Kind of network, such as underlay_neutron.",
		"subnets":       "Further subnets of the attached VPC that pods may take addresses from.",
	}
}

// SwaggerDoc describes Subnet.
func (Subnet) SwaggerDoc() map[string]string {
	return map[string]string{
		"":         "Subnet names one subnet of the attached VPC.",
		"subnetID": "ID of the subnet. Required.",
	}
}

// SwaggerDoc describes NetworkStatus.
func (NetworkStatus) SwaggerDoc() map[string]string {
	return map[string]string{
		"":        "NetworkStatus is the observed state of a Network.",
		"state":   "Lifecycle state of the network: Pending, Active or Failed.",
		"message": "Human-readable detail about the state, such as why the network failed.",
	}
}

// SwaggerDoc describes NetworkList.
func (NetworkList) SwaggerDoc() map[string]string {
	return map[string]string{
		"":         "NetworkList is a list of Networks.",
		"metadata": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
		"items":    "Items is the list of Networks.",
	}
}
