package apiserver_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/servertest"
)

// TestBadRequest400: each trigger of the 400 row, over a socket, with
// reason BadRequest and a message that says what to fix; nothing stored.
func TestBadRequest400(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.HTTPClient()
	const cms = "/api/v1/namespaces/default/configmaps"
	for _, tc := range []struct {
		name, method, path, ctype, body, says string
	}{
		{"malformed JSON", "POST", cms, "application/json", `{"metadata":`, "not a valid object"},
		{"malformed YAML", "POST", cms, "application/yaml", "metadata: [\n", "not valid YAML"},
		{"label selector", "GET", cms + "?labelSelector=a%3D%3D%3Db", "", "", "labelSelector"},
		{"field selector", "GET", cms + "?fieldSelector=metadata.name%3D%3D%3Dx", "", "", "fieldSelector"},
		{"limit", "GET", cms + "?limit=many", "", "", "limit"},
		{"timeout", "GET", cms + "?timeout=soon", "", "", "timeout"},
		{"resourceVersion", "GET", cms + "?resourceVersion=latest", "", "", "resourceVersion"},
		{"kind contradicts the URL", "POST", cms, "application/json", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"k"}}`, "kind"},
		{"apiVersion contradicts the URL", "POST", cms, "application/json", `{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"k"}}`, "apiVersion"},
		{"namespace contradicts the URL", "POST", cms, "application/json", `{"metadata":{"name":"k","namespace":"kube-system"}}`, "namespace"},
		{"unknown field, Strict", "POST", cms + "?fieldValidation=Strict", "application/json", `{"metadata":{"name":"k"},"dta":{}}`, "dta"},
	} {
		var body []byte
		if tc.body != "" {
			body = []byte(tc.body)
		}
		r := srv.Request(tc.method, tc.path, body)
		if tc.ctype != "" {
			r.Header.Set("Content-Type", tc.ctype)
		}
		a := call(t, c, r)
		if a.code != http.StatusBadRequest || a.status.Reason != metav1.StatusReasonBadRequest || !strings.Contains(a.status.Message, tc.says) {
			t.Errorf("%s: %d %s %q, want 400 BadRequest naming %q", tc.name, a.code, a.status.Reason, a.status.Message, tc.says)
		}
	}
	if a := call(t, c, srv.Request("GET", cms+"/k", nil)); a.code != http.StatusNotFound {
		t.Fatalf("a rejected create stored the object: %d", a.code)
	}
}

// TestUnprocessable422: well-formed objects that fail validation get 422
// Invalid with one cause per field.
func TestUnprocessable422(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.HTTPClient()
	pod := func(spec string) string {
		return `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"v"},"spec":` + spec + `}`
	}
	for _, tc := range []struct {
		name, path, body string
		fields           []string
	}{
		{"name", "/api/v1/namespaces/default/configmaps", `{"metadata":{"name":"Not_A_Name"}}`, []string{"metadata.name"}},
		{"required field", "/api/v1/namespaces/default/pods", pod(`{"containers":[]}`), []string{"spec.containers"}},
		{"enum value", "/api/v1/namespaces/default/pods", pod(`{"restartPolicy":"Sometimes","containers":[{"name":"c","image":"nginx","resources":{"limits":{"cpu":"500m","memory":"1Gi"}}}]}`), []string{"spec.restartPolicy"}},
		{"CCI instance specification", "/api/v1/namespaces/default/pods", pod(`{"containers":[{"name":"c","image":"nginx","resources":{"limits":{"cpu":"300m","memory":"1Gi"}}}]}`), []string{"resources"}},
		{"two fields at once", "/api/v1/namespaces/default/pods", pod(`{"restartPolicy":"Sometimes","containers":[{"name":"C_","image":"nginx","resources":{"limits":{"cpu":"500m","memory":"1Gi"}}}]}`), []string{"spec.restartPolicy", "spec.containers[0].name"}},
	} {
		a := call(t, c, srv.Request("POST", tc.path, []byte(tc.body)))
		if a.code != http.StatusUnprocessableEntity || a.status.Reason != metav1.StatusReasonInvalid || a.status.Details == nil {
			t.Errorf("%s: %d %s %s", tc.name, a.code, a.status.Reason, a.body)
			continue
		}
		for _, f := range tc.fields {
			found := false
			for _, cause := range a.status.Details.Causes {
				if strings.Contains(cause.Field, f) && cause.Type != "" && cause.Message != "" {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no cause names %s: %+v", tc.name, f, a.status.Details.Causes)
			}
		}
	}
	// An immutable field changed.
	const path = "/api/v1/namespaces/default/configmaps/frozen"
	if a := call(t, c, srv.Request("POST", "/api/v1/namespaces/default/configmaps", []byte(`{"metadata":{"name":"frozen"},"immutable":true,"data":{"a":"1"}}`))); a.code != http.StatusCreated {
		t.Fatalf("creating an immutable ConfigMap: %d %s", a.code, a.body)
	}
	r := srv.Request("PATCH", path, []byte(`{"data":{"a":"2"}}`))
	r.Header.Set("Content-Type", "application/merge-patch+json")
	if a := call(t, c, r); a.code != http.StatusUnprocessableEntity || a.status.Reason != metav1.StatusReasonInvalid || !strings.Contains(string(a.body), "immutable") {
		t.Fatalf("changing an immutable ConfigMap: %d %s", a.code, a.body)
	}
	if a := call(t, c, srv.Request("GET", path, nil)); !strings.Contains(string(a.body), `"a":"1"`) {
		t.Fatalf("a rejected update changed the object: %s", a.body)
	}
}

// TestConflict409: AlreadyExists on create; Conflict for a stale
// resourceVersion on update, patch and delete, and for a UID
// precondition; each with details kind and name.
func TestConflict409(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.HTTPClient()
	const cms = "/api/v1/namespaces/default/configmaps"
	first := call(t, c, srv.Request("POST", cms, []byte(`{"metadata":{"name":"once"},"data":{"v":"1"}}`)))
	if first.code != http.StatusCreated {
		t.Fatalf("create: %d", first.code)
	}
	a := call(t, c, srv.Request("POST", cms, []byte(`{"metadata":{"name":"once"}}`)))
	if a.code != http.StatusConflict || a.status.Reason != metav1.StatusReasonAlreadyExists || a.status.Details.Name != "once" || a.status.Details.Kind != "configmaps" {
		t.Fatalf("second create: %d %+v", a.code, a.status)
	}
	// Move the object on, so its first resourceVersion is stale.
	r := srv.Request("PATCH", cms+"/once", []byte(`{"data":{"v":"2"}}`))
	r.Header.Set("Content-Type", "application/merge-patch+json")
	if a := call(t, c, r); a.code != 200 {
		t.Fatalf("patch: %d", a.code)
	}
	var meta struct {
		Metadata struct{ ResourceVersion, UID string } `json:"metadata"`
	}
	if err := json.Unmarshal(first.body, &meta); err != nil {
		t.Fatal(err)
	}
	stale := meta.Metadata.ResourceVersion
	for _, tc := range []struct {
		name, method, ctype, body string
	}{
		{"update", "PUT", "application/json", `{"metadata":{"name":"once","resourceVersion":"` + stale + `"},"data":{"v":"3"}}`},
		{"patch", "PATCH", "application/merge-patch+json", `{"metadata":{"resourceVersion":"` + stale + `"},"data":{"v":"3"}}`},
		{"delete", "DELETE", "application/json", `{"preconditions":{"resourceVersion":"` + stale + `"}}`},
		{"delete with a UID precondition", "DELETE", "application/json", `{"preconditions":{"uid":"00000000-0000-0000-0000-000000000000"}}`},
	} {
		r := srv.Request(tc.method, cms+"/once", []byte(tc.body))
		r.Header.Set("Content-Type", tc.ctype)
		a := call(t, c, r)
		if a.code != http.StatusConflict || a.status.Reason != metav1.StatusReasonConflict || a.status.Details == nil || a.status.Details.Name != "once" {
			t.Errorf("%s: %d %+v", tc.name, a.code, a.status)
		}
	}
	if a := call(t, c, srv.Request("GET", cms+"/once", nil)); !strings.Contains(string(a.body), `"v":"2"`) {
		t.Fatalf("a 409 changed the object: %s", a.body)
	}
}

// TestMalformedPatchIs400: a JSON patch that makes the patch library panic
// (a "replace" of the whole document without a value, found by FuzzPatch)
// is the client's 400, not a 500.
func TestMalformedPatchIs400(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.HTTPClient()
	if a := call(t, c, srv.Request("POST", "/api/v1/namespaces/default/configmaps", []byte(`{"metadata":{"name":"p"}}`))); a.code != http.StatusCreated {
		t.Fatalf("create: %d", a.code)
	}
	r := srv.Request("PATCH", "/api/v1/namespaces/default/configmaps/p", []byte(`[{"op":"replace","path":""}]`))
	r.Header.Set("Content-Type", "application/json-patch+json")
	if a := call(t, c, r); a.code != http.StatusBadRequest || a.status.Reason != metav1.StatusReasonBadRequest {
		t.Fatalf("replace of the whole document without a value: %d %s", a.code, a.body)
	}
}
