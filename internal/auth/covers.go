package auth

import (
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// Covers reports whether the owner rules allow everything the servant rules
// allow, as Kubernetes decides it before letting a user grant rules. Each
// servant rule is broken down into atomic rules (one verb, one API group,
// one resource and at most one resource name; or one verb and one
// non-resource URL), and each atomic rule must be covered by a single owner
// rule. missing lists the atomic rules that are not, in servant order.
//
// An owner rule covers an atomic rule when every list agrees:
//
//   - verbs: the owner lists "*" or the verb;
//   - API groups: the owner lists "*" or the group;
//   - resources: the owner lists "*" or the resource, or, for
//     "resource/subresource", "*/subresource";
//   - resource names: the owner lists none, or lists the one the atomic
//     rule names (an owner limited to names never covers a rule without);
//   - non-resource URLs: the owner lists the URL, or a prefix of it followed
//     by "*" ("*" alone covers every URL).
//
// Lists the atomic rule does not have (API groups and resources of a URL
// rule, URLs of a resource rule) agree with anything. A wildcard in the
// servant is taken literally: only "*" covers "*", and only "*" or
// "*/scale" covers "*/scale".
func Covers(owner, servant []rbacv1.PolicyRule) (covered bool, missing []rbacv1.PolicyRule) {
	for _, s := range servant {
		for _, atom := range breakDown(&s) {
			if !slices.ContainsFunc(owner, func(o rbacv1.PolicyRule) bool { return ruleCovers(&o, &atom) }) {
				missing = append(missing, atom)
			}
		}
	}
	return len(missing) == 0, missing
}

// breakDown splits r into atomic rules. A rule with API groups but no
// resources (or the reverse) has none: it grants nothing.
func breakDown(r *rbacv1.PolicyRule) []rbacv1.PolicyRule {
	var atoms []rbacv1.PolicyRule
	for _, g := range r.APIGroups {
		for _, res := range r.Resources {
			for _, v := range r.Verbs {
				if len(r.ResourceNames) == 0 {
					atoms = append(atoms, rbacv1.PolicyRule{Verbs: []string{v}, APIGroups: []string{g}, Resources: []string{res}})
					continue
				}
				for _, n := range r.ResourceNames {
					atoms = append(atoms, rbacv1.PolicyRule{Verbs: []string{v}, APIGroups: []string{g}, Resources: []string{res}, ResourceNames: []string{n}})
				}
			}
		}
	}
	for _, u := range r.NonResourceURLs {
		for _, v := range r.Verbs {
			atoms = append(atoms, rbacv1.PolicyRule{Verbs: []string{v}, NonResourceURLs: []string{u}})
		}
	}
	return atoms
}

// ruleCovers reports whether owner covers atom, an atomic rule from
// breakDown (each of its lists holds at most one item).
func ruleCovers(owner, atom *rbacv1.PolicyRule) bool {
	for _, v := range atom.Verbs {
		if !slices.Contains(owner.Verbs, rbacv1.VerbAll) && !slices.Contains(owner.Verbs, v) {
			return false
		}
	}
	for _, g := range atom.APIGroups {
		if !slices.Contains(owner.APIGroups, rbacv1.APIGroupAll) && !slices.Contains(owner.APIGroups, g) {
			return false
		}
	}
	for _, res := range atom.Resources {
		if !resourceCovered(owner.Resources, res) {
			return false
		}
	}
	if len(owner.ResourceNames) > 0 {
		if len(atom.ResourceNames) == 0 {
			return false
		}
		for _, n := range atom.ResourceNames {
			if !slices.Contains(owner.ResourceNames, n) {
				return false
			}
		}
	}
	for _, u := range atom.NonResourceURLs {
		if !slices.ContainsFunc(owner.NonResourceURLs, func(o string) bool { return urlCovered(o, u) }) {
			return false
		}
	}
	return true
}

// resourceCovered reports whether owned (a rule's resources) covers
// resource: "*", the same name, or "*/sub" for "anything/sub".
func resourceCovered(owned []string, resource string) bool {
	if slices.Contains(owned, rbacv1.ResourceAll) || slices.Contains(owned, resource) {
		return true
	}
	_, sub, ok := strings.Cut(resource, "/")
	return ok && slices.Contains(owned, "*/"+sub)
}

// urlCovered reports whether the owner's non-resource URL covers url: the
// same path, or a path that starts with what precedes the owner's trailing
// stars.
func urlCovered(owner, url string) bool {
	if owner == url {
		return true
	}
	return strings.HasSuffix(owner, "*") && strings.HasPrefix(url, strings.TrimRight(owner, "*"))
}

// describeRules words rules for an escalation refusal as kube-apiserver
// does: rules on one group and resource (and at most one name) that differ
// only in verbs are merged, each rule is written in the compact form
// {APIGroups:["apps"], Resources:["deployments"], Verbs:["create" "delete"]},
// and the lines are sorted, without duplicates.
func describeRules(rules []rbacv1.PolicyRule) string {
	type simple struct{ group, resource, name string }
	merged := map[simple]int{} // index in out
	var out []rbacv1.PolicyRule
	for _, r := range rules {
		if len(r.APIGroups) != 1 || len(r.Resources) != 1 || len(r.ResourceNames) > 1 || len(r.NonResourceURLs) > 0 {
			out = append(out, r)
			continue
		}
		k := simple{group: r.APIGroups[0], resource: r.Resources[0]}
		if len(r.ResourceNames) == 1 {
			k.name = "/" + r.ResourceNames[0] // "/" keeps "no name" apart from ""
		}
		if i, ok := merged[k]; ok {
			out[i].Verbs = append(out[i].Verbs, r.Verbs...)
			continue
		}
		merged[k] = len(out)
		r.Verbs = slices.Clone(r.Verbs)
		out = append(out, r)
	}
	lines := make([]string, 0, len(out))
	for _, r := range out {
		lines = append(lines, compactRule(&r))
	}
	slices.Sort(lines)
	return strings.Join(slices.Compact(lines), "\n")
}

// compactRule is kube-apiserver's compact form of a rule: the non-empty
// lists in the order APIGroups, Resources, NonResourceURLs, ResourceNames,
// Verbs, each as Go quotes it.
func compactRule(r *rbacv1.PolicyRule) string {
	var parts []string
	for _, f := range []struct {
		name string
		list []string
	}{
		{"APIGroups", r.APIGroups},
		{"Resources", r.Resources},
		{"NonResourceURLs", r.NonResourceURLs},
		{"ResourceNames", r.ResourceNames},
		{"Verbs", r.Verbs},
	} {
		if len(f.list) > 0 {
			parts = append(parts, fmt.Sprintf("%s:%q", f.name, f.list))
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
