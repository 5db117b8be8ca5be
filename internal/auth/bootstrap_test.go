package auth

import (
	"context"
	"testing"
)

func TestBootstrapObjectsAreMarked(t *testing.T) {
	roles := BootstrapClusterRoles()
	names := map[string]bool{}
	for _, r := range roles {
		names[r.Name] = true
		if r.Labels[BootstrapLabel] != "rbac-defaults" || r.Annotations[AutoupdateAnnotation] != "true" {
			t.Errorf("ClusterRole %s: labels %v annotations %v", r.Name, r.Labels, r.Annotations)
		}
		if (r.AggregationRule == nil) == (len(r.Rules) == 0) {
			t.Errorf("ClusterRole %s: want either rules or an aggregationRule", r.Name)
		}
	}
	for _, b := range BootstrapClusterRoleBindings() {
		if b.Labels[BootstrapLabel] != "rbac-defaults" || b.Annotations[AutoupdateAnnotation] != "true" {
			t.Errorf("ClusterRoleBinding %s: labels %v annotations %v", b.Name, b.Labels, b.Annotations)
		}
		if b.RoleRef.Kind != "ClusterRole" || !names[b.RoleRef.Name] {
			t.Errorf("ClusterRoleBinding %s refers to unknown %s %q", b.Name, b.RoleRef.Kind, b.RoleRef.Name)
		}
	}
	for _, want := range []string{"cluster-admin", "admin", "edit", "view", "system:aggregate-to-admin",
		"system:aggregate-to-edit", "system:aggregate-to-view", "system:basic-user", "system:discovery", "system:public-info-viewer"} {
		if !names[want] {
			t.Errorf("no ClusterRole %s", want)
		}
	}

	// Each call builds new objects: callers may modify what they get.
	roles[0].Rules[0].Verbs[0] = "changed"
	if BootstrapClusterRoles()[0].Rules[0].Verbs[0] != "*" {
		t.Error("BootstrapClusterRoles shares state between calls")
	}
}

// TestBootstrapRoles checks what each default role grants when bound in a
// namespace, row by row.
func TestBootstrapRoles(t *testing.T) {
	p := withBootstrap(&policy{})
	for _, r := range []string{"admin", "edit", "view", "cluster-admin"} {
		p.roleBindings = append(p.roleBindings, binding("ns", r, "ClusterRole", r, userSubject(r+"-user")))
	}
	z := NewRBACAuthorizer(p)

	type access struct {
		verb, group, resource, sub string
	}
	tests := []struct {
		access            access
		view, edit, admin bool
	}{
		{access{"get", "", "pods", ""}, true, true, true},
		{access{"watch", "", "pods", ""}, true, true, true},
		{access{"create", "", "pods", ""}, false, true, true},
		{access{"get", "", "pods", "log"}, true, true, true},
		{access{"get", "", "pods", "status"}, true, true, true},
		{access{"update", "", "pods", "status"}, false, false, false},
		{access{"create", "", "pods", "exec"}, false, true, true},
		{access{"get", "", "pods", "exec"}, false, true, true},
		{access{"create", "", "pods", "attach"}, false, true, true},
		{access{"create", "", "pods", "portforward"}, false, true, true},
		{access{"get", "", "pods", "proxy"}, false, true, true},
		{access{"create", "", "pods", "eviction"}, false, true, true},
		{access{"get", "", "services", "proxy"}, false, true, true},
		{access{"delete", "", "services", ""}, false, true, true},
		{access{"list", "", "endpoints", ""}, true, true, true},
		{access{"update", "", "endpoints", ""}, false, false, false},
		{access{"list", "", "secrets", ""}, false, true, true},
		{access{"create", "", "secrets", ""}, false, true, true},
		{access{"update", "", "configmaps", ""}, false, true, true},
		{access{"create", "", "serviceaccounts", ""}, false, true, true},
		{access{"create", "", "persistentvolumeclaims", ""}, false, true, true},
		{access{"list", "", "resourcequotas", ""}, true, true, true},
		{access{"update", "", "resourcequotas", ""}, false, false, false},
		{access{"list", "", "limitranges", ""}, true, true, true},
		{access{"create", "", "events", ""}, false, true, true},
		{access{"get", "", "namespaces", ""}, true, true, true},
		{access{"delete", "", "namespaces", ""}, false, false, false},
		{access{"deletecollection", "apps", "deployments", ""}, false, true, true},
		{access{"update", "apps", "statefulsets", "scale"}, false, true, true},
		{access{"get", "apps", "replicasets", "status"}, true, true, true},
		{access{"update", "apps", "replicasets", "status"}, false, false, false},
		{access{"create", "batch", "jobs", ""}, false, true, true},
		{access{"patch", "batch", "cronjobs", ""}, false, true, true},
		{access{"create", "autoscaling", "horizontalpodautoscalers", ""}, false, true, true},
		{access{"create", "networking.k8s.io", "ingresses", ""}, false, true, true},
		{access{"list", "extensions", "ingresses", ""}, true, true, true},
		{access{"create", "extensions", "ingresses", ""}, false, true, true},
		{access{"list", "events.k8s.io", "events", ""}, true, true, true},
		{access{"create", "networking.cci.io", "networks", ""}, false, true, true},
		{access{"get", "crd.yangtse.cni", "eippools", ""}, true, true, true},
		{access{"delete", "crd.yangtse.cni", "eippools", ""}, false, true, true},
		{access{"create", "batch.volcano.sh", "jobs", ""}, false, true, true},
		{access{"list", "metrics.k8s.io", "pods", ""}, true, true, true},
		{access{"create", "rbac.authorization.k8s.io", "roles", ""}, false, false, true},
		{access{"list", "rbac.authorization.k8s.io", "rolebindings", ""}, false, false, true},
		{access{"create", "rbac.authorization.k8s.io", "clusterroles", ""}, false, false, false},
		{access{"create", "storage.k8s.io", "storageclasses", ""}, false, false, false},
	}
	for _, tt := range tests {
		a := tt.access
		for _, who := range []struct {
			role string
			want bool
		}{{"view", tt.view}, {"edit", tt.edit}, {"admin", tt.admin}, {"cluster-admin", true}} {
			d, err := z.Authorize(context.Background(), Attributes{
				User: authenticated(who.role + "-user"), Verb: a.verb, Namespace: "ns",
				APIGroup: a.group, Resource: a.resource, Subresource: a.sub, Name: "x", ResourceRequest: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != who.want {
				t.Errorf("%s: %s %s/%s/%s allowed %v, want %v", who.role, a.verb, a.group, a.resource, a.sub, d.Allowed, who.want)
			}
		}
	}
}

func TestBootstrapAggregation(t *testing.T) {
	p := withBootstrap(&policy{})
	ctx := context.Background()
	ruleCount := map[string]int{}
	for _, r := range p.clusterRoles {
		rules, err := ClusterRoleRules(ctx, p, r)
		if err != nil {
			t.Fatalf("%s: %v", r.Name, err)
		}
		ruleCount[r.Name] = len(rules)
	}
	agg := func(name string) int { return ruleCount["system:aggregate-to-"+name] }
	if ruleCount["view"] != agg("view") ||
		ruleCount["edit"] != agg("edit")+agg("view") ||
		ruleCount["admin"] != agg("admin")+agg("edit")+agg("view") {
		t.Errorf("aggregated rule counts %v: want admin ⊇ edit ⊇ view", ruleCount)
	}
}
