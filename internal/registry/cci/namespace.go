package cci

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// FlavorAnnotation names the kind of instances a namespace's pods run on.
const FlavorAnnotation = "namespace.kubernetes.io/flavor"

// The flavors a namespace may have.
const (
	FlavorGeneralComputing = "general-computing"
	FlavorGPUAccelerated   = "gpu-accelerated"
)

// ValidateNamespace checks that a namespace carries FlavorAnnotation with a
// supported flavor.
func ValidateNamespace(ns *corev1.Namespace) field.ErrorList {
	path := field.NewPath("metadata", "annotations").Key(FlavorAnnotation)
	flavor, ok := ns.Annotations[FlavorAnnotation]
	switch {
	case !ok:
		return field.ErrorList{field.Required(path, "must be "+FlavorGeneralComputing+" or "+FlavorGPUAccelerated)}
	case flavor != FlavorGeneralComputing && flavor != FlavorGPUAccelerated:
		return field.ErrorList{field.NotSupported(path, flavor, []string{FlavorGeneralComputing, FlavorGPUAccelerated})}
	}
	return nil
}
