package kinds

import (
	"context"
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"cella.dev/cella/internal/registry"
)

// nodes serves core/v1 nodes as Kubernetes does: cluster-scoped, with a
// status subresource that the node agent writes, status kept on create
// (an agent registers its Node with its status), and kubectl's columns.
func (b *builder) nodes() {
	b.stored(&registry.Resource{
		Version: "v1", Kind: "Node", Plural: "nodes", Singular: "node", ShortNames: []string{"no"},
		New: func() runtime.Object { return &corev1.Node{} }, NewList: func() runtime.Object { return &corev1.NodeList{} },
		HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			syncPodCIDRs(&obj.(*corev1.Node).Spec)
		},
		PrepareForUpdate: func(_ context.Context, obj, _ runtime.Object) {
			syncPodCIDRs(&obj.(*corev1.Node).Spec)
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return validateNode(obj.(*corev1.Node))
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			return validateNodeUpdate(obj.(*corev1.Node), old.(*corev1.Node))
		},
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"spec.unschedulable": strconv.FormatBool(obj.(*corev1.Node).Spec.Unschedulable)}
		},
		Columns: []metav1.TableColumnDefinition{
			col("Status", "string", "The status of the node"),
			col("Roles", "string", "The roles of the node"),
			ageColumn,
			col("Version", "string", "Kubelet Version reported by the node."),
			wide("Internal-IP", "string", "List of addresses reachable to the node."),
			wide("External-IP", "string", "List of addresses reachable to the node."),
			wide("OS-Image", "string", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
			wide("Kernel-Version", "string", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
			wide("Container-Runtime", "string", "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2)."),
		},
		Row: func(obj runtime.Object) []any {
			n := obj.(*corev1.Node)
			info := n.Status.NodeInfo
			return []any{nodeStatus(n), orNone(strings.Join(nodeRoles(n), ",")), b.age(n), info.KubeletVersion,
				nodeAddress(n, corev1.NodeInternalIP), nodeAddress(n, corev1.NodeExternalIP),
				orUnknown(info.OSImage), orUnknown(info.KernelVersion), orUnknown(info.ContainerRuntimeVersion)}
		},
	}, "status")
}

// nodeStatus is the STATUS cell kubectl shows: Ready or NotReady from the
// Ready condition, Unknown without one, then SchedulingDisabled for a
// cordoned node.
func nodeStatus(n *corev1.Node) string {
	var status []string
	for _, c := range n.Status.Conditions {
		if c.Type != corev1.NodeReady {
			continue
		}
		if c.Status == corev1.ConditionTrue {
			status = append(status, "Ready")
		} else {
			status = append(status, "NotReady")
		}
		break
	}
	if len(status) == 0 {
		status = append(status, "Unknown")
	}
	if n.Spec.Unschedulable {
		status = append(status, "SchedulingDisabled")
	}
	return strings.Join(status, ",")
}

// nodeRoles are a node's roles, sorted, as kubectl finds them: the names
// of its node-role.kubernetes.io/<role> labels and the value of a
// kubernetes.io/role label.
func nodeRoles(n *corev1.Node) []string {
	seen := map[string]bool{}
	for k, v := range n.Labels {
		switch {
		case strings.HasPrefix(k, "node-role.kubernetes.io/"):
			if role := strings.TrimPrefix(k, "node-role.kubernetes.io/"); role != "" {
				seen[role] = true
			}
		case k == "kubernetes.io/role" && v != "":
			seen[v] = true
		}
	}
	roles := make([]string, 0, len(seen))
	for r := range seen {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	return roles
}

// nodeAddress is the first address of type t, or <none>.
func nodeAddress(n *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range n.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

// syncPodCIDRs keeps spec.podCIDR and spec.podCIDRs in step as Kubernetes'
// conversion does: podCIDRs wins, podCIDR is its first entry, and a
// podCIDR alone becomes podCIDRs.
func syncPodCIDRs(s *corev1.NodeSpec) {
	switch {
	case len(s.PodCIDRs) > 0:
		s.PodCIDR = s.PodCIDRs[0]
	case s.PodCIDR != "":
		s.PodCIDRs = []string{s.PodCIDR}
	}
}

// validateNode checks a Node as Kubernetes does (ValidateNode); the name,
// a DNS subdomain, is the registry's default rule.
func validateNode(n *corev1.Node) field.ErrorList {
	// Kubernetes reports taint errors under metadata.taints, not
	// spec.taints; clients that match on the path expect it there.
	errs := validateTaints(n.Spec.Taints, field.NewPath("metadata", "taints"))
	errs = append(errs, validateNodeResources(n)...)
	return append(errs, validatePodCIDRs(n.Spec.PodCIDRs, field.NewPath("spec", "podCIDRs"))...)
}

// validateNodeUpdate checks a Node update as Kubernetes does
// (ValidateNodeUpdate): podCIDRs and providerID may be set once and never
// changed; unschedulable, taints, status and metadata may change.
func validateNodeUpdate(n, old *corev1.Node) field.ErrorList {
	errs := validateNode(n)
	seen := map[corev1.NodeAddress]bool{}
	for i, a := range n.Status.Addresses {
		if seen[a] {
			errs = append(errs, field.Duplicate(field.NewPath("status", "addresses").Index(i), a))
		}
		seen[a] = true
	}
	if len(old.Spec.PodCIDRs) > 0 && strings.Join(old.Spec.PodCIDRs, ",") != strings.Join(n.Spec.PodCIDRs, ",") {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "podCIDRs"), `node updates may not change podCIDR except from "" to valid`))
	}
	if old.Spec.ProviderID != "" && old.Spec.ProviderID != n.Spec.ProviderID {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "providerID"), `node updates may not change providerID except from "" to valid`))
	}
	if n.Spec.DoNotUseExternalID != old.Spec.DoNotUseExternalID {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "externalID"), "may not be updated"))
	}
	return errs
}

// validateTaints checks taints: a label-name key, a label-value value, one
// of the three effects, and no two with the same key and effect.
func validateTaints(taints []corev1.Taint, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	type keyEffect struct {
		key    string
		effect corev1.TaintEffect
	}
	seen := map[keyEffect]bool{}
	for i, t := range taints {
		ip := p.Index(i)
		errs = append(errs, metav1validation.ValidateLabelName(t.Key, ip.Child("key"))...)
		if msgs := validation.IsValidLabelValue(t.Value); len(msgs) > 0 {
			errs = append(errs, field.Invalid(ip.Child("value"), t.Value, strings.Join(msgs, ";")))
		}
		switch t.Effect {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		case "":
			errs = append(errs, field.Required(ip.Child("effect"), ""))
		default:
			errs = append(errs, field.NotSupported(ip.Child("effect"), t.Effect,
				[]corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute}))
		}
		ke := keyEffect{t.Key, t.Effect}
		if seen[ke] {
			d := field.Duplicate(ip, t)
			d.Detail = "taints must be unique by key and effect pair"
			errs = append(errs, d)
		}
		seen[ke] = true
	}
	return errs
}

// validateNodeResources checks capacity and allocatable: no negative
// quantity, and whole numbers for pods and extended resources.
func validateNodeResources(n *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	check := func(list corev1.ResourceList, p *field.Path) {
		for name, q := range list {
			rp := p.Key(string(name))
			if q.Sign() < 0 {
				errs = append(errs, field.Invalid(rp, q.String(), "must be greater than or equal to 0"))
			}
			if integerResource(name) && q.MilliValue()%1000 != 0 {
				errs = append(errs, field.Invalid(rp, q.String(), "must be an integer"))
			}
		}
	}
	check(n.Status.Capacity, field.NewPath("status", "capacity"))
	check(n.Status.Allocatable, field.NewPath("status", "allocatable"))
	return errs
}

// integerResource reports resources counted in whole units: pods and
// extended resources (a domain outside kubernetes.io, such as
// nvidia.com/gpu).
func integerResource(name corev1.ResourceName) bool {
	s := string(name)
	if s == string(corev1.ResourcePods) {
		return true
	}
	domain, _, ok := strings.Cut(s, "/")
	return ok && domain != "kubernetes.io" && !strings.HasSuffix(domain, ".kubernetes.io") && !strings.HasPrefix(s, "requests.")
}

// validatePodCIDRs checks spec.podCIDRs: valid CIDRs, and with two, one
// of each IP family and no repeat.
func validatePodCIDRs(cidrs []string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	v4 := 0
	for i, c := range cidrs {
		errs = append(errs, validation.IsValidCIDR(p.Index(i), c)...)
		if ip, _, err := net.ParseCIDR(c); err == nil && ip.To4() != nil {
			v4++
		}
	}
	if len(errs) > 0 || len(cidrs) < 2 {
		return errs
	}
	if len(cidrs) > 2 || v4 != 1 {
		errs = append(errs, field.Invalid(p, cidrs, "may specify no more than one CIDR for each IP family"))
	}
	if cidrs[0] == cidrs[1] {
		errs = append(errs, field.Duplicate(p.Index(1), cidrs[1]))
	}
	return errs
}
