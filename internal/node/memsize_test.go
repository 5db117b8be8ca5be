package node

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

// TestMemoryVolumeSize follows the kubelet's rule for memory-backed
// emptyDirs: the node's allocatable memory, lowered to the pod's memory
// limit, lowered to the volume's sizeLimit.
func TestMemoryVolumeSize(t *testing.T) {
	mi := func(n int64) int64 { return n << 20 }
	limited := func(limits ...string) *corev1.Pod {
		p := &corev1.Pod{}
		for _, l := range limits {
			c := corev1.Container{Name: "c"}
			if l != "" {
				c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(l)}
			}
			p.Spec.Containers = append(p.Spec.Containers, c)
		}
		return p
	}
	alloc := resource.MustParse("1Gi")
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		size string
		want int64
	}{
		{"nothing set: the node's memory", limited(""), "", mi(1024)},
		{"the pod's limit, summed", limited("64Mi", "32Mi"), "", mi(96)},
		{"a container without a limit: no pod limit", limited("64Mi", ""), "", mi(1024)},
		{"sizeLimit below the pod's limit", limited("64Mi"), "16Mi", mi(16)},
		{"sizeLimit above the pod's limit is ignored", limited("64Mi"), "128Mi", mi(64)},
		{"sizeLimit above the node's memory is ignored", limited(""), "2Gi", mi(1024)},
	} {
		ed := &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}
		if tc.size != "" {
			ed.SizeLimit = ptr.To(resource.MustParse(tc.size))
		}
		if got := memoryVolumeSize(tc.pod, ed, &alloc); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}
