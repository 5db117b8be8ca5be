package app

import (
	"context"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	"cella.dev/cella/internal/auth"
	"cella.dev/cella/internal/registry"
	"cella.dev/cella/internal/registry/kinds"
)

// rbacSource reads RBAC objects for the authorizer from the stores. Lists
// are answered from the watch cache (resourceVersion=0 semantics), so a
// request costs memory reads, not storage transactions.
type rbacSource struct {
	cat *kinds.Catalog
}

var _ auth.RBACSource = (*rbacSource)(nil)

func listAll[T runtime.Object](ctx context.Context, s *registry.Store, ns string) ([]T, error) {
	res, err := s.List(ctx, ns, registry.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(res.Items))
	for _, it := range res.Items {
		obj, err := s.Decode(it.JSON)
		if err != nil {
			return nil, err
		}
		out = append(out, obj.(T))
	}
	return out, nil
}

func (r *rbacSource) ListClusterRoles(ctx context.Context) ([]*rbacv1.ClusterRole, error) {
	return listAll[*rbacv1.ClusterRole](ctx, r.cat.Store(rbacv1.GroupName, "clusterroles"), "")
}

func (r *rbacSource) ListClusterRoleBindings(ctx context.Context) ([]*rbacv1.ClusterRoleBinding, error) {
	return listAll[*rbacv1.ClusterRoleBinding](ctx, r.cat.Store(rbacv1.GroupName, "clusterrolebindings"), "")
}

func (r *rbacSource) ListRoleBindings(ctx context.Context, namespace string) ([]*rbacv1.RoleBinding, error) {
	return listAll[*rbacv1.RoleBinding](ctx, r.cat.Store(rbacv1.GroupName, "rolebindings"), namespace)
}

func (r *rbacSource) GetClusterRole(ctx context.Context, name string) (*rbacv1.ClusterRole, error) {
	obj, err := r.cat.Store(rbacv1.GroupName, "clusterroles").GetObject(ctx, "", name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return obj.(*rbacv1.ClusterRole), nil
}

func (r *rbacSource) GetRole(ctx context.Context, namespace, name string) (*rbacv1.Role, error) {
	obj, err := r.cat.Store(rbacv1.GroupName, "roles").GetObject(ctx, namespace, name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return obj.(*rbacv1.Role), nil
}

// reviewEndpoints are the create-only access review kinds.
func reviewEndpoints(authz *auth.RBACAuthorizer) []*registry.Endpoint {
	user := func(ctx context.Context) auth.User {
		u, _ := auth.UserFrom(ctx)
		return u
	}
	create := []string{"create"}
	return []*registry.Endpoint{
		{
			Group: "authorization.k8s.io", Version: "v1", Kind: "SelfSubjectAccessReview", Verbs: create,
			Resource: &registry.Resource{Group: "authorization.k8s.io", Version: "v1", Kind: "SelfSubjectAccessReview", Plural: "selfsubjectaccessreviews", Singular: "selfsubjectaccessreview"},
			New:      func() runtime.Object { return &authorizationv1.SelfSubjectAccessReview{} },
			Create: func(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
				return auth.ReviewSelfSubjectAccess(ctx, authz, user(ctx), obj.(*authorizationv1.SelfSubjectAccessReview))
			},
		},
		{
			Group: "authorization.k8s.io", Version: "v1", Kind: "SelfSubjectRulesReview", Verbs: create,
			Resource: &registry.Resource{Group: "authorization.k8s.io", Version: "v1", Kind: "SelfSubjectRulesReview", Plural: "selfsubjectrulesreviews", Singular: "selfsubjectrulesreview"},
			New:      func() runtime.Object { return &authorizationv1.SelfSubjectRulesReview{} },
			Create: func(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
				return auth.ReviewSelfSubjectRules(ctx, authz, user(ctx), obj.(*authorizationv1.SelfSubjectRulesReview))
			},
		},
		{
			Group: "authentication.k8s.io", Version: "v1", Kind: "SelfSubjectReview", Verbs: create,
			Resource: &registry.Resource{Group: "authentication.k8s.io", Version: "v1", Kind: "SelfSubjectReview", Plural: "selfsubjectreviews", Singular: "selfsubjectreview"},
			New:      func() runtime.Object { return &authenticationv1.SelfSubjectReview{} },
			Create: func(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
				return auth.SelfSubjectReview(user(ctx)), nil
			},
		},
	}
}
