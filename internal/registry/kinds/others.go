package kinds

import (
	"context"
	"fmt"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	eipv1 "cella.dev/cella/internal/apis/eip/v1"
	netv1beta1 "cella.dev/cella/internal/apis/networking/v1beta1"
	volcanov1alpha1 "cella.dev/cella/internal/apis/volcano/v1alpha1"
	"cella.dev/cella/internal/convert"
	"cella.dev/cella/internal/registry"
	"cella.dev/cella/internal/registry/cci"
)

func (b *builder) eventsAlias(events *registry.Store) {
	b.alias(events, "events.k8s.io", "v1", "Event",
		func() runtime.Object { return &eventsv1.Event{} }, func() runtime.Object { return &eventsv1.EventList{} },
		func(o runtime.Object) (runtime.Object, error) { return convert.EventV1ToCore(o.(*eventsv1.Event)), nil },
		func(o runtime.Object) (runtime.Object, error) { return convert.EventCoreToV1(o.(*corev1.Event)), nil })
	if b.err == nil && events != nil {
		b.cat.Endpoints[len(b.cat.Endpoints)-1].FieldLabels = eventsV1FieldLabel
	}
}

// eventsV1FieldLabels maps the field selectors of events.k8s.io/v1 onto
// the stored core Event's, as Kubernetes' field label conversion for that
// version does; no other label is selectable there.
var eventsV1FieldLabels = map[string]string{
	"metadata.name": "metadata.name", "metadata.namespace": "metadata.namespace",
	"regarding.kind": "involvedObject.kind", "regarding.namespace": "involvedObject.namespace",
	"regarding.name": "involvedObject.name", "regarding.uid": "involvedObject.uid",
	"regarding.apiVersion": "involvedObject.apiVersion", "regarding.resourceVersion": "involvedObject.resourceVersion",
	"regarding.fieldPath": "involvedObject.fieldPath", "reportingController": "reportingComponent",
	"reason": "reason", "source": "source", "type": "type",
}

func eventsV1FieldLabel(label, value string) (string, string, error) {
	stored, ok := eventsV1FieldLabels[label]
	if !ok {
		return "", "", fmt.Errorf("field label not supported: %s", label)
	}
	return stored, value, nil
}

func (b *builder) autoscaling() {
	hpa := b.stored(&registry.Resource{
		Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler", Plural: "horizontalpodautoscalers",
		Singular: "horizontalpodautoscaler", Namespaced: true, ShortNames: []string{"hpa"}, Categories: []string{"all"},
		New:     func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscaler{} },
		NewList: func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscalerList{} },
		HasSpec: true, HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			h := obj.(*autoscalingv2.HorizontalPodAutoscaler)
			if h.Spec.MinReplicas == nil {
				one := int32(1)
				h.Spec.MinReplicas = &one
			}
			h.Status = autoscalingv2.HorizontalPodAutoscalerStatus{}
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			h := obj.(*autoscalingv2.HorizontalPodAutoscaler)
			p := field.NewPath("spec")
			var errs field.ErrorList
			if h.Spec.MaxReplicas < 1 {
				errs = append(errs, field.Invalid(p.Child("maxReplicas"), h.Spec.MaxReplicas, "must be greater than or equal to 1"))
			}
			if h.Spec.MinReplicas != nil && *h.Spec.MinReplicas > h.Spec.MaxReplicas {
				errs = append(errs, field.Invalid(p.Child("minReplicas"), *h.Spec.MinReplicas, "must be less than or equal to maxReplicas"))
			}
			if h.Spec.ScaleTargetRef.Kind == "" {
				errs = append(errs, field.Required(p.Child("scaleTargetRef", "kind"), ""))
			}
			if h.Spec.ScaleTargetRef.Name == "" {
				errs = append(errs, field.Required(p.Child("scaleTargetRef", "name"), ""))
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			col("Reference", "string", ""), col("Targets", "string", ""), col("MinPods", "string", ""),
			col("MaxPods", "string", ""), col("Replicas", "string", ""), ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			h := obj.(*autoscalingv2.HorizontalPodAutoscaler)
			ref := h.Spec.ScaleTargetRef.Kind + "/" + h.Spec.ScaleTargetRef.Name
			var targets []string
			for _, m := range h.Spec.Metrics {
				if m.Resource != nil && m.Resource.Target.AverageUtilization != nil {
					targets = append(targets, fmt.Sprintf("%s: <unknown>/%d%%", m.Resource.Name, *m.Resource.Target.AverageUtilization))
				}
			}
			min := "<unset>"
			if h.Spec.MinReplicas != nil {
				min = fmt.Sprint(*h.Spec.MinReplicas)
			}
			return []any{ref, orNone(strings.Join(targets, ", ")), min, int64(h.Spec.MaxReplicas), int64(h.Status.CurrentReplicas), b.age(h)}
		},
	}, "status")
	b.alias(hpa, "autoscaling", "v1", "HorizontalPodAutoscaler",
		func() runtime.Object { return &autoscalingv1.HorizontalPodAutoscaler{} },
		func() runtime.Object { return &autoscalingv1.HorizontalPodAutoscalerList{} },
		func(o runtime.Object) (runtime.Object, error) {
			return convert.HPAV1ToV2(o.(*autoscalingv1.HorizontalPodAutoscaler)), nil
		},
		func(o runtime.Object) (runtime.Object, error) {
			return convert.HPAV2ToV1(o.(*autoscalingv2.HorizontalPodAutoscaler)), nil
		}, "status")
}

func (b *builder) networking() {
	ing := b.stored(&registry.Resource{
		Group: "networking.k8s.io", Version: "v1", Kind: "Ingress", Plural: "ingresses", Singular: "ingress", Namespaced: true,
		ShortNames: []string{"ing"},
		New:        func() runtime.Object { return &networkingv1.Ingress{} }, NewList: func() runtime.Object { return &networkingv1.IngressList{} },
		HasSpec: true, HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			obj.(*networkingv1.Ingress).Status = networkingv1.IngressStatus{}
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			ing := obj.(*networkingv1.Ingress)
			p := field.NewPath("spec")
			var errs field.ErrorList
			if ing.Spec.DefaultBackend == nil && len(ing.Spec.Rules) == 0 {
				errs = append(errs, field.Invalid(p, "", "either `defaultBackend` or `rules` must be specified"))
			}
			for i, r := range ing.Spec.Rules {
				if r.HTTP == nil {
					continue
				}
				for j, path := range r.HTTP.Paths {
					pp := p.Child("rules").Index(i).Child("http", "paths").Index(j)
					if path.PathType == nil {
						errs = append(errs, field.Required(pp.Child("pathType"), "pathType must be specified"))
					} else {
						switch *path.PathType {
						case networkingv1.PathTypeExact, networkingv1.PathTypePrefix, networkingv1.PathTypeImplementationSpecific:
						default:
							errs = append(errs, field.NotSupported(pp.Child("pathType"), *path.PathType, []string{"Exact", "ImplementationSpecific", "Prefix"}))
						}
					}
					if path.Path != "" && !strings.HasPrefix(path.Path, "/") {
						errs = append(errs, field.Invalid(pp.Child("path"), path.Path, "must be an absolute path"))
					}
					if path.Backend.Service == nil && path.Backend.Resource == nil {
						errs = append(errs, field.Required(pp.Child("backend"), "service or resource is required"))
					}
				}
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			col("Class", "string", ""), col("Hosts", "string", ""), col("Address", "string", ""), col("Ports", "string", ""), ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			ing := obj.(*networkingv1.Ingress)
			class := "<none>"
			if ing.Spec.IngressClassName != nil {
				class = *ing.Spec.IngressClassName
			}
			var hosts []string
			for _, r := range ing.Spec.Rules {
				if r.Host != "" {
					hosts = append(hosts, r.Host)
				}
			}
			h := "*"
			if len(hosts) > 0 {
				h = strings.Join(hosts, ",")
			}
			var addrs []string
			for _, lb := range ing.Status.LoadBalancer.Ingress {
				addrs = append(addrs, lb.IP+lb.Hostname)
			}
			ports := "80"
			if len(ing.Spec.TLS) > 0 {
				ports = "80, 443"
			}
			return []any{class, h, strings.Join(addrs, ","), ports, b.age(ing)}
		},
	}, "status")
	b.alias(ing, "extensions", "v1beta1", "Ingress",
		func() runtime.Object { return &extensionsv1beta1.Ingress{} },
		func() runtime.Object { return &extensionsv1beta1.IngressList{} },
		func(o runtime.Object) (runtime.Object, error) {
			in := o.(*extensionsv1beta1.Ingress)
			defaultIngressV1beta1(in)
			return convert.IngressV1beta1ToV1(in), nil
		},
		func(o runtime.Object) (runtime.Object, error) {
			return convert.IngressV1ToV1beta1(o.(*networkingv1.Ingress)), nil
		}, "status")
}

// defaultIngressV1beta1 fills what Kubernetes' defaulting of
// extensions/v1beta1 fills and networking.k8s.io/v1 requires: a path
// without pathType is ImplementationSpecific.
func defaultIngressV1beta1(in *extensionsv1beta1.Ingress) {
	for i := range in.Spec.Rules {
		if h := in.Spec.Rules[i].HTTP; h != nil {
			for j := range h.Paths {
				if h.Paths[j].PathType == nil {
					t := extensionsv1beta1.PathTypeImplementationSpecific
					h.Paths[j].PathType = &t
				}
			}
		}
	}
}

func (b *builder) rbac() {
	createdAt := []metav1.TableColumnDefinition{col("Created At", "date", "")}
	createdRow := func(obj runtime.Object) []any {
		m := obj.(metav1.Object)
		return []any{m.GetCreationTimestamp().UTC().Format("2006-01-02T15:04:05Z")}
	}
	validateRules := func(rules []rbacv1.PolicyRule, p *field.Path, namespaced bool) field.ErrorList {
		var errs field.ErrorList
		for i, r := range rules {
			rp := p.Index(i)
			if len(r.Verbs) == 0 {
				errs = append(errs, field.Required(rp.Child("verbs"), "verbs must contain at least one value"))
			}
			if len(r.NonResourceURLs) > 0 {
				if namespaced {
					errs = append(errs, field.Invalid(rp.Child("nonResourceURLs"), r.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
				}
				if len(r.APIGroups) > 0 || len(r.Resources) > 0 || len(r.ResourceNames) > 0 {
					errs = append(errs, field.Invalid(rp.Child("nonResourceURLs"), r.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
				}
				continue
			}
			if len(r.APIGroups) == 0 {
				errs = append(errs, field.Required(rp.Child("apiGroups"), "resource rules must supply at least one api group"))
			}
			if len(r.Resources) == 0 {
				errs = append(errs, field.Required(rp.Child("resources"), "resource rules must supply at least one resource"))
			}
		}
		return errs
	}
	validateRef := func(ref rbacv1.RoleRef, namespaced bool) field.ErrorList {
		p := field.NewPath("roleRef")
		var errs field.ErrorList
		if ref.APIGroup != rbacv1.GroupName {
			errs = append(errs, field.NotSupported(p.Child("apiGroup"), ref.APIGroup, []string{rbacv1.GroupName}))
		}
		switch {
		case ref.Kind == "ClusterRole":
		case ref.Kind == "Role" && namespaced:
		default:
			allowed := []string{"ClusterRole"}
			if namespaced {
				allowed = []string{"ClusterRole", "Role"}
			}
			errs = append(errs, field.NotSupported(p.Child("kind"), ref.Kind, allowed))
		}
		if ref.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		return errs
	}
	validateSubjects := func(subjects []rbacv1.Subject) field.ErrorList {
		var errs field.ErrorList
		for i, s := range subjects {
			sp := field.NewPath("subjects").Index(i)
			if s.Name == "" {
				errs = append(errs, field.Required(sp.Child("name"), ""))
			}
			switch s.Kind {
			case rbacv1.UserKind, rbacv1.GroupKind:
			case rbacv1.ServiceAccountKind:
				if s.Namespace == "" {
					errs = append(errs, field.Required(sp.Child("namespace"), ""))
				}
			default:
				errs = append(errs, field.NotSupported(sp.Child("kind"), s.Kind, []string{"Group", "ServiceAccount", "User"}))
			}
		}
		return errs
	}
	bindingRow := func(ref rbacv1.RoleRef, subjects []rbacv1.Subject, m metav1.Object) []any {
		var users, groups, sas []string
		for _, s := range subjects {
			switch s.Kind {
			case rbacv1.UserKind:
				users = append(users, s.Name)
			case rbacv1.GroupKind:
				groups = append(groups, s.Name)
			case rbacv1.ServiceAccountKind:
				sas = append(sas, s.Namespace+"/"+s.Name)
			}
		}
		return []any{ref.Kind + "/" + ref.Name, b.age(m), strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", ")}
	}
	bindingCols := []metav1.TableColumnDefinition{col("Role", "string", ""), ageColumn, wide("Users", "string", ""), wide("Groups", "string", ""), wide("ServiceAccounts", "string", "")}

	const g = "rbac.authorization.k8s.io"
	b.stored(&registry.Resource{
		ValidateName: rbacName,
		Group:        g, Version: "v1", Kind: "Role", Plural: "roles", Singular: "role", Namespaced: true,
		New: func() runtime.Object { return &rbacv1.Role{} }, NewList: func() runtime.Object { return &rbacv1.RoleList{} },
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return validateRules(obj.(*rbacv1.Role).Rules, field.NewPath("rules"), true)
		},
		AdmitWrite: b.admitRBAC,
		Columns:    createdAt, Row: createdRow,
	})
	b.stored(&registry.Resource{
		ValidateName: rbacName,
		Group:        g, Version: "v1", Kind: "ClusterRole", Plural: "clusterroles", Singular: "clusterrole",
		New: func() runtime.Object { return &rbacv1.ClusterRole{} }, NewList: func() runtime.Object { return &rbacv1.ClusterRoleList{} },
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return validateRules(obj.(*rbacv1.ClusterRole).Rules, field.NewPath("rules"), false)
		},
		AdmitWrite: b.admitRBAC,
		Columns:    createdAt, Row: createdRow,
	})
	b.stored(&registry.Resource{
		ValidateName: rbacName,
		Group:        g, Version: "v1", Kind: "RoleBinding", Plural: "rolebindings", Singular: "rolebinding", Namespaced: true,
		New: func() runtime.Object { return &rbacv1.RoleBinding{} }, NewList: func() runtime.Object { return &rbacv1.RoleBindingList{} },
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			rb := obj.(*rbacv1.RoleBinding)
			return append(validateRef(rb.RoleRef, true), validateSubjects(rb.Subjects)...)
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			rb, o := obj.(*rbacv1.RoleBinding), old.(*rbacv1.RoleBinding)
			errs := append(validateRef(rb.RoleRef, true), validateSubjects(rb.Subjects)...)
			if rb.RoleRef != o.RoleRef {
				errs = append(errs, field.Invalid(field.NewPath("roleRef"), rb.RoleRef, "cannot change roleRef"))
			}
			return errs
		},
		AdmitWrite: b.admitRBAC,
		Columns:    bindingCols,
		Row: func(obj runtime.Object) []any {
			rb := obj.(*rbacv1.RoleBinding)
			return bindingRow(rb.RoleRef, rb.Subjects, rb)
		},
	})
	b.stored(&registry.Resource{
		ValidateName: rbacName,
		Group:        g, Version: "v1", Kind: "ClusterRoleBinding", Plural: "clusterrolebindings", Singular: "clusterrolebinding",
		New: func() runtime.Object { return &rbacv1.ClusterRoleBinding{} }, NewList: func() runtime.Object { return &rbacv1.ClusterRoleBindingList{} },
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			rb := obj.(*rbacv1.ClusterRoleBinding)
			return append(validateRef(rb.RoleRef, false), validateSubjects(rb.Subjects)...)
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			rb, o := obj.(*rbacv1.ClusterRoleBinding), old.(*rbacv1.ClusterRoleBinding)
			errs := append(validateRef(rb.RoleRef, false), validateSubjects(rb.Subjects)...)
			if rb.RoleRef != o.RoleRef {
				errs = append(errs, field.Invalid(field.NewPath("roleRef"), rb.RoleRef, "cannot change roleRef"))
			}
			return errs
		},
		AdmitWrite: b.admitRBAC,
		Columns:    bindingCols,
		Row: func(obj runtime.Object) []any {
			rb := obj.(*rbacv1.ClusterRoleBinding)
			return bindingRow(rb.RoleRef, rb.Subjects, rb)
		},
	})
}

// admitRBAC runs Config.PolicyAdmission's check on writes of the RBAC
// kinds. The roleRef of a binding cannot change (ValidateUpdate, 422), so an
// update is checked against the role it was created with.
func (b *builder) admitRBAC(ctx context.Context, obj, old runtime.Object) error {
	if b.admitPolicy == nil {
		return nil
	}
	return b.admitPolicy(ctx, obj, old)
}

func (b *builder) storageClasses() {
	b.stored(&registry.Resource{
		Group: "storage.k8s.io", Version: "v1", Kind: "StorageClass", Plural: "storageclasses", Singular: "storageclass", ShortNames: []string{"sc"},
		New: func() runtime.Object { return &storagev1.StorageClass{} }, NewList: func() runtime.Object { return &storagev1.StorageClassList{} },
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			sc := obj.(*storagev1.StorageClass)
			if sc.ReclaimPolicy == nil {
				p := corev1.PersistentVolumeReclaimDelete
				sc.ReclaimPolicy = &p
			}
			if sc.VolumeBindingMode == nil {
				m := storagev1.VolumeBindingImmediate
				sc.VolumeBindingMode = &m
			}
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			if obj.(*storagev1.StorageClass).Provisioner == "" {
				return field.ErrorList{field.Required(field.NewPath("provisioner"), "")}
			}
			return nil
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			sc, o := obj.(*storagev1.StorageClass), old.(*storagev1.StorageClass)
			if sc.Provisioner != o.Provisioner {
				return field.ErrorList{field.Forbidden(field.NewPath("provisioner"), "updates to provisioner are forbidden.")}
			}
			return nil
		},
		Columns: []metav1.TableColumnDefinition{
			col("Provisioner", "string", ""), col("ReclaimPolicy", "string", ""), col("VolumeBindingMode", "string", ""),
			col("AllowVolumeExpansion", "string", ""), ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			sc := obj.(*storagev1.StorageClass)
			name := sc.Provisioner
			rp, vbm := "Delete", "Immediate"
			if sc.ReclaimPolicy != nil {
				rp = string(*sc.ReclaimPolicy)
			}
			if sc.VolumeBindingMode != nil {
				vbm = string(*sc.VolumeBindingMode)
			}
			exp := sc.AllowVolumeExpansion != nil && *sc.AllowVolumeExpansion
			return []any{name, rp, vbm, exp, b.age(sc)}
		},
	})
}

func (b *builder) cciKinds() {
	b.stored(&registry.Resource{
		Group: netv1beta1.GroupName, Version: "v1beta1", Kind: "Network", Plural: "networks", Singular: "network", Namespaced: true,
		New: func() runtime.Object { return &netv1beta1.Network{} }, NewList: func() runtime.Object { return &netv1beta1.NetworkList{} },
		HasSpec: true, HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			// Cella has no VPC to wait for: a valid network is active at once.
			obj.(*netv1beta1.Network).Status = netv1beta1.NetworkStatus{State: netv1beta1.NetworkStateActive}
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return cci.ValidateNetwork(obj.(*netv1beta1.Network))
		},
		Columns: []metav1.TableColumnDefinition{col("State", "string", "The state of the network"), ageColumn},
		Row: func(obj runtime.Object) []any {
			n := obj.(*netv1beta1.Network)
			return []any{string(n.Status.State), b.age(n)}
		},
	}, "status")
	b.stored(&registry.Resource{
		Group: eipv1.GroupName, Version: "v1", Kind: "EIPPool", Plural: "eippools", Singular: "eippool", Namespaced: true,
		New: func() runtime.Object { return &eipv1.EIPPool{} }, NewList: func() runtime.Object { return &eipv1.EIPPoolList{} },
		HasSpec: true, HasStatus: true,
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return cci.ValidateEIPPool(obj.(*eipv1.EIPPool))
		},
		ValidateDelete: func(_ context.Context, obj runtime.Object) error {
			return eipPoolDeletable(obj.(*eipv1.EIPPool))
		},
		Columns: []metav1.TableColumnDefinition{col("Phase", "string", ""), col("Usage", "string", ""), ageColumn},
		Row: func(obj runtime.Object) []any {
			p := obj.(*eipv1.EIPPool)
			return []any{string(p.Status.Phase), p.Status.Usage, b.age(p)}
		},
	}, "status")
	b.stored(&registry.Resource{
		Group: volcanov1alpha1.GroupName, Version: "v1alpha1", Kind: "Job", Plural: "jobs", Singular: "job", Namespaced: true,
		ShortNames: []string{"vcjob", "vj"},
		New:        func() runtime.Object { return &volcanov1alpha1.Job{} }, NewList: func() runtime.Object { return &volcanov1alpha1.JobList{} },
		HasSpec: true, HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			j := obj.(*volcanov1alpha1.Job)
			j.Status = volcanov1alpha1.JobStatus{State: volcanov1alpha1.JobState{Phase: volcanov1alpha1.Pending}}
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return cci.ValidateVolcanoJob(obj.(*volcanov1alpha1.Job), b.cfg.Flavors)
		},
		Columns: []metav1.TableColumnDefinition{col("Status", "string", ""), col("MinAvailable", "integer", ""), ageColumn},
		Row: func(obj runtime.Object) []any {
			j := obj.(*volcanov1alpha1.Job)
			return []any{string(j.Status.State.Phase), int64(j.Spec.MinAvailable), b.age(j)}
		},
	}, "status")
}

// eipPoolDeletable refuses to delete a pool whose addresses are bound to
// pods (409 Conflict), as CCI does.
func eipPoolDeletable(p *eipv1.EIPPool) error {
	var used []string
	for _, e := range p.Status.EIPs {
		if e.Pod != "" {
			used = append(used, e.Pod)
		}
	}
	if len(used) == 0 {
		return nil
	}
	return apierrors.NewConflict(eipv1.Resource("eippools"), p.Name,
		fmt.Errorf("the pool is in use by pods %s: delete them first", strings.Join(used, ", ")))
}

// rbacName is Kubernetes' rule for RBAC object names: any valid path
// segment ("system:aggregate-to-admin" is fine).
func rbacName(string, bool) []string { return nil }
