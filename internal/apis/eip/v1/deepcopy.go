package v1

import "k8s.io/apimachinery/pkg/runtime"

// Hand-written deep copies. Every slice, map and pointer is copied, so a copy
// can be changed without touching the original; types_test.go checks this
// for every field.

// DeepCopyInto copies p into out.
func (p *EIPPool) DeepCopyInto(out *EIPPool) {
	*out = *p
	p.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	p.Spec.DeepCopyInto(&out.Spec)
	p.Status.DeepCopyInto(&out.Status)
}

// DeepCopy returns a deep copy of p, or nil if p is nil.
func (p *EIPPool) DeepCopy() *EIPPool {
	if p == nil {
		return nil
	}
	out := new(EIPPool)
	p.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (p *EIPPool) DeepCopyObject() runtime.Object {
	if c := p.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies s into out.
func (s *EIPPoolSpec) DeepCopyInto(out *EIPPoolSpec) {
	*out = *s
	if s.Amount != nil {
		out.Amount = new(*s.Amount)
	}
	if s.EIPs != nil {
		out.EIPs = make([]string, len(s.EIPs))
		copy(out.EIPs, s.EIPs)
	}
	out.EIPAttributes = s.EIPAttributes.DeepCopy()
}

// DeepCopy returns a deep copy of s, or nil if s is nil.
func (s *EIPPoolSpec) DeepCopy() *EIPPoolSpec {
	if s == nil {
		return nil
	}
	out := new(EIPPoolSpec)
	s.DeepCopyInto(out)
	return out
}

// DeepCopyInto copies a into out.
func (a *EIPAttributes) DeepCopyInto(out *EIPAttributes) {
	*out = *a
	if a.Bandwidth != nil {
		out.Bandwidth = new(*a.Bandwidth)
	}
}

// DeepCopy returns a deep copy of a, or nil if a is nil.
func (a *EIPAttributes) DeepCopy() *EIPAttributes {
	if a == nil {
		return nil
	}
	out := new(EIPAttributes)
	a.DeepCopyInto(out)
	return out
}

// DeepCopyInto copies s into out.
func (s *EIPPoolStatus) DeepCopyInto(out *EIPPoolStatus) {
	*out = *s
	if s.EIPs != nil {
		out.EIPs = make([]EIPStatus, len(s.EIPs))
		copy(out.EIPs, s.EIPs)
	}
}

// DeepCopy returns a deep copy of s, or nil if s is nil.
func (s *EIPPoolStatus) DeepCopy() *EIPPoolStatus {
	if s == nil {
		return nil
	}
	out := new(EIPPoolStatus)
	s.DeepCopyInto(out)
	return out
}

// DeepCopyInto copies l into out.
func (l *EIPPoolList) DeepCopyInto(out *EIPPoolList) {
	*out = *l
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	if l.Items != nil {
		out.Items = make([]EIPPool, len(l.Items))
		for i := range l.Items {
			l.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a deep copy of l, or nil if l is nil.
func (l *EIPPoolList) DeepCopy() *EIPPoolList {
	if l == nil {
		return nil
	}
	out := new(EIPPoolList)
	l.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *EIPPoolList) DeepCopyObject() runtime.Object {
	if c := l.DeepCopy(); c != nil {
		return c
	}
	return nil
}
