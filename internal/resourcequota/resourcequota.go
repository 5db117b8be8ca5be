// Package resourcequota is how Cella measures objects against
// ResourceQuotas: the resource names it tracks, what one object consumes,
// and the check of a charge against a quota's enforced limits, refused in
// Kubernetes' words. It holds no state and talks to nothing. The quota
// admission (internal/admission) charges with it and the quota controller
// (internal/controller/quota) recomputes with it, so the two always agree
// on what an object costs.
//
// Tracked names:
//
//   - count/<resource> (core group) and count/<resource>.<group>: one per
//     object, for every namespaced resource;
//   - the legacy counts pods, services, configmaps, secrets,
//     persistentvolumeclaims, replicationcontrollers and resourcequotas;
//   - services.loadbalancers (one per Service of type LoadBalancer) and
//     services.nodeports (one per port of a NodePort Service, or of a
//     LoadBalancer Service that allocates node ports);
//   - for pods, requests.cpu, requests.memory, limits.cpu, limits.memory,
//     and cpu and memory as the legacy names of the requests.
//
// Any other name in a quota (requests.storage, extended resources, ...) is
// not tracked: it is neither enforced nor given a status.used entry.
package resourcequota

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// countPrefix starts every object-count name.
const countPrefix = "count/"

var (
	podsResource     = schema.GroupResource{Resource: "pods"}
	servicesResource = schema.GroupResource{Resource: "services"}
)

// CountName is the object-count name of a resource: count/<resource> in the
// core group, count/<resource>.<group> otherwise.
func CountName(gr schema.GroupResource) corev1.ResourceName {
	if gr.Group == "" {
		return corev1.ResourceName(countPrefix + gr.Resource)
	}
	return corev1.ResourceName(countPrefix + gr.Resource + "." + gr.Group)
}

// legacyCount returns the legacy object-count name of a core resource.
func legacyCount(gr schema.GroupResource) (corev1.ResourceName, bool) {
	if gr.Group != "" {
		return "", false
	}
	switch n := corev1.ResourceName(gr.Resource); n {
	case corev1.ResourcePods, corev1.ResourceServices, corev1.ResourceConfigMaps, corev1.ResourceSecrets,
		corev1.ResourcePersistentVolumeClaims, corev1.ResourceReplicationControllers, corev1.ResourceQuotas:
		return n, true
	}
	return "", false
}

// computeNames are the compute names a pod is measured under.
var computeNames = []corev1.ResourceName{
	corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory,
	corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory,
	corev1.ResourceCPU, corev1.ResourceMemory,
}

// Source returns the resource whose objects a tracked name measures, and
// false for a name that is not tracked.
func Source(name corev1.ResourceName) (schema.GroupResource, bool) {
	s := string(name)
	if rest, ok := strings.CutPrefix(s, countPrefix); ok {
		res, group, _ := strings.Cut(rest, ".")
		if res == "" || strings.Contains(res, "/") {
			return schema.GroupResource{}, false
		}
		return schema.GroupResource{Group: group, Resource: res}, true
	}
	if slices.Contains(computeNames, name) {
		return podsResource, true
	}
	switch name {
	case corev1.ResourceServicesLoadBalancers, corev1.ResourceServicesNodePorts:
		return servicesResource, true
	}
	gr := schema.GroupResource{Resource: s}
	if _, ok := legacyCount(gr); ok {
		return gr, true
	}
	return schema.GroupResource{}, false
}

// Usage returns what obj, an object of resource gr, consumes: an entry for
// every tracked name it is measured under, zero or not. A pod that has
// finished (phase Succeeded or Failed) consumes nothing. obj may be the
// typed object or, for kinds measured only by count, its metadata.
func Usage(gr schema.GroupResource, obj runtime.Object) corev1.ResourceList {
	one := *resource.NewQuantity(1, resource.DecimalSI)
	u := corev1.ResourceList{CountName(gr): one}
	if n, ok := legacyCount(gr); ok {
		u[n] = one.DeepCopy()
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		if gr != podsResource {
			break
		}
		if o.Status.Phase == corev1.PodSucceeded || o.Status.Phase == corev1.PodFailed {
			return corev1.ResourceList{}
		}
		for n, q := range podCompute(&o.Spec) {
			u[n] = q
		}
	case *corev1.Service:
		if gr != servicesResource {
			break
		}
		var lbs, nodePorts int64
		switch o.Spec.Type {
		case corev1.ServiceTypeLoadBalancer:
			lbs = 1
			if o.Spec.AllocateLoadBalancerNodePorts == nil || *o.Spec.AllocateLoadBalancerNodePorts {
				nodePorts = int64(len(o.Spec.Ports))
			}
		case corev1.ServiceTypeNodePort:
			nodePorts = int64(len(o.Spec.Ports))
		}
		u[corev1.ResourceServicesLoadBalancers] = *resource.NewQuantity(lbs, resource.DecimalSI)
		u[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(nodePorts, resource.DecimalSI)
	}
	return u
}

// podCompute returns a pod's CPU and memory under each compute name, by
// Kubernetes' rule: per resource, the larger of what the app containers
// need together (with the sidecars: init containers with restartPolicy
// Always) and what the most demanding init container needs beside the
// sidecars started before it; plus spec.overhead. A container's request
// defaults to its limit, as Kubernetes' defaulting sets it. Pod-level
// resources, where set, replace the containers' sum.
func podCompute(spec *corev1.PodSpec) corev1.ResourceList {
	req := func(c *corev1.Container, n corev1.ResourceName) resource.Quantity {
		if q, ok := c.Resources.Requests[n]; ok {
			return q
		}
		return c.Resources.Limits[n]
	}
	lim := func(c *corev1.Container, n corev1.ResourceName) resource.Quantity { return c.Resources.Limits[n] }
	total := func(n corev1.ResourceName, of func(*corev1.Container, corev1.ResourceName) resource.Quantity, podLevel corev1.ResourceList) resource.Quantity {
		var app, sidecars, initPeak resource.Quantity
		for i := range spec.InitContainers {
			c := &spec.InitContainers[i]
			q := of(c, n)
			if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				sidecars.Add(q)
				continue
			}
			need := sidecars.DeepCopy()
			need.Add(q)
			if need.Cmp(initPeak) > 0 {
				initPeak = need
			}
		}
		for i := range spec.Containers {
			app.Add(of(&spec.Containers[i], n))
		}
		app.Add(sidecars)
		if q, ok := podLevel[n]; ok {
			app = q.DeepCopy()
		}
		if initPeak.Cmp(app) > 0 {
			app = initPeak
		}
		if q, ok := spec.Overhead[n]; ok {
			app.Add(q)
		}
		return app
	}
	var podReq, podLim corev1.ResourceList
	if spec.Resources != nil {
		podReq, podLim = spec.Resources.Requests, spec.Resources.Limits
		if podReq == nil {
			podReq = podLim
		}
	}
	cpuReq, memReq := total(corev1.ResourceCPU, req, podReq), total(corev1.ResourceMemory, req, podReq)
	return corev1.ResourceList{
		corev1.ResourceRequestsCPU:    cpuReq,
		corev1.ResourceRequestsMemory: memReq,
		corev1.ResourceCPU:            cpuReq.DeepCopy(),
		corev1.ResourceMemory:         memReq.DeepCopy(),
		corev1.ResourceLimitsCPU:      total(corev1.ResourceCPU, lim, podLim),
		corev1.ResourceLimitsMemory:   total(corev1.ResourceMemory, lim, podLim),
	}
}

// NonZero returns the entries of l that are not zero: what a create
// actually asks of a quota. A name an object does not consume is not
// checked, so a full quota on one resource does not block objects that do
// not use it.
func NonZero(l corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for n, q := range l {
		if !q.IsZero() {
			out[n] = q
		}
	}
	return out
}

// Covers reports whether q enforces a limit (status.hard) on any name in
// delta.
func Covers(q *corev1.ResourceQuota, delta corev1.ResourceList) bool {
	for n := range delta {
		if _, ok := q.Status.Hard[n]; ok {
			return true
		}
	}
	return false
}

// Charge checks delta against q's enforced limits (status.hard) and
// returns status.used with delta added for every name q limits. It fails,
// with an error worded as Kubernetes' quota admission words it, when q has
// no usage yet for such a name ("status unknown": the quota controller has
// not counted it yet) or when the new usage would exceed the limit on any
// of them ("exceeded quota"). q is not modified.
func Charge(q *corev1.ResourceQuota, delta corev1.ResourceList) (corev1.ResourceList, error) {
	var unknown []string
	requested, used, limited := corev1.ResourceList{}, corev1.ResourceList{}, corev1.ResourceList{}
	next := q.Status.Used.DeepCopy()
	if next == nil {
		next = corev1.ResourceList{}
	}
	for n, d := range delta {
		hard, limits := q.Status.Hard[n]
		if !limits {
			continue
		}
		cur, known := q.Status.Used[n]
		if !known {
			unknown = append(unknown, string(n))
			continue
		}
		sum := cur.DeepCopy()
		sum.Add(d)
		if sum.Cmp(hard) > 0 {
			requested[n], used[n], limited[n] = d, cur, hard
		}
		next[n] = sum
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, fmt.Errorf("status unknown for quota: %s, resource: %s", q.Name, strings.Join(unknown, ","))
	}
	if len(requested) > 0 {
		return nil, fmt.Errorf("exceeded quota: %s, requested: %s, used: %s, limited: %s",
			q.Name, format(requested), format(used), format(limited))
	}
	return next, nil
}

// Release returns used with delta taken off every name used has, never
// below zero: the undo of a Charge whose object was not written.
func Release(used, delta corev1.ResourceList) corev1.ResourceList {
	out := used.DeepCopy()
	for n, d := range delta {
		cur, ok := out[n]
		if !ok {
			continue
		}
		cur.Sub(d)
		if cur.Sign() < 0 {
			cur = *resource.NewQuantity(0, cur.Format)
		}
		out[n] = cur
	}
	return out
}

// format renders a resource list as Kubernetes does in quota errors:
// name=quantity pairs sorted by name, joined by commas.
func format(l corev1.ResourceList) string {
	names := make([]string, 0, len(l))
	for n := range l {
		names = append(names, string(n))
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, n := range names {
		q := l[corev1.ResourceName(n)]
		parts[i] = n + "=" + q.String()
	}
	return strings.Join(parts, ",")
}
