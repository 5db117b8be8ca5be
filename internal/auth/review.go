package auth

import (
	"context"
	"slices"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ReviewSelfSubjectAccess answers a SelfSubjectAccessReview (kubectl auth
// can-i) for u: it returns a copy of review with Status filled in. Exactly
// one of spec.resourceAttributes and spec.nonResourceAttributes must be set,
// or the error is an Invalid StatusError (422). A policy that could not be
// read is reported in Status.EvaluationError, not as an error.
func ReviewSelfSubjectAccess(ctx context.Context, z Authorizer, u User, review *authorizationv1.SelfSubjectAccessReview) (*authorizationv1.SelfSubjectAccessReview, error) {
	spec := field.NewPath("spec")
	ra, nra := review.Spec.ResourceAttributes, review.Spec.NonResourceAttributes
	var a Attributes
	switch {
	case ra != nil && nra != nil:
		return nil, invalidReview("SelfSubjectAccessReview", review.Name,
			field.Invalid(spec.Child("nonResourceAttributes"), nra, "cannot be specified in combination with resourceAttributes"))
	case ra != nil:
		a = Attributes{
			User: u, Verb: ra.Verb, Namespace: ra.Namespace, APIGroup: ra.Group,
			Resource: ra.Resource, Subresource: ra.Subresource, Name: ra.Name,
			ResourceRequest: true,
		}
	case nra != nil:
		a = Attributes{User: u, Verb: nra.Verb, Path: nra.Path}
	default:
		return nil, invalidReview("SelfSubjectAccessReview", review.Name,
			field.Required(spec.Child("resourceAttributes"), "exactly one of nonResourceAttributes or resourceAttributes must be specified"))
	}

	d, err := z.Authorize(ctx, a)
	out := review.DeepCopy()
	out.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: d.Allowed, Reason: d.Reason}
	if err != nil {
		out.Status.EvaluationError = err.Error()
	}
	return out, nil
}

// ReviewSelfSubjectRules answers a SelfSubjectRulesReview (kubectl auth
// can-i --list) for u: it returns a copy of review with Status filled in.
// spec.namespace is required, as in Kubernetes; without it the error is a
// BadRequest StatusError (400).
func ReviewSelfSubjectRules(ctx context.Context, r RuleResolver, u User, review *authorizationv1.SelfSubjectRulesReview) (*authorizationv1.SelfSubjectRulesReview, error) {
	if review.Spec.Namespace == "" {
		return nil, apierrors.NewBadRequest("no namespace on request")
	}
	res, nonres, incomplete, err := r.RulesFor(ctx, u, review.Spec.Namespace)
	out := review.DeepCopy()
	out.Status = authorizationv1.SubjectRulesReviewStatus{
		// Both lists are required fields: encode empty lists, not null.
		ResourceRules:    append([]authorizationv1.ResourceRule{}, res...),
		NonResourceRules: append([]authorizationv1.NonResourceRule{}, nonres...),
		Incomplete:       incomplete,
	}
	if err != nil {
		out.Status.EvaluationError = err.Error()
	}
	return out, nil
}

// SelfSubjectReview answers a SelfSubjectReview (kubectl auth whoami): the
// user's own attributes.
func SelfSubjectReview(u User) *authenticationv1.SelfSubjectReview {
	info := authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: slices.Clone(u.Groups)}
	if len(u.Extra) > 0 {
		info.Extra = make(map[string]authenticationv1.ExtraValue, len(u.Extra))
		for k, v := range u.Extra {
			info.Extra[k] = slices.Clone(v)
		}
	}
	return &authenticationv1.SelfSubjectReview{
		TypeMeta: metav1.TypeMeta{Kind: "SelfSubjectReview", APIVersion: authenticationv1.SchemeGroupVersion.String()},
		Status:   authenticationv1.SelfSubjectReviewStatus{UserInfo: info},
	}
}

func invalidReview(kind, name string, errs ...*field.Error) error {
	return apierrors.NewInvalid(authorizationv1.SchemeGroupVersion.WithKind(kind).GroupKind(), name, errs)
}
