package app

import (
	"context"
	"sync"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	"cella.dev/cella/internal/auth"
	"cella.dev/cella/internal/registry"
	"cella.dev/cella/internal/registry/kinds"
)

// rbacSource reads RBAC objects for the authorizer from the stores. Reads
// are answered from the watch cache (resourceVersion=0 semantics), so a
// request costs memory reads, not storage transactions; and the decoded
// objects are kept while their resourceVersions stay the same, so a
// request does not decode the policy again. The objects it returns are
// shared between requests: the authorizer only reads them.
type rbacSource struct {
	cat *kinds.Catalog

	mu sync.Mutex
	// lists holds the last decoded list per resource and namespace.
	lists map[rbacKey]decodedList
	// objects holds the last decoded Role or ClusterRole per name.
	objects map[rbacKey]decodedObject
}

type rbacKey struct{ resource, namespace, name string }

type decodedList struct {
	revs []int64
	objs []runtime.Object
}

type decodedObject struct {
	rev int64
	obj runtime.Object
}

var _ auth.RBACSource = (*rbacSource)(nil)

func newRBACSource(cat *kinds.Catalog) *rbacSource {
	return &rbacSource{cat: cat, lists: map[rbacKey]decodedList{}, objects: map[rbacKey]decodedObject{}}
}

// list returns the objects of resource in namespace ("" for all), decoding
// only when an item changed since the last call.
func (r *rbacSource) list(ctx context.Context, resource, namespace string) ([]runtime.Object, error) {
	s := r.cat.Store(rbacv1.GroupName, resource)
	res, err := s.List(ctx, namespace, registry.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return nil, err
	}
	key := rbacKey{resource: resource, namespace: namespace}
	r.mu.Lock()
	memo, ok := r.lists[key]
	r.mu.Unlock()
	if ok && len(memo.revs) == len(res.Items) {
		same := true
		for i, it := range res.Items {
			if memo.revs[i] != it.ResourceVersion {
				same = false
				break
			}
		}
		if same {
			return memo.objs, nil
		}
	}
	memo = decodedList{revs: make([]int64, len(res.Items)), objs: make([]runtime.Object, len(res.Items))}
	for i, it := range res.Items {
		if memo.objs[i], err = s.Decode(it.JSON); err != nil {
			return nil, err
		}
		memo.revs[i] = it.ResourceVersion
	}
	r.mu.Lock()
	r.lists[key] = memo
	r.mu.Unlock()
	return memo.objs, nil
}

// get returns one object, or nil when there is none.
func (r *rbacSource) get(ctx context.Context, resource, namespace, name string) (runtime.Object, error) {
	s := r.cat.Store(rbacv1.GroupName, resource)
	key := rbacKey{resource: resource, namespace: namespace, name: name}
	raw, _, err := s.GetStale(ctx, namespace, name)
	if apierrors.IsNotFound(err) {
		r.mu.Lock()
		delete(r.objects, key)
		r.mu.Unlock()
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	memo, ok := r.objects[key]
	r.mu.Unlock()
	if ok && memo.rev == raw.ResourceVersion {
		return memo.obj, nil
	}
	obj, err := s.Decode(raw.JSON)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.objects[key] = decodedObject{rev: raw.ResourceVersion, obj: obj}
	r.mu.Unlock()
	return obj, nil
}

func listOf[T runtime.Object](objs []runtime.Object, err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	out := make([]T, len(objs))
	for i, o := range objs {
		out[i] = o.(T)
	}
	return out, nil
}

func (r *rbacSource) ListClusterRoles(ctx context.Context) ([]*rbacv1.ClusterRole, error) {
	return listOf[*rbacv1.ClusterRole](r.list(ctx, "clusterroles", ""))
}

func (r *rbacSource) ListClusterRoleBindings(ctx context.Context) ([]*rbacv1.ClusterRoleBinding, error) {
	return listOf[*rbacv1.ClusterRoleBinding](r.list(ctx, "clusterrolebindings", ""))
}

func (r *rbacSource) ListRoleBindings(ctx context.Context, namespace string) ([]*rbacv1.RoleBinding, error) {
	return listOf[*rbacv1.RoleBinding](r.list(ctx, "rolebindings", namespace))
}

func (r *rbacSource) GetClusterRole(ctx context.Context, name string) (*rbacv1.ClusterRole, error) {
	obj, err := r.get(ctx, "clusterroles", "", name)
	if obj == nil || err != nil {
		return nil, err
	}
	return obj.(*rbacv1.ClusterRole), nil
}

func (r *rbacSource) GetRole(ctx context.Context, namespace, name string) (*rbacv1.Role, error) {
	obj, err := r.get(ctx, "roles", namespace, name)
	if obj == nil || err != nil {
		return nil, err
	}
	return obj.(*rbacv1.Role), nil
}

// rbacPolicy makes the one RBAC authorizer the server has, once the
// catalogue it reads from exists: kinds.Build calls admission before it
// returns, so the authorizer is there before bootstrap writes the default
// policy and before the handler chain is built.
type rbacPolicy struct {
	authz *auth.RBACAuthorizer // set by admission
}

// admission is kinds.Config.PolicyAdmission: it builds the authorizer over
// cat and returns the escalation check the RBAC kinds run on every create
// and update.
func (p *rbacPolicy) admission(cat *kinds.Catalog) func(ctx context.Context, obj, old runtime.Object) error {
	p.authz = auth.NewRBACAuthorizer(newRBACSource(cat))
	return auth.NewEscalationGuard(p.authz).Admit
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
			Create: func(ctx context.Context, obj runtime.Object, _ registry.WriteOptions) (runtime.Object, error) {
				return auth.ReviewSelfSubjectAccess(ctx, authz, user(ctx), obj.(*authorizationv1.SelfSubjectAccessReview))
			},
		},
		{
			Group: "authorization.k8s.io", Version: "v1", Kind: "SelfSubjectRulesReview", Verbs: create,
			Resource: &registry.Resource{Group: "authorization.k8s.io", Version: "v1", Kind: "SelfSubjectRulesReview", Plural: "selfsubjectrulesreviews", Singular: "selfsubjectrulesreview"},
			New:      func() runtime.Object { return &authorizationv1.SelfSubjectRulesReview{} },
			Create: func(ctx context.Context, obj runtime.Object, _ registry.WriteOptions) (runtime.Object, error) {
				return auth.ReviewSelfSubjectRules(ctx, authz, user(ctx), obj.(*authorizationv1.SelfSubjectRulesReview))
			},
		},
		{
			Group: "authentication.k8s.io", Version: "v1", Kind: "SelfSubjectReview", Verbs: create,
			Resource: &registry.Resource{Group: "authentication.k8s.io", Version: "v1", Kind: "SelfSubjectReview", Plural: "selfsubjectreviews", Singular: "selfsubjectreview"},
			New:      func() runtime.Object { return &authenticationv1.SelfSubjectReview{} },
			Create: func(ctx context.Context, obj runtime.Object, _ registry.WriteOptions) (runtime.Object, error) {
				return auth.SelfSubjectReview(user(ctx)), nil
			},
		},
	}
}
