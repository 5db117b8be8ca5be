package auth

import (
	"context"
	"errors"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// policy is an RBACSource over fixed slices, the shape of the API server's
// cache. It is data rather than function fields because every test needs the
// same lookups over different objects; fail injects source errors.
type policy struct {
	clusterRoles        []*rbacv1.ClusterRole
	clusterRoleBindings []*rbacv1.ClusterRoleBinding
	roles               []*rbacv1.Role
	roleBindings        []*rbacv1.RoleBinding
	// fail, when set, is consulted first by every method with its name.
	fail func(method string) error
}

var _ RBACSource = (*policy)(nil)

func (p *policy) check(method string) error {
	if p.fail == nil {
		return nil
	}
	return p.fail(method)
}

func (p *policy) ListClusterRoles(context.Context) ([]*rbacv1.ClusterRole, error) {
	return p.clusterRoles, p.check("ListClusterRoles")
}

func (p *policy) ListClusterRoleBindings(context.Context) ([]*rbacv1.ClusterRoleBinding, error) {
	return p.clusterRoleBindings, p.check("ListClusterRoleBindings")
}

func (p *policy) ListRoleBindings(_ context.Context, ns string) ([]*rbacv1.RoleBinding, error) {
	if err := p.check("ListRoleBindings"); err != nil {
		return nil, err
	}
	var out []*rbacv1.RoleBinding
	for _, b := range p.roleBindings {
		if b.Namespace == ns {
			out = append(out, b)
		}
	}
	return out, nil
}

func (p *policy) GetClusterRole(_ context.Context, name string) (*rbacv1.ClusterRole, error) {
	if err := p.check("GetClusterRole"); err != nil {
		return nil, err
	}
	for _, r := range p.clusterRoles {
		if r.Name == name {
			return r, nil
		}
	}
	return nil, nil
}

func (p *policy) GetRole(_ context.Context, ns, name string) (*rbacv1.Role, error) {
	if err := p.check("GetRole"); err != nil {
		return nil, err
	}
	for _, r := range p.roles {
		if r.Namespace == ns && r.Name == name {
			return r, nil
		}
	}
	return nil, nil
}

var errSourceDown = errors.New("cache not synced")

// Builders for test objects.

func clusterRole(name string, labels map[string]string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Rules: rules}
}

func role(ns, name string, rules ...rbacv1.PolicyRule) *rbacv1.Role {
	return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: rules}
}

func clusterBinding(name, roleName string, subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: roleName},
		Subjects:   subjects,
	}
}

func binding(ns, name, roleKind, roleName string, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: roleKind, Name: roleName},
		Subjects:   subjects,
	}
}

func userSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}

func groupSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: name}
}

func saSubject(ns, name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}
}

func resourceRule(verbs, groups, resources []string, names ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: groups, Resources: resources, ResourceNames: names}
}

func list(s ...string) []string { return s }

// withBootstrap returns p with the default policy added.
func withBootstrap(p *policy) *policy {
	p.clusterRoles = append(p.clusterRoles, BootstrapClusterRoles()...)
	p.clusterRoleBindings = append(p.clusterRoleBindings, BootstrapClusterRoleBindings()...)
	return p
}

// authenticated returns a user with name and groups plus
// system:authenticated, as the authenticators produce.
func authenticated(name string, groups ...string) User {
	return User{Name: name, Groups: withAuthenticatedGroup(groups)}
}
