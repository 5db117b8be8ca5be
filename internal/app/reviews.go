package app

import (
	"context"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"cella.dev/cella/internal/auth"
	"cella.dev/cella/internal/registry"
)

// delegationEndpoints are the create-only reviews other servers delegate
// to Cella, as to kube-apiserver: TokenReview (does this token
// authenticate, as whom), SubjectAccessReview and LocalSubjectAccessReview
// (may this user do that). The self reviews are reviewEndpoints (rbac.go).
func delegationEndpoints(tokens auth.TokenReviewer, authz auth.Authorizer) []*registry.Endpoint {
	create := []string{"create"}
	return []*registry.Endpoint{
		{
			Group: "authentication.k8s.io", Version: "v1", Kind: "TokenReview", Verbs: create,
			Resource: &registry.Resource{Group: "authentication.k8s.io", Version: "v1", Kind: "TokenReview", Plural: "tokenreviews", Singular: "tokenreview"},
			New:      func() runtime.Object { return &authenticationv1.TokenReview{} },
			Create: func(ctx context.Context, obj runtime.Object, _ registry.WriteOptions) (runtime.Object, error) {
				return auth.ReviewToken(ctx, tokens, obj.(*authenticationv1.TokenReview))
			},
		},
		{
			Group: "authorization.k8s.io", Version: "v1", Kind: "SubjectAccessReview", Verbs: create,
			Resource: &registry.Resource{Group: "authorization.k8s.io", Version: "v1", Kind: "SubjectAccessReview", Plural: "subjectaccessreviews", Singular: "subjectaccessreview"},
			New:      func() runtime.Object { return &authorizationv1.SubjectAccessReview{} },
			Create: func(ctx context.Context, obj runtime.Object, _ registry.WriteOptions) (runtime.Object, error) {
				return auth.ReviewSubjectAccess(ctx, authz, obj.(*authorizationv1.SubjectAccessReview))
			},
		},
		{
			Group: "authorization.k8s.io", Version: "v1", Kind: "LocalSubjectAccessReview", Verbs: create,
			Resource: &registry.Resource{Group: "authorization.k8s.io", Version: "v1", Kind: "LocalSubjectAccessReview", Plural: "localsubjectaccessreviews", Singular: "localsubjectaccessreview", Namespaced: true},
			New:      func() runtime.Object { return &authorizationv1.LocalSubjectAccessReview{} },
			Create: func(ctx context.Context, obj runtime.Object, _ registry.WriteOptions) (runtime.Object, error) {
				return auth.ReviewLocalSubjectAccess(ctx, authz, obj.(*authorizationv1.LocalSubjectAccessReview))
			},
		},
	}
}
