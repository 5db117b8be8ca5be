package kinds

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"cella.dev/cella/internal/registry"
	"cella.dev/cella/internal/registry/cci"
)

func (b *builder) apps() {
	b.stored(&registry.Resource{
		Group: "apps", Version: "v1", Kind: "Deployment", Plural: "deployments", Singular: "deployment", Namespaced: true,
		ShortNames: []string{"deploy"}, Categories: []string{"all"},
		New: func() runtime.Object { return &appsv1.Deployment{} }, NewList: func() runtime.Object { return &appsv1.DeploymentList{} },
		HasSpec: true, HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			d := obj.(*appsv1.Deployment)
			defaultDeployment(d)
			d.Status = appsv1.DeploymentStatus{}
		},
		PrepareForUpdate: func(_ context.Context, obj, _ runtime.Object) { defaultDeployment(obj.(*appsv1.Deployment)) },
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			d := obj.(*appsv1.Deployment)
			return b.validateWorkload(d.Spec.Replicas, d.Spec.Selector, &d.Spec.Template, field.NewPath("spec"))
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			d, o := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
			errs := b.validateWorkload(d.Spec.Replicas, d.Spec.Selector, &d.Spec.Template, field.NewPath("spec"))
			return append(errs, immutableSelector(d.Spec.Selector, o.Spec.Selector)...)
		},
		Scale: &registry.ScaleFuncs{
			Get: func(obj runtime.Object) (int32, int32, string) {
				d := obj.(*appsv1.Deployment)
				return deref(d.Spec.Replicas), d.Status.Replicas, selectorText(d.Spec.Selector)
			},
			Set: func(obj runtime.Object, n int32) { obj.(*appsv1.Deployment).Spec.Replicas = &n },
		},
		Columns: []metav1.TableColumnDefinition{
			col("Ready", "string", "Number of the pod with ready state"),
			col("Up-to-date", "string", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
			col("Available", "string", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
			ageColumn,
			wide("Containers", "string", "Names of each container in the template."),
			wide("Images", "string", "Images referenced by each container in the template."),
			wide("Selector", "string", "Label selector for pods."),
		},
		Row: func(obj runtime.Object) []any {
			d := obj.(*appsv1.Deployment)
			names, images := containerColumns(&d.Spec.Template)
			return []any{fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, deref(d.Spec.Replicas)), int64(d.Status.UpdatedReplicas),
				int64(d.Status.AvailableReplicas), b.age(d), names, images, selectorText(d.Spec.Selector)}
		},
	}, "status", "scale")

	b.stored(&registry.Resource{
		Group: "apps", Version: "v1", Kind: "ReplicaSet", Plural: "replicasets", Singular: "replicaset", Namespaced: true,
		ShortNames: []string{"rs"}, Categories: []string{"all"},
		New: func() runtime.Object { return &appsv1.ReplicaSet{} }, NewList: func() runtime.Object { return &appsv1.ReplicaSetList{} },
		HasSpec: true, HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			rs := obj.(*appsv1.ReplicaSet)
			if rs.Spec.Replicas == nil {
				one := int32(1)
				rs.Spec.Replicas = &one
			}
			defaultPodSpec(&rs.Spec.Template.Spec)
			rs.Status = appsv1.ReplicaSetStatus{}
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			rs := obj.(*appsv1.ReplicaSet)
			return b.validateWorkload(rs.Spec.Replicas, rs.Spec.Selector, &rs.Spec.Template, field.NewPath("spec"))
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			rs, o := obj.(*appsv1.ReplicaSet), old.(*appsv1.ReplicaSet)
			errs := b.validateWorkload(rs.Spec.Replicas, rs.Spec.Selector, &rs.Spec.Template, field.NewPath("spec"))
			return append(errs, immutableSelector(rs.Spec.Selector, o.Spec.Selector)...)
		},
		Scale: &registry.ScaleFuncs{
			Get: func(obj runtime.Object) (int32, int32, string) {
				rs := obj.(*appsv1.ReplicaSet)
				return deref(rs.Spec.Replicas), rs.Status.Replicas, selectorText(rs.Spec.Selector)
			},
			Set: func(obj runtime.Object, n int32) { obj.(*appsv1.ReplicaSet).Spec.Replicas = &n },
		},
		Columns: []metav1.TableColumnDefinition{
			col("Desired", "integer", "Number of desired pods."), col("Current", "integer", "Number of actually running pods."),
			col("Ready", "integer", "Number of ready pods."), ageColumn,
			wide("Containers", "string", ""), wide("Images", "string", ""), wide("Selector", "string", ""),
		},
		Row: func(obj runtime.Object) []any {
			rs := obj.(*appsv1.ReplicaSet)
			names, images := containerColumns(&rs.Spec.Template)
			return []any{int64(deref(rs.Spec.Replicas)), int64(rs.Status.Replicas), int64(rs.Status.ReadyReplicas), b.age(rs), names, images, selectorText(rs.Spec.Selector)}
		},
	}, "status", "scale")

	b.stored(&registry.Resource{
		Group: "apps", Version: "v1", Kind: "StatefulSet", Plural: "statefulsets", Singular: "statefulset", Namespaced: true,
		ShortNames: []string{"sts"}, Categories: []string{"all"},
		New: func() runtime.Object { return &appsv1.StatefulSet{} }, NewList: func() runtime.Object { return &appsv1.StatefulSetList{} },
		HasSpec: true, HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			s := obj.(*appsv1.StatefulSet)
			defaultStatefulSet(s)
			s.Status = appsv1.StatefulSetStatus{}
		},
		PrepareForUpdate: func(_ context.Context, obj, _ runtime.Object) { defaultStatefulSet(obj.(*appsv1.StatefulSet)) },
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			s := obj.(*appsv1.StatefulSet)
			return b.validateWorkload(s.Spec.Replicas, s.Spec.Selector, &s.Spec.Template, field.NewPath("spec"))
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			s, o := obj.(*appsv1.StatefulSet), old.(*appsv1.StatefulSet)
			errs := b.validateWorkload(s.Spec.Replicas, s.Spec.Selector, &s.Spec.Template, field.NewPath("spec"))
			return append(errs, immutableSelector(s.Spec.Selector, o.Spec.Selector)...)
		},
		Scale: &registry.ScaleFuncs{
			Get: func(obj runtime.Object) (int32, int32, string) {
				s := obj.(*appsv1.StatefulSet)
				return deref(s.Spec.Replicas), s.Status.Replicas, selectorText(s.Spec.Selector)
			},
			Set: func(obj runtime.Object, n int32) { obj.(*appsv1.StatefulSet).Spec.Replicas = &n },
		},
		Columns: []metav1.TableColumnDefinition{
			col("Ready", "string", "Number of the pod with ready state"), ageColumn,
			wide("Containers", "string", ""), wide("Images", "string", ""),
		},
		Row: func(obj runtime.Object) []any {
			s := obj.(*appsv1.StatefulSet)
			names, images := containerColumns(&s.Spec.Template)
			return []any{fmt.Sprintf("%d/%d", s.Status.ReadyReplicas, deref(s.Spec.Replicas)), b.age(s), names, images}
		},
	}, "status", "scale")
}

func deref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func selectorText(sel *metav1.LabelSelector) string {
	if sel == nil {
		return "<none>"
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return "<invalid>"
	}
	return s.String()
}

func containerColumns(t *corev1.PodTemplateSpec) (string, string) {
	var names, images []string
	for _, c := range t.Spec.Containers {
		names = append(names, c.Name)
		images = append(images, c.Image)
	}
	return strings.Join(names, ","), strings.Join(images, ",")
}

func defaultDeployment(d *appsv1.Deployment) {
	s := &d.Spec
	if s.Replicas == nil {
		one := int32(1)
		s.Replicas = &one
	}
	if s.Strategy.Type == "" {
		s.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if s.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if s.Strategy.RollingUpdate == nil {
			s.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		q := intstr.FromString("25%")
		if s.Strategy.RollingUpdate.MaxSurge == nil {
			s.Strategy.RollingUpdate.MaxSurge = &q
		}
		if s.Strategy.RollingUpdate.MaxUnavailable == nil {
			q2 := q
			s.Strategy.RollingUpdate.MaxUnavailable = &q2
		}
	}
	if s.RevisionHistoryLimit == nil {
		ten := int32(10)
		s.RevisionHistoryLimit = &ten
	}
	if s.ProgressDeadlineSeconds == nil {
		p := int32(600)
		s.ProgressDeadlineSeconds = &p
	}
	defaultPodSpec(&s.Template.Spec)
}

func defaultStatefulSet(st *appsv1.StatefulSet) {
	s := &st.Spec
	if s.Replicas == nil {
		one := int32(1)
		s.Replicas = &one
	}
	if s.PodManagementPolicy == "" {
		s.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	}
	if s.UpdateStrategy.Type == "" {
		s.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
	}
	if s.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && s.UpdateStrategy.RollingUpdate == nil {
		zero := int32(0)
		s.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: &zero}
	}
	if s.RevisionHistoryLimit == nil {
		ten := int32(10)
		s.RevisionHistoryLimit = &ten
	}
	defaultPodSpec(&s.Template.Spec)
}

// validateWorkload checks what every pod-template workload needs: replicas
// not negative, a selector that matches the template's labels, and a valid
// template.
func (b *builder) validateWorkload(replicas *int32, sel *metav1.LabelSelector, t *corev1.PodTemplateSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if replicas != nil && *replicas < 0 {
		errs = append(errs, field.Invalid(p.Child("replicas"), *replicas, "must be greater than or equal to 0"))
	}
	errs = append(errs, validateSelectorMatches(sel, t.Labels, p)...)
	errs = append(errs, b.validateTemplate(t, p.Child("template"))...)
	return errs
}

// validateSelectorMatches requires a non-empty selector that selects the
// template's labels.
func validateSelectorMatches(sel *metav1.LabelSelector, tmplLabels map[string]string, p *field.Path) field.ErrorList {
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return field.ErrorList{field.Required(p.Child("selector"), "")}
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return field.ErrorList{field.Invalid(p.Child("selector"), sel, err.Error())}
	}
	if !s.Matches(labels.Set(tmplLabels)) {
		return field.ErrorList{field.Invalid(p.Child("template", "metadata", "labels"), tmplLabels, "`selector` does not match template `labels`")}
	}
	return nil
}

func (b *builder) validateTemplate(t *corev1.PodTemplateSpec, p *field.Path) field.ErrorList {
	errs := validatePodSpec(&t.Spec, p.Child("spec"))
	if b.cfg.cci() {
		spec := t.Spec.DeepCopy()
		cci.DefaultPodResources(spec)
		errs = append(errs, cci.ValidatePod(spec, p.Child("spec"), b.cfg.Flavors)...)
	}
	return errs
}

func immutableSelector(sel, old *metav1.LabelSelector) field.ErrorList {
	return apivalidation.ValidateImmutableField(sel, old, field.NewPath("spec", "selector"))
}
