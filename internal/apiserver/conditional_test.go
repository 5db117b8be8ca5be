package apiserver_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"cella.dev/cella/internal/servertest"
)

// condAnswer is one response, read whole.
type condAnswer struct {
	code   int
	header http.Header
	body   []byte
}

// condDo sends method path with the admin token, body (JSON unless a
// Content-Type is given) and headers as name, value pairs.
func condDo(t *testing.T, srv *servertest.Server, method, path, body string, headers ...string) condAnswer {
	t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	req := srv.Request(method, path, b)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return condAnswer{code: resp.StatusCode, header: resp.Header, body: data}
}

// condConfigMap creates default/name with data k=v and returns its
// resourceVersion.
func condConfigMap(t *testing.T, srv *servertest.Server, name string) string {
	t.Helper()
	cm, err := srv.Clientset().CoreV1().ConfigMaps("default").Create(ctxT(t), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"k": "v"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return cm.ResourceVersion
}

// condCurrent reads default/name through client-go.
func condCurrent(t *testing.T, srv *servertest.Server, name string) *corev1.ConfigMap {
	t.Helper()
	cm, err := srv.Clientset().CoreV1().ConfigMaps("default").Get(ctxT(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	return cm
}

// wantNotModified checks a 304: the ETag, and no body.
func wantNotModified(t *testing.T, what string, a condAnswer, etag string) {
	t.Helper()
	if a.code != http.StatusNotModified || a.header.Get("ETag") != etag || len(a.body) != 0 {
		t.Errorf("%s: %d, ETag %q, %d body bytes; want 304 with ETag %s and no body", what, a.code, a.header.Get("ETag"), len(a.body), etag)
	}
}

// wantPreconditionFailed checks a 412: the current ETag and a Status body
// that says why.
func wantPreconditionFailed(t *testing.T, what string, a condAnswer, etag string) {
	t.Helper()
	var st metav1.Status
	_ = json.Unmarshal(a.body, &st)
	if a.code != http.StatusPreconditionFailed || a.header.Get("ETag") != etag ||
		st.Kind != "Status" || st.Code != http.StatusPreconditionFailed || st.Reason != "PreconditionFailed" || !strings.Contains(st.Message, etag) {
		t.Errorf("%s: %d, ETag %q, body %s; want 412 with ETag %s and a PreconditionFailed Status", what, a.code, a.header.Get("ETag"), a.body, etag)
	}
}

// TestConditionalGetNotModified proves row 304 for If-None-Match: GET (and
// HEAD) of an object, a collection, a discovery document and an OpenAPI
// document whose ETag the client names answers 304 with that ETag and no
// body; any other tag gets the full 200 with the ETag.
func TestConditionalGetNotModified(t *testing.T) {
	srv := servertest.Start(t)
	rv := condConfigMap(t, srv, "etag")
	const obj = "/api/v1/namespaces/default/configmaps/etag"

	t.Run("object", func(t *testing.T) {
		a := condDo(t, srv, "GET", obj, "")
		etag := `"` + rv + `"`
		if a.code != http.StatusOK || a.header.Get("ETag") != etag || !strings.Contains(a.header.Get("Vary"), "Accept") {
			t.Fatalf("GET: %d, ETag %q, Vary %q; want 200 with ETag %s (the resourceVersion) and Vary: Accept", a.code, a.header.Get("ETag"), a.header.Get("Vary"), etag)
		}
		for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
			wantNotModified(t, "GET with If-None-Match "+inm, condDo(t, srv, "GET", obj, "", "If-None-Match", inm), etag)
		}
		wantNotModified(t, "HEAD with If-None-Match", condDo(t, srv, "HEAD", obj, "", "If-None-Match", etag), etag)
		if a := condDo(t, srv, "GET", obj, "", "If-None-Match", `"1"`); a.code != http.StatusOK || a.header.Get("ETag") != etag || len(a.body) == 0 {
			t.Errorf("GET with a stale If-None-Match: %d, ETag %q; want 200 with the body", a.code, a.header.Get("ETag"))
		}

		cm := condCurrent(t, srv, "etag")
		cm.Data["k"] = "changed"
		if _, err := srv.Clientset().CoreV1().ConfigMaps("default").Update(ctxT(t), cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		a = condDo(t, srv, "GET", obj, "", "If-None-Match", etag)
		if a.code != http.StatusOK || a.header.Get("ETag") == etag || !strings.Contains(string(a.body), "changed") {
			t.Errorf("GET after an update with the old ETag: %d, ETag %q; want 200 with a new ETag", a.code, a.header.Get("ETag"))
		}
	})

	t.Run("representations", func(t *testing.T) {
		cur := condCurrent(t, srv, "etag").ResourceVersion
		for _, tc := range []struct{ accept, etag string }{
			{"application/json", `"` + cur + `"`},
			{"application/yaml", `"` + cur + `-yaml"`},
			{"application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io", `"` + cur + `-partial-v1"`},
			{"application/json;as=Table;v=v1;g=meta.k8s.io", `W/"` + cur + `-table-v1"`},
		} {
			a := condDo(t, srv, "GET", obj, "", "Accept", tc.accept)
			if a.code != http.StatusOK || a.header.Get("ETag") != tc.etag {
				t.Errorf("GET as %s: %d, ETag %q; want %s", tc.accept, a.code, a.header.Get("ETag"), tc.etag)
			}
			wantNotModified(t, "GET as "+tc.accept+" with its ETag", condDo(t, srv, "GET", obj, "", "Accept", tc.accept, "If-None-Match", tc.etag), tc.etag)
		}
		// A strong ETag names one representation: the JSON tag does not
		// validate a YAML copy.
		if a := condDo(t, srv, "GET", obj, "", "Accept", "application/yaml", "If-None-Match", `"`+cur+`"`); a.code != http.StatusOK {
			t.Errorf("GET as YAML with the JSON ETag: %d, want 200", a.code)
		}
	})

	t.Run("collection", func(t *testing.T) {
		const coll = "/api/v1/namespaces/default/configmaps"
		a := condDo(t, srv, "GET", coll, "")
		var list metav1.List
		if err := json.Unmarshal(a.body, &list); err != nil || a.code != http.StatusOK {
			t.Fatalf("LIST: %d, %v", a.code, err)
		}
		etag := `"` + list.ResourceVersion + `"`
		if a.header.Get("ETag") != etag {
			t.Fatalf("LIST ETag %q, want %s (the list's resourceVersion)", a.header.Get("ETag"), etag)
		}
		wantNotModified(t, "LIST with If-None-Match", condDo(t, srv, "GET", coll, "", "If-None-Match", etag), etag)
		table := condDo(t, srv, "GET", coll, "", "Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
		if want := `W/"` + list.ResourceVersion + `-table-v1"`; table.header.Get("ETag") != want {
			t.Errorf("LIST as Table: ETag %q, want %s", table.header.Get("ETag"), want)
		}
		condConfigMap(t, srv, "another")
		if a := condDo(t, srv, "GET", coll, "", "If-None-Match", etag); a.code != http.StatusOK || a.header.Get("ETag") == etag {
			t.Errorf("LIST after a create with the old ETag: %d, ETag %q; want 200 with a new ETag", a.code, a.header.Get("ETag"))
		}
	})

	t.Run("discovery", func(t *testing.T) {
		for _, p := range []string{"/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1"} {
			a := condDo(t, srv, "GET", p, "")
			etag := a.header.Get("ETag")
			if a.code != http.StatusOK || !strings.HasPrefix(etag, `"`) {
				t.Errorf("GET %s: %d, ETag %q; want 200 with a strong ETag", p, a.code, etag)
				continue
			}
			wantNotModified(t, "GET "+p+" with If-None-Match", condDo(t, srv, "GET", p, "", "If-None-Match", etag), etag)
		}
	})

	t.Run("openapi", func(t *testing.T) {
		for _, p := range []string{"/openapi/v2", "/openapi/v3", "/openapi/v3/api/v1"} {
			a := condDo(t, srv, "GET", p, "")
			etag := a.header.Get("ETag")
			if a.code != http.StatusOK || !strings.HasPrefix(etag, `"`) {
				t.Errorf("GET %s: %d, ETag %q; want 200 with a strong ETag", p, a.code, etag)
				continue
			}
			wantNotModified(t, "GET "+p+" with If-None-Match", condDo(t, srv, "GET", p, "", "If-None-Match", etag), etag)
		}
	})
}

// waitNextSecond sleeps until the wall clock is in the second after t's,
// when Last-Modified for a write made by t is sent.
func waitNextSecond(t time.Time) {
	time.Sleep(time.Until(t.Truncate(time.Second).Add(time.Second + 50*time.Millisecond)))
}

// TestConditionalGetModifiedSince proves row 304 for dates: an object's
// Last-Modified is the commit time of its last write, sent once that second
// is over; If-Modified-Since not older than it answers 304 with the ETag,
// an older date 200. If-None-Match, when present, decides instead.
// Collections carry no Last-Modified and ignore the date.
func TestConditionalGetModifiedSince(t *testing.T) {
	srv := servertest.Start(t)
	const obj = "/api/v1/namespaces/default/configmaps/dated"
	before := time.Now()
	rv := condConfigMap(t, srv, "dated")
	written := time.Now()
	etag := `"` + rv + `"`

	// Never a Last-Modified that the Date of the response does not pass.
	if a := condDo(t, srv, "GET", obj, ""); a.header.Get("Last-Modified") != "" {
		lm, _ := http.ParseTime(a.header.Get("Last-Modified"))
		date, _ := http.ParseTime(a.header.Get("Date"))
		if !lm.Before(date) {
			t.Errorf("Last-Modified %s is not before the response's Date %s", lm, date)
		}
	}
	waitNextSecond(written)
	a := condDo(t, srv, "GET", obj, "")
	lm, err := http.ParseTime(a.header.Get("Last-Modified"))
	if a.code != http.StatusOK || err != nil || lm.Before(before.Truncate(time.Second)) || lm.After(written) {
		t.Fatalf("GET: %d, Last-Modified %q; want the second of the write, between %s and %s", a.code, a.header.Get("Last-Modified"), before, written)
	}
	at := lm.UTC().Format(http.TimeFormat)
	wantNotModified(t, "If-Modified-Since Last-Modified", condDo(t, srv, "GET", obj, "", "If-Modified-Since", at), etag)
	wantNotModified(t, "If-Modified-Since later", condDo(t, srv, "GET", obj, "", "If-Modified-Since", lm.Add(time.Hour).UTC().Format(http.TimeFormat)), etag)
	older := lm.Add(-time.Second).UTC().Format(http.TimeFormat)
	if a := condDo(t, srv, "GET", obj, "", "If-Modified-Since", older); a.code != http.StatusOK {
		t.Errorf("If-Modified-Since a second before the change: %d, want 200", a.code)
	}
	if a := condDo(t, srv, "GET", obj, "", "If-Modified-Since", at, "If-None-Match", `"other"`); a.code != http.StatusOK {
		t.Errorf("If-None-Match that does not match, with a current If-Modified-Since: %d, want 200 (If-None-Match decides)", a.code)
	}
	if a := condDo(t, srv, "GET", obj, "", "If-Modified-Since", "yesterday"); a.code != http.StatusOK {
		t.Errorf("an invalid date: %d, want 200 (ignored)", a.code)
	}

	const coll = "/api/v1/namespaces/default/configmaps"
	if a := condDo(t, srv, "GET", coll, "", "If-Modified-Since", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)); a.code != http.StatusOK || a.header.Get("Last-Modified") != "" {
		t.Errorf("LIST with If-Modified-Since: %d, Last-Modified %q; want 200 without one", a.code, a.header.Get("Last-Modified"))
	}
}

// TestConditionalWritePreconditionFailed proves row 412 for entity tags:
// PUT, PATCH and DELETE with an If-Match that names no current ETag, and
// PUT with If-None-Match: * of an object that exists, answer 412 with the
// current ETag and a PreconditionFailed Status, and change nothing. A
// current If-Match (of any representation, or *) lets the write through.
func TestConditionalWritePreconditionFailed(t *testing.T) {
	srv := servertest.Start(t)
	const obj = "/api/v1/namespaces/default/configmaps/guarded"
	const patch = `{"data":{"k":"patched"}}`
	rv := condConfigMap(t, srv, "guarded")
	etag := `"` + rv + `"`
	// Cella, unlike Kubernetes for most kinds, requires the
	// resourceVersion in a PUT body; If-Match does not stand in for it.
	putAt := func(rv string) string {
		return `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"guarded","resourceVersion":"` + rv + `"},"data":{"k":"put"}}`
	}
	put := putAt(rv)

	for _, tc := range []struct {
		name, method, body string
		headers            []string
	}{
		{"PUT stale If-Match", "PUT", put, []string{"If-Match", `"1"`}},
		{"PUT weak If-Match", "PUT", put, []string{"If-Match", "W/" + etag}},
		{"PUT If-None-Match *", "PUT", put, []string{"If-None-Match", "*"}},
		{"PUT If-None-Match current", "PUT", put, []string{"If-None-Match", etag}},
		{"PATCH stale If-Match", "PATCH", patch, []string{"If-Match", `"1"`, "Content-Type", "application/merge-patch+json"}},
		{"DELETE stale If-Match", "DELETE", "", []string{"If-Match", `"1"`}},
		{"DELETE malformed If-Match", "DELETE", "", []string{"If-Match", rv}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantPreconditionFailed(t, tc.name, condDo(t, srv, tc.method, obj, tc.body, tc.headers...), etag)
			if cm := condCurrent(t, srv, "guarded"); cm.ResourceVersion != rv || cm.Data["k"] != "v" {
				t.Errorf("%s changed the object: resourceVersion %s, data %v", tc.name, cm.ResourceVersion, cm.Data)
			}
		})
	}

	t.Run("order", func(t *testing.T) {
		// Negotiation first: 406 and 415 before 412.
		if a := condDo(t, srv, "PUT", obj, put, "If-Match", `"1"`, "Content-Type", "text/plain"); a.code != http.StatusUnsupportedMediaType {
			t.Errorf("PUT with a stale If-Match and an unsupported body: %d, want 415", a.code)
		}
		if a := condDo(t, srv, "PATCH", obj, patch, "If-Match", `"1"`, "Content-Type", "application/json"); a.code != http.StatusUnsupportedMediaType {
			t.Errorf("PATCH with a stale If-Match and an unsupported body: %d, want 415", a.code)
		}
		if a := condDo(t, srv, "PUT", obj, put, "If-Match", `"1"`, "Accept", "text/csv"); a.code != http.StatusNotAcceptable {
			t.Errorf("PUT with a stale If-Match and an unacceptable Accept: %d, want 406", a.code)
		}
		// The body after: a malformed or invalid body is not looked at.
		wantPreconditionFailed(t, "PUT stale If-Match, malformed body", condDo(t, srv, "PUT", obj, "{not json", "If-Match", `"1"`), etag)
		wantPreconditionFailed(t, "PATCH stale If-Match, invalid body", condDo(t, srv, "PATCH", obj, `{"metadata":{"name":"Not Valid"}}`, "If-Match", `"1"`, "Content-Type", "application/merge-patch+json"), etag)
		// A missing object is its 404, preconditions or not.
		if a := condDo(t, srv, "PUT", obj+"x", put, "If-Match", `"1"`); a.code != http.StatusNotFound {
			t.Errorf("PUT of a missing object with If-Match: %d, want 404", a.code)
		}
	})

	t.Run("current If-Match writes", func(t *testing.T) {
		cur := rv
		for _, tc := range []struct {
			name, method string
			body         func(rv string) string
			match        func(rv string) string
			contentType  string
		}{
			{"PUT", "PUT", putAt, func(rv string) string { return `"` + rv + `"` }, "application/json"},
			{"PATCH with the YAML ETag", "PATCH", func(string) string { return patch }, func(rv string) string { return `"` + rv + `-yaml"` }, "application/merge-patch+json"},
			{"PUT with *", "PUT", putAt, func(string) string { return "*" }, "application/json"},
			{"PATCH with a list", "PATCH", func(string) string { return `{"data":{"k":"listed"}}` }, func(rv string) string { return `"1", "` + rv + `"` }, "application/merge-patch+json"},
		} {
			a := condDo(t, srv, tc.method, obj, tc.body(cur), "If-Match", tc.match(cur), "Content-Type", tc.contentType)
			var cm corev1.ConfigMap
			_ = json.Unmarshal(a.body, &cm)
			if a.code != http.StatusOK {
				t.Errorf("%s with a current If-Match: %d %s, want 200", tc.name, a.code, a.body)
				continue
			}
			cur = cm.ResourceVersion
		}
		if a := condDo(t, srv, "DELETE", obj, "", "If-Match", `"`+cur+`"`); a.code != http.StatusOK {
			t.Errorf("DELETE with a current If-Match: %d %s, want 200", a.code, a.body)
		}
	})
}

// TestConditionalWriteUnmodifiedSince proves row 412 for dates: a write
// with If-Unmodified-Since older than the object's last change answers 412
// with the current ETag and changes nothing; a date not older lets it
// through; If-Match, when present, decides instead.
func TestConditionalWriteUnmodifiedSince(t *testing.T) {
	srv := servertest.Start(t)
	const obj = "/api/v1/namespaces/default/configmaps/dated"
	const patch = `{"data":{"k":"patched"}}`
	rv := condConfigMap(t, srv, "dated")
	etag := `"` + rv + `"`
	waitNextSecond(time.Now())
	lm, err := http.ParseTime(condDo(t, srv, "GET", obj, "").header.Get("Last-Modified"))
	if err != nil {
		t.Fatalf("no Last-Modified: %v", err)
	}
	older := lm.Add(-time.Second).UTC().Format(http.TimeFormat)
	for _, method := range []string{"PUT", "PATCH", "DELETE"} {
		body, ct := "", "application/json"
		switch method {
		case "PUT":
			body = `{"metadata":{"name":"dated"},"data":{"k":"put"}}`
		case "PATCH":
			body, ct = patch, "application/merge-patch+json"
		}
		wantPreconditionFailed(t, method+" If-Unmodified-Since before the change", condDo(t, srv, method, obj, body, "If-Unmodified-Since", older, "Content-Type", ct), etag)
	}
	if cm := condCurrent(t, srv, "dated"); cm.ResourceVersion != rv {
		t.Errorf("a rejected write changed the object to resourceVersion %s", cm.ResourceVersion)
	}
	if a := condDo(t, srv, "PATCH", obj, patch, "If-Unmodified-Since", older, "If-Match", etag, "Content-Type", "application/merge-patch+json"); a.code != http.StatusOK {
		t.Errorf("a current If-Match with an old If-Unmodified-Since: %d, want 200 (If-Match decides)", a.code)
	}
	// The patch just landed, later than lm: a date an hour on is not older.
	later := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	if a := condDo(t, srv, "DELETE", obj, "", "If-Unmodified-Since", later); a.code != http.StatusOK {
		t.Errorf("DELETE with If-Unmodified-Since after the change: %d %s, want 200", a.code, a.body)
	}
}

// TestConditionalWriteExpectContinue shows that a PUT that waits for 100
// Continue gets its 412 without sending the body: the precondition needs
// only the stored object.
func TestConditionalWriteExpectContinue(t *testing.T) {
	srv := servertest.Start(t)
	rv := condConfigMap(t, srv, "continued")
	c := dialRaw(t, srv)
	c.send(fmt.Sprintf("PUT /api/v1/namespaces/default/configmaps/continued HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\nIf-Match: \"1\"\r\nExpect: 100-continue\r\n\r\n", srv.Token))
	code, h := c.status()
	if code != http.StatusPreconditionFailed || h.Get("ETag") != `"`+rv+`"` {
		t.Fatalf("got %d with ETag %q, want 412 with ETag \"%s\" and no 100 first", code, h.Get("ETag"), rv)
	}
}

// TestConditionalWriteConcurrentIfMatch shows that If-Match is race-free:
// of many writes racing with the same current ETag exactly one succeeds,
// and every other is 412, whether it lost before its precondition was
// checked or between the check and the write.
func TestConditionalWriteConcurrentIfMatch(t *testing.T) {
	srv := servertest.Start(t)
	rv := condConfigMap(t, srv, "raced")
	const writers = 16
	codes := make([]int, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			method, body, ct := "PATCH", fmt.Sprintf(`{"data":{"k":"%d"}}`, i), "application/merge-patch+json"
			if i%2 == 0 {
				method, body, ct = "PUT", fmt.Sprintf(`{"metadata":{"name":"raced","resourceVersion":%q},"data":{"k":"%d"}}`, rv, i), "application/json"
			}
			req := srv.Request(method, "/api/v1/namespaces/default/configmaps/raced", []byte(body))
			req.Header.Set("Content-Type", ct)
			req.Header.Set("If-Match", `"`+rv+`"`)
			resp, err := srv.HTTPClient().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	won := 0
	for i, code := range codes {
		switch code {
		case http.StatusOK:
			won++
		case http.StatusPreconditionFailed:
		default:
			t.Errorf("writer %d: %d, want 200 or 412", i, code)
		}
	}
	if won != 1 {
		t.Errorf("%d writers succeeded with the same If-Match, want exactly 1 (codes %v)", won, codes)
	}
	if cur := condCurrent(t, srv, "raced"); cur.ResourceVersion == rv {
		t.Errorf("after the race the object is still at %s", rv)
	}
}

// TestConditionalClientGo shows that real clients are unaffected: client-go
// sends no conditions, so its reads and writes work as before, and a 412
// it provokes on purpose decodes as a Status error with code 412.
func TestConditionalClientGo(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	cs := srv.Clientset()
	cms := cs.CoreV1().ConfigMaps("default")
	condConfigMap(t, srv, "client")
	cm, err := cms.Get(ctx, "client", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["k"] = "updated"
	upd, err := cms.Update(ctx, cm, metav1.UpdateOptions{})
	if err != nil || upd.Data["k"] != "updated" {
		t.Fatalf("update: %v", err)
	}
	if _, err := cms.Patch(ctx, "client", types.MergePatchType, []byte(`{"data":{"k":"patched"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatalf("patch: %v", err)
	}
	// The namespace's kube-root-ca.crt, and "client".
	if list, err := cms.List(ctx, metav1.ListOptions{}); err != nil || len(list.Items) != 2 {
		t.Fatalf("list: %v", err)
	}

	err = cs.CoreV1().RESTClient().Put().Namespace("default").Resource("configmaps").Name("client").
		SetHeader("If-Match", `"1"`).Body(upd).Do(ctx).Error()
	var se *apierrors.StatusError
	if !errors.As(err, &se) || se.ErrStatus.Code != http.StatusPreconditionFailed || se.ErrStatus.Reason != "PreconditionFailed" {
		t.Fatalf("PUT with a stale If-Match through client-go: %v, want a 412 PreconditionFailed Status", err)
	}
	if err := cms.Delete(ctx, "client", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
}
