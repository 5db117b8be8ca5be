package auth

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

func TestRuleAllows(t *testing.T) {
	res := func(verb, group, resource, sub, name string) Attributes {
		return Attributes{Verb: verb, APIGroup: group, Resource: resource, Subresource: sub, Name: name, ResourceRequest: true}
	}
	nonres := func(verb, path string) Attributes { return Attributes{Verb: verb, Path: path} }
	urls := func(verbs []string, urls ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{Verbs: verbs, NonResourceURLs: urls}
	}

	tests := []struct {
		name string
		rule rbacv1.PolicyRule
		attr Attributes
		want bool
	}{
		{"exact", resourceRule(list("get"), list(""), list("pods")), res("get", "", "pods", "", "a"), true},
		{"other verb", resourceRule(list("get"), list(""), list("pods")), res("delete", "", "pods", "", "a"), false},
		{"verb wildcard", resourceRule(list("*"), list(""), list("pods")), res("deletecollection", "", "pods", "", ""), true},
		{"custom verb", resourceRule(list("impersonate"), list(""), list("serviceaccounts")), res("impersonate", "", "serviceaccounts", "", "x"), true},
		{"verbs are case-sensitive", resourceRule(list("GET"), list(""), list("pods")), res("get", "", "pods", "", ""), false},
		{"other group", resourceRule(list("get"), list(""), list("jobs")), res("get", "batch", "jobs", "", ""), false},
		{"group wildcard", resourceRule(list("get"), list("*"), list("jobs")), res("get", "batch.volcano.sh", "jobs", "", ""), true},
		{"no groups grant nothing", resourceRule(list("get"), nil, list("pods")), res("get", "", "pods", "", ""), false},
		{"resource wildcard", resourceRule(list("get"), list("apps"), list("*")), res("get", "apps", "deployments", "", ""), true},
		{"resource wildcard covers subresources", resourceRule(list("get"), list(""), list("*")), res("get", "", "pods", "log", ""), true},
		{"resource does not cover its subresources", resourceRule(list("get"), list(""), list("pods")), res("get", "", "pods", "log", ""), false},
		{"subresource exact", resourceRule(list("get"), list(""), list("pods/log")), res("get", "", "pods", "log", "p"), true},
		{"subresource does not cover resource", resourceRule(list("get"), list(""), list("pods/log")), res("get", "", "pods", "", "p"), false},
		{"other subresource", resourceRule(list("get"), list(""), list("pods/log")), res("get", "", "pods", "exec", "p"), false},
		{"any resource's subresource", resourceRule(list("update"), list("apps"), list("*/scale")), res("update", "apps", "statefulsets", "scale", "s"), true},
		{"*/sub not the resource", resourceRule(list("update"), list("apps"), list("*/scale")), res("update", "apps", "statefulsets", "", "s"), false},
		{"*/sub other subresource", resourceRule(list("update"), list("apps"), list("*/scale")), res("update", "apps", "statefulsets", "status", "s"), false},
		{"*/sub suffix only", resourceRule(list("update"), list("apps"), list("*/scale")), res("update", "apps", "statefulsets", "rescale", "s"), false},
		{"name listed", resourceRule(list("get"), list(""), list("configmaps"), "app"), res("get", "", "configmaps", "", "app"), true},
		{"name not listed", resourceRule(list("get"), list(""), list("configmaps"), "app"), res("get", "", "configmaps", "", "other"), false},
		{"names deny list", resourceRule(list("list"), list(""), list("configmaps"), "app"), res("list", "", "configmaps", "", ""), false},
		{"names deny watch", resourceRule(list("watch"), list(""), list("configmaps"), "app"), res("watch", "", "configmaps", "", ""), false},
		{"names deny create", resourceRule(list("create"), list(""), list("configmaps"), "app"), res("create", "", "configmaps", "", ""), false},
		{"names deny deletecollection", resourceRule(list("deletecollection"), list(""), list("configmaps"), "app"), res("deletecollection", "", "configmaps", "", ""), false},
		{"names allow list with a name", resourceRule(list("list"), list(""), list("configmaps"), "app"), res("list", "", "configmaps", "", "app"), true},
		{"resource rule is not a url rule", resourceRule(list("get"), list("*"), list("*")), nonres("get", "/healthz"), false},
		{"url rule is not a resource rule", urls(list("get"), "*"), res("get", "", "pods", "", ""), false},
		{"url exact", urls(list("get"), "/healthz"), nonres("get", "/healthz"), true},
		{"url other", urls(list("get"), "/healthz"), nonres("get", "/healthz/etcd"), false},
		{"url verb", urls(list("get"), "/healthz"), nonres("post", "/healthz"), false},
		{"url wildcard", urls(list("*"), "*"), nonres("put", "/anything"), true},
		{"url prefix", urls(list("get"), "/apis/*"), nonres("get", "/apis/apps/v1"), true},
		{"url prefix covers the slash", urls(list("get"), "/apis/*"), nonres("get", "/apis/"), true},
		{"url prefix needs the slash", urls(list("get"), "/apis/*"), nonres("get", "/apis"), false},
		{"url bare prefix", urls(list("get"), "/logs*"), nonres("get", "/logsXYZ"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ruleAllows(&tt.attr, &tt.rule); got != tt.want {
				t.Errorf("ruleAllows(%+v, %+v) = %v, want %v", tt.attr, tt.rule, got, tt.want)
			}
		})
	}
}

func TestAppliesTo(t *testing.T) {
	sa := ServiceAccountUser("dev", "ci", "uid-1")
	tests := []struct {
		name      string
		user      User
		subject   rbacv1.Subject
		namespace string // binding namespace; "" for a ClusterRoleBinding
		want      bool
	}{
		{"user", authenticated("alice"), userSubject("alice"), "", true},
		{"other user", authenticated("alice"), userSubject("bob"), "", false},
		{"group", authenticated("alice", "devs"), groupSubject("devs"), "dev", true},
		{"not in group", authenticated("alice"), groupSubject("devs"), "dev", false},
		{"authenticated group", authenticated("alice"), groupSubject(GroupAuthenticated), "", true},
		{"user subject is not a group", authenticated("devs"), groupSubject("devs"), "", false},
		{"sa qualified", sa, saSubject("dev", "ci"), "", true},
		{"sa qualified in other namespace binding", sa, saSubject("dev", "ci"), "prod", true},
		{"sa defaults to binding namespace", sa, saSubject("", "ci"), "dev", true},
		{"sa default namespace mismatch", sa, saSubject("", "ci"), "prod", false},
		{"sa without namespace in cluster binding", sa, saSubject("", "ci"), "", false},
		{"sa other name", sa, saSubject("dev", "deployer"), "dev", false},
		{"sa by user name", sa, userSubject("system:serviceaccount:dev:ci"), "", true},
		{"sa group all", sa, groupSubject("system:serviceaccounts"), "", true},
		{"sa group namespace", sa, groupSubject("system:serviceaccounts:dev"), "", true},
		{"sa group other namespace", sa, groupSubject("system:serviceaccounts:prod"), "", false},
		{"unknown kind", authenticated("alice"), rbacv1.Subject{Kind: "Robot", Name: "alice"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := appliesTo(&tt.user, &tt.subject, tt.namespace); got != tt.want {
				t.Errorf("appliesTo(%q, %+v, %q) = %v, want %v", tt.user.Name, tt.subject, tt.namespace, got, tt.want)
			}
		})
	}
}

func TestSplitServiceAccountUsername(t *testing.T) {
	tests := []struct {
		in       string
		ns, name string
		ok       bool
	}{
		{"system:serviceaccount:dev:ci", "dev", "ci", true},
		{"system:serviceaccount:dev", "", "", false},
		{"system:serviceaccount::ci", "", "", false},
		{"system:serviceaccount:dev:", "", "", false},
		{"system:serviceaccount:dev:ci:x", "", "", false},
		{"alice", "", "", false},
	}
	for _, tt := range tests {
		ns, name, ok := SplitServiceAccountUsername(tt.in)
		if ns != tt.ns || name != tt.name || ok != tt.ok {
			t.Errorf("SplitServiceAccountUsername(%q) = %q, %q, %v; want %q, %q, %v", tt.in, ns, name, ok, tt.ns, tt.name, tt.ok)
		}
		if tt.ok && ServiceAccountUsername(ns, name) != tt.in {
			t.Errorf("ServiceAccountUsername(%q, %q) does not round-trip", ns, name)
		}
	}
}
