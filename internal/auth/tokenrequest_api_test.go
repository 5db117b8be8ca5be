package auth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/auth"
	"cella.dev/cella/internal/registry/kinds"
	"cella.dev/cella/internal/servertest"
)

// tokenClaims is a service account token's payload as Kubernetes spells it.
type tokenClaims struct {
	Iss        string   `json:"iss"`
	Sub        string   `json:"sub"`
	Aud        []string `json:"aud"`
	Exp        int64    `json:"exp"`
	Iat        int64    `json:"iat"`
	Nbf        int64    `json:"nbf"`
	Jti        string   `json:"jti"`
	Kubernetes struct {
		Namespace      string         `json:"namespace"`
		ServiceAccount auth.ObjectRef `json:"serviceaccount"`
		Pod            *auth.ObjectRef
		Secret         *auth.ObjectRef
		Node           *auth.ObjectRef
	} `json:"kubernetes.io"`
}

// payload decodes a JWT's claims without verifying it.
func payload(t *testing.T, token string) tokenClaims {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a compact JWS", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c tokenClaims
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func newNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{kinds.FlavorAnnotation: "general-computing"}}}
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitServiceAccount waits until the controller has made ns's default
// ServiceAccount and returns it.
func waitServiceAccount(t *testing.T, cs kubernetes.Interface, ns, name string) *corev1.ServiceAccount {
	t.Helper()
	var sa *corev1.ServiceAccount
	err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		sa, err = cs.CoreV1().ServiceAccounts(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("waiting for serviceaccount %s/%s: %v", ns, name, err)
	}
	return sa
}

func requestToken(ctx context.Context, cs kubernetes.Interface, ns, name string, spec authenticationv1.TokenRequestSpec) (*authenticationv1.TokenRequest, error) {
	return cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{Spec: spec}, metav1.CreateOptions{})
}

func TestTokenRequest(t *testing.T) {
	srv := servertest.Start(t)
	cs := srv.Clientset()
	ctx := t.Context()
	sa := waitServiceAccount(t, cs, "default", "default")

	// Defaults: the server's audience, an hour.
	before := time.Now().Add(-time.Second)
	tr, err := requestToken(ctx, cs, "default", "default", authenticationv1.TokenRequestSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.Spec.Audiences; len(got) != 1 || got[0] != auth.DefaultServiceAccountIssuer {
		t.Errorf("audiences = %v, want the server's own [%s]", got, auth.DefaultServiceAccountIssuer)
	}
	if tr.Spec.ExpirationSeconds == nil || *tr.Spec.ExpirationSeconds != 3600 {
		t.Errorf("expirationSeconds = %v, want 3600", tr.Spec.ExpirationSeconds)
	}
	if tr.Name != "default" || tr.Namespace != "default" || tr.Status.Token == "" {
		t.Fatalf("token request = %+v", tr)
	}
	c := payload(t, tr.Status.Token)
	if c.Iss != auth.DefaultServiceAccountIssuer || c.Sub != "system:serviceaccount:default:default" ||
		len(c.Aud) != 1 || c.Aud[0] != auth.DefaultServiceAccountIssuer || c.Jti == "" {
		t.Errorf("claims = %+v", c)
	}
	if c.Exp-c.Iat != 3600 || c.Nbf != c.Iat || c.Iat < before.Unix() {
		t.Errorf("iat %d, nbf %d, exp %d: want exp = iat + 3600 = nbf + 3600, iat now", c.Iat, c.Nbf, c.Exp)
	}
	if c.Exp != tr.Status.ExpirationTimestamp.Unix() {
		t.Errorf("exp %d, status.expirationTimestamp %v", c.Exp, tr.Status.ExpirationTimestamp)
	}
	if k := c.Kubernetes; k.Namespace != "default" || k.ServiceAccount.Name != "default" || k.ServiceAccount.UID != string(sa.UID) || k.Pod != nil {
		t.Errorf("kubernetes.io claim = %+v, want namespace default, serviceaccount default/%s", k, sa.UID)
	}

	// Audiences and lifetime as asked.
	exp := int64(7200)
	tr, err = requestToken(ctx, cs, "default", "default", authenticationv1.TokenRequestSpec{Audiences: []string{"vault", "other"}, ExpirationSeconds: &exp})
	if err != nil {
		t.Fatal(err)
	}
	if c := payload(t, tr.Status.Token); len(c.Aud) != 2 || c.Aud[0] != "vault" || c.Exp-c.Iat != 7200 {
		t.Errorf("claims = %+v, want aud [vault other] for 7200s", c)
	}

	// Too short: 422 as kube-apiserver words it.
	short := int64(599)
	_, err = requestToken(ctx, cs, "default", "default", authenticationv1.TokenRequestSpec{ExpirationSeconds: &short})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes") {
		t.Errorf("599s: %v, want 422 naming spec.expirationSeconds", err)
	}

	// A missing service account is 404.
	if _, err := requestToken(ctx, cs, "default", "nobody", authenticationv1.TokenRequestSpec{}); !apierrors.IsNotFound(err) {
		t.Errorf("token of a missing serviceaccount: %v, want 404", err)
	}
}

func TestTokenRequestBoundObject(t *testing.T) {
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
	ref := func(kind, name, uid string) authenticationv1.TokenRequestSpec {
		return authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: kind, APIVersion: "v1", Name: name, UID: types.UID(uid)}}
	}
	tr, err := requestToken(ctx, cs, "default", "default", ref("Pod", "p", ""))
	if err != nil {
		t.Fatal(err)
	}
	if c := payload(t, tr.Status.Token); c.Kubernetes.Pod == nil || c.Kubernetes.Pod.Name != "p" || c.Kubernetes.Pod.UID != string(pod.UID) {
		t.Errorf("kubernetes.io claim = %+v, want pod p/%s", c.Kubernetes, pod.UID)
	}
	if _, err := requestToken(ctx, cs, "default", "default", ref("Pod", "p", "not-its-uid")); !apierrors.IsConflict(err) {
		t.Errorf("bound to a pod by another uid: %v, want 409", err)
	}
	if _, err := requestToken(ctx, cs, "default", "default", ref("Pod", "absent", "")); !apierrors.IsNotFound(err) {
		t.Errorf("bound to a missing pod: %v, want 404", err)
	}
	if _, err := requestToken(ctx, cs, "default", "default", ref("ConfigMap", "kube-root-ca.crt", "")); !apierrors.IsBadRequest(err) {
		t.Errorf("bound to a ConfigMap: %v, want 400", err)
	}
	sec, err := cs.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err = requestToken(ctx, cs, "default", "default", ref("Secret", "s", string(sec.UID)))
	if err != nil {
		t.Fatal(err)
	}
	if c := payload(t, tr.Status.Token); c.Kubernetes.Secret == nil || c.Kubernetes.Secret.UID != string(sec.UID) {
		t.Errorf("kubernetes.io claim = %+v, want secret s/%s", c.Kubernetes, sec.UID)
	}
	// The token dies with its secret.
	if u := whoami(t, srv, tr.Status.Token); u.Username != "system:serviceaccount:default:default" {
		t.Errorf("secret-bound token authenticates as %+v", u)
	}
	if err := cs.CoreV1().Secrets("default").Delete(ctx, "s", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, srv, tr.Status.Token, "/apis/authentication.k8s.io/v1", http.StatusUnauthorized)
}
