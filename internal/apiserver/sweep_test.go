package apiserver_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/servertest"
)

// TestNeverSends305306402 sweeps every served path with varied methods,
// headers and bodies and fails if any reply is 305 Use Proxy, 306
// (Unused) or 402 Payment Required, which the contract says are never sent
// — or 500, which would be a bug the sweep found. The variations are drawn
// from a fixed seed, so a failure repeats.
func TestNeverSends305306402(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.HTTPClient()
	paths := sweepPaths(t, srv, c)
	methods := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "BREW", "PROPFIND", "CONNECT"}
	bodies := []string{"", "{}", "not json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"sweep"}}`, `[{"op":"add","path":"/metadata/labels","value":{"a":"b"}}]`, "---\nkind: [", "\x00\xff\xfe"}
	headers := []func(r *http.Request){
		func(r *http.Request) {},
		func(r *http.Request) { r.Header.Del("Authorization") },
		func(r *http.Request) { r.Header.Set("Authorization", "Bearer wrong") },
		func(r *http.Request) { r.Header.Set("Accept", "text/html") },
		func(r *http.Request) { r.Header.Set("Accept", "application/yaml") },
		func(r *http.Request) {
			r.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
		},
		func(r *http.Request) { r.Header.Set("Content-Type", "application/merge-patch+json") },
		func(r *http.Request) { r.Header.Set("Content-Type", "application/json-patch+json") },
		func(r *http.Request) { r.Header.Set("Content-Type", "application/apply-patch+yaml") },
		func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") },
		func(r *http.Request) { r.Header.Set("If-Match", `"1"`) },
		func(r *http.Request) { r.Header.Set("If-None-Match", "*") },
		func(r *http.Request) { r.Header.Set("If-Modified-Since", "Mon, 02 Jan 2006 15:04:05 GMT") },
		func(r *http.Request) { r.Header.Set("Idempotency-Key", "sweep-key") },
		func(r *http.Request) { r.Header.Set("Origin", "https://elsewhere.example") },
		func(r *http.Request) { r.Header.Set("Proxy-Authorization", "Basic eDp5") },
		func(r *http.Request) { r.Header.Set("Range", "bytes=0-10") },
		func(r *http.Request) {
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Upgrade", "websocket")
		},
	}
	queries := []string{"", "?watch=true&timeoutSeconds=1", "?limit=1", "?limit=x", "?labelSelector=%3D%3D", "?resourceVersion=0", "?dryRun=All", "?fieldManager=sweep&fieldValidation=Strict", "?timeout=1s", "?propagationPolicy=Foreground"}

	rng := rand.New(rand.NewPCG(305, 402))
	seen := map[int]int{}
	const rounds = 4
	for range rounds {
		for _, p := range paths {
			m := methods[rng.IntN(len(methods))]
			body := bodies[rng.IntN(len(bodies))]
			q := queries[rng.IntN(len(queries))]
			var r *http.Request
			if body == "" {
				r = srv.Request(m, p+q, nil)
			} else {
				r = srv.Request(m, p+q, []byte(body))
			}
			headers[rng.IntN(len(headers))](r)
			if rng.IntN(4) == 0 {
				headers[rng.IntN(len(headers))](r)
			}
			resp, err := c.Do(r)
			if err != nil {
				// A connection the server closed on purpose (417, 411) is
				// fine; the code is what is checked.
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			seen[resp.StatusCode]++
			switch resp.StatusCode {
			case http.StatusUseProxy, 306, http.StatusPaymentRequired, http.StatusInternalServerError:
				t.Errorf("%s %s%s (%v) answered %d", m, p, q, r.Header, resp.StatusCode)
			}
		}
	}
	codes := make([]int, 0, len(seen))
	for code := range seen {
		codes = append(codes, code)
	}
	sort.Ints(codes)
	var b strings.Builder
	for _, code := range codes {
		fmt.Fprintf(&b, " %d×%d", code, seen[code])
	}
	t.Logf("%d paths × %d rounds; codes seen:%s", len(paths), rounds, b.String())
}

// sweepPaths lists every path the server serves, from its own discovery:
// each resource's collection, an object, its subresources and a missing
// subresource, and the non-resource paths, plus non-canonical forms.
func sweepPaths(t *testing.T, srv *servertest.Server, c *http.Client) []string {
	t.Helper()
	paths := []string{"/", "/healthz", "/livez", "/readyz", "/version", "/metrics", "/openapi/v2", "/openapi/v3",
		"/api", "/apis", "/api/", "//api//v1", "/api/v1/./namespaces", "/nothing", "/debug/pprof/"}
	groupVersions := []string{"/api/v1"}
	var groups metav1.APIGroupList
	getJSON(t, srv, c, "/apis", &groups)
	for _, g := range groups.Groups {
		paths = append(paths, "/apis/"+g.Name)
		for _, v := range g.Versions {
			groupVersions = append(groupVersions, "/apis/"+v.GroupVersion)
		}
	}
	for _, gv := range groupVersions {
		paths = append(paths, gv)
		var rl metav1.APIResourceList
		getJSON(t, srv, c, gv, &rl)
		for _, res := range rl.APIResources {
			name, sub, _ := strings.Cut(res.Name, "/")
			base := gv + "/" + name
			if res.Namespaced {
				base = gv + "/namespaces/default/" + name
				paths = append(paths, gv+"/"+name)
			}
			if sub != "" {
				paths = append(paths, base+"/sweep/"+sub)
				continue
			}
			paths = append(paths, base, base+"/sweep", base+"/sweep/nosuchsub", base+"/sweep/")
		}
	}
	return paths
}

func getJSON(t *testing.T, srv *servertest.Server, c *http.Client, path string, into any) {
	t.Helper()
	a := call(t, c, srv.Request("GET", path, nil))
	if a.code != 200 {
		t.Fatalf("GET %s: %d", path, a.code)
	}
	if err := json.Unmarshal(a.body, into); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}
