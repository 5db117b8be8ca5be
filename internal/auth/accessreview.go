package auth

import (
	"context"
	"maps"
	"slices"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ReviewSubjectAccess answers a SubjectAccessReview: may the user the spec
// describes do what it asks? It returns a copy of review with Status
// filled in, or an Invalid StatusError (422) as kube-apiserver validates
// the spec: one of user and groups, exactly one of resourceAttributes and
// nonResourceAttributes. The user is taken as given; nothing (not even
// system:authenticated) is added to its groups.
func ReviewSubjectAccess(ctx context.Context, z Authorizer, review *authorizationv1.SubjectAccessReview) (*authorizationv1.SubjectAccessReview, error) {
	errs := validateSubjectAccessSpec(&review.Spec, field.NewPath("spec"))
	if len(errs) > 0 {
		return nil, invalidReview("SubjectAccessReview", review.Name, errs...)
	}
	out := review.DeepCopy()
	out.Status = subjectAccess(ctx, z, &review.Spec)
	return out, nil
}

// ReviewLocalSubjectAccess answers a LocalSubjectAccessReview, a
// SubjectAccessReview confined to the namespace it is created in
// (review.Namespace, the URL's): spec.resourceAttributes.namespace must be
// that namespace and nonResourceAttributes are not allowed (422).
func ReviewLocalSubjectAccess(ctx context.Context, z Authorizer, review *authorizationv1.LocalSubjectAccessReview) (*authorizationv1.LocalSubjectAccessReview, error) {
	if review.Namespace == "" {
		return nil, apierrors.NewBadRequest("namespace is required on this type: ")
	}
	spec := field.NewPath("spec")
	errs := validateSubjectAccessSpec(&review.Spec, spec)
	if ra := review.Spec.ResourceAttributes; ra != nil && ra.Namespace != review.Namespace {
		errs = append(errs, field.Invalid(spec.Child("resourceAttributes", "namespace"), ra.Namespace, "must match metadata.namespace"))
	}
	if nra := review.Spec.NonResourceAttributes; nra != nil {
		errs = append(errs, field.Invalid(spec.Child("nonResourceAttributes"), nra, "disallowed on this kind of request"))
	}
	if len(errs) > 0 {
		return nil, invalidReview("LocalSubjectAccessReview", review.Name, errs...)
	}
	out := review.DeepCopy()
	out.Status = subjectAccess(ctx, z, &review.Spec)
	return out, nil
}

// validateSubjectAccessSpec is kube-apiserver's
// ValidateSubjectAccessReviewSpec.
func validateSubjectAccessSpec(s *authorizationv1.SubjectAccessReviewSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case s.ResourceAttributes != nil && s.NonResourceAttributes != nil:
		errs = append(errs, field.Invalid(p.Child("nonResourceAttributes"), s.NonResourceAttributes, "cannot be specified in combination with resourceAttributes"))
	case s.ResourceAttributes == nil && s.NonResourceAttributes == nil:
		errs = append(errs, field.Required(p.Child("resourceAttributes"), "exactly one of nonResourceAttributes or resourceAttributes must be specified"))
	}
	if s.User == "" && len(s.Groups) == 0 {
		errs = append(errs, field.Invalid(p.Child("user"), s.User, "at least one of user or group must be specified"))
	}
	return errs
}

// subjectAccess decides a validated spec.
func subjectAccess(ctx context.Context, z Authorizer, s *authorizationv1.SubjectAccessReviewSpec) authorizationv1.SubjectAccessReviewStatus {
	u := User{Name: s.User, UID: s.UID, Groups: slices.Clone(s.Groups)}
	if len(s.Extra) > 0 {
		u.Extra = make(map[string][]string, len(s.Extra))
		for k, v := range s.Extra {
			u.Extra[k] = slices.Clone(v)
		}
	}
	a := Attributes{User: u}
	if ra := s.ResourceAttributes; ra != nil {
		a.Verb, a.Namespace, a.APIGroup, a.Resource, a.Subresource, a.Name = ra.Verb, ra.Namespace, ra.Group, ra.Resource, ra.Subresource, ra.Name
		a.ResourceRequest = true
	} else {
		a.Verb, a.Path = s.NonResourceAttributes.Verb, s.NonResourceAttributes.Path
	}
	d, err := z.Authorize(ctx, a)
	st := authorizationv1.SubjectAccessReviewStatus{Allowed: d.Allowed, Reason: d.Reason}
	if err != nil {
		st.EvaluationError = err.Error()
	}
	return st
}

// ReviewToken answers a TokenReview as kube-apiserver does: it
// authenticates spec.token through r for spec.audiences (the API server's
// when empty) and reports the user and the audiences the token is good
// for. A token that does not authenticate is a review with authenticated
// false and the reason in status.error, not an error; an empty token is a
// BadRequest (400).
func ReviewToken(ctx context.Context, r TokenReviewer, review *authenticationv1.TokenReview) (*authenticationv1.TokenReview, error) {
	if review.Spec.Token == "" {
		return nil, apierrors.NewBadRequest("token is required for TokenReview in authentication")
	}
	out := review.DeepCopy()
	out.Status = authenticationv1.TokenReviewStatus{}
	u, auds, ok, err := r.AuthenticateToken(ctx, review.Spec.Token, review.Spec.Audiences)
	switch {
	case ok:
		out.Status.Authenticated = true
		out.Status.Audiences = auds
		out.Status.User = authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: slices.Clone(u.Groups)}
		if len(u.Extra) > 0 {
			out.Status.User.Extra = make(map[string]authenticationv1.ExtraValue, len(u.Extra))
			for _, k := range slices.Sorted(maps.Keys(u.Extra)) {
				out.Status.User.Extra[k] = slices.Clone(u.Extra[k])
			}
		}
	case err != nil:
		out.Status.Error = err.Error()
	default:
		out.Status.Error = ErrInvalidToken.Error()
	}
	return out, nil
}
