package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"path"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"cella.dev/cella/internal/registry"
)

// The routing step of the chain. It runs after authentication and rate
// limiting and before authorization, as the status-code contract orders
// them: it decides what a path names and which methods it takes, and
// answers everything that needs no more than that:
//
//   - 501 for a method Cella does not implement anywhere;
//   - 301 for a GET or HEAD of a non-canonical path;
//   - 404 for a path that names nothing;
//   - 405 with Allow for a method the path does not take;
//   - 204 with Allow for OPTIONS.
//
// What it resolved travels in the request context to authorization and
// the handlers, so no later step parses the path again.

// targetKind says what a path names.
type targetKind int

const (
	targetHealth    targetKind = iota // /healthz, /livez, /readyz and their checks
	targetVersion                     // /version
	targetRoot                        // /
	targetDiscovery                   // /api, /api/v1, /apis, /apis/G, /apis/G/V
	targetOpenAPI                     // /openapi/v2, /openapi/v3/...
	targetMetrics                     // /metrics
	targetProfiling                   // /debug/pprof/...
	targetResource                    // a resource, collection or subresource
)

// targetIssuerDiscovery is the service account issuer's discovery: one of
// these two paths.
const (
	targetIssuerDiscovery = targetResource + 1

	pathOpenIDConfiguration = "/.well-known/openid-configuration"
	pathJWKS                = "/openid/v1/jwks"
)

// target is a resolved path.
type target struct {
	kind targetKind
	// ep is the endpoint of a resource target.
	ep *registry.Endpoint
	// allow lists the methods the path takes, in the order of an Allow
	// header.
	allow []string
}

// targetFrom returns what the routing step resolved for the request. It
// travels in the RequestInfo the chain already carries, which spares each
// request another context and another copy of the http.Request.
func targetFrom(ctx context.Context) (*target, bool) {
	info, ok := RequestInfoFrom(ctx)
	if !ok || info.target == nil {
		return nil, false
	}
	return info.target, true
}

// implementedMethods are the HTTP methods Cella serves anywhere; others are
// 501 Not Implemented.
var implementedMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

var (
	allowRead       = []string{http.MethodGet, http.MethodHead}
	allowCreateOnly = []string{http.MethodPost}
	allowCollection = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete}
	allowObject     = []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch, http.MethodDelete}
	allowSubObject  = []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch}
	allowFinalize   = []string{http.MethodPut}
	allowLog        = []string{http.MethodGet, http.MethodHead, http.MethodDelete}
	// allowStream is what pods/exec, pods/attach and pods/portforward
	// take, as kube-apiserver: GET for a WebSocket, POST for SPDY.
	allowStream = []string{http.MethodGet, http.MethodPost}
)

// withRouting is the routing step; see the comment at the top of the file.
func (s *Server) withRouting(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !implementedMethods[r.Method] {
			s.errs.Write(w, r, notImplemented(r.Method))
			return
		}
		info, _ := RequestInfoFrom(r.Context())
		// Only the part up to a proxy subresource is the server's: the
		// rest is the pod's path, passed on as sent.
		p, rest := cutProxyPath(info, r.URL.EscapedPath())
		if canon, ok := canonicalPath(p); !ok {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				// Only reads are redirected: a write to a path that is not
				// the object's path changes nothing.
				s.errs.Write(w, r, errNotFoundPath())
				return
			}
			canon += rest
			if r.URL.RawQuery != "" {
				canon += "?" + r.URL.RawQuery
			}
			w.Header().Set("Location", canon)
			w.WriteHeader(http.StatusMovedPermanently)
			return
		}
		t, err := s.resolve(info)
		if err != nil {
			s.errs.Write(w, r, err)
			return
		}
		if r.Method == http.MethodOptions && !isProxyRequest(info) {
			w.Header().Set("Allow", strings.Join(append(t.allow[:len(t.allow):len(t.allow)], http.MethodOptions), ", "))
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if !contains(t.allow, r.Method) {
			var gr schema.GroupResource
			if t.ep != nil {
				gr = t.ep.Resource.GroupResource()
			}
			s.writeError(w, r, methodNotAllowed(r, gr, t.allow))
			return
		}
		info.target = t
		next.ServeHTTP(w, r)
	})
}

// canonicalPath returns the canonical form of an escaped request path (no
// trailing slash, no empty, "." or ".." segments) and whether p already is
// canonical.
func canonicalPath(p string) (string, bool) {
	if p == "" || p[0] != '/' {
		return "/", false
	}
	c := path.Clean(p)
	return c, c == p
}

// resolve says what a path names.
func (s *Server) resolve(info *RequestInfo) (*target, error) {
	p := info.Path
	switch {
	case strings.HasPrefix(p, "/healthz") || strings.HasPrefix(p, "/livez") || strings.HasPrefix(p, "/readyz"):
		if _, _, ok := healthPath(p); ok {
			return &target{kind: targetHealth, allow: allowRead}, nil
		}
		return nil, errNotFoundPath()
	case p == "/version":
		return &target{kind: targetVersion, allow: allowRead}, nil
	case p == "/":
		return &target{kind: targetRoot, allow: allowRead}, nil
	case (p == "/debug/pprof" || strings.HasPrefix(p, "/debug/pprof/")) && s.cfg.Profiling != nil:
		return &target{kind: targetProfiling, allow: allowRead}, nil
	case p == "/metrics" && s.cfg.Metrics != nil:
		return &target{kind: targetMetrics, allow: allowRead}, nil
	case (p == pathOpenIDConfiguration || p == pathJWKS) && s.cfg.IssuerDiscovery != nil:
		return &target{kind: targetIssuerDiscovery, allow: allowRead}, nil
	case (p == "/openapi/v2" || p == "/openapi/v3" || strings.HasPrefix(p, "/openapi/v3/")) && s.cfg.OpenAPI != nil:
		return &target{kind: targetOpenAPI, allow: allowRead}, nil
	}
	if info.APIPrefix == "" {
		return nil, errNotFoundPath()
	}
	if !info.IsResourceRequest {
		if s.routes().disc.document(info) == nil {
			return nil, errNotFoundPath()
		}
		return &target{kind: targetDiscovery, allow: allowRead}, nil
	}
	ep := s.routes().endpoint(info.APIGroup, info.APIVersion, info.Resource)
	if ep == nil {
		return nil, errNotFoundPath()
	}
	if info.Namespace != "" && !ep.Resource.Namespaced {
		return nil, errNotFoundPath()
	}
	if len(info.Parts) > 3 && !isProxyRequest(info) {
		// Nothing is deeper than {resource}/{name}/{subresource}, but for
		// the path a proxy passes on.
		return nil, errNotFoundPath()
	}
	t := &target{kind: targetResource, ep: ep}
	switch {
	case ep.Create != nil:
		// Virtual create-only kinds (access reviews, the legacy
		// bindings, which exist only inside a namespace).
		if info.Name != "" || (ep.Resource.Namespaced && info.Namespace == "") {
			return nil, errNotFoundPath()
		}
		t.allow = allowCreateOnly
	case ep.Store == nil:
		// Computed read-only kinds (pod metrics).
		if info.Subresource != "" {
			return nil, errNotFoundPath()
		}
		t.allow = allowRead
	case info.Name == "":
		t.allow = allowCollection
	case info.Subresource == "":
		t.allow = allowObject
	case ep.Resource.SubresourceUpdates[info.Subresource] != nil:
		// certificatesigningrequests/approval.
		t.allow = allowSubObject
	case info.Subresource == "status" && (ep.Resource.HasStatus || ep.Resource.Kind == "Namespace"):
		t.allow = allowSubObject
	case info.Subresource == "scale" && ep.Resource.Scale != nil:
		t.allow = allowSubObject
	case info.Subresource == "finalize" && ep.Resource.Kind == "Namespace":
		t.allow = allowFinalize
	case ep.Creates[info.Subresource] != nil:
		// pods/binding: POST only.
		t.allow = allowCreateOnly
	case info.Subresource == "log" && isPods(ep):
		t.allow = allowLog
	case (info.Subresource == "exec" || info.Subresource == "attach" || info.Subresource == "portforward") && isPods(ep):
		t.allow = allowStream
	case isProxyRequest(info) && ep.Store != nil:
		t.allow = allowProxy
	default:
		return nil, errNotFoundPath()
	}
	return t, nil
}

// methodNotAllowed is the 405 answer for a method the path does not take;
// allow (OPTIONS is added) becomes the Allow header. An empty gr is a
// non-resource path.
func methodNotAllowed(r *http.Request, gr schema.GroupResource, allow []string) error {
	allow = append(allow[:len(allow):len(allow)], http.MethodOptions)
	if gr != (schema.GroupResource{}) {
		return &allowError{StatusError: apierrors.NewMethodNotSupported(gr, r.Method), allow: allow}
	}
	return &allowError{StatusError: &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusMethodNotAllowed, Reason: metav1.StatusReasonMethodNotAllowed,
		Message: fmt.Sprintf("the server does not allow the method %s on %s", r.Method, r.URL.Path),
	}}, allow: allow}
}

// allowError carries the Allow header of a 405.
type allowError struct {
	*apierrors.StatusError
	allow []string
}

func (e *allowError) Unwrap() error { return e.StatusError }

// notImplemented is the 501 for a method Cella does not serve anywhere.
func notImplemented(method string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusNotImplemented, Reason: "NotImplemented",
		Message: fmt.Sprintf("the method %s is not implemented by this server", method),
	}}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// isFindAcrossNamespaces reports a GET of a namespaced object by name
// without a namespace (/api/v1/pods/{name}): it is answered with 302, 300
// or 404 by findAcrossNamespaces.
func isFindAcrossNamespaces(t *target, info *RequestInfo) bool {
	return t.kind == targetResource && t.ep.Store != nil && t.ep.Resource.Namespaced &&
		info.Namespace == "" && info.Name != "" && info.Subresource == "" && info.Verb == "get"
}
