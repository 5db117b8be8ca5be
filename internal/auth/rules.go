package auth

import (
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// ruleAllows reports whether rule grants the request described by a. It is
// Kubernetes' rule matching: every list in the rule must admit the request,
// and "*" admits anything.
func ruleAllows(a *Attributes, rule *rbacv1.PolicyRule) bool {
	if !verbMatches(rule, a.Verb) {
		return false
	}
	if !a.ResourceRequest {
		return nonResourceURLMatches(rule, a.Path)
	}
	return apiGroupMatches(rule, a.APIGroup) &&
		resourceMatches(rule, a.Resource, a.Subresource) &&
		resourceNameMatches(rule, a.Name)
}

func verbMatches(rule *rbacv1.PolicyRule, verb string) bool {
	return slices.ContainsFunc(rule.Verbs, func(v string) bool {
		return v == rbacv1.VerbAll || v == verb
	})
}

func apiGroupMatches(rule *rbacv1.PolicyRule, group string) bool {
	return slices.ContainsFunc(rule.APIGroups, func(g string) bool {
		return g == rbacv1.APIGroupAll || g == group
	})
}

// resourceMatches accepts "*", the exact "resource" or "resource/subresource"
// requested, and "*/subresource" for a subresource of any resource. A rule
// naming only "pods" does not cover "pods/log".
func resourceMatches(rule *rbacv1.PolicyRule, resource, subresource string) bool {
	want := resource
	if subresource != "" {
		want = resource + "/" + subresource
	}
	return slices.ContainsFunc(rule.Resources, func(r string) bool {
		switch {
		case r == rbacv1.ResourceAll, r == want:
			return true
		case subresource == "":
			return false
		default:
			sub, ok := strings.CutPrefix(r, "*/")
			return ok && sub == subresource
		}
	})
}

// resourceNameMatches accepts any name when the rule lists none. A rule that
// lists names never matches a request without one, so it cannot grant list,
// watch, create or deletecollection of a whole collection.
func resourceNameMatches(rule *rbacv1.PolicyRule, name string) bool {
	if len(rule.ResourceNames) == 0 {
		return true
	}
	return name != "" && slices.Contains(rule.ResourceNames, name)
}

// nonResourceURLMatches accepts "*", the exact path, and a prefix ending in
// "*": "/apis/*" covers "/apis/" and below but not "/apis".
func nonResourceURLMatches(rule *rbacv1.PolicyRule, path string) bool {
	return slices.ContainsFunc(rule.NonResourceURLs, func(u string) bool {
		if u == rbacv1.NonResourceAll || u == path {
			return true
		}
		prefix, ok := strings.CutSuffix(u, "*")
		return ok && strings.HasPrefix(path, prefix)
	})
}

// appliesTo reports whether subject names u. namespace is the binding's
// namespace ("" for a ClusterRoleBinding); a ServiceAccount subject without a
// namespace means one in the binding's namespace.
func appliesTo(u *User, subject *rbacv1.Subject, namespace string) bool {
	switch subject.Kind {
	case rbacv1.UserKind:
		return u.Name == subject.Name
	case rbacv1.GroupKind:
		return u.InGroup(subject.Name)
	case rbacv1.ServiceAccountKind:
		ns := subject.Namespace
		if ns == "" {
			ns = namespace
		}
		if ns == "" || subject.Name == "" {
			return false
		}
		return u.Name == ServiceAccountUsername(ns, subject.Name)
	}
	return false
}
