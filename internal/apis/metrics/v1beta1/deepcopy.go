package v1beta1

import "k8s.io/apimachinery/pkg/runtime"

// Hand-written deep copies. Every slice, map and pointer is copied, so a copy
// can be changed without touching the original; types_test.go checks this
// for every field.

// DeepCopyInto copies m into out.
func (m *PodMetrics) DeepCopyInto(out *PodMetrics) {
	*out = *m
	m.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	m.Timestamp.DeepCopyInto(&out.Timestamp)
	if m.Containers != nil {
		out.Containers = make([]ContainerMetrics, len(m.Containers))
		for i, c := range m.Containers {
			out.Containers[i] = ContainerMetrics{Name: c.Name, Usage: c.Usage.DeepCopy()}
		}
	}
}

// DeepCopy returns a deep copy of m, or nil if m is nil.
func (m *PodMetrics) DeepCopy() *PodMetrics {
	if m == nil {
		return nil
	}
	out := new(PodMetrics)
	m.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (m *PodMetrics) DeepCopyObject() runtime.Object {
	if c := m.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies l into out.
func (l *PodMetricsList) DeepCopyInto(out *PodMetricsList) {
	*out = *l
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	if l.Items != nil {
		out.Items = make([]PodMetrics, len(l.Items))
		for i := range l.Items {
			l.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a deep copy of l, or nil if l is nil.
func (l *PodMetricsList) DeepCopy() *PodMetricsList {
	if l == nil {
		return nil
	}
	out := new(PodMetricsList)
	l.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *PodMetricsList) DeepCopyObject() runtime.Object {
	if c := l.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies m into out.
func (m *NodeMetrics) DeepCopyInto(out *NodeMetrics) {
	*out = *m
	m.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	m.Timestamp.DeepCopyInto(&out.Timestamp)
	out.Usage = m.Usage.DeepCopy()
}

// DeepCopy returns a deep copy of m, or nil if m is nil.
func (m *NodeMetrics) DeepCopy() *NodeMetrics {
	if m == nil {
		return nil
	}
	out := new(NodeMetrics)
	m.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (m *NodeMetrics) DeepCopyObject() runtime.Object {
	if c := m.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies l into out.
func (l *NodeMetricsList) DeepCopyInto(out *NodeMetricsList) {
	*out = *l
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	if l.Items != nil {
		out.Items = make([]NodeMetrics, len(l.Items))
		for i := range l.Items {
			l.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a deep copy of l, or nil if l is nil.
func (l *NodeMetricsList) DeepCopy() *NodeMetricsList {
	if l == nil {
		return nil
	}
	out := new(NodeMetricsList)
	l.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *NodeMetricsList) DeepCopyObject() runtime.Object {
	if c := l.DeepCopy(); c != nil {
		return c
	}
	return nil
}
