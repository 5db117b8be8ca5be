package apiserver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"cella.dev/cella/internal/servertest"
)

// TestImpersonation: Impersonate-* headers make a request run as another
// user only when RBAC grants the requester impersonate on each thing asked
// for; client-go's Impersonate config (what kubectl --as sends) then sees
// exactly what the impersonated user may do.
func TestImpersonation(t *testing.T) {
	srv := servertest.Start(t, servertest.WithUsers(t,
		servertest.User{Name: "alice", Token: "alice-token"},
		servertest.User{Name: "bob", Token: "bob-token"},
	))
	ctx := t.Context()
	admin := srv.Clientset()
	as := func(token string, imp rest.ImpersonationConfig) kubernetes.Interface {
		cfg := srv.RestConfigFor(token)
		cfg.Impersonate = imp
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	whoami := func(cs kubernetes.Interface) authnv1.UserInfo {
		t.Helper()
		r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("whoami: %v", err)
		}
		return r.Status.UserInfo
	}

	// bob may read pods in default; alice may impersonate bob, the group
	// devs and the service account default/builder, nothing else.
	if _, err := admin.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "bob-view"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "bob"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "impersonate-bob"},
		Rules: []rbacv1.PolicyRule{
			{Verbs: []string{"impersonate"}, APIGroups: []string{""}, Resources: []string{"users"}, ResourceNames: []string{"bob"}},
			{Verbs: []string{"impersonate"}, APIGroups: []string{""}, Resources: []string{"groups"}, ResourceNames: []string{"devs"}},
			{Verbs: []string{"impersonate"}, APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, ResourceNames: []string{"builder"}},
			{Verbs: []string{"impersonate"}, APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"userextras/scopes"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "alice-impersonates"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "impersonate-bob"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "alice"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// alice herself may not list pods; as bob she may.
	if _, err := as("alice-token", rest.ImpersonationConfig{}).CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("alice listing pods: %v, want 403", err)
	}
	asBob := as("alice-token", rest.ImpersonationConfig{UserName: "bob"})
	if _, err := asBob.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("alice as bob listing pods: %v", err)
	}
	// ... and only what bob may: no writes.
	_, err := asBob.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `User "bob" cannot create resource "configmaps"`) {
		t.Fatalf("alice as bob creating a configmap: %v, want 403 for bob", err)
	}
	if u := whoami(asBob); u.Username != "bob" || !slices.Equal(u.Groups, []string{"system:authenticated"}) {
		t.Errorf("whoami as bob: %+v", u)
	}
	// Groups and extras as asked, system:authenticated added.
	u := whoami(as("alice-token", rest.ImpersonationConfig{UserName: "bob", Groups: []string{"devs"}, Extra: map[string][]string{"scopes": {"a", "b"}}}))
	if u.Username != "bob" || !slices.Equal(u.Groups, []string{"devs", "system:authenticated"}) || !slices.Equal(u.Extra["scopes"], authnv1.ExtraValue{"a", "b"}) {
		t.Errorf("whoami as bob in devs with scopes: %+v", u)
	}
	// A service account gets its own groups.
	u = whoami(as("alice-token", rest.ImpersonationConfig{UserName: "system:serviceaccount:default:builder"}))
	if want := []string{"system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"}; u.Username != "system:serviceaccount:default:builder" || !slices.Equal(u.Groups, want) {
		t.Errorf("whoami as a service account: %+v, want groups %v", u, want)
	}
	// kubectl auth can-i --as asks a SelfSubjectAccessReview as the
	// impersonated user: it must answer for bob.
	review := func(cs kubernetes.Interface, verb string) bool {
		t.Helper()
		r, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authzv1.SelfSubjectAccessReview{
			Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authzv1.ResourceAttributes{Namespace: "default", Verb: verb, Resource: "pods"}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r.Status.Allowed
	}
	if !review(asBob, "list") || review(asBob, "delete") {
		t.Errorf("can-i as bob: list %v delete %v, want true false", review(asBob, "list"), review(asBob, "delete"))
	}

	// Refused: bob may impersonate nobody; alice may not be the admin,
	// nor join system:masters.
	for _, c := range []struct {
		token string
		imp   rest.ImpersonationConfig
		want  string
	}{
		{"bob-token", rest.ImpersonationConfig{UserName: "alice"}, `users "alice" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope`},
		{"alice-token", rest.ImpersonationConfig{UserName: "admin"}, `users "admin" is forbidden: User "alice" cannot impersonate resource "users"`},
		{"alice-token", rest.ImpersonationConfig{UserName: "bob", Groups: []string{"system:masters"}}, `groups "system:masters" is forbidden: User "alice" cannot impersonate resource "groups"`},
		{"alice-token", rest.ImpersonationConfig{UserName: "system:serviceaccount:default:other"}, `serviceaccounts "other" is forbidden: User "alice" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "default"`},
		{"alice-token", rest.ImpersonationConfig{UserName: "bob", UID: "1234"}, `uids.authentication.k8s.io "1234" is forbidden`},
		{"alice-token", rest.ImpersonationConfig{UserName: "bob", Extra: map[string][]string{"other": {"x"}}}, `cannot impersonate resource "userextras/other" in API group "authentication.k8s.io"`},
	} {
		_, err := as(c.token, c.imp).CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v with %s: %v, want 403 %q", c.imp, c.token, err, c.want)
		}
	}

	// Groups without a user: 400, nothing done.
	req := srv.RequestAs("alice-token", http.MethodGet, "/api/v1/namespaces/default/pods", nil)
	req.Header.Set("Impersonate-Group", "devs")
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var st metav1.Status
	_ = json.Unmarshal(body, &st)
	if resp.StatusCode != http.StatusBadRequest || st.Reason != metav1.StatusReasonBadRequest || !strings.Contains(st.Message, "without impersonating a user") {
		t.Errorf("Impersonate-Group alone: %d %s", resp.StatusCode, body)
	}
}
