package v1beta1

import "k8s.io/apimachinery/pkg/runtime"

// Hand-written deep copies. Every slice, map and pointer is copied, so a copy
// can be changed without touching the original; deepcopy_test.go checks this
// for every field.

// DeepCopyInto copies n into out.
func (n *Network) DeepCopyInto(out *Network) {
	*out = *n
	n.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	n.Spec.DeepCopyInto(&out.Spec)
}

// DeepCopy returns a deep copy of n, or nil if n is nil.
func (n *Network) DeepCopy() *Network {
	if n == nil {
		return nil
	}
	out := new(Network)
	n.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (n *Network) DeepCopyObject() runtime.Object {
	if c := n.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies s into out.
func (s *NetworkSpec) DeepCopyInto(out *NetworkSpec) {
	*out = *s
	if s.Subnets != nil {
		out.Subnets = make([]Subnet, len(s.Subnets))
		copy(out.Subnets, s.Subnets)
	}
}

// DeepCopy returns a deep copy of s, or nil if s is nil.
func (s *NetworkSpec) DeepCopy() *NetworkSpec {
	if s == nil {
		return nil
	}
	out := new(NetworkSpec)
	s.DeepCopyInto(out)
	return out
}

// DeepCopyInto copies l into out.
func (l *NetworkList) DeepCopyInto(out *NetworkList) {
	*out = *l
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	if l.Items != nil {
		out.Items = make([]Network, len(l.Items))
		for i := range l.Items {
			l.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a deep copy of l, or nil if l is nil.
func (l *NetworkList) DeepCopy() *NetworkList {
	if l == nil {
		return nil
	}
	out := new(NetworkList)
	l.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *NetworkList) DeepCopyObject() runtime.Object {
	if c := l.DeepCopy(); c != nil {
		return c
	}
	return nil
}
