package auth_test

import (
	"slices"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/auth"
	"cella.dev/cella/internal/servertest"
)

func TestTokenReview(t *testing.T) {
	srv := servertest.Start(t, servertest.WithUsers(t, servertest.User{Name: "alice", Token: "alice-token"}))
	cs := srv.Clientset()
	ctx := t.Context()
	sa := waitServiceAccount(t, cs, "default", "default")
	tr, err := requestToken(ctx, cs, "default", "default", authenticationv1.TokenRequestSpec{})
	if err != nil {
		t.Fatal(err)
	}
	review := func(token string, audiences ...string) authenticationv1.TokenReviewStatus {
		t.Helper()
		r, err := cs.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
			Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: audiences}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r.Status
	}

	st := review(tr.Status.Token)
	if !st.Authenticated || st.User.Username != "system:serviceaccount:default:default" || st.User.UID != string(sa.UID) ||
		!slices.Equal(st.User.Groups, []string{"system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"}) ||
		!slices.Equal(st.Audiences, []string{auth.DefaultServiceAccountIssuer}) || st.Error != "" {
		t.Errorf("review of a service account token = %+v", st)
	}
	if len(st.User.Extra["authentication.kubernetes.io/credential-id"]) != 1 {
		t.Errorf("extra = %v, want the credential id", st.User.Extra)
	}
	if st := review(tr.Status.Token, "vault"); st.Authenticated || st.Error == "" {
		t.Errorf("review for another audience = %+v, want not authenticated, with an error", st)
	}
	if st := review("alice-token"); !st.Authenticated || st.User.Username != "alice" {
		t.Errorf("review of a static token = %+v", st)
	}
	if st := review("not-a-token"); st.Authenticated || st.Error == "" {
		t.Errorf("review of garbage = %+v, want not authenticated, with an error", st)
	}
	_, err = cs.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{}, metav1.CreateOptions{})
	if !apierrors.IsBadRequest(err) {
		t.Errorf("review without a token: %v, want 400", err)
	}
	alice := clientFor(t, srv, "alice-token")
	_, err = alice.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "x"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("a review by a user not granted it: %v, want 403", err)
	}
}

func TestSubjectAccessReview(t *testing.T) {
	srv := servertest.Start(t)
	cs := srv.Clientset()
	ctx := t.Context()
	listPods := &authorizationv1.ResourceAttributes{Namespace: "default", Verb: "list", Resource: "pods"}
	sar := func(spec authorizationv1.SubjectAccessReviewSpec) (*authorizationv1.SubjectAccessReview, error) {
		return cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
	}

	r, err := sar(authorizationv1.SubjectAccessReviewSpec{User: "bob", ResourceAttributes: listPods})
	if err != nil || r.Status.Allowed {
		t.Fatalf("bob may list pods before any binding: %+v, %v", r, err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "bob-view"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "bob"}},
	}
	if _, err := cs.RbacV1().RoleBindings("default").Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if r, err := sar(authorizationv1.SubjectAccessReviewSpec{User: "bob", ResourceAttributes: listPods}); err != nil || !r.Status.Allowed || r.Status.Reason == "" {
		t.Errorf("bob with view: %+v, %v; want allowed, with a reason", r, err)
	}
	if r, err := sar(authorizationv1.SubjectAccessReviewSpec{User: "x", Groups: []string{"system:masters"},
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"}}); err != nil || !r.Status.Allowed {
		t.Errorf("a system:masters member on /metrics: %+v, %v; want allowed", r, err)
	}
	for _, tc := range []struct {
		spec authorizationv1.SubjectAccessReviewSpec
		want string
	}{
		{authorizationv1.SubjectAccessReviewSpec{User: "bob"}, "spec.resourceAttributes: Required value"},
		{authorizationv1.SubjectAccessReviewSpec{ResourceAttributes: listPods}, "spec.user: Invalid value: \"\": at least one of user or group must be specified"},
	} {
		if _, err := sar(tc.spec); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("review %+v: %v, want 422 naming %s", tc.spec, err, tc.want)
		}
	}

	lsar := func(ns string, spec authorizationv1.SubjectAccessReviewSpec) (*authorizationv1.LocalSubjectAccessReview, error) {
		return cs.AuthorizationV1().LocalSubjectAccessReviews(ns).Create(ctx, &authorizationv1.LocalSubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
	}
	if r, err := lsar("default", authorizationv1.SubjectAccessReviewSpec{User: "bob", ResourceAttributes: listPods}); err != nil || !r.Status.Allowed {
		t.Errorf("local review of bob in default: %+v, %v; want allowed", r, err)
	}
	other := &authorizationv1.ResourceAttributes{Namespace: "kube-system", Verb: "list", Resource: "pods"}
	if _, err := lsar("default", authorizationv1.SubjectAccessReviewSpec{User: "bob", ResourceAttributes: other}); !apierrors.IsInvalid(err) ||
		!strings.Contains(err.Error(), "must match metadata.namespace") {
		t.Errorf("local review of another namespace: %v, want 422", err)
	}
}

// TestReviewDiscovery: the reviews and serviceaccounts/token are in
// discovery as kube-apiserver lists them, so kubectl finds them.
func TestReviewDiscovery(t *testing.T) {
	srv := servertest.Start(t)
	disc := srv.Clientset().Discovery()
	for _, tc := range []struct {
		gv, name, kind, group string
		namespaced            bool
	}{
		{"authentication.k8s.io/v1", "tokenreviews", "TokenReview", "", false},
		{"authentication.k8s.io/v1", "selfsubjectreviews", "SelfSubjectReview", "", false},
		{"authorization.k8s.io/v1", "subjectaccessreviews", "SubjectAccessReview", "", false},
		{"authorization.k8s.io/v1", "localsubjectaccessreviews", "LocalSubjectAccessReview", "", true},
		{"authorization.k8s.io/v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", "", false},
		{"v1", "serviceaccounts/token", "TokenRequest", "authentication.k8s.io", true},
	} {
		l, err := disc.ServerResourcesForGroupVersion(tc.gv)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range l.APIResources {
			if r.Name != tc.name {
				continue
			}
			found = true
			if r.Kind != tc.kind || r.Namespaced != tc.namespaced || r.Group != tc.group || !slices.Equal(r.Verbs, []string{"create"}) {
				t.Errorf("%s %s = %+v", tc.gv, tc.name, r)
			}
		}
		if !found {
			t.Errorf("%s lists no %s", tc.gv, tc.name)
		}
	}
}
