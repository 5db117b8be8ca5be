package v1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// MaxAmount is the largest number of addresses a dynamic pool may hold.
const MaxAmount = 500

// Bandwidth share types.
const (
	// ShareTypePer gives each address its own dedicated bandwidth.
	ShareTypePer = "PER"
	// ShareTypeWhole puts the addresses on an existing shared bandwidth,
	// named by bandwidth.id.
	ShareTypeWhole = "WHOLE"
)

// Bandwidth charge modes.
const (
	ChargeModeBandwidth = "bandwidth"
	ChargeModeTraffic   = "traffic"
)

// EIPPoolPhase is the lifecycle phase of an EIPPool.
type EIPPoolPhase string

// The phases an EIPPool reports in status.phase.
const (
	EIPPoolPending EIPPoolPhase = "Pending"
	EIPPoolReady   EIPPoolPhase = "Ready"
	EIPPoolFailed  EIPPoolPhase = "Failed"
)

// EIPPool is a pool of elastic IP addresses that pods in its namespace are
// bound to. A pool whose addresses are in use cannot be deleted.
type EIPPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   EIPPoolSpec   `json:"spec,omitempty"`
	Status EIPPoolStatus `json:"status,omitempty"`
}

// EIPPoolSpec is the desired pool: either Amount (a dynamic pool) or EIPs
// (a static pool).
type EIPPoolSpec struct {
	// Amount is the number of addresses of a dynamic pool, 0 to MaxAmount.
	// Nil for a static pool; a pointer so that a pool of 0 is expressible.
	Amount *int32 `json:"amount,omitempty"`
	// EIPs lists the existing addresses of a static pool.
	EIPs []string `json:"eips,omitempty"`
	// EIPAttributes describes the addresses a dynamic pool creates.
	EIPAttributes *EIPAttributes `json:"eipAttributes,omitempty"`
}

// EIPAttributes describes the addresses a dynamic pool creates.
type EIPAttributes struct {
	// NetworkType is the line type of the addresses, such as 5_bgp.
	NetworkType string `json:"networkType,omitempty"`
	// IPVersion is 4 or 6; 0 means 4.
	IPVersion int32 `json:"ipVersion,omitempty"`
	// Bandwidth is the bandwidth the addresses use.
	Bandwidth *Bandwidth `json:"bandwidth,omitempty"`
}

// Bandwidth is the bandwidth of a pool's addresses.
type Bandwidth struct {
	// ID names an existing shared bandwidth; required when ShareType is WHOLE.
	ID string `json:"id,omitempty"`
	// Name of a dedicated bandwidth to create.
	Name string `json:"name,omitempty"`
	// Size in Mbit/s.
	Size int32 `json:"size,omitempty"`
	// ShareType is PER (dedicated) or WHOLE (shared).
	ShareType string `json:"shareType,omitempty"`
	// ChargeMode is bandwidth or traffic; empty means bandwidth.
	ChargeMode string `json:"chargeMode,omitempty"`
}

// EIPPoolStatus is the observed state of an EIPPool.
type EIPPoolStatus struct {
	Phase EIPPoolPhase `json:"phase,omitempty"`
	// Usage is "used/total", as kubectl get eippool shows it.
	Usage string `json:"usage,omitempty"`
	// EIPs lists the pool's addresses and the pods they are bound to.
	EIPs    []EIPStatus `json:"eips,omitempty"`
	Message string      `json:"message,omitempty"`
}

// EIPStatus is one address of a pool.
type EIPStatus struct {
	ID                  string `json:"id,omitempty"`
	Alias               string `json:"alias,omitempty"`
	IPv4                string `json:"ipv4,omitempty"`
	IPv6                string `json:"ipv6,omitempty"`
	NetworkType         string `json:"networkType,omitempty"`
	Status              string `json:"status,omitempty"`
	BandwidthSize       int32  `json:"bandwidthSize,omitempty"`
	BandwidthShareType  string `json:"bandwidthShareType,omitempty"`
	BandwidthChargeMode string `json:"bandWidthChargeMode,omitempty"` // CCI's spelling
	// Pod is the name of the pod, in the pool's namespace, bound to this
	// address; empty while the address is free.
	Pod string `json:"pod,omitempty"`
}

// EIPPoolList is a list of EIPPools.
type EIPPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []EIPPool `json:"items"`
}
