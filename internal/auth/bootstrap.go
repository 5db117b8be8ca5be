package auth

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and annotations of the default policy, as Kubernetes spells them.
const (
	// BootstrapLabel marks every object of the default policy; its value is
	// "rbac-defaults".
	BootstrapLabel = "kubernetes.io/bootstrapping"
	// AutoupdateAnnotation set to "true" means the server may restore the
	// object to its default on start; users set "false" to keep their edits.
	AutoupdateAnnotation = "rbac.authorization.kubernetes.io/autoupdate"

	// A ClusterRole labeled AggregateToAdmin (edit, view) "true" adds its
	// rules to admin (edit, view).
	AggregateToAdmin = "rbac.authorization.k8s.io/aggregate-to-admin"
	AggregateToEdit  = "rbac.authorization.k8s.io/aggregate-to-edit"
	AggregateToView  = "rbac.authorization.k8s.io/aggregate-to-view"
)

// BootstrapClusterRoles returns the ClusterRoles a new cluster starts with,
// modelled on Kubernetes' defaults and limited to the resources Cella serves:
//
//   - cluster-admin: everything;
//   - admin, edit, view: aggregated roles (admin ⊇ edit ⊇ view, through
//     edit's and view's aggregate-to labels), whose rules come from
//     system:aggregate-to-admin, -edit and -view and from any other
//     ClusterRole carrying the same labels;
//   - system:basic-user: the self-review APIs behind kubectl auth;
//   - system:discovery and system:public-info-viewer: discovery, OpenAPI,
//     version and health paths;
//   - system:service-account-issuer-discovery: the issuer's OpenID
//     discovery document and keys;
//   - system:auth-delegator: TokenReviews and SubjectAccessReviews, for
//     servers that delegate authentication and authorization to Cella.
//
// As in Kubernetes, view reads no secrets and nothing that reaches into a
// running pod; edit writes workloads but not status subresources, quotas,
// limit ranges or endpoints (Kubernetes dropped endpoints from edit for
// CVE-2021-25740); only admin writes Roles and RoleBindings. Each call
// returns new objects.
func BootstrapClusterRoles() []*rbacv1.ClusterRole {
	read := []string{"get", "list", "watch"}
	write := []string{"create", "update", "patch", "delete", "deletecollection"}
	readWrite := append(append([]string{}, read...), write...)

	roles := []*rbacv1.ClusterRole{
		{
			ObjectMeta: metav1.ObjectMeta{Name: "cluster-admin"},
			Rules: []rbacv1.PolicyRule{
				{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
				{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}},
			},
		},
		aggregated("admin", AggregateToAdmin, ""),
		aggregated("edit", AggregateToEdit, AggregateToAdmin),
		aggregated("view", AggregateToView, AggregateToEdit),
		{
			ObjectMeta: metav1.ObjectMeta{Name: "system:aggregate-to-admin", Labels: map[string]string{AggregateToAdmin: "true"}},
			Rules: []rbacv1.PolicyRule{
				rule(readWrite, rbacv1.GroupName, "roles", "rolebindings"),
			},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "system:aggregate-to-edit", Labels: map[string]string{AggregateToEdit: "true"}},
			Rules: []rbacv1.PolicyRule{
				// Reading these escalates: secrets hold credentials, and the
				// pod subresources reach into running containers.
				rule(read, "", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"),
				rule(write, "", "pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"),
				rule([]string{"create"}, "", "pods/eviction", "serviceaccounts/token"),
				// As Kubernetes' edit role: acting as a service account of
				// the namespace, whose powers an editor can use anyway
				// through its pods.
				rule([]string{"impersonate"}, "", "serviceaccounts"),
				rule(write, "", "services", "services/proxy", "configmaps", "secrets", "serviceaccounts",
					"persistentvolumeclaims", "events"),
				rule(write, "", "replicationcontrollers", "replicationcontrollers/scale"),
				rule(write, "apps", "deployments", "deployments/scale", "statefulsets", "statefulsets/scale",
					"replicasets", "replicasets/scale", "daemonsets"),
				rule(write, "policy", "poddisruptionbudgets"),
				rule(write, "networking.k8s.io", "networkpolicies"),
				rule(write, "batch", "jobs", "cronjobs"),
				rule(write, "autoscaling", "horizontalpodautoscalers"),
				rule(write, "networking.k8s.io", "ingresses"),
				rule(write, "extensions", "ingresses"),
				rule(write, "events.k8s.io", "events"),
				rule(write, "networking.cci.io", "networks"),
				rule(write, "crd.yangtse.cni", "eippools"),
				rule(write, "batch.volcano.sh", "jobs"),
			},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "system:aggregate-to-view", Labels: map[string]string{AggregateToView: "true"}},
			Rules: []rbacv1.PolicyRule{
				rule(read, "", "pods", "pods/log", "pods/status", "services", "services/status", "endpoints",
					"configmaps", "serviceaccounts", "persistentvolumeclaims", "persistentvolumeclaims/status",
					"resourcequotas", "resourcequotas/status", "limitranges", "events"),
				// Read access to namespaces from a RoleBinding means reading
				// that one namespace: a sign of where the user has access.
				rule(read, "", "namespaces", "namespaces/status"),
				rule(read, "", "replicationcontrollers", "replicationcontrollers/scale", "replicationcontrollers/status"),
				rule(read, "apps", "deployments", "deployments/scale", "deployments/status",
					"statefulsets", "statefulsets/scale", "statefulsets/status",
					"replicasets", "replicasets/scale", "replicasets/status",
					"daemonsets", "daemonsets/status", "controllerrevisions"),
				rule(read, "policy", "poddisruptionbudgets", "poddisruptionbudgets/status"),
				rule(read, "networking.k8s.io", "networkpolicies"),
				rule(read, "batch", "jobs", "jobs/status", "cronjobs", "cronjobs/status"),
				rule(read, "autoscaling", "horizontalpodautoscalers", "horizontalpodautoscalers/status"),
				rule(read, "networking.k8s.io", "ingresses", "ingresses/status"),
				rule(read, "extensions", "ingresses", "ingresses/status"),
				rule(read, "events.k8s.io", "events"),
				rule(read, "networking.cci.io", "networks", "networks/status"),
				rule(read, "crd.yangtse.cni", "eippools", "eippools/status"),
				rule(read, "batch.volcano.sh", "jobs", "jobs/status"),
				rule([]string{"get", "list"}, "metrics.k8s.io", "pods"),
			},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "system:basic-user"},
			Rules: []rbacv1.PolicyRule{
				rule([]string{"create"}, "authorization.k8s.io", "selfsubjectaccessreviews", "selfsubjectrulesreviews"),
				rule([]string{"create"}, "authentication.k8s.io", "selfsubjectreviews"),
			},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "system:discovery"},
			Rules: []rbacv1.PolicyRule{{
				Verbs: []string{"get"},
				NonResourceURLs: []string{"/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*",
					"/version", "/version/", "/healthz", "/livez", "/readyz"},
			}},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "system:public-info-viewer"},
			Rules: []rbacv1.PolicyRule{{
				Verbs:           []string{"get"},
				NonResourceURLs: []string{"/version", "/version/", "/healthz", "/livez", "/readyz"},
			}},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "system:service-account-issuer-discovery"},
			Rules: []rbacv1.PolicyRule{{
				Verbs:           []string{"get"},
				NonResourceURLs: []string{"/.well-known/openid-configuration", "/.well-known/openid-configuration/", "/openid/v1/jwks", "/openid/v1/jwks/"},
			}},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "system:auth-delegator"},
			Rules: []rbacv1.PolicyRule{
				rule([]string{"create"}, "authentication.k8s.io", "tokenreviews"),
				rule([]string{"create"}, "authorization.k8s.io", "subjectaccessreviews"),
			},
		},
	}
	for _, r := range roles {
		markBootstrap(&r.ObjectMeta)
	}
	return roles
}

// BootstrapClusterRoleBindings returns the ClusterRoleBindings a new cluster
// starts with, each named after its ClusterRole: cluster-admin to
// system:masters; system:basic-user and system:discovery to every
// authenticated user; system:public-info-viewer to everyone, authenticated
// or not; system:service-account-issuer-discovery to every service account
// (Kubernetes' default: other clients get the keys by a binding of their
// own). Each call returns new objects.
func BootstrapClusterRoleBindings() []*rbacv1.ClusterRoleBinding {
	bindings := []*rbacv1.ClusterRoleBinding{
		bindGroups("cluster-admin", GroupMasters),
		bindGroups("system:basic-user", GroupAuthenticated),
		bindGroups("system:discovery", GroupAuthenticated),
		bindGroups("system:public-info-viewer", GroupAuthenticated, GroupUnauthenticated),
		bindGroups("system:service-account-issuer-discovery", GroupServiceAccounts),
	}
	for _, b := range bindings {
		markBootstrap(&b.ObjectMeta)
	}
	return bindings
}

// aggregated returns a ClusterRole gathering the roles labeled from "true",
// itself labeled to "true" unless to is empty.
func aggregated(name, from, to string) *rbacv1.ClusterRole {
	r := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		AggregationRule: &rbacv1.AggregationRule{
			ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{from: "true"}}},
		},
	}
	if to != "" {
		r.Labels = map[string]string{to: "true"}
	}
	return r
}

func bindGroups(role string, groups ...string) *rbacv1.ClusterRoleBinding {
	b := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
	}
	for _, g := range groups {
		b.Subjects = append(b.Subjects, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: g})
	}
	return b
}

// rule returns a PolicyRule granting verbs on resources of group. verbs is
// copied, so rules never share it.
func rule(verbs []string, group string, resources ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{
		Verbs:     append([]string{}, verbs...),
		APIGroups: []string{group},
		Resources: resources,
	}
}

func markBootstrap(m *metav1.ObjectMeta) {
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	m.Labels[BootstrapLabel] = "rbac-defaults"
	m.Annotations = map[string]string{AutoupdateAnnotation: "true"}
}
