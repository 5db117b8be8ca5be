package apiserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"

	"cella.dev/cella/internal/apis"
)

// Fuzz targets for the parts of the server that read untrusted input before
// anything else checks it. scripts/test.sh runs each for a short, bounded
// time; `go test -run '^$' -fuzz '^FuzzX$' ./internal/apiserver/` runs one
// for as long as you like. Each asserts more than "no panic" where an
// invariant exists.

// FuzzRequestPath: path parsing and canonicalisation never panic; the
// canonical form of a path is canonical, and parsing it names a resource
// only under /api or /apis.
func FuzzRequestPath(f *testing.F) {
	for _, s := range []string{"/", "/api/v1/namespaces/default/pods/x/status", "/apis/apps/v1/watch/namespaces/a/deployments",
		"//api//v1/", "/api/v1/namespaces/x/finalize", "/a/./b/../c", "/apis", "/apis/g", "", "/%2e%2e/x", "/api/v1/namespaces"} {
		f.Add("GET", s, "watch=true")
	}
	f.Fuzz(func(t *testing.T, method, path, query string) {
		u := &url.URL{Path: path, RawQuery: query}
		r := &http.Request{Method: method, URL: u, Header: http.Header{}}
		info := ParseRequestInfo(r)
		if info.IsResourceRequest && info.APIPrefix != "api" && info.APIPrefix != "apis" {
			t.Fatalf("%q parsed as a resource outside /api and /apis: %+v", path, info)
		}
		if info.IsResourceRequest && info.Resource == "" && len(info.Parts) > 0 {
			t.Fatalf("%q: a resource request without a resource: %+v", path, info)
		}
		c, ok := canonicalPath(u.EscapedPath())
		if c2, ok2 := canonicalPath(c); !ok2 || c2 != c {
			t.Fatalf("canonicalPath(%q) = %q, which is not canonical (%q)", path, c, c2)
		}
		if ok && c != u.EscapedPath() {
			t.Fatalf("canonicalPath(%q) said canonical but changed it to %q", path, c)
		}
		if !strings.HasPrefix(c, "/") {
			t.Fatalf("canonicalPath(%q) = %q does not start with /", path, c)
		}
	})
}

// FuzzDecodeBody: request bodies in every accepted media type decode or
// fail with a 400 or 415 Status, never a panic or another error.
func FuzzDecodeBody(f *testing.F) {
	scheme, err := apis.NewScheme()
	if err != nil {
		f.Fatal(err)
	}
	d := newBodyDecoder(scheme)
	for _, s := range []string{`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"nginx"}]}}`,
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n", `{"metadata":{"name":1}}`, `{"a":1,"a":2}`, "", "\x6b\x38\x73\x00\x0a\x02v1"} {
		for _, mt := range []string{mediaJSON, mediaYAML, mediaProtobuf} {
			f.Add(mt, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, mt string, body []byte) {
		_, err := d.decode(mt, body, &corev1.Pod{})
		if err == nil {
			return
		}
		var se *apierrors.StatusError
		if !errors.As(err, &se) {
			t.Fatalf("decode(%q) failed with a non-Status error: %v", mt, err)
		}
		if c := se.ErrStatus.Code; c != http.StatusBadRequest && c != http.StatusUnsupportedMediaType {
			t.Fatalf("decode(%q) failed with %d, want 400 or 415: %v", mt, c, err)
		}
	})
}

// FuzzSelectors: label and field selectors parse or fail with a 400; a
// parsed label selector's string form parses to the same selector.
func FuzzSelectors(f *testing.F) {
	for _, s := range []string{"a=b", "a in (x,y),!b", "a notin (x)", "x>1", "a==b,c!=d", "metadata.name=x", "=", "a in (", "!"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, lsel, fsel string) {
		q := url.Values{"labelSelector": {lsel}, "fieldSelector": {fsel}}
		l, _, err := parseSelectors(q)
		if err != nil {
			var se *apierrors.StatusError
			if !errors.As(err, &se) || se.ErrStatus.Code != http.StatusBadRequest {
				t.Fatalf("selectors %q / %q: want a 400 Status, got %v", lsel, fsel, err)
			}
			return
		}
		again, err := labels.Parse(l.String())
		if err != nil {
			t.Fatalf("label selector %q printed as %q, which does not parse: %v", lsel, l.String(), err)
		}
		if again.String() != l.String() {
			t.Fatalf("label selector %q: %q reparsed as %q", lsel, l.String(), again.String())
		}
	})
}

// FuzzPatch: every patch media type applied to a pod either gives JSON or
// fails with a 400 Status, never a panic.
func FuzzPatch(f *testing.F) {
	cur := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"nginx","env":[{"name":"X","value":"1"}]}]}}`)
	for _, s := range []string{`{"metadata":{"labels":{"a":null,"c":"d"}}}`, `[{"op":"replace","path":"/spec/containers/0/image","value":"busybox"}]`,
		`{"spec":{"containers":[{"name":"c","$patch":"delete"}]}}`, `{"spec":{"$setElementOrder/containers":[{"name":"c"}]}}`, `[{"op":"move","from":"/a","path":"/a/b"}]`, `null`, `[]`} {
		for _, mt := range []string{mediaJSONPatch, mediaMergePatch, mediaStrategicPatch} {
			f.Add(mt, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, mt string, body []byte) {
		var jp jsonpatch.Patch
		if mt == mediaJSONPatch {
			var err error
			if jp, err = jsonpatch.DecodePatch(body); err != nil {
				return // the handler answers 400 before applying
			}
		} else if !json.Valid(body) {
			return // likewise
		}
		out, err := applyPatch(mt, jp, body, cur, &corev1.Pod{})
		if err != nil {
			var se *apierrors.StatusError
			if !errors.As(err, &se) || (se.ErrStatus.Code != http.StatusBadRequest && se.ErrStatus.Code != http.StatusUnsupportedMediaType) {
				t.Fatalf("applyPatch(%q) failed with %v, want a 400 or 415 Status", mt, err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("applyPatch(%q) produced invalid JSON: %q", mt, out)
		}
	})
}
