package cci

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// sized returns the resources every container must set, with requests
// equal to limits; the pod totals are indexed the same way.
func sized() [2]corev1.ResourceName {
	return [2]corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}
}

// DefaultPodResources sets each container's CPU and memory requests, where
// unset, to its limits: on CCI a container gets exactly what it is limited
// to. It covers app and init containers.
func DefaultPodResources(spec *corev1.PodSpec) {
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range list {
			r := &list[i].Resources
			for _, name := range sized() {
				lim, ok := r.Limits[name]
				if _, set := r.Requests[name]; !ok || set {
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

// ValidatePodTemplate checks the pod spec of a workload's template (a
// Deployment's, StatefulSet's, ReplicaSet's or Job's spec.template, a
// CronJob's spec.jobTemplate.spec.template, a Volcano task's template) with
// ValidatePod; path is the template's.
func ValidatePodTemplate(t *corev1.PodTemplateSpec, path *field.Path, f Flavors) field.ErrorList {
	return ValidatePod(&t.Spec, path.Child("spec"), f)
}

// ValidatePod checks a pod spec against CCI's rules; path is the spec's
// (spec for a Pod). Run DefaultPodResources first.
//
//   - no nodeName (Cella binds pods), hostNetwork, hostPath volumes,
//     privileged containers or pod-level resources;
//   - every app and init container sets CPU and memory limits, with
//     requests equal to them, each within f's container bounds;
//   - at most f.MaxContainers app containers;
//   - the pod total, the larger of what its app containers need together
//     and what its largest init container needs, within f's pod bounds
//     (init containers with restartPolicy Always are sidecars and count
//     with the app containers, as Kubernetes counts them).
//
// ValidatePod checks a spec as a user submits it. Cella itself sets
// nodeName when it binds the pod, so an update should be checked against
// the spec the user submitted, not the bound one.
func ValidatePod(spec *corev1.PodSpec, path *field.Path, f Flavors) field.ErrorList {
	var errs field.ErrorList
	if spec.NodeName != "" {
		errs = append(errs, field.Forbidden(path.Child("nodeName"), "Cella chooses where a pod runs; leave nodeName unset"))
	}
	if spec.HostNetwork {
		errs = append(errs, field.Forbidden(path.Child("hostNetwork"), "host networking is not supported; pods take addresses from the namespace's Network"))
	}
	for i, v := range spec.Volumes {
		if v.HostPath != nil {
			errs = append(errs, field.Forbidden(path.Child("volumes").Index(i).Child("hostPath"),
				"hostPath volumes are not supported; use emptyDir, configMap, secret, projected or persistentVolumeClaim"))
		}
	}
	if spec.Resources != nil {
		errs = append(errs, field.Forbidden(path.Child("resources"), "pod-level resources are not supported; set resources on each container"))
	}
	if n := len(spec.Containers); n > f.MaxContainers {
		errs = append(errs, field.TooMany(path.Child("containers"), n, f.MaxContainers))
	}

	complete := true // every container has a CPU and a memory limit
	var app, sidecars, initPeak [2]resource.Quantity
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		lim, ok, cerrs := validateContainer(c, path.Child("initContainers").Index(i), f)
		errs, complete = append(errs, cerrs...), complete && ok
		if !ok {
			continue
		}
		for r := range lim {
			if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				sidecars[r].Add(lim[r])
				continue
			}
			// A regular init container runs beside the sidecars started before it.
			need := sidecars[r].DeepCopy()
			need.Add(lim[r])
			if need.Cmp(initPeak[r]) > 0 {
				initPeak[r] = need
			}
		}
	}
	for i := range spec.Containers {
		lim, ok, cerrs := validateContainer(&spec.Containers[i], path.Child("containers").Index(i), f)
		errs, complete = append(errs, cerrs...), complete && ok
		for r := range lim {
			app[r].Add(lim[r])
		}
	}
	for i, c := range spec.EphemeralContainers {
		if privileged(c.SecurityContext) {
			errs = append(errs, forbidPrivileged(path.Child("ephemeralContainers").Index(i)))
		}
	}
	if !complete || len(spec.Containers) == 0 {
		return errs // a total of some containers would mislead
	}

	var total [2]resource.Quantity
	for r := range total {
		total[r] = app[r].DeepCopy()
		total[r].Add(sidecars[r])
		if initPeak[r].Cmp(total[r]) > 0 {
			total[r] = initPeak[r]
		}
	}
	return append(errs, validatePodTotal(total[0], total[1], path, f)...)
}

// validateContainer checks one container and returns its CPU and memory
// limits, and whether it has both.
func validateContainer(c *corev1.Container, path *field.Path, f Flavors) (lim [2]resource.Quantity, ok bool, errs field.ErrorList) {
	if privileged(c.SecurityContext) {
		errs = append(errs, forbidPrivileged(path))
	}
	ok = true
	res := path.Child("resources")
	for i, name := range sized() {
		limPath := res.Child("limits").Key(string(name))
		q, has := c.Resources.Limits[name]
		if !has {
			errs = append(errs, field.Required(limPath, fmt.Sprintf("every container must set %s limits (and equal requests)", name)))
			ok = false
			continue
		}
		lim[i] = q
		reqPath := res.Child("requests").Key(string(name))
		if req, has := c.Resources.Requests[name]; !has {
			errs = append(errs, field.Required(reqPath, fmt.Sprintf("must equal resources.limits[%s] (%s)", name, q.String())))
		} else if req.Cmp(q) != 0 {
			errs = append(errs, field.Invalid(reqPath, req.String(), fmt.Sprintf("must equal resources.limits[%s] (%s)", name, q.String())))
		}
		switch name {
		case corev1.ResourceCPU:
			if q.Cmp(f.MinContainerCPU) < 0 || !multipleOf(q, f.CPUStep, true) {
				errs = append(errs, field.Invalid(limPath, q.String(), fmt.Sprintf(
					"must be a multiple of %s cores and at least %s cores", cores(f.CPUStep), cores(f.MinContainerCPU))))
			}
		case corev1.ResourceMemory:
			if q.Cmp(f.MinContainerMemory) < 0 {
				errs = append(errs, field.Invalid(limPath, q.String(), "must be at least "+gi(f.MinContainerMemory)))
			}
		}
	}
	return lim, ok, errs
}

// validatePodTotal checks a pod's total CPU and memory. Errors go to the
// [*] wildcard paths of the containers' limits.
func validatePodTotal(cpu, mem resource.Quantity, path *field.Path, f Flavors) field.ErrorList {
	var errs field.ErrorList
	limits := path.Child("containers").Key("*").Child("resources", "limits")
	const sum = "the larger of the containers' sum and the largest init container"

	cpuOK := f.podCPUAllowed(cpu)
	if !cpuOK {
		errs = append(errs, field.Invalid(limits.Key("cpu"), cpu.String(), fmt.Sprintf(
			"pod total CPU (%s) must be %s", sum, f.podCPURange())))
	}
	memOK := mem.Cmp(f.MinPodMemory) >= 0 && mem.Cmp(f.MaxPodMemory) <= 0 && multipleOf(mem, f.PodMemoryStep, false)
	if !memOK {
		errs = append(errs, field.Invalid(limits.Key("memory"), mem.String(), fmt.Sprintf(
			"pod total memory (%s) must be a multiple of %s from %s to %s", sum, gi(f.PodMemoryStep), gi(f.MinPodMemory), gi(f.MaxPodMemory))))
	}
	if !cpuOK || !memOK {
		return errs
	}
	// Compare in bytes x millicores, exact and far from overflow for any
	// total that passed the checks above.
	milli := cpu.MilliValue()
	lo, hi := f.MinMemoryPerCore.Value()*milli, f.MaxMemoryPerCore.Value()*milli
	if m := mem.Value() * 1000; m < lo || m > hi {
		errs = append(errs, field.Invalid(limits.Key("memory"), mem.String(), fmt.Sprintf(
			"pod total memory for %s cores must be %s to %s per core: %s to %s",
			cores(cpu), gi(f.MinMemoryPerCore), gi(f.MaxMemoryPerCore),
			gi(*resource.NewQuantity(lo/1000, resource.BinarySI)), gi(*resource.NewQuantity(hi/1000, resource.BinarySI)))))
	}
	return errs
}

func privileged(sc *corev1.SecurityContext) bool {
	return sc != nil && sc.Privileged != nil && *sc.Privileged
}

func forbidPrivileged(container *field.Path) *field.Error {
	return field.Forbidden(container.Child("securityContext", "privileged"), "privileged containers are not supported")
}
