package kinds

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"cella.dev/cella/internal/registry"
)

// This file holds the pod rules beyond create and update: binding to a
// node (pods/binding and the legacy bindings), graceful deletion, the QoS
// class and the field selectors, each as kube-apiserver's pod registry
// has it (pkg/registry/core/pod).

// newPodStatus is the status a new pod is stored with. With a runtime it
// is what kube-apiserver gives every pod (Pending and its QoS class, no
// conditions: the scheduler adds PodScheduled when it binds). Without one
// PodScheduled=False, reason NoRuntime, says that the pod will not run.
func newPodStatus(pod *corev1.Pod, cfg *Config) corev1.PodStatus {
	st := corev1.PodStatus{Phase: corev1.PodPending, QOSClass: podQOS(&pod.Spec)}
	if !cfg.RunsPods {
		st.Conditions = []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "NoRuntime",
			Message: NoRuntimeMessage, LastTransitionTime: metav1.NewTime(cfg.Now().Truncate(time.Second)),
		}}
	}
	return st
}

// podQOS computes a pod's QoS class as Kubernetes does (ComputePodQOS),
// from CPU and memory alone:
//
//   - BestEffort: no container (app or init) requests or limits any, and
//     neither does the pod;
//   - Guaranteed: every container limits both, and the requests summed
//     over the containers equal the limits summed, resource by resource;
//   - Burstable: anything else.
//
// Quantities of zero count as unset. When pod-level resources are set they
// decide alone, as with Kubernetes' PodLevelResources. Requests are taken
// as stored: defaultPodSpec has already copied missing requests from
// limits, as Kubernetes' defaulting does.
func podQOS(spec *corev1.PodSpec) corev1.PodQOSClass {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	add := func(sum corev1.ResourceList, list corev1.ResourceList) (found int) {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			q, ok := list[name]
			if !ok || q.Sign() <= 0 {
				continue
			}
			found++
			total := sum[name]
			total.Add(q)
			sum[name] = total
		}
		return found
	}
	if spec.Resources != nil {
		add(requests, spec.Resources.Requests)
		if len(spec.Resources.Limits) > 0 && add(limits, spec.Resources.Limits) < 2 {
			guaranteed = false
		}
	} else {
		for _, list := range [][]corev1.Container{spec.Containers, spec.InitContainers} {
			for i := range list {
				add(requests, list[i].Resources.Requests)
				if add(limits, list[i].Resources.Limits) < 2 {
					guaranteed = false
				}
			}
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
				break
			}
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// defaultRequestsFromLimits sets each container's missing requests to its
// limits, as Kubernetes' pod defaulting does (SetDefaults_Pod) for app and
// init containers: a container that states only limits asks for them.
func defaultRequestsFromLimits(s *corev1.PodSpec) {
	for _, list := range [][]corev1.Container{s.InitContainers, s.Containers} {
		for i := range list {
			r := &list[i].Resources
			for name, lim := range r.Limits {
				if _, set := r.Requests[name]; set {
					continue
				}
				if r.Requests == nil {
					r.Requests = corev1.ResourceList{}
				}
				r.Requests[name] = lim.DeepCopy()
			}
		}
	}
}

// podGracePeriod is the pods' GracefulDelete, as Kubernetes' pod strategy
// decides it (CheckGracefulDelete): the requested grace period, else the
// pod's terminationGracePeriodSeconds (30 when unset); but 0 for a pod that
// no node runs (spec.nodeName unset) or that has finished (Succeeded,
// Failed), since nothing needs time to stop.
func podGracePeriod(obj runtime.Object, opts *metav1.DeleteOptions) int64 {
	pod := obj.(*corev1.Pod)
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	switch {
	case opts.GracePeriodSeconds != nil:
		grace = *opts.GracePeriodSeconds
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return 0
	}
	if grace < 0 {
		grace = 1
	}
	return grace
}

// podFields are the pods' field-selector fields, those Kubernetes serves
// (pod.ToSelectableFields).
func podFields(obj runtime.Object) fields.Set {
	p := obj.(*corev1.Pod)
	podIP := p.Status.PodIP
	if len(p.Status.PodIPs) > 0 {
		podIP = p.Status.PodIPs[0].IP
	}
	return fields.Set{
		"spec.nodeName": p.Spec.NodeName, "spec.restartPolicy": string(p.Spec.RestartPolicy),
		"spec.schedulerName": p.Spec.SchedulerName, "spec.serviceAccountName": p.Spec.ServiceAccountName,
		"spec.hostNetwork": strconv.FormatBool(p.Spec.HostNetwork),
		"status.phase":     string(p.Status.Phase), "status.podIP": podIP,
		"status.nominatedNodeName": p.Status.NominatedNodeName,
	}
}

// bindingResource names pods/binding in the 409 of a refused binding, as
// kube-apiserver does.
var bindingResource = schema.GroupResource{Resource: "pods/binding"}

// bindPod serves pods/binding and the legacy bindings: it assigns the pod
// namespace/name to binding.Target.Name, as kube-apiserver's BindingREST
// does. It sets spec.nodeName, merges the binding's annotations into the
// pod's and sets PodScheduled=True, in one write guarded by the revision
// read, so that of two concurrent bindings one wins and the other is a 409.
// It refuses (409 Conflict on pods/binding) a pod already bound, a pod being
// deleted and a pod with scheduling gates; a pod that does not exist is a
// 404. binding.UID and binding.ResourceVersion, when set, are
// preconditions on the pod. It answers a Success Status.
func (b *builder) bindPod(ctx context.Context, pods *registry.Store, namespace, name string, obj runtime.Object, o registry.WriteOptions) (runtime.Object, error) {
	binding := obj.(*corev1.Binding)
	if name != binding.Name {
		return nil, apierrors.NewBadRequest("name in URL does not match name in Binding object")
	}
	if errs := validateBinding(binding); len(errs) > 0 {
		return nil, apierrors.NewInvalid(schema.GroupKind{Kind: "Binding"}, binding.Name, errs)
	}
	var pre *metav1.Preconditions
	if binding.UID != "" || binding.ResourceVersion != "" {
		pre = &metav1.Preconditions{}
		if binding.UID != "" {
			pre.UID = &binding.UID
		}
		if binding.ResourceVersion != "" {
			pre.ResourceVersion = &binding.ResourceVersion
		}
	}
	now := metav1.NewTime(b.cfg.Now().Truncate(time.Second))
	_, err := pods.GuaranteedUpdate(ctx, namespace, name, pre, func(cur runtime.Object) error {
		pod := cur.(*corev1.Pod)
		switch {
		case pod.DeletionTimestamp != nil:
			return fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", pod.Name)
		case pod.Spec.NodeName != "":
			return fmt.Errorf("pod %v is already assigned to node %q", pod.Name, pod.Spec.NodeName)
		case len(pod.Spec.SchedulingGates) != 0:
			return fmt.Errorf("pod %v has non-empty .spec.schedulingGates", pod.Name)
		}
		pod.Spec.NodeName = binding.Target.Name
		if len(binding.Annotations) > 0 && pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		for k, v := range binding.Annotations {
			pod.Annotations[k] = v
		}
		setPodCondition(&pod.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, now)
		return nil
	}, o)
	if err != nil {
		var status apierrors.APIStatus
		if errors.As(err, &status) {
			return nil, err
		}
		return nil, apierrors.NewConflict(bindingResource, name, err)
	}
	return &metav1.Status{Status: metav1.StatusSuccess}, nil
}

// evictPod serves pods/eviction (kubectl drain), as kube-apiserver's
// EvictionREST does: the pod's PodDisruptionBudget, if any, must allow it
// (checkDisruptionBudget: 429 otherwise); then the pod is marked with the
// DisruptionTarget condition and deleted by the eviction's DeleteOptions,
// gracefully when it runs. The answer is 201 with a Status.
func (b *builder) evictPod(ctx context.Context, pods *registry.Store, namespace, name string, ev *policyv1.Eviction, o registry.WriteOptions) (runtime.Object, error) {
	if ev.Name != "" && ev.Name != name {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("name in URL does not match name in Eviction object: %s vs %s", name, ev.Name))
	}
	opts := ev.DeleteOptions
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	if len(opts.DryRun) > 0 {
		o.DryRun = true
	}
	cur, err := pods.GetObject(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	if err := b.checkDisruptionBudget(ctx, cur.(*corev1.Pod), o.DryRun); err != nil {
		return nil, err
	}
	now := metav1.NewTime(b.cfg.Now().Truncate(time.Second))
	if !o.DryRun {
		_, err := pods.GuaranteedUpdate(ctx, namespace, name, opts.Preconditions, func(cur runtime.Object) error {
			pod := cur.(*corev1.Pod)
			if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
				return nil
			}
			setPodCondition(&pod.Status, corev1.PodCondition{
				Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI",
				Message: "Eviction API: evicting",
			}, now)
			return nil
		}, o)
		if err != nil {
			return nil, err
		}
	}
	if _, err := pods.Delete(ctx, namespace, name, opts, o); err != nil {
		return nil, err
	}
	return &metav1.Status{Status: metav1.StatusSuccess}, nil
}

// validateBinding checks a Binding as Kubernetes does (ValidatePodBinding):
// the target is a Node by name. Its annotations, which go onto the pod,
// must be valid annotations.
func validateBinding(b *corev1.Binding) field.ErrorList {
	var errs field.ErrorList
	if k := b.Target.Kind; k != "" && k != "Node" {
		errs = append(errs, field.NotSupported(field.NewPath("target", "kind"), k, []string{"Node", "<empty>"}))
	}
	if b.Target.Name == "" {
		errs = append(errs, field.Required(field.NewPath("target", "name"), ""))
	}
	return append(errs, apivalidation.ValidateAnnotations(b.Annotations, field.NewPath("metadata", "annotations"))...)
}

// setPodCondition sets the condition of c's type in st, as Kubernetes'
// UpdatePodCondition does: its lastTransitionTime is now when the status
// changes and kept when it does not; reason and message are c's.
func setPodCondition(st *corev1.PodStatus, c corev1.PodCondition, now metav1.Time) {
	c.LastTransitionTime = now
	for i := range st.Conditions {
		if st.Conditions[i].Type != c.Type {
			continue
		}
		if st.Conditions[i].Status == c.Status {
			c.LastTransitionTime = st.Conditions[i].LastTransitionTime
		}
		st.Conditions[i] = c
		return
	}
	st.Conditions = append(st.Conditions, c)
}

// podBindings adds pods/binding to the pods' endpoint and serves the
// legacy bindings resource (POST /api/v1/namespaces/{ns}/bindings), which
// binds the pod the body names.
func (b *builder) podBindings(pods *registry.Store) {
	if b.err != nil || pods == nil {
		return
	}
	newBinding := func() runtime.Object { return &corev1.Binding{} }
	for _, ep := range b.cat.Endpoints {
		if ep.Store == pods {
			ep.Creates = map[string]*registry.SubresourceCreate{
				"binding": {
					Kind: "Binding", New: newBinding,
					Create: func(ctx context.Context, namespace, name string, obj runtime.Object, o registry.WriteOptions) (runtime.Object, error) {
						return b.bindPod(ctx, pods, namespace, name, obj, o)
					},
				},
				"eviction": {
					Kind: "Eviction", GroupVersion: &policyv1.SchemeGroupVersion,
					New: func() runtime.Object { return &policyv1.Eviction{} },
					Create: func(ctx context.Context, namespace, name string, obj runtime.Object, o registry.WriteOptions) (runtime.Object, error) {
						return b.evictPod(ctx, pods, namespace, name, obj.(*policyv1.Eviction), o)
					},
				},
			}
		}
	}
	res := &registry.Resource{Version: "v1", Kind: "Binding", Plural: "bindings", Singular: "binding", Namespaced: true}
	b.cat.Endpoints = append(b.cat.Endpoints, &registry.Endpoint{
		Version: "v1", Kind: "Binding", Resource: res, New: newBinding, Verbs: []string{"create"},
		Create: func(ctx context.Context, obj runtime.Object, o registry.WriteOptions) (runtime.Object, error) {
			binding := obj.(*corev1.Binding)
			if binding.Name == "" {
				return nil, apierrors.NewInvalid(schema.GroupKind{Kind: "Binding"}, "",
					field.ErrorList{field.Required(field.NewPath("metadata", "name"), "name or generateName is required")})
			}
			return b.bindPod(ctx, pods, binding.Namespace, binding.Name, obj, o)
		},
	})
}
