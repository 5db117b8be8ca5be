// Package apiserver is Cella's HTTP layer: one route table, the verb
// handlers, content negotiation, watch streaming, discovery and the writing
// of Status errors. It knows resources only through registry Endpoints and
// never touches storage directly.
package apiserver

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/version"

	"cella.dev/cella/internal/apiserver/filters"
	"cella.dev/cella/internal/auth"
	"cella.dev/cella/internal/registry"
)

// Config is everything the HTTP layer needs.
type Config struct {
	Logger    *slog.Logger
	Scheme    *runtime.Scheme
	Endpoints []*registry.Endpoint
	// Authenticator identifies callers; requests without valid
	// credentials get 401.
	Authenticator auth.Authenticator
	// Authorizer decides what callers may do; denials get 403.
	Authorizer auth.Authorizer
	// OpenAPI serves /openapi/v2 and /openapi/v3/...; nil answers 404.
	OpenAPI http.Handler
	// Metrics serves /metrics; nil answers 404.
	Metrics http.Handler
	// Profiling serves /debug/pprof/...; nil answers 404.
	Profiling http.Handler
	// IssuerDiscovery serves the service account issuer's OpenID
	// discovery, /.well-known/openid-configuration and /openid/v1/jwks;
	// nil answers 404.
	IssuerDiscovery http.Handler
	// Observe, when set, is called once per request after it is answered
	// (for metrics).
	Observe func(info *RequestInfo, code int, elapsed time.Duration)
	Version version.Info
	// MaxRequestBytes caps request bodies.
	MaxRequestBytes int64
	// MaxInflightRequestBytes is the budget of request body bytes held at
	// once by all requests (413 with Retry-After when full); zero is
	// unlimited.
	MaxInflightRequestBytes int64
	// BodyIdleTimeout is the longest a read of a request body may wait for
	// bytes (408); zero means 30s.
	BodyIdleTimeout time.Duration
	// MaxURIBytes caps the request target (414); zero means 8 KiB.
	MaxURIBytes int
	// MaxHeaderBytes caps the request head (431); zero means 1 MiB.
	MaxHeaderBytes int
	// RequestTimeout bounds non-streaming requests (504); zero means 60s.
	RequestTimeout time.Duration
	// RateQPS and RateBurst limit each user (429); zero QPS is unlimited.
	RateQPS   float64
	RateBurst int
	// MaxInflight limits requests served at once (429); zero is unlimited.
	MaxInflight int
	// MaxWatchesPerUser limits the watches one user has open at once (429
	// with Retry-After, before the watch starts); members of
	// system:masters are exempt. Zero is unlimited.
	MaxWatchesPerUser int
	// CORSAllowedOrigins are the origins browsers may call the API from.
	CORSAllowedOrigins []*regexp.Regexp
	// IdempotencyTTL is how long a create sent with an Idempotency-Key is
	// remembered after it succeeded (idempotency.go); zero means 24h.
	IdempotencyTTL time.Duration
	// Ready reports why the server should get no traffic (for /readyz):
	// nil means ready; otherwise /readyz answers 503 with the error's
	// message (e.g. storage closed, or its disk full).
	Ready func() error
	// Pods reaches the node agents for the pod subresources that stream
	// (pods/log, pods/portforward) and the proxies into pods; nil when no
	// runtime runs pods (503 for those).
	Pods PodConnector
	// ProxyTimeout is the longest the proxies (pods/proxy, services/proxy,
	// the forward proxy) wait for a pod to connect and answer with a
	// response head (504 past it); zero means 60s. Bodies are not timed.
	ProxyTimeout time.Duration
	// Drain, when set, refuses new requests with 503 once the server
	// starts shutting down and counts the ones still running.
	Drain *filters.Drain
	Now   func() time.Time
}

// Server is the HTTP API. Build it with New and serve Handler.
type Server struct {
	cfg     Config
	log     *slog.Logger
	errs    ErrorWriter
	decoder *bodyDecoder
	// fields keeps metadata.managedFields on every write (fieldmanager.go).
	fields *fieldManagers
	// served is the route table being served (routes.go); dynamic holds the
	// endpoints served on behalf of custom resource definitions, by
	// owner, guarded by dynMu, which also orders the swaps of served.
	served  atomic.Pointer[routeTable]
	dynMu   sync.Mutex
	dynamic map[string][]*registry.Endpoint
	// idem remembers creates sent with an Idempotency-Key.
	idem idempotencyStore
	// shutdown is closed when the server starts draining; watches end.
	shutdown chan struct{}
	now      func() time.Time

	// streams counts WebSocket connections, which http.Server.Shutdown
	// does not wait for (see WaitStreams).
	streams streamTracker
}

// New builds the server and its discovery documents.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = 3 << 20
	}
	cfg.BodyIdleTimeout = orDefault(cfg.BodyIdleTimeout, 30*time.Second)
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		errs:     ErrorWriter{Logger: cfg.Logger},
		decoder:  newBodyDecoder(cfg.Scheme),
		dynamic:  map[string][]*registry.Endpoint{},
		idem:     newMemoryIdempotencyStore(orDefault(cfg.IdempotencyTTL, defaultIdempotencyTTL), maxIdempotencyKeys, cfg.Now),
		shutdown: make(chan struct{}),
		now:      cfg.Now,
	}
	t, err := newRouteTable(cfg.Endpoints)
	if err != nil {
		return nil, err
	}
	s.served.Store(t)
	s.fields = newFieldManagers(cfg.Scheme, s.routes)
	return s, nil
}

// Shutdown makes running watches end; new requests are the caller's to
// refuse.
func (s *Server) Shutdown() {
	select {
	case <-s.shutdown:
	default:
		close(s.shutdown)
	}
}

// Handler returns the whole chain, assembled here and only here. Filters
// run outermost first in the order of the status-code contract:
//
//	recovery (a panic anywhere is a 500)
//	request line and head: 414, 431, request info, 417/411/413 by declared
//	length
//	CORS (preflights are answered before authentication: they carry no
//	credentials)
//	draining (503 once shutdown has begun; liveness probes excepted)
//	authentication (401; 407 with Proxy-Authenticate for a forward-proxy
//	request, CONNECT or absolute-form, whose credentials come in
//	Proxy-Authorization)
//	the forward proxy (forwardproxy.go): CONNECT and absolute-form
//	requests end here, never routed as API paths: 403 for a target that
//	is not a pod or service the user may proxy to, 404, 503, 502, 504 as
//	for pods/proxy, else the pod's answer (or 200 and a tunnel)
//	impersonation (400, 403)
//	rate limits (429: per-user rate, then requests in flight, then watches
//	open per user)
//	the budget of body bytes in flight (413 with Retry-After)
//	the request deadline (504 later, when work outlives it)
//	routing (501, 301, 404, 405, and 204 for OPTIONS)
//	authorization (403)
//	the handlers: negotiation (406, 415), preconditions (304, 412),
//	Idempotency-Key (400, 409), body (400, 413, 422, 303), admission (403
//	quota) and storage (409, 410, 503, 504, 500); what they warn of
//	(warning.Add) becomes Warning headers (filters.WithWarnings)
//
// It is built inner-most first.
func (s *Server) Handler() http.Handler {
	c := s.cfg
	var h http.Handler = http.HandlerFunc(s.route)
	// Innermost, so that warnings land in the headers of the writer the
	// handlers write through.
	h = filters.WithWarnings(h)
	h = s.withAuthorization(h)
	h = s.withRouting(h)
	h = filters.WithTimeout(h, orDefault(c.RequestTimeout, 60*time.Second), longRunning, s.errs.Write)
	h = filters.WithBodyBudget(h, c.MaxInflightRequestBytes, c.MaxRequestBytes, s.errs.Write)
	if c.MaxInflight > 0 {
		h = filters.WithMaxInflight(h, c.MaxInflight, longRunning, s.errs.Write)
	}
	if c.MaxWatchesPerUser > 0 {
		// Watches are exempt from the in-flight limit: this caps them instead.
		h = filters.WithWatchLimit(h, filters.NewWatchLimiter(c.MaxWatchesPerUser), longRunning, s.errs.Write)
	}
	if c.RateQPS > 0 {
		h = filters.WithRateLimit(h, filters.NewUserLimiter(c.RateQPS, c.RateBurst), s.errs.Write)
	}
	h = s.withImpersonation(h)
	h = s.withForwardProxy(h)
	h = s.withAuthentication(h)
	h = filters.WithDrain(h, c.Drain, s.errs.Write)
	if len(c.CORSAllowedOrigins) > 0 {
		h = filters.WithCORS(h, c.CORSAllowedOrigins)
	}
	h = filters.WithFraming(h, c.MaxRequestBytes, longRunning, s.errs.Write)
	h = s.withRequestInfo(h)
	h = filters.WithMaxHeaderBytes(h, orDefaultInt(c.MaxHeaderBytes, 1<<20), s.errs.Write)
	h = filters.WithMaxURI(h, orDefaultInt(c.MaxURIBytes, 8<<10), s.errs.Write)
	h = s.withRecovery(h)
	return h
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func orDefaultInt(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

// longRunning reports requests that stream (watches, pod logs,
// port-forward, proxies): they have
// no deadline and do not hold an in-flight slot.
func longRunning(r *http.Request) bool {
	info, ok := RequestInfoFrom(r.Context())
	if !ok {
		return false
	}
	switch {
	case info.Verb == "watch":
		return true
	case info.IsResourceRequest && info.Subresource == "proxy":
		// As kube-apiserver: a proxied request takes as long as the pod
		// does (the proxy bounds the wait for its answer instead).
		return true
	case info.IsResourceRequest && info.Resource == "pods":
		// As kube-apiserver: the pod subresources that stream.
		switch info.Subresource {
		case "log", "exec", "attach", "portforward":
			return true
		}
	}
	return false
}

// withRecovery turns a panic into a logged 500 and keeps serving.
func (s *Server) withRecovery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &statusRecorder{ResponseWriter: w}
		start := time.Now()
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				if !rw.wroteHeader {
					s.errs.Write(rw, r, errors.New("panic"))
				}
			}
			if s.cfg.Observe != nil {
				info := rw.info
				if info == nil {
					// Answered before withRequestInfo ran (414).
					info = ParseRequestInfo(r)
				}
				if info.IsResourceRequest && s.routes().endpoint(info.APIGroup, info.APIVersion, info.Resource) == nil {
					// Any path may name a resource: label the ones that
					// do not exist alike, so they cannot grow the metrics.
					masked := *info
					masked.APIGroup, masked.Resource, masked.Subresource = "", "unknown", ""
					info = &masked
				}
				s.cfg.Observe(info, rw.code(), time.Since(start))
			}
		}()
		next.ServeHTTP(rw, r)
	})
}

// statusRecorder remembers the status code written.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	// info is set by withRequestInfo, further in, for Observe.
	info *RequestInfo
}

func (w *statusRecorder) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) code() int {
	if !w.wroteHeader {
		return http.StatusOK
	}
	return w.status
}

// Flush implements http.Flusher for watches.
func (w *statusRecorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if !w.wroteHeader {
			w.status, w.wroteHeader = http.StatusOK, true
		}
		f.Flush()
	}
}

// Hijack implements http.Hijacker for WebSocket upgrades, the one use of
// it, which answer 101 on the hijacked connection. Recording that as the
// status written keeps withRecovery from answering on a connection that is
// no longer HTTP, and lets Observe count the 101.
func (w *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusSwitchingProtocols, true
	}
	return conn, rw, err
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) withRequestInfo(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := ParseRequestInfo(r)
		if rec, ok := w.(*statusRecorder); ok {
			rec.info = info
		}
		next.ServeHTTP(w, r.WithContext(WithRequestInfo(r.Context(), info)))
	})
}

// unauthenticatedPaths may be read without credentials, as Kubernetes'
// system:public-info-viewer allows.
func unauthenticatedPath(p string) bool {
	switch p {
	case "/healthz", "/livez", "/readyz", "/version":
		return true
	}
	return false
}

func (s *Server) withAuthentication(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isForwardProxyRequest(r) {
			// Credentials for a proxy come in Proxy-Authorization; the
			// Authorization header is the target's (forwardproxy.go).
			r2, ok := s.proxyAuthenticate(r)
			if !ok {
				w.Header().Set("Proxy-Authenticate", `Bearer realm="cella"`)
				s.errs.Write(w, r, errProxyAuthRequired())
				return
			}
			next.ServeHTTP(w, r2)
			return
		}
		r2, ok := s.authenticate(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cella"`)
			s.errs.Write(w, r, apierrors.NewUnauthorized("Unauthorized"))
			return
		}
		next.ServeHTTP(w, r2)
	})
}

// attributes are what RBAC judges of a request by u.
func attributes(u auth.User, info *RequestInfo, r *http.Request) auth.Attributes {
	a := auth.Attributes{
		User: u, Verb: info.Verb, Path: r.URL.Path,
		ResourceRequest: info.IsResourceRequest,
		APIGroup:        info.APIGroup, Resource: info.Resource, Subresource: info.Subresource,
		Namespace: info.Namespace, Name: info.Name,
	}
	if info.IsResourceRequest && info.Resource == "namespaces" && info.Name != "" {
		a.Namespace = info.Name
	}
	if !info.IsResourceRequest {
		a.Verb = strings.ToLower(r.Method)
		if a.Verb == "head" {
			a.Verb = "get"
		}
	}
	return a
}

// authenticate returns the request carrying its user, or r itself for the
// paths anyone may read; false means 401. Like authorize, it keeps its
// frame off the stack the handler runs on.
//
//go:noinline
func (s *Server) authenticate(r *http.Request) (*http.Request, bool) {
	if s.cfg.Authenticator == nil {
		return r.WithContext(auth.WithUser(r.Context(), auth.User{Name: auth.AdminUser, Groups: []string{auth.GroupMasters, auth.GroupAuthenticated}})), true
	}
	u, ok, err := s.cfg.Authenticator.Authenticate(r)
	if err != nil || !ok {
		return r, unauthenticatedPath(r.URL.Path)
	}
	// The bearer token is not passed further in.
	r.Header.Del("Authorization")
	auth.StripWebSocketBearer(r.Header)
	return r.WithContext(auth.WithUser(r.Context(), u)), true
}

func (s *Server) withAuthorization(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.authorize(r); err != nil {
			s.errs.Write(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorize returns nil when the request may proceed, else its 403 (or
// the 5xx of an authorizer that could not decide). It is a function of its
// own so that its large frame is gone from the stack before the handler
// runs: every frame a filter keeps while calling further in is paid for by
// each request's goroutine, in stack growth.
//
//go:noinline
func (s *Server) authorize(r *http.Request) error {
	u, authenticated := auth.UserFrom(r.Context())
	if s.cfg.Authorizer == nil || (!authenticated && unauthenticatedPath(r.URL.Path)) {
		return nil
	}
	info, _ := RequestInfoFrom(r.Context())
	if t, ok := targetFrom(r.Context()); ok && isFindAcrossNamespaces(t, info) {
		// GET of a namespaced object without a namespace: only the
		// namespaces the caller may read count, and that is decided per
		// candidate (findAcrossNamespaces).
		return nil
	}
	attrs := attributes(u, info, r)
	d, err := s.cfg.Authorizer.Authorize(r.Context(), attrs)
	if err != nil {
		return authorizationFailed(err)
	}
	if !d.Allowed {
		return forbidden(u, info.Verb, info, r)
	}
	if connectsWithGet(info) {
		// A WebSocket handshake is a GET, so its verb is get; it opens a
		// session into the container all the same, which SPDY's POST
		// authorizes as create. kube-apiserver (1.35 and later, the
		// AuthorizePodWebsocketUpgradeCreatePermission gate) requires
		// create as well, and so does Cella: `get pods/exec` alone, which
		// reads like a harmless grant, opens no shell.
		attrs.Verb = "create"
		d, err := s.cfg.Authorizer.Authorize(r.Context(), attrs)
		if err != nil {
			return authorizationFailed(err)
		}
		if !d.Allowed {
			return forbidden(u, "create", info, r)
		}
	}
	return nil
}

// connectsWithGet reports a GET of a pod subresource that opens a session
// into a container: exec, attach, portforward.
func connectsWithGet(info *RequestInfo) bool {
	if !info.IsResourceRequest || info.Verb != "get" || info.APIGroup != "" || info.Resource != "pods" {
		return false
	}
	switch info.Subresource {
	case "exec", "attach", "portforward":
		return true
	}
	return false
}

// forbidden is the 403 in the words kube-apiserver uses, for verb.
func forbidden(u auth.User, verb string, info *RequestInfo, r *http.Request) error {
	if !info.IsResourceRequest {
		err := apierrors.NewForbidden(schema.GroupResource{}, "", fmt.Errorf("User %q cannot %s path %q", u.Name, strings.ToLower(r.Method), r.URL.Path))
		return err
	}
	res := info.Resource
	if info.Subresource != "" {
		res += "/" + info.Subresource
	}
	scope := "at the cluster scope"
	if info.Namespace != "" {
		scope = fmt.Sprintf("in the namespace %q", info.Namespace)
	}
	// The object is the resource's (pods "web"), the subresource is in
	// the sentence (resource "pods/exec"), as kube-apiserver words it.
	gr := schema.GroupResource{Group: info.APIGroup, Resource: info.Resource}
	return apierrors.NewForbidden(gr, info.Name, fmt.Errorf("User %q cannot %s resource %q in API group %q %s", u.Name, verb, res, info.APIGroup, scope))
}

// route is the one route table.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if err := s.serve(w, r); err != nil {
		s.writeError(w, r, err)
	}
}

// writeError answers err, with the Allow header a 405 carries.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *allowError
	if errors.As(err, &ae) {
		w.Header().Set("Allow", strings.Join(ae.allow, ", "))
	}
	s.errs.Write(w, r, err)
}

// serve answers a request the routing step has resolved.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) error {
	info, _ := RequestInfoFrom(r.Context())
	t, ok := targetFrom(r.Context())
	if !ok {
		return errNotFoundPath()
	}
	if isWebSocketRequest(r) && !webSocketServed(info) {
		return errUpgradeNotServed(r)
	}
	if t.kind == targetResource {
		return s.serveResource(w, r, info, t.ep)
	}
	return s.serveNonResource(w, r, info, t)
}

// serveNonResource answers the paths that name no resource. It is apart
// from serve so that its frame is not on the stack of resource requests.
//
//go:noinline
func (s *Server) serveNonResource(w http.ResponseWriter, r *http.Request, info *RequestInfo, t *target) error {
	switch t.kind {
	case targetHealth:
		endpoint, check, _ := healthPath(info.Path)
		return s.serveHealth(w, r, endpoint, check)
	case targetVersion:
		data, _ := json.Marshal(s.cfg.Version)
		w.Header().Set("Content-Type", mediaJSON)
		_, _ = w.Write(data)
		return nil
	case targetProfiling:
		s.cfg.Profiling.ServeHTTP(w, r)
		return nil
	case targetMetrics:
		s.cfg.Metrics.ServeHTTP(w, r)
		return nil
	case targetIssuerDiscovery:
		s.cfg.IssuerDiscovery.ServeHTTP(w, r)
		return nil
	case targetOpenAPI:
		s.cfg.OpenAPI.ServeHTTP(w, r)
		return nil
	case targetRoot:
		return s.serveRootPaths(w)
	case targetDiscovery:
		ok, err := s.serveDiscovery(w, r, info)
		if !ok && err == nil {
			return errNotFoundPath()
		}
		return err
	}
	return errNotFoundPath()
}

// readiness calls Config.Ready, if set.
func (s *Server) readiness() error {
	if s.cfg.Ready == nil {
		return nil
	}
	return s.cfg.Ready()
}

func writePlain(w http.ResponseWriter, code int, body string) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
	return nil
}

// serveRootPaths lists the served paths, like kube-apiserver's "/".
func (s *Server) serveRootPaths(w http.ResponseWriter) error {
	paths := []string{"/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version", "/openapi/v2", "/openapi/v3", "/metrics"}
	if s.cfg.IssuerDiscovery != nil {
		paths = append(paths, pathOpenIDConfiguration, pathJWKS)
	}
	seen := map[string]bool{}
	for _, ep := range s.routes().endpoints {
		if ep.Group == "" {
			continue
		}
		for _, p := range []string{"/apis/" + ep.Group, "/apis/" + ep.Group + "/" + ep.Version} {
			if !seen[p] {
				seen[p] = true
				paths = append(paths, p)
			}
		}
	}
	sort.Strings(paths)
	data, _ := json.MarshalIndent(map[string][]string{"paths": paths}, "", "  ")
	w.Header().Set("Content-Type", mediaJSON)
	_, _ = w.Write(data)
	return nil
}

// findAcrossNamespaces answers GET of a namespaced object without a
// namespace: 302 to the one namespace holding the name, 300 listing the
// candidates when several do, 404 when none.
func (s *Server) findAcrossNamespaces(w http.ResponseWriter, r *http.Request, ep *registry.Endpoint, name string) error {
	res, err := ep.Store.List(r.Context(), "", registry.ListOptions{Fields: fields.OneTermEqualSelector("metadata.name", name)})
	if err != nil {
		return err
	}
	var paths []string
	info, _ := RequestInfoFrom(r.Context())
	for _, it := range res.Items {
		obj, err := ep.Store.Decode(it.JSON)
		if err != nil {
			return err
		}
		m, _ := meta.Accessor(obj)
		readable, err := s.mayGet(r, info, m.GetNamespace())
		if err != nil {
			return err
		}
		if readable {
			paths = append(paths, objectPath(info, ep, m.GetNamespace(), m.GetName()))
		}
	}
	switch len(paths) {
	case 0:
		return apierrors.NewNotFound(ep.Resource.GroupResource(), name)
	case 1:
		http.Redirect(w, r, paths[0], http.StatusFound)
		return nil
	}
	w.Header().Set("Location", paths[0])
	w.Header().Set("Content-Type", mediaJSON)
	w.WriteHeader(http.StatusMultipleChoices)
	data, _ := json.Marshal(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "MultipleChoices",
		"message": fmt.Sprintf("%s %q exists in %d namespaces; choose one", ep.Resource.Singular, name, len(paths)), "code": http.StatusMultipleChoices,
		"details": map[string]any{"name": name, "kind": ep.Resource.Plural, "causes": choices(paths)}})
	_, _ = w.Write(data)
	return nil
}

// mayGet reports whether the caller may get the requested object in
// namespace.
func (s *Server) mayGet(r *http.Request, info *RequestInfo, namespace string) (bool, error) {
	if s.cfg.Authorizer == nil {
		return true, nil
	}
	u, _ := auth.UserFrom(r.Context())
	a := attributes(u, info, r)
	a.Namespace = namespace
	d, err := s.cfg.Authorizer.Authorize(r.Context(), a)
	if err != nil {
		return false, authorizationFailed(err)
	}
	return d.Allowed, nil
}

func choices(paths []string) []metav1.StatusCause {
	out := make([]metav1.StatusCause, len(paths))
	for i, p := range paths {
		out[i] = metav1.StatusCause{Type: "Choice", Message: p, Field: "location"}
	}
	return out
}

// fieldErrs builds a one-entry field.ErrorList.
func fieldErrs(path string, value any, msg string) field.ErrorList {
	return field.ErrorList{field.Invalid(field.NewPath(path), value, msg)}
}

func fieldErrNameRequired() field.ErrorList {
	return field.ErrorList{field.Required(field.NewPath("metadata", "name"), "name or generateName is required")}
}

// errNotFoundPath is kube-apiserver's 404 for a path that names nothing it
// serves.
func errNotFoundPath() error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound,
		Message: "the server could not find the requested resource", Details: &metav1.StatusDetails{},
	}}
}
