package admission

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	"cella.dev/cella/internal/registry"
)

// LimitRangerAnnotation records on a pod which requests and limits the
// LimitRanges of its namespace filled in, as Kubernetes records it.
const LimitRangerAnnotation = "kubernetes.io/limit-ranger"

// LimitRanger applies the LimitRanges of a namespace to new pods and
// persistent volume claims, as kube-apiserver's LimitRanger admission plugin
// does:
//
//   - Default (mutating, before validation): a container that does not
//     state a request or a limit for a resource gets the defaultRequest or
//     default of the namespace's Container limits, and the pod is annotated
//     with what was set. Requests copied from limits by the pod defaults come
//     first, so a container that states only a limit keeps request = limit.
//   - Admit (validating, after validation): each container (type
//     Container), the pod as a whole (type Pod) and each claim (type
//     PersistentVolumeClaim) must respect min, max and maxLimitRequestRatio;
//     a violation is 403 Forbidden listing every broken constraint.
//
// Only creates are checked, as Kubernetes checks pods: a pod's resources do
// not change after it is created. The LimitRanges are read from the watch
// cache.
type LimitRanger struct {
	ranges *registry.Store
}

// NewLimitRanger returns the LimitRange admission reading ranges (the
// limitranges Store).
func NewLimitRanger(ranges *registry.Store) *LimitRanger {
	return &LimitRanger{ranges: ranges}
}

// items returns every limit of type t in namespace ns.
func (l *LimitRanger) items(ctx context.Context, ns string, t corev1.LimitType) ([]corev1.LimitRangeItem, error) {
	res, err := l.ranges.List(ctx, ns, registry.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return nil, err
	}
	var out []corev1.LimitRangeItem
	for _, raw := range res.Items {
		obj, err := l.ranges.Decode(raw.JSON)
		if err != nil {
			return nil, err
		}
		for _, it := range obj.(*corev1.LimitRange).Spec.Limits {
			if it.Type == t {
				out = append(out, it)
			}
		}
	}
	return out, nil
}

// Default fills the missing requests and limits of a new pod's containers
// from the Container limits of its namespace. A LimitRange that cannot be
// read leaves the pod as it is: Admit, which reads them again, then
// answers the error.
func (l *LimitRanger) Default(ctx context.Context, pod *corev1.Pod) {
	items, err := l.items(ctx, pod.Namespace, corev1.LimitTypeContainer)
	if err != nil || len(items) == 0 {
		return
	}
	// The defaults of several LimitRanges merge; the first that names a
	// resource wins, as in Kubernetes.
	def := corev1.ResourceRequirements{Limits: corev1.ResourceList{}, Requests: corev1.ResourceList{}}
	for _, it := range items {
		for name, q := range it.Default {
			if _, ok := def.Limits[name]; !ok {
				def.Limits[name] = q.DeepCopy()
			}
		}
		for name, q := range it.DefaultRequest {
			if _, ok := def.Requests[name]; !ok {
				def.Requests[name] = q.DeepCopy()
			}
		}
	}
	var notes []string
	merge := func(c *corev1.Container, kind string) {
		var setReq, setLim []string
		for name, q := range def.Limits {
			if _, ok := c.Resources.Limits[name]; !ok {
				if c.Resources.Limits == nil {
					c.Resources.Limits = corev1.ResourceList{}
				}
				c.Resources.Limits[name] = q.DeepCopy()
				setLim = append(setLim, string(name))
			}
		}
		for name, q := range def.Requests {
			if _, ok := c.Resources.Requests[name]; !ok {
				if c.Resources.Requests == nil {
					c.Resources.Requests = corev1.ResourceList{}
				}
				c.Resources.Requests[name] = q.DeepCopy()
				setReq = append(setReq, string(name))
			}
		}
		if len(setReq) > 0 {
			sort.Strings(setReq)
			notes = append(notes, strings.Join(setReq, ", ")+" request for "+kind+" "+c.Name)
		}
		if len(setLim) > 0 {
			sort.Strings(setLim)
			notes = append(notes, strings.Join(setLim, ", ")+" limit for "+kind+" "+c.Name)
		}
	}
	for i := range pod.Spec.Containers {
		merge(&pod.Spec.Containers[i], "container")
	}
	for i := range pod.Spec.InitContainers {
		merge(&pod.Spec.InitContainers[i], "init container")
	}
	if len(notes) > 0 {
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations[LimitRangerAnnotation] = "LimitRanger plugin set: " + strings.Join(notes, "; ")
	}
}

// Admit checks a new pod or persistent volume claim against the min, max
// and maxLimitRequestRatio of its namespace's LimitRanges: 403 Forbidden
// naming every broken constraint. Other objects pass.
func (l *LimitRanger) Admit(ctx context.Context, obj runtime.Object) error {
	var errs []error
	var gr schema.GroupResource
	var name string
	switch o := obj.(type) {
	case *corev1.Pod:
		gr, name = schema.GroupResource{Resource: "pods"}, o.Name
		items, err := l.items(ctx, o.Namespace, corev1.LimitTypeContainer)
		if err != nil {
			return err
		}
		for _, it := range items {
			for _, list := range [][]corev1.Container{o.Spec.Containers, o.Spec.InitContainers} {
				for i := range list {
					r := list[i].Resources
					errs = append(errs, checkItem(it, r.Requests, r.Limits)...)
				}
			}
		}
		items, err = l.items(ctx, o.Namespace, corev1.LimitTypePod)
		if err != nil {
			return err
		}
		if len(items) > 0 {
			req, lim := podTotals(&o.Spec)
			for _, it := range items {
				errs = append(errs, checkItem(it, req, lim)...)
			}
		}
	case *corev1.PersistentVolumeClaim:
		gr, name = schema.GroupResource{Resource: "persistentvolumeclaims"}, o.Name
		items, err := l.items(ctx, o.Namespace, corev1.LimitTypePersistentVolumeClaim)
		if err != nil {
			return err
		}
		for _, it := range items {
			for res, min := range it.Min {
				if err := minConstraint(it.Type, res, min, o.Spec.Resources.Requests, o.Spec.Resources.Limits); err != nil {
					errs = append(errs, err)
				}
			}
			for res, max := range it.Max {
				if err := maxRequestConstraint(it.Type, res, max, o.Spec.Resources.Requests); err != nil {
					errs = append(errs, err)
				}
			}
		}
	default:
		return nil
	}
	if len(errs) == 0 {
		return nil
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return apierrors.NewForbidden(gr, name, utilerrors.NewAggregate(errs))
}

// checkItem applies one Container or Pod limit to requests and limits.
func checkItem(it corev1.LimitRangeItem, req, lim corev1.ResourceList) []error {
	var errs []error
	for res, q := range it.Min {
		if err := minConstraint(it.Type, res, q, req, lim); err != nil {
			errs = append(errs, err)
		}
	}
	for res, q := range it.Max {
		if err := maxConstraint(it.Type, res, q, req, lim); err != nil {
			errs = append(errs, err)
		}
	}
	for res, q := range it.MaxLimitRequestRatio {
		if err := ratioConstraint(it.Type, res, q, req, lim); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// podTotals is what a pod asks for and is limited to as a whole: the sum
// over its containers, or the largest init container's figure where that
// is more (init containers run one at a time, before the others).
func podTotals(s *corev1.PodSpec) (req, lim corev1.ResourceList) {
	req, lim = corev1.ResourceList{}, corev1.ResourceList{}
	for _, c := range s.Containers {
		addList(req, c.Resources.Requests)
		addList(lim, c.Resources.Limits)
	}
	for _, c := range s.InitContainers {
		maxList(req, c.Resources.Requests)
		maxList(lim, c.Resources.Limits)
	}
	return req, lim
}

func addList(sum, add corev1.ResourceList) {
	for name, q := range add {
		t := sum[name]
		t.Add(q)
		sum[name] = t
	}
}

func maxList(into, other corev1.ResourceList) {
	for name, q := range other {
		if cur, ok := into[name]; !ok || q.Cmp(cur) > 0 {
			into[name] = q.DeepCopy()
		}
	}
}

// The constraints below word their refusals as Kubernetes' LimitRanger.

func minConstraint(t corev1.LimitType, res corev1.ResourceName, min resource.Quantity, req, lim corev1.ResourceList) error {
	r, hasReq := req[res]
	l, hasLim := lim[res]
	switch {
	case !hasReq:
		return fmt.Errorf("minimum %s usage per %s is %s.  No request is specified", res, t, min.String())
	case r.Cmp(min) < 0:
		return fmt.Errorf("minimum %s usage per %s is %s, but request is %s", res, t, min.String(), r.String())
	case hasLim && l.Cmp(min) < 0:
		return fmt.Errorf("minimum %s usage per %s is %s, but limit is %s", res, t, min.String(), l.String())
	}
	return nil
}

func maxConstraint(t corev1.LimitType, res corev1.ResourceName, max resource.Quantity, req, lim corev1.ResourceList) error {
	r, hasReq := req[res]
	l, hasLim := lim[res]
	switch {
	case !hasLim:
		return fmt.Errorf("maximum %s usage per %s is %s.  No limit is specified", res, t, max.String())
	case l.Cmp(max) > 0:
		return fmt.Errorf("maximum %s usage per %s is %s, but limit is %s", res, t, max.String(), l.String())
	case hasReq && r.Cmp(max) > 0:
		return fmt.Errorf("maximum %s usage per %s is %s, but request is %s", res, t, max.String(), r.String())
	}
	return nil
}

// maxRequestConstraint is max for kinds that state only requests (claims).
func maxRequestConstraint(t corev1.LimitType, res corev1.ResourceName, max resource.Quantity, req corev1.ResourceList) error {
	r, hasReq := req[res]
	switch {
	case !hasReq:
		return fmt.Errorf("maximum %s usage per %s is %s.  No request is specified", res, t, max.String())
	case r.Cmp(max) > 0:
		return fmt.Errorf("maximum %s usage per %s is %s, but request is %s", res, t, max.String(), r.String())
	}
	return nil
}

func ratioConstraint(t corev1.LimitType, res corev1.ResourceName, ratio resource.Quantity, req, lim corev1.ResourceList) error {
	r, hasReq := req[res]
	l, hasLim := lim[res]
	if !hasReq || r.IsZero() {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no request is specified or request is 0", res, t, ratio.String())
	}
	if !hasLim || l.IsZero() {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no limit is specified or limit is 0", res, t, ratio.String())
	}
	observed := float64(l.MilliValue()) / float64(r.MilliValue())
	if observed > float64(ratio.MilliValue())/1000 {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but provided ratio is %f", res, t, ratio.String(), observed)
	}
	return nil
}
