package v1beta1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// NetworkState is the lifecycle state of a Network.
type NetworkState string

// The states a Network reports in status.state.
const (
	// NetworkStatePending means Cella has accepted the Network but has not
	// finished setting it up.
	NetworkStatePending NetworkState = "Pending"
	// NetworkStateActive means pods in the namespace can be given addresses
	// from the Network.
	NetworkStateActive NetworkState = "Active"
	// NetworkStateFailed means the Network could not be set up; status.message
	// says why.
	NetworkStateFailed NetworkState = "Failed"
)

// Network binds a namespace to a subnet of a VPC. Workloads need a Network
// in their namespace before their pods can run.
type Network struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   NetworkSpec   `json:"spec,omitempty"`
	Status NetworkStatus `json:"status,omitempty"`
}

// NetworkSpec is the desired network of a namespace.
type NetworkSpec struct {
	// AttachedVPC is the ID of the VPC the network belongs to. Required.
	AttachedVPC string `json:"attachedVPC,omitempty"`
	// NetworkID is the ID of the VPC network behind SubnetID. Required.
	NetworkID string `json:"networkID,omitempty"`
	// SubnetID is the ID of the subnet pods take addresses from. Required.
	SubnetID string `json:"subnetID,omitempty"`
	// CIDR is the subnet's address range, such as 192.168.0.0/24.
	CIDR string `json:"cidr,omitempty"`
	// AvailableZone is the availability zone of the subnet.
	AvailableZone string `json:"availableZone,omitempty"`
	// NetworkType names the kind of network, such as underlay_neutron.
	NetworkType string `json:"networkType,omitempty"`
	// Subnets lists further subnets pods may take addresses from.
	Subnets []Subnet `json:"subnets,omitempty"`
}

// Subnet names one subnet of the attached VPC.
type Subnet struct {
	// SubnetID is the ID of the subnet. Required.
	SubnetID string `json:"subnetID"`
}

// NetworkStatus is the observed state of a Network.
type NetworkStatus struct {
	State   NetworkState `json:"state,omitempty"`
	Message string       `json:"message,omitempty"`
}

// NetworkList is a list of Networks.
type NetworkList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []Network `json:"items"`
}
