package auth

import (
	"context"
	"slices"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// authorizerFunc is an Authorizer fake.
type authorizerFunc func(context.Context, Attributes) (Decision, error)

func (f authorizerFunc) Authorize(ctx context.Context, a Attributes) (Decision, error) {
	return f(ctx, a)
}

func TestReviewSelfSubjectAccess(t *testing.T) {
	z := NewRBACAuthorizer(testPolicy())
	ctx := context.Background()
	bob := authenticated("bob")

	tests := []struct {
		name string
		spec authorizationv1.SelfSubjectAccessReviewSpec
		want bool
	}{
		{"resource allowed", authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: "dev", Verb: "create", Group: "apps", Resource: "deployments"}}, true},
		{"subresource allowed", authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: "dev", Verb: "create", Resource: "pods", Subresource: "exec", Name: "p"}}, true},
		{"resource denied", authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: "prod", Verb: "create", Group: "apps", Resource: "deployments"}}, false},
		{"non-resource allowed", authorizationv1.SelfSubjectAccessReviewSpec{NonResourceAttributes: &authorizationv1.NonResourceAttributes{
			Path: "/version", Verb: "get"}}, true},
		{"non-resource denied", authorizationv1.SelfSubjectAccessReviewSpec{NonResourceAttributes: &authorizationv1.NonResourceAttributes{
			Path: "/metrics", Verb: "get"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &authorizationv1.SelfSubjectAccessReview{Spec: tt.spec}
			out, err := ReviewSelfSubjectAccess(ctx, z, bob, in)
			if err != nil {
				t.Fatal(err)
			}
			if out.Status.Allowed != tt.want || out.Status.Denied {
				t.Errorf("status = %+v, want allowed %v", out.Status, tt.want)
			}
			if in.Status.Allowed || in.Status.Reason != "" {
				t.Error("input review was modified")
			}
		})
	}

	for name, spec := range map[string]authorizationv1.SelfSubjectAccessReviewSpec{
		"neither": {},
		"both": {ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get"},
			NonResourceAttributes: &authorizationv1.NonResourceAttributes{Verb: "get"}},
	} {
		_, err := ReviewSelfSubjectAccess(ctx, z, bob, &authorizationv1.SelfSubjectAccessReview{Spec: spec})
		if !apierrors.IsInvalid(err) {
			t.Errorf("%s: err = %v, want Invalid", name, err)
		}
	}

	failing := authorizerFunc(func(context.Context, Attributes) (Decision, error) {
		return Decision{Reason: "RBAC: down"}, errSourceDown
	})
	out, err := ReviewSelfSubjectAccess(ctx, failing, bob, &authorizationv1.SelfSubjectAccessReview{Spec: tests[0].spec})
	if err != nil || out.Status.Allowed || out.Status.EvaluationError != errSourceDown.Error() {
		t.Errorf("failing authorizer: %+v, %v; want EvaluationError", out.Status, err)
	}
}

func TestReviewSelfSubjectRules(t *testing.T) {
	z := NewRBACAuthorizer(testPolicy())
	ctx := context.Background()

	out, err := ReviewSelfSubjectRules(ctx, z, authenticated("nobody"), &authorizationv1.SelfSubjectRulesReview{
		Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: "dev"}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Status.Incomplete || out.Status.EvaluationError != "" {
		t.Errorf("status = %+v, want complete", out.Status)
	}
	if len(out.Status.ResourceRules) == 0 || len(out.Status.NonResourceRules) == 0 {
		t.Errorf("status = %+v, want basic-user and discovery rules", out.Status)
	}

	out, err = ReviewSelfSubjectRules(ctx, z, authenticated("erin"), &authorizationv1.SelfSubjectRulesReview{
		Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: "dev"}})
	if err != nil || !out.Status.Incomplete || out.Status.EvaluationError == "" {
		t.Errorf("dangling: %+v, %v; want incomplete with an evaluation error", out.Status, err)
	}

	// An empty user still encodes lists, never null.
	empty := NewRBACAuthorizer(&policy{})
	out, _ = ReviewSelfSubjectRules(ctx, empty, User{Name: "x"}, &authorizationv1.SelfSubjectRulesReview{
		Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: "dev"}})
	if out.Status.ResourceRules == nil || out.Status.NonResourceRules == nil {
		t.Errorf("status = %+v, want empty non-nil lists", out.Status)
	}

	if _, err := ReviewSelfSubjectRules(ctx, z, authenticated("bob"), &authorizationv1.SelfSubjectRulesReview{}); !apierrors.IsBadRequest(err) {
		t.Errorf("no namespace: err = %v, want BadRequest", err)
	}
}

func TestSelfSubjectReview(t *testing.T) {
	u := User{Name: "alice", UID: "1001", Groups: []string{"devs", GroupAuthenticated}, Extra: map[string][]string{"scopes": {"a", "b"}}}
	got := SelfSubjectReview(u)
	want := authenticationv1.UserInfo{Username: "alice", UID: "1001", Groups: []string{"devs", GroupAuthenticated},
		Extra: map[string]authenticationv1.ExtraValue{"scopes": {"a", "b"}}}
	if got.Kind != "SelfSubjectReview" || got.APIVersion != "authentication.k8s.io/v1" {
		t.Errorf("TypeMeta = %+v", got.TypeMeta)
	}
	info := got.Status.UserInfo
	if info.Username != want.Username || info.UID != want.UID || !slices.Equal(info.Groups, want.Groups) ||
		!slices.Equal(info.Extra["scopes"], want.Extra["scopes"]) {
		t.Errorf("UserInfo = %+v, want %+v", info, want)
	}
	if got.CreationTimestamp != (metav1.Time{}) {
		t.Errorf("CreationTimestamp set: %v", got.CreationTimestamp)
	}
}
