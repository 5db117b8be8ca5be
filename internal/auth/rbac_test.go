package auth

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// testPolicy is the default policy plus bindings covering each way a rule
// reaches a user.
func testPolicy() *policy {
	return withBootstrap(&policy{
		clusterRoles: []*rbacv1.ClusterRole{
			// Aggregated into view (and so edit and admin) by its label.
			clusterRole("widget-viewer", map[string]string{AggregateToView: "true"},
				resourceRule(list("get", "list", "watch"), list("example.com"), list("widgets"))),
			clusterRole("scaler", nil, resourceRule(list("get", "update"), list("apps"), list("*/scale"))),
			clusterRole("log-reader", nil, rbacv1.PolicyRule{Verbs: list("get"), NonResourceURLs: list("/logs/*")}),
			clusterRole("cm-reader", nil, resourceRule(list("get", "list"), list(""), list("configmaps"))),
		},
		clusterRoleBindings: []*rbacv1.ClusterRoleBinding{
			clusterBinding("alice-view", "view", userSubject("alice")),
			clusterBinding("ops-logs", "log-reader", groupSubject("ops")),
			clusterBinding("prod-sas", "cm-reader", groupSubject("system:serviceaccounts:prod")),
			clusterBinding("dangling", "no-such-role", userSubject("erin")),
		},
		roles: []*rbacv1.Role{
			role("dev", "pod-reader", resourceRule(list("get", "list"), list(""), list("pods"))),
			role("dev", "one-config", resourceRule(list("get", "update", "list", "create"), list(""), list("configmaps"), "app-config")),
			role("prod", "pod-reader", resourceRule(list("*"), list("*"), list("*"))), // must not leak into dev
		},
		roleBindings: []*rbacv1.RoleBinding{
			binding("dev", "bob-edit", "ClusterRole", "edit", userSubject("bob")),
			binding("dev", "devs-read", "Role", "pod-reader", groupSubject("devs")),
			binding("dev", "ci-admin", "ClusterRole", "admin", saSubject("", "ci")),
			binding("dev", "builder", "Role", "pod-reader", saSubject("tools", "builder")),
			binding("dev", "carol-config", "Role", "one-config", userSubject("carol")),
			binding("dev", "scale", "ClusterRole", "scaler", userSubject("carol")),
			binding("dev", "dangling", "Role", "missing", userSubject("erin")),
			binding("dev", "frank-logs", "ClusterRole", "log-reader", userSubject("frank")),
		},
	})
}

func TestAuthorize(t *testing.T) {
	res := func(u User, verb, ns, group, resource, sub, name string) Attributes {
		return Attributes{User: u, Verb: verb, Namespace: ns, APIGroup: group, Resource: resource, Subresource: sub, Name: name, ResourceRequest: true}
	}
	nonres := func(u User, verb, path string) Attributes { return Attributes{User: u, Verb: verb, Path: path} }

	var (
		admin     = authenticated(AdminUser, GroupMasters)
		alice     = authenticated("alice")
		bob       = authenticated("bob")
		carol     = authenticated("carol")
		dora      = authenticated("dora", "devs", "ops")
		nobody    = authenticated("nobody")
		anonymous = User{Name: "system:anonymous", Groups: []string{GroupUnauthenticated}}
		ci        = ServiceAccountUser("dev", "ci", "")
		otherCI   = ServiceAccountUser("staging", "ci", "")
		builder   = ServiceAccountUser("tools", "builder", "")
		prodSA    = ServiceAccountUser("prod", "app", "")
	)

	tests := []struct {
		name string
		attr Attributes
		want bool
	}{
		{"masters do anything", res(admin, "deletecollection", "kube-system", "weird.io", "things", "", ""), true},
		{"masters reach any path", nonres(admin, "post", "/debug/pprof"), true},
		{"no bindings", res(nobody, "get", "dev", "", "pods", "", "p"), false},

		// view, cluster-wide through a ClusterRoleBinding.
		{"view get pods", res(alice, "get", "dev", "", "pods", "", "p"), true},
		{"view list pods anywhere", res(alice, "list", "prod", "", "pods", "", ""), true},
		{"view watch all namespaces", res(alice, "watch", "", "", "pods", "", ""), true},
		{"view pod logs", res(alice, "get", "dev", "", "pods", "log", "p"), true},
		{"view no exec", res(alice, "create", "dev", "", "pods", "exec", "p"), false},
		{"view no secrets", res(alice, "get", "dev", "", "secrets", "", "s"), false},
		{"view no writes", res(alice, "create", "dev", "", "pods", "", ""), false},
		{"view deployments scale", res(alice, "get", "dev", "apps", "deployments", "scale", "d"), true},
		{"view cci networks", res(alice, "list", "dev", "networking.cci.io", "networks", "", ""), true},
		{"view metrics", res(alice, "list", "dev", "metrics.k8s.io", "pods", "", ""), true},
		{"view metrics not watch", res(alice, "watch", "dev", "metrics.k8s.io", "pods", "", ""), false},
		{"view aggregated at evaluation time", res(alice, "get", "dev", "example.com", "widgets", "", "w"), true},
		{"view no roles", res(alice, "list", "dev", "rbac.authorization.k8s.io", "roles", "", ""), false},

		// edit in one namespace through a RoleBinding to a ClusterRole.
		{"edit create pods", res(bob, "create", "dev", "", "pods", "", ""), true},
		{"edit only in its namespace", res(bob, "create", "prod", "", "pods", "", ""), false},
		{"edit not cluster-wide", res(bob, "list", "", "", "pods", "", ""), false},
		{"edit reads secrets", res(bob, "get", "dev", "", "secrets", "", "s"), true},
		{"edit exec", res(bob, "create", "dev", "", "pods", "exec", "p"), true},
		{"edit includes view", res(bob, "get", "dev", "", "pods", "log", "p"), true},
		{"edit includes aggregated view", res(bob, "get", "dev", "example.com", "widgets", "", "w"), true},
		{"edit scales", res(bob, "patch", "dev", "apps", "deployments", "scale", "d"), true},
		{"edit no status writes", res(bob, "update", "dev", "", "pods", "status", "p"), false},
		{"edit no quota writes", res(bob, "update", "dev", "", "resourcequotas", "", "q"), false},
		{"edit volcano jobs", res(bob, "create", "dev", "batch.volcano.sh", "jobs", "", ""), true},
		{"edit no rolebindings", res(bob, "create", "dev", "rbac.authorization.k8s.io", "rolebindings", "", ""), false},
		{"edit reads own namespace", res(bob, "get", "dev", "", "namespaces", "", "dev"), true},
		{"edit no other namespace", res(bob, "get", "prod", "", "namespaces", "", "prod"), false},
		{"edit no namespace writes", res(bob, "delete", "dev", "", "namespaces", "", "dev"), false},

		// Groups and Roles.
		{"group role", res(dora, "list", "dev", "", "pods", "", ""), true},
		{"role verbs", res(dora, "delete", "dev", "", "pods", "", "p"), false},
		{"role of same name elsewhere", res(dora, "delete", "prod", "", "pods", "", "p"), false},

		// Service accounts.
		{"sa subject in binding namespace", res(ci, "create", "dev", "rbac.authorization.k8s.io", "rolebindings", "", ""), true},
		{"sa admin not elsewhere", res(ci, "create", "prod", "", "pods", "", ""), false},
		{"sa of same name elsewhere", res(otherCI, "create", "dev", "", "pods", "", ""), false},
		{"sa from another namespace", res(builder, "get", "dev", "", "pods", "", "p"), true},
		{"sa namespace group", res(prodSA, "get", "dev", "", "configmaps", "", "c"), true},
		{"sa namespace group verbs", res(prodSA, "delete", "dev", "", "configmaps", "", "c"), false},

		// resourceNames.
		{"named get", res(carol, "get", "dev", "", "configmaps", "", "app-config"), true},
		{"named update", res(carol, "update", "dev", "", "configmaps", "", "app-config"), true},
		{"other name", res(carol, "get", "dev", "", "configmaps", "", "db-config"), false},
		{"named list without name", res(carol, "list", "dev", "", "configmaps", "", ""), false},
		{"named list by field selector name", res(carol, "list", "dev", "", "configmaps", "", "app-config"), true},
		{"named create", res(carol, "create", "dev", "", "configmaps", "", ""), false},
		{"*/scale", res(carol, "update", "dev", "apps", "statefulsets", "scale", "s"), true},
		{"*/scale not the resource", res(carol, "update", "dev", "apps", "statefulsets", "", "s"), false},

		// Non-resource URLs.
		{"discovery", nonres(nobody, "get", "/apis/apps/v1"), true},
		{"discovery root", nonres(nobody, "get", "/api"), true},
		{"openapi", nonres(nobody, "get", "/openapi/v3/apis/apps/v1"), true},
		{"version", nonres(nobody, "get", "/version"), true},
		{"readyz", nonres(nobody, "get", "/readyz"), true},
		{"discovery read-only", nonres(nobody, "post", "/apis"), false},
		{"unlisted path", nonres(nobody, "get", "/metrics"), false},
		{"anonymous health", nonres(anonymous, "get", "/healthz"), true},
		{"anonymous no discovery", nonres(anonymous, "get", "/apis"), false},
		{"anonymous no self review", res(anonymous, "create", "", "authorization.k8s.io", "selfsubjectaccessreviews", "", ""), false},
		{"url prefix", nonres(dora, "get", "/logs/kube-apiserver.log"), true},
		{"url prefix needs slash", nonres(dora, "get", "/logs"), false},
		{"role bindings grant no urls", nonres(authenticated("frank"), "get", "/logs/x"), false},

		// Basic user.
		{"can-i", res(nobody, "create", "", "authorization.k8s.io", "selfsubjectaccessreviews", "", ""), true},
		{"can-i --list", res(nobody, "create", "", "authorization.k8s.io", "selfsubjectrulesreviews", "", ""), true},
		{"whoami", res(nobody, "create", "", "authentication.k8s.io", "selfsubjectreviews", "", ""), true},
		{"no subjectaccessreviews", res(nobody, "create", "", "authorization.k8s.io", "subjectaccessreviews", "", ""), false},
	}
	z := NewRBACAuthorizer(testPolicy())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := z.Authorize(context.Background(), tt.attr)
			if err != nil {
				t.Fatalf("Authorize: %v", err)
			}
			if d.Allowed != tt.want {
				t.Errorf("Authorize(%+v) = %+v, want allowed %v", tt.attr, d, tt.want)
			}
		})
	}
}

func TestAuthorizeReason(t *testing.T) {
	z := NewRBACAuthorizer(testPolicy())
	ctx := context.Background()

	d, err := z.Authorize(ctx, Attributes{User: authenticated("bob"), Verb: "get", Namespace: "dev", Resource: "pods", Name: "p", ResourceRequest: true})
	if err != nil || !d.Allowed {
		t.Fatalf("Authorize = %+v, %v; want allowed", d, err)
	}
	if want := `RoleBinding "bob-edit" in namespace "dev" of ClusterRole "edit" to User "bob"`; !strings.Contains(d.Reason, want) {
		t.Errorf("Reason = %q, want it to contain %q", d.Reason, want)
	}

	// Dangling references deny quietly: they are notes, not failures.
	d, err = z.Authorize(ctx, Attributes{User: authenticated("erin"), Verb: "get", Namespace: "dev", Resource: "pods", Name: "p", ResourceRequest: true})
	if err != nil || d.Allowed {
		t.Fatalf("Authorize = %+v, %v; want denied without error", d, err)
	}
	for _, want := range []string{`clusterroles.rbac.authorization.k8s.io "no-such-role" not found`, `roles.rbac.authorization.k8s.io "missing" not found`} {
		if !strings.Contains(d.Reason, want) {
			t.Errorf("Reason = %q, want it to contain %q", d.Reason, want)
		}
	}
	if strings.Contains(d.Reason, "\n") {
		t.Errorf("Reason %q spans lines", d.Reason)
	}
}

func TestAuthorizeSourceFailure(t *testing.T) {
	p := testPolicy()
	p.fail = func(method string) error {
		if method == "ListRoleBindings" {
			return errSourceDown
		}
		return nil
	}
	z := NewRBACAuthorizer(p)
	ctx := context.Background()

	// A cluster-wide grant still allows: the failure cannot change that.
	d, err := z.Authorize(ctx, Attributes{User: authenticated("alice"), Verb: "get", Namespace: "dev", Resource: "pods", Name: "p", ResourceRequest: true})
	if err != nil || !d.Allowed {
		t.Errorf("Authorize = %+v, %v; want allowed", d, err)
	}
	// Without one, the denial may be wrong: that is an error.
	d, err = z.Authorize(ctx, Attributes{User: authenticated("bob"), Verb: "get", Namespace: "dev", Resource: "pods", Name: "p", ResourceRequest: true})
	if !errors.Is(err, errSourceDown) || d.Allowed {
		t.Errorf("Authorize = %+v, %v; want denied with %v", d, err, errSourceDown)
	}
}

// TestAggregationFollowsChanges checks that aggregation is evaluated on
// every request: a role labeled after the authorizer was built still
// aggregates, and removing the label withdraws it.
func TestAggregationFollowsChanges(t *testing.T) {
	p := testPolicy()
	z := NewRBACAuthorizer(p)
	attr := Attributes{User: authenticated("bob"), Verb: "create", Namespace: "dev", APIGroup: "stable.example.com", Resource: "crontabs", ResourceRequest: true}
	allowed := func() bool {
		t.Helper()
		d, err := z.Authorize(context.Background(), attr)
		if err != nil {
			t.Fatal(err)
		}
		return d.Allowed
	}
	if allowed() {
		t.Fatal("allowed before any role grants crontabs")
	}
	r := clusterRole("crontab-editor", map[string]string{AggregateToEdit: "true"},
		resourceRule(list("create"), list("stable.example.com"), list("crontabs")))
	p.clusterRoles = append(p.clusterRoles, r)
	if !allowed() {
		t.Fatal("edit did not aggregate a newly labeled role")
	}
	r.Labels = map[string]string{"unrelated": "true"}
	if allowed() {
		t.Fatal("edit still aggregates a role whose label was removed")
	}
}

func TestClusterRoleRules(t *testing.T) {
	ctx := context.Background()
	get := resourceRule(list("get"), list(""), list("a"))
	p := &policy{clusterRoles: []*rbacv1.ClusterRole{
		{
			ObjectMeta:      metav1.ObjectMeta{Name: "top", Labels: map[string]string{"to": "loop"}},
			AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"to": "top"}}}},
			Rules:           []rbacv1.PolicyRule{resourceRule(list("*"), list("*"), list("ignored"))},
		},
		{
			ObjectMeta:      metav1.ObjectMeta{Name: "loop", Labels: map[string]string{"to": "top"}},
			AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"to": "loop"}}}},
		},
		clusterRole("leaf", map[string]string{"to": "loop"}, get),
		{
			ObjectMeta: metav1.ObjectMeta{Name: "bad"},
			AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
				{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "to", Operator: "Bogus"}}},
				{MatchLabels: map[string]string{"to": "loop"}},
			}},
		},
	}}

	// top aggregates loop, which aggregates leaf and (again) top: the cycle
	// ends, the leaf's rule arrives once, and top's own rules are ignored.
	rules, err := ClusterRoleRules(ctx, p, p.clusterRoles[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 1 || rules[0].Resources[0] != "a" {
		t.Errorf("rules = %+v, want only leaf's", rules)
	}

	// A bad selector is reported; the good one still gathers.
	rules, err = ClusterRoleRules(ctx, p, p.clusterRoles[3])
	if err == nil || !errors.Is(err, errInvalidPolicy) {
		t.Errorf("err = %v, want an invalid policy error", err)
	}
	if len(rules) != 1 {
		t.Errorf("rules = %+v, want leaf's", rules)
	}

	p.fail = func(string) error { return errSourceDown }
	if _, err := ClusterRoleRules(ctx, p, p.clusterRoles[0]); !errors.Is(err, errSourceDown) {
		t.Errorf("err = %v, want %v", err, errSourceDown)
	}
}

func TestRulesFor(t *testing.T) {
	z := NewRBACAuthorizer(testPolicy())
	ctx := context.Background()

	res, nonres, incomplete, err := z.RulesFor(ctx, authenticated("carol"), "dev")
	if err != nil || incomplete {
		t.Fatalf("RulesFor: incomplete %v, %v", incomplete, err)
	}
	wantRes := []authorizationv1.ResourceRule{
		{Verbs: list("create"), APIGroups: list("authorization.k8s.io"), Resources: list("selfsubjectaccessreviews", "selfsubjectrulesreviews")},
		{Verbs: list("get", "update", "list", "create"), APIGroups: list(""), Resources: list("configmaps"), ResourceNames: list("app-config")},
		{Verbs: list("get", "update"), APIGroups: list("apps"), Resources: list("*/scale")},
	}
	for _, w := range wantRes {
		if !slices.ContainsFunc(res, func(r authorizationv1.ResourceRule) bool { return equalResourceRule(r, w) }) {
			t.Errorf("resource rules %+v lack %+v", res, w)
		}
	}
	if !slices.ContainsFunc(nonres, func(r authorizationv1.NonResourceRule) bool { return slices.Contains(r.NonResourceURLs, "/apis/*") }) {
		t.Errorf("non-resource rules %+v lack discovery", nonres)
	}

	// In another namespace carol's RoleBindings do not apply.
	res, _, _, _ = z.RulesFor(ctx, authenticated("carol"), "prod")
	if slices.ContainsFunc(res, func(r authorizationv1.ResourceRule) bool { return slices.Contains(r.Resources, "configmaps") }) {
		t.Errorf("prod rules %+v include dev's", res)
	}

	// RoleBindings never contribute non-resource rules.
	_, nonres, _, _ = z.RulesFor(ctx, authenticated("frank"), "dev")
	if slices.ContainsFunc(nonres, func(r authorizationv1.NonResourceRule) bool { return slices.Contains(r.NonResourceURLs, "/logs/*") }) {
		t.Errorf("non-resource rules %+v include one from a RoleBinding", nonres)
	}

	// Masters see the wildcard.
	res, nonres, _, _ = z.RulesFor(ctx, authenticated(AdminUser, GroupMasters), "dev")
	if len(res) == 0 || !slices.Equal(res[0].Resources, list("*")) || len(nonres) == 0 || !slices.Equal(nonres[0].NonResourceURLs, list("*")) {
		t.Errorf("masters rules = %+v, %+v; want wildcards first", res, nonres)
	}

	// Dangling references make the answer incomplete.
	_, _, incomplete, err = z.RulesFor(ctx, authenticated("erin"), "dev")
	if !incomplete || err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("erin: incomplete %v, err %v; want incomplete with not found", incomplete, err)
	}
}

func equalResourceRule(a, b authorizationv1.ResourceRule) bool {
	return slices.Equal(a.Verbs, b.Verbs) && slices.Equal(a.APIGroups, b.APIGroups) &&
		slices.Equal(a.Resources, b.Resources) && slices.Equal(a.ResourceNames, b.ResourceNames)
}
