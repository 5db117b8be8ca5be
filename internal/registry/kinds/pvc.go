package kinds

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validatePVCUpdate checks an update of a PersistentVolumeClaim as
// kube-apiserver does: the spec is checked as on create, and it cannot
// change, except that volumeName may be set once, and a bound claim may
// change resources.requests (growing its storage, never shrinking it) and
// volumeAttributesClassName. Kubernetes appends a diff of the two specs to
// the message; Cella names the rule only.
func validatePVCUpdate(validate func(context.Context, runtime.Object) field.ErrorList) func(context.Context, runtime.Object, runtime.Object) field.ErrorList {
	return func(ctx context.Context, obj, old runtime.Object) field.ErrorList {
		pvc, o := obj.(*corev1.PersistentVolumeClaim), old.(*corev1.PersistentVolumeClaim)
		errs := validate(ctx, obj)
		spec, oldSpec := pvc.Spec.DeepCopy(), o.Spec.DeepCopy()
		if oldSpec.VolumeName == "" {
			oldSpec.VolumeName = spec.VolumeName
		}
		if o.Status.Phase == corev1.ClaimBound {
			oldSpec.Resources.Requests = spec.Resources.Requests
			oldSpec.VolumeAttributesClassName = spec.VolumeAttributesClassName
			oldSize, newSize := o.Spec.Resources.Requests[corev1.ResourceStorage], pvc.Spec.Resources.Requests[corev1.ResourceStorage]
			if newSize.Cmp(oldSize) < 0 {
				errs = append(errs, field.Forbidden(field.NewPath("spec", "resources", "requests", "storage"), "field can not be less than previous value"))
			}
		}
		if !equality.Semantic.DeepEqual(spec, oldSpec) {
			errs = append(errs, field.Forbidden(field.NewPath("spec"), "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"))
		}
		return errs
	}
}

// validatePVC checks a claim's spec: at least one access mode and a
// storage request.
func validatePVC(_ context.Context, obj runtime.Object) field.ErrorList {
	pvc := obj.(*corev1.PersistentVolumeClaim)
	var errs field.ErrorList
	if len(pvc.Spec.AccessModes) == 0 {
		errs = append(errs, field.Required(field.NewPath("spec", "accessModes"), "at least 1 access mode is required"))
	}
	if _, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		errs = append(errs, field.Required(field.NewPath("spec", "resources", "requests", "storage"), ""))
	}
	return errs
}
