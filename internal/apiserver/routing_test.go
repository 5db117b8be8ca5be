package apiserver_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

// reply is one response, read whole.
type reply struct {
	code   int
	header http.Header
	body   []byte
	status metav1.Status
}

// call sends r with c and reads the whole reply.
func call(t *testing.T, c *http.Client, r *http.Request) reply {
	t.Helper()
	resp, err := c.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := reply{code: resp.StatusCode, header: resp.Header, body: body}
	_ = json.Unmarshal(body, &a.status)
	return a
}

const nobodyToken = "nobody-token"

// startWithNobody starts a server that also knows "nobody", an
// authenticated user no RBAC rule grants anything beyond discovery.
func startWithNobody(t *testing.T, opts ...servertest.Option) *servertest.Server {
	return servertest.Start(t, append(opts, servertest.WithUsers(t, servertest.User{Name: "nobody", Token: nobodyToken}))...)
}

// TestUnauthenticatedLearnsNothing: without credentials every request gets
// the same 401, whether its path exists, its method is served or not.
func TestUnauthenticatedLearnsNothing(t *testing.T) {
	srv := startWithNobody(t)
	c := srv.HTTPClient()
	var first []byte
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/v1/namespaces/default/configmaps"},
		{"GET", "/api/v1/namespaces/default/configmaps/missing"},
		{"GET", "/api/v1/nothings"},
		{"GET", "/no/such/path"},
		{"PUT", "/api/v1/namespaces/default/configmaps"},
		{"OPTIONS", "/api/v1/namespaces/default/configmaps"},
		{"BREW", "/api/v1/namespaces"},
		{"GET", "/api/v1/namespaces/"},
	} {
		a := call(t, c, srv.RequestAs("", tc.method, tc.path, nil))
		if a.code != http.StatusUnauthorized || a.status.Reason != metav1.StatusReasonUnauthorized ||
			a.header.Get("WWW-Authenticate") != `Bearer realm="cella"` || a.header.Get("Allow") != "" || a.header.Get("Location") != "" {
			t.Fatalf("%s %s without credentials: %d %s allow=%q location=%q", tc.method, tc.path, a.code, a.status.Reason, a.header.Get("Allow"), a.header.Get("Location"))
		}
		if first == nil {
			first = a.body
		} else if string(a.body) != string(first) {
			t.Fatalf("%s %s: the 401 body differs from the first one:\n%s\n%s", tc.method, tc.path, a.body, first)
		}
	}
	// An unknown token is the same 401.
	if a := call(t, c, srv.RequestAs("not-a-token", "GET", "/api/v1/nothings", nil)); a.code != http.StatusUnauthorized {
		t.Fatalf("unknown token: %d", a.code)
	}
}

// TestRoutingBeforeAuthorization: an authenticated caller without rights
// learns 404, 405 and 501 from routing, and 403 only for what exists.
func TestRoutingBeforeAuthorization(t *testing.T) {
	srv := startWithNobody(t)
	c := srv.HTTPClient()
	for _, tc := range []struct {
		method, path string
		code         int
		reason       metav1.StatusReason
	}{
		{"GET", "/api/v1/nothings", 404, metav1.StatusReasonNotFound},
		{"GET", "/apis/nogroup/v1/things", 404, metav1.StatusReasonNotFound},
		{"GET", "/api/v1/namespaces/default/configmaps/x/nosub", 404, metav1.StatusReasonNotFound},
		{"GET", "/no/such/path", 404, metav1.StatusReasonNotFound},
		{"PUT", "/api/v1/namespaces/default/configmaps", 405, metav1.StatusReasonMethodNotAllowed},
		{"POST", "/api/v1/namespaces/default/configmaps/x", 405, metav1.StatusReasonMethodNotAllowed},
		{"DELETE", "/api/v1/namespaces/default/pods/x/status", 405, metav1.StatusReasonMethodNotAllowed},
		{"POST", "/api", 405, metav1.StatusReasonMethodNotAllowed},
		{"BREW", "/api/v1/namespaces", 501, "NotImplemented"},
		{"PROPFIND", "/no/such/path", 501, "NotImplemented"},
		{"GET", "/api/v1/namespaces/default/configmaps", 403, metav1.StatusReasonForbidden},
		{"DELETE", "/api/v1/namespaces/default/configmaps/x", 403, metav1.StatusReasonForbidden},
	} {
		a := call(t, c, srv.RequestAs(nobodyToken, tc.method, tc.path, nil))
		if a.code != tc.code || a.status.Reason != tc.reason {
			t.Fatalf("%s %s as nobody: %d %s, want %d %s: %s", tc.method, tc.path, a.code, a.status.Reason, tc.code, tc.reason, a.body)
		}
		if tc.code == 405 && a.header.Get("Allow") == "" {
			t.Fatalf("%s %s: 405 without Allow", tc.method, tc.path)
		}
		if tc.code == 403 && (a.status.Details == nil || a.status.Details.Kind != "configmaps") {
			t.Fatalf("%s %s: 403 details %+v", tc.method, tc.path, a.status.Details)
		}
	}
	// The 403 for an object names it.
	a := call(t, c, srv.RequestAs(nobodyToken, "GET", "/api/v1/namespaces/default/configmaps/x", nil))
	if a.code != 403 || a.status.Details.Name != "x" || !strings.Contains(a.status.Message, `User "nobody" cannot get resource "configmaps"`) {
		t.Fatalf("GET object as nobody: %d %+v", a.code, a.status)
	}
	// Discovery stays open to every authenticated user.
	if a := call(t, c, srv.RequestAs(nobodyToken, "GET", "/api/v1", nil)); a.code != 200 {
		t.Fatalf("discovery as nobody: %d", a.code)
	}
}

// TestForbidden403: RBAC denials through client-go, creates in a
// terminating namespace, and a grant that turns 403 into success.
func TestForbidden403(t *testing.T) {
	srv := startWithNobody(t)
	ctx := ctxT(t)
	admin := srv.Clientset()
	nobody, err := kubernetes.NewForConfig(srv.RestConfigFor(nobodyToken))
	if err != nil {
		t.Fatal(err)
	}
	_, err = nobody.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "denied"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("create as nobody: want Forbidden, got %v", err)
	}
	if _, err := admin.CoreV1().ConfigMaps("default").Get(ctx, "denied", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a forbidden create stored something: %v", err)
	}
	if _, err := nobody.CoreV1().Secrets("").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("cluster-wide list as nobody: want Forbidden, got %v", err)
	}

	// A Role and RoleBinding grant configmaps in default only.
	if _, err := admin.RbacV1().Roles("default").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "cm-writer"},
		Rules: []rbacv1.PolicyRule{{Verbs: []string{"get", "create"}, APIGroups: []string{""}, Resources: []string{"configmaps"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "nobody-cm"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "cm-writer"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "nobody"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool {
		_, err := nobody.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "granted"}}, metav1.CreateOptions{})
		return err == nil
	}, func() string { return "the RoleBinding never took effect" })
	if _, err := nobody.CoreV1().ConfigMaps("kube-system").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "granted"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("create outside the granted namespace: want Forbidden, got %v", err)
	}
	if err := nobody.CoreV1().ConfigMaps("default").Delete(ctx, "granted", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("delete is not granted: want Forbidden, got %v", err)
	}
	// Changing the Role and then deleting the binding take the grant back
	// (the authorizer's decoded policy follows the objects).
	role, err := admin.RbacV1().Roles("default").Get(ctx, "cm-writer", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	role.Rules[0].Verbs = []string{"get"}
	if _, err := admin.RbacV1().Roles("default").Update(ctx, role, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool {
		_, err := nobody.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "after-edit-"}}, metav1.CreateOptions{})
		return apierrors.IsForbidden(err)
	}, func() string { return "the narrowed Role never took effect" })
	if _, err := nobody.CoreV1().ConfigMaps("default").Get(ctx, "granted", metav1.GetOptions{}); err != nil {
		t.Fatalf("get is still granted: %v", err)
	}
	if err := admin.RbacV1().RoleBindings("default").Delete(ctx, "nobody-cm", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool {
		_, err := nobody.CoreV1().ConfigMaps("default").Get(ctx, "granted", metav1.GetOptions{})
		return apierrors.IsForbidden(err)
	}, func() string { return "the deleted RoleBinding still grants" })

	// A namespace held in Terminating by a finalizer takes no new objects.
	if _, err := admin.CoreV1().Namespaces().Create(ctx, cciNamespace("closing", "example.com/hold"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := admin.CoreV1().Namespaces().Delete(ctx, "closing", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = admin.CoreV1().ConfigMaps("closing").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late"}}, metav1.CreateOptions{})
	var se *apierrors.StatusError
	if !apierrors.IsForbidden(err) || !asStatus(err, &se) || !strings.Contains(se.ErrStatus.Message, "terminat") {
		t.Fatalf("create in a terminating namespace: want Forbidden naming termination, got %v", err)
	}
}

// cciNamespace is a namespace the CCI profile accepts.
func cciNamespace(name string, finalizers ...string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Finalizers: finalizers,
		Annotations: map[string]string{"namespace.kubernetes.io/flavor": "general-computing"}}}
}

func asStatus(err error, se **apierrors.StatusError) bool {
	s, ok := err.(*apierrors.StatusError)
	*se = s
	return ok
}

// TestOptionsIs204WithAllow: OPTIONS names the methods of each path.
func TestOptionsIs204WithAllow(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.HTTPClient()
	for _, tc := range []struct{ path, allow string }{
		{"/api/v1/namespaces/default/configmaps", "GET, HEAD, POST, DELETE, OPTIONS"},
		{"/api/v1/namespaces/default/configmaps/any", "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"},
		{"/api/v1/namespaces/default/pods/any/status", "GET, HEAD, PUT, PATCH, OPTIONS"},
		{"/apis/apps/v1/namespaces/default/deployments/any/scale", "GET, HEAD, PUT, PATCH, OPTIONS"},
		{"/api/v1/namespaces/any/finalize", "PUT, OPTIONS"},
		{"/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "POST, OPTIONS"},
		{"/apis/apps/v1", "GET, HEAD, OPTIONS"},
		{"/healthz", "GET, HEAD, OPTIONS"},
		{"/openapi/v2", "GET, HEAD, OPTIONS"},
	} {
		a := call(t, c, srv.Request("OPTIONS", tc.path, nil))
		if a.code != http.StatusNoContent || a.header.Get("Allow") != tc.allow || len(a.body) != 0 {
			t.Fatalf("OPTIONS %s: %d Allow=%q body=%q, want 204 Allow=%q", tc.path, a.code, a.header.Get("Allow"), a.body, tc.allow)
		}
	}
	if a := call(t, c, srv.Request("OPTIONS", "/api/v1/nothings", nil)); a.code != http.StatusNotFound {
		t.Fatalf("OPTIONS on a path that names nothing: %d", a.code)
	}
}

// TestCORS: preflights from allowed origins are answered before
// authentication; answers to allowed origins carry CORS headers; other
// origins get none.
func TestCORS(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) { c.CORSOrigins = []string{`^https://console\.example$`} })
	c := srv.HTTPClient()
	pre := srv.RequestAs("", "OPTIONS", "/api/v1/namespaces/default/configmaps", nil)
	pre.Header.Set("Origin", "https://console.example")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	pre.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	a := call(t, c, pre)
	if a.code != http.StatusNoContent || a.header.Get("Access-Control-Allow-Origin") != "https://console.example" ||
		!strings.Contains(a.header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(a.header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		a.header.Get("Access-Control-Allow-Credentials") != "true" || a.header.Get("Allow") == "" || len(a.body) != 0 {
		t.Fatalf("preflight from an allowed origin: %d %v %q", a.code, a.header, a.body)
	}

	pre.Header.Set("Origin", "https://evil.example")
	if a := call(t, c, pre); a.code != http.StatusUnauthorized || a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from another origin: %d, Allow-Origin %q; want 401 without CORS headers", a.code, a.header.Get("Access-Control-Allow-Origin"))
	}

	get := srv.Request("GET", "/api/v1/namespaces/default/configmaps", nil)
	get.Header.Set("Origin", "https://console.example")
	if a := call(t, c, get); a.code != 200 || a.header.Get("Access-Control-Allow-Origin") != "https://console.example" ||
		!strings.Contains(a.header.Get("Access-Control-Expose-Headers"), "ETag") {
		t.Fatalf("GET from an allowed origin: %d %v", a.code, a.header)
	}
	// Errors carry the headers too, so the page can read them.
	get = srv.RequestAs("", "GET", "/api/v1/namespaces/default/configmaps", nil)
	get.Header.Set("Origin", "https://console.example")
	if a := call(t, c, get); a.code != 401 || a.header.Get("Access-Control-Allow-Origin") != "https://console.example" {
		t.Fatalf("401 to an allowed origin: %d %v", a.code, a.header)
	}
	get = srv.Request("GET", "/api/v1/namespaces/default/configmaps", nil)
	get.Header.Set("Origin", "https://console.example.evil")
	if a := call(t, c, get); a.code != 200 || a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("GET from another origin: %d Allow-Origin %q", a.code, a.header.Get("Access-Control-Allow-Origin"))
	}
}

// TestNonCanonicalPathsRedirect301: GET and HEAD of a non-canonical path
// redirect to the canonical one, query kept; a client that follows
// redirects ends at the object.
func TestNonCanonicalPathsRedirect301(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.HTTPClient()
	if _, err := srv.Clientset().CoreV1().ConfigMaps("default").Create(ctxT(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "canon"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ method, path, location string }{
		{"GET", "/api/v1/namespaces/default/configmaps/canon/", "/api/v1/namespaces/default/configmaps/canon"},
		{"GET", "/api/v1//namespaces/default///configmaps/canon", "/api/v1/namespaces/default/configmaps/canon"},
		{"GET", "/api/v1/./namespaces/default/configmaps/./canon", "/api/v1/namespaces/default/configmaps/canon"},
		{"GET", "/api/v1/namespaces/kube-system/../default/configmaps/canon", "/api/v1/namespaces/default/configmaps/canon"},
		{"GET", "/api/v1/namespaces/default/configmaps/?labelSelector=a%3Db&limit=5", "/api/v1/namespaces/default/configmaps?labelSelector=a%3Db&limit=5"},
		{"HEAD", "/api/", "/api"},
		{"GET", "/apis/apps/v1/", "/apis/apps/v1"},
	} {
		r := srv.Request(tc.method, "", nil)
		r.URL.Opaque = tc.path // sent exactly as written, not cleaned
		a := call(t, c, r)
		if a.code != http.StatusMovedPermanently || a.header.Get("Location") != tc.location {
			t.Fatalf("%s %s: %d Location=%q, want 301 to %q", tc.method, tc.path, a.code, a.header.Get("Location"), tc.location)
		}
	}
	// A client that follows redirects ends with the object.
	follow := srv.HTTPClient()
	follow.CheckRedirect = nil
	r := srv.Request("GET", "", nil)
	r.URL.Opaque = "/api/v1/namespaces/default/configmaps/canon/"
	if a := call(t, follow, r); a.code != 200 || !strings.Contains(string(a.body), `"name":"canon"`) {
		t.Fatalf("following the redirect: %d %s", a.code, a.body)
	}
	// Writes are not redirected: the path names nothing.
	r = srv.Request("DELETE", "", nil)
	r.URL.Opaque = "/api/v1/namespaces/default/configmaps/canon/"
	if a := call(t, c, r); a.code != http.StatusNotFound {
		t.Fatalf("DELETE of a non-canonical path: %d", a.code)
	}
	if _, err := srv.Clientset().CoreV1().ConfigMaps("default").Get(ctxT(t), "canon", metav1.GetOptions{}); err != nil {
		t.Fatalf("the object is gone after a DELETE of a non-canonical path: %v", err)
	}
}

// TestFindAcrossNamespaces300And302: GET of a namespaced object without a
// namespace redirects to the one namespace holding it (302), lists the
// candidates when several do (300), and counts only namespaces the caller
// may read.
func TestFindAcrossNamespaces300And302(t *testing.T) {
	srv := startWithNobody(t)
	ctx := ctxT(t)
	admin := srv.Clientset()
	c := srv.HTTPClient()
	for _, ns := range []string{"left", "right"} {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, cciNamespace(ns), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "twin"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.CoreV1().ConfigMaps("right").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "single"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	a := call(t, c, srv.Request("GET", "/api/v1/configmaps/single", nil))
	if a.code != http.StatusFound || a.header.Get("Location") != "/api/v1/namespaces/right/configmaps/single" {
		t.Fatalf("one candidate: %d Location=%q", a.code, a.header.Get("Location"))
	}
	a = call(t, c, srv.Request("GET", "/api/v1/configmaps/twin", nil))
	if a.code != http.StatusMultipleChoices || a.header.Get("Location") == "" ||
		!strings.Contains(string(a.body), "/api/v1/namespaces/left/configmaps/twin") || !strings.Contains(string(a.body), "/api/v1/namespaces/right/configmaps/twin") {
		t.Fatalf("two candidates: %d Location=%q %s", a.code, a.header.Get("Location"), a.body)
	}
	if a := call(t, c, srv.Request("GET", "/api/v1/configmaps/none", nil)); a.code != http.StatusNotFound || a.status.Reason != metav1.StatusReasonNotFound {
		t.Fatalf("no candidate: %d %s", a.code, a.status.Reason)
	}
	// A stock client follows the 302 to the object.
	follow := srv.HTTPClient()
	follow.CheckRedirect = nil
	if a := call(t, follow, srv.Request("GET", "/api/v1/configmaps/single", nil)); a.code != 200 || !strings.Contains(string(a.body), `"namespace":"right"`) {
		t.Fatalf("following the 302: %d %s", a.code, a.body)
	}

	// nobody may read nothing yet: no candidate counts.
	if a := call(t, c, srv.RequestAs(nobodyToken, "GET", "/api/v1/configmaps/twin", nil)); a.code != http.StatusNotFound {
		t.Fatalf("twin as nobody with no rights: %d, want 404", a.code)
	}
	// Granted reads in "left" only, nobody sees one candidate: 302.
	if _, err := admin.RbacV1().Roles("left").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "cm-reader"},
		Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"configmaps"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().RoleBindings("left").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "nobody-reads"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "cm-reader"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "nobody"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var last reply
	waitFor(t, 10*time.Second, func() bool {
		last = call(t, c, srv.RequestAs(nobodyToken, "GET", "/api/v1/configmaps/twin", nil))
		return last.code == http.StatusFound
	}, func() string { return fmt.Sprintf("%d %s", last.code, last.body) })
	if last.header.Get("Location") != "/api/v1/namespaces/left/configmaps/twin" {
		t.Fatalf("twin as nobody reading left: Location=%q", last.header.Get("Location"))
	}
	if a := call(t, c, srv.RequestAs(nobodyToken, "GET", "/api/v1/configmaps/single", nil)); a.code != http.StatusNotFound {
		t.Fatalf("single (only in right) as nobody: %d, want 404", a.code)
	}
}

// TestMaxInflightIs429: with --max-inflight=1, a request held in flight
// makes the next one 429 with Retry-After; afterwards requests pass again.
func TestMaxInflightIs429(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) { c.MaxInflight = 1 })
	c := srv.HTTPClient()
	// Hold the only slot: a create whose body is only half sent.
	held := dialRaw(t, srv)
	body := `{"metadata":{"name":"held"}}`
	held.send(fmt.Sprintf("POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", srv.Token, len(body), body[:10]))
	var last reply
	waitFor(t, 10*time.Second, func() bool {
		last = call(t, c, srv.Request("GET", "/api/v1/namespaces/default/configmaps", nil))
		return last.code == http.StatusTooManyRequests
	}, func() string { return fmt.Sprintf("%d", last.code) })
	if last.header.Get("Retry-After") == "" || last.status.Reason != metav1.StatusReasonTooManyRequests {
		t.Fatalf("429 without Retry-After or reason: %v %+v", last.header, last.status)
	}
	held.send(body[10:])
	if code, _ := held.status(); code != http.StatusCreated {
		t.Fatalf("the held create: %d", code)
	}
	waitFor(t, 10*time.Second, func() bool {
		last = call(t, c, srv.Request("GET", "/api/v1/namespaces/default/configmaps/held", nil))
		return last.code == http.StatusOK
	}, func() string { return fmt.Sprintf("%d", last.code) })
}

// TestWatchOfComputedKindIs405: the one 405 decided past routing — a watch
// of a kind computed on each request (pod metrics) — carries Allow too.
func TestWatchOfComputedKindIs405(t *testing.T) {
	srv := servertest.Start(t)
	a := call(t, srv.HTTPClient(), srv.Request("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?watch=true", nil))
	if a.code != http.StatusMethodNotAllowed || a.status.Reason != metav1.StatusReasonMethodNotAllowed || a.header.Get("Allow") != "GET, HEAD, OPTIONS" {
		t.Fatalf("watch of pod metrics: %d %s Allow=%q", a.code, a.status.Reason, a.header.Get("Allow"))
	}
}
