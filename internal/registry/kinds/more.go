package kinds

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"cella.dev/cella/internal/registry"
)

// This file holds the kinds that kubectl's defaults and common charts
// expect a cluster to serve beyond CCI's own catalogue: replication
// controllers, daemon sets, controller revisions, pod disruption budgets,
// network policies and priority classes. They are stored and validated as
// Kubernetes does; the controllers that act on them come with the
// workloads issue. Under the cci profile a DaemonSet is served for
// discovery, get and list, and refused on create and update: CCI has no
// nodes of the user's own to run one pod on each of.

// BuiltinPriorityClasses are the priority classes every Kubernetes
// cluster has; the server creates them at start.
func BuiltinPriorityClasses() []*schedulingv1.PriorityClass {
	policy := corev1.PreemptLowerPriority
	return []*schedulingv1.PriorityClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "system-node-critical"}, Value: 2000001000, PreemptionPolicy: &policy,
			Description: "Used for system critical pods that must not be moved from their current node."},
		{ObjectMeta: metav1.ObjectMeta{Name: "system-cluster-critical"}, Value: 2000000000, PreemptionPolicy: &policy,
			Description: "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."},
	}
}

// highestUserPriority is the largest value of a priority class that is
// not built in, as Kubernetes sets it.
const highestUserPriority = 1000000000

func (b *builder) moreKinds() {
	b.replicationControllers()
	b.daemonSets()
	b.stored(&registry.Resource{
		Group: "apps", Version: "v1", Kind: "ControllerRevision", Plural: "controllerrevisions", Singular: "controllerrevision", Namespaced: true,
		New: func() runtime.Object { return &appsv1.ControllerRevision{} }, NewList: func() runtime.Object { return &appsv1.ControllerRevisionList{} },
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			if r := obj.(*appsv1.ControllerRevision); r.Revision < 0 {
				return field.ErrorList{field.Invalid(field.NewPath("revision"), r.Revision, "must be greater than or equal to 0")}
			}
			return nil
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			r, o := obj.(*appsv1.ControllerRevision), old.(*appsv1.ControllerRevision)
			var errs field.ErrorList
			if r.Revision < 0 {
				errs = append(errs, field.Invalid(field.NewPath("revision"), r.Revision, "must be greater than or equal to 0"))
			}
			if !apiequality.Semantic.DeepEqual(r.Data, o.Data) {
				errs = append(errs, field.Invalid(field.NewPath("data"), "", "field is immutable"))
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			col("Controller", "string", "Controller of the object"), col("Revision", "integer", "Revision of the ControllerRevision"), ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			r := obj.(*appsv1.ControllerRevision)
			controller := "<none>"
			if ref := metav1.GetControllerOf(r); ref != nil {
				gv, _ := schema.ParseGroupVersion(ref.APIVersion)
				controller = strings.ToLower(ref.Kind) + "." + gv.Group + "/" + ref.Name
				if gv.Group == "" {
					controller = strings.ToLower(ref.Kind) + "/" + ref.Name
				}
			}
			return []any{controller, r.Revision, b.age(r)}
		},
	})
	b.podDisruptionBudgets()
	b.stored(&registry.Resource{
		Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy", Plural: "networkpolicies", Singular: "networkpolicy", Namespaced: true,
		ShortNames: []string{"netpol"},
		New:        func() runtime.Object { return &networkingv1.NetworkPolicy{} }, NewList: func() runtime.Object { return &networkingv1.NetworkPolicyList{} },
		HasSpec: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			defaultNetworkPolicy(obj.(*networkingv1.NetworkPolicy))
		},
		PrepareForUpdate: func(_ context.Context, obj, _ runtime.Object) {
			defaultNetworkPolicy(obj.(*networkingv1.NetworkPolicy))
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			np := obj.(*networkingv1.NetworkPolicy)
			var errs field.ErrorList
			if _, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector); err != nil {
				errs = append(errs, field.Invalid(field.NewPath("spec", "podSelector"), np.Spec.PodSelector, err.Error()))
			}
			for i, t := range np.Spec.PolicyTypes {
				if t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress {
					errs = append(errs, field.NotSupported(field.NewPath("spec", "policyTypes").Index(i), t, []string{"Ingress", "Egress"}))
				}
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{col("Pod-Selector", "string", "Pods the policy applies to."), ageColumn},
		Row: func(obj runtime.Object) []any {
			np := obj.(*networkingv1.NetworkPolicy)
			return []any{metav1.FormatLabelSelector(&np.Spec.PodSelector), b.age(np)}
		},
	})
	b.priorityClasses()
}

func (b *builder) replicationControllers() {
	b.stored(&registry.Resource{
		Version: "v1", Kind: "ReplicationController", Plural: "replicationcontrollers", Singular: "replicationcontroller", Namespaced: true,
		ShortNames: []string{"rc"}, Categories: []string{"all"},
		New: func() runtime.Object { return &corev1.ReplicationController{} }, NewList: func() runtime.Object { return &corev1.ReplicationControllerList{} },
		HasSpec: true, HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			rc := obj.(*corev1.ReplicationController)
			defaultReplicationController(rc)
			rc.Status = corev1.ReplicationControllerStatus{}
		},
		PrepareForUpdate: func(_ context.Context, obj, _ runtime.Object) {
			defaultReplicationController(obj.(*corev1.ReplicationController))
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return b.validateReplicationController(obj.(*corev1.ReplicationController))
		},
		Scale: &registry.ScaleFuncs{
			Get: func(obj runtime.Object) (int32, int32, string) {
				rc := obj.(*corev1.ReplicationController)
				return deref(rc.Spec.Replicas), rc.Status.Replicas, labels.SelectorFromSet(rc.Spec.Selector).String()
			},
			Set: func(obj runtime.Object, n int32) { obj.(*corev1.ReplicationController).Spec.Replicas = &n },
		},
		Columns: []metav1.TableColumnDefinition{
			col("Desired", "integer", "Number of desired pods."), col("Current", "integer", "Number of actually running pods."),
			col("Ready", "integer", "Number of ready pods."), ageColumn,
			wide("Containers", "string", ""), wide("Images", "string", ""), wide("Selector", "string", ""),
		},
		Row: func(obj runtime.Object) []any {
			rc := obj.(*corev1.ReplicationController)
			var names, images string
			if rc.Spec.Template != nil {
				names, images = containerColumns(rc.Spec.Template)
			}
			return []any{int64(deref(rc.Spec.Replicas)), int64(rc.Status.Replicas), int64(rc.Status.ReadyReplicas), b.age(rc),
				names, images, labels.SelectorFromSet(rc.Spec.Selector).String()}
		},
	}, "status", "scale")
}

// defaultReplicationController fills what Kubernetes' defaulting fills:
// one replica, and the selector and labels from the template's labels.
func defaultReplicationController(rc *corev1.ReplicationController) {
	if rc.Spec.Replicas == nil {
		one := int32(1)
		rc.Spec.Replicas = &one
	}
	if t := rc.Spec.Template; t != nil {
		if len(rc.Spec.Selector) == 0 {
			rc.Spec.Selector = t.Labels
		}
		if len(rc.Labels) == 0 {
			rc.Labels = t.Labels
		}
		defaultPodSpec(&t.Spec)
	}
}

func (b *builder) validateReplicationController(rc *corev1.ReplicationController) field.ErrorList {
	p := field.NewPath("spec")
	var errs field.ErrorList
	if rc.Spec.Replicas != nil && *rc.Spec.Replicas < 0 {
		errs = append(errs, field.Invalid(p.Child("replicas"), *rc.Spec.Replicas, "must be greater than or equal to 0"))
	}
	if len(rc.Spec.Selector) == 0 {
		errs = append(errs, field.Required(p.Child("selector"), ""))
	}
	if rc.Spec.Template == nil {
		return append(errs, field.Required(p.Child("template"), ""))
	}
	if !labels.SelectorFromSet(rc.Spec.Selector).Matches(labels.Set(rc.Spec.Template.Labels)) {
		errs = append(errs, field.Invalid(p.Child("template", "metadata", "labels"), rc.Spec.Template.Labels, "`selector` does not match template `labels`"))
	}
	return append(errs, b.validateTemplate(rc.Spec.Template, p.Child("template"))...)
}

func (b *builder) daemonSets() {
	b.stored(&registry.Resource{
		Group: "apps", Version: "v1", Kind: "DaemonSet", Plural: "daemonsets", Singular: "daemonset", Namespaced: true,
		ShortNames: []string{"ds"}, Categories: []string{"all"},
		New: func() runtime.Object { return &appsv1.DaemonSet{} }, NewList: func() runtime.Object { return &appsv1.DaemonSetList{} },
		HasSpec: true, HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			ds := obj.(*appsv1.DaemonSet)
			defaultDaemonSet(ds)
			ds.Status = appsv1.DaemonSetStatus{}
		},
		PrepareForUpdate: func(_ context.Context, obj, _ runtime.Object) { defaultDaemonSet(obj.(*appsv1.DaemonSet)) },
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			ds := obj.(*appsv1.DaemonSet)
			return b.validateWorkload(nil, ds.Spec.Selector, &ds.Spec.Template, field.NewPath("spec"))
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			ds, o := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
			errs := b.validateWorkload(nil, ds.Spec.Selector, &ds.Spec.Template, field.NewPath("spec"))
			return append(errs, immutableSelector(ds.Spec.Selector, o.Spec.Selector)...)
		},
		AdmitWrite: func(_ context.Context, obj, _ runtime.Object) error {
			if !b.cfg.cci() {
				return nil
			}
			ds := obj.(*appsv1.DaemonSet)
			return apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "daemonsets"}, ds.Name,
				fmt.Errorf("CCI does not support DaemonSets: pods run on CCI's serverless capacity, not on nodes of your own (use a Deployment)"))
		},
		Columns: []metav1.TableColumnDefinition{
			col("Desired", "integer", "The total number of nodes that should be running the daemon pod."),
			col("Current", "integer", "The number of nodes running at least one daemon pod and are supposed to."),
			col("Ready", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready."),
			col("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod."),
			col("Available", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available."),
			col("Node Selector", "string", "NodeSelector is a selector which must be true for the pod to fit on a node."),
			ageColumn,
			wide("Containers", "string", ""), wide("Images", "string", ""), wide("Selector", "string", ""),
		},
		Row: func(obj runtime.Object) []any {
			ds := obj.(*appsv1.DaemonSet)
			names, images := containerColumns(&ds.Spec.Template)
			nodeSel := labels.SelectorFromSet(ds.Spec.Template.Spec.NodeSelector).String()
			if nodeSel == "" {
				nodeSel = "<none>"
			}
			st := ds.Status
			return []any{int64(st.DesiredNumberScheduled), int64(st.CurrentNumberScheduled), int64(st.NumberReady),
				int64(st.UpdatedNumberScheduled), int64(st.NumberAvailable), nodeSel, b.age(ds), names, images, selectorText(ds.Spec.Selector)}
		},
	}, "status")
}

func defaultDaemonSet(ds *appsv1.DaemonSet) {
	s := &ds.Spec
	if s.UpdateStrategy.Type == "" {
		s.UpdateStrategy.Type = appsv1.RollingUpdateDaemonSetStrategyType
	}
	if s.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if s.UpdateStrategy.RollingUpdate == nil {
			s.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
		}
		if s.UpdateStrategy.RollingUpdate.MaxUnavailable == nil {
			one := intstr.FromInt32(1)
			s.UpdateStrategy.RollingUpdate.MaxUnavailable = &one
		}
		if s.UpdateStrategy.RollingUpdate.MaxSurge == nil {
			zero := intstr.FromInt32(0)
			s.UpdateStrategy.RollingUpdate.MaxSurge = &zero
		}
	}
	if s.RevisionHistoryLimit == nil {
		ten := int32(10)
		s.RevisionHistoryLimit = &ten
	}
	defaultPodSpec(&s.Template.Spec)
}

func (b *builder) podDisruptionBudgets() {
	b.stored(&registry.Resource{
		Group: "policy", Version: "v1", Kind: "PodDisruptionBudget", Plural: "poddisruptionbudgets", Singular: "poddisruptionbudget", Namespaced: true,
		ShortNames: []string{"pdb"},
		New:        func() runtime.Object { return &policyv1.PodDisruptionBudget{} }, NewList: func() runtime.Object { return &policyv1.PodDisruptionBudgetList{} },
		HasSpec: true, HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			obj.(*policyv1.PodDisruptionBudget).Status = policyv1.PodDisruptionBudgetStatus{}
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return validatePDB(obj.(*policyv1.PodDisruptionBudget))
		},
		Columns: []metav1.TableColumnDefinition{
			col("Min Available", "string", "The minimum number of pods that must be available, as the budget says."),
			col("Max Unavailable", "string", "The maximum number of pods that may be unavailable, as the budget says."),
			col("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted now."),
			ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			pdb := obj.(*policyv1.PodDisruptionBudget)
			minA, maxU := "N/A", "N/A"
			if pdb.Spec.MinAvailable != nil {
				minA = pdb.Spec.MinAvailable.String()
			}
			if pdb.Spec.MaxUnavailable != nil {
				maxU = pdb.Spec.MaxUnavailable.String()
			}
			return []any{minA, maxU, int64(pdb.Status.DisruptionsAllowed), b.age(pdb)}
		},
	}, "status")
}

// validatePDB checks a budget as Kubernetes does: at most one of
// minAvailable and maxUnavailable, each a non-negative number or a
// percentage of at most 100%, and a valid selector.
func validatePDB(pdb *policyv1.PodDisruptionBudget) field.ErrorList {
	p := field.NewPath("spec")
	var errs field.ErrorList
	if pdb.Spec.MinAvailable != nil && pdb.Spec.MaxUnavailable != nil {
		errs = append(errs, field.Invalid(p, pdb.Spec, "minAvailable and maxUnavailable cannot be both set"))
	}
	check := func(v *intstr.IntOrString, fp *field.Path) {
		if v == nil {
			return
		}
		switch v.Type {
		case intstr.Int:
			if v.IntVal < 0 {
				errs = append(errs, field.Invalid(fp, v.IntVal, "must be greater than or equal to 0"))
			}
		case intstr.String:
			pct, ok := strings.CutSuffix(v.StrVal, "%")
			var n int
			if _, err := fmt.Sscanf(pct, "%d", &n); !ok || err != nil || fmt.Sprint(n) != pct {
				errs = append(errs, field.Invalid(fp, v.StrVal, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"))
			} else if n < 0 || n > 100 {
				errs = append(errs, field.Invalid(fp, v.StrVal, "must be no more than 100%"))
			}
		}
	}
	check(pdb.Spec.MinAvailable, p.Child("minAvailable"))
	check(pdb.Spec.MaxUnavailable, p.Child("maxUnavailable"))
	if pdb.Spec.Selector != nil {
		if _, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err != nil {
			errs = append(errs, field.Invalid(p.Child("selector"), pdb.Spec.Selector, err.Error()))
		}
	}
	return errs
}

// defaultNetworkPolicy fills policyTypes as Kubernetes does: Ingress
// always, Egress when the policy has egress rules.
func defaultNetworkPolicy(np *networkingv1.NetworkPolicy) {
	if len(np.Spec.PolicyTypes) > 0 {
		return
	}
	np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	if len(np.Spec.Egress) > 0 {
		np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
	}
}

func (b *builder) priorityClasses() {
	builtin := map[string]int32{}
	for _, pc := range BuiltinPriorityClasses() {
		builtin[pc.Name] = pc.Value
	}
	b.stored(&registry.Resource{
		Group: "scheduling.k8s.io", Version: "v1", Kind: "PriorityClass", Plural: "priorityclasses", Singular: "priorityclass",
		ShortNames: []string{"pc"},
		New:        func() runtime.Object { return &schedulingv1.PriorityClass{} }, NewList: func() runtime.Object { return &schedulingv1.PriorityClassList{} },
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			if pc := obj.(*schedulingv1.PriorityClass); pc.PreemptionPolicy == nil {
				p := corev1.PreemptLowerPriority
				pc.PreemptionPolicy = &p
			}
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			pc := obj.(*schedulingv1.PriorityClass)
			if v, ok := builtin[pc.Name]; ok {
				if pc.Value != v {
					return field.ErrorList{field.Forbidden(field.NewPath("metadata", "name"), fmt.Sprintf("priority class %v has value %v, but the built-in value is %v", pc.Name, pc.Value, v))}
				}
				return nil
			}
			var errs field.ErrorList
			if strings.HasPrefix(pc.Name, "system-") {
				errs = append(errs, field.Forbidden(field.NewPath("metadata", "name"), "priority class names with 'system-' prefix are reserved for system use only"))
			}
			if pc.Value > highestUserPriority {
				errs = append(errs, field.Forbidden(field.NewPath("value"), fmt.Sprintf("maximum allowed value of a user defined priority is %v", highestUserPriority)))
			}
			if p := pc.PreemptionPolicy; p != nil && *p != corev1.PreemptLowerPriority && *p != corev1.PreemptNever {
				errs = append(errs, field.NotSupported(field.NewPath("preemptionPolicy"), *p, []string{string(corev1.PreemptLowerPriority), string(corev1.PreemptNever)}))
			}
			return errs
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			pc, o := obj.(*schedulingv1.PriorityClass), old.(*schedulingv1.PriorityClass)
			var errs field.ErrorList
			if pc.Value != o.Value {
				errs = append(errs, field.Forbidden(field.NewPath("value"), "may not be changed in an update."))
			}
			if !apiequality.Semantic.DeepEqual(pc.PreemptionPolicy, o.PreemptionPolicy) && pc.PreemptionPolicy != nil {
				errs = append(errs, field.Invalid(field.NewPath("preemptionPolicy"), *pc.PreemptionPolicy, "field is immutable"))
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			col("Value", "integer", "Value is the integer value of this priority class."),
			col("Global-Default", "boolean", "GlobalDefault specifies whether this PriorityClass should be considered as the default priority."),
			ageColumn,
			col("PreemptionPolicy", "string", "PreemptionPolicy is the Policy for preempting pods with lower priority."),
		},
		Row: func(obj runtime.Object) []any {
			pc := obj.(*schedulingv1.PriorityClass)
			policy := ""
			if pc.PreemptionPolicy != nil {
				policy = string(*pc.PreemptionPolicy)
			}
			return []any{int64(pc.Value), pc.GlobalDefault, b.age(pc), policy}
		},
	})
}
