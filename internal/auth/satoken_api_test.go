package auth_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

// status GETs path with token as the bearer and returns the status code.
func status(t *testing.T, srv *servertest.Server, token, path string) int {
	t.Helper()
	resp, err := srv.HTTPClient().Do(srv.RequestAs(token, http.MethodGet, path, nil))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// waitStatus polls path until it answers want.
func waitStatus(t *testing.T, srv *servertest.Server, token, path string, want int) {
	t.Helper()
	last := 0
	err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		last = status(t, srv, token, path)
		return last == want, nil
	})
	if err != nil {
		t.Fatalf("GET %s: %d, want %d", path, last, want)
	}
}

// whoami answers a SelfSubjectReview made with token.
func whoami(t *testing.T, srv *servertest.Server, token string) authenticationv1.UserInfo {
	t.Helper()
	body := []byte(`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`)
	resp, err := srv.HTTPClient().Do(srv.RequestAs(token, http.MethodPost, "/apis/authentication.k8s.io/v1/selfsubjectreviews", body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r authenticationv1.SelfSubjectReview
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("SelfSubjectReview: %d, %v", resp.StatusCode, err)
	}
	return r.Status.UserInfo
}

const podsPath = "/api/v1/namespaces/default/pods"

func TestServiceAccountTokenAuthenticates(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) { c.Profile = "kubernetes" })
	cs := srv.Clientset()
	ctx := t.Context()
	sa, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := requestToken(ctx, cs, "default", "robot", authenticationv1.TokenRequestSpec{})
	if err != nil {
		t.Fatal(err)
	}
	token := tr.Status.Token

	// Who it is.
	u := whoami(t, srv, token)
	if u.Username != "system:serviceaccount:default:robot" || u.UID != string(sa.UID) ||
		!slices.Equal(u.Groups, []string{"system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"}) {
		t.Errorf("user = %+v", u)
	}
	if id := u.Extra["authentication.kubernetes.io/credential-id"]; len(id) != 1 || id[0] != "JTI="+payload(t, token).Jti {
		t.Errorf("credential-id = %v, want JTI=<jti>", id)
	}

	// What it may do: nothing beyond the defaults, then what a
	// RoleBinding to the ServiceAccount grants.
	if code := status(t, srv, token, podsPath); code != http.StatusForbidden {
		t.Fatalf("list pods without a binding: %d, want 403", code)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "robot-view"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "robot", Namespace: "default"}},
	}
	if _, err := cs.RbacV1().RoleBindings("default").Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, srv, token, podsPath, http.StatusOK)

	// A token for another audience is not for the API server.
	other, err := requestToken(ctx, cs, "default", "robot", authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}})
	if err != nil {
		t.Fatal(err)
	}
	if code := status(t, srv, other.Status.Token, podsPath); code != http.StatusUnauthorized {
		t.Errorf("token for audience vault: %d, want 401", code)
	}
	// Nor is a token whose signature is not the server's.
	forged := token[:len(token)-4] + "AAAA"
	if code := status(t, srv, forged, podsPath); code != http.StatusUnauthorized {
		t.Errorf("forged token: %d, want 401", code)
	}

	// The ServiceAccount deleted, and made again with the same name: the
	// token named the old uid.
	if err := cs.CoreV1().ServiceAccounts("default").Delete(ctx, "robot", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, srv, token, podsPath, http.StatusUnauthorized)
	if _, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitServiceAccount(t, cs, "default", "robot")
	if code := status(t, srv, token, podsPath); code != http.StatusUnauthorized {
		t.Errorf("token of a deleted and remade serviceaccount: %d, want 401", code)
	}
}

func TestPodBoundTokenDiesWithThePod(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) { c.Profile = "kubernetes" })
	cs := srv.Clientset()
	ctx := t.Context()
	waitServiceAccount(t, cs, "default", "default")
	pod, err := cs.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := requestToken(ctx, cs, "default", "default", authenticationv1.TokenRequestSpec{
		BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "p", UID: pod.UID},
	})
	if err != nil {
		t.Fatal(err)
	}
	u := whoami(t, srv, tr.Status.Token)
	if u.Username != "system:serviceaccount:default:default" ||
		!slices.Equal(u.Extra["authentication.kubernetes.io/pod-name"], []string{"p"}) ||
		!slices.Equal(u.Extra["authentication.kubernetes.io/pod-uid"], []string{string(pod.UID)}) {
		t.Errorf("user = %+v, want the pod's name and uid in extra", u)
	}
	if err := cs.CoreV1().Pods("default").Delete(ctx, "p", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, srv, tr.Status.Token, "/apis/authentication.k8s.io/v1", http.StatusUnauthorized)
}

func TestLegacyTokenSecret(t *testing.T) {
	srv := servertest.Start(t)
	cs := srv.Clientset()
	ctx := t.Context()
	sa := waitServiceAccount(t, cs, "default", "default")
	_, err := cs.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "legacy", Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}},
		Type:       corev1.SecretTypeServiceAccountToken,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var s *corev1.Secret
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		s, err = cs.CoreV1().Secrets("default").Get(ctx, "legacy", metav1.GetOptions{})
		return err == nil && len(s.Data["token"]) > 0, err
	})
	if err != nil {
		t.Fatalf("waiting for the token controller to fill the secret: %v", err)
	}
	if string(s.Data["ca.crt"]) != string(srv.CAPEM) || string(s.Data["namespace"]) != "default" ||
		s.Annotations[corev1.ServiceAccountUIDKey] != string(sa.UID) {
		t.Errorf("secret = data keys %v, annotations %v", keys(s.Data), s.Annotations)
	}
	token := string(s.Data["token"])
	u := whoami(t, srv, token)
	if u.Username != "system:serviceaccount:default:default" || u.UID != string(sa.UID) {
		t.Errorf("user = %+v", u)
	}
	if code := status(t, srv, token, podsPath); code != http.StatusForbidden {
		t.Errorf("legacy token without a binding: %d, want 403 (authenticated, not allowed)", code)
	}
	if err := cs.CoreV1().Secrets("default").Delete(ctx, "legacy", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, srv, token, podsPath, http.StatusUnauthorized)
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
