package kinds

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// defaultLimitRange fills a LimitRange's Container limits as Kubernetes'
// defaulting does (SetDefaults_LimitRangeItem): a missing default limit is
// the max, a missing default request is the default limit, else the min.
func defaultLimitRange(lr *corev1.LimitRange) {
	for i := range lr.Spec.Limits {
		it := &lr.Spec.Limits[i]
		if it.Type != corev1.LimitTypeContainer {
			continue
		}
		if it.Default == nil {
			it.Default = corev1.ResourceList{}
		}
		if it.DefaultRequest == nil {
			it.DefaultRequest = corev1.ResourceList{}
		}
		for name, q := range it.Max {
			if _, ok := it.Default[name]; !ok {
				it.Default[name] = q.DeepCopy()
			}
		}
		for name, q := range it.Default {
			if _, ok := it.DefaultRequest[name]; !ok {
				it.DefaultRequest[name] = q.DeepCopy()
			}
		}
		for name, q := range it.Min {
			if _, ok := it.DefaultRequest[name]; !ok {
				it.DefaultRequest[name] = q.DeepCopy()
			}
		}
	}
}

// validateLimitRange checks a LimitRange as Kubernetes does
// (ValidateLimitRange): known or qualified types, each once; no defaults
// for type Pod; quantities not negative; and for each resource
// min <= defaultRequest <= default <= max and 1 <= maxLimitRequestRatio
// <= max/min.
func validateLimitRange(lr *corev1.LimitRange) field.ErrorList {
	var errs field.ErrorList
	fp := field.NewPath("spec", "limits")
	seen := map[corev1.LimitType]bool{}
	for i, it := range lr.Spec.Limits {
		ip := fp.Index(i)
		switch it.Type {
		case "":
			errs = append(errs, field.Required(ip.Child("type"), ""))
		case corev1.LimitTypeContainer, corev1.LimitTypePod, corev1.LimitTypePersistentVolumeClaim:
		default:
			for _, msg := range validation.IsQualifiedName(string(it.Type)) {
				errs = append(errs, field.Invalid(ip.Child("type"), it.Type, msg))
			}
		}
		if seen[it.Type] {
			errs = append(errs, field.Duplicate(ip.Child("type"), it.Type))
		}
		seen[it.Type] = true
		if it.Type == corev1.LimitTypePod {
			if len(it.Default) > 0 {
				errs = append(errs, field.Forbidden(ip.Child("default"), "may not be specified when `type` is 'Pod'"))
			}
			if len(it.DefaultRequest) > 0 {
				errs = append(errs, field.Forbidden(ip.Child("defaultRequest"), "may not be specified when `type` is 'Pod'"))
			}
		}
		keys := map[corev1.ResourceName]bool{}
		for _, l := range []struct {
			name string
			list corev1.ResourceList
		}{{"max", it.Max}, {"min", it.Min}, {"default", it.Default}, {"defaultRequest", it.DefaultRequest}, {"maxLimitRequestRatio", it.MaxLimitRequestRatio}} {
			for name, q := range l.list {
				keys[name] = true
				if q.Sign() < 0 {
					errs = append(errs, field.Invalid(ip.Child(l.name).Key(string(name)), q.String(), "must be greater than or equal to 0"))
				}
			}
		}
		for k := range keys {
			max, hasMax := it.Max[k]
			min, hasMin := it.Min[k]
			def, hasDef := it.Default[k]
			defReq, hasDefReq := it.DefaultRequest[k]
			ratio, hasRatio := it.MaxLimitRequestRatio[k]
			key := string(k)
			if hasMin && hasMax && min.Cmp(max) > 0 {
				errs = append(errs, field.Invalid(ip.Child("min").Key(key), min.String(), fmt.Sprintf("min value %s is greater than max value %s", min.String(), max.String())))
			}
			if hasDefReq && hasMin && min.Cmp(defReq) > 0 {
				errs = append(errs, field.Invalid(ip.Child("defaultRequest").Key(key), defReq.String(), fmt.Sprintf("min value %s is greater than default request value %s", min.String(), defReq.String())))
			}
			if hasDefReq && hasMax && defReq.Cmp(max) > 0 {
				errs = append(errs, field.Invalid(ip.Child("defaultRequest").Key(key), defReq.String(), fmt.Sprintf("default request value %s is greater than max value %s", defReq.String(), max.String())))
			}
			if hasDefReq && hasDef && defReq.Cmp(def) > 0 {
				errs = append(errs, field.Invalid(ip.Child("defaultRequest").Key(key), defReq.String(), fmt.Sprintf("default request value %s is greater than default limit value %s", defReq.String(), def.String())))
			}
			if hasDef && hasMin && min.Cmp(def) > 0 {
				errs = append(errs, field.Invalid(ip.Child("default").Key(key), min.String(), fmt.Sprintf("min value %s is greater than default value %s", min.String(), def.String())))
			}
			if hasDef && hasMax && def.Cmp(max) > 0 {
				errs = append(errs, field.Invalid(ip.Child("default").Key(key), max.String(), fmt.Sprintf("default value %s is greater than max value %s", def.String(), max.String())))
			}
			if hasRatio && ratio.Cmp(*resource.NewQuantity(1, resource.DecimalSI)) < 0 {
				errs = append(errs, field.Invalid(ip.Child("maxLimitRequestRatio").Key(key), ratio.String(), fmt.Sprintf("ratio %s is less than 1", ratio.String())))
			}
			if hasRatio && hasMin && hasMax && min.Sign() > 0 {
				limit := float64(max.MilliValue()) / float64(min.MilliValue())
				if float64(ratio.MilliValue())/1000 > limit {
					errs = append(errs, field.Invalid(ip.Child("maxLimitRequestRatio").Key(key), ratio.String(), fmt.Sprintf("ratio %s is greater than max/min = %f", ratio.String(), limit)))
				}
			}
		}
	}
	return errs
}
