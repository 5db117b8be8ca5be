package auth_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"cella.dev/cella/internal/registry/kinds"
	"cella.dev/cella/internal/servertest"
)

// held is the part of kube-apiserver's escalation refusal after the user.
const held = " is attempting to grant RBAC permissions not currently held:\n"

// TestEscalationOverTheAPI: a namespace admin cannot grant through RBAC
// objects what she does not hold, unless given bind or escalate; a user who
// may write ClusterRoles is held to his own rules and may not aggregate; the
// admin (system:masters) may do all of it. Everything goes through client-go
// to the real server.
func TestEscalationOverTheAPI(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			srv := servertest.Start(t, servertest.WithUsers(t,
				servertest.User{Name: "alice", Token: "alice-token"},
				servertest.User{Name: "crw", Token: "crw-token"},
			))
			testEscalation(t, srv)
		})
	}
}

func testEscalation(t *testing.T, srv *servertest.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	admin := srv.Clientset()
	alice := clientFor(t, srv, "alice-token")
	crw := clientFor(t, srv, "crw-token")
	rbacGroup := []string{rbacv1.GroupName}

	// The policy under test, written by the admin: alice is admin of ns1;
	// crw may create and update ClusterRoles and ClusterRoleBindings and
	// holds nothing else beyond what every user has.
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns1", Annotations: map[string]string{kinds.FlavorAnnotation: "general-computing"}}}
	must(t, create(ctx, admin.CoreV1().Namespaces().Create, ns))
	must(t, create(ctx, admin.RbacV1().RoleBindings("ns1").Create, roleBinding("alice-admin", "ClusterRole", "admin", "alice")))
	must(t, create(ctx, admin.RbacV1().ClusterRoles().Create, clusterRole("clusterrole-writer",
		rbacv1.PolicyRule{Verbs: []string{"create", "update"}, APIGroups: rbacGroup, Resources: []string{"clusterroles", "clusterrolebindings"}})))
	must(t, create(ctx, admin.RbacV1().ClusterRoleBindings().Create, clusterRoleBinding("crw", "clusterrole-writer", "crw")))

	star := rbacv1.PolicyRule{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}
	pods := rbacv1.PolicyRule{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}}
	aliceHeld := `user "alice" (groups=["system:authenticated"])` + held
	crwHeld := `user "crw" (groups=["system:authenticated"])` + held
	clusterAdminRules := `{APIGroups:["*"], Resources:["*"], Verbs:["*"]}` + "\n" + `{NonResourceURLs:["*"], Verbs:["*"]}`

	// RoleBindings. The subject is someone else throughout, so alice's own
	// rights change only when the admin grants them. RBAC reads the policy
	// from the watch cache: the first write a new grant allows is retried
	// until the grant shows.
	rbs := alice.RbacV1().RoleBindings("ns1")
	eventually(t, ctx, "alice binding edit", func() error {
		return create(ctx, rbs.Create, roleBinding("to-edit", "ClusterRole", "edit", "mallory"))
	})
	forbidden(t, "RoleBinding to cluster-admin", create(ctx, rbs.Create, roleBinding("to-cluster-admin", "ClusterRole", "cluster-admin", "mallory")),
		`rolebindings.rbac.authorization.k8s.io "to-cluster-admin" is forbidden: `+aliceHeld+clusterAdminRules)
	must(t, create(ctx, rbs.Create, roleBinding("to-view", "ClusterRole", "view", "mallory")))
	// Dry run is checked too.
	_, err := rbs.Create(ctx, roleBinding("dry", "ClusterRole", "cluster-admin", "mallory"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	forbidden(t, "dry-run RoleBinding to cluster-admin", err, "")

	// Roles.
	roles := alice.RbacV1().Roles("ns1")
	forbidden(t, "Role with */*/*", create(ctx, roles.Create, role("star", star)),
		`roles.rbac.authorization.k8s.io "star" is forbidden: `+aliceHeld+`{APIGroups:["*"], Resources:["*"], Verbs:["*"]}`)
	must(t, create(ctx, roles.Create, role("reader", pods)))
	quotas := rbacv1.PolicyRule{Verbs: []string{"create", "update"}, APIGroups: []string{""}, Resources: []string{"resourcequotas"}}
	_, err = roles.Update(ctx, role("reader", pods, quotas), metav1.UpdateOptions{})
	forbidden(t, "Role update adding quotas", err,
		`roles.rbac.authorization.k8s.io "reader" is forbidden: `+aliceHeld+`{APIGroups:[""], Resources:["resourcequotas"], Verbs:["create" "update"]}`)

	// Cluster-scoped kinds: alice may not create them at all (the
	// authorizer's 403), crw may, within what he holds.
	_, err = alice.RbacV1().ClusterRoles().Create(ctx, clusterRole("c", pods), metav1.CreateOptions{})
	forbidden(t, "alice creating a ClusterRole", err,
		`clusterroles.rbac.authorization.k8s.io is forbidden: User "alice" cannot create resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope`)
	_, err = alice.RbacV1().ClusterRoleBindings().Create(ctx, clusterRoleBinding("c", "view", "mallory"), metav1.CreateOptions{})
	forbidden(t, "alice creating a ClusterRoleBinding", err, "")

	crs := crw.RbacV1().ClusterRoles()
	eventually(t, ctx, "crw creating a ClusterRole he holds", func() error {
		return create(ctx, crs.Create, clusterRole("own", rbacv1.PolicyRule{Verbs: []string{"create"}, APIGroups: rbacGroup, Resources: []string{"clusterroles"}}))
	})
	forbidden(t, "ClusterRole with rules crw lacks", create(ctx, crs.Create, clusterRole("pods", pods)),
		`clusterroles.rbac.authorization.k8s.io "pods" is forbidden: `+crwHeld+`{APIGroups:[""], Resources:["pods"], Verbs:["get" "list"]}`)
	const aggregationRefused = `clusterroles.rbac.authorization.k8s.io "agg" is forbidden: must have cluster-admin privileges to use the aggregationRule`
	forbidden(t, "aggregated ClusterRole", create(ctx, crs.Create, aggregatedRole("agg")), aggregationRefused)
	forbidden(t, "ClusterRoleBinding to cluster-admin", create(ctx, crw.RbacV1().ClusterRoleBindings().Create, clusterRoleBinding("crw-root", "cluster-admin", "crw")),
		`clusterrolebindings.rbac.authorization.k8s.io "crw-root" is forbidden: `+crwHeld+clusterAdminRules)
	must(t, create(ctx, crw.RbacV1().ClusterRoleBindings().Create, clusterRoleBinding("crw-again", "clusterrole-writer", "mallory")))

	// Given bind on cluster-admin in ns1, alice may bind it there.
	must(t, create(ctx, admin.RbacV1().ClusterRoles().Create, clusterRole("bind-cluster-admin",
		rbacv1.PolicyRule{Verbs: []string{"bind"}, APIGroups: rbacGroup, Resources: []string{"clusterroles"}, ResourceNames: []string{"cluster-admin"}})))
	must(t, create(ctx, admin.RbacV1().RoleBindings("ns1").Create, roleBinding("alice-bind", "ClusterRole", "bind-cluster-admin", "alice")))
	eventually(t, ctx, "alice binding cluster-admin with bind", func() error {
		return create(ctx, rbs.Create, roleBinding("to-cluster-admin", "ClusterRole", "cluster-admin", "mallory"))
	})

	// Given escalate on roles in ns1, alice may write any Role there.
	must(t, create(ctx, admin.RbacV1().ClusterRoles().Create, clusterRole("escalate-roles",
		rbacv1.PolicyRule{Verbs: []string{"escalate"}, APIGroups: rbacGroup, Resources: []string{"roles"}})))
	must(t, create(ctx, admin.RbacV1().RoleBindings("ns1").Create, roleBinding("alice-escalate", "ClusterRole", "escalate-roles", "alice")))
	eventually(t, ctx, "alice creating */*/* with escalate", func() error { return create(ctx, roles.Create, role("star", star)) })
	if _, err := roles.Update(ctx, role("reader", pods, quotas), metav1.UpdateOptions{}); err != nil {
		t.Errorf("Role update with escalate: %v", err)
	}

	// Given escalate on clusterroles, crw may aggregate.
	must(t, create(ctx, admin.RbacV1().ClusterRoles().Create, clusterRole("escalate-clusterroles",
		rbacv1.PolicyRule{Verbs: []string{"escalate"}, APIGroups: rbacGroup, Resources: []string{"clusterroles"}})))
	must(t, create(ctx, admin.RbacV1().ClusterRoleBindings().Create, clusterRoleBinding("crw-escalate", "escalate-clusterroles", "crw")))
	eventually(t, ctx, "crw aggregating with escalate", func() error { return create(ctx, crs.Create, aggregatedRole("agg")) })

	// The admin may do all of it.
	must(t, create(ctx, admin.RbacV1().RoleBindings("ns1").Create, roleBinding("admin-to-cluster-admin", "ClusterRole", "cluster-admin", "mallory")))
	must(t, create(ctx, admin.RbacV1().Roles("ns1").Create, role("admin-star", star)))
	must(t, create(ctx, admin.RbacV1().ClusterRoles().Create, aggregatedRole("admin-agg")))
	must(t, create(ctx, admin.RbacV1().ClusterRoleBindings().Create, clusterRoleBinding("admin-root", "cluster-admin", "mallory")))
}

func clientFor(t *testing.T, srv *servertest.Server, token string) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(srv.RestConfigFor(token))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// create calls a typed client's Create and keeps only the error.
func create[T any](ctx context.Context, fn func(context.Context, T, metav1.CreateOptions) (T, error), obj T) error {
	_, err := fn(ctx, obj, metav1.CreateOptions{})
	return err
}

// eventually retries fn until it succeeds, failing the test with its last
// error when ctx ends first.
func eventually(t *testing.T, ctx context.Context, what string, fn func() error) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := fn()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, err)
		case <-tick.C:
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%v", err)
	}
}

// forbidden fails unless err is a 403 Forbidden Status with message (any
// message when message is empty).
func forbidden(t *testing.T, what string, err error, message string) {
	t.Helper()
	if !apierrors.IsForbidden(err) {
		t.Errorf("%s: %v; want 403 Forbidden", what, err)
		return
	}
	if got := err.(apierrors.APIStatus).Status().Message; message != "" && got != message {
		t.Errorf("%s: message\n%s\nwant\n%s", what, got, message)
	}
}

func role(name string, rules ...rbacv1.PolicyRule) *rbacv1.Role {
	return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
}

func clusterRole(name string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
}

func aggregatedRole(name string) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
			{MatchLabels: map[string]string{"rbac.authorization.k8s.io/aggregate-to-admin": "true"}},
		}},
	}
}

func roleBinding(name, kind, roleName, user string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: roleName},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
}

func clusterRoleBinding(name, roleName, user string) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: roleName},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
}
