package cci

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Flavors are the instance specifications pods may ask for. All quantities
// are of CPU (cores) or memory (bytes) as their names say. The zero value
// allows nothing; start from DefaultFlavors.
type Flavors struct {
	// CPUStep divides every container's CPU.
	CPUStep resource.Quantity
	// MinContainerCPU and MinContainerMemory are each container's least.
	MinContainerCPU    resource.Quantity
	MinContainerMemory resource.Quantity
	// MaxContainers bounds a pod's app containers (init containers apart).
	MaxContainers int

	// MinPodCPU and MaxPodCPU bound a pod's total CPU; ExtraPodCPU lists the
	// totals allowed beyond MaxPodCPU.
	MinPodCPU, MaxPodCPU resource.Quantity
	ExtraPodCPU          []resource.Quantity
	// PodMemoryStep divides a pod's total memory, which lies between
	// MinPodMemory and MaxPodMemory.
	PodMemoryStep              resource.Quantity
	MinPodMemory, MaxPodMemory resource.Quantity
	// MinMemoryPerCore and MaxMemoryPerCore bound a pod's total memory per
	// core of its total CPU.
	MinMemoryPerCore, MaxMemoryPerCore resource.Quantity
}

// DefaultFlavors returns CCI's instance specifications: containers of at
// least 0.25 cores in steps of 0.25 and at least 0.2Gi, at most 5 per pod;
// pods of 0.25 to 32 cores, or exactly 48 or 64, and a whole number of Gi
// from 1Gi to 512Gi, with CPU:memory between 1:2 and 1:8.
func DefaultFlavors() Flavors {
	return Flavors{
		CPUStep:            resource.MustParse("250m"),
		MinContainerCPU:    resource.MustParse("250m"),
		MinContainerMemory: resource.MustParse("0.2Gi"),
		MaxContainers:      5,
		MinPodCPU:          resource.MustParse("250m"),
		MaxPodCPU:          resource.MustParse("32"),
		ExtraPodCPU:        []resource.Quantity{resource.MustParse("48"), resource.MustParse("64")},
		PodMemoryStep:      resource.MustParse("1Gi"),
		MinPodMemory:       resource.MustParse("1Gi"),
		MaxPodMemory:       resource.MustParse("512Gi"),
		MinMemoryPerCore:   resource.MustParse("2Gi"),
		MaxMemoryPerCore:   resource.MustParse("8Gi"),
	}
}

// Validate reports every setting that makes f unusable.
func (f Flavors) Validate() error {
	var errs []error
	positive := func(name string, q resource.Quantity) {
		if q.Sign() <= 0 {
			errs = append(errs, fmt.Errorf("cci flavors: %s must be positive, not %s", name, q.String()))
		}
	}
	ordered := func(lo, hi string, a, b resource.Quantity) {
		if a.Cmp(b) > 0 {
			errs = append(errs, fmt.Errorf("cci flavors: %s (%s) exceeds %s (%s)", lo, a.String(), hi, b.String()))
		}
	}
	positive("CPUStep", f.CPUStep)
	positive("MinContainerCPU", f.MinContainerCPU)
	positive("MinContainerMemory", f.MinContainerMemory)
	positive("MinPodCPU", f.MinPodCPU)
	positive("PodMemoryStep", f.PodMemoryStep)
	positive("MinPodMemory", f.MinPodMemory)
	positive("MinMemoryPerCore", f.MinMemoryPerCore)
	ordered("MinPodCPU", "MaxPodCPU", f.MinPodCPU, f.MaxPodCPU)
	ordered("MinPodMemory", "MaxPodMemory", f.MinPodMemory, f.MaxPodMemory)
	ordered("MinMemoryPerCore", "MaxMemoryPerCore", f.MinMemoryPerCore, f.MaxMemoryPerCore)
	if f.MaxContainers < 1 {
		errs = append(errs, fmt.Errorf("cci flavors: MaxContainers must be at least 1, not %d", f.MaxContainers))
	}
	return errors.Join(errs...)
}

// podCPUAllowed reports whether a pod may total cpu.
func (f Flavors) podCPUAllowed(cpu resource.Quantity) bool {
	if cpu.Cmp(f.MinPodCPU) >= 0 && cpu.Cmp(f.MaxPodCPU) <= 0 {
		return true
	}
	for _, extra := range f.ExtraPodCPU {
		if cpu.Cmp(extra) == 0 {
			return true
		}
	}
	return false
}

// podCPURange describes the pod CPU totals f allows, for messages.
func (f Flavors) podCPURange() string {
	s := cores(f.MinPodCPU) + " to " + cores(f.MaxPodCPU) + " cores"
	switch n := len(f.ExtraPodCPU); n {
	case 0:
	case 1:
		s += ", or exactly " + cores(f.ExtraPodCPU[0])
	default:
		s += ", or exactly "
		for i, q := range f.ExtraPodCPU {
			switch {
			case i == n-1:
				s += " or "
			case i > 0:
				s += ", "
			}
			s += cores(q)
		}
	}
	return s
}

// multipleOf reports whether q is a whole multiple of step, to the milli
// unit for CPU and the byte for memory.
func multipleOf(q, step resource.Quantity, milli bool) bool {
	if milli {
		return step.MilliValue() > 0 && q.MilliValue()%step.MilliValue() == 0
	}
	return step.Value() > 0 && q.Value()%step.Value() == 0
}

// cores formats a CPU quantity in cores: 0.25, 32.
func cores(q resource.Quantity) string {
	return decimal(float64(q.MilliValue()) / 1000)
}

// gi formats a memory quantity in Gi: 0.2Gi, 512Gi.
func gi(q resource.Quantity) string {
	return decimal(q.AsApproximateFloat64()/(1<<30)) + "Gi"
}

// decimal formats x with at most three decimals and no trailing zeros.
func decimal(x float64) string {
	return strconv.FormatFloat(math.Round(x*1000)/1000, 'f', -1, 64)
}
