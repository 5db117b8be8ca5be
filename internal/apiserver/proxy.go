package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	"cella.dev/cella/internal/registry"
)

// The proxy subresources, as kube-apiserver serves them:
//
//	/api/v1/namespaces/NS/pods/[SCHEME:]NAME[:PORT]/proxy[/PATH]
//	/api/v1/namespaces/NS/services/[SCHEME:]NAME[:PORT]/proxy[/PATH]
//
// GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS are passed on to the pod (a service's request to
// one of its ready pods), with PATH as the path, the query kept, the
// caller's credentials already removed by authentication, and a Location
// the pod answers with that points into the pod rewritten to point back
// through the proxy. SCHEME is http (the default) or https (the pod's
// certificate is not checked: nothing could vouch for it). A pod's PORT is
// a number or the name of a container port, by default the first
// container port (else 80); a service's PORT is the name or number of one
// of its ports (by default its first), and the pod is dialled on that
// port's targetPort.
//
// Authorization is RBAC on pods/proxy or services/proxy with the verb of
// the method (GET and HEAD get, POST create, PUT update, PATCH patch,
// DELETE delete, OPTIONS options), done by the chain before the handler
// runs.
//
// Answers of the proxy's own: 404 for a pod or service that does not
// exist; 400 for a pod not bound to a node; 503 for a pod without an IP
// yet, and `no endpoints available for service "x"` for a service none of
// whose pods is ready; 502 for a pod that refuses the connection, resets
// it or answers something that is not HTTP; 504 for a pod that does not
// answer within Config.ProxyTimeout.

// allowProxy lists the methods the proxy subresources pass on.
var allowProxy = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

// defaultProxyTimeout is Config.ProxyTimeout's default.
const defaultProxyTimeout = 60 * time.Second

// isProxyRequest reports a request for a pods or services proxy
// subresource.
func isProxyRequest(info *RequestInfo) bool {
	return info != nil && info.IsResourceRequest && info.APIGroup == "" && info.Subresource == "proxy" &&
		(info.Resource == "pods" || info.Resource == "services")
}

// cutProxyPath splits the escaped path of a proxy request after its
// "proxy" segment: prefix names the subresource (and must be canonical),
// rest is the path passed on to the pod, as sent. A path that is not a
// proxy request is all prefix.
func cutProxyPath(info *RequestInfo, escaped string) (prefix, rest string) {
	if !isProxyRequest(info) {
		return escaped, ""
	}
	// Segments up to and including "proxy": those before the resource,
	// then resource, name, proxy. Names hold no "/", so the segments of
	// the escaped path line up with the parsed ones up to there.
	want := len(splitPath(info.Path)) - len(info.Parts) + 3
	seen := 0
	for i := 0; i < len(escaped); {
		for i < len(escaped) && escaped[i] == '/' {
			i++
		}
		if i == len(escaped) {
			break
		}
		j := strings.IndexByte(escaped[i:], '/')
		if j < 0 {
			j = len(escaped) - i
		}
		i += j
		if seen++; seen == want {
			return escaped[:i], escaped[i:]
		}
	}
	return escaped, ""
}

// splitSchemeNamePort reads the name segment of a proxy path:
// "name", "name:port" or "scheme:name:port" (port may be empty).
func splitSchemeNamePort(id string) (scheme, name, port string, ok bool) {
	parts := strings.Split(id, ":")
	switch len(parts) {
	case 1:
		name = parts[0]
	case 2:
		name, port = parts[0], parts[1]
	case 3:
		scheme, name, port = parts[0], parts[1], parts[2]
	default:
		return "", "", "", false
	}
	switch scheme {
	case "", "http", "https":
	default:
		return "", "", "", false
	}
	return scheme, name, port, name != ""
}

// proxyTarget is where a proxied request goes.
type proxyTarget struct {
	pod  *corev1.Pod
	port int32
	// scheme is http or https.
	scheme string
	// desc names the target in errors ("pod web", `service "web"`).
	desc string
}

// serveProxy answers the proxy subresources; see the comment at the top
// of the file.
func (s *Server) serveProxy(w http.ResponseWriter, r *http.Request, info *RequestInfo) error {
	if info.Namespace == "" {
		return errNotFoundPath()
	}
	if s.cfg.Pods == nil {
		return apierrors.NewServiceUnavailable("this server runs no pods (started with --runtime none): there is nothing to proxy to")
	}
	scheme, name, port, ok := splitSchemeNamePort(info.Name)
	if !ok {
		return apierrors.NewBadRequest(fmt.Sprintf("invalid proxy target %q: want [scheme:]name[:port], scheme http or https", info.Name))
	}
	if scheme == "" {
		scheme = "http"
	}
	var t *proxyTarget
	var err error
	if info.Resource == "pods" {
		t, err = s.podProxyTarget(r.Context(), info.Namespace, name, port)
	} else {
		t, err = s.serviceProxyTarget(r.Context(), info.Namespace, name, port)
	}
	if err != nil {
		return err
	}
	t.scheme = scheme
	prefix, rest := cutProxyPath(info, r.URL.EscapedPath())
	s.reverseProxy(t, prefix, rest).ServeHTTP(w, r)
	return nil
}

// podProxyTarget resolves a pod and the port asked ("" for its first
// container port, else 80).
func (s *Server) podProxyTarget(ctx context.Context, namespace, name, port string) (*proxyTarget, error) {
	pod, err := s.getPod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	if pod.Spec.NodeName == "" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name))
	}
	if pod.Status.PodIP == "" {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("pod %s has no IP address yet", pod.Name))
	}
	var n int32
	switch {
	case port == "":
		n = 80
		if p := firstContainerPort(pod); p != 0 {
			n = p
		}
	default:
		if v, err := strconv.ParseUint(port, 10, 16); err == nil && v > 0 {
			n = int32(v)
		} else if n = namedContainerPort(pod, port); n == 0 {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("pod %s has no container port %q", pod.Name, port))
		}
	}
	return &proxyTarget{pod: pod, port: n, desc: "pod " + pod.Name}, nil
}

// serviceProxyTarget resolves a service to one of its ready pods and the
// targetPort of the service port asked ("" for its first).
func (s *Server) serviceProxyTarget(ctx context.Context, namespace, name, port string) (*proxyTarget, error) {
	svc, err := s.getService(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	sp := servicePort(svc, port)
	if sp == nil {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("no endpoints available for service %q", name))
	}
	pod, target, err := s.serviceEndpoint(ctx, svc, sp)
	if err != nil {
		return nil, err
	}
	return &proxyTarget{pod: pod, port: target, desc: fmt.Sprintf("service %q", name)}, nil
}

// servicePort is the port of svc named or numbered want, or its first
// when want is ""; nil when there is none.
func servicePort(svc *corev1.Service, want string) *corev1.ServicePort {
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if want == "" || p.Name == want || strconv.Itoa(int(p.Port)) == want {
			return p
		}
	}
	return nil
}

// serviceEndpoint picks, at random, a ready pod selected by svc that has
// the targetPort of sp, and returns that port on the pod. There is no
// endpoints controller yet: the pods are read directly, as the endpoints
// controller would choose them (selected, bound, with an IP, PodReady
// True, not being deleted). None is the 503 kube-apiserver answers.
func (s *Server) serviceEndpoint(ctx context.Context, svc *corev1.Service, sp *corev1.ServicePort) (*corev1.Pod, int32, error) {
	none := apierrors.NewServiceUnavailable(fmt.Sprintf("no endpoints available for service %q", svc.Name))
	if len(svc.Spec.Selector) == 0 {
		return nil, 0, none
	}
	type endpoint struct {
		pod  *corev1.Pod
		port int32
	}
	var ready []endpoint
	err := s.findPods(ctx, svc.Namespace, registry.ListOptions{Labels: labels.SelectorFromSet(svc.Spec.Selector)}, func(p *corev1.Pod) bool {
		if port := targetPort(p, sp); port != 0 && podServes(p) {
			ready = append(ready, endpoint{p, port})
		}
		return len(ready) > 0
	})
	if err != nil {
		return nil, 0, err
	}
	if len(ready) == 0 {
		return nil, 0, none
	}
	e := ready[rand.IntN(len(ready))]
	return e.pod, e.port, nil
}

// podServes reports a pod an endpoints controller would list as ready.
func podServes(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Spec.NodeName == "" || p.Status.PodIP == "" {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// targetPort is the port of pod that sp forwards to: its targetPort
// number (the service port when unset), or the container port of pod
// its targetPort names; 0 when pod has no such port.
func targetPort(pod *corev1.Pod, sp *corev1.ServicePort) int32 {
	switch {
	case sp.TargetPort.Type == intstr.String:
		return namedContainerPort(pod, sp.TargetPort.StrVal)
	case sp.TargetPort.IntVal != 0:
		return sp.TargetPort.IntVal
	}
	return sp.Port
}

// namedContainerPort is the TCP container port of pod called name, or 0.
func namedContainerPort(pod *corev1.Pod, name string) int32 {
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == name && (p.Protocol == "" || p.Protocol == corev1.ProtocolTCP) {
				return p.ContainerPort
			}
		}
	}
	return 0
}

// firstContainerPort is the first container port of pod, or 0.
func firstContainerPort(pod *corev1.Pod) int32 {
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			return p.ContainerPort
		}
	}
	return 0
}

// reverseProxy passes a request on to t. prefix is the escaped path of the
// proxy subresource, rest the escaped path for the pod.
func (s *Server) reverseProxy(t *proxyTarget, prefix, rest string) *httputil.ReverseProxy {
	host := net.JoinHostPort(t.pod.Status.PodIP, strconv.Itoa(int(t.port)))
	pod, port := t.pod, t.port
	if rest == "" {
		rest = "/"
	}
	unescaped, err := url.PathUnescape(rest)
	if err != nil {
		// Not a valid escaping: pass it on as sent.
		unescaped = rest
	}
	timeout := orDefault(s.cfg.ProxyTimeout, defaultProxyTimeout)
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return s.cfg.Pods.DialPod(ctx, pod, port)
		},
		// The pod's certificate names nothing the server could check.
		TLSClientConfig:       &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // see above
		ResponseHeaderTimeout: timeout,
		TLSHandshakeTimeout:   timeout,
		// One request per connection: a Transport is made per request, so
		// an idle connection kept would never be used again.
		DisableKeepAlives: true,
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			u := pr.Out.URL
			u.Scheme, u.Host = t.scheme, host
			u.Path, u.RawPath = unescaped, rest
			pr.Out.Host = host
			pr.SetXForwarded()
			pr.Out.Header.Set("X-Forwarded-Uri", prefix+rest)
		},
		Transport: transport,
		ModifyResponse: func(resp *http.Response) error {
			if loc := resp.Header.Get("Location"); loc != "" {
				resp.Header.Set("Location", rewriteLocation(loc, prefix, host, resp.Request))
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.errs.Write(w, r, proxyError(r.Context(), t.desc, err))
		},
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// rewriteLocation points a Location the pod answered back through the
// proxy, as kube-apiserver does: an absolute path, or a URL on the pod's
// own host (or the host the client asked for), gets the proxy prefix; a
// relative reference or another host is left alone.
func rewriteLocation(loc, prefix, podHost string, out *http.Request) string {
	u, err := url.Parse(loc)
	if err != nil {
		return loc
	}
	if u.Host != "" && u.Host != podHost && (out == nil || u.Host != out.Header.Get("X-Forwarded-Host")) {
		return loc
	}
	if !strings.HasPrefix(u.Path, "/") {
		return loc
	}
	u.Scheme, u.Host = "", ""
	if esc := u.EscapedPath(); esc == prefix || strings.HasPrefix(esc, prefix+"/") {
		return u.String()
	}
	trailing := strings.HasSuffix(u.Path, "/")
	u.Path = path.Join(prefix, u.Path)
	u.RawPath = ""
	if trailing {
		u.Path += "/"
	}
	return u.String()
}

// proxyError is the answer to a request the pod did not answer: the
// Status of errors that carry one (the agent's 400, its 503 before it
// runs), 504 when the pod took too long, 502 otherwise, in
// kube-apiserver's words ("error trying to reach service: ...").
func proxyError(ctx context.Context, desc string, err error) error {
	var as apierrors.APIStatus
	if errors.As(err, &as) {
		return err
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		// The client went away.
		return ctx.Err()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusGatewayTimeout, Reason: metav1.StatusReasonTimeout,
			Message: fmt.Sprintf("error trying to reach service: %s did not answer in time: %v", desc, err),
		}}
	}
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusBadGateway, Reason: "BadGateway",
		Message: fmt.Sprintf("error trying to reach service: %v", err),
	}}
}

// getPod reads a pod from the pods endpoint.
func (s *Server) getPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	st := s.coreStore("pods")
	if st == nil {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, name)
	}
	obj, err := st.GetObject(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, fmt.Errorf("apiserver: the pods store holds %T", obj)
	}
	return pod, nil
}

// getService reads a service from the services endpoint.
func (s *Server) getService(ctx context.Context, namespace, name string) (*corev1.Service, error) {
	st := s.coreStore("services")
	if st == nil {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "services"}, name)
	}
	obj, err := st.GetObject(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, fmt.Errorf("apiserver: the services store holds %T", obj)
	}
	return svc, nil
}

// findPods calls keep on each pod of namespace ("" for all) that o
// selects; keep reports whether the pod was one the caller looks for.
// The pods come from the watch cache, which is cheap but may lag a moment
// behind storage; when keep wanted none of them, storage is read as well,
// so that a pod a client has just seen ready through the API is found.
func (s *Server) findPods(ctx context.Context, namespace string, o registry.ListOptions, keep func(*corev1.Pod) bool) error {
	st := s.coreStore("pods")
	if st == nil {
		return nil
	}
	for _, rv := range []string{"0", ""} {
		o.ResourceVersion = rv
		res, err := st.List(ctx, namespace, o)
		if err != nil {
			return err
		}
		found := false
		for _, it := range res.Items {
			obj, err := st.Decode(it.JSON)
			if err != nil {
				return err
			}
			if p, ok := obj.(*corev1.Pod); ok && keep(p) {
				found = true
			}
		}
		if found {
			return nil
		}
	}
	return nil
}

// coreStore is the Store of a core/v1 resource, nil when not served.
func (s *Server) coreStore(plural string) *registry.Store {
	if ep := s.routes().endpoint("", "v1", plural); ep != nil {
		return ep.Store
	}
	return nil
}
