package apiserver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

// configMapsPath is the collection the Idempotency-Key tests create in.
const configMapsPath = "/api/v1/namespaces/default/configmaps"

// configMapBody is a ConfigMap to create: named, or with a generateName
// prefix when name ends in "-".
func configMapBody(name, value string) []byte {
	m := map[string]string{"name": name}
	if strings.HasSuffix(name, "-") {
		m = map[string]string{"generateName": name}
	}
	data, _ := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap", "metadata": m, "data": map[string]string{"k": value},
	})
	return data
}

// postWithKey builds a POST of body to path with an Idempotency-Key, as the
// admin, or as the user of token when it is not "".
func postWithKey(srv *servertest.Server, path, token, key string, body []byte) *http.Request {
	req := srv.Request(http.MethodPost, path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Idempotency-Key", key)
	return req
}

// answer is one response, read whole.
type answer struct {
	code   int
	header http.Header
	body   []byte
}

func send(t *testing.T, c *http.Client, req *http.Request) answer {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer to %s %s: %v", req.Method, req.URL.Path, err)
	}
	return answer{code: resp.StatusCode, header: resp.Header, body: data}
}

// want fails the test unless the answer has the code.
func (a answer) want(t *testing.T, code int) answer {
	t.Helper()
	if a.code != code {
		t.Fatalf("got %d, want %d: %s", a.code, code, a.body)
	}
	return a
}

func (a answer) status(t *testing.T) metav1.Status {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(a.body, &st); err != nil || st.Kind != "Status" {
		t.Fatalf("body is not a Status (%v): %s", err, a.body)
	}
	return st
}

func (a answer) configMap(t *testing.T) corev1.ConfigMap {
	t.Helper()
	var cm corev1.ConfigMap
	if err := json.Unmarshal(a.body, &cm); err != nil || cm.Kind != "ConfigMap" {
		t.Fatalf("body is not a ConfigMap (%v): %s", err, a.body)
	}
	return cm
}

// TestIdempotencyKeyRepeatIs303 proves row 303: the same key and body after
// the first create succeeded is 303 to the object the first one created,
// and a client that follows redirects ends with that object.
func TestIdempotencyKeyRepeatIs303(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv *servertest.Server) {
		c := srv.HTTPClient()
		body := configMapBody("idem-a", "1")
		first := send(t, c, postWithKey(srv, configMapsPath, "", "key-a", body)).want(t, http.StatusCreated)
		loc := first.header.Get("Location")
		if loc != configMapsPath+"/idem-a" {
			t.Fatalf("201 Location = %q", loc)
		}
		created := first.configMap(t)

		again := send(t, c, postWithKey(srv, configMapsPath, "", "key-a", body)).want(t, http.StatusSeeOther)
		if got := again.header.Get("Location"); got != loc {
			t.Fatalf("303 Location = %q, want the 201's %q", got, loc)
		}
		if st := again.status(t); st.Status != metav1.StatusSuccess || st.Code != http.StatusSeeOther || st.Details == nil || st.Details.Name != "idem-a" {
			t.Fatalf("303 body: %s", again.body)
		}

		// A stock client follows the 303 with a GET and ends with the
		// object the first create made.
		follow := srv.HTTPClient()
		follow.CheckRedirect = nil
		got := send(t, follow, postWithKey(srv, configMapsPath, "", "key-a", body)).want(t, http.StatusOK).configMap(t)
		if got.UID != created.UID || got.Data["k"] != "1" {
			t.Fatalf("followed 303 to %s/%s, want the created %s", got.Name, got.UID, created.UID)
		}
	})
}

// TestIdempotencyKeyClientGoRetryEndsWithObject sends a generateName create
// twice through client-go with the same key: the retry answers the first
// object, and only one exists.
func TestIdempotencyKeyClientGoRetryEndsWithObject(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv *servertest.Server) {
		ctx := ctxT(t)
		rc := srv.RestConfig()
		rc.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				r = r.Clone(r.Context())
				r.Header.Set("Idempotency-Key", "client-go-retry")
				return rt.RoundTrip(r)
			})
		}
		cs, err := kubernetes.NewForConfig(rc)
		if err != nil {
			t.Fatal(err)
		}
		cms := cs.CoreV1().ConfigMaps("default")
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "retry-"}, Data: map[string]string{"k": "v"}}
		first, err := cms.Create(ctx, cm, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		second, err := cms.Create(ctx, cm, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("retried create: %v", err)
		}
		if second.Name != first.Name || second.UID != first.UID {
			t.Fatalf("retried create answered %s/%s, want the first %s/%s", second.Name, second.UID, first.Name, first.UID)
		}
		list, err := srv.Clientset().CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var n int
		for _, it := range list.Items {
			if strings.HasPrefix(it.Name, "retry-") {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d objects named retry-*, want 1", n)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestIdempotencyKeyDifferentBodyIs422 proves the 422 variant: the same key
// with another body after the first succeeded is refused and stores
// nothing.
func TestIdempotencyKeyDifferentBodyIs422(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv *servertest.Server) {
		c := srv.HTTPClient()
		send(t, c, postWithKey(srv, configMapsPath, "", "key-b", configMapBody("idem-b", "1"))).want(t, http.StatusCreated)
		for _, body := range [][]byte{configMapBody("idem-b", "2"), configMapBody("idem-c", "1")} {
			st := send(t, c, postWithKey(srv, configMapsPath, "", "key-b", body)).want(t, http.StatusUnprocessableEntity).status(t)
			if st.Reason != metav1.StatusReasonInvalid || st.Details == nil || len(st.Details.Causes) != 1 || st.Details.Causes[0].Field != "Idempotency-Key" {
				t.Fatalf("422 body: %+v", st)
			}
		}
		got := send(t, c, srv.Request(http.MethodGet, configMapsPath+"/idem-b", nil)).want(t, http.StatusOK).configMap(t)
		if got.Data["k"] != "1" {
			t.Fatalf("idem-b changed: %v", got.Data)
		}
		send(t, c, srv.Request(http.MethodGet, configMapsPath+"/idem-c", nil)).want(t, http.StatusNotFound)
	})
}

// TestIdempotencyKeyInFlightIs409 proves the 409 variant. The first create
// sends Expect: 100-continue and its body through a pipe held open: the
// server claims the key before it reads a body, and net/http sends 100
// Continue at that first read, so once the client has seen it the first
// create is deterministically in flight.
func TestIdempotencyKeyInFlightIs409(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv *servertest.Server) {
		ctx := ctxT(t)
		c := srv.HTTPClient()
		body := configMapBody("idem-slow", "1")

		slow := srv.HTTPClient()
		tr := slow.Transport.(*http.Transport).Clone()
		tr.ExpectContinueTimeout = time.Minute // wait for 100 Continue before sending the body
		slow.Transport = tr
		pr, pw := io.Pipe()
		defer pw.Close()
		continued := make(chan struct{})
		trace := &httptrace.ClientTrace{Got100Continue: func() { close(continued) }}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, srv.URL+configMapsPath, pr)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = int64(len(body))
		req.Header.Set("Authorization", "Bearer "+srv.Token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Expect", "100-continue")
		req.Header.Set("Idempotency-Key", "key-slow")
		firstDone := make(chan answer, 1)
		go func() {
			resp, err := slow.Do(req)
			if err != nil {
				firstDone <- answer{body: []byte(err.Error())}
				return
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			firstDone <- answer{code: resp.StatusCode, header: resp.Header, body: data}
		}()
		select {
		case <-continued:
		case a := <-firstDone:
			t.Fatalf("the first create ended before its body was sent: %d %s", a.code, a.body)
		case <-ctx.Done():
			t.Fatal("no 100 Continue for the first create")
		}

		// In flight, the key is a 409 whatever the body.
		for _, b := range [][]byte{body, configMapBody("idem-slow", "2")} {
			a := send(t, c, postWithKey(srv, configMapsPath, "", "key-slow", b)).want(t, http.StatusConflict)
			st := a.status(t)
			if st.Reason != metav1.StatusReasonConflict || st.Details == nil || st.Details.Name != "idem-slow" || st.Details.Kind != "configmaps" {
				t.Fatalf("409 body: %s", a.body)
			}
			if a.header.Get("Retry-After") != "1" {
				t.Fatalf("409 Retry-After = %q, want 1", a.header.Get("Retry-After"))
			}
		}

		if _, err := pw.Write(body); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		var first answer
		select {
		case first = <-firstDone:
		case <-ctx.Done():
			t.Fatal("the first create did not end")
		}
		first.want(t, http.StatusCreated)
		again := send(t, c, postWithKey(srv, configMapsPath, "", "key-slow", body)).want(t, http.StatusSeeOther)
		if again.header.Get("Location") != first.header.Get("Location") {
			t.Fatalf("303 Location = %q, want %q", again.header.Get("Location"), first.header.Get("Location"))
		}
	})
}

// TestIdempotencyKeyIsPerUser: a second user with the same key and body
// creates its own object, and each user's repeat points at its own.
func TestIdempotencyKeyIsPerUser(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte("alice-token,alice,uid-alice,\"system:masters\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, func(c *app.Config) { c.TokenFile = tokenFile })
	c := srv.HTTPClient()
	body := configMapBody("per-user-", "1")
	admin := send(t, c, postWithKey(srv, configMapsPath, "", "shared-key", body)).want(t, http.StatusCreated).header.Get("Location")
	alice := send(t, c, postWithKey(srv, configMapsPath, "alice-token", "shared-key", body)).want(t, http.StatusCreated).header.Get("Location")
	if admin == alice {
		t.Fatalf("both users' creates answered %q", admin)
	}
	for token, want := range map[string]string{"": admin, "alice-token": alice} {
		got := send(t, c, postWithKey(srv, configMapsPath, token, "shared-key", body)).want(t, http.StatusSeeOther).header.Get("Location")
		if got != want {
			t.Fatalf("repeat with token %q: Location %q, want %q", token, got, want)
		}
	}
}

// TestIdempotencyKeyExpires: after --idempotency-key-ttl the key is
// forgotten and the same request creates again.
func TestIdempotencyKeyExpires(t *testing.T) {
	const ttl = 20 * time.Millisecond
	srv := servertest.Start(t, func(c *app.Config) { c.IdempotencyKeyTTL = ttl })
	c := srv.HTTPClient()

	gen := configMapBody("expiring-", "1")
	first := send(t, c, postWithKey(srv, configMapsPath, "", "key-gen", gen)).want(t, http.StatusCreated).header.Get("Location")
	time.Sleep(ttl) // the entry expires at most ttl after the 201 was written
	second := send(t, c, postWithKey(srv, configMapsPath, "", "key-gen", gen)).want(t, http.StatusCreated).header.Get("Location")
	if first == second {
		t.Fatalf("both creates answered %q", first)
	}

	named := configMapBody("idem-expiring", "1")
	send(t, c, postWithKey(srv, configMapsPath, "", "key-named", named)).want(t, http.StatusCreated)
	time.Sleep(ttl)
	st := send(t, c, postWithKey(srv, configMapsPath, "", "key-named", named)).want(t, http.StatusConflict).status(t)
	if st.Reason != metav1.StatusReasonAlreadyExists {
		t.Fatalf("create after expiry: reason %q, want AlreadyExists", st.Reason)
	}
}

// TestIdempotencyKeyFailedOrDryRunCreateIsNotRemembered: a create that
// fails gives its key up, so the retry runs again; a dry run neither uses
// nor records the key.
func TestIdempotencyKeyFailedOrDryRunCreateIsNotRemembered(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv *servertest.Server) {
		ctx := ctxT(t)
		c := srv.HTTPClient()
		const later = "/api/v1/namespaces/later/configmaps"
		body := configMapBody("idem-later", "1")
		send(t, c, postWithKey(srv, later, "", "key-later", body)).want(t, http.StatusNotFound)
		if _, err := srv.Clientset().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "later", Annotations: map[string]string{"namespace.kubernetes.io/flavor": "general-computing"}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		send(t, c, postWithKey(srv, later, "", "key-later", body)).want(t, http.StatusCreated)
		send(t, c, postWithKey(srv, later, "", "key-later", body)).want(t, http.StatusSeeOther)

		dry := configMapBody("idem-dry", "1")
		send(t, c, postWithKey(srv, configMapsPath+"?dryRun=All", "", "key-dry", dry)).want(t, http.StatusCreated)
		send(t, c, srv.Request(http.MethodGet, configMapsPath+"/idem-dry", nil)).want(t, http.StatusNotFound)
		send(t, c, postWithKey(srv, configMapsPath, "", "key-dry", dry)).want(t, http.StatusCreated)
		send(t, c, postWithKey(srv, configMapsPath+"?dryRun=All", "", "key-dry", dry)).want(t, http.StatusConflict)
		send(t, c, postWithKey(srv, configMapsPath, "", "key-dry", dry)).want(t, http.StatusSeeOther)
	})
}

// TestIdempotencyKeyMalformedIs400: a key that is empty, too long, not
// printable ASCII or sent twice is 400 and stores nothing; the media type
// is checked before it.
func TestIdempotencyKeyMalformedIs400(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv *servertest.Server) {
		c := srv.HTTPClient()
		body := configMapBody("idem-bad", "1")
		for _, tc := range []struct {
			name        string
			keys        []string
			contentType string
			want        int
		}{
			{"empty", []string{""}, "", http.StatusBadRequest},
			{"256 bytes", []string{strings.Repeat("k", 256)}, "", http.StatusBadRequest},
			{"tab", []string{"a\tb"}, "", http.StatusBadRequest},
			{"non-ASCII", []string{"clé"}, "", http.StatusBadRequest},
			{"twice", []string{"a", "b"}, "", http.StatusBadRequest},
			{"media type first", []string{""}, "text/plain", http.StatusUnsupportedMediaType},
		} {
			t.Run(tc.name, func(t *testing.T) {
				req := srv.Request(http.MethodPost, configMapsPath, body)
				req.Header["Idempotency-Key"] = tc.keys
				if tc.contentType != "" {
					req.Header.Set("Content-Type", tc.contentType)
				}
				send(t, c, req).want(t, tc.want)
			})
		}
		send(t, c, srv.Request(http.MethodGet, configMapsPath+"/idem-bad", nil)).want(t, http.StatusNotFound)
		// 255 printable characters are a key.
		send(t, c, postWithKey(srv, configMapsPath, "", strings.Repeat("k", 255), body)).want(t, http.StatusCreated)
	})
}
