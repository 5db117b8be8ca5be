package auth

import (
	"context"
	"errors"
	"net/http"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// escalationPolicy is the default policy plus: alice is admin in ns1 (a
// RoleBinding), may bind cluster-admin in ns2 and escalate roles in ns3 and
// the role "open" in ns4; erin has a dangling binding in ns1; crw may write
// ClusterRoles and holds little else.
func escalationPolicy() *policy {
	return withBootstrap(&policy{
		clusterRoles: []*rbacv1.ClusterRole{
			clusterRole("bind-cluster-admin", nil, resourceRule(list("bind"), list(rbacv1.GroupName), list("clusterroles"), "cluster-admin")),
			clusterRole("escalate-roles", nil, resourceRule(list("escalate"), list(rbacv1.GroupName), list("roles"))),
			clusterRole("escalate-open", nil, resourceRule(list("escalate"), list(rbacv1.GroupName), list("roles"), "open")),
			clusterRole("clusterrole-writer", nil, resourceRule(list("create", "update"), list(rbacv1.GroupName), list("clusterroles", "clusterrolebindings"))),
		},
		clusterRoleBindings: []*rbacv1.ClusterRoleBinding{
			clusterBinding("crw", "clusterrole-writer", userSubject("crw")),
		},
		roles: []*rbacv1.Role{
			role("ns1", "pod-reader", resourceRule(list("get", "list"), list(""), list("pods"))),
			role("ns1", "everything", resourceRule(list("*"), list("*"), list("*"))),
		},
		roleBindings: []*rbacv1.RoleBinding{
			binding("ns1", "alice-admin", "ClusterRole", "admin", userSubject("alice")),
			binding("ns2", "alice-admin", "ClusterRole", "admin", userSubject("alice")),
			binding("ns2", "alice-bind", "ClusterRole", "bind-cluster-admin", userSubject("alice")),
			binding("ns3", "alice-admin", "ClusterRole", "admin", userSubject("alice")),
			binding("ns3", "alice-escalate", "ClusterRole", "escalate-roles", userSubject("alice")),
			binding("ns4", "alice-admin", "ClusterRole", "admin", userSubject("alice")),
			binding("ns4", "alice-escalate", "ClusterRole", "escalate-open", userSubject("alice")),
			binding("ns1", "erin-admin", "ClusterRole", "admin", userSubject("erin")),
			binding("ns1", "erin-dangling", "ClusterRole", "no-such-role", userSubject("erin")),
		},
	})
}

func TestEscalationGuard(t *testing.T) {
	g := NewEscalationGuard(NewRBACAuthorizer(escalationPolicy()))
	var (
		alice  = authenticated("alice")
		erin   = authenticated("erin")
		crw    = authenticated("crw", "writers")
		admin  = authenticated(AdminUser, GroupMasters)
		star   = resourceRule(list("*"), list("*"), list("*"))
		pods   = resourceRule(list("get", "list"), list(""), list("pods"))
		secret = resourceRule(list("get"), list(""), list("secrets"))
	)
	newRole := func(ns, name string, rules ...rbacv1.PolicyRule) *rbacv1.Role { return role(ns, name, rules...) }
	aggregated := func(name string) *rbacv1.ClusterRole {
		r := clusterRole(name, nil)
		r.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"x": "y"}}}}
		return r
	}
	const held = ` is attempting to grant RBAC permissions not currently held:` + "\n"

	tests := []struct {
		name     string
		user     *User // nil: no user in the context
		obj, old runtime.Object
		code     int    // 0: allowed
		message  string // the whole message, when set
	}{
		{"no user is the server itself", nil, newRole("ns1", "r", star), nil, 0, ""},
		{"system:masters may grant anything", &admin, newRole("ns1", "r", star), nil, 0, ""},
		{"masters may aggregate", &admin, aggregated("agg"), nil, 0, ""},

		// Roles.
		{"role with rules held", &alice, newRole("ns1", "r", pods, secret), nil, 0, ""},
		{"role with */*/*", &alice, newRole("ns1", "r", star), nil, http.StatusForbidden,
			`roles.rbac.authorization.k8s.io "r" is forbidden: user "alice" (groups=["system:authenticated"])` + held +
				`{APIGroups:["*"], Resources:["*"], Verbs:["*"]}`},
		{"role outside the namespace she administers", &alice, newRole("ns9", "r", pods), nil, http.StatusForbidden,
			`roles.rbac.authorization.k8s.io "r" is forbidden: user "alice" (groups=["system:authenticated"])` + held +
				`{APIGroups:[""], Resources:["pods"], Verbs:["get" "list"]}`},
		{"update adding rules she lacks", &alice, newRole("ns1", "pod-reader", pods, resourceRule(list("create"), list(""), list("resourcequotas"), "q")),
			newRole("ns1", "pod-reader", pods), http.StatusForbidden,
			`roles.rbac.authorization.k8s.io "pod-reader" is forbidden: user "alice" (groups=["system:authenticated"])` + held +
				`{APIGroups:[""], Resources:["resourcequotas"], ResourceNames:["q"], Verbs:["create"]}`},
		{"escalate on roles", &alice, newRole("ns3", "r", star), nil, 0, ""},
		{"escalate on one role name does not cover a create", &alice, newRole("ns4", "open", star), nil, http.StatusForbidden, ""},
		{"escalate on one role name covers its update", &alice, newRole("ns4", "open", star), newRole("ns4", "open"), 0, ""},
		{"escalate on one role name covers no other", &alice, newRole("ns4", "shut", star), newRole("ns4", "shut"), http.StatusForbidden, ""},
		{"finalizers only on a role she could not write", &alice, withFinalizer(newRole("ns1", "everything", star)), newRole("ns1", "everything", star), 0, ""},
		{"resolution errors are told", &erin, newRole("ns1", "r", star), nil, http.StatusForbidden,
			`roles.rbac.authorization.k8s.io "r" is forbidden: user "erin" (groups=["system:authenticated"])` + held +
				`{APIGroups:["*"], Resources:["*"], Verbs:["*"]}; resolution errors: [clusterroles.rbac.authorization.k8s.io "no-such-role" not found]`},

		// ClusterRoles.
		{"clusterrole with rules held cluster-wide", &crw, clusterRole("c", nil, resourceRule(list("create"), list(rbacv1.GroupName), list("clusterroles"))), nil, 0, ""},
		{"clusterrole with rules held only in a namespace", &alice, clusterRole("c", nil, pods), nil, http.StatusForbidden,
			`clusterroles.rbac.authorization.k8s.io "c" is forbidden: user "alice" (groups=["system:authenticated"])` + held +
				`{APIGroups:[""], Resources:["pods"], Verbs:["get" "list"]}`},
		{"clusterrole with an aggregationRule", &crw, aggregated("agg"), nil, http.StatusForbidden,
			`clusterroles.rbac.authorization.k8s.io "agg" is forbidden: must have cluster-admin privileges to use the aggregationRule`},
		{"clusterrole losing its aggregationRule", &crw, clusterRole("agg", nil), aggregated("agg"), http.StatusForbidden,
			`clusterroles.rbac.authorization.k8s.io "agg" is forbidden: must have cluster-admin privileges to use the aggregationRule`},
		{"clusterrole rules are checked before the aggregationRule", &crw, func() runtime.Object {
			r := aggregated("agg")
			r.Rules = []rbacv1.PolicyRule{pods}
			return r
		}(), nil, http.StatusForbidden,
			`clusterroles.rbac.authorization.k8s.io "agg" is forbidden: user "crw" (groups=["writers" "system:authenticated"])` + held +
				`{APIGroups:[""], Resources:["pods"], Verbs:["get" "list"]}`},

		// RoleBindings.
		{"binding to edit, which admin holds", &alice, binding("ns1", "b", "ClusterRole", "edit", userSubject("mallory")), nil, 0, ""},
		{"binding to view", &alice, binding("ns1", "b", "ClusterRole", "view", userSubject("mallory")), nil, 0, ""},
		{"binding to admin itself", &alice, binding("ns1", "b", "ClusterRole", "admin", userSubject("mallory")), nil, 0, ""},
		{"binding to a role she holds", &alice, binding("ns1", "b", "Role", "pod-reader", userSubject("mallory")), nil, 0, ""},
		{"binding to cluster-admin", &alice, binding("ns1", "b", "ClusterRole", "cluster-admin", userSubject("alice")), nil, http.StatusForbidden,
			`rolebindings.rbac.authorization.k8s.io "b" is forbidden: user "alice" (groups=["system:authenticated"])` + held +
				`{APIGroups:["*"], Resources:["*"], Verbs:["*"]}` + "\n" + `{NonResourceURLs:["*"], Verbs:["*"]}`},
		{"binding to a role granting everything", &alice, binding("ns1", "b", "Role", "everything", userSubject("alice")), nil, http.StatusForbidden, ""},
		{"bind on cluster-admin", &alice, binding("ns2", "b", "ClusterRole", "cluster-admin", userSubject("alice")), nil, 0, ""},
		{"bind is for the role named", &alice, binding("ns2", "b", "Role", "cluster-admin", userSubject("alice")), nil, http.StatusNotFound,
			`roles.rbac.authorization.k8s.io "cluster-admin" not found`},
		{"binding to a missing role", &alice, binding("ns1", "b", "ClusterRole", "nope", userSubject("alice")), nil, http.StatusNotFound,
			`clusterroles.rbac.authorization.k8s.io "nope" not found`},
		{"update adding a subject is checked", &alice, binding("ns1", "b", "ClusterRole", "cluster-admin", userSubject("alice"), userSubject("bob")),
			binding("ns1", "b", "ClusterRole", "cluster-admin", userSubject("alice")), http.StatusForbidden, ""},
		{"finalizers only on a binding she could not write", &alice, withFinalizer(binding("ns1", "b", "ClusterRole", "cluster-admin")),
			binding("ns1", "b", "ClusterRole", "cluster-admin"), 0, ""},

		// ClusterRoleBindings.
		{"clusterrolebinding to a role held cluster-wide", &crw, clusterBinding("b", "clusterrole-writer", userSubject("x")), nil, 0, ""},
		{"clusterrolebinding to admin", &alice, clusterBinding("b", "admin", userSubject("alice")), nil, http.StatusForbidden, ""},
		{"clusterrolebinding to cluster-admin", &crw, clusterBinding("b", "cluster-admin", userSubject("crw")), nil, http.StatusForbidden,
			`clusterrolebindings.rbac.authorization.k8s.io "b" is forbidden: user "crw" (groups=["writers" "system:authenticated"])` + held +
				`{APIGroups:["*"], Resources:["*"], Verbs:["*"]}` + "\n" + `{NonResourceURLs:["*"], Verbs:["*"]}`},
		{"bind in a namespace is not bind cluster-wide", &alice, clusterBinding("b", "cluster-admin", userSubject("alice")), nil, http.StatusForbidden, ""},

		{"other kinds pass", &alice, &rbacv1.RoleBindingList{}, nil, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.user != nil {
				ctx = WithUser(ctx, *tc.user)
			}
			err := g.Admit(ctx, tc.obj, tc.old)
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("Admit: %v; want allowed", err)
				}
				return
			}
			var st apierrors.APIStatus
			if !errors.As(err, &st) || st.Status().Code != int32(tc.code) {
				t.Fatalf("Admit: %v; want a %d Status", err, tc.code)
			}
			if tc.message != "" && st.Status().Message != tc.message {
				t.Errorf("message:\n%s\nwant\n%s", st.Status().Message, tc.message)
			}
		})
	}
}

// TestEscalationGuardSourceFailure: when the policy cannot be read, a write
// the readable part does not cover fails with the source's error, not 403;
// one it does cover goes ahead, as in Kubernetes.
func TestEscalationGuardSourceFailure(t *testing.T) {
	p := escalationPolicy()
	g := NewEscalationGuard(NewRBACAuthorizer(p))
	ctx := WithUser(context.Background(), authenticated("alice"))
	p.fail = func(method string) error {
		if method == "ListClusterRoleBindings" {
			return errSourceDown
		}
		return nil
	}
	if err := g.Admit(ctx, role("ns1", "r", resourceRule(list("*"), list("*"), list("*"))), nil); !errors.Is(err, errSourceDown) {
		t.Errorf("uncovered: %v; want %v", err, errSourceDown)
	}
	if err := g.Admit(ctx, role("ns1", "r", resourceRule(list("get"), list(""), list("pods"))), nil); err != nil {
		t.Errorf("covered by what could be read: %v", err)
	}
}

func withFinalizer[T interface {
	runtime.Object
	SetFinalizers([]string)
}](o T) T {
	o.SetFinalizers([]string{"example.com/keep"})
	return o
}
